//! The ExpressPlay-style token API: `customerAuthenticator` + parameters → a
//! sealed `ExpressPlayToken` in a licence URL (`/hms/{wv,ck}/token`).
//!
//! The parameter rules and the token format live in
//! [`keyward_token::expressplay`]; this module adds what needs the server:
//! customers (store), the token sealing keys, `^name` key look-ups, quotas and
//! source-address checks. Redemption of the token is a front door
//! ([`crate::frontdoor::expressplay`]).
//!
//! Token sealing keys: `token_key` in the configuration (`KEYWARD_TOKEN_KEY`,
//! 64 hex digits, or `KEYWARD_TOKEN_KEY_FILE`), else `<data dir>/token.key`
//! (generated on first use, mode 0600). `token_keys_previous`
//! (`KEYWARD_TOKEN_KEY_PREVIOUS`, comma-separated hex keys) keeps tokens
//! sealed under earlier keys redeemable after a rotation. The application
//! state loads them once.

use std::net::IpAddr;
use std::path::Path;

use keyward_drm::{ContentKey, Kid};
use keyward_store::customers::hash_authenticator;
use keyward_store::{AuthEnv, Customer, SiteId, StoreError};
use keyward_token::expressplay::{
    self as ep, codes, Environment, KidSpec, Params, TokenDrm, TokenKey, TokenPayload, TokenRequest,
};
use keyward_token::Timestamp;
use rand::RngCore as _;

use crate::frontdoor::expressplay::{refusal, refuse, store_failure};
use crate::refusal::Refusal;
use crate::state::AppState;

/// The token sealing keys: the current one first, then previous ones.
#[derive(Debug)]
pub struct TokenKeys {
    keys: Vec<TokenKey>,
}

impl TokenKeys {
    /// Keys from explicit values (tests, tools).
    pub fn new(current: TokenKey, previous: Vec<TokenKey>) -> Self {
        let mut keys = vec![current];
        keys.extend(previous);
        Self { keys }
    }

    /// The sealing key.
    pub fn current(&self) -> &TokenKey {
        &self.keys[0]
    }

    /// Every key that may open a token.
    pub fn all(&self) -> &[TokenKey] {
        &self.keys
    }
}

fn generate_key_file(path: &Path) -> Result<(TokenKey, bool), String> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            return TokenKey::from_hex(&text)
                .map(|k| (k, false))
                .ok_or_else(|| format!("{} is not 64 hex digits", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    }
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let text = format!("{}\n", hex::encode(raw));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    use std::io::Write as _;
    match opts.open(path) {
        Ok(mut f) => {
            f.write_all(text.as_bytes())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            Ok((TokenKey::new(raw), true))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => generate_key_file(path),
        Err(e) => Err(format!("cannot create {}: {e}", path.display())),
    }
}

/// The sealing key file in the data directory.
pub const TOKEN_KEY_FILE: &str = "token.key";

/// Loads the sealing keys: the configured key, else the data directory's
/// (generated on first use); then the configured previous keys.
pub fn load_keys(
    data_dir: &Path,
    current: Option<&str>,
    previous: Option<&str>,
) -> Result<TokenKeys, String> {
    let current = match current.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => TokenKey::from_hex(t).ok_or("KEYWARD_TOKEN_KEY must be 64 hex digits")?,
        None => {
            std::fs::create_dir_all(data_dir)
                .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
            let (k, generated) = generate_key_file(&data_dir.join(TOKEN_KEY_FILE))?;
            if generated {
                tracing::warn!(
                    path = %data_dir.join(TOKEN_KEY_FILE).display(),
                    "no KEYWARD_TOKEN_KEY given: generated the ExpressPlay token sealing key into the data directory (mode 0600); every server redeeming these tokens needs the same key"
                );
            }
            k
        }
    };
    let mut earlier = Vec::new();
    if let Some(list) = previous {
        for part in list.split(',').filter(|p| !p.trim().is_empty()) {
            earlier.push(
                TokenKey::from_hex(part).ok_or(
                    "KEYWARD_TOKEN_KEY_PREVIOUS must be comma-separated 64-hex-digit keys",
                )?,
            );
        }
    }
    Ok(TokenKeys::new(current, earlier))
}

// Minting
// ---------------------------------------------------------------------------

/// A content key resolved from the key store for a `^name` kid.
pub struct NamedKey {
    /// Key id.
    pub kid: Kid,
    /// Key.
    pub key: ContentKey,
}

/// Resolves a `^name` kid in the customer's site: the key whose label is
/// `name`, else the key of content `name` (its ALL key, or its only key).
/// Anything else → -4019.
pub async fn resolve_name(
    state: &AppState,
    site: Option<&SiteId>,
    name: &str,
) -> Result<NamedKey, Refusal> {
    let not_found = |why: &str| refuse(codes::KEY_STORAGE, why.to_owned());
    let site = site.ok_or_else(|| not_found("the customer has no key store (site) linked"))?;
    let store = state.store();
    let listed = match store.list_keys(site, None).await {
        Ok(l) => l,
        Err(StoreError::SiteNotFound) => {
            return Err(not_found("the customer's site does not exist"))
        }
        Err(e) => return Err(store_failure(&e)),
    };
    let by_label: Vec<_> = listed
        .iter()
        .filter(|k| k.label.as_deref() == Some(name))
        .collect();
    let info = if by_label.len() == 1 {
        by_label[0]
    } else {
        let by_cid: Vec<_> = listed.iter().filter(|k| k.cid == name).collect();
        match by_cid.as_slice() {
            [one] => *one,
            many => many
                .iter()
                .find(|k| k.track_type == keyward_store::TrackType::All)
                .copied()
                .ok_or_else(|| not_found(&format!("no key named '{name}'")))?,
        }
    };
    let rec = store.key_by_kid(site, &info.kid).await.map_err(|e| {
        if matches!(e, StoreError::KeyNotFound) {
            not_found(&format!("no key named '{name}'"))
        } else {
            store_failure(&e)
        }
    })?;
    Ok(NamedKey {
        kid: Kid::new(*rec.kid.as_bytes()),
        key: ContentKey::new(*rec.key.expose()),
    })
}

/// Everything a token request yields: the licence URL, for the handler to answer.
pub async fn mint(
    state: &AppState,
    drm: TokenDrm,
    params: &Params,
    peer: Option<IpAddr>,
) -> Result<String, Refusal> {
    let auth = ep::authenticator(params).map_err(|e| refusal(&e))?;
    let hash = hash_authenticator(auth);
    let (customer, env) = state
        .store()
        .customer_by_authenticator(&hash)
        .await
        .map_err(|e| store_failure(&e))?
        .ok_or_else(|| refuse(codes::AUTH_INVALID, "unknown customerAuthenticator"))?;
    check_customer(&customer, peer)?;
    let now = Timestamp::now().unix();
    let req = TokenRequest::from_params(params, now).map_err(|e| refusal(&e))?;
    if let KidSpec::Name(name) = &req.kid {
        resolve_name(state, customer.settings.site_id.as_ref(), name).await?;
    }
    let keys = state.expressplay_keys()?;
    // Only a customer with a quota pays for the counter (a database write per
    // token); without one, minting touches the store read-only.
    if customer.settings.token_quota.is_some()
        && !state
            .store()
            .take_customer_token(&customer.customer_id)
            .await
            .map_err(|e| store_failure(&e))?
    {
        return Err(refuse(
            codes::NO_TOKENS,
            format!(
                "the token quota ({}) is used up",
                customer.settings.token_quota.unwrap_or(0)
            ),
        ));
    }
    let env = match env {
        AuthEnv::Test => Environment::Test,
        AuthEnv::Production => Environment::Production,
    };
    let payload = TokenPayload::new(&customer.customer_id, env, drm, &req, now);
    let mut nonce = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let token = ep::seal(keys.current(), nonce, &payload);
    tracing::info!(
        customer = %customer.customer_id,
        env = env_name(env),
        drm = drm.segment(),
        kid = payload.kid.as_deref().or(payload.key_name.as_deref()).unwrap_or("-"),
        expires_at = payload.expires_at,
        cookie = payload.cookie.as_deref().unwrap_or("-"),
        "expressplay token issued"
    );
    Ok(format!(
        "{}/hms/{}/rights/?ExpressPlayToken={token}",
        state.config().public_base(),
        drm.segment()
    ))
}

fn env_name(env: Environment) -> &'static str {
    match env {
        Environment::Test => "test",
        Environment::Production => "production",
    }
}

fn check_customer(c: &Customer, peer: Option<IpAddr>) -> Result<(), Refusal> {
    if c.settings.disabled {
        return Err(refuse(codes::ACCOUNT_DISABLED, String::new()));
    }
    if !c.settings.allows_ip(peer) {
        return Err(refuse(
            codes::IP_ADDRESS,
            format!(
                "{} may not call the token API",
                peer.map_or_else(|| "an unknown address".to_owned(), |p| p.to_string())
            ),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Redemption
// ---------------------------------------------------------------------------
