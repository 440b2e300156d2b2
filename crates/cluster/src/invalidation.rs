//! Cache coherence between nodes: "this site / key / client … changed, drop
//! your copy", over Redis pub/sub.
//!
//! A node that changes something the others cache publishes
//! `(kind, id)` on the channel `prefix ‖ "invalidate"` ([`Invalidation::publish`]).
//! Every node runs one subscriber ([`Invalidation::subscribe`]) that hands each
//! message to a callback as [`InvalidationEvent::Invalidate`]. Pub/sub delivers
//! only to connected subscribers, so messages sent while a subscriber was cut
//! off are lost: on every (re)connection — the first one included — the
//! subscriber delivers [`InvalidationEvent::Flush`] ("drop everything") before
//! any message, then resubscribes and goes on. It notices a lost connection
//! when the socket closes, and a silent one by a PING every
//! [`HEARTBEAT`] that gets no answer within the response timeout.
//!
//! A message is `kind ‖ " " ‖ id` in UTF-8. A kind this version does not know
//! (sent by a newer node during a rolling upgrade) is delivered as `Flush`.
//! A publisher receives its own messages too.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::StreamExt as _;
use keyward_store::{Result, StoreError};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::state::RedisState;

/// How often the subscriber checks a quiet connection with a PING.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// Longest id accepted in a message, in bytes.
pub const MAX_INVALIDATION_ID_LEN: usize = 512;
/// Pause between reconnection attempts of the subscriber: starts short, doubles
/// up to this.
const MAX_RETRY_PAUSE: Duration = Duration::from_millis(500);
const MIN_RETRY_PAUSE: Duration = Duration::from_millis(25);

/// What a message is about: which cache holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CacheKind {
    /// A site (settings, secrets).
    Site,
    /// A content key.
    Key,
    /// A Studio token client.
    Client,
    /// An ExpressPlay-style customer.
    Customer,
    /// A FairPlay credential.
    FairPlay,
    /// A licence upstream.
    Upstream,
    /// A packager credential or key seed.
    Packager,
}

impl CacheKind {
    /// Every kind.
    pub const ALL: [CacheKind; 7] = [
        CacheKind::Site,
        CacheKind::Key,
        CacheKind::Client,
        CacheKind::Customer,
        CacheKind::FairPlay,
        CacheKind::Upstream,
        CacheKind::Packager,
    ];

    /// Its name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheKind::Site => "site",
            CacheKind::Key => "key",
            CacheKind::Client => "client",
            CacheKind::Customer => "customer",
            CacheKind::FairPlay => "fairplay",
            CacheKind::Upstream => "upstream",
            CacheKind::Packager => "packager",
        }
    }

    /// The kind with that wire name.
    pub fn parse(name: &str) -> Option<CacheKind> {
        CacheKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl std::fmt::Display for CacheKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a subscriber delivers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InvalidationEvent {
    /// Drop every cached entry: messages may have been missed (sent on every
    /// (re)connection, and for a message this version cannot read).
    Flush,
    /// Drop the entry `id` of the `kind` cache.
    Invalidate {
        /// Which cache.
        kind: CacheKind,
        /// The entry's id, as the publisher wrote it.
        id: String,
    },
}

impl InvalidationEvent {
    /// Reads a message's payload.
    fn parse(payload: &[u8]) -> InvalidationEvent {
        let Ok(text) = std::str::from_utf8(payload) else {
            return InvalidationEvent::Flush;
        };
        match text
            .split_once(' ')
            .map(|(k, id)| (CacheKind::parse(k), id))
        {
            Some((Some(kind), id)) => InvalidationEvent::Invalidate {
                kind,
                id: id.to_owned(),
            },
            _ => InvalidationEvent::Flush,
        }
    }
}

/// Publishing and subscribing to invalidations. Made by
/// [`RedisState::invalidation`].
#[derive(Clone, Debug)]
pub struct Invalidation {
    state: RedisState,
    channel: Vec<u8>,
}

impl RedisState {
    /// Invalidation messages on this Redis (channel `prefix ‖ "invalidate"`).
    pub fn invalidation(&self) -> Invalidation {
        Invalidation {
            channel: self.key(&[b"invalidate"]),
            state: self.clone(),
        }
    }
}

/// A running subscriber. Dropping it (or [`Subscription::stop`]) ends it.
#[derive(Debug)]
pub struct Subscription {
    task: JoinHandle<()>,
    connected: Arc<AtomicBool>,
}

impl Subscription {
    /// Whether it is subscribed right now (for health reporting).
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// Ends the subscriber.
    pub fn stop(self) {
        self.task.abort();
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Invalidation {
    /// Tells every subscribed node that `kind` entry `id` changed; how many
    /// subscribers (this node's included) Redis handed it to. `invalid_input`
    /// (field `id`) for an empty id or one over [`MAX_INVALIDATION_ID_LEN`]
    /// bytes; `backend` when Redis does not answer in time — then nobody was
    /// told, so the caller should retry or rely on cache expiry.
    pub async fn publish(&self, kind: CacheKind, id: &str) -> Result<u64> {
        if id.is_empty() || id.len() > MAX_INVALIDATION_ID_LEN {
            return Err(StoreError::InvalidInput {
                field: "id",
                reason: "must be 1 to 512 bytes",
            });
        }
        let channel = self.channel.clone();
        let payload = format!("{} {id}", kind.as_str());
        self.state
            .call("publish", |mut c| async move {
                redis::cmd("PUBLISH")
                    .arg(channel)
                    .arg(payload)
                    .query_async::<u64>(&mut c)
                    .await
            })
            .await
    }

    /// Tells every subscribed node to drop all its cached entries (a change
    /// whose entries the publisher cannot name, e.g. made by the CLI straight
    /// in the store); how many subscribers Redis handed it to.
    pub async fn publish_flush(&self) -> Result<u64> {
        let channel = self.channel.clone();
        self.state
            .call("publish", |mut c| async move {
                redis::cmd("PUBLISH")
                    .arg(channel)
                    .arg("flush")
                    .query_async::<u64>(&mut c)
                    .await
            })
            .await
    }

    /// Starts a subscriber task (on the current Tokio runtime) that calls
    /// `on_event` for each event, in order: `Flush` on every (re)connection,
    /// then the messages. It reconnects by itself for as long as the
    /// [`Subscription`] lives. Keep `on_event` quick: it runs on the task
    /// that reads the connection.
    pub fn subscribe<F>(&self, on_event: F) -> Subscription
    where
        F: Fn(InvalidationEvent) + Send + Sync + 'static,
    {
        let connected = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(run(
            self.state.clone(),
            self.channel.clone(),
            connected.clone(),
            on_event,
        ));
        Subscription { task, connected }
    }

    /// [`Invalidation::subscribe`] into a bounded channel. When the channel is
    /// full, events are dropped and a `Flush` is delivered as soon as there
    /// is room again, so a slow reader loses precision, never coherence.
    pub fn subscribe_channel(
        &self,
        capacity: usize,
    ) -> (Subscription, mpsc::Receiver<InvalidationEvent>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let overflowed = Mutex::new(false);
        let subscription = self.subscribe(move |event| {
            let mut overflowed = overflowed.lock().unwrap_or_else(PoisonError::into_inner);
            if *overflowed {
                if tx.try_send(InvalidationEvent::Flush).is_err() {
                    return;
                }
                *overflowed = false;
                if event == InvalidationEvent::Flush {
                    return;
                }
            }
            if let Err(mpsc::error::TrySendError::Full(_)) = tx.try_send(event) {
                *overflowed = true;
            }
        });
        (subscription, rx)
    }
}

/// The subscriber: connect, subscribe, `Flush`, deliver until the connection
/// is lost; again, with a short growing pause between failed attempts.
async fn run<F>(state: RedisState, channel: Vec<u8>, connected: Arc<AtomicBool>, on_event: F)
where
    F: Fn(InvalidationEvent) + Send + Sync + 'static,
{
    let mut pause = MIN_RETRY_PAUSE;
    loop {
        match session(&state, &channel, &connected, &on_event).await {
            Ok(()) => pause = MIN_RETRY_PAUSE,
            Err(detail) => {
                tracing::debug!(detail = %state.redact(&detail), "invalidation subscriber: no connection to Redis");
            }
        }
        if connected.swap(false, Ordering::AcqRel) {
            tracing::warn!("invalidation subscriber lost Redis; resubscribing");
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_RETRY_PAUSE);
    }
}

/// One connection's life: `Ok` once it was subscribed and then lost, `Err`
/// when it could not subscribe.
async fn session<F>(
    state: &RedisState,
    channel: &[u8],
    connected: &AtomicBool,
    on_event: &F,
) -> std::result::Result<(), String>
where
    F: Fn(InvalidationEvent),
{
    let limit = state.connect_timeout() + state.response_timeout();
    let pubsub = tokio::time::timeout(limit, state.client().get_async_pubsub())
        .await
        .map_err(|_| "connect: timed out".to_owned())?
        .map_err(|e| format!("connect: {e}"))?;
    let (mut sink, mut stream) = pubsub.split();
    tokio::time::timeout(state.response_timeout(), sink.subscribe(channel))
        .await
        .map_err(|_| "subscribe: timed out".to_owned())?
        .map_err(|e| format!("subscribe: {e}"))?;
    connected.store(true, Ordering::Release);
    tracing::info!("invalidation subscriber connected; flushing local caches");
    on_event(InvalidationEvent::Flush);
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    heartbeat.tick().await;
    loop {
        tokio::select! {
            message = stream.next() => match message {
                Some(m) => on_event(InvalidationEvent::parse(m.get_payload_bytes())),
                None => return Ok(()),
            },
            _ = heartbeat.tick() => {
                let pong = tokio::time::timeout(
                    state.response_timeout(),
                    sink.ping::<redis::Value>(),
                )
                .await;
                if !matches!(pong, Ok(Ok(_))) {
                    return Ok(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for k in CacheKind::ALL {
            assert_eq!(CacheKind::parse(k.as_str()), Some(k));
            assert_eq!(k.to_string(), k.as_str());
        }
        assert_eq!(CacheKind::parse("sites"), None);
    }

    #[test]
    fn messages_parse_and_unknown_ones_flush() {
        assert_eq!(
            InvalidationEvent::parse(b"site TUTO"),
            InvalidationEvent::Invalidate {
                kind: CacheKind::Site,
                id: "TUTO".into()
            }
        );
        assert_eq!(
            InvalidationEvent::parse(b"key TUTO cid with spaces"),
            InvalidationEvent::Invalidate {
                kind: CacheKind::Key,
                id: "TUTO cid with spaces".into()
            }
        );
        for unreadable in [&b"drm TUTO"[..], b"site", b"", b"\xff site"] {
            assert_eq!(
                InvalidationEvent::parse(unreadable),
                InvalidationEvent::Flush
            );
        }
    }
}
