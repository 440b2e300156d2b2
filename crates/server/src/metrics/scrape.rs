//! `GET /metrics`: the scrape handler, over any state that can report
//! ([`Source`]), on the main router or on a listener of its own
//! (`metrics.listen`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use keyward_store::{FairPlayStore, SiteStore};

use super::{Metrics, Snapshot};

/// What the scrape handler needs of the application state.
pub trait Source: Clone + Send + Sync + 'static {
    /// The instruments, when metrics are enabled.
    fn metrics(&self) -> Option<&Metrics>;
    /// The scrape-time figures (caches, breakers, queues).
    fn snapshot(&self) -> Snapshot;
    /// Where FairPlay certificates are listed from.
    fn certificate_stores(&self) -> (Arc<dyn SiteStore>, Arc<dyn FairPlayStore>);
}

/// `GET /metrics`: every series, in the Prometheus text format (0.0.4).
pub async fn scrape<S: Source>(State(s): State<S>) -> Response {
    let Some(m) = s.metrics() else {
        return (StatusCode::NOT_FOUND, "metrics are disabled\n").into_response();
    };
    let (sites, fairplay) = s.certificate_stores();
    m.refresh(s.snapshot(), sites.as_ref(), fairplay.as_ref())
        .await;
    (
        [(
            header::CONTENT_TYPE,
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        )],
        m.encode(),
    )
        .into_response()
}

/// The router of the separate metrics listener: `/metrics` and nothing else.
pub fn router<S: Source>(state: S) -> Router {
    Router::new()
        .route("/metrics", get(scrape::<S>))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                "this listener serves only GET /metrics\n",
            )
        })
        .with_state(state)
}
