//! The session webhook of a Studio policy: `GET url?sessionId=<id>` or
//! `POST url` with `{"sessionId": id}`, with the policy's headers and the
//! configured timeout. 200 allows; anything else refuses. Redirects are not
//! followed, and the answer body is not read.

use std::time::Duration;

use keyward_token::studio::{SessionMethod, SessionPolicy};

use crate::codes;
use crate::refusal::Refusal;

/// Calls the webhook; `Ok(())` only on HTTP 200.
pub async fn check(
    client: &reqwest::Client,
    s: &SessionPolicy,
    timeout: Duration,
) -> Result<(), Refusal> {
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
        Ok(Ok(resp)) => Err(Refusal::with(
            codes::STUDIO_SESSION_DENIED,
            format!(
                "Denied by rule session: the session webhook answered {}",
                resp.status().as_u16()
            ),
        )),
        Ok(Err(e)) => {
            // Not an internal error: logged beside the refusal, not instead.
            tracing::info!(code = codes::STUDIO_SESSION_UNAVAILABLE.wire, detail = %e, "session webhook failure");
            Err(Refusal::new(codes::STUDIO_SESSION_UNAVAILABLE))
        }
        Err(_) => Err(Refusal::with(
            codes::STUDIO_SESSION_UNAVAILABLE,
            "Denied by rule session: the session webhook did not answer in time",
        )),
    }
}
