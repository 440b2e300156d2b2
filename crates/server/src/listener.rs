//! The accept loop of `keyward serve`: HTTP/1.1 and h2c on hyper, with the
//! connection-level defences a licence server on the public internet needs.
//!
//! # Why not `axum::serve`
//! `axum::serve` sets no timer, so hyper applies no header timeout: a client
//! sending headers a byte at a time (or nothing at all) held its connection
//! for ever, idle keep-alives were never closed, there was no connection cap,
//! and a graceful shutdown waited for every such connection, so SIGTERM never
//! finished while one client held half-sent headers. Here every connection
//! is watched by its own task:
//!
//! * **Header timeout**: a request's headers must arrive within
//!   `header_timeout_ms` of its first byte; a connection's first request
//!   within that time of connecting. A slower or silent connection is closed.
//! * **Idle timeout**: a keep-alive connection with no request in progress is
//!   closed (HTTP/2: sent GOAWAY) after `idle_timeout_ms`, and so is one whose
//!   response the client has not read for that long.
//! * **Body timeout**: a request body must arrive within `body_timeout_ms` of
//!   its headers; a slower one ends in an error the handler answers (400), so
//!   slow bodies cannot hold in-flight slots until the request timeout.
//! * **Connection cap**: at most `max_connections` are open; at the cap the
//!   loop stops accepting (new connections wait in the listen backlog) and
//!   says so in a `warn` line, at most every [`LOG_EVERY`].
//! * **Fairness**: one client address holds at most its share of the open
//!   connections (counted by TCP peer; trusted proxies are exempt) and of the
//!   in-flight requests (counted by the address the geo rules use, see
//!   [`crate::net::peer`]); requests over the share are marked
//!   [`OverShare`] and refused by the limits middleware with 503 / 7506, so
//!   every other address keeps being served.
//! * **Bounded shutdown**: on the shutdown signal the loop stops accepting,
//!   connections without a request in progress (idle or stalled) are closed
//!   at once, the others finish their requests (hyper's graceful shutdown),
//!   and whatever is still open at the drain deadline is dropped, so that the
//!   caller can always close the store cleanly.
//!
//! Handlers see the same request as under `axum::serve`: the socket peer as
//! `ConnectInfo<SocketAddr>`, the body as `axum::body::Body`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::hash::BuildHasher as _;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::{Request, Response, Version};
use axum::Router;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt as _;

use crate::config::Config;
use crate::net::cidr::canonical;
use crate::net::peer::client_ip;
use crate::net::Cidr;

/// Repeated warnings (connection cap, a client over its share) are logged at
/// most this often each.
pub const LOG_EVERY: Duration = Duration::from_secs(10);
/// `max_connections = 0`: this many, unless the open-files limit is lower.
const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// How often a draining connection checks whether its last request is done.
const DRAIN_TICK: Duration = Duration::from_millis(50);
/// An idle HTTP/2 connection sent GOAWAY is dropped if still open after this.
const GOAWAY_GRACE: Duration = Duration::from_secs(1);
/// Shards of the per-address counters (a power of two).
const SHARDS: usize = 16;
/// Longer configured timeouts are taken as this (a week): they then mean
/// "practically never" without overflowing the clock arithmetic.
const MAX_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

/// Marks a request whose client address already has its share of requests in
/// flight; the limits middleware answers it with 503 / 7506.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OverShare;

/// Marks a request that came with more than `server.max_headers` headers; the
/// limits middleware answers it with 431 / 7508 (as for too many bytes).
#[derive(Clone, Copy, Debug)]
pub(crate) struct TooManyHeaders;

/// The listener's settings, resolved from the configuration.
#[derive(Clone, Debug)]
pub(crate) struct Edge {
    header_timeout: Duration,
    idle_timeout: Duration,
    body_timeout: Duration,
    max_connections: usize,
    client_connections: usize,
    client_requests: usize,
    max_headers: usize,
    hyper_max_headers: usize,
    drain: Duration,
    trusted: Arc<[Cidr]>,
}

/// `share` percent of `total`, rounded up, at least 1.
fn share_of(total: usize, percent: u8) -> usize {
    (total.saturating_mul(usize::from(percent)).div_ceil(100)).max(1)
}

/// The soft open-files limit, when the platform tells it (Linux `/proc`).
fn open_files_limit() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

impl Edge {
    /// Settings from `config.server` (and the in-flight limit and trusted
    /// proxies it shares with the router and the geo rules).
    pub(crate) fn new(config: &Config) -> Self {
        let s = &config.server;
        let max_connections = match s.max_connections {
            // Leave a quarter of the descriptors to the store, upstream calls
            // and logs: at the open-files limit `accept` fails instead.
            0 => open_files_limit()
                .map(|n| (n / 4 * 3).clamp(1, DEFAULT_MAX_CONNECTIONS))
                .unwrap_or(DEFAULT_MAX_CONNECTIONS),
            n => n,
        };
        let timeout = |ms: u64| Duration::from_millis(ms).min(MAX_TIMEOUT);
        Self {
            header_timeout: timeout(s.header_timeout_ms),
            idle_timeout: timeout(s.idle_timeout_ms),
            body_timeout: timeout(s.body_timeout_ms),
            max_connections,
            client_connections: share_of(max_connections, s.client_connection_share_percent),
            client_requests: share_of(
                config.limits.max_concurrency,
                s.client_request_share_percent,
            ),
            max_headers: s.max_headers,
            // hyper answers a bare 431 above its own count; keep it well above
            // ours so that the limits middleware answers with its code (7508).
            // Not unbounded: hyper allocates room for that many per request.
            hyper_max_headers: s.max_headers.saturating_mul(4),
            drain: timeout(s.shutdown_drain_ms),
            trusted: config.gatekeeper.trusted_proxies.clone().into(),
        }
    }

    /// Serves `router` on `listener` until `shutdown` completes, then drains
    /// (see the module docs). Returns once every connection is closed.
    pub(crate) async fn serve(
        self,
        listener: TcpListener,
        router: Router,
        shutdown: impl Future<Output = ()>,
    ) -> io::Result<()> {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            // The connection task times headers itself: hyper's timer would
            // also run while a keep-alive connection is idle.
            .header_read_timeout(None)
            .max_headers(self.hyper_max_headers);
        builder.http2().timer(TokioTimer::new());
        let builder = Arc::new(builder);
        let shared = Arc::new(Shared {
            connections: Counts::new(),
            requests: Counts::new(),
            over_share_log: Every::new(),
            edge: self,
        });
        let edge = &shared.edge;
        tracing::debug!(
            max_connections = edge.max_connections,
            client_connections = edge.client_connections,
            client_requests = edge.client_requests,
            "connection limits"
        );
        let permits = Arc::new(Semaphore::new(edge.max_connections));
        let (drain_tx, drain_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let cap_log = Every::new();
        let client_cap_log = Every::new();
        let accept_log = Every::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            while tasks.try_join_next().is_some() {}
            let permit = match permits.clone().try_acquire_owned() {
                Ok(p) => p,
                Err(_) => {
                    let warned = cap_log.due();
                    if warned {
                        tracing::warn!(
                            max_connections = edge.max_connections,
                            "connection limit reached: new connections wait in the listen backlog until one closes (server.max_connections)"
                        );
                    }
                    let permit = tokio::select! {
                        p = permits.clone().acquire_owned() => p,
                        () = &mut shutdown => break,
                    };
                    let Ok(permit) = permit else { break };
                    if warned {
                        tracing::info!("below the connection limit again: accepting");
                    }
                    permit
                }
            };
            let (stream, peer) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        accept_failed(&e, &accept_log).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let ip = canonical(peer.ip());
            let client_slot = if edge.trusted.iter().any(|c| c.contains(ip)) {
                None
            } else {
                match shared.connections.enter(ip, edge.client_connections) {
                    Some(slot) => Some(slot),
                    None => {
                        if client_cap_log.due() {
                            tracing::warn!(
                                client = %ip,
                                limit = edge.client_connections,
                                "a client address holds its share of connections: closing its new ones (server.client_connection_share_percent)"
                            );
                        }
                        continue;
                    }
                }
            };
            let conn = Conn {
                shared: shared.clone(),
                builder: builder.clone(),
                router: router.clone(),
                peer,
                _client_slot: client_slot,
                _permit: permit,
            };
            tasks.spawn(conn.run(stream, drain_rx.clone()));
        }
        drop(listener);
        // Every connection task sees this: idle and stalled ones close now,
        // busy ones after their requests.
        drain_tx.send_replace(true);
        let open = tasks.len();
        if open > 0 {
            tracing::info!(
                connections = open,
                deadline_ms = u64::try_from(shared.edge.drain.as_millis()).unwrap_or(u64::MAX),
                "draining connections"
            );
        }
        let drained = tokio::time::timeout(shared.edge.drain, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                connections = tasks.len(),
                "drain deadline reached: dropping the remaining connections (server.shutdown_drain_ms)"
            );
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
        Ok(())
    }
}

/// An `accept` error: a connection that died in the queue is skipped; any
/// other (typically `EMFILE` at the open-files limit) is logged (at most every
/// [`LOG_EVERY`]) and waited out briefly so that the loop does not spin.
async fn accept_failed(e: &io::Error, log: &Every) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    if log.due() {
        tracing::error!(error = %e, "accepting a connection failed; retrying every 100 ms (is server.max_connections above the open-files limit?)");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// What every connection task shares.
struct Shared {
    edge: Edge,
    /// Open connections per TCP peer address.
    connections: Arc<Counts>,
    /// In-flight requests per client address.
    requests: Arc<Counts>,
    over_share_log: Every,
}

/// A rate limiter for a repeated log line.
struct Every {
    epoch: std::time::Instant,
    /// Milliseconds since `epoch` of the last line, plus one (0: never).
    last: AtomicU64,
}

impl Every {
    fn new() -> Self {
        Self {
            epoch: std::time::Instant::now(),
            last: AtomicU64::new(0),
        }
    }

    /// Whether the line is due now (and if so, the clock starts again).
    fn due(&self) -> bool {
        let now = millis(self.epoch.elapsed()).saturating_add(1);
        let last = self.last.load(Ordering::Relaxed);
        let every = millis(LOG_EVERY);
        (last == 0 || now.saturating_sub(last) >= every)
            && self
                .last
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Counters per address, sharded so that requests on different cores rarely
/// meet on one lock. An address without anything open has no entry.
/// Entries a shard of [`Counts`] holds before it drops those at zero.
const SHARD_ENTRIES: usize = 4096;

struct Counts {
    hasher: std::collections::hash_map::RandomState,
    shards: Vec<Mutex<HashMap<IpAddr, usize>>>,
}

impl Counts {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            hasher: Default::default(),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        })
    }

    fn shard(&self, ip: IpAddr) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        let i = usize::try_from(self.hasher.hash_one(ip)).unwrap_or(0) % SHARDS;
        // A panic while holding the lock leaves a consistent map (one
        // increment or decrement is all that happens under it).
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One more for `ip`, unless it already has `cap`.
    ///
    /// An address's entry stays when its count falls to zero (a keep-alive
    /// client enters and leaves on every request; removing and re-inserting
    /// it each time cost a rehash), and a shard drops its zero entries only
    /// when it has grown past [`SHARD_ENTRIES`].
    fn enter(self: &Arc<Self>, ip: IpAddr, cap: usize) -> Option<Slot> {
        let mut map = self.shard(ip);
        if map.len() >= SHARD_ENTRIES && !map.contains_key(&ip) {
            map.retain(|_, n| *n > 0);
        }
        let n = map.entry(ip).or_insert(0);
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(Slot {
            counts: self.clone(),
            ip,
        })
    }
}

/// One count for an address, given back when dropped.
struct Slot {
    counts: Arc<Counts>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self.counts.shard(self.ip);
        if let Some(n) = map.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
        }
    }
}

/// "Not set" in the millisecond fields of [`Activity`].
const NONE: u64 = u64::MAX;

/// What a connection is doing, updated by its socket, its requests and its
/// responses, read by its task to decide when it has waited too long.
/// Times are milliseconds since the connection was accepted.
struct Activity {
    epoch: Instant,
    /// Requests whose response has not been fully written.
    in_flight: AtomicUsize,
    /// Whether any request has arrived (the first one is timed from accept).
    served: AtomicBool,
    /// HTTP/2: bytes between requests are frames, not a slow request head.
    h2: AtomicBool,
    /// When the last response was fully written.
    idle_since: AtomicU64,
    /// When the first byte of a request head not yet complete arrived.
    head_since: AtomicU64,
    /// Since when a write has been waiting for the client to read.
    write_blocked_since: AtomicU64,
}

/// Why a connection is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expired {
    /// Headers not complete within the header timeout.
    Headers,
    /// No request within the idle timeout.
    Idle,
    /// The client has not read the response within the idle timeout.
    Unread,
}

impl Activity {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            in_flight: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            h2: AtomicBool::new(false),
            idle_since: AtomicU64::new(0),
            head_since: AtomicU64::new(NONE),
            write_blocked_since: AtomicU64::new(NONE),
        }
    }

    fn now(&self) -> u64 {
        millis(self.epoch.elapsed())
    }

    /// Bytes arrived from the client.
    fn on_read(&self) {
        if self.in_flight.load(Ordering::Relaxed) == 0
            && !self.h2.load(Ordering::Relaxed)
            && self.head_since.load(Ordering::Relaxed) == NONE
        {
            self.head_since.store(self.now(), Ordering::Relaxed);
        }
    }

    /// A request's head is complete and handed to the application; the
    /// connection counts as busy until the returned guard (kept by the
    /// response body) is dropped.
    fn request_started(self: &Arc<Self>, version: Version) -> Busy {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.served.store(true, Ordering::Relaxed);
        if version == Version::HTTP_2 {
            self.h2.store(true, Ordering::Relaxed);
        }
        self.head_since.store(NONE, Ordering::Relaxed);
        Busy(self.clone())
    }

    fn on_write(&self, pending: bool) {
        let since = self.write_blocked_since.load(Ordering::Relaxed);
        if pending && since == NONE {
            self.write_blocked_since
                .store(self.now(), Ordering::Relaxed);
        } else if !pending && since != NONE {
            self.write_blocked_since.store(NONE, Ordering::Relaxed);
        }
    }

    /// The next moment (milliseconds) at which the connection expires, and
    /// why, as things stand now; `None` while a request is being handled.
    fn deadline(&self, edge: &Edge) -> Option<(u64, Expired)> {
        let header = millis(edge.header_timeout);
        let idle = millis(edge.idle_timeout);
        let blocked = self.write_blocked_since.load(Ordering::Relaxed);
        if blocked != NONE {
            return Some((blocked.saturating_add(idle), Expired::Unread));
        }
        // Acquire: pairs with the release in `Busy::drop`, so that a count
        // of zero comes with the `idle_since` written before it.
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        if !self.served.load(Ordering::Relaxed) {
            return Some((header, Expired::Headers));
        }
        let head = self.head_since.load(Ordering::Relaxed);
        if head != NONE {
            return Some((head.saturating_add(header), Expired::Headers));
        }
        let since = self.idle_since.load(Ordering::Relaxed);
        Some((since.saturating_add(idle), Expired::Idle))
    }
}

/// A request in progress on a connection (see [`Activity::request_started`]).
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let a = &self.0;
        // The idle clock starts before the count reaches zero, so that the
        // connection task never sees "idle since" an older time.
        a.idle_since.store(a.now(), Ordering::Relaxed);
        a.in_flight.fetch_sub(1, Ordering::Release);
    }
}

/// One accepted connection and what it holds until it closes.
struct Conn {
    shared: Arc<Shared>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    router: Router,
    peer: SocketAddr,
    /// One of the peer address's share (none for a trusted proxy). Declared
    /// before the permit so that it is given back first: the accept loop may
    /// take the next connection from the same address as soon as the permit
    /// is free.
    _client_slot: Option<Slot>,
    /// One of `max_connections`.
    _permit: OwnedSemaphorePermit,
}

impl Conn {
    /// Serves the connection until it ends, expires or is drained.
    async fn run(self, stream: TcpStream, mut drain: watch::Receiver<bool>) {
        // No Nagle: a licence or key answer goes out at once. With Nagle, a small
        // write that follows another unacknowledged one (an interim
        // `100 Continue`, then the answer, as a packager's chunked POST gets)
        // waits for the peer's delayed ACK, ~40 ms on Linux.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Watched {
            inner: stream,
            activity: activity.clone(),
        });
        let service = Requests {
            shared: self.shared.clone(),
            router: self.router.clone(),
            peer: self.peer,
            activity: activity.clone(),
        };
        let edge = &self.shared.edge;
        let conn = self.builder.serve_connection(io, service);
        let mut conn = std::pin::pin!(conn);
        let mut draining = false;
        let mut goaway_at: Option<Instant> = None;
        loop {
            let now = Instant::now();
            // Bytes arriving on an idle connection move its deadline earlier
            // (header timeout < idle timeout): never sleep past that.
            let mut wake = now + edge.header_timeout.min(edge.idle_timeout);
            if draining {
                wake = now + DRAIN_TICK;
            }
            if let Some((at, _)) = activity.deadline(edge) {
                wake = wake.min(activity.epoch + Duration::from_millis(at));
            }
            if let Some(at) = goaway_at {
                wake = wake.min(at);
            }
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(peer = %self.peer, error = %e, "connection ended with an error");
                    }
                    return;
                }
                () = tokio::time::sleep_until(wake) => {}
                r = drain.changed(), if !draining => {
                    draining = true;
                    if r.is_err() || activity.in_flight.load(Ordering::Relaxed) == 0 {
                        return;
                    }
                    conn.as_mut().graceful_shutdown();
                    continue;
                }
            }
            if goaway_at.is_some_and(|at| Instant::now() >= at) {
                return;
            }
            if draining && activity.in_flight.load(Ordering::Relaxed) == 0 {
                return;
            }
            match activity.deadline(edge) {
                Some((at, why)) if activity.now() >= at => {
                    tracing::debug!(peer = %self.peer, reason = ?why, "closing a connection");
                    if why == Expired::Idle && goaway_at.is_none() {
                        // HTTP/1.1: closes at once; HTTP/2: GOAWAY first.
                        conn.as_mut().graceful_shutdown();
                        goaway_at = Some(Instant::now() + GOAWAY_GRACE);
                    } else if why != Expired::Idle {
                        return;
                    }
                }
                _ => {}
            }
        }
    }
}

/// The socket, reporting reads and blocked writes to the connection's
/// [`Activity`].
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.on_read();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.activity.on_write(r.is_pending());
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.activity.on_write(r.is_pending());
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The per-connection hyper service: connect info, fairness, body timeout,
/// then the router.
#[derive(Clone)]
struct Requests {
    shared: Arc<Shared>,
    router: Router,
    peer: SocketAddr,
    activity: Arc<Activity>,
}

type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<Response<Tracked>, Infallible>> + Send + 'static>>;

impl hyper::service::Service<Request<Incoming>> for Requests {
    type Response = Response<Tracked>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        let busy = self.activity.request_started(req.version());
        let edge = &self.shared.edge;
        // As `into_make_service_with_connect_info` did: handlers and the geo
        // rules read the socket peer from here.
        req.extensions_mut().insert(ConnectInfo(self.peer));
        if req.headers().len() > edge.max_headers {
            req.extensions_mut().insert(TooManyHeaders);
        }
        let forwarded: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let client = client_ip(Some(self.peer), &forwarded, &edge.trusted)
            .unwrap_or_else(|| canonical(self.peer.ip()));
        let slot = self.shared.requests.enter(client, edge.client_requests);
        if slot.is_none() {
            req.extensions_mut().insert(OverShare);
            if self.shared.over_share_log.due() {
                tracing::warn!(
                    client = %client,
                    limit = edge.client_requests,
                    "a client address has its share of requests in flight: refusing its further ones with 7506 (server.client_request_share_percent)"
                );
            }
        }
        let deadline = Instant::now() + edge.body_timeout;
        let req = req.map(|body| TimedBody {
            inner: body,
            deadline,
            timer: None,
        });
        let router = self.router.clone();
        Box::pin(async move {
            let resp = match router.oneshot(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            // The in-flight share covers the handler; the connection stays
            // busy until the response is written (see `Tracked`).
            drop(slot);
            Ok(resp.map(|body| Tracked {
                inner: body,
                _busy: busy,
            }))
        })
    }
}

/// A request body cut off with an error when it has not fully arrived by its
/// deadline. The timer is set only if the body has to be waited for.
struct TimedBody {
    inner: Incoming,
    deadline: Instant,
    timer: Option<Pin<Box<Sleep>>>,
}

/// The request body did not arrive within `server.body_timeout_ms`.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within the body timeout")]
struct BodyTimeout;

impl HttpBody for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(r) => return Poll::Ready(r.map(|f| f.map_err(Into::into))),
            Poll::Pending => {}
        }
        let deadline = this.deadline;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(BodyTimeout.into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that keeps its connection counted as busy until hyper has
/// written it (and dropped it).
struct Tracked {
    inner: axum::body::Body,
    _busy: Busy,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_round_up_and_never_reach_zero() {
        assert_eq!(share_of(1024, 25), 256);
        assert_eq!(share_of(10, 25), 3);
        assert_eq!(share_of(1, 1), 1);
        assert_eq!(share_of(0, 50), 1);
    }

    #[test]
    fn counts_cap_each_address_and_bound_their_memory() {
        let counts = Counts::new();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let one = counts.enter(a, 2).unwrap();
        let two = counts.enter(a, 2).unwrap();
        assert!(counts.enter(a, 2).is_none(), "a is at its share");
        let other = counts.enter(b, 2).unwrap();
        drop(one);
        let three = counts.enter(a, 2).unwrap();
        drop((two, three, other));
        // Zero counts stay until a shard grows past its bound…
        assert!(counts
            .shards
            .iter()
            .all(|s| s.lock().unwrap().values().all(|n| *n == 0)));
        // …then the empty ones are dropped.
        for i in 0..(SHARD_ENTRIES * 64) {
            let ip = IpAddr::from([10, (i >> 16) as u8, (i >> 8) as u8, i as u8]);
            drop(counts.enter(ip, 1));
        }
        let held = counts.enter(a, 2).unwrap();
        assert!(counts
            .shards
            .iter()
            .all(|s| s.lock().unwrap().len() <= SHARD_ENTRIES));
        drop(held);
    }

    #[test]
    fn rate_limited_log_fires_once_per_period() {
        let every = Every::new();
        assert!(every.due());
        assert!(!every.due());
    }

    fn edge() -> Edge {
        let mut config = Config::default();
        config.server.header_timeout_ms = 1_000;
        config.server.idle_timeout_ms = 5_000;
        Edge::new(&config)
    }

    #[test]
    fn deadlines_follow_the_connection_state() {
        let edge = edge();
        let a = Arc::new(Activity::new());
        // A new connection: its first request's headers are timed from accept.
        assert_eq!(a.deadline(&edge), Some((1_000, Expired::Headers)));
        let busy = a.request_started(Version::HTTP_11);
        assert_eq!(a.deadline(&edge), None, "no timeout while handled");
        a.on_read();
        assert_eq!(a.deadline(&edge), None, "body bytes are not a new head");
        drop(busy);
        let idle_since = a.idle_since.load(Ordering::Relaxed);
        assert_eq!(a.deadline(&edge), Some((idle_since + 5_000, Expired::Idle)));
        a.on_read();
        let head = a.head_since.load(Ordering::Relaxed);
        assert_eq!(a.deadline(&edge), Some((head + 1_000, Expired::Headers)));
        a.on_write(true);
        assert!(matches!(a.deadline(&edge), Some((_, Expired::Unread))));
        a.on_write(false);
        // HTTP/2: frames between requests are not a slow head.
        let h2 = Arc::new(Activity::new());
        drop(h2.request_started(Version::HTTP_2));
        h2.on_read();
        assert!(matches!(h2.deadline(&edge), Some((_, Expired::Idle))));
    }

    #[test]
    fn automatic_connection_cap_fits_the_open_files_limit() {
        let edge = Edge::new(&Config::default());
        assert!(edge.max_connections >= 1 && edge.max_connections <= DEFAULT_MAX_CONNECTIONS);
        if let Some(n) = open_files_limit() {
            assert!(edge.max_connections < n.max(2));
        }
        assert_eq!(edge.hyper_max_headers, 400);
    }
}
