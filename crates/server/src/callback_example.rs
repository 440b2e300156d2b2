//! A small customer callback page, for trying callback mode in two commands
//! (`keyward callback serve-example`) and for tests: it decrypts the request,
//! allows a configured set of users with a configured v1 policy, and answers
//! encrypted, echoing the nonce.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::Router;
use keyward_token::SiteKey;
use serde_json::{json, Value};

/// What the example page decides.
#[derive(Clone)]
pub struct ExampleCallback {
    /// The site key shared with keyward.
    pub site_key: SiteKey,
    /// Users who may play; everyone else gets error_code 1001.
    pub allowed_users: Vec<String>,
    /// The v1 `playback_policy` granted to them.
    pub playback_policy: Value,
}

/// The page: `POST /callback` (form `data=`).
pub fn router(cfg: ExampleCallback) -> Router {
    Router::new()
        .route("/callback", post(answer))
        .with_state(Arc::new(cfg))
}

async fn answer(State(cfg): State<Arc<ExampleCallback>>, body: Bytes) -> String {
    let data = form_urlencoded::parse(&body)
        .find(|(k, _)| k == "data")
        .map(|(_, v)| v.into_owned());
    let request: Option<Value> = data
        .and_then(|d| cfg.site_key.decrypt_b64(&d))
        .and_then(|plain| serde_json::from_slice(&plain).ok());
    let reply = match request {
        None => {
            json!({"error_code": "1900", "error_message": "request could not be decrypted", "nonce": ""})
        }
        Some(r) => {
            let user = r["user_id"].as_str().unwrap_or_default();
            let nonce = r["nonce"].clone();
            if cfg.allowed_users.iter().any(|u| u == user) {
                json!({"error_code": "0000", "error_message": "success", "playback_policy": cfg.playback_policy, "nonce": nonce})
            } else {
                json!({"error_code": "1001", "error_message": format!("user {user} may not play"), "nonce": nonce})
            }
        }
    };
    cfg.site_key.encrypt_b64(reply.to_string().as_bytes())
}
