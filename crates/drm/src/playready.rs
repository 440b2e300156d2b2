//! PlayReady: reading license challenges, reading and writing headers (WRMHEADER / PRO).
//!
//! keyward cannot issue PlayReady licenses (they are encrypted to the client's ECC key and
//! signed by a Microsoft-chained certificate), but it must read the clear parts of a
//! challenge before brokering it: the `CustomData` (PallyCon sends its license token there)
//! and the KIDs of the embedded content header (protocols.md §3.3). On the packaging side it
//! writes the header itself: a WRMHEADER in UTF-16LE inside a PlayReady Object inside a
//! `pssh` box, with the key checksum (§3.1, pallycon.md §8.3).
//!
//! Why a streaming XML reader with our own bookkeeping instead of a DOM or serde: a SOAP
//! challenge is hostile input; we bound the body ([`MAX_CHALLENGE_LEN`]) and the nesting
//! depth, refuse DTDs (so no entity expansion can happen), resolve only the five predefined
//! entities and character references, and match elements by local name so namespace
//! prefixes chosen by different clients do not matter.
//!
//! KIDs in PlayReady headers are little-endian GUIDs in base64; they are converted to CENC
//! byte order [`Kid`]s at this boundary, for every header version (4.0 `DATA/KID` text,
//! 4.1 `PROTECTINFO/KID@VALUE`, 4.2/4.3 `PROTECTINFO/KIDS/KID@VALUE`).

use aes::cipher::{BlockEncrypt, KeyInit};
use aes::Aes128;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use quick_xml::events::Event;
use quick_xml::{Reader, XmlVersion};

use crate::error::DrmError;
use crate::keys::{ContentKey, Kid};
use crate::pssh::{PsshBox, SystemId};

/// Largest challenge body accepted (64 KiB).
pub const MAX_CHALLENGE_LEN: usize = 64 * 1024;

/// Largest PlayReady Object accepted or produced (the header spec caps it below 15 KB).
pub const MAX_PRO_LEN: usize = 15 * 1024;

/// Most distinct KIDs read from one header.
pub const MAX_HEADER_KIDS: usize = 64;

/// Deepest element nesting accepted (a real challenge nests about 12 deep).
const MAX_DEPTH: usize = 32;

/// The WRMHEADER namespace.
const WRMHEADER_NS: &str = "http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader";

/// One closed XML element as the walker reports it.
pub(crate) struct Element {
    pub(crate) name: String,
    pub(crate) attrs: Vec<(String, String)>,
    pub(crate) text: String,
}

impl Element {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn local(name: &[u8]) -> Result<String, &'static str> {
    std::str::from_utf8(name)
        .map(str::to_owned)
        .map_err(|_| "element name is not UTF-8")
}

/// Walks `xml`, calling `on_close(ancestor names, element)` for each element when it closes
/// (document order of end tags). Errors are static reasons; callers pick the error code.
pub(crate) fn walk(
    xml: &str,
    mut on_close: impl FnMut(&[&str], &Element) -> Result<(), &'static str>,
) -> Result<(), &'static str> {
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<Element> = Vec::new();
    let mut roots = 0usize;
    loop {
        let event = reader.read_event().map_err(|_| "not well-formed XML")?;
        let is_empty = matches!(event, Event::Empty(_));
        match event {
            Event::Start(start) | Event::Empty(start) => {
                if stack.is_empty() {
                    roots += 1;
                    if roots > 1 {
                        return Err("more than one root element");
                    }
                }
                if stack.len() >= MAX_DEPTH {
                    return Err("elements nested too deeply");
                }
                let mut attrs = Vec::new();
                for attr in start.attributes() {
                    let attr = attr.map_err(|_| "malformed attribute")?;
                    let key = local(attr.key.local_name().as_ref())?;
                    let value = attr
                        .normalized_value(XmlVersion::Implicit1_0)
                        .map_err(|_| "malformed attribute value")?;
                    attrs.push((key, value.into_owned()));
                }
                let el = Element {
                    name: local(start.local_name().as_ref())?,
                    attrs,
                    text: String::new(),
                };
                if is_empty {
                    let names: Vec<&str> = stack.iter().map(|e| e.name.as_str()).collect();
                    on_close(&names, &el)?;
                } else {
                    stack.push(el);
                }
            }
            Event::End(_) => {
                let el = stack.pop().ok_or("unbalanced end tag")?;
                let names: Vec<&str> = stack.iter().map(|e| e.name.as_str()).collect();
                on_close(&names, &el)?;
            }
            Event::Text(text) => {
                let text = text.decode().map_err(|_| "text is not UTF-8")?;
                match stack.last_mut() {
                    Some(top) => top.text.push_str(&text),
                    None if text.trim().is_empty() => {}
                    None => return Err("text outside the root element"),
                }
            }
            Event::CData(data) => {
                let data = data.decode().map_err(|_| "CDATA is not UTF-8")?;
                match stack.last_mut() {
                    Some(top) => top.text.push_str(&data),
                    None => return Err("CDATA outside the root element"),
                }
            }
            Event::GeneralRef(r) => {
                let resolved = if r.is_char_ref() {
                    r.resolve_char_ref()
                        .ok()
                        .flatten()
                        .ok_or("invalid character reference")?
                } else {
                    let name = r.decode().map_err(|_| "entity name is not UTF-8")?;
                    let text = quick_xml::escape::resolve_predefined_entity(&name)
                        .ok_or("unknown entity reference")?;
                    // Predefined entities are single characters.
                    text.chars().next().ok_or("unknown entity reference")?
                };
                match stack.last_mut() {
                    Some(top) => top.text.push(resolved),
                    None => return Err("reference outside the root element"),
                }
            }
            Event::DocType(_) => return Err("DTDs are not accepted"),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err("unclosed element");
    }
    if roots == 0 {
        return Err("no root element");
    }
    Ok(())
}

/// What a WRMHEADER says about its keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WrmHeaderInfo {
    /// The `version` attribute (`4.0.0.0` … `4.3.0.0`).
    pub version: Option<String>,
    /// KIDs in CENC byte order, duplicates removed, document order kept.
    pub key_ids: Vec<Kid>,
    /// `DATA/LA_URL`, trimmed.
    pub la_url: Option<String>,
}

impl WrmHeaderInfo {
    /// Feeds one closed element; `rel` holds the names between `WRMHEADER` (exclusive) and
    /// the element.
    fn on_element(&mut self, rel: &[&str], el: &Element) -> Result<(), &'static str> {
        match (el.name.as_str(), rel) {
            ("WRMHEADER", []) => self.version = el.attr("version").map(str::to_owned),
            ("KID", ["DATA"]) => self.push_kid(el.attr("VALUE").unwrap_or(&el.text))?,
            ("KID", ["DATA", "PROTECTINFO"]) | ("KID", ["DATA", "PROTECTINFO", "KIDS"]) => {
                self.push_kid(el.attr("VALUE").ok_or("header KID without VALUE")?)?;
            }
            ("LA_URL", ["DATA"]) => {
                let url = el.text.trim();
                if !url.is_empty() {
                    self.la_url = Some(url.to_owned());
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn push_kid(&mut self, b64: &str) -> Result<(), &'static str> {
        let le = crate::b64::decode_lenient(b64.trim())
            .and_then(|v| <[u8; 16]>::try_from(v).ok())
            .ok_or("header KID is not base64 of 16 bytes")?;
        let kid = Kid::from_guid_le(le);
        if !self.key_ids.contains(&kid) {
            if self.key_ids.len() == MAX_HEADER_KIDS {
                return Err("more than 64 KIDs in the header");
            }
            self.key_ids.push(kid);
        }
        Ok(())
    }

    /// Reads a WRMHEADER XML document (any version 4.x).
    ///
    /// # Errors
    /// 7112 when the text is not well-formed XML, its root is not `WRMHEADER`, or a KID is
    /// not base64 of 16 bytes.
    pub fn parse(xml: &str) -> Result<Self, DrmError> {
        let bad = |reason| DrmError::PsshMalformed { reason };
        if xml.len() > MAX_PRO_LEN * 2 {
            return Err(bad("WRMHEADER larger than 30 KiB"));
        }
        let mut info = Self::default();
        let mut root_ok = false;
        walk(xml, |names, el| {
            if names.is_empty() {
                root_ok = el.name == "WRMHEADER";
            }
            match names.first() {
                Some(&"WRMHEADER") => info.on_element(names.get(1..).unwrap_or(&[]), el),
                None if el.name == "WRMHEADER" => info.on_element(&[], el),
                _ => Ok(()),
            }
        })
        .map_err(bad)?;
        if !root_ok {
            return Err(bad("root element is not WRMHEADER"));
        }
        Ok(info)
    }
}

/// The readable parts of a PlayReady license challenge (SOAP `AcquireLicense`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayReadyChallenge {
    /// `LA/CustomData`, XML-unescaped and trimmed; `None` when absent or empty.
    pub custom_data: Option<String>,
    /// KIDs of the embedded content header(s), CENC byte order, duplicates removed.
    pub key_ids: Vec<Kid>,
    /// The embedded WRMHEADER's `version` attribute.
    pub header_version: Option<String>,
    /// The embedded WRMHEADER's `LA_URL`.
    pub la_url: Option<String>,
}

impl PlayReadyChallenge {
    /// Parses a SOAP license challenge.
    ///
    /// # Errors
    /// 7204 when the body is empty, larger than [`MAX_CHALLENGE_LEN`] or not UTF-8;
    /// 7205 when it is not well-formed XML, not a SOAP `Envelope/Body/AcquireLicense` with a
    /// `challenge/Challenge/LA`, or a header KID is not base64 of 16 bytes.
    pub fn parse(body: &[u8]) -> Result<Self, DrmError> {
        let read = |reason| DrmError::PlayReadyRequestRead { reason };
        let parse = |reason| DrmError::PlayReadyRequestParse { reason };
        if body.len() > MAX_CHALLENGE_LEN {
            return Err(read("body larger than 64 KiB"));
        }
        let body = body.strip_prefix(b"\xef\xbb\xbf").unwrap_or(body);
        let text = std::str::from_utf8(body).map_err(|_| read("body is not UTF-8"))?;
        if text.trim().is_empty() {
            return Err(read("empty body"));
        }
        let mut custom_data = None;
        let mut header = WrmHeaderInfo::default();
        let mut root_ok = false;
        let mut acquire = false;
        let mut la = false;
        walk(text, |names, el| {
            let name = el.name.as_str();
            match names {
                [] => root_ok = name == "Envelope",
                ["Envelope", "Body"] if name == "AcquireLicense" => acquire = true,
                ["Envelope", "Body", "AcquireLicense", "challenge", "Challenge"]
                    if name == "LA" =>
                {
                    la = true;
                }
                ["Envelope", "Body", "AcquireLicense", "challenge", "Challenge", "LA"]
                    if name == "CustomData" =>
                {
                    let value = el.text.trim();
                    custom_data = (!value.is_empty()).then(|| value.to_owned());
                }
                _ => {}
            }
            // Headers live in LA/ContentHeader/WRMHEADER.
            if let Some(pos) = names.iter().position(|n| *n == "WRMHEADER") {
                if names
                    .get(..pos)
                    .is_some_and(|p| p.ends_with(&["LA", "ContentHeader"]))
                {
                    header.on_element(names.get(pos + 1..).unwrap_or(&[]), el)?;
                }
            } else if name == "WRMHEADER" && names.ends_with(&["LA", "ContentHeader"]) {
                header.on_element(&[], el)?;
            }
            Ok(())
        })
        .map_err(parse)?;
        if !root_ok {
            return Err(parse("root element is not a SOAP Envelope"));
        }
        if !acquire {
            return Err(parse("SOAP body is not an AcquireLicense request"));
        }
        if !la {
            return Err(parse("AcquireLicense has no challenge/Challenge/LA"));
        }
        Ok(Self {
            custom_data,
            key_ids: header.key_ids,
            header_version: header.version,
            la_url: header.la_url,
        })
    }

    /// The `CustomData` text, or 7206 when the challenge has none.
    ///
    /// # Errors
    /// 7206 when `CustomData` is absent or empty.
    pub fn require_custom_data(&self) -> Result<&str, DrmError> {
        self.custom_data
            .as_deref()
            .ok_or(DrmError::PlayReadyNoCustomData)
    }
}

/// The element path of `LA` in a challenge (local names).
const LA_PATH: [&str; 6] = [
    "Envelope",
    "Body",
    "AcquireLicense",
    "challenge",
    "Challenge",
    "LA",
];

/// Escapes text for an XML element's content.
fn escape_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// A challenge with its `LA/CustomData` text set to `value`: every other byte is kept
/// as the client wrote it. An absent `CustomData` is added (with `LA`'s prefix) before
/// `LicenseNonce`, or at the end of `LA`; several are all set.
///
/// Beware: `LA` is the element the client signs (`Id="SignedData"`), so a server that
/// verifies the challenge's signature — the PlayReady Server SDK does — refuses a
/// challenge whose `CustomData` was changed.
///
/// # Errors
/// What [`PlayReadyChallenge::parse`] refuses (7204, 7205).
pub fn with_custom_data(body: &[u8], value: &str) -> Result<Vec<u8>, DrmError> {
    PlayReadyChallenge::parse(body)?;
    let parse = |reason| DrmError::PlayReadyRequestParse { reason };
    let bom = if body.starts_with(b"\xef\xbb\xbf") {
        3
    } else {
        0
    };
    let text = std::str::from_utf8(body.get(bom..).unwrap_or_default()).map_err(|_| {
        DrmError::PlayReadyRequestRead {
            reason: "body is not UTF-8",
        }
    })?;
    let escaped = escape_text(value);
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<String> = Vec::new();
    // (start, end, replacement) in `text`, in document order.
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut open_custom: Option<usize> = None;
    let mut nonce_at = None;
    let mut la_end = None;
    let mut la_prefix = String::new();
    let in_la = |stack: &[String]| stack.iter().map(String::as_str).eq(LA_PATH);
    let pos = |p: u64| usize::try_from(p).map_err(|_| parse("challenge too large"));
    loop {
        let before = pos(reader.buffer_position())?;
        let event = reader
            .read_event()
            .map_err(|_| parse("not well-formed XML"))?;
        let after = pos(reader.buffer_position())?;
        let is_empty = matches!(event, Event::Empty(_));
        match event {
            Event::Start(e) | Event::Empty(e) => {
                let name = local(e.local_name().as_ref()).map_err(parse)?;
                let qname = local(e.name().as_ref()).map_err(parse)?;
                if in_la(&stack) {
                    match name.as_str() {
                        "CustomData" if is_empty => {
                            edits.push((before, after, format!("<{qname}>{escaped}</{qname}>")));
                        }
                        "CustomData" => open_custom = Some(after),
                        "LicenseNonce" if nonce_at.is_none() => nonce_at = Some(before),
                        _ => {}
                    }
                }
                if name == "LA"
                    && stack
                        .iter()
                        .map(String::as_str)
                        .eq(LA_PATH[..5].iter().copied())
                {
                    la_prefix = qname
                        .split_once(':')
                        .map(|(p, _)| format!("{p}:"))
                        .unwrap_or_default();
                }
                if !is_empty {
                    stack.push(name);
                }
            }
            Event::End(_) => {
                let name = stack.pop().ok_or_else(|| parse("unbalanced end tag"))?;
                if in_la(&stack) && name == "CustomData" {
                    if let Some(start) = open_custom.take() {
                        edits.push((start, before, escaped.clone()));
                    }
                }
                if name == "LA"
                    && stack
                        .iter()
                        .map(String::as_str)
                        .eq(LA_PATH[..5].iter().copied())
                {
                    la_end = Some(before);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if edits.is_empty() {
        let at = nonce_at
            .or(la_end)
            .ok_or_else(|| parse("AcquireLicense has no challenge/Challenge/LA"))?;
        edits.push((
            at,
            at,
            format!("<{la_prefix}CustomData>{escaped}</{la_prefix}CustomData>"),
        ));
    }
    let mut out = Vec::with_capacity(body.len() + escaped.len() + 32);
    out.extend_from_slice(&body[..bom]);
    let mut at = 0;
    for (start, end, with) in edits {
        out.extend_from_slice(text.as_bytes().get(at..start).unwrap_or_default());
        out.extend_from_slice(with.as_bytes());
        at = end;
    }
    out.extend_from_slice(text.as_bytes().get(at..).unwrap_or_default());
    Ok(out)
}

/// A SOAP fault from a PlayReady licence server (protocols §3.4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SoapFault {
    /// `faultcode` (`soap:Server`), trimmed.
    pub fault_code: Option<String>,
    /// `faultstring`, trimmed.
    pub fault_string: Option<String>,
    /// `detail/Exception/StatusCode` (`0x8004c600`), trimmed.
    pub status_code: Option<String>,
}

/// What a PlayReady licence server answered, when it is one of the two SOAP answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LicenseAnswer {
    /// A SOAP envelope whose body is an `AcquireLicenseResponse`.
    Licence,
    /// A SOAP envelope whose body is a `Fault`.
    Fault(SoapFault),
}

impl LicenseAnswer {
    /// Reads an answer (UTF-8 XML, an optional BOM); `None` when it is neither a licence
    /// response nor a SOAP fault (or not well-formed XML). Elements are matched by local
    /// name; DTDs are refused as in challenges.
    pub fn read(body: &[u8]) -> Option<Self> {
        let body = body.strip_prefix(b"\xef\xbb\xbf").unwrap_or(body);
        let text = std::str::from_utf8(body).ok()?;
        let mut root_ok = false;
        let mut licence = false;
        let mut fault: Option<SoapFault> = None;
        let trimmed = |t: &str| {
            let t = t.trim();
            (!t.is_empty()).then(|| t.to_owned())
        };
        walk(text, |names, el| {
            let name = el.name.as_str();
            match names {
                [] => root_ok = name == "Envelope",
                ["Envelope", "Body"] if name == "AcquireLicenseResponse" => licence = true,
                ["Envelope", "Body"] if name == "Fault" => {
                    fault.get_or_insert_with(SoapFault::default);
                }
                ["Envelope", "Body", "Fault"] => {
                    let f = fault.get_or_insert_with(SoapFault::default);
                    match name {
                        "faultcode" => f.fault_code = trimmed(&el.text),
                        "faultstring" => f.fault_string = trimmed(&el.text),
                        _ => {}
                    }
                }
                ["Envelope", "Body", "Fault", "detail", ..] if name == "StatusCode" => {
                    let f = fault.get_or_insert_with(SoapFault::default);
                    if f.status_code.is_none() {
                        f.status_code = trimmed(&el.text);
                    }
                }
                _ => {}
            }
            Ok(())
        })
        .ok()?;
        if !root_ok {
            return None;
        }
        match (fault, licence) {
            (Some(f), _) => Some(Self::Fault(f)),
            (None, true) => Some(Self::Licence),
            (None, false) => None,
        }
    }
}

/// The PlayReady header checksum of a key: the first 8 bytes of
/// AES-128-ECB(content key, KID in little-endian GUID order).
pub fn checksum(kid: &Kid, key: &ContentKey) -> [u8; 8] {
    let cipher = Aes128::new(&(*key.expose()).into());
    let mut block = kid.to_guid_le().into();
    cipher.encrypt_block(&mut block);
    let mut out = [0u8; 8];
    out.copy_from_slice(&block[..8]);
    out
}

/// Which WRMHEADER version to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrmHeaderVersion {
    /// 4.0.0.0: one KID, AESCTR only; accepted by every PlayReady client.
    V4_0,
    /// 4.3.0.0: one or more KIDs, AESCTR or AESCBC; needs PlayReady 4.x clients.
    V4_3,
}

/// Content encryption algorithm named in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlgId {
    /// `AESCTR` (CENC `cenc` scheme).
    AesCtr,
    /// `AESCBC` (CENC `cbcs` scheme; 4.3 only, no checksum).
    AesCbc,
}

impl AlgId {
    const fn as_str(self) -> &'static str {
        match self {
            Self::AesCtr => "AESCTR",
            Self::AesCbc => "AESCBC",
        }
    }
}

/// One key entry of a header to write. Holds the checksum, never the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderKey {
    /// The KID (CENC byte order; written as a little-endian GUID).
    pub kid: Kid,
    /// Algorithm.
    pub algid: AlgId,
    /// 8-byte checksum ([`checksum`]); `None` omits it. Must be `None` for AESCBC.
    pub checksum: Option<[u8; 8]>,
}

impl HeaderKey {
    /// An AESCTR entry with the checksum computed from `key`.
    pub fn aes_ctr(kid: Kid, key: &ContentKey) -> Self {
        Self {
            kid,
            algid: AlgId::AesCtr,
            checksum: Some(checksum(&kid, key)),
        }
    }

    /// An AESCBC entry (no checksum, as the spec requires).
    pub fn aes_cbc(kid: Kid) -> Self {
        Self {
            kid,
            algid: AlgId::AesCbc,
            checksum: None,
        }
    }
}

/// A PlayReady header to write (WRMHEADER → PlayReady Object → `pssh`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayReadyHeader {
    /// Header version to write.
    pub version: WrmHeaderVersion,
    /// Keys: exactly one for 4.0, one or more with one ALGID for 4.3.
    pub keys: Vec<HeaderKey>,
    /// `LA_URL` (escaped on output); `None` omits it.
    pub la_url: Option<String>,
    /// `CUSTOMATTRIBUTES` children as `(element name, text)`, e.g. PallyCon's
    /// `("PERIOD_INDEX", "128")`. Names must be XML names of `[A-Za-z0-9_.-]`.
    pub custom_attributes: Vec<(String, String)>,
}

fn xml_escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

impl PlayReadyHeader {
    /// The WRMHEADER XML text (attributes in alphabetical order, explicit closing tags).
    ///
    /// # Errors
    /// 7201 when the key list does not suit the version, an AESCBC key has a checksum, or a
    /// custom attribute name is not a plain XML name.
    pub fn wrm_header_xml(&self) -> Result<String, DrmError> {
        let build = |reason| DrmError::PlayReadyHeaderBuild { reason };
        let first = self.keys.first().ok_or_else(|| build("no keys"))?;
        if self.keys.iter().any(|k| k.algid != first.algid) {
            return Err(build("keys use different ALGIDs"));
        }
        if self
            .keys
            .iter()
            .any(|k| k.algid == AlgId::AesCbc && k.checksum.is_some())
        {
            return Err(build("AESCBC keys carry no checksum"));
        }
        let mut x = String::with_capacity(512);
        x.push_str("<WRMHEADER xmlns=\"");
        x.push_str(WRMHEADER_NS);
        match self.version {
            WrmHeaderVersion::V4_0 => {
                if self.keys.len() != 1 {
                    return Err(build("version 4.0 carries exactly one KID"));
                }
                if first.algid != AlgId::AesCtr {
                    return Err(build("version 4.0 supports AESCTR only"));
                }
                x.push_str("\" version=\"4.0.0.0\"><DATA><PROTECTINFO><KEYLEN>16</KEYLEN>");
                x.push_str("<ALGID>AESCTR</ALGID></PROTECTINFO><KID>");
                x.push_str(&STANDARD.encode(first.kid.to_guid_le()));
                x.push_str("</KID>");
                if let Some(sum) = first.checksum {
                    x.push_str("<CHECKSUM>");
                    x.push_str(&STANDARD.encode(sum));
                    x.push_str("</CHECKSUM>");
                }
            }
            WrmHeaderVersion::V4_3 => {
                x.push_str("\" version=\"4.3.0.0\"><DATA><PROTECTINFO><KIDS>");
                for key in &self.keys {
                    x.push_str("<KID ALGID=\"");
                    x.push_str(key.algid.as_str());
                    if let Some(sum) = key.checksum {
                        x.push_str("\" CHECKSUM=\"");
                        x.push_str(&STANDARD.encode(sum));
                    }
                    x.push_str("\" VALUE=\"");
                    x.push_str(&STANDARD.encode(key.kid.to_guid_le()));
                    x.push_str("\"></KID>");
                }
                x.push_str("</KIDS></PROTECTINFO>");
            }
        }
        if let Some(url) = &self.la_url {
            x.push_str("<LA_URL>");
            x.push_str(&xml_escape(url));
            x.push_str("</LA_URL>");
        }
        if !self.custom_attributes.is_empty() {
            x.push_str("<CUSTOMATTRIBUTES>");
            for (name, value) in &self.custom_attributes {
                let plain = !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
                    && name
                        .bytes()
                        .next()
                        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
                if !plain {
                    return Err(build("custom attribute name is not a plain XML name"));
                }
                x.push_str(&format!("<{name}>{}</{name}>", xml_escape(value)));
            }
            x.push_str("</CUSTOMATTRIBUTES>");
        }
        x.push_str("</DATA></WRMHEADER>");
        Ok(x)
    }

    /// The PlayReady Object: u32 LE total length, u16 LE record count (1), then record type 1
    /// with the UTF-16LE WRMHEADER.
    ///
    /// # Errors
    /// As [`PlayReadyHeader::wrm_header_xml`], plus 7201 when the object would exceed
    /// [`MAX_PRO_LEN`].
    pub fn to_pro(&self) -> Result<Vec<u8>, DrmError> {
        let xml = self.wrm_header_xml()?;
        let utf16: Vec<u8> = xml.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let total = 4 + 2 + 2 + 2 + utf16.len();
        if total > MAX_PRO_LEN {
            return Err(DrmError::PlayReadyHeaderBuild {
                reason: "PlayReady Object over 15 KiB",
            });
        }
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&(total as u32).to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&(utf16.len() as u16).to_le_bytes());
        out.extend_from_slice(&utf16);
        Ok(out)
    }

    /// A version-0 `pssh` box (PlayReady system ID) around [`PlayReadyHeader::to_pro`].
    ///
    /// # Errors
    /// As [`PlayReadyHeader::to_pro`].
    pub fn to_pssh(&self) -> Result<Vec<u8>, DrmError> {
        Ok(PsshBox::v0(SystemId::PLAYREADY, self.to_pro()?).to_bytes())
    }
}

/// A parsed PlayReady Object (the data of a PlayReady `pssh` box, or `mspr:pro`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayReadyObject {
    /// Records as `(type, value)`: type 1 is a WRMHEADER, 3 an embedded license store.
    pub records: Vec<(u16, Vec<u8>)>,
}

impl PlayReadyObject {
    /// Parses a PlayReady Object.
    ///
    /// # Errors
    /// 7112 when it is larger than [`MAX_PRO_LEN`], its length field disagrees with the
    /// input, or a record runs past the end.
    pub fn parse(bytes: &[u8]) -> Result<Self, DrmError> {
        let bad = |reason| DrmError::PsshMalformed { reason };
        if bytes.len() > MAX_PRO_LEN {
            return Err(bad("PlayReady Object larger than 15 KiB"));
        }
        let u16_at = |at: usize| -> Option<u16> {
            Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
        };
        let total: [u8; 4] = bytes
            .get(..4)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| bad("truncated PlayReady Object"))?;
        if u32::from_le_bytes(total) as usize != bytes.len() {
            return Err(bad("PlayReady Object length disagrees with its size"));
        }
        let count = u16_at(4).ok_or_else(|| bad("truncated PlayReady Object"))?;
        let mut pos = 6;
        let mut records = Vec::new();
        for _ in 0..count {
            let kind = u16_at(pos).ok_or_else(|| bad("truncated PlayReady record"))?;
            let len =
                usize::from(u16_at(pos + 2).ok_or_else(|| bad("truncated PlayReady record"))?);
            pos += 4;
            let value = bytes
                .get(pos..pos + len)
                .ok_or_else(|| bad("PlayReady record runs past the end"))?;
            records.push((kind, value.to_vec()));
            pos += len;
        }
        if pos != bytes.len() {
            return Err(bad("bytes after the last PlayReady record"));
        }
        Ok(Self { records })
    }

    /// The first WRMHEADER record decoded from UTF-16LE, `None` when there is none.
    ///
    /// # Errors
    /// 7112 when the record is not valid UTF-16LE.
    pub fn wrm_header_xml(&self) -> Result<Option<String>, DrmError> {
        let Some((_, value)) = self.records.iter().find(|(kind, _)| *kind == 1) else {
            return Ok(None);
        };
        if value.len() % 2 != 0 {
            return Err(DrmError::PsshMalformed {
                reason: "WRMHEADER has an odd byte length",
            });
        }
        let units: Vec<u16> = value
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        let text = String::from_utf16(&units).map_err(|_| DrmError::PsshMalformed {
            reason: "WRMHEADER is not UTF-16LE",
        })?;
        Ok(Some(
            text.strip_prefix('\u{feff}').unwrap_or(&text).to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal challenge shaped like MicrosoftDocs/PlayReady `license-server.md`
    /// (hand-written; signature and encrypted data replaced by placeholders).
    fn challenge(header: &str, custom: &str) -> String {
        format!(
            concat!(
                r#"<?xml version="1.0" encoding="utf-8"?>"#,
                r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>"#,
                r#"<AcquireLicense xmlns="http://schemas.microsoft.com/DRM/2007/03/protocols"><challenge>"#,
                r#"<Challenge xmlns="http://schemas.microsoft.com/DRM/2007/03/protocols/messages">"#,
                r#"<LA xmlns="http://schemas.microsoft.com/DRM/2007/03/protocols" Id="SignedData" xml:space="preserve">"#,
                "<Version>1</Version><ContentHeader>{}</ContentHeader>",
                "<CLIENTINFO><CLIENTVERSION>10.0.16384.10011</CLIENTVERSION></CLIENTINFO>",
                "{}<LicenseNonce>AAAAAAAAAAAAAAAAAAAAAA==</LicenseNonce><ClientTime>1700000000</ClientTime>",
                "<EncryptedData>placeholder</EncryptedData></LA>",
                r#"<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">placeholder</Signature>"#,
                "</Challenge></challenge></AcquireLicense></soap:Body></soap:Envelope>"
            ),
            header, custom
        )
    }

    const V40: &str = concat!(
        r#"<WRMHEADER xmlns="http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader" version="4.0.0.0">"#,
        "<DATA><PROTECTINFO><KEYLEN>16</KEYLEN><ALGID>AESCTR</ALGID></PROTECTINFO>",
        "<KID>Hie6q8+LK1W9LoakNKml2Q==</KID><CHECKSUM>BB31ycMlSig=</CHECKSUM>",
        "<LA_URL>https://lic.example/pr?a=1&amp;b=2</LA_URL></DATA></WRMHEADER>"
    );

    fn kid() -> Kid {
        Kid::from_hex("abba271e8bcf552bbd2e86a434a9a5d9").unwrap()
    }

    fn key() -> ContentKey {
        let mut b = [0u8; 16];
        hex::decode_to_slice("69eaa802a6763af979e8d1940fb88392", &mut b).unwrap();
        ContentKey::new(b)
    }

    #[test]
    fn reads_v40_challenge() {
        let body = challenge(
            V40,
            "<CustomData>\n  eyJ0b2tlbiI6IngifQ==&amp;x&#x3D;1 \n</CustomData>",
        );
        let c = PlayReadyChallenge::parse(body.as_bytes()).unwrap();
        assert_eq!(c.custom_data.as_deref(), Some("eyJ0b2tlbiI6IngifQ==&x=1"));
        assert_eq!(c.require_custom_data().unwrap(), "eyJ0b2tlbiI6IngifQ==&x=1");
        assert_eq!(c.key_ids, vec![kid()]);
        assert_eq!(c.header_version.as_deref(), Some("4.0.0.0"));
        assert_eq!(c.la_url.as_deref(), Some("https://lic.example/pr?a=1&b=2"));
    }

    #[test]
    fn reads_microsoft_docs_kid() {
        // The KID used in MicrosoftDocs license-server.md sample.
        let header = concat!(
            r#"<WRMHEADER xmlns="http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader" version="4.0.0.0">"#,
            "<DATA><PROTECTINFO><KEYLEN>16</KEYLEN><ALGID>AESCTR</ALGID></PROTECTINFO>",
            "<KID>jADgM0TEcEeYmaMh4HndNg==</KID></DATA></WRMHEADER>"
        );
        let c = PlayReadyChallenge::parse(
            challenge(header, "<CustomData>User=Roland</CustomData>").as_bytes(),
        )
        .unwrap();
        assert_eq!(
            c.key_ids,
            vec![Kid::from_hex("33e0008c-c444-4770-9899-a321e079dd36").unwrap()]
        );
        assert_eq!(c.custom_data.as_deref(), Some("User=Roland"));
    }

    #[test]
    fn reads_v41_v42_v43_kids() {
        let other = Kid::new([0x11; 16]);
        let other_b64 = STANDARD.encode(other.to_guid_le());
        let v41 = concat!(
            r#"<WRMHEADER xmlns="http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader" version="4.1.0.0">"#,
            r#"<DATA><PROTECTINFO><KID ALGID="AESCTR" CHECKSUM="BB31ycMlSig=" VALUE="Hie6q8+LK1W9LoakNKml2Q=="></KID></PROTECTINFO></DATA></WRMHEADER>"#
        );
        let c = PlayReadyChallenge::parse(challenge(v41, "").as_bytes()).unwrap();
        assert_eq!(c.key_ids, vec![kid()]);
        assert_eq!(c.custom_data, None);
        assert_eq!(c.require_custom_data().unwrap_err().code(), 7206);

        let v43 = format!(
            concat!(
                r#"<WRMHEADER xmlns="http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader" version="4.3.0.0">"#,
                r#"<DATA><PROTECTINFO><KIDS><KID ALGID="AESCBC" VALUE="Hie6q8+LK1W9LoakNKml2Q=="/>"#,
                r#"<KID ALGID="AESCBC" VALUE="{}"></KID><KID ALGID="AESCBC" VALUE="Hie6q8+LK1W9LoakNKml2Q=="/></KIDS></PROTECTINFO>"#,
                "<CUSTOMATTRIBUTES><KID>ignored</KID></CUSTOMATTRIBUTES></DATA></WRMHEADER>"
            ),
            other_b64
        );
        let c =
            PlayReadyChallenge::parse(challenge(&v43, "<CustomData>  </CustomData>").as_bytes())
                .unwrap();
        assert_eq!(c.key_ids, vec![kid(), other]);
        assert_eq!(c.header_version.as_deref(), Some("4.3.0.0"));
        assert_eq!(c.custom_data, None);
    }

    #[test]
    fn refuses_bad_challenges() {
        let cases: Vec<(Vec<u8>, u16)> = vec![
            (Vec::new(), 7204),
            (b"   ".to_vec(), 7204),
            (b"\xff\xfe<\x00".to_vec(), 7204),
            (vec![b' '; MAX_CHALLENGE_LEN + 1], 7204),
            (b"not xml".to_vec(), 7205),
            (b"{\"kids\":[]}".to_vec(), 7205),
            (b"<a><b></a>".to_vec(), 7205),
            (b"<soap:Envelope><soap:Body></soap:Body>".to_vec(), 7205),
            (
                b"<soap:Envelope><soap:Body/></soap:Envelope>".to_vec(),
                7205,
            ),
            (
                b"<Envelope><Body><AcquirePackagingData/></Body></Envelope>".to_vec(),
                7205,
            ),
            (
                b"<Envelope><Body><AcquireLicense/></Body></Envelope>".to_vec(),
                7205,
            ),
            (
                b"<!DOCTYPE x [<!ENTITY a \"b\">]><Envelope/>".to_vec(),
                7205,
            ),
            (
                challenge(V40, "<CustomData>&bogus;</CustomData>").into_bytes(),
                7205,
            ),
            (
                challenge(&V40.replace("Hie6q8+LK1W9LoakNKml2Q==", "AAAA"), "").into_bytes(),
                7205,
            ),
            (
                challenge(
                    &V40.replace("<KID>", "<KID>!").replace("</KID>", "!</KID>"),
                    "",
                )
                .into_bytes(),
                7205,
            ),
            (format!("{}<x/>", challenge(V40, "")).into_bytes(), 7205),
            (format!("{}<a>", "<a>".repeat(40)).into_bytes(), 7205),
        ];
        for (body, code) in cases {
            let err = PlayReadyChallenge::parse(&body).unwrap_err();
            assert_eq!(
                err.code(),
                code,
                "{} -> {err}",
                String::from_utf8_lossy(&body)
            );
        }
    }

    #[test]
    fn accepts_bom_and_cdata() {
        let body = format!(
            "\u{feff}{}",
            challenge(V40, "<CustomData><![CDATA[a<b]]></CustomData>")
        );
        let c = PlayReadyChallenge::parse(body.as_bytes()).unwrap();
        assert_eq!(c.custom_data.as_deref(), Some("a<b"));
    }

    #[test]
    fn checksum_matches_shaka_packager() {
        // protocols.md §3.1: verified against shaka-packager output.
        assert_eq!(STANDARD.encode(checksum(&kid(), &key())), "BB31ycMlSig=");
    }

    #[test]
    fn builds_and_reads_back_a_header() {
        let header = PlayReadyHeader {
            version: WrmHeaderVersion::V4_0,
            keys: vec![HeaderKey::aes_ctr(kid(), &key())],
            la_url: Some("https://lic.example/pr?a=1&b=2".into()),
            custom_attributes: vec![],
        };
        let xml = header.wrm_header_xml().unwrap();
        assert_eq!(xml, V40);
        let pro = header.to_pro().unwrap();
        let parsed = PlayReadyObject::parse(&pro).unwrap();
        let back = parsed.wrm_header_xml().unwrap().unwrap();
        assert_eq!(back, xml);
        let info = WrmHeaderInfo::parse(&back).unwrap();
        assert_eq!(info.key_ids, vec![kid()]);
        assert_eq!(info.version.as_deref(), Some("4.0.0.0"));
        assert_eq!(
            info.la_url.as_deref(),
            Some("https://lic.example/pr?a=1&b=2")
        );
        let pssh = PsshBox::parse(&header.to_pssh().unwrap()).unwrap();
        assert_eq!(pssh.system_id, SystemId::PLAYREADY);
        assert_eq!(pssh.data, pro);
    }

    #[test]
    fn header_build_rules() {
        let base = PlayReadyHeader {
            version: WrmHeaderVersion::V4_0,
            keys: vec![],
            la_url: None,
            custom_attributes: vec![],
        };
        let bad_cases = [
            PlayReadyHeader { ..base.clone() },
            PlayReadyHeader {
                keys: vec![
                    HeaderKey::aes_ctr(kid(), &key()),
                    HeaderKey::aes_ctr(Kid::new([1; 16]), &key()),
                ],
                ..base.clone()
            },
            PlayReadyHeader {
                keys: vec![HeaderKey::aes_cbc(kid())],
                ..base.clone()
            },
            PlayReadyHeader {
                version: WrmHeaderVersion::V4_3,
                keys: vec![HeaderKey::aes_cbc(kid()), HeaderKey::aes_ctr(kid(), &key())],
                ..base.clone()
            },
            PlayReadyHeader {
                version: WrmHeaderVersion::V4_3,
                keys: vec![HeaderKey {
                    checksum: Some([0; 8]),
                    ..HeaderKey::aes_cbc(kid())
                }],
                ..base.clone()
            },
            PlayReadyHeader {
                keys: vec![HeaderKey::aes_ctr(kid(), &key())],
                custom_attributes: vec![("a b".into(), "1".into())],
                ..base.clone()
            },
            PlayReadyHeader {
                keys: vec![HeaderKey::aes_ctr(kid(), &key())],
                la_url: Some("x".repeat(MAX_PRO_LEN)),
                ..base.clone()
            },
        ];
        for case in bad_cases {
            assert_eq!(case.to_pro().unwrap_err().code(), 7201, "{case:?}");
        }
        let cbc = PlayReadyHeader {
            version: WrmHeaderVersion::V4_3,
            keys: vec![HeaderKey::aes_cbc(kid())],
            ..base
        };
        assert_eq!(
            cbc.wrm_header_xml().unwrap(),
            concat!(
                r#"<WRMHEADER xmlns="http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader" version="4.3.0.0">"#,
                r#"<DATA><PROTECTINFO><KIDS><KID ALGID="AESCBC" VALUE="Hie6q8+LK1W9LoakNKml2Q=="></KID></KIDS></PROTECTINFO></DATA></WRMHEADER>"#
            )
        );
    }

    #[test]
    fn refuses_bad_pro() {
        let good = PlayReadyHeader {
            version: WrmHeaderVersion::V4_0,
            keys: vec![HeaderKey::aes_ctr(kid(), &key())],
            la_url: None,
            custom_attributes: vec![],
        }
        .to_pro()
        .unwrap();
        let mut cases = vec![
            vec![],
            good[..good.len() - 1].to_vec(),
            vec![0u8; MAX_PRO_LEN + 1],
        ];
        let mut long_record = good.clone();
        long_record[8] = 0xff;
        long_record[9] = 0xff;
        cases.push(long_record);
        let mut trailing = good.clone();
        trailing.push(0);
        let n = trailing.len() as u32;
        trailing[..4].copy_from_slice(&n.to_le_bytes());
        cases.push(trailing);
        for case in cases {
            assert_eq!(PlayReadyObject::parse(&case).unwrap_err().code(), 7112);
        }
        let mut odd = PlayReadyObject::parse(&good).unwrap();
        odd.records[0].1.pop();
        assert_eq!(odd.wrm_header_xml().unwrap_err().code(), 7112);
        assert_eq!(WrmHeaderInfo::parse("<DATA/>").unwrap_err().code(), 7112);
        assert_eq!(
            WrmHeaderInfo::parse("<WRMHEADER>").unwrap_err().code(),
            7112
        );
    }

    #[test]
    fn sets_custom_data_keeping_every_other_byte() {
        let with = challenge(V40, "<CustomData>token&amp;x</CustomData>");
        let out = with_custom_data(with.as_bytes(), "User=<Roland> & co").unwrap();
        let want = challenge(V40, "<CustomData>User=&lt;Roland&gt; &amp; co</CustomData>");
        assert_eq!(String::from_utf8(out.clone()).unwrap(), want);
        let c = PlayReadyChallenge::parse(&out).unwrap();
        assert_eq!(c.custom_data.as_deref(), Some("User=<Roland> & co"));
        // An empty element, and none at all (added before LicenseNonce).
        let empty = challenge(V40, "<CustomData/>");
        let out = with_custom_data(empty.as_bytes(), "v").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            challenge(V40, "<CustomData>v</CustomData>")
        );
        let none = challenge(V40, "");
        let out = with_custom_data(none.as_bytes(), "v").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            challenge(V40, "<CustomData>v</CustomData>")
        );
        // A BOM and a prefixed LA (without LicenseNonce: added at the end of LA).
        let prefixed = concat!(
            "\u{feff}<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>",
            "<p:AcquireLicense xmlns:p=\"http://schemas.microsoft.com/DRM/2007/03/protocols\">",
            "<p:challenge><m:Challenge xmlns:m=\"urn:m\"><p:LA><p:Version>1</p:Version></p:LA>",
            "</m:Challenge></p:challenge></p:AcquireLicense></s:Body></s:Envelope>"
        );
        let out = with_custom_data(prefixed.as_bytes(), "v").unwrap();
        assert!(out.starts_with(b"\xef\xbb\xbf<s:Envelope"));
        assert!(String::from_utf8(out.clone())
            .unwrap()
            .contains("<p:Version>1</p:Version><p:CustomData>v</p:CustomData></p:LA>"));
        assert_eq!(
            PlayReadyChallenge::parse(&out)
                .unwrap()
                .custom_data
                .as_deref(),
            Some("v")
        );
        // A CustomData outside LA is not touched.
        let outside = challenge(V40, "").replace(
            "<Version>1</Version>",
            "<Version>1</Version><CLIENTINFO><CustomData>x</CustomData></CLIENTINFO>",
        );
        let out = String::from_utf8(with_custom_data(outside.as_bytes(), "v").unwrap()).unwrap();
        assert!(out.contains("<CLIENTINFO><CustomData>x</CustomData></CLIENTINFO>"));
        assert!(out.contains("<CustomData>v</CustomData><LicenseNonce>"));
        // What the parser refuses is refused.
        assert_eq!(with_custom_data(b"<x/>", "v").unwrap_err().code(), 7205);
        assert_eq!(with_custom_data(b"", "v").unwrap_err().code(), 7204);
    }

    #[test]
    fn reads_licence_answers_and_faults() {
        let licence = concat!(
            r#"<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">"#,
            r#"<soap:Body><AcquireLicenseResponse xmlns="http://schemas.microsoft.com/DRM/2007/03/protocols">"#,
            "<AcquireLicenseResult><Response><LicenseResponse><Version>1</Version></LicenseResponse></Response>",
            "</AcquireLicenseResult></AcquireLicenseResponse></soap:Body></soap:Envelope>"
        );
        assert_eq!(
            LicenseAnswer::read(licence.as_bytes()),
            Some(LicenseAnswer::Licence)
        );
        // The Microsoft test server's fault (testing-server-exceptions.md).
        let fault = concat!(
            r#"<?xml version="1.0" encoding="utf-8" ?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">"#,
            "<soap:Body><soap:Fault><faultcode>soap:Server</faultcode><faultstring>\n  ",
            "System.Web.Services.Protocols.SoapException: Device Certificate Revoked.\n</faultstring>",
            "<faultactor>http://x/rightsmanager.asmx</faultactor><detail><Exception>",
            "<StatusCode>0x8004c065</StatusCode></Exception></detail></soap:Fault></soap:Body></soap:Envelope>"
        );
        assert_eq!(
            LicenseAnswer::read(fault.as_bytes()),
            Some(LicenseAnswer::Fault(SoapFault {
                fault_code: Some("soap:Server".into()),
                fault_string: Some(
                    "System.Web.Services.Protocols.SoapException: Device Certificate Revoked."
                        .into()
                ),
                status_code: Some("0x8004c065".into()),
            }))
        );
        for other in [
            &b""[..],
            b"not xml",
            b"<html><body>502</body></html>",
            b"<soap:Envelope xmlns:soap=\"s\"><soap:Body><Other/></soap:Body></soap:Envelope>",
            b"<!DOCTYPE x><soap:Envelope/>",
            b"\xff\xfe<x/>",
        ] {
            assert_eq!(LicenseAnswer::read(other), None, "{other:?}");
        }
    }
}
