//! A small, bounded XML tree for CPIX documents.
//!
//! Why a tree of our own on top of `quick-xml`'s event reader: CPIX has to be matched by
//! namespace URI whatever the prefixes (`EvenMoreComplex.xml` binds the CPIX namespace to
//! `aa:` and the default namespace to something else), and XML signature checking needs
//! the prefixes, namespace declarations and attribute spelling exactly as written. So the
//! tree keeps both: the resolved namespace of every element and attribute, and the
//! declarations as they appear.
//!
//! What is refused: documents over [`MAX_DOCUMENT_LEN`], nesting deeper than
//! [`MAX_DEPTH`], more than [`MAX_ELEMENTS`] elements or [`MAX_ATTRIBUTES`] attributes on
//! one element, any DTD (`<!DOCTYPE`), entity references other than the five predefined
//! ones, undeclared prefixes, text outside the root element, and encodings other than
//! UTF-8 and UTF-16 (with a byte order mark). Comments are dropped; processing
//! instructions are kept (they take part in canonicalization).

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use std::borrow::Cow;

use super::error::{malformed, CpixError};

/// Largest document accepted, bytes (1 MiB).
pub const MAX_DOCUMENT_LEN: usize = 1024 * 1024;
/// Deepest element nesting accepted (CPIX needs 8; signatures 6).
pub const MAX_DEPTH: usize = 32;
/// Most elements accepted in one document.
pub const MAX_ELEMENTS: usize = 50_000;
/// Most attributes (namespace declarations included) on one element.
pub const MAX_ATTRIBUTES: usize = 64;

pub(crate) const NS_CPIX: &str = "urn:dashif:org:cpix";
pub(crate) const NS_PSKC: &str = "urn:ietf:params:xml:ns:keyprov:pskc";
pub(crate) const NS_DS: &str = "http://www.w3.org/2000/09/xmldsig#";
pub(crate) const NS_XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
pub(crate) const NS_SPEKE: &str = "urn:aws:amazon:com:speke";
const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";
const NS_XMLNS: &str = "http://www.w3.org/2000/xmlns/";

/// One attribute, as written and as resolved.
#[derive(Debug, Clone)]
pub(crate) struct Attr {
    /// Prefix as written (`None` for an unprefixed attribute).
    pub prefix: Option<String>,
    /// Local name.
    pub local: String,
    /// Namespace URI (`None` for an unprefixed attribute).
    pub ns: Option<String>,
    /// Value after attribute-value normalization and reference expansion.
    pub value: String,
}

/// A node below an element.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Element(Element),
    /// Character data (references expanded, CDATA sections merged in).
    Text(String),
    /// A processing instruction: target and data.
    Pi(String, String),
}

/// One element.
#[derive(Debug, Clone)]
pub(crate) struct Element {
    /// Prefix as written.
    pub prefix: Option<String>,
    /// Local name.
    pub local: String,
    /// Resolved namespace URI.
    pub ns: Option<String>,
    /// Namespace declarations made on this element: (`""` for the default namespace or
    /// the prefix, URI; an empty URI undeclares the default namespace).
    pub ns_decls: Vec<(String, String)>,
    /// Attributes other than namespace declarations, in document order.
    pub attrs: Vec<Attr>,
    /// Children in document order.
    pub children: Vec<Node>,
}

impl Element {
    /// Whether this element is `{ns}local`.
    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.local == local && self.ns.as_deref() == Some(ns)
    }

    /// The value of the unqualified attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.ns.is_none() && a.local == name)
            .map(|a| a.value.as_str())
    }

    /// Child elements.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            _ => None,
        })
    }

    /// Child elements named `{ns}local`.
    pub fn children_named<'a>(
        &'a self,
        ns: &'a str,
        local: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.elements().filter(move |e| e.is(ns, local))
    }

    /// The first child element named `{ns}local`.
    pub fn child(&self, ns: &str, local: &str) -> Option<&Element> {
        self.elements().find(|e| e.is(ns, local))
    }

    /// The concatenated character data of the direct children.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for n in &self.children {
            if let Node::Text(t) = n {
                out.push_str(t);
            }
        }
        out
    }
}

/// A parsed document: the root element and the processing instructions around it.
#[derive(Debug, Clone)]
pub(crate) struct Document {
    pub root: Element,
}

/// Converts the input to UTF-8 text: UTF-8 with or without BOM, UTF-16 LE/BE with BOM.
fn decode(input: &[u8]) -> Result<String, CpixError> {
    let utf16 = |bytes: &[u8], le: bool| -> Result<String, CpixError> {
        if !bytes.len().is_multiple_of(2) {
            return Err(malformed("UTF-16 text has an odd byte length"));
        }
        let units = bytes.chunks_exact(2).map(|c| {
            if le {
                u16::from_le_bytes([c[0], c[1]])
            } else {
                u16::from_be_bytes([c[0], c[1]])
            }
        });
        char::decode_utf16(units)
            .collect::<Result<String, _>>()
            .map_err(|_| malformed("invalid UTF-16 text"))
    };
    if let Some(rest) = input.strip_prefix(&[0xef, 0xbb, 0xbf]) {
        return String::from_utf8(rest.to_vec()).map_err(|_| malformed("invalid UTF-8 text"));
    }
    if let Some(rest) = input.strip_prefix(&[0xff, 0xfe]) {
        return utf16(rest, true);
    }
    if let Some(rest) = input.strip_prefix(&[0xfe, 0xff]) {
        return utf16(rest, false);
    }
    if input.starts_with(&[b'<', 0, b'?', 0]) {
        return utf16(input, true);
    }
    if input.starts_with(&[0, b'<', 0, b'?']) {
        return utf16(input, false);
    }
    String::from_utf8(input.to_vec()).map_err(|_| malformed("the document is not UTF-8 or UTF-16"))
}

/// XML end-of-line handling (XML 1.0 §2.11): `\r\n` and lone `\r` become `\n`.
fn normalize_eol(text: String) -> String {
    if !text.contains('\r') {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' {
            if chars.peek() == Some(&'\n') {
                chars.next();
            }
            out.push('\n');
        } else {
            out.push(c);
        }
    }
    out
}

fn predefined(name: &str) -> Option<char> {
    Some(match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => return None,
    })
}

/// Whether `c` is a character XML 1.0 allows.
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
}

/// Expands the references of an attribute value (literal whitespace already normalized
/// to spaces by the caller, as XML 1.0 §3.3.3 does before expanding).
fn expand_attr(raw: &str) -> Result<String, CpixError> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let end = after
            .find(';')
            .ok_or_else(|| malformed("unterminated reference in an attribute value"))?;
        out.push(reference(&after[..end])?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Resolves the reference body `name` of `&name;`.
fn reference(name: &str) -> Result<char, CpixError> {
    if let Some(num) = name.strip_prefix('#') {
        let value = match num.strip_prefix('x') {
            Some(hex) => u32::from_str_radix(hex, 16),
            None => num.parse::<u32>(),
        }
        .map_err(|_| malformed("invalid character reference"))?;
        return char::from_u32(value)
            .filter(|c| xml_char(*c))
            .ok_or_else(|| malformed("character reference to a character XML does not allow"));
    }
    predefined(name).ok_or_else(|| {
        malformed("entity references other than the predefined five are not allowed")
    })
}

/// Splits a qualified name.
fn split_qname(raw: &[u8]) -> Result<(Option<String>, String), CpixError> {
    let text = std::str::from_utf8(raw).map_err(|_| malformed("invalid UTF-8 in a name"))?;
    match text.split_once(':') {
        Some((p, l)) if !p.is_empty() && !l.is_empty() && !l.contains(':') => {
            Ok((Some(p.to_owned()), l.to_owned()))
        }
        Some(_) => Err(malformed("invalid qualified name")),
        None if text.is_empty() => Err(malformed("empty name")),
        None => Ok((None, text.to_owned())),
    }
}

/// In-scope namespace bindings: a stack of (prefix, URI) with frame starts.
struct Scope {
    bindings: Vec<(String, String)>,
    frames: Vec<usize>,
}

impl Scope {
    fn lookup(&self, prefix: &str) -> Option<&str> {
        if prefix == "xml" {
            return Some(NS_XML);
        }
        self.bindings
            .iter()
            .rev()
            .find(|(p, _)| p == prefix)
            .map(|(_, u)| u.as_str())
    }
}

fn open_element(start: &BytesStart<'_>, scope: &mut Scope) -> Result<Element, CpixError> {
    let (prefix, local) = split_qname(start.name().as_ref())?;
    let mut ns_decls = Vec::new();
    let mut raw_attrs = Vec::new();
    let mut count = 0usize;
    for attr in start.attributes().with_checks(true) {
        let attr = attr.map_err(|_| malformed("invalid or duplicate attribute"))?;
        count += 1;
        if count > MAX_ATTRIBUTES {
            return Err(CpixError::TooComplex {
                reason: "more than 64 attributes on one element",
            });
        }
        let raw = std::str::from_utf8(&attr.value)
            .map_err(|_| malformed("invalid UTF-8 in an attribute value"))?;
        if raw.contains('<') {
            return Err(malformed("'<' in an attribute value"));
        }
        // Attribute-value normalization and reference expansion, allocating once
        // (ids and base64, nearly every value, need neither).
        let value = if raw
            .bytes()
            .any(|b| matches!(b, b'\t' | b'\n' | b'\r' | b'&'))
        {
            let spaced: String = raw
                .chars()
                .map(|c| {
                    if matches!(c, '\t' | '\n' | '\r') {
                        ' '
                    } else {
                        c
                    }
                })
                .collect();
            expand_attr(&spaced)?
        } else {
            raw.to_owned()
        };
        let (aprefix, alocal) = split_qname(attr.key.as_ref())?;
        match (aprefix.as_deref(), alocal.as_str()) {
            (None, "xmlns") => ns_decls.push((String::new(), value)),
            (Some("xmlns"), p) => {
                if value.is_empty() {
                    return Err(malformed(
                        "a namespace prefix cannot be undeclared in XML 1.0",
                    ));
                }
                if p == "xmlns" || value == NS_XMLNS || (p == "xml") != (value == NS_XML) {
                    return Err(malformed("reserved namespace prefix or URI misused"));
                }
                ns_decls.push((p.to_owned(), value));
            }
            _ => raw_attrs.push((aprefix, alocal, value)),
        }
    }
    scope.frames.push(scope.bindings.len());
    for (p, u) in &ns_decls {
        scope.bindings.push((p.clone(), u.clone()));
    }
    let ns = match &prefix {
        Some(p) => Some(
            scope
                .lookup(p)
                .ok_or_else(|| malformed("undeclared namespace prefix"))?
                .to_owned(),
        ),
        None => scope
            .lookup("")
            .filter(|u| !u.is_empty())
            .map(str::to_owned),
    };
    let mut attrs: Vec<Attr> = Vec::with_capacity(raw_attrs.len());
    for (aprefix, alocal, value) in raw_attrs {
        let ans = match &aprefix {
            Some(p) => Some(
                scope
                    .lookup(p)
                    .ok_or_else(|| malformed("undeclared namespace prefix"))?
                    .to_owned(),
            ),
            None => None,
        };
        if attrs
            .iter()
            .any(|a| a.local == alocal && a.ns == ans && ans.is_some())
        {
            return Err(malformed("duplicate attribute"));
        }
        attrs.push(Attr {
            prefix: aprefix,
            local: alocal,
            ns: ans,
            value,
        });
    }
    Ok(Element {
        prefix,
        local,
        ns,
        ns_decls,
        attrs,
        children: Vec::new(),
    })
}

fn close_element(scope: &mut Scope) {
    if let Some(at) = scope.frames.pop() {
        scope.bindings.truncate(at);
    }
}

fn push_text(stack: &mut [Element], text: &str) -> Result<(), CpixError> {
    if text.is_empty() {
        return Ok(());
    }
    if text.chars().any(|c| !xml_char(c)) {
        return Err(malformed("a character XML does not allow"));
    }
    match stack.last_mut() {
        Some(parent) => {
            if let Some(Node::Text(prev)) = parent.children.last_mut() {
                prev.push_str(text);
            } else {
                parent.children.push(Node::Text(text.to_owned()));
            }
            Ok(())
        }
        None if text.chars().all(|c| matches!(c, ' ' | '\t' | '\n')) => Ok(()),
        None => Err(malformed("text outside the root element")),
    }
}

/// Parses a whole document into a tree, enforcing the limits above.
pub(crate) fn parse(input: &[u8]) -> Result<Document, CpixError> {
    if input.len() > MAX_DOCUMENT_LEN {
        return Err(CpixError::TooLarge {
            len: input.len(),
            limit: MAX_DOCUMENT_LEN,
        });
    }
    if input.is_empty() {
        return Err(malformed("empty document"));
    }
    let text = normalize_eol(decode(input)?);
    let mut reader = Reader::from_str(&text);
    {
        let cfg = reader.config_mut();
        cfg.trim_text(false);
        cfg.expand_empty_elements = false;
        cfg.check_end_names = true;
        cfg.check_comments = true;
    }
    let mut scope = Scope {
        bindings: Vec::new(),
        frames: Vec::new(),
    };
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut elements = 0usize;
    let mut seen_decl = false;
    let mut first = true;
    loop {
        let event = reader
            .read_event()
            .map_err(|_| malformed("not well-formed XML"))?;
        let was_first = first;
        first = false;
        match event {
            Event::Decl(decl) => {
                if !was_first || seen_decl {
                    return Err(malformed("misplaced XML declaration"));
                }
                seen_decl = true;
                if let Some(Ok(enc)) = decl.encoding() {
                    let enc = String::from_utf8_lossy(&enc).to_ascii_lowercase();
                    if !matches!(
                        enc.as_str(),
                        "utf-8"
                            | "utf8"
                            | "utf-16"
                            | "utf-16le"
                            | "utf-16be"
                            | "us-ascii"
                            | "ascii"
                    ) {
                        return Err(malformed("unsupported character encoding (use UTF-8)"));
                    }
                }
            }
            Event::DocType(_) => return Err(malformed("DTDs are not allowed in CPIX documents")),
            Event::Start(_) | Event::Empty(_) if root.is_some() && stack.is_empty() => {
                return Err(malformed("more than one root element"));
            }
            Event::Start(start) => {
                elements += 1;
                if elements > MAX_ELEMENTS {
                    return Err(CpixError::TooComplex {
                        reason: "more than 50000 elements",
                    });
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(CpixError::TooComplex {
                        reason: "elements nested deeper than 32",
                    });
                }
                let element = open_element(&start, &mut scope)?;
                stack.push(element);
            }
            Event::Empty(start) => {
                elements += 1;
                if elements > MAX_ELEMENTS {
                    return Err(CpixError::TooComplex {
                        reason: "more than 50000 elements",
                    });
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(CpixError::TooComplex {
                        reason: "elements nested deeper than 32",
                    });
                }
                let element = open_element(&start, &mut scope)?;
                close_element(&mut scope);
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Element(element)),
                    None => root = Some(element),
                }
            }
            Event::End(_) => {
                let element = stack.pop().ok_or_else(|| malformed("unbalanced end tag"))?;
                close_element(&mut scope);
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Element(element)),
                    None => root = Some(element),
                }
            }
            Event::Text(t) => {
                let raw = t.decode().map_err(|_| malformed("invalid text"))?;
                if raw.contains('&') {
                    return Err(malformed("unexpected reference in text"));
                }
                push_text(&mut stack, &raw)?;
            }
            Event::GeneralRef(r) => {
                let name = r.decode().map_err(|_| malformed("invalid reference"))?;
                let c = reference(&name)?;
                let mut buf = [0u8; 4];
                push_text(&mut stack, c.encode_utf8(&mut buf))?;
            }
            Event::CData(c) => {
                let raw = c.decode().map_err(|_| malformed("invalid CDATA section"))?;
                if stack.is_empty() {
                    return Err(malformed("CDATA outside the root element"));
                }
                push_text(&mut stack, &raw)?;
            }
            Event::Comment(_) => {}
            Event::PI(pi) => {
                let utf8 = |b: &[u8]| {
                    std::str::from_utf8(b)
                        .map(str::to_owned)
                        .map_err(|_| malformed("invalid processing instruction"))
                };
                let target = utf8(pi.target())?;
                let data = utf8(pi.content())?.trim_start().to_owned();
                if target.eq_ignore_ascii_case("xml") {
                    return Err(malformed("misplaced XML declaration"));
                }
                if let Some(parent) = stack.last_mut() {
                    parent.children.push(Node::Pi(target, data));
                }
            }
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(malformed("the document ends inside an element"));
    }
    let root = root.ok_or_else(|| malformed("no root element"))?;
    Ok(Document { root })
}

/// Escapes text content for output.
pub(crate) fn escape_text(text: &str) -> Cow<'_, str> {
    escape(text, |b| matches!(b, b'&' | b'<' | b'>' | b'\r'))
}

/// Escapes an attribute value for output in double quotes.
pub(crate) fn escape_attr(text: &str) -> Cow<'_, str> {
    escape(text, |b| {
        matches!(b, b'&' | b'<' | b'"' | b'\t' | b'\n' | b'\r')
    })
}

/// `text` with every byte `special` says must be escaped replaced by its reference;
/// borrowed when there is none (base64 and ids, the bulk of a CPIX answer). All the
/// special bytes are ASCII, so cutting the text at them keeps it UTF-8.
fn escape(text: &str, special: impl Fn(u8) -> bool) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let Some(first) = bytes.iter().position(|&b| special(b)) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 16);
    out.push_str(&text[..first]);
    let mut start = first;
    for (i, &b) in bytes.iter().enumerate().skip(first) {
        if !special(b) {
            continue;
        }
        out.push_str(&text[start..i]);
        out.push_str(match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\t' => "&#x9;",
            b'\n' => "&#xA;",
            _ => "&#xD;",
        });
        start = i + 1;
    }
    out.push_str(&text[start..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_borrows_plain_text_and_replaces_every_special_byte() {
        assert!(matches!(escape_text("QUJDRA+/=="), Cow::Borrowed(_)));
        assert!(matches!(escape_attr("0f083e4e-b831"), Cow::Borrowed(_)));
        assert_eq!(escape_text("a&b<c>d\re\"f'"), "a&amp;b&lt;c&gt;d&#xD;e\"f'");
        assert_eq!(
            escape_attr("a&b<c>\"\t\n\r'"),
            "a&amp;b&lt;c>&quot;&#x9;&#xA;&#xD;'"
        );
        assert_eq!(escape_text("é<ü>ß"), "é&lt;ü&gt;ß");
        assert_eq!(escape_attr("&"), "&amp;");
        assert_eq!(escape_text(""), "");
    }

    #[test]
    fn resolves_namespaces_by_uri_not_prefix() {
        let doc = parse(
            br#"<?xml version="1.0"?><x:CPIX xmlns:x="urn:dashif:org:cpix" xmlns="urn:other"><x:ContentKeyList a="1&#10;2&amp;" x:b="t"><Other/></x:ContentKeyList></x:CPIX>"#,
        )
        .unwrap();
        assert!(doc.root.is(NS_CPIX, "CPIX"));
        let list = doc.root.child(NS_CPIX, "ContentKeyList").unwrap();
        assert_eq!(list.attr("a"), Some("1\n2&"));
        assert_eq!(list.attr("b"), None);
        assert_eq!(list.attrs[1].ns.as_deref(), Some(NS_CPIX));
        assert!(list.elements().next().unwrap().is("urn:other", "Other"));
    }

    #[test]
    fn refuses_dtds_entities_and_bad_structure() {
        let cases: [&[u8]; 8] = [
            b"<!DOCTYPE x [<!ENTITY a 'b'>]><x/>",
            b"<x>&a;</x>",
            b"<x><y></x>",
            b"<p:x/>",
            b"<x/><y/>",
            b"text<x/>",
            b"",
            b"<x a='1' a='2'/>",
        ];
        for c in cases {
            assert_eq!(parse(c).unwrap_err().code(), "cpix_malformed", "{c:?}");
        }
    }

    #[test]
    fn enforces_limits() {
        let deep = "<a>".repeat(40) + &"</a>".repeat(40);
        assert_eq!(
            parse(deep.as_bytes()).unwrap_err().code(),
            "cpix_too_complex"
        );
        let big = vec![b' '; MAX_DOCUMENT_LEN + 1];
        assert_eq!(parse(&big).unwrap_err().code(), "cpix_too_large");
        let many = format!("<a>{}</a>", "<b/>".repeat(MAX_ELEMENTS));
        assert_eq!(
            parse(many.as_bytes()).unwrap_err().code(),
            "cpix_too_complex"
        );
    }

    #[test]
    fn reads_utf16_and_normalizes_line_ends() {
        let text = "<?xml version=\"1.0\" encoding=\"utf-16\"?>\r\n<a b=\"x\r\ny\">1\r\n2\r3</a>";
        let mut bytes = vec![0xff, 0xfe];
        bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        let doc = parse(&bytes).unwrap();
        assert_eq!(doc.root.text(), "1\n2\n3");
        assert_eq!(doc.root.attr("b"), Some("x y"));
    }
}
