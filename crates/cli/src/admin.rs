//! `keyward site …` and `keyward key …`: administration of the embedded store
//! in the data directory (the same one `keyward serve` uses). Listings never
//! show key material; `key export` shows one key, on purpose.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use keyward_store::{
    ContentKey, Drm, ErrorStyle, Kid, NewContentKey, NewSite, SiteId, SiteSecret, SiteSettings,
    Store, StoreError, TrackType,
};
use serde_json::json;

/// Where the store lives and how it is unlocked.
#[derive(clap::Args, Clone)]
pub struct StoreArgs {
    /// Data directory.
    #[arg(long, env = "KEYWARD_DATA_DIR", default_value = "keyward-data")]
    data_dir: PathBuf,
}

/// Site commands.
#[derive(Subcommand)]
#[allow(
    clippy::large_enum_variant,
    reason = "parsed once per process; boxing buys nothing"
)]
pub enum SiteCommand {
    /// Create a site. Give both keys (32 characters each, as the vendor console shows them) or --generate.
    #[command(
        after_help = "Example:\n  keyward site add --site-id TUTO --site-key lU5D8s3PWoLls3PWFWkClULlFWk5D8oC --access-key LT2FVJDp2Xr018zf4Di6lzvNOv3DKP20"
    )]
    Add {
        #[command(flatten)]
        store: StoreArgs,
        /// Four uppercase letters.
        #[arg(long)]
        site_id: String,
        /// Site key (32 bytes). Or env KEYWARD_SITE_KEY.
        #[arg(long, env = "KEYWARD_SITE_KEY", hide_env_values = true)]
        site_key: Option<String>,
        /// Access key (32 bytes). Or env KEYWARD_ACCESS_KEY.
        #[arg(long, env = "KEYWARD_ACCESS_KEY", hide_env_values = true)]
        access_key: Option<String>,
        /// Generate random printable keys and print them once.
        #[arg(long, conflicts_with_all = ["site_key", "access_key"])]
        generate: bool,
        /// Token window, seconds [default: 600].
        #[arg(long)]
        token_window: Option<u32>,
        /// Leeway for timestamps from the future, seconds [default: 60].
        #[arg(long)]
        future_leeway: Option<u32>,
        /// DRMs allowed (repeatable) [default: all].
        #[arg(long = "allowed-drm")]
        allowed_drms: Vec<String>,
        /// CORS origins allowed on licence paths (repeatable) [default: any].
        #[arg(long = "cors-origin")]
        cors_origins: Vec<String>,
        /// Answer errors on PallyCon paths with real HTTP statuses instead of 200.
        #[arg(long)]
        http_status_errors: bool,
        /// FairPlay application certificate (DER file).
        #[arg(long)]
        fairplay_cert: Option<PathBuf>,
        /// Widevine service certificate file.
        #[arg(long)]
        widevine_cert: Option<PathBuf>,
        /// Customer callback URL (callback integration; http or https).
        #[arg(long)]
        callback_url: Option<String>,
        /// Callback timeout, milliseconds [default: 3000].
        #[arg(long)]
        callback_timeout_ms: Option<u32>,
        /// Decision while the callback is down: deny or allow [default: deny].
        #[arg(long)]
        callback_fallback: Option<String>,
        /// Reuse a positive callback answer for this many seconds [default: 0 = off].
        #[arg(long)]
        callback_cache_secs: Option<u32>,
        /// Consecutive failures that open the callback circuit breaker (0 = off) [default: 5].
        #[arg(long)]
        callback_breaker_failures: Option<u32>,
        /// Seconds an open breaker fails fast before probing [default: 30].
        #[arg(long)]
        callback_breaker_cooldown_secs: Option<u32>,
    },
    /// List sites (no secrets).
    #[command(after_help = "Example:\n  keyward site list --data-dir ./keyward-data")]
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Show one site (no secrets).
    #[command(after_help = "Example:\n  keyward site show TUTO")]
    Show {
        #[command(flatten)]
        store: StoreArgs,
        /// Site id.
        site_id: String,
    },
    /// Delete a site and its keys.
    #[command(after_help = "Example:\n  keyward site delete TUTO")]
    Delete {
        #[command(flatten)]
        store: StoreArgs,
        /// Site id.
        site_id: String,
    },
    /// A site's FairPlay Streaming credentials (certificate, private key, ASk).
    #[command(subcommand)]
    Fairplay(crate::fairplay::FairPlayCommand),
}

/// Key commands.
#[derive(Subcommand)]
pub enum KeyCommand {
    /// Import a content key.
    #[command(
        after_help = "Example:\n  keyward key add --site-id TUTO --cid movie-1 --kid abba271e8bcf552bbd2e86a434a9a5d9 --key 69eaa802a6763af979e8d1940fb88392"
    )]
    Add {
        #[command(flatten)]
        store: StoreArgs,
        /// Site id.
        #[arg(long)]
        site_id: String,
        /// Content id.
        #[arg(long)]
        cid: String,
        /// KID, 32 hex digits (or a UUID).
        #[arg(long)]
        kid: String,
        /// Key, 32 hex digits.
        #[arg(long)]
        key: String,
        /// Optional IV, 32 hex digits.
        #[arg(long)]
        iv: Option<String>,
        /// ALL, ALL_VIDEO, AUDIO, SD, HD, UHD1, UHD2.
        #[arg(long, default_value = "ALL")]
        track_type: String,
        /// Label.
        #[arg(long)]
        label: Option<String>,
        /// Key period (crypto period index) of rotated content.
        #[arg(long)]
        period: Option<u64>,
        /// Replace an existing key for the same content and track.
        #[arg(long)]
        replace: bool,
    },
    /// Generate a random key (printed only with --export).
    #[command(
        after_help = "Example:\n  keyward key generate --site-id TUTO --cid movie-1 --track-type HD --export"
    )]
    Generate {
        #[command(flatten)]
        store: StoreArgs,
        /// Site id.
        #[arg(long)]
        site_id: String,
        /// Content id.
        #[arg(long)]
        cid: String,
        /// Track type.
        #[arg(long, default_value = "ALL")]
        track_type: String,
        /// Label.
        #[arg(long)]
        label: Option<String>,
        /// Print the key material too.
        #[arg(long)]
        export: bool,
    },
    /// List keys (metadata only).
    #[command(after_help = "Example:\n  keyward key list --site-id TUTO")]
    List {
        #[command(flatten)]
        store: StoreArgs,
        /// Site id.
        #[arg(long)]
        site_id: String,
        /// Only this content id.
        #[arg(long)]
        cid: Option<String>,
    },
    /// Print one key, material included; or, with --cpix, write the keys of a content
    /// (or of every content) as CPIX documents encrypted for a recipient certificate.
    #[command(
        after_help = "Examples:\n  keyward key export --site-id TUTO --kid abba271e8bcf552bbd2e86a434a9a5d9\n  keyward key export --site-id TUTO --cpix --cid movie-1 --recipient-cert partner.cer --out movie-1.cpix.xml\n  keyward key export --site-id TUTO --cpix --recipient-cert partner.cer --out-dir exported/"
    )]
    Export {
        #[command(flatten)]
        store: StoreArgs,
        /// Site id.
        #[arg(long)]
        site_id: String,
        /// KID (without --cpix).
        #[arg(long, required_unless_present = "cpix", conflicts_with = "cpix")]
        kid: Option<String>,
        /// Write CPIX 2.3 documents (keys encrypted for --recipient-cert).
        #[arg(long)]
        cpix: bool,
        /// With --cpix: only this content id (one document).
        #[arg(long, requires = "cpix")]
        cid: Option<String>,
        /// With --cpix: a recipient's X.509 certificate (PEM or DER; RSA >= 2048 bits;
        /// repeatable: one document readable by each).
        #[arg(long = "recipient-cert", requires = "cpix")]
        recipient_certs: Vec<std::path::PathBuf>,
        /// With --cpix --cid: write the document here instead of stdout.
        #[arg(long, requires = "cid")]
        out: Option<std::path::PathBuf>,
        /// With --cpix and no --cid: write one document per content id here
        /// (`<hex of the content id>.cpix.xml`).
        #[arg(long, requires = "cpix", conflicts_with = "cid")]
        out_dir: Option<std::path::PathBuf>,
    },
    /// Import the keys of a CPIX document (clear, or encrypted for --recipient-key).
    #[command(
        after_help = "Example:\n  keyward key import --site-id TUTO --cpix movie-1.cpix.xml --recipient-key partner.key.pem"
    )]
    Import {
        #[command(flatten)]
        store: StoreArgs,
        /// Site id.
        #[arg(long)]
        site_id: String,
        /// The CPIX document.
        #[arg(long)]
        cpix: std::path::PathBuf,
        /// The content id to store the keys under [default: the document's contentId, else its id].
        #[arg(long)]
        cid: Option<String>,
        /// The recipient's private key (PEM, PKCS#8 or PKCS#1) when the keys are encrypted.
        #[arg(long)]
        recipient_key: Option<std::path::PathBuf>,
        /// Replace keys that exist with the same kid or coordinates.
        #[arg(long)]
        replace: bool,
    },
    /// Delete a key.
    #[command(
        after_help = "Example:\n  keyward key delete --site-id TUTO --kid abba271e8bcf552bbd2e86a434a9a5d9"
    )]
    Delete {
        #[command(flatten)]
        store: StoreArgs,
        /// Site id.
        #[arg(long)]
        site_id: String,
        /// KID.
        #[arg(long)]
        kid: String,
    },
}

pub(crate) fn fail(code: &str, message: &str) -> ExitCode {
    eprintln!("{}", json!({"error_code": code, "error_message": message}));
    ExitCode::from(2)
}

/// A store refusal as the one JSON error line: exit 2 for the caller's mistakes
/// (invalid input, something that exists or does not), 1 for everything else.
pub(crate) fn store_fail(e: &StoreError) -> ExitCode {
    let code = e.code();
    let mut message = e.to_string();
    // "Not found" names where it looked.
    if code.ends_with("_not_found") {
        if let Some(w) = WHERE.get() {
            message = format!("{message} (in the {w})");
        }
    }
    eprintln!("{}", json!({"error_code": code, "error_message": message}));
    let caller = e.is_invalid_input()
        || code.ends_with("_exists")
        || code.ends_with("_not_found")
        || code.ends_with("_conflict");
    ExitCode::from(if caller { 2 } else { 1 })
}

/// The data directory (or database URL) the command works on, for messages.
static WHERE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Runs `f` on the existing store: a command other than `site add` and
/// `customer add` never creates one (run from the wrong directory, it says
/// where it looked instead of creating an empty store there).
pub(crate) fn with_store<F>(store: &StoreArgs, f: F) -> ExitCode
where
    F: for<'a> FnOnce(
        &'a dyn Store,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ExitCode> + 'a>>,
{
    run_store(store, false, f)
}

/// Runs `f` on the store, creating it when missing (`site add`, `customer add`).
pub(crate) fn with_new_store<F>(store: &StoreArgs, f: F) -> ExitCode
where
    F: for<'a> FnOnce(
        &'a dyn Store,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ExitCode> + 'a>>,
{
    run_store(store, true, f)
}

fn run_store<F>(store: &StoreArgs, create: bool, f: F) -> ExitCode
where
    F: for<'a> FnOnce(
        &'a dyn Store,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ExitCode> + 'a>>,
{
    // The same store `keyward serve` would open (KEYWARD_DATABASE_URL).
    let url = std::env::var("KEYWARD_DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty());
    let dir = match url.as_deref().and_then(|u| u.strip_prefix("sqlite:")) {
        Some(d) => PathBuf::from(d.trim_start_matches("//")),
        None => store.data_dir.clone(),
    };
    let _ = WHERE.set(match url.as_deref() {
        Some(u) if !u.starts_with("sqlite:") => u.split(':').next().unwrap_or("").to_owned() + ":",
        _ => format!("data directory {}", dir.display()),
    });
    let is_memory = url.as_deref().is_some_and(|u| u.starts_with("memory:"));
    let is_postgres = url
        .as_deref()
        .is_some_and(|u| u.starts_with("postgres:") || u.starts_with("postgresql:"));
    if !create
        && !is_memory
        && !is_postgres
        && !dir.join(keyward_store::sqlite::DB_FILE_NAME).is_file()
        && !(dir.is_file())
    {
        return fail(
            "store_not_found",
            &format!(
                "no keyward store in {} (nothing was created): run `keyward site add` there first, or point --data-dir / KEYWARD_DATA_DIR at the store `keyward serve` uses",
                dir.display()
            ),
        );
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail("io", &e.to_string()),
    };
    rt.block_on(async {
        if !is_postgres {
            if let Err(e) = keyward_store::create_private_dir(&store.data_dir) {
                return fail(
                    "io",
                    &format!("cannot create {}: {e}", store.data_dir.display()),
                );
            }
        }
        let kek = std::env::var("KEYWARD_KEK")
            .ok()
            .filter(|v| !v.is_empty())
            .or_else(|| {
                std::env::var("KEYWARD_KEK_FILE")
                    .ok()
                    .and_then(|p| std::fs::read_to_string(p).ok())
                    .map(|s| s.trim().to_owned())
            });
        match keyward_server::open_stores(&store.data_dir, kek.as_deref(), url.as_deref()).await {
            Ok(s) => {
                let code = f(s.all.as_ref()).await;
                s.close().await;
                if is_postgres {
                    tell_nodes().await;
                }
                code
            }
            Err(e) => fail("store", &e.to_string()),
        }
    })
}

/// After a command on a shared store: with `KEYWARD_REDIS_URL` set, tells
/// every running node to drop its caches, so the change is seen at once (else
/// within their `cache_ttl_ms`).
async fn tell_nodes() {
    let Some(url) = std::env::var("KEYWARD_REDIS_URL")
        .ok()
        .filter(|v| !v.is_empty())
    else {
        return;
    };
    match keyward_cluster::RedisState::connect(keyward_cluster::RedisOptions::new(url)).await {
        Ok(redis) => {
            if let Err(e) = redis.invalidation().publish_flush().await {
                eprintln!("keyward: running nodes were not told of the change ({e}); they see it within cache_ttl_ms");
            }
        }
        Err(e) => eprintln!(
            "keyward: running nodes were not told of the change (redis: {e}); they see it within cache_ttl_ms"
        ),
    }
}

fn printable_secret() -> Result<String, StoreError> {
    // 32 characters from the base64 alphabet: printable, like the console's keys.
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let raw = SiteSecret::generate()?;
    Ok(raw
        .expose()
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect())
}

fn track(s: &str) -> Result<TrackType, ExitCode> {
    TrackType::parse(&s.to_ascii_uppercase()).map_err(|_| {
        fail(
            "1039",
            "track type must be one of ALL, ALL_VIDEO, AUDIO, SD, HD, UHD1, UHD2",
        )
    })
}

/// Runs a site command.
pub fn run_site(c: SiteCommand) -> ExitCode {
    match c {
        SiteCommand::Add {
            store,
            site_id,
            site_key,
            access_key,
            generate,
            token_window,
            future_leeway,
            allowed_drms,
            cors_origins,
            http_status_errors,
            fairplay_cert,
            widevine_cert,
            callback_url,
            callback_timeout_ms,
            callback_fallback,
            callback_cache_secs,
            callback_breaker_failures,
            callback_breaker_cooldown_secs,
        } => {
            let id = match SiteId::parse(&site_id) {
                Ok(i) => i,
                Err(e) => return store_fail(&e.into()),
            };
            let (sk, ak) =
                if generate {
                    match (printable_secret(), printable_secret()) {
                        (Ok(a), Ok(b)) => (a, b),
                        (Err(e), _) | (_, Err(e)) => return store_fail(&e),
                    }
                } else {
                    match (site_key, access_key) {
                        (Some(a), Some(b)) => (a, b),
                        _ => return fail(
                            "invalid_input",
                            "give --site-key and --access-key (32 characters each), or --generate",
                        ),
                    }
                };
            let mut settings = SiteSettings::default();
            if let Some(w) = token_window {
                settings.token_window_secs = w;
            }
            if let Some(l) = future_leeway {
                settings.future_leeway_secs = l;
            }
            if !allowed_drms.is_empty() {
                let mut v = Vec::new();
                for d in &allowed_drms {
                    match d.parse::<Drm>() {
                        Ok(d) => v.push(d),
                        Err(e) => return store_fail(&e.into()),
                    }
                }
                settings.allowed_drms = v;
            }
            settings.cors_origins = cors_origins;
            if http_status_errors {
                settings.error_style = ErrorStyle::HttpStatus;
            }
            for (path, slot) in [
                (fairplay_cert, &mut settings.fairplay_cert),
                (widevine_cert, &mut settings.widevine_service_cert),
            ] {
                if let Some(p) = path {
                    match std::fs::read(&p) {
                        Ok(b) => *slot = Some(b),
                        Err(e) => {
                            return fail(
                                "invalid_input",
                                &format!("cannot read {}: {e}", p.display()),
                            )
                        }
                    }
                }
            }
            settings.callback_url = callback_url;
            let cb = &mut settings.callback;
            if let Some(v) = callback_timeout_ms {
                cb.timeout_ms = v;
            }
            if let Some(v) = callback_cache_secs {
                cb.cache_ttl_secs = v;
            }
            if let Some(v) = callback_breaker_failures {
                cb.breaker_failures = v;
            }
            if let Some(v) = callback_breaker_cooldown_secs {
                cb.breaker_cooldown_secs = v;
            }
            match callback_fallback.as_deref() {
                None => {}
                Some("deny") => cb.fallback = keyward_store::CallbackFallback::Deny,
                Some("allow") => cb.fallback = keyward_store::CallbackFallback::Allow,
                Some(_) => {
                    return fail(
                        "invalid_setting",
                        "--callback-fallback must be deny or allow",
                    )
                }
            }
            let site_key = match SiteSecret::from_bytes(sk.as_bytes()) {
                Ok(k) => k,
                Err(_) => {
                    return fail(
                        "1004",
                        &format!("site key must be exactly 32 bytes (got {})", sk.len()),
                    )
                }
            };
            let access_key = match SiteSecret::from_bytes(ak.as_bytes()) {
                Ok(k) => k,
                Err(_) => {
                    return fail(
                        "1003",
                        &format!("access key must be exactly 32 bytes (got {})", ak.len()),
                    )
                }
            };
            with_new_store(&store, move |s| {
                Box::pin(async move {
                    match s
                        .create_site(NewSite {
                            site_id: id,
                            site_key,
                            access_key,
                            settings,
                        })
                        .await
                    {
                        Ok(site) => {
                            let mut v = serde_json::to_value(&site).unwrap_or_default();
                            if generate {
                                v["site_key"] = json!(sk);
                                v["access_key"] = json!(ak);
                                eprintln!("keyward: generated keys are shown once; store them with your backend's token minting config");
                            }
                            println!("{v}");
                            ExitCode::SUCCESS
                        }
                        Err(e) => store_fail(&e),
                    }
                })
            })
        }
        SiteCommand::List { store } => with_store(&store, |s| {
            Box::pin(async move {
                match s.sites().await {
                    Ok(v) => {
                        for site in v {
                            println!("{}", serde_json::to_string(&site).unwrap_or_default());
                        }
                        ExitCode::SUCCESS
                    }
                    Err(e) => store_fail(&e),
                }
            })
        }),
        SiteCommand::Show { store, site_id } => with_store(&store, move |s| {
            Box::pin(async move {
                let id = match SiteId::parse(&site_id) {
                    Ok(i) => i,
                    Err(e) => return store_fail(&e.into()),
                };
                match s.site(&id).await {
                    Ok(site) => {
                        println!(
                            "{}",
                            serde_json::to_string_pretty(&site).unwrap_or_default()
                        );
                        ExitCode::SUCCESS
                    }
                    Err(e) => store_fail(&e),
                }
            })
        }),
        SiteCommand::Fairplay(c) => crate::fairplay::run(c),
        SiteCommand::Delete { store, site_id } => with_store(&store, move |s| {
            Box::pin(async move {
                let id = match SiteId::parse(&site_id) {
                    Ok(i) => i,
                    Err(e) => return store_fail(&e.into()),
                };
                match s.delete_site(&id).await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => store_fail(&e),
                }
            })
        }),
    }
}

/// `text` as exactly `N` bytes of hex; the error names `field`.
pub(crate) fn hex_n<const N: usize>(field: &str, text: &str) -> Result<[u8; N], ExitCode> {
    let v = hex::decode(text).map_err(|_| fail("invalid_input", &format!("{field} is not hex")))?;
    <[u8; N]>::try_from(v.as_slice()).map_err(|_| {
        fail(
            "invalid_input",
            &format!("{field} must be {} hex digits", N * 2),
        )
    })
}

/// Runs a key command.
pub fn run_key(c: KeyCommand) -> ExitCode {
    match c {
        KeyCommand::Add {
            store,
            site_id,
            cid,
            kid,
            key,
            iv,
            track_type,
            label,
            period,
            replace,
        } => {
            let id = match SiteId::parse(&site_id) {
                Ok(i) => i,
                Err(e) => return store_fail(&e.into()),
            };
            let t = match track(&track_type) {
                Ok(t) => t,
                Err(c) => return c,
            };
            let kid = match Kid::from_hex(&kid) {
                Ok(k) => k,
                Err(e) => return store_fail(&e.into()),
            };
            let key = match hex_n::<16>("key", &key).map(|k| ContentKey::from_slice(&k)) {
                Ok(Ok(k)) => k,
                Ok(Err(e)) => return store_fail(&e.into()),
                Err(c) => return c,
            };
            let iv = match iv.as_deref().map(|v| hex_n::<16>("iv", v)).transpose() {
                Ok(v) => v,
                Err(c) => return c,
            };
            with_store(&store, move |s| {
                Box::pin(async move {
                    let nk = NewContentKey {
                        site_id: id,
                        cid,
                        track_type: t,
                        kid,
                        key,
                        iv,
                        label,
                        period,
                    };
                    match s.put_key(nk, replace).await {
                        Ok(rec) => {
                            println!("{}", serde_json::to_string(&rec.info()).unwrap_or_default());
                            ExitCode::SUCCESS
                        }
                        Err(e) => store_fail(&e),
                    }
                })
            })
        }
        KeyCommand::Generate {
            store,
            site_id,
            cid,
            track_type,
            label,
            export,
        } => {
            let id = match SiteId::parse(&site_id) {
                Ok(i) => i,
                Err(e) => return store_fail(&e.into()),
            };
            let t = match track(&track_type) {
                Ok(t) => t,
                Err(c) => return c,
            };
            with_store(&store, move |s| {
                Box::pin(async move {
                    match s.generate_key(&id, &cid, t, label).await {
                        Ok(rec) => {
                            let mut v = serde_json::to_value(rec.info()).unwrap_or_default();
                            if export {
                                v["key"] = json!(hex::encode(rec.key.expose()));
                            }
                            println!("{v}");
                            ExitCode::SUCCESS
                        }
                        Err(e) => store_fail(&e),
                    }
                })
            })
        }
        KeyCommand::List {
            store,
            site_id,
            cid,
        } => with_store(&store, move |s| {
            Box::pin(async move {
                let id = match SiteId::parse(&site_id) {
                    Ok(i) => i,
                    Err(e) => return store_fail(&e.into()),
                };
                match s.list_keys(&id, cid.as_deref()).await {
                    Ok(v) => {
                        for k in v {
                            println!("{}", serde_json::to_string(&k).unwrap_or_default());
                        }
                        ExitCode::SUCCESS
                    }
                    Err(e) => store_fail(&e),
                }
            })
        }),
        KeyCommand::Export {
            store,
            site_id,
            cpix: true,
            cid,
            recipient_certs,
            out,
            out_dir,
            ..
        } => crate::cpix::export(&store, &site_id, cid, &recipient_certs, out, out_dir),
        KeyCommand::Import {
            store,
            site_id,
            cpix,
            cid,
            recipient_key,
            replace,
        } => crate::cpix::import(&store, &site_id, &cpix, cid, recipient_key, replace),
        KeyCommand::Export {
            store,
            site_id,
            kid,
            ..
        } => with_store(&store, move |s| {
            Box::pin(async move {
                let kid = kid.unwrap_or_default();
                let (id, kid) = match (SiteId::parse(&site_id), Kid::from_hex(&kid)) {
                    (Ok(i), Ok(k)) => (i, k),
                    (Err(e), _) | (_, Err(e)) => return store_fail(&e.into()),
                };
                match s.key_by_kid(&id, &kid).await {
                    Ok(rec) => {
                        let mut v = serde_json::to_value(rec.info()).unwrap_or_default();
                        v["key"] = json!(hex::encode(rec.key.expose()));
                        println!("{v}");
                        ExitCode::SUCCESS
                    }
                    Err(e) => store_fail(&e),
                }
            })
        }),
        KeyCommand::Delete {
            store,
            site_id,
            kid,
        } => with_store(&store, move |s| {
            Box::pin(async move {
                let (id, kid) = match (SiteId::parse(&site_id), Kid::from_hex(&kid)) {
                    (Ok(i), Ok(k)) => (i, k),
                    (Err(e), _) | (_, Err(e)) => return store_fail(&e.into()),
                };
                match s.delete_key(&id, &kid).await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => store_fail(&e),
                }
            })
        }),
    }
}
