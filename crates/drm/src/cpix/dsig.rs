//! XML signature verification for CPIX documents (W3C XML-DSig as DASH-IF CPIX uses it).
//!
//! Supported, because it is what CPIX producers write: enveloped or detached-in-document
//! signatures whose references are the whole document (`URI=""`, with the
//! `enveloped-signature` transform) or an element of the document by id
//! (`URI="#…"`, matched against unqualified `id` / `Id` / `ID` attributes, which must be
//! unique); Canonical XML 1.0 (with or without comments; comments are never kept) and
//! Exclusive XML Canonicalization 1.0 (without an `InclusiveNamespaces` prefix list);
//! SHA-512 and SHA-256 digests; RSA PKCS#1 v1.5 with SHA-512 or SHA-256. Everything else
//! (SHA-1, XPath / XSLT transforms, external references, HMAC signatures) is refused
//! rather than skipped, and every signature of the document must verify.
//!
//! A signature proves nothing unless its key is trusted: the certificate in `KeyInfo`
//! must be one of the caller's trusted signer certificates, byte for byte. And the
//! content keys must be covered: a document whose `ContentKeyList` no verified signature
//! covers is refused (so an unsigned list cannot ride along with a signed one).

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier as _;
use sha2::{Digest as _, Sha256, Sha512};

use super::delivery::certificate_key;
use super::error::CpixError;
use super::xml::{escape_attr, escape_text, Attr, Element, Node, NS_CPIX, NS_DS};

const C14N: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
const C14N_COMMENTS: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const EXC_C14N_COMMENTS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const SHA512: &str = "http://www.w3.org/2001/04/xmlenc#sha512";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
const RSA_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512";
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";

/// Most signatures, and references per signature, verified in one document.
const MAX_SIGNATURES: usize = 32;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Inclusive,
    Exclusive,
}

fn method(alg: &str) -> Option<Method> {
    match alg {
        C14N | C14N_COMMENTS => Some(Method::Inclusive),
        EXC_C14N | EXC_C14N_COMMENTS => Some(Method::Exclusive),
        _ => None,
    }
}

/// Namespace bindings in scope: prefix (`""` = default) → URI.
type Scope = BTreeMap<String, String>;

fn scope_of(e: &Element, parent: &Scope) -> Scope {
    let mut s = parent.clone();
    for (p, u) in &e.ns_decls {
        if u.is_empty() {
            s.remove(p);
        } else {
            s.insert(p.clone(), u.clone());
        }
    }
    s
}

fn qname(prefix: &Option<String>, local: &str) -> String {
    match prefix {
        Some(p) => format!("{p}:{local}"),
        None => local.to_owned(),
    }
}

struct Canon<'a> {
    method: Method,
    /// The element left out with its subtree (the enveloped signature).
    skip: Option<&'a Element>,
    out: &'a mut String,
}

impl Canon<'_> {
    /// Writes `e` and its subtree. `scope` is `e`'s parent's in-scope namespaces,
    /// `rendered` what the output ancestors have declared.
    fn element(&mut self, e: &Element, scope: &Scope, rendered: &Scope, extra_attrs: &[Attr]) {
        if self.skip.is_some_and(|s| std::ptr::eq(s, e)) {
            return;
        }
        let inscope = scope_of(e, scope);
        let mut decls: Vec<(String, String)> = Vec::new();
        let mut next_rendered = rendered.clone();
        match self.method {
            Method::Inclusive => {
                for (p, u) in &inscope {
                    if rendered.get(p) != Some(u) {
                        decls.push((p.clone(), u.clone()));
                    }
                }
                if !inscope.contains_key("") && rendered.get("").is_some_and(|u| !u.is_empty()) {
                    decls.push((String::new(), String::new()));
                }
                next_rendered = inscope.clone();
            }
            Method::Exclusive => {
                let mut used: Vec<String> = vec![e.prefix.clone().unwrap_or_default()];
                for a in &e.attrs {
                    if let Some(p) = &a.prefix {
                        if p != "xml" && !used.contains(p) {
                            used.push(p.clone());
                        }
                    }
                }
                for p in used {
                    match inscope.get(&p) {
                        Some(u) if rendered.get(&p) != Some(u) => {
                            decls.push((p.clone(), u.clone()));
                            next_rendered.insert(p, u.clone());
                        }
                        None if p.is_empty() && rendered.get("").is_some_and(|u| !u.is_empty()) => {
                            decls.push((String::new(), String::new()));
                            next_rendered.remove("");
                        }
                        _ => {}
                    }
                }
            }
        }
        decls.sort_by(|a, b| a.0.cmp(&b.0));
        let mut attrs: Vec<&Attr> = e.attrs.iter().chain(extra_attrs.iter()).collect();
        attrs.sort_by(|a, b| {
            (a.ns.as_deref().unwrap_or(""), a.local.as_str())
                .cmp(&(b.ns.as_deref().unwrap_or(""), b.local.as_str()))
        });
        let name = qname(&e.prefix, &e.local);
        self.out.push('<');
        self.out.push_str(&name);
        for (p, u) in &decls {
            if p.is_empty() {
                self.out.push_str(" xmlns=\"");
            } else {
                self.out.push_str(" xmlns:");
                self.out.push_str(p);
                self.out.push_str("=\"");
            }
            self.out.push_str(&escape_attr(u));
            self.out.push('"');
        }
        for a in attrs {
            self.out.push(' ');
            self.out.push_str(&qname(&a.prefix, &a.local));
            self.out.push_str("=\"");
            self.out.push_str(&escape_attr(&a.value));
            self.out.push('"');
        }
        self.out.push('>');
        for child in &e.children {
            match child {
                Node::Element(c) => self.element(c, &inscope, &next_rendered, &[]),
                Node::Text(t) => self.out.push_str(&escape_text(t)),
                Node::Pi(target, data) => {
                    self.out.push_str("<?");
                    self.out.push_str(target);
                    if !data.is_empty() {
                        self.out.push(' ');
                        self.out.push_str(data);
                    }
                    self.out.push_str("?>");
                }
            }
        }
        self.out.push_str("</");
        self.out.push_str(&name);
        self.out.push('>');
    }
}

/// Canonicalizes the subtree at `path.last()` (`path` = the root … the element), leaving
/// out `skip` and its subtree.
fn canonicalize(path: &[&Element], method: Method, skip: Option<&Element>) -> String {
    let mut scope = Scope::new();
    let mut xml_attrs: Vec<Attr> = Vec::new();
    let Some((apex, ancestors)) = path.split_last() else {
        return String::new();
    };
    for a in ancestors {
        scope = scope_of(a, &scope);
        if method == Method::Inclusive {
            for at in a.attrs.iter().filter(|x| x.ns.as_deref() == Some(NS_XML)) {
                xml_attrs.retain(|x| x.local != at.local);
                xml_attrs.push(at.clone());
            }
        }
    }
    xml_attrs.retain(|x| {
        !apex
            .attrs
            .iter()
            .any(|y| y.ns.as_deref() == Some(NS_XML) && y.local == x.local)
    });
    let mut out = String::new();
    let mut c = Canon {
        method,
        skip,
        out: &mut out,
    };
    c.element(apex, &scope, &Scope::new(), &xml_attrs);
    out
}

/// Finds the path from `root` to every element satisfying `pred`.
fn find_paths<'a>(
    root: &'a Element,
    pred: &dyn Fn(&Element) -> bool,
    path: &mut Vec<&'a Element>,
    found: &mut Vec<Vec<&'a Element>>,
) {
    path.push(root);
    if pred(root) {
        found.push(path.clone());
    }
    for c in root.elements() {
        find_paths(c, pred, path, found);
    }
    path.pop();
}

fn has_id(e: &Element, id: &str) -> bool {
    e.attrs
        .iter()
        .any(|a| a.ns.is_none() && matches!(a.local.as_str(), "id" | "Id" | "ID") && a.value == id)
}

/// Verifies every `ds:Signature` in the document; returns how many.
pub(crate) fn verify_all(root: &Element, trusted: &[Vec<u8>]) -> Result<usize, CpixError> {
    let mut signatures = Vec::new();
    find_paths(
        root,
        &|e| e.is(NS_DS, "Signature"),
        &mut Vec::new(),
        &mut signatures,
    );
    if signatures.is_empty() {
        return Err(CpixError::BadSignature {
            index: 0,
            reason: "the document is not signed",
        });
    }
    if signatures.len() > MAX_SIGNATURES {
        return Err(CpixError::TooComplex {
            reason: "more than 32 signatures",
        });
    }
    let mut key_list_covered = root.child(NS_CPIX, "ContentKeyList").is_none();
    for (index, path) in signatures.iter().enumerate() {
        let covered = verify_one(root, path, index, trusted)?;
        key_list_covered |= covered;
    }
    if !key_list_covered {
        return Err(CpixError::BadSignature {
            index: 0,
            reason: "no verified signature covers the ContentKeyList",
        });
    }
    Ok(signatures.len())
}

/// Verifies one signature; returns whether it covers the `ContentKeyList`.
fn verify_one(
    root: &Element,
    path: &[&Element],
    index: usize,
    trusted: &[Vec<u8>],
) -> Result<bool, CpixError> {
    let bad = |reason| CpixError::BadSignature { index, reason };
    let unsupported = |reason| CpixError::SignatureUnsupported { reason };
    let Some(signature) = path.last().copied() else {
        return Err(bad("empty path"));
    };
    let signed_info = signature
        .child(NS_DS, "SignedInfo")
        .ok_or_else(|| bad("no SignedInfo"))?;
    let c14n = signed_info
        .child(NS_DS, "CanonicalizationMethod")
        .and_then(|m| m.attr("Algorithm"))
        .and_then(method)
        .ok_or_else(|| {
            unsupported("SignedInfo canonicalization other than C14N 1.0 / exclusive C14N")
        })?;
    let sig_alg = signed_info
        .child(NS_DS, "SignatureMethod")
        .and_then(|m| m.attr("Algorithm"))
        .ok_or_else(|| bad("no SignatureMethod"))?;
    if !matches!(sig_alg, RSA_SHA512 | RSA_SHA256) {
        return Err(unsupported(
            "signature method other than RSA-SHA512 / RSA-SHA256",
        ));
    }
    // Key: the KeyInfo certificate, which must be trusted.
    let cert = signature
        .child(NS_DS, "KeyInfo")
        .and_then(|k| k.child(NS_DS, "X509Data"))
        .and_then(|x| x.child(NS_DS, "X509Certificate"))
        .ok_or_else(|| unsupported("a signature without KeyInfo/X509Data/X509Certificate"))?;
    let compact: String = cert
        .text()
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let cert = STANDARD
        .decode(compact)
        .map_err(|_| bad("the KeyInfo certificate is not base64"))?;

    // References.
    let references: Vec<&Element> = signed_info.children_named(NS_DS, "Reference").collect();
    if references.is_empty() || references.len() > MAX_SIGNATURES {
        return Err(bad("no Reference, or too many"));
    }
    let mut covers_keys = false;
    for reference in references {
        let uri = reference
            .attr("URI")
            .ok_or_else(|| unsupported("a Reference without URI"))?;
        let mut enveloped = false;
        let mut c14n_ref = Method::Inclusive;
        if let Some(transforms) = reference.child(NS_DS, "Transforms") {
            for t in transforms.children_named(NS_DS, "Transform") {
                let alg = t.attr("Algorithm").unwrap_or("");
                if alg == ENVELOPED {
                    enveloped = true;
                } else if let Some(m) = method(alg) {
                    if t.elements().next().is_some() {
                        return Err(unsupported(
                            "canonicalization parameters (InclusiveNamespaces)",
                        ));
                    }
                    c14n_ref = m;
                } else {
                    return Err(unsupported(
                        "a Reference transform other than enveloped-signature and canonicalization",
                    ));
                }
            }
        }
        let target: Vec<&Element> = if uri.is_empty() {
            vec![root]
        } else if let Some(id) = uri.strip_prefix('#') {
            let mut found = Vec::new();
            find_paths(root, &|e| has_id(e, id), &mut Vec::new(), &mut found);
            if found.len() != 1 {
                return Err(bad("a Reference URI matches no element, or several"));
            }
            found.remove(0)
        } else {
            return Err(unsupported("a Reference to something outside the document"));
        };
        let Some(target_el) = target.last().copied() else {
            return Err(bad("empty reference target"));
        };
        if target.len() == 1 || (target.len() == 2 && target_el.is(NS_CPIX, "ContentKeyList")) {
            covers_keys = true;
        }
        let skip = enveloped.then_some(signature);
        if enveloped && !path.iter().any(|a| std::ptr::eq(*a, target_el)) {
            // The enveloped-signature transform only makes sense around this signature.
            return Err(bad("an enveloped-signature transform on a reference that does not contain the signature"));
        }
        let canonical = canonicalize(&target, c14n_ref, skip);
        let digest_alg = reference
            .child(NS_DS, "DigestMethod")
            .and_then(|m| m.attr("Algorithm"))
            .ok_or_else(|| bad("no DigestMethod"))?;
        let digest: Vec<u8> = match digest_alg {
            SHA512 => Sha512::digest(canonical.as_bytes()).to_vec(),
            SHA256 => Sha256::digest(canonical.as_bytes()).to_vec(),
            _ => return Err(unsupported("a digest other than SHA-512 / SHA-256")),
        };
        let expected = reference
            .child(NS_DS, "DigestValue")
            .map(|d| {
                d.text()
                    .chars()
                    .filter(|c| !c.is_ascii_whitespace())
                    .collect::<String>()
            })
            .ok_or_else(|| bad("no DigestValue"))?;
        let expected = STANDARD
            .decode(expected)
            .map_err(|_| bad("a DigestValue is not base64"))?;
        if expected != digest {
            return Err(bad(
                "a reference digest does not match: the signed content was altered",
            ));
        }
    }

    // The signature value over the canonical SignedInfo.
    let mut si_path: Vec<&Element> = path.to_vec();
    si_path.push(signed_info);
    let canonical = canonicalize(&si_path, c14n, None);
    let value: String = signature
        .child(NS_DS, "SignatureValue")
        .map(|v| v.text())
        .ok_or_else(|| bad("no SignatureValue"))?
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let value = STANDARD
        .decode(value)
        .map_err(|_| bad("the SignatureValue is not base64"))?;
    let public =
        certificate_key(&cert).ok_or_else(|| bad("the KeyInfo certificate has no RSA key"))?;
    let sig = Signature::try_from(value.as_slice()).map_err(|_| bad("malformed SignatureValue"))?;
    let ok = match sig_alg {
        RSA_SHA512 => VerifyingKey::<Sha512>::new(public)
            .verify(canonical.as_bytes(), &sig)
            .is_ok(),
        _ => VerifyingKey::<Sha256>::new(public)
            .verify(canonical.as_bytes(), &sig)
            .is_ok(),
    };
    if !ok {
        return Err(bad("the SignatureValue does not match the SignedInfo"));
    }
    if !trusted.contains(&cert) {
        return Err(CpixError::UntrustedSigner { index });
    }
    Ok(covers_keys)
}
