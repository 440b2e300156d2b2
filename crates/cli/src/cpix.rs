//! `keyward key export --cpix` and `keyward key import --cpix`: a site's keys out as
//! CPIX 2.3 documents encrypted for a recipient's certificate (so a user can always
//! leave keyward with their keys), and CPIX documents in.
//!
//! An export is one document per content id: `ContentKeyList` (kid, explicit IV),
//! `ContentKeyPeriodList` for rotated keys, and a `ContentKeyUsageRule` per key naming
//! its track type and period, so an import puts every key back at its coordinates.
//! Keys are always encrypted (DASH-IF CPIX content key encryption: one RSA-OAEP wrap
//! of the document key per recipient, AES-256-CBC + HMAC-SHA512 per key).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use keyward_drm::cpix::{self, Delivery, Document, Request, ResolvedKey, Signalling};
use keyward_store::{ContentKeyRecord, Kid, NewContentKey, SiteId, StoreError, TrackType};
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs8::DecodePrivateKey as _;

use crate::admin::{fail, store_fail, with_store, StoreArgs};

/// Reads a certificate file, PEM or DER.
fn read_certificate(path: &Path) -> Result<Vec<u8>, ExitCode> {
    use base64::Engine as _;
    let bytes = std::fs::read(path).map_err(|e| {
        fail(
            "invalid_input",
            &format!("cannot read {}: {e}", path.display()),
        )
    })?;
    let text = String::from_utf8_lossy(&bytes);
    let der = if let Some(start) = text.find("-----BEGIN CERTIFICATE-----") {
        let body = &text[start + "-----BEGIN CERTIFICATE-----".len()..];
        let end = body.find("-----END CERTIFICATE-----").ok_or_else(|| {
            fail(
                "invalid_input",
                &format!("{}: PEM certificate without its END line", path.display()),
            )
        })?;
        let b64: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| {
                fail(
                    "invalid_input",
                    &format!("{}: PEM certificate is not base64", path.display()),
                )
            })?
    } else {
        bytes
    };
    cpix::check_recipient_certificate(&der)
        .map_err(|e| fail(e.code(), &format!("{}: {e}", path.display())))?;
    Ok(der)
}

fn xml_attr(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn intended(track: TrackType) -> &'static str {
    match track {
        TrackType::All => "ALL",
        TrackType::AllVideo => "VIDEO",
        other => other.as_str(),
    }
}

/// The CPIX document of `records` (one content id), encrypted for `certs`.
pub fn export_document(
    site: &SiteId,
    cid: &str,
    records: &[ContentKeyRecord],
    certs: &[Vec<u8>],
) -> Result<Vec<u8>, cpix::CpixError> {
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let mut x = String::with_capacity(1024 + records.len() * 256);
    x.push_str(&format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><CPIX xmlns=\"urn:dashif:org:cpix\" \
         xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" version=\"2.3\" id=\"keyward-export-{}\" \
         contentId=\"{}\"><DeliveryDataList>",
        site.as_str(),
        xml_attr(cid)
    ));
    for der in certs {
        x.push_str(&format!(
            "<DeliveryData><DeliveryKey><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></DeliveryKey></DeliveryData>",
            b64(der)
        ));
    }
    x.push_str("</DeliveryDataList><ContentKeyList>");
    for r in records {
        match r.iv {
            Some(iv) => x.push_str(&format!(
                "<ContentKey kid=\"{}\" explicitIV=\"{}\"/>",
                r.kid.to_uuid_string(),
                b64(&iv)
            )),
            None => x.push_str(&format!("<ContentKey kid=\"{}\"/>", r.kid.to_uuid_string())),
        }
    }
    x.push_str("</ContentKeyList>");
    let periods: std::collections::BTreeSet<u64> =
        records.iter().filter_map(|r| r.period).collect();
    if !periods.is_empty() {
        x.push_str("<ContentKeyPeriodList>");
        for p in &periods {
            x.push_str(&format!(
                "<ContentKeyPeriod id=\"period-{p}\" index=\"{p}\"/>"
            ));
        }
        x.push_str("</ContentKeyPeriodList>");
    }
    x.push_str("<ContentKeyUsageRuleList>");
    for r in records {
        x.push_str(&format!(
            "<ContentKeyUsageRule kid=\"{}\" intendedTrackType=\"{}\">",
            r.kid.to_uuid_string(),
            intended(r.track_type)
        ));
        if let Some(p) = r.period {
            x.push_str(&format!("<KeyPeriodFilter periodId=\"period-{p}\"/>"));
        }
        x.push_str("</ContentKeyUsageRule>");
    }
    x.push_str("</ContentKeyUsageRuleList></CPIX>");
    let request = Request::parse(x.as_bytes())?;
    let resolved: Vec<ResolvedKey> = records
        .iter()
        .map(|r| ResolvedKey {
            requested_kid: r.kid,
            kid: r.kid,
            key: r.key.clone(),
            iv: r.iv,
        })
        .collect();
    cpix::respond(
        &request,
        &resolved,
        &Signalling::default(),
        Delivery::Encrypted {
            recipients: &request.delivery,
        },
    )
}

/// `keyward key export --cpix …`.
pub fn export(
    store: &StoreArgs,
    site_id: &str,
    cid: Option<String>,
    cert_paths: &[PathBuf],
    out: Option<PathBuf>,
    out_dir: Option<PathBuf>,
) -> ExitCode {
    let site = match SiteId::parse(site_id) {
        Ok(s) => s,
        Err(e) => return store_fail(&e.into()),
    };
    if cert_paths.is_empty() {
        return fail(
            "invalid_input",
            "--cpix needs at least one --recipient-cert: exported keys are always encrypted",
        );
    }
    if cid.is_none() && out_dir.is_none() {
        return fail(
            "invalid_input",
            "give --cid (one document) or --out-dir (one document per content id)",
        );
    }
    let mut certs = Vec::new();
    for p in cert_paths {
        match read_certificate(p) {
            Ok(der) => certs.push(der),
            Err(code) => return code,
        }
    }
    with_store(store, move |s| {
        Box::pin(async move {
            let cids: Vec<String> = match &cid {
                Some(c) => vec![c.clone()],
                None => match s.list_keys(&site, None).await {
                    Ok(infos) => {
                        let mut v: Vec<String> = infos.into_iter().map(|i| i.cid).collect();
                        v.dedup();
                        v
                    }
                    Err(e) => return store_fail(&e),
                },
            };
            if let Some(dir) = &out_dir {
                if let Err(e) = std::fs::create_dir_all(dir) {
                    return fail("io", &format!("cannot create {}: {e}", dir.display()));
                }
            }
            let total = cids.len();
            let mut keys_written = 0usize;
            for (n, c) in cids.iter().enumerate() {
                let records = match s.keys_for_content(&site, c).await {
                    Ok(r) if r.is_empty() => return store_fail(&StoreError::KeyNotFound),
                    Ok(r) => r,
                    Err(e) => return store_fail(&e),
                };
                let xml = match export_document(&site, c, &records, &certs) {
                    Ok(x) => x,
                    Err(e) => return fail(e.code(), &e.to_string()),
                };
                keys_written += records.len();
                let target = match (&out_dir, &out) {
                    (Some(dir), _) => Some(dir.join(format!("{}.cpix.xml", hex::encode(c)))),
                    (None, Some(f)) => Some(f.clone()),
                    (None, None) => None,
                };
                match target {
                    Some(path) => {
                        if let Err(e) = std::fs::write(&path, &xml) {
                            return fail("io", &format!("cannot write {}: {e}", path.display()));
                        }
                    }
                    None => println!("{}", String::from_utf8_lossy(&xml)),
                }
                if total > 1 && ((n + 1) % 100 == 0 || n + 1 == total) {
                    eprintln!("exported {}/{} content ids", n + 1, total);
                }
            }
            eprintln!(
                "exported {keys_written} keys of {total} content id(s), encrypted for {} recipient(s)",
                certs.len()
            );
            ExitCode::SUCCESS
        })
    })
}

fn read_private_key(path: &Path) -> Result<rsa::PrivateKey, ExitCode> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        fail(
            "invalid_input",
            &format!("cannot read {}: {e}", path.display()),
        )
    })?;
    rsa::PrivateKey::from_pkcs8_pem(&text)
        .or_else(|_| rsa::PrivateKey::from_pkcs1_pem(&text))
        .map_err(|_| {
            fail(
                "invalid_input",
                &format!(
                    "{}: not an RSA private key in PEM (PKCS#8 or PKCS#1)",
                    path.display()
                ),
            )
        })
}

/// `keyward key import --cpix …`: every key of the document, at its coordinates; all
/// checked before the first is written.
pub fn import(
    store: &StoreArgs,
    site_id: &str,
    path: &Path,
    cid: Option<String>,
    recipient_key: Option<PathBuf>,
    replace: bool,
) -> ExitCode {
    let site = match SiteId::parse(site_id) {
        Ok(s) => s,
        Err(e) => return store_fail(&e.into()),
    };
    let xml = match std::fs::read(path) {
        Ok(x) => x,
        Err(e) => {
            return fail(
                "invalid_input",
                &format!("cannot read {}: {e}", path.display()),
            )
        }
    };
    let key = match recipient_key.as_deref().map(read_private_key).transpose() {
        Ok(k) => k,
        Err(code) => return code,
    };
    let doc = match Document::read(&xml, key.as_ref()) {
        Ok(d) => d,
        Err(e) => return fail(e.code(), &e.to_string()),
    };
    let Some(cid) = cid.or(doc.content_id.clone()).or(doc.id.clone()) else {
        return fail(
            "invalid_input",
            "the document names no content id (contentId or id): give --cid",
        );
    };
    let periods: BTreeMap<&str, u64> = doc
        .periods
        .iter()
        .filter_map(|p| Some((p.id.as_deref()?, p.index?)))
        .collect();
    let mut new_keys = Vec::new();
    for k in &doc.content_keys {
        let Some(value) = k.key.clone() else {
            return fail(
                "invalid_input",
                if k.encrypted {
                    "the keys are encrypted: give --recipient-key with the recipient's private key"
                } else {
                    "a content key of the document carries no value"
                },
            );
        };
        let rule = doc.usage_rules.iter().find(|r| r.kid == k.kid);
        let track = match rule.map(|r| r.intended_track_type.as_deref()) {
            Some(t) => match cpix::track_type_of(t) {
                Some(t) => t,
                None => {
                    return fail(
                        "invalid_input",
                        "a usage rule names a track type keyward has no equivalent for",
                    )
                }
            },
            None => TrackType::All,
        };
        let period = rule
            .and_then(|r| r.key_period_filters.first())
            .and_then(|id| periods.get(id.as_str()).copied());
        new_keys.push(NewContentKey {
            site_id: site.clone(),
            cid: cid.clone(),
            track_type: track,
            kid: k.kid,
            key: value,
            iv: k.explicit_iv,
            label: Some(format!(
                "cpix import {}",
                path.file_name()
                    .map_or_else(String::new, |f| f.to_string_lossy().into_owned())
            )),
            period,
        });
    }
    for k in &new_keys {
        if let Err(e) = k.validate() {
            return store_fail(&e);
        }
    }
    with_store(store, move |s| {
        Box::pin(async move {
            if !replace {
                // Refuse before writing anything.
                let existing = match s.keys_for_content(&site, &cid).await {
                    Ok(r) => r,
                    Err(e) => return store_fail(&e),
                };
                for k in &new_keys {
                    let kid_taken = match s.key_by_kid(&site, &k.kid).await {
                        Ok(_) => true,
                        Err(StoreError::KeyNotFound) => false,
                        Err(e) => return store_fail(&e),
                    };
                    let coordinates_taken = existing
                        .iter()
                        .any(|r| !r.pinned && r.track_type == k.track_type && r.period == k.period);
                    if kid_taken || coordinates_taken {
                        return fail(
                            "key_conflict",
                            &format!(
                                "kid {} (or its content id, track type and period) is already in the store; nothing was imported (use --replace)",
                                Kid(k.kid.0)
                            ),
                        );
                    }
                }
            }
            let n = new_keys.len();
            for k in new_keys {
                match s.put_key(k, replace).await {
                    Ok(rec) => {
                        println!("{}", serde_json::to_string(&rec.info()).unwrap_or_default())
                    }
                    Err(e) => return store_fail(&e),
                }
            }
            eprintln!("imported {n} keys for content id {cid}");
            ExitCode::SUCCESS
        })
    })
}
