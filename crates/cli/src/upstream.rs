//! `keyward upstream …`: the licensed services a site forwards challenges to
//! when keyward cannot issue a licence itself (a FairPlay KSM, Widevine's
//! cloud licence service), in order per DRM (primary, then failover). Secrets
//! (header values, or a kind's signing material) are wrapped at rest under the
//! KEK and never printed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use keyward_store::{Drm, NewUpstream, SiteId, UpstreamSecret};

use crate::admin::{fail, store_fail, with_store, StoreArgs};

/// Upstream commands.
#[derive(Subcommand)]
#[allow(
    clippy::large_enum_variant,
    reason = "parsed once per process; boxing buys nothing"
)]
pub enum UpstreamCommand {
    /// Add an upstream to the end of a site's list for a DRM (or at --position).
    #[command(
        after_help = "Examples:\n  keyward upstream add --site-id TUTO --drm fairplay --kind fairplay-ksm \\\n    --name ksm-a --url https://ksm.example.com/fps --envelope form \\\n    --secret-header-file Authorization=ksm-auth.txt --timeout-ms 2000\n  keyward upstream add --site-id TUTO --drm widevine --kind widevine-cloud \\\n    --name google --url https://license.uat.widevine.com/cenc/getlicense/widevine_test \\\n    --setting provider=widevine_test \\\n    --secret-header-file signing_key=wv-key.hex --secret-header-file signing_iv=wv-iv.hex"
    )]
    Add {
        #[command(flatten)]
        store: StoreArgs,
        /// Site id.
        #[arg(long)]
        site_id: String,
        /// The DRM it serves: fairplay, widevine (playready with its kinds later).
        #[arg(long)]
        drm: String,
        /// Kind: fairplay-ksm (FairPlay), widevine-cloud (Widevine), playready
        /// and http-forward (PlayReady; http-forward also Widevine), doverunner
        /// (Widevine, PlayReady, FairPlay).
        #[arg(long)]
        kind: String,
        /// A name, unique in the site (A-Z a-z 0-9 . _ -).
        #[arg(long)]
        name: String,
        /// Where to POST (http or https).
        #[arg(long)]
        url: String,
        /// FairPlay KSM: how the SPC is sent — raw, form (spc=) or json.
        #[arg(long)]
        envelope: Option<String>,
        /// A plain request header, `Name: value` (repeatable).
        #[arg(long = "header")]
        headers: Vec<String>,
        /// A secret whose value is read from a file, `Name=path` (repeatable): a
        /// request header, or a kind's own secret (widevine-cloud: signing_key,
        /// signing_iv; doverunner: keyward-site-key, keyward-access-key), which
        /// is never sent.
        #[arg(long = "secret-header-file")]
        secret_headers: Vec<String>,
        /// A kind setting, `name=value` (repeatable; the value is JSON when it
        /// parses as JSON, else text), e.g. `provider=widevine_test`.
        #[arg(long = "setting")]
        settings: Vec<String>,
        /// FairPlay KSM: only SPCs for this certificate hash (SHA-1, hex; repeatable).
        #[arg(long = "cert-hash")]
        cert_hashes: Vec<String>,
        /// Total time for one call, milliseconds [default: 3000].
        #[arg(long)]
        timeout_ms: Option<u64>,
        /// Calls in flight at once [default: 64].
        #[arg(long)]
        max_concurrent: Option<u32>,
        /// Position in the DRM's list, 0 = primary [default: last].
        #[arg(long)]
        position: Option<u32>,
    },
    /// List a site's upstreams (secret names only).
    #[command(after_help = "Example:\n  keyward upstream list --site-id TUTO --drm fairplay")]
    List {
        #[command(flatten)]
        store: StoreArgs,
        /// Site id.
        #[arg(long)]
        site_id: String,
        /// Only this DRM.
        #[arg(long)]
        drm: Option<String>,
    },
    /// Show one upstream (secret names only).
    #[command(after_help = "Example:\n  keyward upstream show --site-id TUTO --name ksm-a")]
    Show {
        #[command(flatten)]
        store: StoreArgs,
        /// Site id.
        #[arg(long)]
        site_id: String,
        /// Its name.
        #[arg(long)]
        name: String,
    },
    /// Remove an upstream.
    #[command(after_help = "Example:\n  keyward upstream remove --site-id TUTO --name ksm-a")]
    Remove {
        #[command(flatten)]
        store: StoreArgs,
        /// Site id.
        #[arg(long)]
        site_id: String,
        /// Its name.
        #[arg(long)]
        name: String,
    },
    /// Send the upstream a harmless request and print what happened.
    #[command(
        after_help = "Example:\n  keyward upstream test --site-id TUTO --name ksm-a\n\nA FairPlay KSM gets an empty SPC in its envelope: any coded refusal shows it is reachable, answers and checks its input."
    )]
    Test {
        #[command(flatten)]
        store: StoreArgs,
        /// Site id.
        #[arg(long)]
        site_id: String,
        /// Its name.
        #[arg(long)]
        name: String,
    },
}

fn site(id: &str) -> Result<SiteId, ExitCode> {
    SiteId::parse(id).map_err(|e| store_fail(&e.into()))
}

fn drm(s: &str) -> Result<Drm, ExitCode> {
    s.parse::<Drm>().map_err(|e| store_fail(&e.into()))
}

/// Runs an upstream command.
pub fn run(c: UpstreamCommand) -> ExitCode {
    match c {
        UpstreamCommand::Add {
            store,
            site_id,
            drm: d,
            kind,
            name,
            url,
            envelope,
            headers,
            secret_headers,
            settings: kind_settings,
            cert_hashes,
            timeout_ms,
            max_concurrent,
            position,
        } => {
            let new = (|| {
                let site_id = site(&site_id)?;
                let drm = drm(&d)?;
                let mut settings = serde_json::Map::new();
                for s in kind_settings {
                    let (k, v) = s
                        .split_once('=')
                        .ok_or_else(|| fail("invalid_input", "--setting must be `name=value`"))?;
                    let v = serde_json::from_str(v.trim())
                        .unwrap_or_else(|_| serde_json::Value::String(v.trim().to_owned()));
                    settings.insert(k.trim().to_owned(), v);
                }
                if let Some(e) = envelope {
                    settings.insert("envelope".into(), e.into());
                }
                let mut plain = serde_json::Map::new();
                for h in headers {
                    let (k, v) = h
                        .split_once(':')
                        .ok_or_else(|| fail("invalid_input", "--header must be `Name: value`"))?;
                    plain.insert(k.trim().into(), v.trim().into());
                }
                if !plain.is_empty() {
                    settings.insert("headers".into(), plain.into());
                }
                if !cert_hashes.is_empty() {
                    settings.insert("cert_hashes".into(), cert_hashes.into());
                }
                if let Some(t) = timeout_ms {
                    settings.insert("timeout_ms".into(), t.into());
                }
                if let Some(m) = max_concurrent {
                    settings.insert("max_concurrent".into(), m.into());
                }
                let mut secrets = BTreeMap::new();
                for s in secret_headers {
                    let (k, path) = s.split_once('=').ok_or_else(|| {
                        fail("invalid_input", "--secret-header-file must be `Name=path`")
                    })?;
                    let path = PathBuf::from(path);
                    let value = std::fs::read_to_string(&path).map_err(|e| {
                        fail(
                            "invalid_input",
                            &format!("cannot read {}: {e}", path.display()),
                        )
                    })?;
                    let secret =
                        UpstreamSecret::new(value.trim().to_owned()).map_err(|e| store_fail(&e))?;
                    secrets.insert(k.trim().to_owned(), secret);
                }
                let settings = serde_json::Value::Object(settings);
                let names: Vec<&str> = secrets.keys().map(String::as_str).collect();
                keyward_server::validate_upstream(&kind, drm, &settings, &names)
                    .map_err(|m| fail("invalid_input", &m))?;
                Ok(NewUpstream {
                    site_id,
                    drm,
                    name,
                    kind,
                    url,
                    settings,
                    secrets,
                    position,
                })
            })();
            let new = match new {
                Ok(n) => n,
                Err(code) => return code,
            };
            with_store(&store, move |s| {
                Box::pin(async move {
                    match s.add_upstream(new).await {
                        Ok(info) => {
                            println!(
                                "{}",
                                serde_json::to_string_pretty(&info).unwrap_or_default()
                            );
                            ExitCode::SUCCESS
                        }
                        Err(e) => store_fail(&e),
                    }
                })
            })
        }
        UpstreamCommand::List {
            store,
            site_id,
            drm: d,
        } => {
            let (id, d) = match (site(&site_id), d.as_deref().map(drm).transpose()) {
                (Ok(i), Ok(d)) => (i, d),
                (Err(c), _) | (_, Err(c)) => return c,
            };
            with_store(&store, move |s| {
                Box::pin(async move {
                    match s.upstream_infos(&id, d).await {
                        Ok(v) => {
                            for info in v {
                                println!("{}", serde_json::to_string(&info).unwrap_or_default());
                            }
                            ExitCode::SUCCESS
                        }
                        Err(e) => store_fail(&e),
                    }
                })
            })
        }
        UpstreamCommand::Show {
            store,
            site_id,
            name,
        } => {
            let id = match site(&site_id) {
                Ok(i) => i,
                Err(c) => return c,
            };
            with_store(&store, move |s| {
                Box::pin(async move {
                    match s.upstream(&id, &name).await {
                        Ok(u) => {
                            println!(
                                "{}",
                                serde_json::to_string_pretty(&u.info()).unwrap_or_default()
                            );
                            ExitCode::SUCCESS
                        }
                        Err(e) => store_fail(&e),
                    }
                })
            })
        }
        UpstreamCommand::Remove {
            store,
            site_id,
            name,
        } => {
            let id = match site(&site_id) {
                Ok(i) => i,
                Err(c) => return c,
            };
            with_store(&store, move |s| {
                Box::pin(async move {
                    match s.remove_upstream(&id, &name).await {
                        Ok(()) => ExitCode::SUCCESS,
                        Err(e) => store_fail(&e),
                    }
                })
            })
        }
        UpstreamCommand::Test {
            store,
            site_id,
            name,
        } => {
            let id = match site(&site_id) {
                Ok(i) => i,
                Err(c) => return c,
            };
            with_store(&store, move |s| {
                Box::pin(async move {
                    let u = match s.upstream(&id, &name).await {
                        Ok(u) => u,
                        Err(e) => return store_fail(&e),
                    };
                    match keyward_server::probe_upstream(u).await {
                        Ok(report) => {
                            println!("{report}");
                            ExitCode::SUCCESS
                        }
                        Err(report) => {
                            eprintln!("{report}");
                            ExitCode::from(1)
                        }
                    }
                })
            })
        }
    }
}
