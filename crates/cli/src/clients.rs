//! `keyward client …`: Studio token clients (the callers of `POST /v2/token`)
//! in the data directory. API keys are printed once, when made; the store
//! keeps only their SHA-256. Token secrets never leave keyward.

use std::process::ExitCode;

use clap::Subcommand;
use keyward_store::{ClientSettings, NewClient, SiteId, SiteSecret};
use keyward_token::studio::{api_key_hash, StudioPolicy, StudioSecret};
use serde_json::json;

use crate::admin::{fail, store_fail, with_store, StoreArgs};

/// Client commands.
#[derive(Subcommand)]
pub enum ClientCommand {
    /// Create a client linked to a site; prints its first API key once.
    #[command(
        after_help = "Example:\n  keyward client add --name acme --site-id TUTO --ttl 30 --content-prefix movie-"
    )]
    Add {
        #[command(flatten)]
        store: StoreArgs,
        /// Client name (what tokens carry first): 1-64 of A-Z a-z 0-9 . _ -
        #[arg(long)]
        name: String,
        /// The site whose content keys the tokens unlock.
        #[arg(long)]
        site_id: String,
        /// Token lifetime, seconds [default: 30].
        #[arg(long)]
        ttl: Option<u32>,
        /// Clock-skew leeway, seconds [default: 5].
        #[arg(long)]
        leeway: Option<u32>,
        /// Licence requests one token may serve [default: 1].
        #[arg(long)]
        max_uses: Option<u32>,
        /// Grace window after the TTL for max_uses > 1, seconds [default: 0].
        #[arg(long)]
        grace: Option<u32>,
        /// Default policy (JSON object) merged under each request's policy.
        #[arg(long)]
        default_policy: Option<String>,
        /// Content id prefix the client may mint for (repeatable) [default: any].
        #[arg(long = "content-prefix")]
        content_prefixes: Vec<String>,
        /// Label of the first API key.
        #[arg(long, default_value = "default")]
        label: String,
    },
    /// List clients (labels and key ids, no secrets).
    #[command(after_help = "Example:\n  keyward client list")]
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Add an API key (printed once) and/or remove one by id.
    #[command(
        after_help = "Example:\n  keyward client rotate-key --name acme --label 2026 --remove 3f2a9c1d0b7e4a55"
    )]
    RotateKey {
        #[command(flatten)]
        store: StoreArgs,
        /// Client name.
        #[arg(long)]
        name: String,
        /// Label of the new key.
        #[arg(long, default_value = "rotated")]
        label: String,
        /// Remove this key id (after adding the new one).
        #[arg(long)]
        remove: Option<String>,
        /// Only remove (--remove), add nothing.
        #[arg(long, requires = "remove")]
        no_new: bool,
    },
    /// New token secret; tokens under the previous one stay valid until they expire.
    #[command(after_help = "Example:\n  keyward client rotate-secret --name acme")]
    RotateSecret {
        #[command(flatten)]
        store: StoreArgs,
        /// Client name.
        #[arg(long)]
        name: String,
    },
    /// Delete a client, its keys and secrets.
    #[command(after_help = "Example:\n  keyward client delete --name acme")]
    Delete {
        #[command(flatten)]
        store: StoreArgs,
        /// Client name.
        #[arg(long)]
        name: String,
    },
}

fn kids(c: &keyward_store::Client) -> Vec<String> {
    c.secrets
        .iter()
        .filter_map(|s| StudioSecret::new(s.expose()).ok())
        .map(|s| s.kid_hex())
        .collect()
}

/// Runs a client command.
pub fn run(c: ClientCommand) -> ExitCode {
    match c {
        ClientCommand::Add {
            store,
            name,
            site_id,
            ttl,
            leeway,
            max_uses,
            grace,
            default_policy,
            content_prefixes,
            label,
        } => {
            let site_id = match SiteId::parse(&site_id) {
                Ok(s) => s,
                Err(e) => return store_fail(&e.into()),
            };
            let d = ClientSettings::default();
            let default_policy = match default_policy {
                None => None,
                Some(text) => match serde_json::from_str::<serde_json::Value>(&text) {
                    Ok(v) => match StudioPolicy::from_value(&v) {
                        Ok(_) => Some(v),
                        Err(e) => return fail(e.kind.code(), &format!("default {e}")),
                    },
                    Err(e) => return fail("invalid_json", &format!("--default-policy: {e}")),
                },
            };
            let settings = ClientSettings {
                ttl_secs: ttl.unwrap_or(d.ttl_secs),
                leeway_secs: leeway.unwrap_or(d.leeway_secs),
                max_uses: max_uses.unwrap_or(d.max_uses),
                grace_secs: grace.unwrap_or(d.grace_secs),
                default_policy,
                content_prefixes,
                disabled: false,
            };
            let api_key = keyward_server::generate_api_key();
            let secret = match SiteSecret::generate() {
                Ok(s) => s,
                Err(e) => return store_fail(&e),
            };
            with_store(&store, move |s| {
                Box::pin(async move {
                    let new = NewClient {
                        name,
                        site_id,
                        settings,
                        secret,
                        api_key: (label, api_key_hash(&api_key)),
                    };
                    match s.create_client(new).await {
                        Ok(c) => {
                            eprintln!("keyward: the API key is shown once; keep it in your backend's configuration");
                            println!(
                                "{}",
                                json!({"name": c.name, "site_id": c.site_id, "api_key": api_key,
                                       "api_key_id": c.api_keys.first().map(|k| k.id.clone()),
                                       "settings": c.settings, "kids": kids(&c)})
                            );
                            ExitCode::SUCCESS
                        }
                        Err(e) => store_fail(&e),
                    }
                })
            })
        }
        ClientCommand::List { store } => with_store(&store, |s| {
            Box::pin(async move {
                match s.clients().await {
                    Ok(list) => {
                        for c in &list {
                            println!(
                                "{}",
                                json!({"name": c.name, "site_id": c.site_id, "settings": c.settings,
                                       "api_keys": c.api_keys, "kids": kids(c), "created_at": c.created_at})
                            );
                        }
                        ExitCode::SUCCESS
                    }
                    Err(e) => store_fail(&e),
                }
            })
        }),
        ClientCommand::RotateKey {
            store,
            name,
            label,
            remove,
            no_new,
        } => with_store(&store, move |s| {
            Box::pin(async move {
                let mut out = json!({"name": name});
                if !no_new {
                    let api_key = keyward_server::generate_api_key();
                    match s.add_api_key(&name, &label, api_key_hash(&api_key)).await {
                        Ok(info) => {
                            out["added"] =
                                json!({"id": info.id, "label": info.label, "api_key": api_key});
                        }
                        Err(e) => return store_fail(&e),
                    }
                }
                if let Some(id) = remove {
                    if let Err(e) = s.remove_api_key(&name, &id).await {
                        return store_fail(&e);
                    }
                    out["removed"] = json!(id);
                }
                println!("{out}");
                ExitCode::SUCCESS
            })
        }),
        ClientCommand::RotateSecret { store, name } => {
            let secret = match SiteSecret::generate() {
                Ok(s) => s,
                Err(e) => return store_fail(&e),
            };
            with_store(&store, move |s| {
                Box::pin(async move {
                    match s.add_client_secret(&name, secret).await {
                        Ok(c) => {
                            println!("{}", json!({"name": c.name, "kids": kids(&c)}));
                            ExitCode::SUCCESS
                        }
                        Err(e) => store_fail(&e),
                    }
                })
            })
        }
        ClientCommand::Delete { store, name } => with_store(&store, move |s| {
            Box::pin(async move {
                match s.delete_client(&name).await {
                    Ok(()) => {
                        println!("{}", json!({"deleted": name}));
                        ExitCode::SUCCESS
                    }
                    Err(e) => store_fail(&e),
                }
            })
        }),
    }
}
