//! The connection to Redis every piece shares: one auto-reconnecting
//! [`ConnectionManager`], a deadline on every call, errors without secrets.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use keyward_store::{Lifecycle, Result, StoreError};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::AsyncConnectionConfig;
use redis::{IntoConnectionInfo as _, RedisError, RedisResult};

use crate::options::{RedisOptions, Secrets, MAX_KEY_PREFIX_LEN};

/// Reconnection attempts per outage episode before the manager gives up until
/// the next call (which starts a new episode at once).
const RECONNECT_RETRIES: usize = 3;
/// Shortest and longest pause between reconnection attempts. Short, so a call
/// made after Redis is back finds a connection within a fraction of a second.
const RECONNECT_MIN_DELAY: Duration = Duration::from_millis(50);
const RECONNECT_MAX_DELAY: Duration = Duration::from_millis(400);
/// What a PEM certificate contains.
const PEM_CERT: &[u8] = b"-----BEGIN CERTIFICATE-----";
/// The longest accepted timeout.
const MAX_TIMEOUT: Duration = Duration::from_secs(60);

/// keyward's shared hot state in one Redis: single-use decisions
/// ([`ReplayStore`](keyward_store::ReplayStore)), concurrent-stream slots
/// ([`StreamStore`](keyward_store::StreamStore)), rate limits
/// ([`RedisState::rate_limiter`]), cache invalidation
/// ([`RedisState::invalidation`]) and a health probe.
///
/// Cheap to clone (one shared connection). Every call answers within
/// [`RedisOptions::response_timeout`]: when Redis is down or unreachable it
/// fails with [`StoreError::Backend`] (code `backend`) instead of waiting, and
/// works again as soon as Redis answers, on the same value.
#[derive(Clone)]
pub struct RedisState {
    inner: Arc<Inner>,
}

struct Inner {
    conn: ConnectionManager,
    client: redis::Client,
    prefix: String,
    connect_timeout: Duration,
    response_timeout: Duration,
    secrets: Secrets,
    closed: AtomicBool,
}

impl std::fmt::Debug for RedisState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisState")
            .field("key_prefix", &self.inner.prefix)
            .field("response_timeout", &self.inner.response_timeout)
            .finish_non_exhaustive()
    }
}

impl RedisState {
    /// Opens the shared connection and makes first contact: checks that Redis
    /// answers (within `connect_timeout` + `response_timeout`, `backend`
    /// otherwise, the cause in [`StoreError::detail`]) and records the replay
    /// epoch if Redis has none, then waits for it (at most 1 s; see the crate
    /// docs, "Losing Redis's data"). Warns in the log when Redis may evict
    /// keys (`maxmemory-policy` other than `noeviction`).
    ///
    /// `invalid_input` (field `redis_url`, `key_prefix`, `connect_timeout`,
    /// `response_timeout` or `tls_ca_pem`) for options that cannot work; the
    /// URL is never quoted.
    pub async fn connect(options: RedisOptions) -> Result<RedisState> {
        for (field, t) in [
            ("connect_timeout", options.connect_timeout),
            ("response_timeout", options.response_timeout),
        ] {
            if t.is_zero() || t > MAX_TIMEOUT {
                return Err(StoreError::InvalidInput {
                    field,
                    reason: "must be more than zero and at most 60 s",
                });
            }
        }
        if options.key_prefix.len() > MAX_KEY_PREFIX_LEN {
            return Err(StoreError::InvalidInput {
                field: "key_prefix",
                reason: "must be at most 64 bytes",
            });
        }
        let secrets = Secrets::of_url(&options.url);
        let tls = options.url.starts_with("rediss:");
        if tls {
            // rustls needs a process-wide crypto provider; keep one that is
            // already installed.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let bad_url = StoreError::InvalidInput {
            field: "redis_url",
            reason: "not a redis://, rediss:// or redis+unix:// URL",
        };
        let client = match &options.tls_ca_pem {
            None => redis::Client::open(options.url.as_str()).map_err(|_| bad_url)?,
            Some(_) if !tls => {
                return Err(StoreError::InvalidInput {
                    field: "tls_ca_pem",
                    reason: "given for a URL without TLS (rediss://)",
                })
            }
            Some(pem) if !pem.windows(PEM_CERT.len()).any(|w| w == PEM_CERT) => {
                return Err(StoreError::InvalidInput {
                    field: "tls_ca_pem",
                    reason: "not a PEM certificate",
                })
            }
            Some(pem) => {
                let info = options
                    .url
                    .as_str()
                    .into_connection_info()
                    .map_err(|_| bad_url)?;
                let certificates = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                };
                redis::Client::build_with_tls(info, certificates).map_err(|_| {
                    StoreError::InvalidInput {
                        field: "tls_ca_pem",
                        reason: "not a PEM certificate",
                    }
                })?
            }
        };
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.connect_timeout))
            .set_response_timeout(Some(options.response_timeout))
            .set_number_of_retries(RECONNECT_RETRIES)
            .set_min_delay(RECONNECT_MIN_DELAY)
            .set_max_delay(RECONNECT_MAX_DELAY);
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(|e| backend(&secrets, "connection setup", &e))?;
        let state = RedisState {
            inner: Arc::new(Inner {
                conn,
                client,
                prefix: options.key_prefix,
                connect_timeout: options.connect_timeout,
                response_timeout: options.response_timeout,
                secrets,
                closed: AtomicBool::new(false),
            }),
        };
        // First contact on a connection of its own, tried once: its error
        // says why (refused, certificate, password) where the manager's
        // retries would only time out.
        let limit = options.connect_timeout + options.response_timeout;
        let probe = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(options.connect_timeout))
            .set_response_timeout(Some(options.response_timeout));
        let client = &state.inner.client;
        let first = tokio::time::timeout(limit, async {
            let mut c = client
                .get_multiplexed_async_connection_with_config(&probe)
                .await?;
            redis::cmd("PING").query_async::<()>(&mut c).await
        })
        .await;
        match first {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(state.error("first contact", &e)),
            Err(_) => {
                return Err(StoreError::Backend {
                    detail: format!(
                        "redis first contact: no answer within {} ms",
                        limit.as_millis()
                    ),
                })
            }
        }
        // The shared connection is made on this first use: the same allowance.
        crate::replay::ensure_epoch(&state, limit).await?;
        state.warn_if_evicting().await;
        Ok(state)
    }

    /// Whether Redis answers a PING within the response timeout (for
    /// `/readyz`); `backend` otherwise, with the reason in
    /// [`StoreError::detail`].
    pub async fn health(&self) -> Result<()> {
        self.call("ping", |mut c| async move {
            redis::cmd("PING").query_async::<()>(&mut c).await
        })
        .await
    }

    /// The prefix of every key and channel.
    pub fn key_prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The response timeout every call is held to.
    pub fn response_timeout(&self) -> Duration {
        self.inner.response_timeout
    }

    pub(crate) fn connect_timeout(&self) -> Duration {
        self.inner.connect_timeout
    }

    pub(crate) fn client(&self) -> &redis::Client {
        &self.inner.client
    }

    /// `prefix ‖ parts…` as one key.
    pub(crate) fn key(&self, parts: &[&[u8]]) -> Vec<u8> {
        let len = self.inner.prefix.len() + parts.iter().map(|p| p.len()).sum::<usize>();
        let mut k = Vec::with_capacity(len);
        k.extend_from_slice(self.inner.prefix.as_bytes());
        for p in parts {
            k.extend_from_slice(p);
        }
        k
    }

    /// Runs `f` on the shared connection within the response timeout.
    pub(crate) async fn call<T, F, Fut>(&self, what: &'static str, f: F) -> Result<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        self.call_within(self.inner.response_timeout, what, f).await
    }

    /// Runs `f` on the shared connection within `limit`.
    pub(crate) async fn call_within<T, F, Fut>(
        &self,
        limit: Duration,
        what: &'static str,
        f: F,
    ) -> Result<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(StoreError::Backend {
                detail: format!("redis {what}: closed"),
            });
        }
        match tokio::time::timeout(limit, f(self.inner.conn.clone())).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.error(what, &e)),
            Err(_) => Err(StoreError::Backend {
                detail: format!("redis {what}: no answer within {} ms", limit.as_millis()),
            }),
        }
    }

    /// A driver error as `backend`, its text (without secrets) as the detail.
    pub(crate) fn error(&self, what: &'static str, e: &RedisError) -> StoreError {
        backend(&self.inner.secrets, what, e)
    }

    /// Scrubs secrets from a text for logs.
    pub(crate) fn redact(&self, text: &str) -> String {
        self.inner.secrets.redact(text)
    }

    async fn warn_if_evicting(&self) {
        let policy = self
            .call("config get", |mut c| async move {
                redis::cmd("CONFIG")
                    .arg("GET")
                    .arg("maxmemory-policy")
                    .query_async::<Vec<String>>(&mut c)
                    .await
            })
            .await;
        match policy {
            Ok(v) => match v.get(1) {
                Some(p) if p != "noeviction" => tracing::warn!(
                    policy = %p,
                    "Redis may evict keys (maxmemory-policy is not noeviction): an evicted \
                     single-use decision lets its token be used again"
                ),
                _ => {}
            },
            // Managed Redis services often refuse CONFIG.
            Err(e) => tracing::debug!(
                detail = e.detail().unwrap_or_default(),
                "could not read Redis's maxmemory-policy"
            ),
        }
    }
}

fn backend(secrets: &Secrets, what: &'static str, e: &RedisError) -> StoreError {
    StoreError::Backend {
        detail: secrets.redact(&format!("redis {what}: {e}")),
    }
}

/// Health is a PING; close makes every later call fail with `backend` (the
/// connection itself goes when the last clone is dropped).
#[async_trait]
impl Lifecycle for RedisState {
    async fn health(&self) -> Result<()> {
        RedisState::health(self).await
    }

    async fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
    }
}
