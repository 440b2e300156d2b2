//! The DRM signalling keyward writes into answered `DRMSystem` elements: PSSH boxes,
//! DASH `ContentProtection` children, HLS key tags, the Smooth Streaming header.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use keyward_types::{ContentKey, Kid};

use super::error::CpixError;
use super::model::{system_id_text, KnownSystem};
use crate::playready::{HeaderKey, PlayReadyHeader, WrmHeaderVersion};
use crate::pssh::{common_pssh, PsshBox, SystemId, WidevinePsshData};

/// How FairPlay key URIs (`skd://…`) are formed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum FairPlayUri {
    /// `skd://<kid as 32 lowercase hex digits>`: keyward's FairPlay back door reads a
    /// 32-hex-digit asset id as a kid and answers that key. The default.
    #[default]
    SkdKid,
    /// `skd://<kid as dashed UUID>` (also read as a kid by the back door).
    SkdKidUuid,
    /// `skd://<content id>`: the back door answers the entitled content's key for
    /// the content id (fits single-key content only).
    SkdContentId,
    /// A template: `{kid}` (32 hex digits), `{kid_uuid}` and `{content_id}` (the
    /// request's content id, percent-encoded) are replaced.
    Template(String),
}

/// What keyward puts into the signalling it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signalling {
    /// PlayReady `LA_URL` written into the WRMHEADER; `None` omits it.
    pub playready_la_url: Option<String>,
    /// WRMHEADER version: 4.0 (the default, widest support) or 4.3. A key with an
    /// AES-CBC scheme (`cbcs`, `cbc1`) always gets 4.3, the first version that can say
    /// `AESCBC`.
    pub playready_header_version: WrmHeaderVersion,
    /// Widevine PSSH data `provider`; empty omits it.
    pub widevine_provider: String,
    /// FairPlay key URI form.
    pub fairplay_uri: FairPlayUri,
    /// HLS AES-128 key URI template (`{kid}`, `{kid_uuid}`, `{content_id}` replaced), for
    /// the AES-128 system ids; a request asking for them fails without it.
    pub hls_aes_key_uri: Option<String>,
    /// Clear Key licence URL, written as DASH-IF `Laurl` into the Clear Key
    /// `ContentProtectionData`; `None` omits it.
    pub clearkey_la_url: Option<String>,
}

impl Default for Signalling {
    fn default() -> Self {
        Self {
            playready_la_url: None,
            playready_header_version: WrmHeaderVersion::V4_0,
            widevine_provider: String::new(),
            fairplay_uri: FairPlayUri::default(),
            hls_aes_key_uri: None,
            clearkey_la_url: None,
        }
    }
}

/// The key-dependent inputs of one `DRMSystem` answer.
pub(crate) struct KeyContext<'a> {
    pub kid: Kid,
    pub key: &'a ContentKey,
    pub iv: Option<[u8; 16]>,
    pub scheme: Option<&'a str>,
    pub content_id: Option<&'a str>,
    pub period_index: Option<u64>,
}

/// An HLS key tag's attributes.
pub(crate) struct HlsKey {
    pub method: &'static str,
    pub uri: String,
    pub keyid: Option<Kid>,
    pub iv: Option<[u8; 16]>,
    pub keyformat: &'static str,
    pub keyformatversions: &'static str,
}

impl HlsKey {
    /// The tag line (`#EXT-X-KEY:` for media playlists, `#EXT-X-SESSION-KEY:` for
    /// master playlists), without a line end.
    pub fn line(&self, master: bool) -> String {
        let mut out = String::from(if master {
            "#EXT-X-SESSION-KEY:"
        } else {
            "#EXT-X-KEY:"
        });
        out.push_str("METHOD=");
        out.push_str(self.method);
        out.push_str(",URI=\"");
        out.push_str(&self.uri);
        out.push('"');
        if let Some(k) = self.keyid {
            out.push_str(",KEYID=0x");
            out.push_str(&k.to_hex().to_ascii_uppercase());
        }
        if let Some(iv) = self.iv {
            out.push_str(",IV=0x");
            out.push_str(&hex::encode_upper(iv));
        }
        out.push_str(",KEYFORMAT=\"");
        out.push_str(self.keyformat);
        out.push_str("\",KEYFORMATVERSIONS=\"");
        out.push_str(self.keyformatversions);
        out.push('"');
        out
    }
}

/// Everything keyward can say for one DRM system and key.
#[derive(Default)]
pub(crate) struct Built {
    /// The `pssh` box.
    pub pssh: Option<Vec<u8>>,
    /// The DASH `ContentProtection` children (standalone XML text).
    pub cpd: Option<String>,
    /// The HLS key tag.
    pub hls: Option<HlsKey>,
    /// The PlayReady Object (Smooth Streaming header, SPEKE v1 ProtectionHeader).
    pub pro: Option<Vec<u8>>,
}

fn is_cbc(scheme: Option<&str>) -> bool {
    matches!(scheme, Some("cbcs" | "cbc1"))
}

/// The HLS `METHOD` for a sample-encrypted CENC scheme: `SAMPLE-AES-CTR` for the CTR
/// schemes, `SAMPLE-AES` for the CBC ones (and when the scheme is not said).
fn sample_method(scheme: Option<&str>) -> &'static str {
    match scheme {
        Some("cenc" | "cens") => "SAMPLE-AES-CTR",
        _ => "SAMPLE-AES",
    }
}

/// Minimal percent-encoding of a URI component (RFC 3986 unreserved kept).
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn fill_template(template: &str, cx: &KeyContext<'_>) -> String {
    template
        .replace("{kid_uuid}", &cx.kid.to_uuid_string())
        .replace("{kid}", &cx.kid.to_hex())
        .replace("{content_id}", &percent_encode(cx.content_id.unwrap_or("")))
}

fn cenc_pssh_xml(pssh: &[u8]) -> String {
    format!(
        "<pssh xmlns=\"urn:mpeg:cenc:2013\">{}</pssh>",
        STANDARD.encode(pssh)
    )
}

fn xml_text(text: &str) -> String {
    super::xml::escape_text(text).into_owned()
}

/// Builds what keyward says for `system` and the key in `cx`.
pub(crate) fn build(
    system: KnownSystem,
    system_id: SystemId,
    cx: &KeyContext<'_>,
    s: &Signalling,
) -> Result<Built, CpixError> {
    let fail = |reason| CpixError::Signalling {
        system: system_id_text(system_id),
        reason,
    };
    Ok(match system {
        KnownSystem::Widevine => {
            let data = WidevinePsshData {
                key_ids: vec![cx.kid],
                provider: (!s.widevine_provider.is_empty()).then(|| s.widevine_provider.clone()),
                content_id: cx.content_id.map(|c| c.as_bytes().to_vec()),
                crypto_period_index: cx.period_index.and_then(|i| u32::try_from(i).ok()),
                protection_scheme: match cx.scheme {
                    Some(sch @ ("cenc" | "cbcs" | "cens" | "cbc1")) => {
                        let b = sch.as_bytes();
                        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                    }
                    _ => None,
                },
                ..WidevinePsshData::default()
            };
            let pssh = PsshBox::v0(SystemId::WIDEVINE, data.encode()).to_bytes();
            Built {
                cpd: Some(cenc_pssh_xml(&pssh)),
                hls: Some(HlsKey {
                    method: sample_method(cx.scheme),
                    uri: format!("data:text/plain;base64,{}", STANDARD.encode(&pssh)),
                    keyid: Some(cx.kid),
                    iv: None,
                    keyformat: "urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed",
                    keyformatversions: "1",
                }),
                pssh: Some(pssh),
                pro: None,
            }
        }
        KnownSystem::PlayReady => {
            let cbc = is_cbc(cx.scheme);
            let header = PlayReadyHeader {
                version: if cbc {
                    WrmHeaderVersion::V4_3
                } else {
                    s.playready_header_version
                },
                keys: vec![if cbc {
                    HeaderKey::aes_cbc(cx.kid)
                } else {
                    HeaderKey::aes_ctr(cx.kid, cx.key)
                }],
                la_url: s.playready_la_url.clone(),
                custom_attributes: Vec::new(),
            };
            let pro = header
                .to_pro()
                .map_err(|_| fail("the PlayReady header cannot be built (LA_URL too long?)"))?;
            let pssh = PsshBox::v0(SystemId::PLAYREADY, pro.clone()).to_bytes();
            let cpd = format!(
                "{}<pro xmlns=\"urn:microsoft:playready\">{}</pro>",
                cenc_pssh_xml(&pssh),
                STANDARD.encode(&pro)
            );
            Built {
                cpd: Some(cpd),
                hls: Some(HlsKey {
                    method: sample_method(cx.scheme),
                    uri: format!(
                        "data:text/plain;charset=UTF-16;base64,{}",
                        STANDARD.encode(&pro)
                    ),
                    keyid: None,
                    iv: None,
                    keyformat: "com.microsoft.playready",
                    keyformatversions: "1",
                }),
                pssh: Some(pssh),
                pro: Some(pro),
            }
        }
        KnownSystem::FairPlay => {
            let uri = match &s.fairplay_uri {
                FairPlayUri::SkdKid => format!("skd://{}", cx.kid.to_hex()),
                FairPlayUri::SkdKidUuid => format!("skd://{}", cx.kid.to_uuid_string()),
                FairPlayUri::SkdContentId => {
                    let cid = cx
                        .content_id
                        .filter(|c| !c.is_empty())
                        .ok_or_else(|| fail("skd://<content id> needs a content id"))?;
                    format!("skd://{}", percent_encode(cid))
                }
                FairPlayUri::Template(t) => fill_template(t, cx),
            };
            if uri.contains('"') || uri.contains('\n') {
                return Err(fail("the FairPlay key URI holds a quote or a line end"));
            }
            Built {
                hls: Some(HlsKey {
                    method: "SAMPLE-AES",
                    uri,
                    keyid: None,
                    iv: cx.iv,
                    keyformat: "com.apple.streamingkeydelivery",
                    keyformatversions: "1",
                }),
                ..Built::default()
            }
        }
        KnownSystem::Common | KnownSystem::ClearKey => {
            let pssh = common_pssh(&[cx.kid]);
            let mut cpd = cenc_pssh_xml(&pssh);
            if system == KnownSystem::ClearKey {
                if let Some(url) = &s.clearkey_la_url {
                    cpd.push_str("<Laurl xmlns=\"https://dashif.org/CPS\" Lic_type=\"EME-1.0\">");
                    cpd.push_str(&xml_text(url));
                    cpd.push_str("</Laurl>");
                }
            }
            Built {
                pssh: Some(pssh),
                cpd: Some(cpd),
                ..Built::default()
            }
        }
        KnownSystem::HlsAes128 => {
            let template = s
                .hls_aes_key_uri
                .as_deref()
                .ok_or_else(|| fail("no HLS AES-128 key URI is configured"))?;
            let uri = fill_template(template, cx);
            if uri.contains('"') || uri.contains('\n') {
                return Err(fail("the HLS key URI holds a quote or a line end"));
            }
            Built {
                hls: Some(HlsKey {
                    method: "AES-128",
                    uri,
                    keyid: None,
                    iv: cx.iv,
                    keyformat: "identity",
                    keyformatversions: "1",
                }),
                ..Built::default()
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hls_lines_have_the_axinom_attribute_order() {
        let kid = Kid::from_hex("b4c3188b-eddd-453d-9bc2-1cbca7566239").unwrap();
        let k = HlsKey {
            method: "SAMPLE-AES-CTR",
            uri: "data:text/plain;base64,AA==".into(),
            keyid: Some(kid),
            iv: None,
            keyformat: "urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed",
            keyformatversions: "1",
        };
        assert_eq!(
            k.line(false),
            "#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,URI=\"data:text/plain;base64,AA==\",KEYID=0xB4C3188BEDDD453D9BC21CBCA7566239,KEYFORMAT=\"urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed\",KEYFORMATVERSIONS=\"1\""
        );
        assert!(k
            .line(true)
            .starts_with("#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES-CTR,"));
    }

    #[test]
    fn templates_fill_kid_and_encoded_content_id() {
        let kid = Kid::new([0xab; 16]);
        let key = ContentKey::new([1; 16]);
        let cx = KeyContext {
            kid,
            key: &key,
            iv: None,
            scheme: None,
            content_id: Some("a b/c"),
            period_index: None,
        };
        assert_eq!(
            fill_template("https://k/{kid}?c={content_id}&u={kid_uuid}", &cx),
            format!(
                "https://k/{}?c=a%20b%2Fc&u={}",
                kid.to_hex(),
                kid.to_uuid_string()
            )
        );
    }
}
