//! Several `keyward serve` nodes on one real PostgreSQL and one real Redis,
//! both started by the test on free loopback ports with temporary data:
//! single use decided exactly once across nodes, one stream limit for all
//! nodes, an admin change on one node seen by another within 1 s, and Redis
//! and PostgreSQL killed and restarted under load with no 5xx but the
//! documented 503s and no audit row lost.
//!
//! Skipped (loudly) when PostgreSQL or Redis is not installed, unless
//! `KEYWARD_REQUIRE_POSTGRES=1` / `KEYWARD_REQUIRE_REDIS=1` (as
//! `scripts/test.sh` sets them).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

#[path = "../../store/tests/support/postgres_server.rs"]
mod postgres_server;
#[path = "support/proc.rs"]
mod proc;
#[path = "../../cluster/tests/support/redis_server.rs"]
mod redis_server;

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use postgres_server::PostgresServer;
use proc::{free_port, Proc};
use redis_server::RedisServer;

const KEK: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const TOKEN_KEY: &str = "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f";
const ADMIN: &str = "cluster-admin-token-0123456789";
const SK: &str = "lU5D8s3PWoLls3PWFWkClULlFWk5D8oC";
const AK: &str = "LT2FVJDp2Xr018zf4Di6lzvNOv3DKP20";
const SITE: &str = "TEST";
const CID: &str = "movie-1";
const KID: &str = "abba271e8bcf552bbd2e86a434a9a5d9";
const KEY: &str = "69eaa802a6763af979e8d1940fb88392";
/// `KID` in base64url, as a ClearKey licence request names it.
const KID_B64: &str = "q7onHovPVSu9LoakNKml2Q";

/// One multi-node test at a time: each runs two servers and up to three
/// nodes, and their timings (1 s coherence, lease expiry) should not depend on
/// what else the two cores are doing.
static SERIAL: Mutex<()> = Mutex::new(());

/// PostgreSQL + Redis, or `None` (skipped) when either is not installed.
struct Backends {
    _serial: std::sync::MutexGuard<'static, ()>,
    pg: PostgresServer,
    redis: RedisServer,
    db_url: String,
}

impl Backends {
    fn start(test: &str) -> Option<Backends> {
        let serial = SERIAL
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let pg = PostgresServer::start_or_skip(test)?;
        let redis = RedisServer::start()?;
        let db_url = pg.create_database(test);
        Some(Backends {
            _serial: serial,
            pg,
            redis,
            db_url,
        })
    }

    /// A `keyward` command against the shared store.
    fn keyward(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_keyward"));
        c.args(args)
            .env_remove("KEYWARD_KEK_FILE")
            .env_remove("KEYWARD_DATA_DIR")
            .env_remove("KEYWARD_LISTEN")
            .env_remove("KEYWARD_LOG")
            .env("KEYWARD_DATABASE_URL", &self.db_url)
            .env("KEYWARD_REDIS_URL", self.redis.url())
            .env("KEYWARD_KEK", KEK)
            .env("KEYWARD_TOKEN_KEY", TOKEN_KEY)
            .env("KEYWARD_LOG_FORMAT", "human");
        c
    }

    fn run_ok(&self, args: &[&str]) -> String {
        let o = self.keyward(args).stdin(Stdio::null()).output().unwrap();
        assert!(
            o.status.success(),
            "keyward {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    /// [`provision`] on the shared store.
    fn provision(&self) -> (String, String) {
        let dir = tempfile::tempdir().unwrap();
        provision(|args| self.run_ok(args), dir.path().to_str().unwrap())
    }

    /// A node on the shared store.
    fn node(&self, env: &[(&str, &str)]) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let mut cmd = self.keyward(&[
            "serve",
            "--listen",
            &addr.to_string(),
            "--data-dir",
            dir.path().to_str().unwrap(),
        ]);
        cmd.env("KEYWARD_ADMIN_TOKEN", ADMIN);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Node {
            proc: Proc::serve(cmd, Duration::from_secs(20)),
            addr,
            _dir: dir,
        }
    }

    /// A PallyCon ClearKey token of `user` with `policy` (JSON).
    fn pallycon_token(&self, user: &str, policy: &str) -> String {
        let mut child = self
            .keyward(&[
                "token",
                "issue",
                "--site-id",
                SITE,
                "--site-key",
                SK,
                "--access-key",
                AK,
                "--drm-type",
                "ClearKey",
                "--user-id",
                user,
                "--cid",
                CID,
                "--policy",
                "-",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(policy.as_bytes())
            .unwrap();
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap().trim().to_owned()
    }
}

/// The site and its key; a single-use Studio client and a 5-use one, with
/// `run` (a `keyward` run that must succeed, returning its stdout) on data
/// directory `d`. Returns their API keys.
fn provision(run: impl Fn(&[&str]) -> String, d: &str) -> (String, String) {
    run(&[
        "site",
        "add",
        "--data-dir",
        d,
        "--site-id",
        SITE,
        "--site-key",
        SK,
        "--access-key",
        AK,
    ]);
    run(&[
        "key",
        "add",
        "--data-dir",
        d,
        "--site-id",
        SITE,
        "--cid",
        CID,
        "--kid",
        KID,
        "--key",
        KEY,
    ]);
    let client = |name: &str, uses: &str| {
        let out = run(&[
            "client",
            "add",
            "--data-dir",
            d,
            "--name",
            name,
            "--site-id",
            SITE,
            "--max-uses",
            uses,
            "--ttl",
            "600",
        ]);
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        v["api_key"].as_str().unwrap().to_owned()
    };
    (client("once", "1"), client("five", "5"))
}

/// A running `keyward serve`.
struct Node {
    proc: Proc,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Node {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn log_text(&self) -> String {
        self.proc.log_text()
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

fn clearkey_request() -> String {
    format!(r#"{{"kids":["{KID_B64}"],"type":"temporary"}}"#)
}

/// (status, refusal code if any).
async fn answer(r: reqwest::Response) -> (u16, Option<String>) {
    let status = r.status().as_u16();
    let body = r.bytes().await.unwrap_or_default();
    let code = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            v.get("code")
                .or_else(|| v.get("errorCode"))
                .and_then(|c| c.as_str().map(str::to_owned))
        });
    (status, code)
}

async fn mint(c: &reqwest::Client, node: &Node, client: &str, api_key: &str) -> String {
    let r = c
        .post(node.url("/v2/token"))
        .header("x-api-key", api_key)
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"clientName":"{client}","policy":{{"content_id":"{CID}"}}}}"#
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap().trim().to_owned()
}

async fn studio_licence(c: &reqwest::Client, node: &Node, token: &str) -> (u16, Option<String>) {
    match c
        .post(node.url("/v1/license/clearkey"))
        .header("x-vudrm-token", token)
        .body(clearkey_request())
        .send()
        .await
    {
        Ok(r) => answer(r).await,
        Err(_) => (0, None),
    }
}

async fn pallycon_licence(c: &reqwest::Client, node: &Node, token: &str) -> (u16, Option<String>) {
    match c
        .post(node.url("/v1/license/clearkey"))
        .bearer_auth(token)
        .body(clearkey_request())
        .send()
        .await
    {
        Ok(r) => answer(r).await,
        Err(_) => (0, None),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_thousand_concurrent_redemptions_over_three_nodes_play_exactly_max_uses() {
    let Some(b) = Backends::start("cluster_single_use") else {
        return;
    };
    let (once, five) = b.provision();
    // One test client stands for a thousand players: lift the per-address
    // share of the in-flight limit (it would answer 7506 past 256).
    let env = [("KEYWARD_SERVER_CLIENT_REQUEST_SHARE_PERCENT", "100")];
    let nodes = [b.node(&env), b.node(&env), b.node(&env)];
    runtime().block_on(async {
        let c = http();
        for (client, key, max) in [
            ("once", &once, 1),
            ("once", &once, 1),
            ("once", &once, 1),
            ("five", &five, 5),
        ] {
            let token = mint(&c, &nodes[0], client, key).await;
            let mut tasks = Vec::new();
            for i in 0..1000 {
                let c = c.clone();
                let url = nodes[i % 3].url("/v1/license/clearkey");
                let token = token.clone();
                tasks.push(tokio::spawn(async move {
                    match c
                        .post(url)
                        .header("x-vudrm-token", token)
                        .body(clearkey_request())
                        .send()
                        .await
                    {
                        Ok(r) => answer(r).await,
                        Err(_) => (0, None),
                    }
                }));
            }
            let (mut ok, mut used, mut other) = (0, 0, Vec::new());
            for t in tasks {
                match t.await.unwrap() {
                    (200, None) => ok += 1,
                    (403, Some(code)) if code == "studio_token_used" => used += 1,
                    x => other.push(x),
                }
            }
            assert_eq!(other, Vec::new(), "{client}: unexpected answers");
            assert_eq!((ok, used), (max, 1000 - max), "{client}");
        }
    });
    for n in &nodes {
        assert!(!n.log_text().contains("panicked"), "{}", n.log_text());
    }
}

#[test]
fn one_stream_limit_for_every_node() {
    let Some(b) = Backends::start("cluster_streams") else {
        return;
    };
    b.provision();
    let env = [("KEYWARD_STREAMS_GRACE_SECS", "1")];
    let nodes = [b.node(&env), b.node(&env), b.node(&env)];
    let policy = r#"{"policy_version":2,"playback_policy":{"persistent":false,"max_stream_per_user":2,"renewal_duration":1}}"#;
    // Three playbacks of one user (tokens minted a second apart differ).
    let tokens: Vec<String> = (0..3)
        .map(|i| {
            if i > 0 {
                std::thread::sleep(Duration::from_millis(1001));
            }
            b.pallycon_token("alice", policy)
        })
        .collect();
    runtime().block_on(async {
        let c = http();
        assert_eq!(
            pallycon_licence(&c, &nodes[0], &tokens[0]).await,
            (200, None)
        );
        assert_eq!(
            pallycon_licence(&c, &nodes[1], &tokens[1]).await,
            (200, None)
        );
        let third = pallycon_licence(&c, &nodes[2], &tokens[2]).await;
        assert_eq!(third, (403, Some("stream_limit_reached".into())));
        // The first stops renewing; the second keeps renewing (every 0.5 s,
        // on another node each time). Within interval + grace (2 s) and a
        // little, the third plays.
        let t0 = Instant::now();
        let mut played = None;
        while t0.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let renew_on = &nodes[(t0.elapsed().as_millis() as usize / 500) % 3];
            assert_eq!(
                pallycon_licence(&c, renew_on, &tokens[1]).await,
                (200, None)
            );
            if pallycon_licence(&c, &nodes[2], &tokens[2]).await == (200, None) {
                played = Some(t0.elapsed());
                break;
            }
        }
        let played = played.expect("the third playback never started");
        assert!(
            played >= Duration::from_millis(1400),
            "the first slot freed too early: {played:?}"
        );
        // Now the first is refused: two streams play.
        assert_eq!(
            pallycon_licence(&c, &nodes[0], &tokens[0]).await,
            (403, Some("stream_limit_reached".into()))
        );
    });
}

#[test]
fn a_key_added_on_one_node_is_used_by_another_within_a_second() {
    let Some(b) = Backends::start("cluster_coherence") else {
        return;
    };
    b.provision();
    // Long cache TTL: only the invalidation message can make node B see it.
    let env = [("KEYWARD_CACHE_TTL_MS", "60000")];
    let (a, bn) = (b.node(&env), b.node(&env));
    let token = b.pallycon_token(
        "bob",
        r#"{"policy_version":2,"playback_policy":{"persistent":false}}"#,
    );
    runtime().block_on(async {
        let c = http();
        // B has the content's keys cached.
        assert_eq!(pallycon_licence(&c, &bn, &token).await, (200, None));
        // A replaces the content's key through its admin API.
        let new_key = "00112233445566778899aabbccddeeff";
        let r = c
            .post(a.url(&format!("/v1/admin/sites/{SITE}/keys")))
            .bearer_auth(ADMIN)
            .header("content-type", "application/json")
            .body(format!(
                r#"{{"cid":"{CID}","kid":"{KID}","key":"{new_key}","replace":true}}"#
            ))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        let t0 = Instant::now();
        let want = base64url(&hex_bytes(new_key));
        loop {
            let r = c
                .post(bn.url("/v1/license/clearkey"))
                .bearer_auth(&token)
                .body(clearkey_request())
                .send()
                .await
                .unwrap();
            let body = r.text().await.unwrap();
            if body.contains(&want) {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(1),
                "node B still answers the old key after 1 s: {body}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // And the readiness probe names both backends.
        let r = c.get(bn.url("/readyz")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), "ready (store ok, redis ok)");
    });
}

fn hex_bytes(h: &str) -> Vec<u8> {
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
        .collect()
}

fn base64url(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Counts of one load phase.
#[derive(Default, Debug)]
struct Tally {
    ok: AtomicUsize,
    documented_503: AtomicUsize,
    other_refusal: AtomicUsize,
    bad_5xx: AtomicUsize,
    studio_answered: AtomicUsize,
}

#[test]
fn redis_then_postgres_killed_under_load_lose_nothing() {
    let Some(mut b) = Backends::start("cluster_faults") else {
        return;
    };
    let (_, five) = b.provision();
    let nodes = Arc::new([b.node(&[]), b.node(&[])]);
    let pallycon = b.pallycon_token(
        "carol",
        r#"{"policy_version":2,"playback_policy":{"persistent":false}}"#,
    );
    let rt = runtime();
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Bounded load: 4 workers, each a PallyCon licence (cached site and key)
    // and a Studio licence (single use through Redis, audited in PostgreSQL).
    let load = {
        let (tally, stop, nodes) = (tally.clone(), stop.clone(), nodes.clone());
        let five = five.clone();
        let pallycon = pallycon.clone();
        rt.spawn(async move {
            let c = http();
            let mut workers = Vec::new();
            for w in 0..4 {
                let (c, tally, stop, nodes) =
                    (c.clone(), tally.clone(), stop.clone(), nodes.clone());
                let (five, pallycon) = (five.clone(), pallycon.clone());
                workers.push(tokio::spawn(async move {
                    let mut token: Option<String> = None;
                    let mut i = w;
                    while !stop.load(Ordering::Relaxed) {
                        i += 1;
                        let node = &nodes[i % 2];
                        let count = |(status, code): (u16, Option<String>)| match status {
                            200 => {
                                tally.ok.fetch_add(1, Ordering::Relaxed);
                            }
                            503 if matches!(
                                code.as_deref(),
                                Some("single_use_unavailable" | "2001")
                            ) =>
                            {
                                tally.documented_503.fetch_add(1, Ordering::Relaxed);
                            }
                            s if s >= 500 || s == 0 => {
                                tally.bad_5xx.fetch_add(1, Ordering::Relaxed);
                                eprintln!("bad answer: {s} {code:?}");
                            }
                            _ => {
                                tally.other_refusal.fetch_add(1, Ordering::Relaxed);
                            }
                        };
                        count(pallycon_licence(&c, node, &pallycon).await);
                        // A Studio token good for 5 licences; a new one when used up.
                        if token.is_none() {
                            let r = c
                                .post(node.url("/v2/token"))
                                .header("x-api-key", &five)
                                .header("content-type", "application/json")
                                .body(format!(
                                    r#"{{"clientName":"five","policy":{{"content_id":"{CID}"}}}}"#
                                ))
                                .send()
                                .await;
                            if let Ok(r) = r {
                                if r.status() == 200 {
                                    token = r.text().await.ok().map(|t| t.trim().to_owned());
                                }
                            }
                        }
                        if let Some(t) = &token {
                            let a = studio_licence(&c, node, t).await;
                            if a.0 != 0 {
                                tally.studio_answered.fetch_add(1, Ordering::Relaxed);
                            }
                            if a.1.as_deref() == Some("studio_token_used")
                                || a.1.as_deref() == Some("studio_token_unverifiable")
                            {
                                token = None;
                            }
                            count(a);
                        }
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }));
            }
            for w in workers {
                w.await.unwrap();
            }
        })
    };
    let c = http();
    let probe = |path: &'static str| {
        let c = c.clone();
        let nodes = nodes.clone();
        async move {
            let t0 = Instant::now();
            loop {
                let r = c.get(nodes[0].url(path)).send().await;
                if matches!(&r, Ok(r) if r.status() == 200) {
                    return t0.elapsed();
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    std::thread::sleep(Duration::from_secs(2));
    // Redis down for 2 s.
    b.redis.kill();
    std::thread::sleep(Duration::from_secs(2));
    let during_redis = tally.documented_503.load(Ordering::Relaxed);
    b.redis.restart();
    let redis_recovery = rt.block_on(probe("/readyz"));
    std::thread::sleep(Duration::from_secs(2));
    // PostgreSQL down for 2 s.
    b.pg.kill();
    std::thread::sleep(Duration::from_secs(2));
    let ok_before_pg_back = tally.ok.load(Ordering::Relaxed);
    b.pg.start();
    let pg_recovery = rt.block_on(probe("/readyz"));
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    rt.block_on(load).unwrap();
    eprintln!(
        "faults: {tally:?}; recovery after restart: redis {redis_recovery:?}, postgres {pg_recovery:?}"
    );
    assert_eq!(tally.bad_5xx.load(Ordering::Relaxed), 0, "{tally:?}");
    assert!(
        during_redis > 0,
        "no single-use refusal while Redis was down: {tally:?}"
    );
    assert!(ok_before_pg_back > 0);
    assert!(
        redis_recovery < Duration::from_secs(2),
        "{redis_recovery:?}"
    );
    assert!(pg_recovery < Duration::from_secs(2), "{pg_recovery:?}");
    // Every Studio licence answered was audited (granted or refused), none lost.
    let answered = tally.studio_answered.load(Ordering::Relaxed);
    let rows = rt.block_on(async {
        let t0 = Instant::now();
        loop {
            let n = count_licence_rows(&c, &nodes[1]).await;
            if n >= answered || t0.elapsed() > Duration::from_secs(10) {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    assert_eq!(rows, answered, "audit rows vs Studio licences answered");
}

/// Licence rows in the audit trail (every page).
async fn count_licence_rows(c: &reqwest::Client, node: &Node) -> usize {
    let mut n = 0;
    let mut before: Option<i64> = None;
    loop {
        let mut url = node.url("/v1/admin/audit?kind=license&limit=1000");
        if let Some(b) = before {
            url.push_str(&format!("&before={b}"));
        }
        let r = c.get(url).bearer_auth(ADMIN).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        n += v["records"].as_array().unwrap().len();
        match v["next"].as_i64() {
            Some(next) => before = Some(next),
            None => return n,
        }
    }
}

#[test]
fn a_client_address_rate_limit_is_the_clusters() {
    let Some(b) = Backends::start("cluster_rate_limit") else {
        return;
    };
    b.provision();
    let env = [
        ("KEYWARD_RATE_LIMITS_CLIENT_PER_SECOND", "1"),
        ("KEYWARD_RATE_LIMITS_CLIENT_BURST", "4"),
    ];
    let nodes = [b.node(&env), b.node(&env)];
    let token = b.pallycon_token(
        "dave",
        r#"{"policy_version":2,"playback_policy":{"persistent":false}}"#,
    );
    runtime().block_on(async {
        let c = http();
        // Four at once, two on each node: one bucket for both.
        for i in 0..4 {
            assert_eq!(
                pallycon_licence(&c, &nodes[i % 2], &token).await,
                (200, None),
                "request {i}"
            );
        }
        for n in &nodes {
            assert_eq!(
                pallycon_licence(&c, n, &token).await,
                (429, Some("rate_limited".into()))
            );
        }
    });
}

#[test]
fn an_embedded_store_copied_to_postgres_serves_the_same_licences() {
    let Some(b) = Backends::start("cluster_store_copy") else {
        return;
    };
    // An embedded deployment: site, key, a Studio client, in a data directory
    // (its own generated KEK: the copy finds it beside the store).
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let embedded = |args: &[&str]| {
        let o = b
            .keyward(args)
            .env_remove("KEYWARD_DATABASE_URL")
            .env_remove("KEYWARD_REDIS_URL")
            .env_remove("KEYWARD_KEK")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    };
    let (api_key, _) = provision(embedded, d);
    let token = b.pallycon_token(
        "erin",
        r#"{"policy_version":2,"playback_policy":{"persistent":false}}"#,
    );
    let want = format!(
        r#"{{"keys":[{{"kty":"oct","kid":"{KID_B64}","k":"{}"}}],"type":"temporary"}}"#,
        base64url(&hex_bytes(KEY))
    );
    // Copy it (the KEK from the data directory) to the migrated database.
    b.run_ok(&["migrate", "--database-url", &b.db_url]);
    let o = b
        .keyward(&["store", "copy", "--from", d, "--to", &b.db_url])
        .env_remove("KEYWARD_KEK")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // A node on the copy, with the data directory's KEK.
    let kek = std::fs::read_to_string(dir.path().join("kek")).unwrap();
    let kek = kek.trim();
    let node = b.node(&[("KEYWARD_KEK", kek)]);
    runtime().block_on(async {
        let c = http();
        let r = c
            .post(node.url("/v1/license/clearkey"))
            .bearer_auth(&token)
            .body(clearkey_request())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), want);
        // The Studio client and its API key came along.
        let t = mint(&c, &node, "once", &api_key).await;
        assert_eq!(studio_licence(&c, &node, &t).await, (200, None));
        assert_eq!(
            studio_licence(&c, &node, &t).await,
            (403, Some("studio_token_used".into()))
        );
    });
}

#[test]
fn a_node_killed_loses_no_decision_it_acknowledged() {
    let Some(b) = Backends::start("cluster_sigkill") else {
        return;
    };
    let (_, five) = b.provision();
    let mut a = b.node(&[]);
    let other = b.node(&[]);
    let rt = runtime();
    for round in 0..3 {
        let c = http();
        let token = rt.block_on(mint(&c, &other, "five", &five));
        // Three of the five uses on node A, acknowledged to the player…
        for i in 0..3 {
            assert_eq!(
                rt.block_on(studio_licence(&c, &a, &token)),
                (200, None),
                "round {round}, use {i}"
            );
        }
        // …then A dies without a chance to write anything.
        a.proc.child.kill().unwrap();
        a.proc.child.wait().unwrap();
        // The other node knows them: exactly two more plays.
        let mut ok = 0;
        for _ in 0..5 {
            match rt.block_on(studio_licence(&c, &other, &token)) {
                (200, None) => ok += 1,
                (403, Some(code)) => assert_eq!(code, "studio_token_used"),
                x => panic!("round {round}: {x:?}"),
            }
        }
        assert_eq!(ok, 2, "round {round}");
        // A restarted node needs no fence: its own new tokens play at once.
        a = b.node(&[]);
        let fresh = rt.block_on(mint(&c, &a, "five", &five));
        assert_eq!(rt.block_on(studio_licence(&c, &a, &fresh)), (200, None));
    }
}
