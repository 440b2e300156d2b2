//! `keyward customer …`: ExpressPlay-style customers in the embedded store.
//! Authenticators are generated here and printed once; only their hashes are
//! stored.

use std::process::ExitCode;

use clap::Subcommand;
use keyward_store::customers::{generate_authenticator, hash_authenticator, NewCustomer};
use keyward_store::{AuthEnv, CustomerSettings, SiteId, StoreError};
use serde_json::json;

use crate::admin::{store_fail, with_new_store, with_store, StoreArgs};

/// Customer commands.
#[derive(Subcommand)]
pub enum CustomerCommand {
    /// Create a customer; prints its test and production authenticators once.
    #[command(
        after_help = "Example:\n  keyward customer add --customer-id acme --site-id TEST --token-quota 100000"
    )]
    Add {
        #[command(flatten)]
        store: StoreArgs,
        /// Customer id (1–64 of A-Z a-z 0-9 . _ -).
        #[arg(long)]
        customer_id: String,
        /// Site whose content keys `^name` kids refer to.
        #[arg(long)]
        site_id: Option<String>,
        /// Most tokens the customer may mint [default: unlimited].
        #[arg(long)]
        token_quota: Option<u64>,
        /// Backend address allowed to call the token API (repeatable) [default: any].
        #[arg(long = "allowed-ip")]
        allowed_ips: Vec<String>,
    },
    /// List customers (no authenticators).
    #[command(after_help = "Example:\n  keyward customer list")]
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Replace one authenticator; prints the new one once. The old one stops working.
    #[command(after_help = "Example:\n  keyward customer rotate acme --env production")]
    Rotate {
        #[command(flatten)]
        store: StoreArgs,
        /// Customer id.
        customer_id: String,
        /// Which authenticator: test or production.
        #[arg(long, default_value = "test")]
        env: String,
    },
    /// Delete a customer (its live tokens stay redeemable until they expire).
    #[command(after_help = "Example:\n  keyward customer delete acme")]
    Delete {
        #[command(flatten)]
        store: StoreArgs,
        /// Customer id.
        customer_id: String,
    },
}

/// Runs a customer command.
pub fn run(c: CustomerCommand) -> ExitCode {
    match c {
        CustomerCommand::Add {
            store,
            customer_id,
            site_id,
            token_quota,
            allowed_ips,
        } => with_new_store(&store, |s| {
            Box::pin(async move {
                let site_id = match site_id.as_deref().map(SiteId::parse).transpose() {
                    Ok(v) => v,
                    Err(e) => return store_fail(&e.into()),
                };
                let (test, prod) = match (generate_authenticator(), generate_authenticator()) {
                    (Ok(t), Ok(p)) => (t, p),
                    (Err(e), _) | (_, Err(e)) => return store_fail(&e),
                };
                let new = NewCustomer {
                    customer_id,
                    test_hash: hash_authenticator(&test),
                    production_hash: hash_authenticator(&prod),
                    settings: CustomerSettings {
                        site_id,
                        token_quota,
                        allowed_ips,
                        disabled: false,
                    },
                };
                match s.create_customer(new).await {
                    Ok(c) => {
                        println!(
                            "{}",
                            json!({
                                "customer_id": c.customer_id,
                                "settings": c.settings,
                                "test_authenticator": test,
                                "production_authenticator": prod,
                            })
                        );
                        ExitCode::SUCCESS
                    }
                    Err(e) => store_fail(&e),
                }
            })
        }),
        CustomerCommand::List { store } => with_store(&store, |s| {
            Box::pin(async move {
                match s.customers().await {
                    Ok(all) => {
                        println!("{}", json!(all));
                        ExitCode::SUCCESS
                    }
                    Err(e) => store_fail(&e),
                }
            })
        }),
        CustomerCommand::Rotate {
            store,
            customer_id,
            env,
        } => with_store(&store, |s| {
            Box::pin(async move {
                let env = match env.as_str() {
                    "test" => AuthEnv::Test,
                    "production" | "prod" => AuthEnv::Production,
                    _ => {
                        return store_fail(&StoreError::InvalidInput {
                            field: "env",
                            reason: "must be test or production",
                        })
                    }
                };
                let fresh = match generate_authenticator() {
                    Ok(a) => a,
                    Err(e) => return store_fail(&e),
                };
                match s
                    .rotate_customer_authenticator(&customer_id, env, hash_authenticator(&fresh))
                    .await
                {
                    Ok(()) => {
                        println!(
                            "{}",
                            json!({"customer_id": customer_id, "env": env, "authenticator": fresh})
                        );
                        ExitCode::SUCCESS
                    }
                    Err(e) => store_fail(&e),
                }
            })
        }),
        CustomerCommand::Delete { store, customer_id } => with_store(&store, |s| {
            Box::pin(async move {
                match s.delete_customer(&customer_id).await {
                    Ok(()) => {
                        println!("{}", json!({"deleted": customer_id}));
                        ExitCode::SUCCESS
                    }
                    Err(e) => store_fail(&e),
                }
            })
        }),
    }
}
