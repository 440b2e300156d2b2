//! `keyward._native`: the Rust half of keyward's Python package.
//!
//! The package is a drop-in replacement for the PallyCon (2.1) and DoveRunner
//! (3.0) Python token SDKs: the same classes, fluent setters, checks, error
//! codes and — byte for byte — the same tokens. The builder objects live in
//! Rust and keep their JSON fragments in the exact text `json.dumps` would
//! write ([`pyjson`]); encryption, hashing and the token layout use the
//! `keyward-token` crate's public API. The pure-Python modules under
//! `python/keyward/` mirror the SDKs' module layout and re-export these types.

mod api;
mod client;
mod policy;
mod pyjson;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// Which SDK's behaviour an object follows where the SDKs differ.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Dialect {
    /// PallyCon Python SDK 2.1.0 (inka-pallycon): no `key_rotation` in the
    /// token unless set, `response_format` original/custom, Widevine's
    /// `override_device_revocation` accepted but never written.
    #[default]
    PallyCon,
    /// The PallyCon-branded 2.x copy in DoveRunner's unified samples: like
    /// 2.1.0 but the token always carries `key_rotation` and `json` is a
    /// valid `response_format`.
    Unified,
    /// DoveRunner Python SDK 3.0: as unified, plus WisePlay, CSL renewal,
    /// `allow_test_device`, PlayReady licence cipher; Widevine writes
    /// `override_device_revocation`; messages name `doverunner.config`.
    DoveRunner,
}

impl Dialect {
    /// Parses `pallycon`, `pallycon-unified` or `doverunner` (`None` = default).
    pub fn parse(s: Option<&str>, default: Dialect) -> PyResult<Self> {
        match s {
            None => Ok(default),
            Some("pallycon") | Some("pallycon-2.1") => Ok(Self::PallyCon),
            Some("pallycon-unified") | Some("unified") => Ok(Self::Unified),
            Some("doverunner") | Some("doverunner-3") => Ok(Self::DoveRunner),
            Some(other) => Err(PyValueError::new_err(format!(
                "dialect must be 'pallycon', 'pallycon-unified' or 'doverunner', not {other:?}"
            ))),
        }
    }

    /// The canonical name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PallyCon => "pallycon",
            Self::Unified => "pallycon-unified",
            Self::DoveRunner => "doverunner",
        }
    }

    /// DoveRunner 3.x policy semantics.
    pub fn v3(self) -> bool {
        self == Self::DoveRunner
    }
}

/// The SDK exception for `code` (`PallyConTokenException`, or
/// `DoverunnerTokenException` in the DoveRunner dialect), with the SDK's
/// message for the code unless `message` is given.
pub fn sdk_err(py: Python<'_>, d: Dialect, code: u16, message: Option<&str>) -> PyErr {
    match make_sdk_err(py, d, code, message) {
        Ok(e) => e,
        Err(e) => e,
    }
}

fn make_sdk_err(py: Python<'_>, d: Dialect, code: u16, message: Option<&str>) -> PyResult<PyErr> {
    let module = py.import("keyward._errors")?;
    let class = module.getattr(if d.v3() {
        "DoverunnerTokenException"
    } else {
        "PallyConTokenException"
    })?;
    let inst = class.call1((format!("{code:04}"), message))?;
    Ok(PyErr::from_value(inst))
}

/// A `keyward-token` error as the SDK exception (its code, keyward's message).
pub fn token_err(py: Python<'_>, d: Dialect, e: &keyward_token::TokenError) -> PyErr {
    sdk_err(py, d, e.code().as_u16(), Some(e.message()))
}

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    policy::register(m)?;
    client::register(m)?;
    api::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
