//! `keyward packager …`: the credentials packagers and encoders use with the key
//! server (Widevine key-API signers, API keys for the PlayReady packaging API,
//! CPIX and SPEKE), and a site's PlayReady key seed. Secrets are wrapped at rest
//! under the KEK; an API key is printed once, when it is made.

use std::process::ExitCode;

use base64::Engine as _;
use clap::Subcommand;
use keyward_store::{KeySeed, NewPackager, PackagerKind, PackagerSecret, SiteId};
use serde_json::json;
use zeroize::Zeroizing;

use crate::admin::{fail, hex_n, store_fail, with_store, StoreArgs};

/// Packager commands.
#[derive(Subcommand)]
pub enum PackagerCommand {
    /// Add a credential: a Widevine key-API signer (`--kind widevine` with its AES
    /// key and IV) or an API key (`--kind api-key`, generated and printed once).
    #[command(
        after_help = "Examples:\n  keyward packager add --site-id TUTO --name widevine_test --kind widevine \\\n    --aes-key 1ae8ccd0e7985cc0b6203a55855a1034afc252980e970ca90e5202689f947ab9 \\\n    --aes-iv d58ce954203b7c9a9a9d467f59839249\n  keyward packager add --site-id TUTO --name encoder-1 --kind api-key --cid-prefix live/"
    )]
    Add {
        #[command(flatten)]
        store: StoreArgs,
        /// Site id.
        #[arg(long)]
        site_id: String,
        /// A name, unique across sites (A-Z a-z 0-9 . _ -): the Widevine `signer`,
        /// or the API key's name.
        #[arg(long)]
        name: String,
        /// widevine or api-key.
        #[arg(long)]
        kind: String,
        /// Only content ids starting with this prefix.
        #[arg(long)]
        cid_prefix: Option<String>,
        /// Widevine signer: AES-256 signing key, 64 hex digits.
        #[arg(long)]
        aes_key: Option<String>,
        /// Widevine signer: signing IV, 32 hex digits.
        #[arg(long)]
        aes_iv: Option<String>,
    },
    /// List credentials (no secrets), of one site or of all.
    #[command(
        after_help = "Examples:\n  keyward packager list --site-id TUTO\n  keyward packager list"
    )]
    List {
        #[command(flatten)]
        store: StoreArgs,
        /// Only this site's credentials.
        #[arg(long)]
        site_id: Option<String>,
    },
    /// Revoke (remove) a credential.
    #[command(after_help = "Example:\n  keyward packager remove --name encoder-1")]
    Remove {
        #[command(flatten)]
        store: StoreArgs,
        /// The credential's name.
        #[arg(long)]
        name: String,
    },
    /// Set a site's PlayReady key seed: new keys are derived from it and their kid.
    #[command(
        after_help = "Example (Microsoft's public test seed; never use it for real content):\n  keyward packager key-seed --site-id TUTO --seed XVBovsmzhP9gRIZxWfFta3VVRPzVEWmJsazEJ46I"
    )]
    KeySeed {
        #[command(flatten)]
        store: StoreArgs,
        /// Site id.
        #[arg(long)]
        site_id: String,
        /// The seed, base64 (at least 30 bytes; the first 30 are used).
        #[arg(long, conflicts_with = "clear")]
        seed: Option<String>,
        /// Remove the seed: new keys are random again.
        #[arg(long)]
        clear: bool,
    },
}

fn site(text: &str) -> Result<SiteId, ExitCode> {
    SiteId::parse(text).map_err(|e| store_fail(&e.into()))
}

/// Runs a packager command.
pub fn run(c: PackagerCommand) -> ExitCode {
    match c {
        PackagerCommand::Add {
            store,
            site_id,
            name,
            kind,
            cid_prefix,
            aes_key,
            aes_iv,
        } => {
            let id = match site(&site_id) {
                Ok(i) => i,
                Err(c) => return c,
            };
            let kind = match PackagerKind::parse(&kind) {
                Ok(k) => k,
                Err(e) => return store_fail(&e),
            };
            let secret = match (kind, aes_key, aes_iv) {
                (PackagerKind::Widevine, Some(k), Some(iv)) => {
                    match (hex_n::<32>("--aes-key", &k), hex_n::<16>("--aes-iv", &iv)) {
                        (Ok(k), Ok(iv)) => PackagerSecret::Widevine {
                            aes_key: Zeroizing::new(k),
                            aes_iv: iv,
                        },
                        (Err(c), _) | (_, Err(c)) => return c,
                    }
                }
                (PackagerKind::Widevine, _, _) => return fail(
                    "invalid_input",
                    "--kind widevine needs --aes-key (64 hex digits) and --aes-iv (32 hex digits)",
                ),
                (PackagerKind::ApiKey, None, None) => match PackagerSecret::generate_api_key() {
                    Ok(s) => s,
                    Err(e) => return store_fail(&e),
                },
                (PackagerKind::ApiKey, _, _) => {
                    return fail(
                        "invalid_input",
                        "--kind api-key takes no --aes-key or --aes-iv: keyward generates the key",
                    )
                }
            };
            let api_key = secret.api_key_text(&name);
            with_store(&store, move |s| {
                Box::pin(async move {
                    let new = NewPackager {
                        name,
                        site_id: id,
                        cid_prefix,
                        secret,
                    };
                    match s.add_packager(new).await {
                        Ok(info) => {
                            let mut v = serde_json::to_value(&info).unwrap_or_default();
                            if let Some(k) = api_key {
                                v["api_key"] = json!(k);
                                eprintln!("The API key is shown once: keep it now.");
                            }
                            println!("{v}");
                            ExitCode::SUCCESS
                        }
                        Err(e) => store_fail(&e),
                    }
                })
            })
        }
        PackagerCommand::List { store, site_id } => {
            let id = match site_id.as_deref().map(site).transpose() {
                Ok(i) => i,
                Err(c) => return c,
            };
            with_store(&store, move |s| {
                Box::pin(async move {
                    if let Some(id) = &id {
                        if let Err(e) = s.site(id).await {
                            return store_fail(&e);
                        }
                    }
                    match s.list_packagers(id.as_ref()).await {
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
        PackagerCommand::Remove { store, name } => with_store(&store, move |s| {
            Box::pin(async move {
                match s.remove_packager(&name).await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => store_fail(&e),
                }
            })
        }),
        PackagerCommand::KeySeed {
            store,
            site_id,
            seed,
            clear,
        } => {
            let id = match site(&site_id) {
                Ok(i) => i,
                Err(c) => return c,
            };
            let seed = match (seed, clear) {
                (Some(text), false) => {
                    let bytes = match base64::engine::general_purpose::STANDARD.decode(text.trim())
                    {
                        Ok(b) => Zeroizing::new(b),
                        Err(_) => return fail("invalid_input", "--seed is not base64"),
                    };
                    match KeySeed::from_slice(&bytes) {
                        Ok(s) => Some(s),
                        Err(e) => return store_fail(&e),
                    }
                }
                (None, true) => None,
                _ => return fail("invalid_input", "give --seed BASE64 or --clear"),
            };
            with_store(&store, move |s| {
                Box::pin(async move {
                    match s.set_key_seed(&id, seed).await {
                        Ok(()) => ExitCode::SUCCESS,
                        Err(e) => store_fail(&e),
                    }
                })
            })
        }
    }
}
