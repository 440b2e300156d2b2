//! `PallyConDrmTokenClient`: the SDK's fluent token client, and the mint core
//! shared with `keyward.mint`.
//!
//! The token is the SDK's: `base64(json.dumps({drm_type, site_id, user_id,
//! cid, policy, response_format, [key_rotation], timestamp, hash}))`, where
//! `policy` and `hash` come from `keyward-token` (AES-256-CBC with the fixed
//! IV, SHA-256 over the concatenated fields).

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use keyward_token::crypto::token_hash;
use keyward_token::{AccessKey, DrmType, SiteKey, Timestamp};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyString};

use crate::policy::{as_bool, escape_into, policy_object_json};
use crate::pyjson::{dumps_value, Obj};
use crate::{sdk_err, token_err, Dialect};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A Python `str` as UTF-8 text, held in the `bytes` object Python encoded
/// it into (one copy; the stable ABI for Python 3.8 has no borrowed UTF-8 view).
pub struct Text<'py>(Bound<'py, PyBytes>);

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        // Python's UTF-8 encoder only produces valid UTF-8.
        std::str::from_utf8(self.0.as_bytes()).unwrap_or_default()
    }
}

impl AsRef<str> for Text<'_> {
    fn as_ref(&self) -> &str {
        self
    }
}

/// A Python `str` as Rust text (`None` for other types or lone surrogates).
pub fn text<'py>(v: &Bound<'py, PyAny>) -> Option<Text<'py>> {
    v.cast::<PyString>().ok()?.encode_utf8().ok().map(Text)
}

/// A fixed set of names, matched first by identity with their interned
/// Python strings (string literals and constants in Python code are interned,
/// so the common case costs a few pointer compares), then by value.
pub struct Names {
    names: &'static [&'static str],
    interned: PyOnceLock<Vec<Py<PyString>>>,
}

impl Names {
    /// A set of names.
    pub const fn new(names: &'static [&'static str]) -> Self {
        Self {
            names,
            interned: PyOnceLock::new(),
        }
    }

    /// The matching name, if `v` is a `str` equal to one.
    pub fn find(&self, v: &Bound<'_, PyAny>) -> Option<&'static str> {
        let py = v.py();
        let interned = self.interned.get_or_init(py, || {
            self.names
                .iter()
                .map(|n| PyString::intern(py, n).unbind())
                .collect()
        });
        for (s, n) in interned.iter().zip(self.names) {
            if v.is(s) {
                return Some(n);
            }
        }
        let t = text(v)?;
        self.names.iter().copied().find(|n| **n == *t)
    }
}

// ---------------------------------------------------------------- credentials
//
// Backends mint every token with the same credential objects, so the last
// site id, access key and site key seen are kept with the Python object they
// came from: the same object again (an identity check; Python strings are
// immutable) skips the UTF-8 conversion, the checks and the AES key schedule.

static SITE_ID: Mutex<Option<(Py<PyAny>, Arc<str>)>> = Mutex::new(None);
static ACCESS_KEY: Mutex<Option<(Py<PyAny>, Arc<AccessKey>)>> = Mutex::new(None);
static SITE_KEY: Mutex<Option<(Py<PyAny>, Arc<SiteKey>)>> = Mutex::new(None);

fn cached<T: Clone>(
    cell: &Mutex<Option<(Py<PyAny>, T)>>,
    obj: &Bound<'_, PyAny>,
    make: impl FnOnce(&Bound<'_, PyAny>) -> PyResult<T>,
) -> PyResult<T> {
    if let Ok(g) = cell.lock() {
        if let Some((o, v)) = &*g {
            if obj.is(o) {
                return Ok(v.clone());
            }
        }
    }
    let v = make(obj)?;
    if let Ok(mut g) = cell.lock() {
        *g = Some((obj.clone().unbind(), v.clone()));
    }
    Ok(v)
}

/// The site id: four uppercase ASCII letters (code 1002 otherwise).
pub fn site_id_of(py: Python<'_>, d: Dialect, obj: &Bound<'_, PyAny>) -> PyResult<Arc<str>> {
    cached(&SITE_ID, obj, |o| {
        let s = text(o).ok_or_else(|| {
            sdk_err(
                py,
                d,
                1002,
                Some("Token err : The siteId should be a string"),
            )
        })?;
        let id = keyward_token::parse_site_id(&s).map_err(|e| token_err(py, d, &e))?;
        Ok(Arc::from(id.as_str()))
    })
}

/// The access key: 32 bytes of UTF-8 (code 1003 otherwise).
pub fn access_key_of(
    py: Python<'_>,
    d: Dialect,
    obj: &Bound<'_, PyAny>,
) -> PyResult<Arc<AccessKey>> {
    cached(&ACCESS_KEY, obj, |o| {
        let s = text(o).ok_or_else(|| {
            sdk_err(
                py,
                d,
                1003,
                Some("Token err : The accessKey should be a string"),
            )
        })?;
        AccessKey::new(s.as_bytes())
            .map(Arc::new)
            .map_err(|e| token_err(py, d, &e))
    })
}

/// The site key: 32 bytes of UTF-8, the AES-256 key (code 1004 otherwise).
pub fn site_key_of(py: Python<'_>, d: Dialect, obj: &Bound<'_, PyAny>) -> PyResult<Arc<SiteKey>> {
    cached(&SITE_KEY, obj, |o| {
        let s = text(o).ok_or_else(|| {
            sdk_err(
                py,
                d,
                1004,
                Some("Token err : The siteKey should be a string"),
            )
        })?;
        SiteKey::new(s.as_bytes())
            .map(Arc::new)
            .map_err(|e| token_err(py, d, &e))
    })
}

// ---------------------------------------------------------------- mint core

/// Everything a token is made of, as text.
pub struct Parts<'a> {
    /// `drm_type`.
    pub drm_type: &'a str,
    /// `site_id`.
    pub site_id: &'a str,
    /// `user_id`.
    pub user_id: &'a str,
    /// `cid`.
    pub cid: &'a str,
    /// The policy plaintext, encrypted byte for byte.
    pub policy_json: &'a str,
    /// `timestamp`, `yyyy-mm-ddThh:mm:ssZ`.
    pub timestamp: &'a str,
    /// `response_format`.
    pub response_format: &'a str,
    /// `key_rotation`, written between response_format and timestamp when set.
    pub key_rotation: Option<bool>,
}

/// A minted token and what the SDK's getters expose.
pub struct Minted {
    /// The token (base64).
    pub token: String,
    /// The token JSON (the SDK's `to_json_str()`).
    pub token_json: String,
    /// The `hash` field.
    pub hash: String,
}

/// Encrypts, hashes and lays the token out as the Python SDKs do.
pub fn mint_core(site_key: &SiteKey, access_key: &AccessKey, p: &Parts<'_>) -> Minted {
    let policy_b64 = site_key.encrypt_b64(p.policy_json.as_bytes());
    let hash = token_hash(
        access_key,
        p.drm_type,
        p.site_id,
        p.user_id,
        p.cid,
        &policy_b64,
        p.timestamp,
    );
    let mut j = String::with_capacity(200 + policy_b64.len() + 2 * (p.user_id.len() + p.cid.len()));
    let mut o = Obj::new(&mut j);
    // drm_type, response_format and the timestamp are keyward's own
    // constants and digits, site_id is four checked letters, policy and hash
    // are base64: none needs escaping. The ids are escaped as json.dumps does.
    o.plain("drm_type", p.drm_type);
    o.plain("site_id", p.site_id);
    o.str("user_id", p.user_id);
    o.str("cid", p.cid);
    o.plain("policy", &policy_b64);
    o.plain("response_format", p.response_format);
    o.opt_bool("key_rotation", p.key_rotation);
    o.plain("timestamp", p.timestamp);
    o.plain("hash", &hash);
    o.end();
    let token = B64.encode(j.as_bytes());
    Minted {
        token,
        token_json: j,
        hash,
    }
}

/// The current UTC time as `yyyy-mm-ddThh:mm:ssZ`.
pub fn now_text() -> String {
    let mut s = String::with_capacity(20);
    Timestamp::now().write_to(&mut s);
    s
}

/// A timestamp argument: `yyyy-mm-ddThh:mm:ssZ` text, a `datetime` (naive =
/// UTC), or Unix seconds. `Err` carries the reason.
pub fn timestamp_arg(v: &Bound<'_, PyAny>) -> PyResult<Result<String, String>> {
    let py = v.py();
    let bad = |why: &str| Ok(Err(format!("Token err : The timestamp {why}")));
    let unix: i64 = if let Some(s) = text(v) {
        return Ok(match Timestamp::parse(&s) {
            Ok(t) => {
                let mut out = String::with_capacity(20);
                t.write_to(&mut out);
                Ok(out)
            }
            Err(_) => {
                Err("Token err : The timestamp should be 'YYYY-MM-DD'T'HH:mm:ss'Z' (UTC)".into())
            }
        });
    } else if v.is_instance_of::<PyBool>() {
        return bad("should be a string, a datetime or Unix seconds");
    } else if v.is_instance_of::<PyInt>() {
        match v.extract() {
            Ok(n) => n,
            Err(_) => return bad("is out of range"),
        }
    } else if v.is_instance_of::<PyFloat>() {
        let f: f64 = v.extract()?;
        if !f.is_finite() || f.abs() > 1e15 {
            return bad("is out of range");
        }
        #[allow(
            clippy::cast_possible_truncation,
            reason = "finite and bounded just above"
        )]
        let n = f.floor() as i64;
        n
    } else {
        let dt = py.import("datetime")?;
        if !v.is_instance(&dt.getattr("datetime")?)? {
            return bad("should be a string, a datetime or Unix seconds");
        }
        let aware = if v.getattr("tzinfo")?.is_none() {
            let kw = PyDict::new(py);
            kw.set_item("tzinfo", dt.getattr("timezone")?.getattr("utc")?)?;
            v.call_method("replace", (), Some(&kw))?
        } else {
            v.clone()
        };
        let f: f64 = aware.call_method0("timestamp")?.extract()?;
        #[allow(
            clippy::cast_possible_truncation,
            reason = "datetime's range is years 1-9999"
        )]
        let n = f.floor() as i64;
        n
    };
    Ok(match Timestamp::from_unix(unix) {
        Some(t) => {
            let mut out = String::with_capacity(20);
            t.write_to(&mut out);
            Ok(out)
        }
        None => Err("Token err : The timestamp is out of range (years 0000-9999)".into()),
    })
}

/// The policy JSON from a policy argument: a `PallyConDrmTokenPolicy`, an
/// object with `to_json_str()` (as the SDK duck-types it), a dict
/// (written as `json.dumps` would), or JSON text. `None` for anything else.
pub fn policy_arg(v: &Bound<'_, PyAny>, d: Dialect) -> PyResult<Option<(Arc<str>, bool)>> {
    if let Some(j) = policy_object_json(v) {
        return Ok(Some((j, false)));
    }
    if let Some(s) = text(v) {
        return Ok(Some((Arc::from(&*s), true)));
    }
    if v.is_instance_of::<PyDict>() {
        let mut out = String::with_capacity(128);
        if let Err(e) = dumps_value(&mut out, v, 0) {
            return Err(sdk_err(
                v.py(),
                d,
                1005,
                Some(&format!("Token err : The policy is not JSON data ({e})")),
            ));
        }
        return Ok(Some((Arc::from(out), true)));
    }
    if v.hasattr("to_json_str")? {
        let s = v.call_method0("to_json_str")?;
        if let Some(s) = text(&s) {
            return Ok(Some((Arc::from(&*s), false)));
        }
    }
    Ok(None)
}

// ---------------------------------------------------------------- the client

static RESPONSE_FORMATS_21: Names = Names::new(&["original", "custom"]);
/// `response_format` values of the unified and DoveRunner SDKs.
pub static RESPONSE_FORMATS: Names = Names::new(&["original", "custom", "json"]);

/// Builds one licence token, fluently, exactly as the vendor SDK's client.
#[pyclass(subclass, module = "keyward.pallycon", name = "PallyConDrmTokenClient")]
pub struct Client {
    d: Dialect,
    drm_type: &'static str,
    site_key: Option<Py<PyAny>>,
    access_key: Option<Py<PyAny>>,
    site_id: Option<Py<PyAny>>,
    user_id: Option<Py<PyAny>>,
    cid: Option<Py<PyAny>>,
    policy: Option<Arc<str>>,
    response_format: &'static str,
    key_rotation: Option<bool>,
    timestamp: Option<String>,
    last: Option<(String, Minted)>,
}

fn opt_obj(v: &Bound<'_, PyAny>) -> Option<Py<PyAny>> {
    if v.is_none() {
        None
    } else {
        Some(v.clone().unbind())
    }
}

fn getter(py: Python<'_>, v: &Option<Py<PyAny>>) -> Py<PyAny> {
    match v {
        Some(o) => o.clone_ref(py),
        None => py.None(),
    }
}

#[pymethods]
impl Client {
    /// A client for one token. `dialect`: `pallycon` (default: PallyCon SDK
    /// 2.1.0), `pallycon-unified` (PallyCon 2.x from DoveRunner's unified
    /// samples: always writes key_rotation, accepts `json`), or `doverunner`
    /// (DoveRunner SDK 3.0).
    #[new]
    #[pyo3(signature = (*, dialect = None))]
    fn new(dialect: Option<&str>) -> PyResult<Self> {
        Ok(Self {
            d: Dialect::parse(dialect, Dialect::PallyCon)?,
            drm_type: "PlayReady",
            site_key: None,
            access_key: None,
            site_id: None,
            user_id: None,
            cid: None,
            policy: None,
            response_format: "original",
            key_rotation: None,
            timestamp: None,
            last: None,
        })
    }

    /// The site key (32 characters, checked at execute: 1004).
    fn site_key<'py>(
        mut slf: PyRefMut<'py, Self>,
        site_key: &Bound<'py, PyAny>,
    ) -> PyRefMut<'py, Self> {
        slf.site_key = opt_obj(site_key);
        slf
    }

    /// The access key (32 characters, checked at execute: 1003).
    fn access_key<'py>(
        mut slf: PyRefMut<'py, Self>,
        access_key: &Bound<'py, PyAny>,
    ) -> PyRefMut<'py, Self> {
        slf.access_key = opt_obj(access_key);
        slf
    }

    /// The site id (four uppercase letters, checked at execute: 1002).
    fn site_id<'py>(
        mut slf: PyRefMut<'py, Self>,
        site_id: &Bound<'py, PyAny>,
    ) -> PyRefMut<'py, Self> {
        slf.site_id = opt_obj(site_id);
        slf
    }

    /// The user id (any string, checked at execute: 1000).
    fn user_id<'py>(
        mut slf: PyRefMut<'py, Self>,
        user_id: &Bound<'py, PyAny>,
    ) -> PyRefMut<'py, Self> {
        slf.user_id = opt_obj(user_id);
        slf
    }

    /// The content id (any string, checked at execute: 1001).
    fn cid<'py>(mut slf: PyRefMut<'py, Self>, cid: &Bound<'py, PyAny>) -> PyRefMut<'py, Self> {
        slf.cid = opt_obj(cid);
        slf
    }

    /// drm_type PlayReady (the default).
    fn playready(mut slf: PyRefMut<'_, Self>) -> PyRefMut<'_, Self> {
        slf.drm_type = "PlayReady";
        slf
    }

    /// drm_type Widevine.
    fn widevine(mut slf: PyRefMut<'_, Self>) -> PyRefMut<'_, Self> {
        slf.drm_type = "Widevine";
        slf
    }

    /// drm_type FairPlay.
    fn fairplay(mut slf: PyRefMut<'_, Self>) -> PyRefMut<'_, Self> {
        slf.drm_type = "FairPlay";
        slf
    }

    /// drm_type NCG.
    fn ncg(mut slf: PyRefMut<'_, Self>) -> PyRefMut<'_, Self> {
        slf.drm_type = "NCG";
        slf
    }

    /// drm_type Wiseplay (as DoveRunner's Java SDK writes it).
    fn wiseplay(mut slf: PyRefMut<'_, Self>) -> PyRefMut<'_, Self> {
        slf.drm_type = "Wiseplay";
        slf
    }

    /// drm_type ClearKey (keyward's W3C Clear Key licences).
    fn clearkey(mut slf: PyRefMut<'_, Self>) -> PyRefMut<'_, Self> {
        slf.drm_type = "ClearKey";
        slf
    }

    /// drm_type by name, any case (PlayReady, Widevine, FairPlay, NCG,
    /// Wiseplay, ClearKey); keyward code 1090 otherwise.
    fn drm_type<'py>(
        mut slf: PyRefMut<'py, Self>,
        drm_type: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        let d = text(drm_type).and_then(|s| DrmType::parse_ignore_case(&s).ok());
        match d {
            Some(d) => slf.drm_type = d.as_str(),
            None => {
                return Err(sdk_err(
                    slf.py(),
                    slf.d,
                    1090,
                    Some("Token err : The drm_type should be one of PlayReady, Widevine, FairPlay, NCG, Wiseplay, ClearKey"),
                ))
            }
        }
        Ok(slf)
    }

    /// The policy: a `PallyConDrmTokenPolicy` (its JSON is taken now, as the
    /// SDK does), or, as keyward extensions, a dict or the JSON text itself.
    /// 1005 otherwise.
    fn policy<'py>(
        mut slf: PyRefMut<'py, Self>,
        policy: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        match policy_arg(policy, slf.d)? {
            Some((j, _)) => slf.policy = Some(j),
            None => {
                return Err(sdk_err(
                    slf.py(),
                    slf.d,
                    1005,
                    Some("Token err : The policy should be a PallyConDrmTokenPolicy"),
                ))
            }
        }
        Ok(slf)
    }

    /// `original` or `custom` (and `json` except in the 2.1.0 dialect); 1048 otherwise.
    fn response_format<'py>(
        mut slf: PyRefMut<'py, Self>,
        response_format: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        let allowed = if slf.d == Dialect::PallyCon {
            &RESPONSE_FORMATS_21
        } else {
            &RESPONSE_FORMATS
        };
        let got = allowed.find(response_format);
        match got {
            Some(f) => slf.response_format = f,
            None => return Err(sdk_err(slf.py(), slf.d, 1048, None)),
        }
        Ok(slf)
    }

    /// Bool; 1055 otherwise. In the 2.1.0 dialect the token carries
    /// key_rotation only once this is called.
    fn key_rotation<'py>(
        mut slf: PyRefMut<'py, Self>,
        key_rotation: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        match as_bool(key_rotation) {
            Some(b) => slf.key_rotation = Some(b),
            None => return Err(sdk_err(slf.py(), slf.d, 1055, None)),
        }
        Ok(slf)
    }

    /// Fixes the token timestamp (keyward extension, for tests): text
    /// `YYYY-MM-DDTHH:mm:ssZ`, a datetime (naive = UTC) or Unix seconds;
    /// None = the time of `execute()` (the default). 1091 if invalid.
    fn timestamp<'py>(
        mut slf: PyRefMut<'py, Self>,
        timestamp: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        if timestamp.is_none() {
            slf.timestamp = None;
            return Ok(slf);
        }
        match timestamp_arg(timestamp)? {
            Ok(t) => slf.timestamp = Some(t),
            Err(msg) => return Err(sdk_err(slf.py(), slf.d, 1091, Some(&msg))),
        }
        Ok(slf)
    }

    /// Checks the fields in the SDK's order (1000 user_id, 1001 cid, 1002
    /// site_id, 1003 access_key, 1004 site_key, 1005 policy), then mints and
    /// returns the token. Unlike the SDK's client, it can be called again.
    fn execute<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyString>> {
        let d = self.d;
        let need = |v: &Option<Py<PyAny>>, code: u16| -> PyResult<Bound<'_, PyAny>> {
            v.as_ref()
                .map(|o| o.bind(py).clone())
                .ok_or_else(|| sdk_err(py, d, code, None))
        };
        let user_id = need(&self.user_id, 1000)?;
        let cid = need(&self.cid, 1001)?;
        let site_id = need(&self.site_id, 1002)?;
        let access_key = need(&self.access_key, 1003)?;
        let site_key = need(&self.site_key, 1004)?;
        let policy = self
            .policy
            .clone()
            .ok_or_else(|| sdk_err(py, d, 1005, None))?;
        let user_id = text(&user_id).ok_or_else(|| {
            sdk_err(
                py,
                d,
                1000,
                Some("Token err : The userId should be a string of Unicode text"),
            )
        })?;
        let cid = text(&cid).ok_or_else(|| {
            sdk_err(
                py,
                d,
                1001,
                Some("Token err : The cId should be a string of Unicode text"),
            )
        })?;
        let site_id = site_id_of(py, d, &site_id)?;
        let access_key = access_key_of(py, d, &access_key)?;
        let site_key = site_key_of(py, d, &site_key)?;
        let ts = match &self.timestamp {
            Some(t) => t.clone(),
            None => now_text(),
        };
        let key_rotation = match d {
            Dialect::PallyCon => self.key_rotation,
            Dialect::Unified | Dialect::DoveRunner => Some(self.key_rotation.unwrap_or(false)),
        };
        let m = mint_core(
            &site_key,
            &access_key,
            &Parts {
                drm_type: self.drm_type,
                site_id: &site_id,
                user_id: &user_id,
                cid: &cid,
                policy_json: &policy,
                timestamp: &ts,
                response_format: self.response_format,
                key_rotation,
            },
        );
        let token = PyString::new(py, &m.token);
        self.last = Some((ts, m));
        Ok(token)
    }

    fn get_drm_type(&self) -> &'static str {
        self.drm_type
    }
    fn get_site_id(&self, py: Python<'_>) -> Py<PyAny> {
        getter(py, &self.site_id)
    }
    fn get_user_id(&self, py: Python<'_>) -> Py<PyAny> {
        getter(py, &self.user_id)
    }
    fn get_cid(&self, py: Python<'_>) -> Py<PyAny> {
        getter(py, &self.cid)
    }
    fn get_site_key(&self, py: Python<'_>) -> Py<PyAny> {
        getter(py, &self.site_key)
    }
    fn get_access_key(&self, py: Python<'_>) -> Py<PyAny> {
        getter(py, &self.access_key)
    }
    /// The policy JSON text that is encrypted into the token.
    fn get_policy(&self) -> Option<String> {
        self.policy.as_deref().map(str::to_owned)
    }
    fn get_response_format(&self) -> &'static str {
        self.response_format
    }
    fn get_key_rotation(&self) -> Option<bool> {
        self.key_rotation
    }
    /// The timestamp of the last `execute()`.
    fn get_time_stamp(&self) -> Option<String> {
        self.last.as_ref().map(|(t, _)| t.clone())
    }
    /// The hash of the last `execute()`.
    fn get_hash(&self) -> Option<String> {
        self.last.as_ref().map(|(_, m)| m.hash.clone())
    }
    /// The token JSON of the last `execute()` (before base64).
    fn to_json_str(&self) -> Option<String> {
        self.last.as_ref().map(|(_, m)| m.token_json.clone())
    }

    /// The dialect in force.
    #[getter]
    fn dialect(&self) -> &'static str {
        self.d.as_str()
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let name = slf.get_type().name()?;
        let me = slf.try_borrow()?;
        let mut s = String::new();
        escape_into(&mut s, me.drm_type);
        Ok(format!("{name}(drm_type={s}, dialect={:?})", me.d.as_str()))
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Client>()?;
    Ok(())
}
