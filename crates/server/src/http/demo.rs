//! Demo mode: the page a new user opens first, its clip, and a token endpoint
//! that exists only in demo mode (and says so).

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use include_dir::{include_dir, Dir};
use keyward_token::{DrmType, Policy, TokenBuilder};

use crate::json::JsonOut;
use crate::state::AppState;

static ASSETS: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/assets/demo");

/// The demo site id.
pub const DEMO_SITE: &str = "DEMO";
/// The demo clip's content id.
pub const DEMO_CID: &str = "keyward-demo";

/// The demo clip's KID and key (hex), from the committed `clip.json`.
pub fn demo_key() -> Option<(String, String)> {
    let f = ASSETS.get_file("media/clip.json")?;
    let v: serde_json::Value = serde_json::from_slice(f.contents()).ok()?;
    Some((v["kid"].as_str()?.to_owned(), v["key"].as_str()?.to_owned()))
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("mpd") => "application/dash+xml",
        Some("mp4") => "video/mp4",
        Some("m4s") => "video/iso.segment",
        _ => "application/octet-stream",
    }
}

/// `GET /demo` → `/demo/`.
pub async fn redirect() -> Redirect {
    Redirect::permanent("/demo/")
}

/// `GET /demo/`.
pub async fn index() -> Response {
    asset_response("index.html")
}

/// `GET /demo/{*path}`.
pub async fn asset(Path(path): Path<String>) -> Response {
    asset_response(&path)
}

fn asset_response(path: &str) -> Response {
    match ASSETS.get_file(path) {
        Some(f) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(content_type(path)),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            ],
            f.contents(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// `GET /demo/token`: a fresh ClearKey token for the demo clip.
pub async fn token(State(state): State<AppState>) -> Response {
    let Some(demo) = state.demo() else {
        return (StatusCode::NOT_FOUND, "demo mode is off").into_response();
    };
    let policy = match Policy::from_json(
        br#"{"policy_version":2,"playback_policy":{"persistent":false,"license_duration":3600}}"#,
    ) {
        Ok(p) => p,
        Err(_) => return (StatusCode::SERVICE_UNAVAILABLE, "demo policy").into_response(),
    };
    let minted = TokenBuilder::new()
        .drm_type(DrmType::ClearKey)
        .user_id("demo-user")
        .cid(DEMO_CID)
        .policy(&policy)
        .mint(&demo.creds);
    match minted {
        Ok(m) => {
            let mut j = JsonOut::object();
            j.str("token", &m.token);
            j.str("site_id", DEMO_SITE);
            j.str("cid", DEMO_CID);
            j.str("drm_type", "ClearKey");
            j.str(
                "notice",
                "Demo mode only: in production your backend mints tokens (keyward token issue, or the keyward-token library) and this endpoint does not exist.",
            );
            (
                [
                    (header::CONTENT_TYPE, "application/json"),
                    (header::CACHE_CONTROL, "no-store"),
                ],
                j.finish(),
            )
                .into_response()
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "demo token").into_response(),
    }
}
