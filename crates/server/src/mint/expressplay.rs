//! The ExpressPlay-style token API: `customerAuthenticator` + parameters → a
//! sealed `ExpressPlayToken` in a licence URL (`/hms/{wv,ck}/token`).
//!
//! The parameter rules and the token format live in
//! [`keyward_token::expressplay`]; this module adds what needs the server:
//! customers (store), the token sealing keys, `^name` key look-ups, quotas and
//! source-address checks. Redemption of the token is a front door
//! ([`crate::frontdoor::expressplay`]).
//!
//! The sealing keys are a resource of the application state
//! ([`crate::resources::token_keys`]).

use std::net::IpAddr;

use keyward_store::customers::hash_authenticator;
use keyward_store::{AuthEnv, Customer};
use keyward_token::expressplay::{
    self as ep, codes, Environment, KidSpec, Params, TokenDrm, TokenPayload, TokenRequest,
};
use keyward_token::Timestamp;
use rand::RngCore as _;

use crate::refusal::expressplay::{refusal, refuse, store_failure};
use crate::refusal::Refusal;
use crate::state::AppState;

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
        .stores()
        .customers
        .customer_by_authenticator(&hash)
        .await
        .map_err(|e| store_failure(&e))?
        .ok_or_else(|| refuse(codes::AUTH_INVALID, "unknown customerAuthenticator"))?;
    check_customer(&customer, peer)?;
    let now = Timestamp::now().unix();
    let req = TokenRequest::from_params_for(params, now, drm).map_err(|e| refusal(&e))?;
    if let KidSpec::Name(name) = &req.kid {
        state
            .key_cache()
            .named(customer.settings.site_id.as_ref(), name)
            .await?;
    }
    let keys = state.expressplay_keys()?;
    // Only a customer with a quota pays for the counter (a database write per
    // token); without one, minting touches the store read-only.
    if customer.settings.token_quota.is_some()
        && !state
            .stores()
            .customers
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
