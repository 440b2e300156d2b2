//! `keyward site fairplay …`: a site's FairPlay Streaming credentials (FPS
//! certificate, private key, ASk), wrapped at rest under the KEK. Listings show
//! the certificate's subject, serial, validity and SHA-1 hash — never the key
//! or the ASk.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use keyward_store::SiteId;
use zeroize::Zeroizing;

use crate::admin::{fail, store_fail, with_store, StoreArgs};

/// FairPlay credential commands.
#[derive(Subcommand)]
pub enum FairPlayCommand {
    /// Add a credential: the FPS certificate, its private key and the ASk Apple issued.
    #[command(
        after_help = "Example:\n  keyward site fairplay add --site-id TUTO --cert fps_certificate.der \\\n    --key privatekey.pem --ask-file ask.txt --label 2026"
    )]
    Add {
        #[command(flatten)]
        store: StoreArgs,
        /// Site id.
        #[arg(long)]
        site_id: String,
        /// FPS application certificate (DER or PEM).
        #[arg(long)]
        cert: PathBuf,
        /// Its RSA private key (PEM or DER; PKCS#1 or PKCS#8).
        #[arg(long)]
        key: PathBuf,
        /// File holding the key's passphrase (encrypted PKCS#8 keys).
        #[arg(long)]
        key_passphrase_file: Option<PathBuf>,
        /// File holding the Application Secret key (ASk), 32 hex digits.
        #[arg(long)]
        ask_file: PathBuf,
        /// A label to tell credentials apart.
        #[arg(long)]
        label: Option<String>,
    },
    /// List a site's credentials (certificate facts only), newest first.
    #[command(after_help = "Example:\n  keyward site fairplay list --site-id TUTO")]
    List {
        #[command(flatten)]
        store: StoreArgs,
        /// Site id.
        #[arg(long)]
        site_id: String,
    },
    /// Remove a credential by its certificate hash (from `list`).
    #[command(
        after_help = "Example:\n  keyward site fairplay remove --site-id TUTO \\\n    --cert-hash 5561980aa51f03aa04bca24556c841a71736c771"
    )]
    Remove {
        #[command(flatten)]
        store: StoreArgs,
        /// Site id.
        #[arg(long)]
        site_id: String,
        /// SHA-1 of the certificate, 40 hex digits.
        #[arg(long)]
        cert_hash: String,
    },
}

fn read(what: &str, p: &Path) -> Result<Zeroizing<Vec<u8>>, ExitCode> {
    std::fs::read(p).map(Zeroizing::new).map_err(|e| {
        fail(
            "invalid_input",
            &format!("cannot read the {what} {}: {e}", p.display()),
        )
    })
}

fn site(id: &str) -> Result<SiteId, ExitCode> {
    SiteId::parse(id).map_err(|e| store_fail(&e.into()))
}

/// Runs a FairPlay credential command.
pub fn run(c: FairPlayCommand) -> ExitCode {
    match c {
        FairPlayCommand::Add {
            store,
            site_id,
            cert,
            key,
            key_passphrase_file,
            ask_file,
            label,
        } => {
            let parts = (|| {
                let id = site(&site_id)?;
                let cert = read("certificate", &cert)?;
                let key = read("private key", &key)?;
                let pass = match &key_passphrase_file {
                    Some(p) => Some(read("passphrase file", p)?),
                    None => None,
                };
                let ask = read("ASk file", &ask_file)?;
                keyward_server::prepare_fairplay_credential(
                    id,
                    &cert,
                    &key,
                    pass.as_ref().map(|p| p.trim_ascii_end()),
                    &ask,
                    label,
                )
                .map_err(|m| fail("invalid_input", &m))
            })();
            let new = match parts {
                Ok(p) => p,
                Err(code) => return code,
            };
            with_store(&store, move |s| {
                Box::pin(async move {
                    match s.add_fairplay_credential(new).await {
                        Ok(info) => {
                            println!(
                                "{}",
                                serde_json::to_string_pretty(
                                    &keyward_server::fairplay_credential_json(&info)
                                )
                                .unwrap_or_default()
                            );
                            ExitCode::SUCCESS
                        }
                        Err(e) => store_fail(&e),
                    }
                })
            })
        }
        FairPlayCommand::List { store, site_id } => {
            let id = match site(&site_id) {
                Ok(i) => i,
                Err(c) => return c,
            };
            with_store(&store, move |s| {
                Box::pin(async move {
                    match s.fairplay_credential_infos(&id).await {
                        Ok(v) => {
                            for info in v {
                                println!("{}", keyward_server::fairplay_credential_json(&info));
                            }
                            ExitCode::SUCCESS
                        }
                        Err(e) => store_fail(&e),
                    }
                })
            })
        }
        FairPlayCommand::Remove {
            store,
            site_id,
            cert_hash,
        } => {
            let id = match site(&site_id) {
                Ok(i) => i,
                Err(c) => return c,
            };
            let mut h = [0u8; 20];
            if hex::decode_to_slice(cert_hash.trim(), &mut h).is_err() {
                return fail(
                    "invalid_input",
                    "--cert-hash must be 40 hex digits (the SHA-1 of the certificate, from `list`)",
                );
            }
            with_store(&store, move |s| {
                Box::pin(async move {
                    match s.remove_fairplay_credential(&id, &h).await {
                        Ok(()) => ExitCode::SUCCESS,
                        Err(e) => store_fail(&e),
                    }
                })
            })
        }
    }
}
