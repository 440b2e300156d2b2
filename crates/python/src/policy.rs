//! The policy builder classes: `PlaybackPolicy`, `SecurityPolicy` with its
//! per-DRM sections, `ExternalKey` with its key types, and
//! `PallyConDrmTokenPolicy`.
//!
//! Each setter applies the SDK's own check (including its quirks: Python's
//! `True == 1` and `150.0 == 150` pass the level checks, `re.match(...$)`
//! accepts one trailing newline, the date pattern's `[0,1]` accepts a comma)
//! and raises the SDK's code otherwise. Like the SDKs, attaching a section to
//! its parent snapshots it (the SDKs copy `.dict()`): here the snapshot is the
//! section's JSON text, written once, so minting never walks Python objects.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyList, PyString};
use pyo3::PyClass;

use crate::client::{text, Names};
use crate::pyjson::{float_repr, int_json, loads, str_json, write_list, write_str, JVal, Obj};
use crate::{sdk_err, Dialect};

// ---------------------------------------------------------------- checks

/// `isinstance(v, bool)`.
pub fn as_bool(v: &Bound<'_, PyAny>) -> Option<bool> {
    v.cast::<PyBool>().ok().map(|b| b.is_true())
}

/// `isinstance(v, int) and not isinstance(v, bool)`.
fn as_int_not_bool(v: &Bound<'_, PyAny>) -> PyResult<Option<JVal>> {
    if v.is_instance_of::<PyBool>() || !v.is_instance_of::<PyInt>() {
        return Ok(None);
    }
    int_json(v).map(Some)
}

/// `isinstance(v, int)` (so `True` passes, as in DoveRunner's WisePlay setters).
fn as_int(v: &Bound<'_, PyAny>) -> PyResult<Option<JVal>> {
    if let Some(b) = as_bool(v) {
        return Ok(Some(JVal::Bool(b)));
    }
    as_int_not_bool(v)
}

/// `v in (n1, n2, ...)` for an int tuple: bools, ints and integral floats equal
/// to an allowed value pass and are kept as given (so `True` is written `true`
/// and `150.0` is written `150.0`, as `json.dumps` would).
fn member_num(v: &Bound<'_, PyAny>, allowed: &[i64]) -> PyResult<Option<JVal>> {
    if let Some(b) = as_bool(v) {
        return Ok(allowed.contains(&i64::from(b)).then_some(JVal::Bool(b)));
    }
    if v.is_instance_of::<PyInt>() {
        return Ok(match v.extract::<i64>() {
            Ok(n) if allowed.contains(&n) => Some(JVal::Int(n)),
            _ => None,
        });
    }
    if v.is_instance_of::<PyFloat>() {
        let f: f64 = v.extract()?;
        #[allow(
            clippy::cast_precision_loss,
            reason = "the allowed values are small integers, exact in f64"
        )]
        let hit = allowed.iter().any(|&a| a as f64 == f);
        return Ok(if hit {
            Some(JVal::Raw(float_repr(v)?))
        } else {
            None
        });
    }
    Ok(None)
}

/// `isinstance(v, str) and v in (...)`: the matching constant.
fn member_str(v: &Bound<'_, PyAny>, allowed: &Names) -> Option<&'static str> {
    allowed.find(v)
}

/// `isinstance(v, str) and re.match('^[0-9a-f]{n}$', v)`; `$` also matches
/// before one trailing newline, which the SDK therefore accepts (and keeps).
fn hex_ok(v: &Bound<'_, PyAny>, n: usize) -> Option<String> {
    let s = text(v)?;
    let body = s.strip_suffix('\n').unwrap_or(&s);
    (body.len() == n && body.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .then(|| s.to_string())
}

/// The SDK's `expire_date` pattern,
/// `^[0-9]{4}-[0,1][0-9]-[0-5][0-9]T([0-2][0-9]:[0-5][0-9]:[0-5][0-9])Z$`.
fn date_ok(v: &Bound<'_, PyAny>) -> Option<String> {
    let s = text(v)?;
    let b = s.strip_suffix('\n').unwrap_or(&s).as_bytes();
    let d = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    let r = |i: usize, lo: u8, hi: u8| b.get(i).is_some_and(|c| (lo..=hi).contains(c));
    let c = |i: usize, ch: u8| b.get(i) == Some(&ch);
    let ok = b.len() == 20
        && (0..4).all(d)
        && c(4, b'-')
        && matches!(b.get(5), Some(b'0' | b',' | b'1'))
        && d(6)
        && c(7, b'-')
        && r(8, b'0', b'5')
        && d(9)
        && c(10, b'T')
        && r(11, b'0', b'2')
        && d(12)
        && c(13, b':')
        && r(14, b'0', b'5')
        && d(15)
        && c(16, b':')
        && r(17, b'0', b'5')
        && d(18)
        && c(19, b'Z');
    ok.then(|| s.to_string())
}

fn dialect_arg(dialect: Option<&str>) -> PyResult<Dialect> {
    Dialect::parse(dialect, Dialect::PallyCon)
}

fn opt_to_object<'py>(py: Python<'py>, v: &Option<JVal>) -> PyResult<Bound<'py, PyAny>> {
    match v {
        Some(v) => v.to_object(py),
        None => Ok(py.None().into_bound(py)),
    }
}

fn opt_bool_object(py: Python<'_>, v: Option<bool>) -> Py<PyAny> {
    match v {
        Some(b) => PyBool::new(py, b).to_owned().into_any().unbind(),
        None => py.None(),
    }
}

fn opt_str_object(py: Python<'_>, v: Option<&str>) -> Py<PyAny> {
    match v {
        Some(s) => PyString::new(py, s).into_any().unbind(),
        None => py.None(),
    }
}

fn opt_json_object<'py>(py: Python<'py>, v: Option<&str>) -> PyResult<Bound<'py, PyAny>> {
    match v {
        Some(s) => loads(py, s),
        None => Ok(py.None().into_bound(py)),
    }
}

/// `ClassName({...json...})`.
fn repr_of(slf: &Bound<'_, PyAny>, json: &str) -> PyResult<String> {
    let name = slf.get_type().name()?;
    Ok(format!("{name}({json})"))
}

/// A setter body: check, store, or raise the SDK code.
macro_rules! set_or_raise {
    ($slf:ident, $field:ident, $check:expr, $code:expr) => {{
        match $check {
            Some(v) => $slf.$field = Some(v),
            None => return Err(sdk_err($slf.py(), $slf.d, $code, None)),
        }
        Ok($slf)
    }};
}

// ---------------------------------------------------------------- track types

/// `pallycon.config.track_type.TRACK_TYPE`.
static TRACK_TYPES: Names = Names::new(&["ALL", "ALL_VIDEO", "AUDIO", "SD", "HD", "UHD1", "UHD2"]);
static ALLOWED_TRACK_TYPES: Names = Names::new(&["ALL", "SD_ONLY", "SD_HD", "SD_UHD1", "SD_UHD2"]);
static HDCP_VERSIONS: Names = Names::new(&[
    "HDCP_NONE",
    "HDCP_V1",
    "HDCP_V2",
    "HDCP_V2_1",
    "HDCP_V2_2",
    "HDCP_NO_DIGITAL_OUTPUT",
]);
static CGMS_FLAGS: Names = Names::new(&["CGMS_NONE", "COPY_FREE", "COPY_ONCE", "COPY_NEVER"]);
static SRM_RULES: Names = Names::new(&["HDCP_SRM_RULE_NONE", "CURRENT_SRM"]);

// ---------------------------------------------------------------- playback

/// `playback_policy`: persistence, durations, expiry, track limits, streams.
#[pyclass(subclass, module = "keyward.pallycon", name = "PlaybackPolicy")]
#[derive(Default)]
pub struct PlaybackPolicy {
    d: Dialect,
    persistent: Option<bool>,
    license_duration: Option<JVal>,
    expire_date: Option<String>,
    allowed_track_types: Option<&'static str>,
    rental_duration: Option<JVal>,
    playback_duration: Option<JVal>,
    max_stream_per_user: Option<JVal>,
    renewal_duration: Option<JVal>,
}

impl PlaybackPolicy {
    fn to_json(&self) -> String {
        let mut out = String::with_capacity(64);
        let mut o = Obj::new(&mut out);
        o.opt_bool("persistent", self.persistent);
        o.opt("license_duration", &self.license_duration);
        if let Some(d) = &self.expire_date {
            o.str("expire_date", d);
        }
        if let Some(t) = self.allowed_track_types {
            o.str("allowed_track_types", t);
        }
        o.opt("rental_duration", &self.rental_duration);
        o.opt("playback_duration", &self.playback_duration);
        o.opt("max_stream_per_user", &self.max_stream_per_user);
        o.opt("renewal_duration", &self.renewal_duration);
        o.end();
        out
    }
}

#[pymethods]
impl PlaybackPolicy {
    #[new]
    #[pyo3(signature = (*, dialect = None))]
    fn new(dialect: Option<&str>) -> PyResult<Self> {
        Ok(Self {
            d: dialect_arg(dialect)?,
            ..Self::default()
        })
    }

    /// Offline (persistent) licence if True (code 1009 unless a bool).
    fn persistent<'py>(
        mut slf: PyRefMut<'py, Self>,
        persistent: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        set_or_raise!(slf, persistent, as_bool(persistent), 1009)
    }

    /// Licence validity in seconds, 0 = unlimited (1010 unless an int).
    fn license_duration<'py>(
        mut slf: PyRefMut<'py, Self>,
        license_duration: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        set_or_raise!(
            slf,
            license_duration,
            as_int_not_bool(license_duration)?,
            1010
        )
    }

    /// Absolute expiry `YYYY-MM-DDTHH:mm:ssZ` (1011 unless it matches the SDK's pattern).
    fn expire_date<'py>(
        mut slf: PyRefMut<'py, Self>,
        expire_date: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        set_or_raise!(slf, expire_date, date_ok(expire_date), 1011)
    }

    /// ALL, SD_ONLY, SD_HD, SD_UHD1 or SD_UHD2 (1012 otherwise).
    fn allowed_track_types<'py>(
        mut slf: PyRefMut<'py, Self>,
        allowed_track_types: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        set_or_raise!(
            slf,
            allowed_track_types,
            member_str(allowed_track_types, &ALLOWED_TRACK_TYPES),
            1012
        )
    }

    /// Offline rental window before first play, seconds (1049 unless an int).
    fn rental_duration<'py>(
        mut slf: PyRefMut<'py, Self>,
        rental_duration: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        set_or_raise!(
            slf,
            rental_duration,
            as_int_not_bool(rental_duration)?,
            1049
        )
    }

    /// Offline playback window after first play, seconds (1050 unless an int).
    fn playback_duration<'py>(
        mut slf: PyRefMut<'py, Self>,
        playback_duration: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        set_or_raise!(
            slf,
            playback_duration,
            as_int_not_bool(playback_duration)?,
            1050
        )
    }

    /// Concurrent streams per user (1053 unless an int).
    fn max_stream_per_user<'py>(
        mut slf: PyRefMut<'py, Self>,
        max_stream_per_user: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        set_or_raise!(
            slf,
            max_stream_per_user,
            as_int_not_bool(max_stream_per_user)?,
            1053
        )
    }

    /// CSL licence-renewal period, int or str (DoveRunner 3; 1056 otherwise).
    fn renewal_duration<'py>(
        mut slf: PyRefMut<'py, Self>,
        renewal_duration: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        let v = match renewal_duration.cast::<PyString>() {
            Ok(s) => Some(str_json(s)?),
            Err(_) => as_int_not_bool(renewal_duration)?,
        };
        set_or_raise!(slf, renewal_duration, v, 1056)
    }

    fn get_persistent(&self, py: Python<'_>) -> Py<PyAny> {
        opt_bool_object(py, self.persistent)
    }
    fn get_license_duration<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        opt_to_object(py, &self.license_duration)
    }
    fn get_expire_date(&self, py: Python<'_>) -> Py<PyAny> {
        opt_str_object(py, self.expire_date.as_deref())
    }
    fn get_allowed_track_types(&self, py: Python<'_>) -> Py<PyAny> {
        opt_str_object(py, self.allowed_track_types)
    }
    fn get_rental_duration<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        opt_to_object(py, &self.rental_duration)
    }
    fn get_playback_duration<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        opt_to_object(py, &self.playback_duration)
    }
    fn get_max_stream_per_user<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        opt_to_object(py, &self.max_stream_per_user)
    }
    fn get_renewal_duration<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        opt_to_object(py, &self.renewal_duration)
    }

    /// The section as the SDK's `dict()` returns it.
    fn dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        loads(py, &self.to_json())
    }

    /// The section's JSON text, exactly as the SDK writes it.
    fn to_json_str(&self) -> String {
        self.to_json()
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let json = slf.try_borrow()?.to_json();
        repr_of(slf.as_any(), &json)
    }
}

// ---------------------------------------------------------------- widevine

/// `security_policy[].widevine`.
#[pyclass(subclass, module = "keyward.pallycon", name = "SecurityPolicyWidevine")]
#[derive(Default)]
pub struct Widevine {
    d: Dialect,
    security_level: Option<JVal>,
    required_hdcp_version: Option<&'static str>,
    required_cgms_flags: Option<&'static str>,
    disable_analog_output: Option<bool>,
    hdcp_srm_rule: Option<&'static str>,
    override_device_revocation: Option<bool>,
    enable_license_cipher: Option<bool>,
    allow_test_device: Option<bool>,
}

impl Widevine {
    fn to_json(&self) -> String {
        let mut out = String::with_capacity(64);
        let mut o = Obj::new(&mut out);
        o.opt("security_level", &self.security_level);
        if let Some(v) = self.required_hdcp_version {
            o.str("required_hdcp_version", v);
        }
        if let Some(v) = self.required_cgms_flags {
            o.str("required_cgms_flags", v);
        }
        o.opt_bool("disable_analog_output", self.disable_analog_output);
        if let Some(v) = self.hdcp_srm_rule {
            o.str("hdcp_srm_rule", v);
        }
        // PallyCon 2.1.0 accepts the setter but never writes the field.
        if self.d.v3() {
            o.opt_bool(
                "override_device_revocation",
                self.override_device_revocation,
            );
        }
        o.opt_bool("enable_license_cipher", self.enable_license_cipher);
        o.opt_bool("allow_test_device", self.allow_test_device);
        o.end();
        out
    }
}

#[pymethods]
impl Widevine {
    #[new]
    #[pyo3(signature = (*, dialect = None))]
    fn new(dialect: Option<&str>) -> PyResult<Self> {
        Ok(Self {
            d: dialect_arg(dialect)?,
            ..Self::default()
        })
    }

    /// 1–5 (SW_SECURE_CRYPTO … HW_SECURE_ALL); 1022 otherwise.
    fn security_level<'py>(
        mut slf: PyRefMut<'py, Self>,
        security_level: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        set_or_raise!(
            slf,
            security_level,
            member_num(security_level, &[1, 2, 3, 4, 5])?,
            1022
        )
    }

    /// HDCP_NONE, HDCP_V1, HDCP_V2, HDCP_V2_1, HDCP_V2_2, HDCP_NO_DIGITAL_OUTPUT; 1023 otherwise.
    fn required_hdcp_version<'py>(
        mut slf: PyRefMut<'py, Self>,
        required_hdcp_version: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        set_or_raise!(
            slf,
            required_hdcp_version,
            member_str(required_hdcp_version, &HDCP_VERSIONS),
            1023
        )
    }

    /// CGMS_NONE, COPY_FREE, COPY_ONCE, COPY_NEVER; 1024 otherwise.
    fn required_cgms_flags<'py>(
        mut slf: PyRefMut<'py, Self>,
        required_cgms_flags: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        set_or_raise!(
            slf,
            required_cgms_flags,
            member_str(required_cgms_flags, &CGMS_FLAGS),
            1024
        )
    }

    /// Bool; 1025 otherwise.
    fn disable_analog_output<'py>(
        mut slf: PyRefMut<'py, Self>,
        disable_analog_output: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        set_or_raise!(
            slf,
            disable_analog_output,
            as_bool(disable_analog_output),
            1025
        )
    }

    /// HDCP_SRM_RULE_NONE or CURRENT_SRM; 1026 otherwise.
    fn hdcp_srm_rule<'py>(
        mut slf: PyRefMut<'py, Self>,
        hdcp_srm_rule: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        set_or_raise!(
            slf,
            hdcp_srm_rule,
            member_str(hdcp_srm_rule, &SRM_RULES),
            1026
        )
    }

    /// Bool; 1051 otherwise. Written only in the DoveRunner dialect (as the SDKs do).
    fn override_device_revocation<'py>(
        mut slf: PyRefMut<'py, Self>,
        override_device_revocation: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        set_or_raise!(
            slf,
            override_device_revocation,
            as_bool(override_device_revocation),
            1051
        )
    }

    /// Bool; 1054 otherwise.
    fn enable_license_cipher<'py>(
        mut slf: PyRefMut<'py, Self>,
        enable_license_cipher: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        set_or_raise!(
            slf,
            enable_license_cipher,
            as_bool(enable_license_cipher),
            1054
        )
    }

    /// Bool (DoveRunner 3); 1059 otherwise.
    fn allow_test_device<'py>(
        mut slf: PyRefMut<'py, Self>,
        allow_test_device: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        set_or_raise!(slf, allow_test_device, as_bool(allow_test_device), 1059)
    }

    fn get_security_level<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        opt_to_object(py, &self.security_level)
    }
    fn get_required_hdcp_version(&self, py: Python<'_>) -> Py<PyAny> {
        opt_str_object(py, self.required_hdcp_version)
    }
    fn get_required_cgms_flags(&self, py: Python<'_>) -> Py<PyAny> {
        opt_str_object(py, self.required_cgms_flags)
    }
    fn get_disable_analog_output(&self, py: Python<'_>) -> Py<PyAny> {
        opt_bool_object(py, self.disable_analog_output)
    }
    fn get_hdcp_srm_rule(&self, py: Python<'_>) -> Py<PyAny> {
        opt_str_object(py, self.hdcp_srm_rule)
    }
    fn get_override_device_revocation(&self, py: Python<'_>) -> Py<PyAny> {
        opt_bool_object(py, self.override_device_revocation)
    }
    fn get_enable_license_cipher(&self, py: Python<'_>) -> Py<PyAny> {
        opt_bool_object(py, self.enable_license_cipher)
    }
    fn get_allow_test_device(&self, py: Python<'_>) -> Py<PyAny> {
        opt_bool_object(py, self.allow_test_device)
    }

    /// The section as the SDK's `dict()` returns it.
    fn dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        loads(py, &self.to_json())
    }

    /// The section's JSON text, exactly as the SDK writes it.
    fn to_json_str(&self) -> String {
        self.to_json()
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let json = slf.try_borrow()?.to_json();
        repr_of(slf.as_any(), &json)
    }
}

// ---------------------------------------------------------------- playready

/// `security_policy[].playready`.
#[pyclass(
    subclass,
    module = "keyward.pallycon",
    name = "SecurityPolicyPlayready"
)]
#[derive(Default)]
pub struct Playready {
    d: Dialect,
    security_level: Option<JVal>,
    digital_video_protection_level: Option<JVal>,
    analog_video_protection_level: Option<JVal>,
    digital_audio_protection_level: Option<JVal>,
    require_hdcp_type_1: Option<bool>,
    enable_license_cipher: Option<bool>,
}

impl Playready {
    fn to_json(&self) -> String {
        let mut out = String::with_capacity(64);
        let mut o = Obj::new(&mut out);
        o.opt("security_level", &self.security_level);
        o.opt(
            "digital_video_protection_level",
            &self.digital_video_protection_level,
        );
        o.opt(
            "analog_video_protection_level",
            &self.analog_video_protection_level,
        );
        o.opt(
            "digital_audio_protection_level",
            &self.digital_audio_protection_level,
        );
        o.opt_bool("require_hdcp_type_1", self.require_hdcp_type_1);
        o.opt_bool("enable_license_cipher", self.enable_license_cipher);
        o.end();
        out
    }
}

#[pymethods]
impl Playready {
    #[new]
    #[pyo3(signature = (*, dialect = None))]
    fn new(dialect: Option<&str>) -> PyResult<Self> {
        Ok(Self {
            d: dialect_arg(dialect)?,
            ..Self::default()
        })
    }

    /// 150, 2000 or 3000; 1027 otherwise.
    fn security_level<'py>(
        mut slf: PyRefMut<'py, Self>,
        security_level: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        set_or_raise!(
            slf,
            security_level,
            member_num(security_level, &[150, 2000, 3000])?,
            1027
        )
    }

    /// 100, 250, 270, 300 or 301; 1028 otherwise.
    fn digital_video_protection_level<'py>(
        mut slf: PyRefMut<'py, Self>,
        digital_video_protection: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        set_or_raise!(
            slf,
            digital_video_protection_level,
            member_num(digital_video_protection, &[100, 250, 270, 300, 301])?,
            1028
        )
    }

    /// 100, 150, 200 or 201; 1029 otherwise.
    fn analog_video_protection_level<'py>(
        mut slf: PyRefMut<'py, Self>,
        analog_video_protection: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        set_or_raise!(
            slf,
            analog_video_protection_level,
            member_num(analog_video_protection, &[100, 150, 200, 201])?,
            1029
        )
    }

    /// 100, 250, 300 or 301; 1030 otherwise.
    fn digital_audio_protection_level<'py>(
        mut slf: PyRefMut<'py, Self>,
        digital_audio_protection: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        set_or_raise!(
            slf,
            digital_audio_protection_level,
            member_num(digital_audio_protection, &[100, 250, 300, 301])?,
            1030
        )
    }

    /// Bool; 1032 otherwise.
    fn require_hdcp_type_1<'py>(
        mut slf: PyRefMut<'py, Self>,
        require_hdcp_type_1: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        set_or_raise!(slf, require_hdcp_type_1, as_bool(require_hdcp_type_1), 1032)
    }

    /// Bool (DoveRunner 3); 1058 otherwise.
    fn enable_license_cipher<'py>(
        mut slf: PyRefMut<'py, Self>,
        enable_license_cipher: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        set_or_raise!(
            slf,
            enable_license_cipher,
            as_bool(enable_license_cipher),
            1058
        )
    }

    fn get_security_level<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        opt_to_object(py, &self.security_level)
    }
    fn get_digital_video_protection_level<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<Bound<'py, PyAny>> {
        opt_to_object(py, &self.digital_video_protection_level)
    }
    fn get_analog_video_protection_level<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<Bound<'py, PyAny>> {
        opt_to_object(py, &self.analog_video_protection_level)
    }
    fn get_digital_audio_protection_level<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<Bound<'py, PyAny>> {
        opt_to_object(py, &self.digital_audio_protection_level)
    }
    fn get_require_hdcp_type_1(&self, py: Python<'_>) -> Py<PyAny> {
        opt_bool_object(py, self.require_hdcp_type_1)
    }
    fn get_enable_license_cipher(&self, py: Python<'_>) -> Py<PyAny> {
        opt_bool_object(py, self.enable_license_cipher)
    }

    /// The section as the SDK's `dict()` returns it.
    fn dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        loads(py, &self.to_json())
    }

    /// The section's JSON text, exactly as the SDK writes it.
    fn to_json_str(&self) -> String {
        self.to_json()
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let json = slf.try_borrow()?.to_json();
        repr_of(slf.as_any(), &json)
    }
}

// ---------------------------------------------------------------- fairplay

/// `security_policy[].fairplay`.
#[pyclass(subclass, module = "keyward.pallycon", name = "SecurityPolicyFairplay")]
#[derive(Default)]
pub struct Fairplay {
    d: Dialect,
    hdcp_enforcement: Option<JVal>,
    allow_airplay: Option<bool>,
    allow_av_adapter: Option<bool>,
}

impl Fairplay {
    fn to_json(&self) -> String {
        let mut out = String::with_capacity(64);
        let mut o = Obj::new(&mut out);
        o.opt("hdcp_enforcement", &self.hdcp_enforcement);
        o.opt_bool("allow_airplay", self.allow_airplay);
        o.opt_bool("allow_av_adapter", self.allow_av_adapter);
        o.end();
        out
    }
}

#[pymethods]
impl Fairplay {
    #[new]
    #[pyo3(signature = (*, dialect = None))]
    fn new(dialect: Option<&str>) -> PyResult<Self> {
        Ok(Self {
            d: dialect_arg(dialect)?,
            ..Self::default()
        })
    }

    /// -1 (no HDCP), 0 (type 0) or 1 (type 1); 1033 otherwise.
    fn hdcp_enforcement<'py>(
        mut slf: PyRefMut<'py, Self>,
        hdcp_enforcement: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        set_or_raise!(
            slf,
            hdcp_enforcement,
            member_num(hdcp_enforcement, &[-1, 0, 1])?,
            1033
        )
    }

    /// Bool; 1034 otherwise.
    fn allow_airplay<'py>(
        mut slf: PyRefMut<'py, Self>,
        allow_airplay: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        set_or_raise!(slf, allow_airplay, as_bool(allow_airplay), 1034)
    }

    /// Bool; 1035 otherwise.
    fn allow_av_adapter<'py>(
        mut slf: PyRefMut<'py, Self>,
        allow_av_adapter: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        set_or_raise!(slf, allow_av_adapter, as_bool(allow_av_adapter), 1035)
    }

    fn get_hdcp_enforcement<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        opt_to_object(py, &self.hdcp_enforcement)
    }
    fn get_allow_airplay(&self, py: Python<'_>) -> Py<PyAny> {
        opt_bool_object(py, self.allow_airplay)
    }
    fn get_allow_av_adapter(&self, py: Python<'_>) -> Py<PyAny> {
        opt_bool_object(py, self.allow_av_adapter)
    }

    /// The section as the SDK's `dict()` returns it.
    fn dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        loads(py, &self.to_json())
    }

    /// The section's JSON text, exactly as the SDK writes it.
    fn to_json_str(&self) -> String {
        self.to_json()
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let json = slf.try_borrow()?.to_json();
        repr_of(slf.as_any(), &json)
    }
}

// ---------------------------------------------------------------- ncg (security)

/// `security_policy[].ncg`.
#[pyclass(subclass, module = "keyward.pallycon", name = "SecurityPolicyNcg")]
#[derive(Default)]
pub struct NcgSecurity {
    d: Dialect,
    allow_mobile_abnormal_device: Option<bool>,
    allow_external_display: Option<bool>,
    control_hdcp: Option<JVal>,
}

impl NcgSecurity {
    fn to_json(&self) -> String {
        let mut out = String::with_capacity(64);
        let mut o = Obj::new(&mut out);
        o.opt_bool(
            "allow_mobile_abnormal_device",
            self.allow_mobile_abnormal_device,
        );
        o.opt_bool("allow_external_display", self.allow_external_display);
        o.opt("control_hdcp", &self.control_hdcp);
        o.end();
        out
    }
}

#[pymethods]
impl NcgSecurity {
    #[new]
    #[pyo3(signature = (*, dialect = None))]
    fn new(dialect: Option<&str>) -> PyResult<Self> {
        Ok(Self {
            d: dialect_arg(dialect)?,
            ..Self::default()
        })
    }

    /// Bool: allow rooted/jailbroken devices; 1036 otherwise.
    fn allow_mobile_abnormal_device<'py>(
        mut slf: PyRefMut<'py, Self>,
        allow_mobile_abnormal_device: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        set_or_raise!(
            slf,
            allow_mobile_abnormal_device,
            as_bool(allow_mobile_abnormal_device),
            1036
        )
    }

    /// Bool; 1037 otherwise.
    fn allow_external_display<'py>(
        mut slf: PyRefMut<'py, Self>,
        allow_external_display: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        set_or_raise!(
            slf,
            allow_external_display,
            as_bool(allow_external_display),
            1037
        )
    }

    /// 0 (none), 1 (HDCP 1.4) or 2 (HDCP 2.2); 1038 otherwise.
    fn control_hdcp<'py>(
        mut slf: PyRefMut<'py, Self>,
        control_hdcp: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        set_or_raise!(
            slf,
            control_hdcp,
            member_num(control_hdcp, &[0, 1, 2])?,
            1038
        )
    }

    fn get_allow_mobile_abnormal_device(&self, py: Python<'_>) -> Py<PyAny> {
        opt_bool_object(py, self.allow_mobile_abnormal_device)
    }
    fn get_allow_external_display(&self, py: Python<'_>) -> Py<PyAny> {
        opt_bool_object(py, self.allow_external_display)
    }
    fn get_control_hdcp<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        opt_to_object(py, &self.control_hdcp)
    }

    /// The section as the SDK's `dict()` returns it.
    fn dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        loads(py, &self.to_json())
    }

    /// The section's JSON text, exactly as the SDK writes it.
    fn to_json_str(&self) -> String {
        self.to_json()
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let json = slf.try_borrow()?.to_json();
        repr_of(slf.as_any(), &json)
    }
}

// ---------------------------------------------------------------- wiseplay

/// `security_policy[].wiseplay` (DoveRunner 3).
#[pyclass(subclass, module = "keyward.pallycon", name = "SecurityPolicyWiseplay")]
#[derive(Default)]
pub struct Wiseplay {
    d: Dialect,
    security_level: Option<JVal>,
    output_control: Option<JVal>,
}

impl Wiseplay {
    fn to_json(&self) -> String {
        let mut out = String::with_capacity(48);
        let mut o = Obj::new(&mut out);
        o.opt("security_level", &self.security_level);
        o.opt("output_control", &self.output_control);
        o.end();
        out
    }
}

#[pymethods]
impl Wiseplay {
    #[new]
    #[pyo3(signature = (*, dialect = None))]
    fn new(dialect: Option<&str>) -> PyResult<Self> {
        Ok(Self {
            d: dialect_arg(dialect)?,
            ..Self::default()
        })
    }

    /// An int (1 SW_LEVEL_1, 2 HW_LEVEL_2, 3 ENHANCED_HW_LEVEL_3; the SDK checks only the type); 1060 otherwise.
    fn security_level<'py>(
        mut slf: PyRefMut<'py, Self>,
        security_level: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        set_or_raise!(slf, security_level, as_int(security_level)?, 1060)
    }

    /// An int (0 HDCP_NONE, 1 HDCP_V1_4, 2 HDCP_V2_2, 3 HDCP_RESTRICTED); 1061 otherwise.
    fn output_control<'py>(
        mut slf: PyRefMut<'py, Self>,
        output_control: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        set_or_raise!(slf, output_control, as_int(output_control)?, 1061)
    }

    fn get_security_level<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        opt_to_object(py, &self.security_level)
    }
    fn get_output_control<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        opt_to_object(py, &self.output_control)
    }

    /// The section as the SDK's `dict()` returns it.
    fn dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        loads(py, &self.to_json())
    }

    /// The section's JSON text, exactly as the SDK writes it.
    fn to_json_str(&self) -> String {
        self.to_json()
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let json = slf.try_borrow()?.to_json();
        repr_of(slf.as_any(), &json)
    }
}

// ---------------------------------------------------------------- security entry

/// One `security_policy[]` entry: a track type and per-DRM sections.
#[pyclass(subclass, module = "keyward.pallycon", name = "SecurityPolicy")]
pub struct SecurityPolicy {
    d: Dialect,
    track_type: &'static str,
    widevine: Option<String>,
    playready: Option<String>,
    fairplay: Option<String>,
    ncg: Option<String>,
    wiseplay: Option<String>,
}

impl SecurityPolicy {
    fn to_json(&self) -> String {
        let cap = 24
            + [
                &self.widevine,
                &self.playready,
                &self.fairplay,
                &self.ncg,
                &self.wiseplay,
            ]
            .iter()
            .map(|s| s.as_ref().map_or(0, |s| s.len() + 16))
            .sum::<usize>();
        let mut out = String::with_capacity(cap);
        let mut o = Obj::new(&mut out);
        o.str("track_type", self.track_type);
        o.opt_raw("widevine", self.widevine.as_deref());
        o.opt_raw("playready", self.playready.as_deref());
        o.opt_raw("fairplay", self.fairplay.as_deref());
        o.opt_raw("ncg", self.ncg.as_deref());
        o.opt_raw("wiseplay", self.wiseplay.as_deref());
        o.end();
        out
    }
}

/// Extracts a section of class `T` (subclasses included) and snapshots its JSON.
fn section_json<T, F>(v: &Bound<'_, PyAny>, f: F) -> Option<String>
where
    T: PyClass,
    F: FnOnce(&T) -> String,
{
    let b = v.cast::<T>().ok()?;
    let r = b.try_borrow().ok()?;
    Some(f(&r))
}

#[pymethods]
impl SecurityPolicy {
    #[new]
    #[pyo3(signature = (*, dialect = None))]
    fn new(dialect: Option<&str>) -> PyResult<Self> {
        Ok(Self {
            d: dialect_arg(dialect)?,
            track_type: "ALL",
            widevine: None,
            playready: None,
            fairplay: None,
            ncg: None,
            wiseplay: None,
        })
    }

    /// ALL, ALL_VIDEO, AUDIO, SD, HD, UHD1 or UHD2 (default ALL); 1013 otherwise.
    fn track_type<'py>(
        mut slf: PyRefMut<'py, Self>,
        track_type: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        match member_str(track_type, &TRACK_TYPES) {
            Some(t) => slf.track_type = t,
            None => return Err(sdk_err(slf.py(), slf.d, 1013, None)),
        }
        Ok(slf)
    }

    /// A `SecurityPolicyWidevine` (copied now); 1014 otherwise.
    fn widevine<'py>(
        mut slf: PyRefMut<'py, Self>,
        widevine: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        set_or_raise!(
            slf,
            widevine,
            section_json(widevine, Widevine::to_json),
            1014
        )
    }

    /// A `SecurityPolicyPlayready` (copied now); 1015 otherwise.
    fn playready<'py>(
        mut slf: PyRefMut<'py, Self>,
        playready: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        set_or_raise!(
            slf,
            playready,
            section_json(playready, Playready::to_json),
            1015
        )
    }

    /// A `SecurityPolicyFairplay` (copied now); 1016 otherwise.
    fn fairplay<'py>(
        mut slf: PyRefMut<'py, Self>,
        fairplay: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        set_or_raise!(
            slf,
            fairplay,
            section_json(fairplay, Fairplay::to_json),
            1016
        )
    }

    /// A `SecurityPolicyNcg` (copied now); 1017 otherwise (1062 in DoveRunner 3).
    fn ncg<'py>(
        mut slf: PyRefMut<'py, Self>,
        ncg: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        let code = if slf.d.v3() { 1062 } else { 1017 };
        set_or_raise!(slf, ncg, section_json(ncg, NcgSecurity::to_json), code)
    }

    /// A `SecurityPolicyWiseplay` (copied now; DoveRunner 3); 1057 otherwise.
    fn wiseplay<'py>(
        mut slf: PyRefMut<'py, Self>,
        wiseplay: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        set_or_raise!(
            slf,
            wiseplay,
            section_json(wiseplay, Wiseplay::to_json),
            1057
        )
    }

    fn get_track_type(&self) -> &'static str {
        self.track_type
    }
    fn get_widevine<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        opt_json_object(py, self.widevine.as_deref())
    }
    fn get_playready<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        opt_json_object(py, self.playready.as_deref())
    }
    fn get_fairplay<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        opt_json_object(py, self.fairplay.as_deref())
    }
    fn get_ncg<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        opt_json_object(py, self.ncg.as_deref())
    }
    fn get_wiseplay<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        opt_json_object(py, self.wiseplay.as_deref())
    }

    /// The entry as the SDK's `dict()` returns it.
    fn dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        loads(py, &self.to_json())
    }

    /// The entry's JSON text, exactly as the SDK writes it.
    fn to_json_str(&self) -> String {
        self.to_json()
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let json = slf.try_borrow()?.to_json();
        repr_of(slf.as_any(), &json)
    }
}

// ---------------------------------------------------------------- external keys

fn check_track(v: &Bound<'_, PyAny>) -> Option<&'static str> {
    member_str(v, &TRACK_TYPES)
}

/// A DASH/CENC key for Widevine/PlayReady: `MpegCenc(track_type, key_id, key, iv=None)`.
#[pyclass(
    subclass,
    frozen,
    module = "keyward.pallycon",
    name = "ExternalKeyMpegCenc"
)]
pub struct MpegCenc {
    track_type: &'static str,
    key_id: String,
    key: String,
    iv: Option<String>,
}

impl MpegCenc {
    fn to_json(&self) -> String {
        let mut out = String::with_capacity(160);
        let mut o = Obj::new(&mut out);
        o.str("track_type", self.track_type);
        o.str("key_id", &self.key_id);
        o.str("key", &self.key);
        // The SDK always writes iv, as null when it was not given.
        match &self.iv {
            Some(iv) => o.str("iv", iv),
            None => o.key("iv").push_str("null"),
        }
        o.end();
        out
    }
}

#[pymethods]
impl MpegCenc {
    /// Checks, in order: track_type (1039), key_id (1040), key (1041), iv (1042):
    /// 32 lowercase hex digits each, iv optional.
    #[new]
    #[pyo3(signature = (track_type = None, key_id = None, key = None, iv = None, *, dialect = None))]
    fn new(
        py: Python<'_>,
        track_type: Option<&Bound<'_, PyAny>>,
        key_id: Option<&Bound<'_, PyAny>>,
        key: Option<&Bound<'_, PyAny>>,
        iv: Option<&Bound<'_, PyAny>>,
        dialect: Option<&str>,
    ) -> PyResult<Self> {
        let d = dialect_arg(dialect)?;
        let track_type = track_type
            .and_then(check_track)
            .ok_or_else(|| sdk_err(py, d, 1039, None))?;
        let key_id = key_id
            .and_then(|v| hex_ok(v, 32))
            .ok_or_else(|| sdk_err(py, d, 1040, None))?;
        let key = key
            .and_then(|v| hex_ok(v, 32))
            .ok_or_else(|| sdk_err(py, d, 1041, None))?;
        let iv = match iv {
            None => None,
            Some(v) if v.is_none() => None,
            Some(v) => Some(hex_ok(v, 32).ok_or_else(|| sdk_err(py, d, 1042, None))?),
        };
        Ok(Self {
            track_type,
            key_id,
            key,
            iv,
        })
    }

    #[getter(track_type)]
    fn track_type_prop(&self) -> &'static str {
        self.track_type
    }
    #[getter(key_id)]
    fn key_id_prop(&self) -> &str {
        &self.key_id
    }
    #[getter(key)]
    fn key_prop(&self) -> &str {
        &self.key
    }
    #[getter(iv)]
    fn iv_prop(&self) -> Option<&str> {
        self.iv.as_deref()
    }

    /// The key as the SDK's `dict()` returns it.
    fn dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        loads(py, &self.to_json())
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let json = slf.get().to_json();
        repr_of(slf.as_any(), &json)
    }
}

/// An HLS SAMPLE-AES key for FairPlay: `HlsAes(track_type, key_id, key, iv)`.
#[pyclass(
    subclass,
    frozen,
    module = "keyward.pallycon",
    name = "ExternalKeyHlsAes"
)]
pub struct HlsAes {
    track_type: &'static str,
    key_id: String,
    key: String,
    iv: String,
}

impl HlsAes {
    fn to_json(&self) -> String {
        let mut out = String::with_capacity(160);
        let mut o = Obj::new(&mut out);
        o.str("track_type", self.track_type);
        o.str("key_id", &self.key_id);
        o.str("key", &self.key);
        o.str("iv", &self.iv);
        o.end();
        out
    }
}

#[pymethods]
impl HlsAes {
    /// Checks, in order: track_type (1043), key_id (1052), key (1044), iv (1045):
    /// 32 lowercase hex digits each, all required.
    #[new]
    #[pyo3(signature = (track_type = None, key_id = None, key = None, iv = None, *, dialect = None))]
    fn new(
        py: Python<'_>,
        track_type: Option<&Bound<'_, PyAny>>,
        key_id: Option<&Bound<'_, PyAny>>,
        key: Option<&Bound<'_, PyAny>>,
        iv: Option<&Bound<'_, PyAny>>,
        dialect: Option<&str>,
    ) -> PyResult<Self> {
        let d = dialect_arg(dialect)?;
        let track_type = track_type
            .and_then(check_track)
            .ok_or_else(|| sdk_err(py, d, 1043, None))?;
        let key_id = key_id
            .and_then(|v| hex_ok(v, 32))
            .ok_or_else(|| sdk_err(py, d, 1052, None))?;
        let key = key
            .and_then(|v| hex_ok(v, 32))
            .ok_or_else(|| sdk_err(py, d, 1044, None))?;
        let iv = iv
            .and_then(|v| hex_ok(v, 32))
            .ok_or_else(|| sdk_err(py, d, 1045, None))?;
        Ok(Self {
            track_type,
            key_id,
            key,
            iv,
        })
    }

    #[getter(track_type)]
    fn track_type_prop(&self) -> &'static str {
        self.track_type
    }
    #[getter(key_id)]
    fn key_id_prop(&self) -> &str {
        &self.key_id
    }
    #[getter(key)]
    fn key_prop(&self) -> &str {
        &self.key
    }
    #[getter(iv)]
    fn iv_prop(&self) -> &str {
        &self.iv
    }

    /// The key as the SDK's `dict()` returns it.
    fn dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        loads(py, &self.to_json())
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let json = slf.get().to_json();
        repr_of(slf.as_any(), &json)
    }
}

/// An NCG content key: `Ncg(track_type, cek)`.
#[pyclass(subclass, frozen, module = "keyward.pallycon", name = "ExternalKeyNcg")]
pub struct NcgKey {
    track_type: &'static str,
    cek: String,
}

impl NcgKey {
    fn to_json(&self) -> String {
        let mut out = String::with_capacity(112);
        let mut o = Obj::new(&mut out);
        o.str("track_type", self.track_type);
        o.str("cek", &self.cek);
        o.end();
        out
    }
}

#[pymethods]
impl NcgKey {
    /// Checks track_type (1046), then cek: 64 lowercase hex digits (1047).
    #[new]
    #[pyo3(signature = (track_type = None, cek = None, *, dialect = None))]
    fn new(
        py: Python<'_>,
        track_type: Option<&Bound<'_, PyAny>>,
        cek: Option<&Bound<'_, PyAny>>,
        dialect: Option<&str>,
    ) -> PyResult<Self> {
        let d = dialect_arg(dialect)?;
        let track_type = track_type
            .and_then(check_track)
            .ok_or_else(|| sdk_err(py, d, 1046, None))?;
        let cek = cek
            .and_then(|v| hex_ok(v, 64))
            .ok_or_else(|| sdk_err(py, d, 1047, None))?;
        Ok(Self { track_type, cek })
    }

    #[getter(track_type)]
    fn track_type_prop(&self) -> &'static str {
        self.track_type
    }
    #[getter(cek)]
    fn cek_prop(&self) -> &str {
        &self.cek
    }

    /// The key as the SDK's `dict()` returns it.
    fn dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        loads(py, &self.to_json())
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let json = slf.get().to_json();
        repr_of(slf.as_any(), &json)
    }
}

/// `external_policy`: keys the licence server does not store.
#[pyclass(subclass, module = "keyward.pallycon", name = "ExternalKey")]
pub struct ExternalKey {
    d: Dialect,
    mpeg_cenc: Vec<String>,
    hls_aes: Vec<String>,
    ncg: Option<String>,
}

impl ExternalKey {
    fn is_filled(&self) -> bool {
        !(self.mpeg_cenc.is_empty() && self.hls_aes.is_empty() && self.ncg.is_none())
    }

    fn to_json(&self) -> String {
        let cap = 16
            + self.mpeg_cenc.iter().map(|s| s.len() + 2).sum::<usize>()
            + self.hls_aes.iter().map(|s| s.len() + 2).sum::<usize>()
            + self.ncg.as_ref().map_or(0, |s| s.len() + 8);
        let mut out = String::with_capacity(cap + 32);
        let mut o = Obj::new(&mut out);
        if !self.mpeg_cenc.is_empty() {
            write_list(o.key("mpeg_cenc"), &self.mpeg_cenc);
        }
        if !self.hls_aes.is_empty() {
            write_list(o.key("hls_aes"), &self.hls_aes);
        }
        o.opt_raw("ncg", self.ncg.as_deref());
        o.end();
        out
    }
}

/// One item or a list of items of class `T`: `Some(Ok(json))` for one item,
/// `Some(Err(list))` for a list (which replaces), `None` for anything else.
fn one_or_list<T, F>(v: &Bound<'_, PyAny>, f: F) -> Option<Result<String, Vec<String>>>
where
    T: PyClass,
    F: Fn(&T) -> String,
{
    if let Ok(list) = v.cast::<PyList>() {
        let mut out = Vec::with_capacity(list.len());
        for item in list.iter() {
            out.push(section_json(&item, &f)?);
        }
        return Some(Err(out));
    }
    section_json(v, f).map(Ok)
}

#[pymethods]
impl ExternalKey {
    #[new]
    #[pyo3(signature = (*, dialect = None))]
    fn new(dialect: Option<&str>) -> PyResult<Self> {
        Ok(Self {
            d: dialect_arg(dialect)?,
            mpeg_cenc: Vec::new(),
            hls_aes: Vec::new(),
            ncg: None,
        })
    }

    /// Appends one `MpegCenc`, or replaces the list with a list of them; 1019 otherwise.
    fn mpeg_cenc<'py>(
        mut slf: PyRefMut<'py, Self>,
        mpeg_cenc: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        match one_or_list(mpeg_cenc, MpegCenc::to_json) {
            Some(Ok(one)) => slf.mpeg_cenc.push(one),
            Some(Err(list)) => slf.mpeg_cenc = list,
            None => return Err(sdk_err(slf.py(), slf.d, 1019, None)),
        }
        Ok(slf)
    }

    /// Appends one `HlsAes`, or replaces the list with a list of them; 1020 otherwise.
    fn hls_aes<'py>(
        mut slf: PyRefMut<'py, Self>,
        hls_aes: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        match one_or_list(hls_aes, HlsAes::to_json) {
            Some(Ok(one)) => slf.hls_aes.push(one),
            Some(Err(list)) => slf.hls_aes = list,
            None => return Err(sdk_err(slf.py(), slf.d, 1020, None)),
        }
        Ok(slf)
    }

    /// Sets the NCG key (an `ExternalKeyNcg`); 1021 otherwise.
    fn ncg<'py>(
        mut slf: PyRefMut<'py, Self>,
        ncg: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        set_or_raise!(slf, ncg, section_json(ncg, NcgKey::to_json), 1021)
    }

    /// Whether any key is set (the policy refuses an empty one with 1018).
    fn check(&self) -> bool {
        self.is_filled()
    }

    fn get_mpeg_cenc<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let mut s = String::new();
        write_list(&mut s, &self.mpeg_cenc);
        loads(py, &s)
    }
    fn get_hls_aes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let mut s = String::new();
        write_list(&mut s, &self.hls_aes);
        loads(py, &s)
    }
    fn get_ncg<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        opt_json_object(py, self.ncg.as_deref())
    }

    /// The keys as the SDK's `dict()` returns them.
    fn dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        loads(py, &self.to_json())
    }

    /// The keys' JSON text, exactly as the SDK writes it.
    fn to_json_str(&self) -> String {
        self.to_json()
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let json = slf.try_borrow()?.to_json();
        repr_of(slf.as_any(), &json)
    }
}

// ---------------------------------------------------------------- the policy

/// The licence policy: `policy_version` 2 with optional playback, security
/// and external-key parts, serialized as the SDK's `to_json_str()`.
#[pyclass(subclass, module = "keyward.pallycon", name = "PallyConDrmTokenPolicy")]
pub struct Policy {
    d: Dialect,
    playback: Option<String>,
    security: Vec<String>,
    external: Option<String>,
    cached: Option<Arc<str>>,
}

impl Policy {
    fn build(&self) -> String {
        let cap = 24
            + self.playback.as_ref().map_or(0, |s| s.len() + 20)
            + self.security.iter().map(|s| s.len() + 2).sum::<usize>()
            + self.external.as_ref().map_or(0, |s| s.len() + 20);
        let mut out = String::with_capacity(cap + 24);
        let mut o = Obj::new(&mut out);
        o.key("policy_version").push('2');
        o.opt_raw("playback_policy", self.playback.as_deref());
        if !self.security.is_empty() {
            write_list(o.key("security_policy"), &self.security);
        }
        o.opt_raw("external_policy", self.external.as_deref());
        o.end();
        out
    }

    /// The policy JSON, built once per change.
    pub fn json(&mut self) -> Arc<str> {
        if let Some(c) = &self.cached {
            return Arc::clone(c);
        }
        let s: Arc<str> = Arc::from(self.build());
        self.cached = Some(Arc::clone(&s));
        s
    }
}

#[pymethods]
impl Policy {
    #[new]
    #[pyo3(signature = (*, dialect = None))]
    fn new(dialect: Option<&str>) -> PyResult<Self> {
        Ok(Self {
            d: dialect_arg(dialect)?,
            playback: None,
            security: Vec::new(),
            external: None,
            cached: None,
        })
    }

    /// Sets `playback_policy` from a `PlaybackPolicy` (copied now); 1006 otherwise.
    fn playback<'py>(
        mut slf: PyRefMut<'py, Self>,
        playback: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        match section_json(playback, PlaybackPolicy::to_json) {
            Some(j) => slf.playback = Some(j),
            None => return Err(sdk_err(slf.py(), slf.d, 1006, None)),
        }
        slf.cached = None;
        Ok(slf)
    }

    /// Appends one `SecurityPolicy`, or replaces the list with a list of them; 1007 otherwise.
    fn security<'py>(
        mut slf: PyRefMut<'py, Self>,
        security: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        match one_or_list(security, SecurityPolicy::to_json) {
            Some(Ok(one)) => slf.security.push(one),
            Some(Err(list)) => slf.security = list,
            None => return Err(sdk_err(slf.py(), slf.d, 1007, None)),
        }
        slf.cached = None;
        Ok(slf)
    }

    /// Sets `external_policy` from a non-empty `ExternalKey` (1018 if empty, 1008 if not one).
    fn external<'py>(
        mut slf: PyRefMut<'py, Self>,
        external: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        let got = match external.cast::<ExternalKey>() {
            Ok(b) => b.try_borrow().ok().map(|e| (e.is_filled(), e.to_json())),
            Err(_) => None,
        };
        match got {
            Some((true, j)) => slf.external = Some(j),
            Some((false, _)) => return Err(sdk_err(slf.py(), slf.d, 1018, None)),
            None => return Err(sdk_err(slf.py(), slf.d, 1008, None)),
        }
        slf.cached = None;
        Ok(slf)
    }

    fn get_playback<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        opt_json_object(py, self.playback.as_deref())
    }
    fn get_security<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let mut s = String::new();
        write_list(&mut s, &self.security);
        loads(py, &s)
    }
    fn get_external<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        opt_json_object(py, self.external.as_deref())
    }

    /// The policy as the SDK's `dict()` returns it.
    fn dict<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let j = self.json();
        loads(py, &j)
    }

    /// The policy JSON text, exactly as the SDK encrypts it.
    #[pyo3(name = "to_json_str")]
    fn json_text(&mut self) -> String {
        self.json().to_string()
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let json = slf.try_borrow_mut()?.json();
        repr_of(slf.as_any(), &json)
    }
}

/// The JSON of a policy object for the client: a `PallyConDrmTokenPolicy`
/// (cached text), else `None`.
pub fn policy_object_json(v: &Bound<'_, PyAny>) -> Option<Arc<str>> {
    let b = v.cast::<Policy>().ok()?;
    let mut p = b.try_borrow_mut().ok()?;
    Some(p.json())
}

/// Appends `s` JSON-escaped (re-exported for the client's token JSON).
pub fn escape_into(out: &mut String, s: &str) {
    write_str(out, s);
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PlaybackPolicy>()?;
    m.add_class::<Widevine>()?;
    m.add_class::<Playready>()?;
    m.add_class::<Fairplay>()?;
    m.add_class::<NcgSecurity>()?;
    m.add_class::<Wiseplay>()?;
    m.add_class::<SecurityPolicy>()?;
    m.add_class::<MpegCenc>()?;
    m.add_class::<HlsAes>()?;
    m.add_class::<NcgKey>()?;
    m.add_class::<ExternalKey>()?;
    m.add_class::<Policy>()?;
    Ok(())
}
