//! The session webhook of a Studio policy: `GET url?sessionId=<id>` or
//! `POST url` with `{"sessionId": id}`, with the policy's headers and the
//! configured timeout. 200 allows; anything else refuses. Redirects are not
//! followed, and the answer body is not read.

use std::time::Duration;

use axum::http::StatusCode;
use keyward_token::studio::{SessionMethod, SessionPolicy};

use crate::error::ApiError;

/// Calls the webhook; `Ok(())` only on HTTP 200.
pub async fn check(
    client: &reqwest::Client,
    s: &SessionPolicy,
    timeout: Duration,
) -> Result<(), ApiError> {
    let mut req = match s.method {
        SessionMethod::Get => client.get(&s.url).query(&[("sessionId", s.id.as_str())]),
        SessionMethod::Post => client
            .post(&s.url)
            .header("content-type", "application/json")
            .body(serde_json::json!({"sessionId": s.id}).to_string()),
    };
    for (k, v) in &s.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    match tokio::time::timeout(timeout, req.timeout(timeout).send()).await {
        Ok(Ok(resp)) if resp.status().as_u16() == 200 => Ok(()),
        Ok(Ok(resp)) => Err(ApiError::new(
            "studio_session_denied",
            StatusCode::FORBIDDEN,
            format!(
                "Denied by rule session: the session webhook answered {}",
                resp.status().as_u16()
            ),
        )),
        Ok(Err(e)) => Err(ApiError::new(
            "studio_session_unavailable",
            StatusCode::SERVICE_UNAVAILABLE,
            "Denied by rule session: the session webhook could not be reached",
        )
        .with_message_log(e.to_string())),
        Err(_) => Err(ApiError::new(
            "studio_session_unavailable",
            StatusCode::SERVICE_UNAVAILABLE,
            "Denied by rule session: the session webhook did not answer in time",
        )),
    }
}

trait LogOnly {
    fn with_message_log(self, detail: String) -> Self;
}

impl LogOnly for ApiError {
    /// Logs the detail without turning the refusal into an internal error.
    fn with_message_log(self, detail: String) -> Self {
        tracing::info!(code = %self.code, %detail, "session webhook failure");
        self
    }
}
