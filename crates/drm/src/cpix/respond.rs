//! Answering a CPIX request: the response document with keys, signalling and the echoed
//! periods and usage rules.

use std::fmt::Write as _;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use keyward_types::{ContentKey, Kid};

use super::delivery::{
    check_recipient, wrap, DocumentSecrets, ALG_AES256_CBC, ALG_HMAC_SHA512, ALG_RSA_OAEP,
};
use super::error::CpixError;
use super::model::{system_id_text, KnownSystem, Recipient, UsageRule};
use super::request::{Dialect, Request, RequestedDrm, Wants};
use super::signalling::{build, Built, KeyContext, Signalling};
use super::xml::{escape_attr, NS_CPIX, NS_DS, NS_PSKC, NS_SPEKE, NS_XENC};

/// The key the server chose for one requested kid.
#[derive(Debug, Clone)]
pub struct ResolvedKey {
    /// The kid of the request's `ContentKey`.
    pub requested_kid: Kid,
    /// The kid to answer with (the same, or one the server chose: the response's
    /// `ContentKey@kid`, `DRMSystem@kid` and `ContentKeyUsageRule@kid` all carry it).
    pub kid: Kid,
    /// The key.
    pub key: ContentKey,
    /// The IV to answer as `explicitIV`; `None` echoes the request's, if any.
    pub iv: Option<[u8; 16]>,
}

/// How the content keys travel in the response.
#[derive(Debug, Clone, Copy)]
pub enum Delivery<'a> {
    /// `pskc:PlainValue` (the connection must protect them).
    Clear,
    /// Encrypted for each recipient (DASH-IF CPIX content key encryption).
    Encrypted {
        /// The recipients' certificates (typically [`Request::delivery`]).
        recipients: &'a [Recipient],
    },
}

impl<'a> Delivery<'a> {
    /// What the request asks for: encrypted for its `DeliveryDataList` recipients when it
    /// has any, clear otherwise.
    pub fn requested_by(request: &'a Request) -> Delivery<'a> {
        if request.delivery.is_empty() {
            Delivery::Clear
        } else {
            Delivery::Encrypted {
                recipients: &request.delivery,
            }
        }
    }
}

/// The elements a `DRMSystem` asking for nothing in particular is answered with.
fn default_wants(system: Option<KnownSystem>) -> Wants {
    let mut w = Wants::default();
    match system {
        Some(KnownSystem::Widevine) => {
            w.pssh = true;
            w.content_protection_data = true;
            w.hls_media = true;
            w.hls_master = true;
        }
        Some(KnownSystem::PlayReady) => {
            w.pssh = true;
            w.content_protection_data = true;
            w.hls_media = true;
            w.hls_master = true;
            w.smooth_streaming = true;
        }
        Some(KnownSystem::FairPlay | KnownSystem::HlsAes128) => {
            w.uri_ext_x_key = true;
            w.hls_media = true;
            w.hls_master = true;
        }
        Some(KnownSystem::Common | KnownSystem::ClearKey) => {
            w.pssh = true;
            w.content_protection_data = true;
        }
        None => {}
    }
    w
}

struct Writer {
    out: String,
}

impl Writer {
    fn open(&mut self, name: &str, attrs: &[(&str, Option<&str>)]) {
        self.out.push('<');
        self.out.push_str(name);
        for (k, v) in attrs {
            if let Some(v) = v {
                let _ = write!(self.out, " {k}=\"{}\"", escape_attr(v));
            }
        }
        self.out.push('>');
    }

    fn empty(&mut self, name: &str, attrs: &[(&str, Option<&str>)]) {
        self.open(name, attrs);
        self.out.pop();
        self.out.push_str("/>");
    }

    fn close(&mut self, name: &str) {
        let _ = write!(self.out, "</{name}>");
    }

    /// An element whose text is the base64 of `bytes`, encoded straight into the
    /// document (the base64 alphabet needs no escaping).
    fn b64_element(&mut self, name: &str, attrs: &[(&str, Option<&str>)], bytes: &[u8]) {
        self.open(name, attrs);
        STANDARD.encode_string(bytes, &mut self.out);
        self.close(name);
    }

    fn encrypted(&mut self, algorithm: &str, cipher: &[u8]) {
        self.empty("enc:EncryptionMethod", &[("Algorithm", Some(algorithm))]);
        self.open("enc:CipherData", &[]);
        self.b64_element("enc:CipherValue", &[], cipher);
        self.close("enc:CipherData");
    }
}

/// The checked pairing of requested and resolved keys, in request order.
fn pair<'r>(
    request: &Request,
    resolved: &'r [ResolvedKey],
) -> Result<Vec<&'r ResolvedKey>, CpixError> {
    for (i, r) in resolved.iter().enumerate() {
        if !request
            .content_keys
            .iter()
            .any(|k| k.kid == r.requested_kid)
        {
            return Err(CpixError::UnknownKid {
                element: "resolved key",
                kid: r.requested_kid,
            });
        }
        if resolved[..i]
            .iter()
            .any(|p| p.requested_kid == r.requested_kid)
        {
            return Err(CpixError::DuplicateKid {
                element: "resolved keys",
                kid: r.requested_kid,
            });
        }
        if resolved[..i].iter().any(|p| p.kid == r.kid) {
            return Err(CpixError::DuplicateKid {
                element: "resolved keys",
                kid: r.kid,
            });
        }
    }
    request
        .content_keys
        .iter()
        .map(|k| {
            resolved
                .iter()
                .find(|r| r.requested_kid == k.kid)
                .ok_or(CpixError::UnresolvedKey { kid: k.kid })
        })
        .collect()
}

/// Answers `request` with `resolved` keys: the complete response document, UTF-8 XML.
///
/// * Every requested content key must be resolved exactly once, and the resolved kids
///   must be distinct. The answer carries the resolved kid everywhere the request named
///   the requested one (`ContentKey`, `DRMSystem`, `ContentKeyUsageRule`).
/// * `ContentKey`: `@explicitIV` from [`ResolvedKey::iv`] (else the request's),
///   `@commonEncryptionScheme` echoed, the value in `pskc:PlainValue` or encrypted.
/// * `DRMSystem`: the elements the request lists are filled (a `DRMSystem` listing none
///   gets every element keyward has for the system). An element that does not apply to
///   the system (a PSSH for FairPlay, HLS signalling for Clear Key, …) is left out, and a
///   system keyward does not know is echoed without signalling (see
///   [`Request::unsupported_systems`]).
/// * `ContentKeyPeriodList` and `ContentKeyUsageRuleList` are echoed.
/// * Encrypted delivery writes one `DeliveryData` per recipient (certificate, RSA-OAEP
///   wrapped document key and MAC key) and, per key, `EncryptedValue` + `ValueMAC`.
///
/// # Errors
/// `cpix_unresolved_key`, `cpix_unknown_kid`, `cpix_duplicate_kid` for a bad `resolved`;
/// `cpix_signalling` when a requested element cannot be built (e.g. HLS AES-128 without
/// [`Signalling::hls_aes_key_uri`]); `cpix_bad_certificate` / `cpix_weak_certificate`
/// for a recipient; `cpix_random` when the system random source fails.
pub fn respond(
    request: &Request,
    resolved: &[ResolvedKey],
    signalling: &Signalling,
    delivery: Delivery<'_>,
) -> Result<Vec<u8>, CpixError> {
    let keys = pair(request, resolved)?;
    let resolved_of = |requested: Kid| -> Option<&ResolvedKey> {
        keys.iter().copied().find(|r| r.requested_kid == requested)
    };

    // Encryption first: certificate problems fail before any work.
    let mut delivery_data: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> = Vec::new();
    let secrets = match delivery {
        Delivery::Clear => None,
        Delivery::Encrypted { recipients } => {
            if recipients.is_empty() {
                return Err(CpixError::BadCertificate {
                    reason: "encrypted delivery without a recipient certificate",
                });
            }
            let checked = recipients
                .iter()
                .map(|r| check_recipient(&r.certificate_der))
                .collect::<Result<Vec<_>, _>>()?;
            let secrets = DocumentSecrets::generate()?;
            for c in checked {
                let doc = wrap(&c.key, secrets.document_key.as_ref())?;
                let mac = wrap(&c.key, &secrets.mac_key)?;
                delivery_data.push((c.der, doc, mac));
            }
            Some(secrets)
        }
    };

    let dialect = request.dialect();
    let wants_speke = request.drm_systems.iter().any(|d| {
        d.wants.speke_protection_header
            || d.wants.speke_key_format
            || d.wants.speke_key_format_versions
    });
    let mut w = Writer {
        out: String::with_capacity(4096),
    };
    w.out
        .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let mut root_attrs: Vec<(&str, Option<&str>)> =
        vec![("xmlns:cpix", Some(NS_CPIX)), ("xmlns:pskc", Some(NS_PSKC))];
    if secrets.is_some() {
        root_attrs.push(("xmlns:enc", Some(NS_XENC)));
        root_attrs.push(("xmlns:ds", Some(NS_DS)));
    }
    if dialect == Dialect::SpekeV1 || wants_speke {
        root_attrs.push(("xmlns:speke", Some(NS_SPEKE)));
    }
    root_attrs.push(("id", request.id.as_deref()));
    root_attrs.push(("contentId", request.content_id.as_deref()));
    root_attrs.push(("name", request.name.as_deref()));
    root_attrs.push(("version", request.version.as_deref()));
    w.open("cpix:CPIX", &root_attrs);

    if !delivery_data.is_empty() {
        w.open("cpix:DeliveryDataList", &[]);
        for (der, doc, mac) in &delivery_data {
            w.open("cpix:DeliveryData", &[]);
            w.open("cpix:DeliveryKey", &[]);
            w.open("ds:X509Data", &[]);
            w.b64_element("ds:X509Certificate", &[], der);
            w.close("ds:X509Data");
            w.close("cpix:DeliveryKey");
            w.open("cpix:DocumentKey", &[("Algorithm", Some(ALG_AES256_CBC))]);
            w.open("cpix:Data", &[]);
            w.open("pskc:Secret", &[]);
            w.open("pskc:EncryptedValue", &[]);
            w.encrypted(ALG_RSA_OAEP, doc);
            w.close("pskc:EncryptedValue");
            w.close("pskc:Secret");
            w.close("cpix:Data");
            w.close("cpix:DocumentKey");
            w.open("cpix:MACMethod", &[("Algorithm", Some(ALG_HMAC_SHA512))]);
            w.open("cpix:Key", &[]);
            w.encrypted(ALG_RSA_OAEP, mac);
            w.close("cpix:Key");
            w.close("cpix:MACMethod");
            w.close("cpix:DeliveryData");
        }
        w.close("cpix:DeliveryDataList");
    }

    w.open("cpix:ContentKeyList", &[]);
    for (requested, r) in request.content_keys.iter().zip(&keys) {
        let iv = r.iv.or(requested.explicit_iv).map(|iv| STANDARD.encode(iv));
        let kid = r.kid.to_uuid_string();
        w.open(
            "cpix:ContentKey",
            &[
                ("kid", Some(&kid)),
                ("explicitIV", iv.as_deref()),
                (
                    "commonEncryptionScheme",
                    requested.common_encryption_scheme.as_deref(),
                ),
            ],
        );
        w.open("cpix:Data", &[]);
        w.open("pskc:Secret", &[]);
        match &secrets {
            None => w.b64_element("pskc:PlainValue", &[], r.key.expose()),
            Some(s) => {
                let (cipher, mac) = s.seal(&r.key)?;
                w.open("pskc:EncryptedValue", &[]);
                w.encrypted(ALG_AES256_CBC, &cipher);
                w.close("pskc:EncryptedValue");
                w.b64_element("pskc:ValueMAC", &[], &mac);
            }
        }
        w.close("pskc:Secret");
        w.close("cpix:Data");
        w.close("cpix:ContentKey");
    }
    w.close("cpix:ContentKeyList");

    if !request.drm_systems.is_empty() {
        w.open("cpix:DRMSystemList", &[]);
        let content_id = request.content_id_or_id();
        let slots = request.key_slots();
        for d in &request.drm_systems {
            let r = resolved_of(d.kid).ok_or(CpixError::UnresolvedKey { kid: d.kid })?;
            let requested = request.content_keys.iter().find(|k| k.kid == d.kid);
            let scheme = requested.and_then(|k| k.common_encryption_scheme.as_deref());
            let iv = r.iv.or(requested.and_then(|k| k.explicit_iv));
            let period_index = slots
                .iter()
                .find(|s| s.requested_kid == d.kid)
                .and_then(|s| s.period_index);
            let cx = KeyContext {
                kid: r.kid,
                key: &r.key,
                iv,
                scheme,
                content_id,
                period_index,
            };
            write_drm(&mut w, d, &cx, signalling)?;
        }
        w.close("cpix:DRMSystemList");
    }

    if !request.periods.is_empty() {
        w.open("cpix:ContentKeyPeriodList", &[]);
        for p in &request.periods {
            let index = p.index.map(|i| i.to_string());
            w.empty(
                "cpix:ContentKeyPeriod",
                &[
                    ("id", p.id.as_deref()),
                    ("index", index.as_deref()),
                    ("start", p.start.as_deref()),
                    ("end", p.end.as_deref()),
                ],
            );
        }
        w.close("cpix:ContentKeyPeriodList");
    }

    if !request.usage_rules.is_empty() {
        w.open("cpix:ContentKeyUsageRuleList", &[]);
        for rule in &request.usage_rules {
            let kid = resolved_of(rule.kid)
                .ok_or(CpixError::UnresolvedKey { kid: rule.kid })?
                .kid;
            write_rule(&mut w, rule, kid);
        }
        w.close("cpix:ContentKeyUsageRuleList");
    }
    w.close("cpix:CPIX");
    Ok(w.out.into_bytes())
}

fn write_drm(
    w: &mut Writer,
    d: &RequestedDrm,
    cx: &KeyContext<'_>,
    s: &Signalling,
) -> Result<(), CpixError> {
    let system = d.known_system();
    let wants = if d.wants == Wants::default() {
        default_wants(system)
    } else {
        d.wants
    };
    let built = match system {
        Some(sys) => build(sys, d.system_id, cx, s)?,
        None => Built::default(),
    };
    let kid = cx.kid.to_uuid_string();
    let system_id = system_id_text(d.system_id);
    w.open(
        "cpix:DRMSystem",
        &[
            ("kid", Some(&kid)),
            ("systemId", Some(&system_id)),
            ("name", d.name.as_deref()),
        ],
    );
    if let (true, Some(pssh)) = (wants.pssh, &built.pssh) {
        w.b64_element("cpix:PSSH", &[], pssh);
    }
    if let (true, Some(cpd)) = (wants.content_protection_data, &built.cpd) {
        w.b64_element("cpix:ContentProtectionData", &[], cpd.as_bytes());
    }
    if let (true, Some(hls)) = (wants.uri_ext_x_key, &built.hls) {
        w.b64_element("cpix:URIExtXKey", &[], hls.uri.as_bytes());
    }
    if let Some(hls) = &built.hls {
        if wants.hls_media {
            w.b64_element(
                "cpix:HLSSignalingData",
                &[("playlist", Some("media"))],
                hls.line(false).as_bytes(),
            );
        }
        if wants.hls_master {
            w.b64_element(
                "cpix:HLSSignalingData",
                &[("playlist", Some(d.master_name.as_str()))],
                hls.line(true).as_bytes(),
            );
        }
    }
    if let (true, Some(pro)) = (wants.smooth_streaming, &built.pro) {
        w.b64_element("cpix:SmoothStreamingProtectionHeaderData", &[], pro);
    }
    if let (true, Some(pro)) = (wants.speke_protection_header, &built.pro) {
        w.b64_element("speke:ProtectionHeader", &[], pro);
    }
    if let (true, Some(hls)) = (wants.speke_key_format, &built.hls) {
        w.b64_element("speke:KeyFormat", &[], hls.keyformat.as_bytes());
    }
    if let (true, Some(hls)) = (wants.speke_key_format_versions, &built.hls) {
        w.b64_element(
            "speke:KeyFormatVersions",
            &[],
            hls.keyformatversions.as_bytes(),
        );
    }
    w.close("cpix:DRMSystem");
    Ok(())
}

fn write_rule(w: &mut Writer, rule: &UsageRule, kid: Kid) {
    let kid = kid.to_uuid_string();
    w.open(
        "cpix:ContentKeyUsageRule",
        &[
            ("kid", Some(&kid)),
            ("intendedTrackType", rule.intended_track_type.as_deref()),
        ],
    );
    let num = |v: Option<u64>| v.map(|n| n.to_string());
    let flag = |v: Option<bool>| v.map(|b| if b { "true" } else { "false" });
    for p in &rule.key_period_filters {
        w.empty("cpix:KeyPeriodFilter", &[("periodId", Some(p))]);
    }
    for l in &rule.label_filters {
        w.empty("cpix:LabelFilter", &[("label", Some(l))]);
    }
    for f in &rule.video_filters {
        let (a, b, c, d) = (
            num(f.min_pixels),
            num(f.max_pixels),
            num(f.min_fps),
            num(f.max_fps),
        );
        w.empty(
            "cpix:VideoFilter",
            &[
                ("minPixels", a.as_deref()),
                ("maxPixels", b.as_deref()),
                ("hdr", flag(f.hdr)),
                ("wcg", flag(f.wcg)),
                ("minFps", c.as_deref()),
                ("maxFps", d.as_deref()),
            ],
        );
    }
    for f in &rule.audio_filters {
        let (a, b) = (num(f.min_channels), num(f.max_channels));
        w.empty(
            "cpix:AudioFilter",
            &[("minChannels", a.as_deref()), ("maxChannels", b.as_deref())],
        );
    }
    for f in &rule.bitrate_filters {
        let (a, b) = (num(f.min_bitrate), num(f.max_bitrate));
        w.empty(
            "cpix:BitrateFilter",
            &[("minBitrate", a.as_deref()), ("maxBitrate", b.as_deref())],
        );
    }
    w.close("cpix:ContentKeyUsageRule");
}
