//! keyward's own functions: `mint` and `verify` over plain values and dicts,
//! `customdata` for callback-mode auth data, and the benchmark hook.

use std::sync::Arc;
use std::time::Instant;

use keyward_token::{
    AccessKey, AuthData, DrmType, Policy as TokenPolicy, ResponseFormat, SiteCredentials, SiteKey,
    Timestamp, TokenBuilder, UntrustedToken, VerifyOptions,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::client::{
    access_key_of, mint_core, now_text, policy_arg, site_id_of, site_key_of, text, timestamp_arg,
    Names, Parts, RESPONSE_FORMATS,
};
use crate::pyjson::loads;
use crate::{sdk_err, token_err, Dialect};

/// How `mint` lays the token out.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    Sdk(Dialect),
    /// keyward-token's own compact layout (`TokenBuilder`).
    Keyward,
}

fn layout(s: &str) -> PyResult<Layout> {
    if s == "keyward" {
        Ok(Layout::Keyward)
    } else {
        Dialect::parse(Some(s), Dialect::PallyCon).map(Layout::Sdk)
    }
}

static DRM_NAMES: Names = Names::new(&[
    "Widevine",
    "PlayReady",
    "FairPlay",
    "NCG",
    "Wiseplay",
    "ClearKey",
]);
static DIALECTS: Names = Names::new(&["pallycon", "keyward", "doverunner", "pallycon-unified"]);

fn drm_of(py: Python<'_>, d: Dialect, v: &str) -> PyResult<DrmType> {
    DrmType::parse_ignore_case(v).map_err(|_| {
        sdk_err(
            py,
            d,
            1090,
            Some("Token err : The drm_type should be one of PlayReady, Widevine, FairPlay, NCG, Wiseplay, ClearKey"),
        )
    })
}

/// Mints one token.
///
/// `policy` is a `PallyConDrmTokenPolicy` (its JSON as the SDK writes it), a
/// dict (written as `json.dumps` writes it) or JSON text (used byte for
/// byte). Dicts and text are checked with keyward's policy rules first
/// (`validate=False` skips that). `dialect` picks the token layout:
/// `pallycon` (the 2.1 SDK's; key_rotation only when given),
/// `pallycon-unified` / `doverunner` (always with key_rotation), or `keyward`
/// (keyward-token's compact layout). Errors raise `PallyConTokenException`
/// with the SDK codes.
#[pyfunction]
#[pyo3(signature = (
    policy, *, site_id, site_key, access_key, user_id, cid, drm_type = None,
    timestamp = None, response_format = None, key_rotation = None,
    dialect = None, validate = true
))]
#[allow(
    clippy::too_many_arguments,
    reason = "mirrors the token's fields as keywords"
)]
fn mint(
    py: Python<'_>,
    policy: &Bound<'_, PyAny>,
    site_id: &Bound<'_, PyAny>,
    site_key: &Bound<'_, PyAny>,
    access_key: &Bound<'_, PyAny>,
    user_id: &Bound<'_, PyAny>,
    cid: &Bound<'_, PyAny>,
    drm_type: Option<&Bound<'_, PyAny>>,
    timestamp: Option<&Bound<'_, PyAny>>,
    response_format: Option<&Bound<'_, PyAny>>,
    key_rotation: Option<bool>,
    dialect: Option<&Bound<'_, PyAny>>,
    validate: bool,
) -> PyResult<String> {
    let lay = layout_arg(dialect)?;
    let d = lay.dialect();
    let site = site_id_of(py, d, site_id)?;
    let ak = access_key_of(py, d, access_key)?;
    let sk = site_key_of(py, d, site_key)?;
    mint_with(
        py,
        lay,
        &Creds {
            site_id: &site,
            site_key: &sk,
            access_key: &ak,
        },
        policy,
        user_id,
        cid,
        Options {
            drm_type,
            timestamp,
            response_format,
            key_rotation,
            validate,
        },
    )
}

fn layout_arg(dialect: Option<&Bound<'_, PyAny>>) -> PyResult<Layout> {
    match dialect {
        None => Ok(Layout::Sdk(Dialect::PallyCon)),
        Some(v) if v.is_none() => Ok(Layout::Sdk(Dialect::PallyCon)),
        Some(v) => match DIALECTS.find(v) {
            Some(s) => layout(s),
            None => layout(&text(v).ok_or_else(|| PyTypeError::new_err("dialect must be a str"))?),
        },
    }
}

impl Layout {
    /// The dialect whose exception class and messages errors use.
    fn dialect(self) -> Dialect {
        match self {
            Layout::Sdk(d) => d,
            Layout::Keyward => Dialect::Unified,
        }
    }
}

/// Checked credentials.
struct Creds<'a> {
    site_id: &'a str,
    site_key: &'a SiteKey,
    access_key: &'a AccessKey,
}

/// The optional token fields.
struct Options<'a, 'py> {
    drm_type: Option<&'a Bound<'py, PyAny>>,
    timestamp: Option<&'a Bound<'py, PyAny>>,
    response_format: Option<&'a Bound<'py, PyAny>>,
    key_rotation: Option<bool>,
    validate: bool,
}

fn mint_with(
    py: Python<'_>,
    lay: Layout,
    creds: &Creds<'_>,
    policy: &Bound<'_, PyAny>,
    user_id: &Bound<'_, PyAny>,
    cid: &Bound<'_, PyAny>,
    opt: Options<'_, '_>,
) -> PyResult<String> {
    let d = lay.dialect();
    let user = text(user_id).ok_or_else(|| {
        sdk_err(
            py,
            d,
            1000,
            Some("Token err : The userId should be a string of Unicode text"),
        )
    })?;
    let cid = text(cid).ok_or_else(|| {
        sdk_err(
            py,
            d,
            1001,
            Some("Token err : The cId should be a string of Unicode text"),
        )
    })?;
    let (policy_json, from_plain) = policy_arg(policy, d)?.ok_or_else(|| {
        sdk_err(
            py,
            d,
            1005,
            Some("Token err : The policy should be a dict, JSON text or a PallyConDrmTokenPolicy"),
        )
    })?;
    if opt.validate && from_plain {
        TokenPolicy::from_json(policy_json.as_bytes()).map_err(|e| token_err(py, d, &e))?;
    }
    let drm = match opt.drm_type {
        None => DrmType::PlayReady,
        Some(v) if v.is_none() => DrmType::PlayReady,
        Some(v) => match DRM_NAMES.find(v) {
            Some(n) => drm_of(py, d, n)?,
            None => drm_of(py, d, &text(v).ok_or_else(|| sdk_err(py, d, 1090, None))?)?,
        },
    };
    let rf = match opt.response_format {
        None => ResponseFormat::Original,
        Some(v) if v.is_none() => ResponseFormat::Original,
        Some(v) => RESPONSE_FORMATS
            .find(v)
            .and_then(ResponseFormat::from_wire)
            .ok_or_else(|| sdk_err(py, d, 1048, None))?,
    };
    if lay == Layout::Sdk(Dialect::PallyCon) && rf == ResponseFormat::Json {
        return Err(sdk_err(py, d, 1048, None));
    }
    let ts = match opt.timestamp {
        None => None,
        Some(t) if t.is_none() => None,
        Some(t) => Some(timestamp_arg(t)?.map_err(|msg| sdk_err(py, d, 1091, Some(&msg)))?),
    };
    match lay {
        Layout::Keyward => {
            let creds = SiteCredentials {
                site_id: keyward_token::parse_site_id(creds.site_id)
                    .map_err(|e| token_err(py, d, &e))?,
                site_key: creds.site_key.clone(),
                access_key: creds.access_key.clone(),
            };
            let mut b = TokenBuilder::new()
                .drm_type(drm)
                .user_id(&*user)
                .cid(&*cid)
                .policy_json(&policy_json)
                .map_err(|e| token_err(py, d, &e))?
                .response_format(rf)
                .key_rotation(opt.key_rotation.unwrap_or(false));
            if let Some(ts) = ts {
                let t = Timestamp::parse(&ts)
                    .map_err(|_| sdk_err(py, d, 1091, Some("Token err : bad timestamp")))?;
                b = b.timestamp(t);
            }
            Ok(b.mint(&creds).map_err(|e| token_err(py, d, &e))?.token)
        }
        Layout::Sdk(d) => {
            let ts = ts.unwrap_or_else(now_text);
            let key_rotation = match d {
                Dialect::PallyCon => opt.key_rotation,
                _ => Some(opt.key_rotation.unwrap_or(false)),
            };
            let m = mint_core(
                creds.site_key,
                creds.access_key,
                &Parts {
                    drm_type: drm.as_str(),
                    site_id: creds.site_id,
                    user_id: &user,
                    cid: &cid,
                    policy_json: &policy_json,
                    timestamp: &ts,
                    response_format: rf.as_str(),
                    key_rotation,
                },
            );
            Ok(m.token)
        }
    }
}

/// A site's credentials, checked once, for minting many tokens: the
/// fastest way to mint from Python (positional arguments skip keyword
/// matching). `dialect` as for `mint`.
#[pyclass(frozen, module = "keyward", name = "Minter")]
pub struct Minter {
    lay: Layout,
    site_id: Arc<str>,
    site_key: Arc<SiteKey>,
    access_key: Arc<AccessKey>,
}

#[pymethods]
impl Minter {
    #[new]
    #[pyo3(signature = (site_id, site_key, access_key, *, dialect = None))]
    fn new(
        py: Python<'_>,
        site_id: &Bound<'_, PyAny>,
        site_key: &Bound<'_, PyAny>,
        access_key: &Bound<'_, PyAny>,
        dialect: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let lay = layout_arg(dialect)?;
        let d = lay.dialect();
        Ok(Self {
            lay,
            site_id: site_id_of(py, d, site_id)?,
            access_key: access_key_of(py, d, access_key)?,
            site_key: site_key_of(py, d, site_key)?,
        })
    }

    /// Mints one token; the arguments mean what they mean for `keyward.mint`.
    #[pyo3(signature = (policy, user_id, cid, drm_type = None, timestamp = None, response_format = None, key_rotation = None, validate = true))]
    #[allow(
        clippy::too_many_arguments,
        reason = "the token's fields, positional for speed"
    )]
    fn mint(
        &self,
        py: Python<'_>,
        policy: &Bound<'_, PyAny>,
        user_id: &Bound<'_, PyAny>,
        cid: &Bound<'_, PyAny>,
        drm_type: Option<&Bound<'_, PyAny>>,
        timestamp: Option<&Bound<'_, PyAny>>,
        response_format: Option<&Bound<'_, PyAny>>,
        key_rotation: Option<bool>,
        validate: bool,
    ) -> PyResult<String> {
        mint_with(
            py,
            self.lay,
            &Creds {
                site_id: &self.site_id,
                site_key: &self.site_key,
                access_key: &self.access_key,
            },
            policy,
            user_id,
            cid,
            Options {
                drm_type,
                timestamp,
                response_format,
                key_rotation,
                validate,
            },
        )
    }

    /// The site id.
    #[getter]
    fn site_id(&self) -> &str {
        &self.site_id
    }

    fn __repr__(&self) -> String {
        format!("Minter(site_id={:?})", &*self.site_id)
    }
}

fn verify_err(py: Python<'_>, code: u16, message: &str) -> PyErr {
    match py
        .import("keyward._errors")
        .and_then(|m| m.getattr("TokenVerifyError"))
        .and_then(|c| c.call1((code, message)))
    {
        Ok(inst) => PyErr::from_value(inst),
        Err(e) => e,
    }
}

/// Verifies a token as keyward's licence server does (hash, drm_type,
/// timestamp window, policy decryption and checks) and returns its fields
/// as a dict. Refusals raise `TokenVerifyError` with the server's code
/// (7009 unreadable, 7011 expired, 7013 invalid JSON/policy, 7016 cannot
/// decrypt / other site, 7018 drm_type, 7019 hash).
#[pyfunction]
#[pyo3(signature = (token, *, site_id, site_key, access_key, now = None, window_secs = 600, leeway_secs = 60))]
#[allow(clippy::too_many_arguments, reason = "keywords mirror VerifyOptions")]
fn verify<'py>(
    py: Python<'py>,
    token: &Bound<'py, PyAny>,
    site_id: &Bound<'py, PyAny>,
    site_key: &Bound<'py, PyAny>,
    access_key: &Bound<'py, PyAny>,
    now: Option<&Bound<'py, PyAny>>,
    window_secs: u32,
    leeway_secs: u32,
) -> PyResult<Bound<'py, PyDict>> {
    let d = Dialect::PallyCon;
    let token = text(token).ok_or_else(|| PyTypeError::new_err("token must be a str"))?;
    let creds = SiteCredentials {
        site_id: keyward_token::parse_site_id(&site_id_of(py, d, site_id)?)
            .map_err(|e| token_err(py, d, &e))?,
        site_key: (*site_key_of(py, d, site_key)?).clone(),
        access_key: (*access_key_of(py, d, access_key)?).clone(),
    };
    let now = match now {
        None => Timestamp::now(),
        Some(v) if v.is_none() => Timestamp::now(),
        Some(v) => {
            let s = timestamp_arg(v)?.map_err(PyValueError::new_err)?;
            Timestamp::parse(&s).map_err(|e| PyValueError::new_err(e.to_string()))?
        }
    };
    let opts = VerifyOptions {
        now,
        window_secs,
        leeway_secs,
    };
    let t = UntrustedToken::parse(&token).map_err(|e| verify_err(py, e.code(), &e.to_string()))?;
    let v = t
        .verify(&creds, &opts)
        .map_err(|e| verify_err(py, e.code(), &e.to_string()))?;
    let out = PyDict::new(py);
    out.set_item("drm_type", v.drm_type().as_str())?;
    out.set_item("site_id", v.site_id().as_str())?;
    out.set_item("user_id", v.user_id())?;
    out.set_item("cid", v.cid())?;
    out.set_item("timestamp", v.timestamp().to_string())?;
    out.set_item("age_secs", v.time_verdict().age_secs)?;
    out.set_item("response_format", v.response_format().as_str())?;
    out.set_item("key_rotation", v.key_rotation())?;
    out.set_item("policy", loads(py, v.policy_json())?)?;
    out.set_item("policy_json", v.policy_json())?;
    Ok(out)
}

/// Callback-mode auth data for the `pallycon-customdata-v2` header:
/// `base64({"drm_type","site_id","data"})` with `data` the AES-encrypted
/// `{"user_id","cid"[,"oid"][,"content_type"]}`. `legacy=True` gives the old
/// `pallycon-customdata` form (W/P/F + site id + data).
#[pyfunction]
#[pyo3(signature = (*, site_id, site_key, user_id, cid, drm_type = "PlayReady", oid = None, content_type = None, legacy = false))]
#[allow(
    clippy::too_many_arguments,
    reason = "the auth data's fields as keywords"
)]
fn customdata(
    py: Python<'_>,
    site_id: &Bound<'_, PyAny>,
    site_key: &Bound<'_, PyAny>,
    user_id: &str,
    cid: &str,
    drm_type: &str,
    oid: Option<String>,
    content_type: Option<String>,
    legacy: bool,
) -> PyResult<String> {
    let d = Dialect::PallyCon;
    let site = keyward_token::parse_site_id(&site_id_of(py, d, site_id)?)
        .map_err(|e| token_err(py, d, &e))?;
    let sk = site_key_of(py, d, site_key)?;
    let data = AuthData {
        drm_type: drm_of(py, d, drm_type)?,
        site_id: site,
        user_id: user_id.to_owned(),
        cid: cid.to_owned(),
        oid,
        content_type,
    };
    if legacy {
        data.encode_legacy(&sk).ok_or_else(|| {
            PyValueError::new_err(
                "the legacy form exists only for Widevine, PlayReady and FairPlay",
            )
        })
    } else {
        Ok(data.encode(&sk))
    }
}

/// Benchmark hook: mints `n` tokens in a Rust loop, with the same code path
/// as `PallyConDrmTokenClient.execute()` (`engine="sdk"`) or with
/// keyward-token's `TokenBuilder` (`engine="keyward-token"`); returns the
/// elapsed seconds. Credentials are the vendor tutorial's.
#[pyfunction]
#[pyo3(signature = (n, policy_json, *, engine = "sdk"))]
fn _bench_mint_rust(py: Python<'_>, n: u64, policy_json: &str, engine: &str) -> PyResult<f64> {
    let creds = SiteCredentials::new(
        "TUTO",
        b"lU5D8s3PWoLls3PWFWkClULlFWk5D8oC",
        b"LT2FVJDp2Xr018zf4Di6lzvNOv3DKP20",
    )
    .map_err(|e| token_err(py, Dialect::PallyCon, &e))?;
    let policy = policy_json.to_owned();
    let engine = engine.to_owned();
    py.detach(move || {
        let start = Instant::now();
        let mut total = 0usize;
        match engine.as_str() {
            "sdk" => {
                for _ in 0..n {
                    let ts = now_text();
                    let m = mint_core(
                        &creds.site_key,
                        &creds.access_key,
                        &Parts {
                            drm_type: "Widevine",
                            site_id: creds.site_id.as_str(),
                            user_id: "tester-user",
                            cid: "bigbuckbunny",
                            policy_json: std::hint::black_box(&policy),
                            timestamp: &ts,
                            response_format: "original",
                            key_rotation: None,
                        },
                    );
                    total += std::hint::black_box(m.token).len();
                }
            }
            "keyward-token" => {
                for _ in 0..n {
                    let b = TokenBuilder::new()
                        .drm_type(DrmType::Widevine)
                        .user_id("tester-user")
                        .cid("bigbuckbunny")
                        .policy_json(std::hint::black_box(&policy))
                        .map_err(|e| e.to_string())?;
                    let m = b.mint(&creds).map_err(|e| e.to_string())?;
                    total += std::hint::black_box(m.token).len();
                }
            }
            other => return Err(format!("unknown engine {other:?}")),
        }
        std::hint::black_box(total);
        Ok(start.elapsed().as_secs_f64())
    })
    .map_err(PyValueError::new_err)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(mint, m)?)?;
    m.add_class::<Minter>()?;
    m.add_function(wrap_pyfunction!(verify, m)?)?;
    m.add_function(wrap_pyfunction!(customdata, m)?)?;
    m.add_function(wrap_pyfunction!(_bench_mint_rust, m)?)?;
    Ok(())
}
