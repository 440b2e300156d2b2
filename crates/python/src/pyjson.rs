//! JSON text exactly as CPython's `json.dumps` writes it with its defaults
//! (`separators=(", ", ": ")`, `ensure_ascii=True`, no indentation), which is
//! what the vendor's Python SDKs encrypt and base64-encode. The ciphertext
//! depends on every byte, so this module is the heart of the compatibility.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

/// A scalar as it will be written: the SDKs store whatever passed their
/// checks (`True` for a level, `150.0`, a big int), and `json.dumps` writes it.
#[derive(Clone, Debug, PartialEq)]
pub enum JVal {
    /// `true` / `false`.
    Bool(bool),
    /// An int that fits i64.
    Int(i64),
    /// A string, escaped on output.
    Str(String),
    /// Pre-encoded JSON text (floats, big ints, strings Rust cannot hold).
    Raw(String),
}

impl JVal {
    /// Appends the JSON text.
    pub fn write(&self, out: &mut String) {
        match self {
            Self::Bool(true) => out.push_str("true"),
            Self::Bool(false) => out.push_str("false"),
            Self::Int(v) => {
                use std::fmt::Write as _;
                let _ = write!(out, "{v}");
            }
            Self::Str(s) => write_str(out, s),
            Self::Raw(s) => out.push_str(s),
        }
    }

    /// The value as a Python object (what the SDK's getters return).
    pub fn to_object<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(match self {
            Self::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
            Self::Int(v) => v.into_pyobject(py)?.into_any(),
            Self::Str(s) => PyString::new(py, s).into_any(),
            Self::Raw(s) => loads(py, s)?,
        })
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `s` as a JSON string with `ensure_ascii=True` escaping: `\"`, `\\`,
/// `\b \f \n \r \t`, every other character outside 0x20–0x7e as `\uxxxx`
/// (lowercase hex; astral characters as a surrogate pair). `/` is not escaped.
pub fn write_str(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    // Most strings need no escape at all: one vectorizable scan, one copy.
    if !s
        .bytes()
        .any(|b| !(0x20..0x7f).contains(&b) || b == b'"' || b == b'\\')
    {
        out.push('"');
        out.push_str(s);
        out.push('"');
        return;
    }
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        // Plain printable ASCII is copied in runs.
        if (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\' {
            continue;
        }
        if b >= 0x80 {
            // Part of a multi-byte char: handled below when the run is flushed.
            continue;
        }
        flush_run(out, s, start, i);
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            _ => push_u(out, u32::from(b)),
        }
        start = i + 1;
    }
    flush_run(out, s, start, bytes.len());
    out.push('"');
}

/// Copies `s[from..to]`, escaping the non-ASCII characters in it.
fn flush_run(out: &mut String, s: &str, from: usize, to: usize) {
    let Some(run) = s.get(from..to) else {
        return;
    };
    if run.is_ascii() {
        out.push_str(run);
        return;
    }
    for c in run.chars() {
        let c = u32::from(c);
        if c < 0x80 {
            // Only printable ASCII reaches here (controls end a run).
            if let Some(ch) = char::from_u32(c) {
                out.push(ch);
            }
        } else if c < 0x1_0000 {
            push_u(out, c);
        } else {
            let v = c - 0x1_0000;
            push_u(out, 0xd800 | (v >> 10));
            push_u(out, 0xdc00 | (v & 0x3ff));
        }
    }
}

fn push_u(out: &mut String, c: u32) {
    out.push_str("\\u");
    for shift in [12u32, 8, 4, 0] {
        out.push(char::from(HEX[((c >> shift) & 0xf) as usize]));
    }
}

/// `{"k": v, ...}` with Python's separators.
pub struct Obj<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Obj<'a> {
    /// Opens an object.
    pub fn new(out: &'a mut String) -> Self {
        out.push('{');
        Self { out, first: true }
    }

    /// Writes the key (keys are ASCII identifiers) and returns the buffer for the value.
    pub fn key(&mut self, k: &str) -> &mut String {
        if !self.first {
            self.out.push_str(", ");
        }
        self.first = false;
        self.out.push('"');
        self.out.push_str(k);
        self.out.push_str("\": ");
        self.out
    }

    /// `"k": "v"` for text known to need no escape (base64, ids checked to
    /// be plain ASCII letters, fixed names, timestamps).
    pub fn plain(&mut self, k: &str, v: &str) {
        let out = self.key(k);
        out.push('"');
        out.push_str(v);
        out.push('"');
    }

    /// `"k": <value>` when present.
    pub fn opt(&mut self, k: &str, v: &Option<JVal>) {
        if let Some(v) = v {
            v.write(self.key(k));
        }
    }

    /// `"k": true|false` when present.
    pub fn opt_bool(&mut self, k: &str, v: Option<bool>) {
        if let Some(v) = v {
            self.key(k).push_str(if v { "true" } else { "false" });
        }
    }

    /// `"k": "<escaped>"`.
    pub fn str(&mut self, k: &str, v: &str) {
        write_str(self.key(k), v);
    }

    /// `"k": <raw JSON>` when present.
    pub fn opt_raw(&mut self, k: &str, v: Option<&str>) {
        if let Some(v) = v {
            self.key(k).push_str(v);
        }
    }

    /// Closes the object.
    pub fn end(self) {
        self.out.push('}');
    }
}

/// `[a, b]` of pre-encoded items.
pub fn write_list(out: &mut String, items: &[String]) {
    out.push('[');
    for (i, it) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(it);
    }
    out.push(']');
}

/// `json.loads(text)`.
pub fn loads<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import("json")?.call_method1("loads", (text,))
}

/// `float.__repr__(v)` — the text `json.dumps` writes for a finite float.
pub fn float_repr(v: &Bound<'_, PyAny>) -> PyResult<String> {
    let f: f64 = v.extract()?;
    if !f.is_finite() {
        // json.dumps writes NaN/Infinity, which are not JSON; never reached
        // through the SDK checks (NaN and inf equal no allowed value).
        return Err(PyTypeError::new_err("non-finite float"));
    }
    let py = v.py();
    py.get_type::<PyFloat>()
        .getattr("__repr__")?
        .call1((v,))?
        .extract()
}

/// `int.__repr__(v)` — what `json.dumps` writes for an int (or an int subclass such as IntEnum).
pub fn int_json(v: &Bound<'_, PyAny>) -> PyResult<JVal> {
    if let Ok(i) = v.extract::<i64>() {
        return Ok(JVal::Int(i));
    }
    let py = v.py();
    Ok(JVal::Raw(
        py.get_type::<PyInt>()
            .getattr("__repr__")?
            .call1((v,))?
            .extract()?,
    ))
}

/// A Python string for JSON: held as Rust text, or, when it holds lone
/// surrogates Rust cannot represent, as `json.dumps`'s own output.
pub fn str_json(v: &Bound<'_, PyString>) -> PyResult<JVal> {
    match v.to_cow() {
        Ok(s) => Ok(JVal::Str(s.into_owned())),
        Err(_) => Ok(JVal::Raw(
            v.py()
                .import("json")?
                .call_method1("dumps", (v,))?
                .extract()?,
        )),
    }
}

/// Serializes a Python value (dict, list, tuple, str, int, float, bool, None)
/// as `json.dumps` would. Other types are a `TypeError`, as in `json.dumps`.
pub fn dumps_value(out: &mut String, v: &Bound<'_, PyAny>, depth: u32) -> PyResult<()> {
    if depth > 64 {
        return Err(PyTypeError::new_err("policy is nested too deeply"));
    }
    if v.is_none() {
        out.push_str("null");
    } else if let Ok(b) = v.cast::<PyBool>() {
        out.push_str(if b.is_true() { "true" } else { "false" });
    } else if v.is_instance_of::<PyInt>() {
        int_json(v)?.write(out);
    } else if v.is_instance_of::<PyFloat>() {
        out.push_str(&float_repr(v)?);
    } else if let Ok(s) = v.cast::<PyString>() {
        str_json(s)?.write(out);
    } else if let Ok(d) = v.cast::<PyDict>() {
        out.push('{');
        for (i, (k, val)) in d.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let k = k
                .cast::<PyString>()
                .map_err(|_| PyTypeError::new_err("policy keys must be strings"))?;
            str_json(k)?.write(out);
            out.push_str(": ");
            dumps_value(out, &val, depth + 1)?;
        }
        out.push('}');
    } else if let Ok(l) = v.cast::<PyList>() {
        out.push('[');
        for (i, item) in l.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            dumps_value(out, &item, depth + 1)?;
        }
        out.push(']');
    } else if let Ok(t) = v.cast::<PyTuple>() {
        out.push('[');
        for (i, item) in t.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            dumps_value(out, &item, depth + 1)?;
        }
        out.push(']');
    } else {
        let tn = v.get_type().name()?;
        return Err(PyTypeError::new_err(format!(
            "Object of type {tn} is not JSON serializable"
        )));
    }
    Ok(())
}
