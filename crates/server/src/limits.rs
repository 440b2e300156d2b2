//! Licence request rate limits (`[rate_limits]`): a token bucket per client
//! address and one per site, checked at the start of the licence pipeline
//! (the address before anything else, the site once the credential named it).
//! In a cluster the buckets are in Redis, so a limit is the cluster's; on a
//! single node they are in process. Over a limit: 429 `rate_limited`, naming
//! when to retry. When Redis does not answer, requests are let through (a
//! rate limit is protection, not a right) and the failure is logged.

use std::net::IpAddr;
use std::sync::Arc;

use keyward_cluster::{Quota, RateDecision, RateLimit};

use crate::codes;
use crate::config::RateLimitsConfig;
use crate::refusal::Refusal;

/// The configured limits and where their buckets live.
pub struct RateLimits {
    limiter: Arc<dyn RateLimit>,
    site: Option<Quota>,
    client: Option<Quota>,
}

fn quota(rate: u32, burst: u32) -> Option<Quota> {
    (rate > 0)
        .then(|| Quota::per_second(rate, if burst == 0 { rate } else { burst }).ok())
        .flatten()
}

impl RateLimits {
    /// The limits of `config` over `limiter`'s buckets.
    pub fn new(config: &RateLimitsConfig, limiter: Arc<dyn RateLimit>) -> Self {
        Self {
            limiter,
            site: quota(config.site_per_second, config.site_burst),
            client: quota(config.client_per_second, config.client_burst),
        }
    }

    /// One request from the address `ip` finds (asked only when a client
    /// limit is configured; no limit when the address is unknown).
    pub async fn client(&self, ip: impl FnOnce() -> Option<IpAddr>) -> Result<(), Refusal> {
        let Some(q) = self.client else {
            return Ok(());
        };
        match ip() {
            Some(ip) => self.take(&format!("ip:{ip}"), q, "client address").await,
            None => Ok(()),
        }
    }

    /// One request for `site`.
    pub async fn site(&self, site: &str) -> Result<(), Refusal> {
        match self.site {
            Some(q) => self.take(&format!("site:{site}"), q, "site").await,
            None => Ok(()),
        }
    }

    async fn take(&self, key: &str, q: Quota, what: &str) -> Result<(), Refusal> {
        match self.limiter.check(key, q).await {
            Ok(RateDecision::Allowed { .. }) => Ok(()),
            Ok(RateDecision::Limited { retry_after_ms }) => Err(Refusal::with(
                codes::RATE_LIMITED,
                format!(
                    "Too many licence requests for this {what} (at most {} a second, {} at once); retry in {retry_after_ms} ms",
                    1_000_000 / q.interval().as_micros().max(1),
                    q.burst()
                ),
            )),
            Err(e) => {
                tracing::warn!(error = %e, "rate limit not checked (its store did not answer); request let through");
                Ok(())
            }
        }
    }
}
