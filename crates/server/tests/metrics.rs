//! `GET /metrics`: exact counts of licences and refusals by door, DRM, site
//! and code; per-stage timing; bounded labels (a thousand made-up site ids
//! add one series at most); upstream calls and breakers; single-use and
//! stream decisions; FairPlay certificate expiry; the `[metrics]` settings;
//! and the Grafana dashboard's PromQL naming only series keyward exports.
//! (A real Prometheus scrapes `keyward serve` in
//! `crates/cli/tests/metrics_prometheus.rs`.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failure is a test failure"
)]

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode};
use axum::routing::post;
use axum::Router;
use common::*;
use keyward_server::config::Overrides;
use keyward_server::Config;
use keyward_store::{FairPlayStore as _, SiteId};
use keyward_token::{DrmType, Policy};
use serde_json::{json, Value};
use sha1::Digest as _;

const RI_CK: &str = "/ri/clearkey/licenseManager.do";
const WV: &str = "/v1/license/widevine";

/// One sample: name, labels, value.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the text exposition (the subset keyward writes: no timestamps).
fn parse(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("value in {line}"));
        let (name, labels) = match series.split_once('{') {
            None => (series.to_owned(), BTreeMap::new()),
            Some((n, rest)) => {
                let body = rest.strip_suffix('}').unwrap();
                let mut labels = BTreeMap::new();
                let mut chars = body.chars().peekable();
                while chars.peek().is_some() {
                    let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
                    assert_eq!(chars.next(), Some('"'), "{line}");
                    let mut val = String::new();
                    while let Some(c) = chars.next() {
                        match c {
                            '\\' => val.push(chars.next().unwrap()),
                            '"' => break,
                            c => val.push(c),
                        }
                    }
                    if chars.peek() == Some(&',') {
                        chars.next();
                    }
                    labels.insert(key, val);
                }
                (n.to_owned(), labels)
            }
        };
        out.push(Sample {
            name,
            labels,
            value,
        });
    }
    out
}

async fn scrape(app: &TestApp) -> String {
    let a = app.get("/metrics", None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(
        a.content_type(),
        "text/plain; version=0.0.4; charset=utf-8",
        "Prometheus text format"
    );
    a.text()
}

/// The value of the one sample of `name` whose labels include `want`
/// (0 when there is none; a panic when several match).
fn value(samples: &[Sample], name: &str, want: &[(&str, &str)]) -> f64 {
    let hits: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            want.iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect();
    assert!(hits.len() <= 1, "{name} {want:?} matches {hits:#?}");
    hits.first().map_or(0.0, |s| s.value)
}

/// Sum over every sample of `name` whose labels include `want`.
fn sum(samples: &[Sample], name: &str, want: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            want.iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

fn licence_series(samples: &[Sample]) -> usize {
    samples
        .iter()
        .filter(|s| s.name == "keyward_licences_total")
        .count()
}

#[tokio::test]
async fn licences_and_refusals_are_counted_exactly_by_door_drm_site_and_code() {
    let app = app().await;
    let body = ck_request(&[KID_ALL], "temporary");
    let tok = ck_token(CID);
    for _ in 0..3 {
        let a = app.post(RI_CK, Some(&tok), body.clone()).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    }
    // No credential at all: refused by the front door, site unknown.
    for _ in 0..2 {
        app.post(RI_CK, None, body.clone())
            .await
            .assert_pallycon(StatusCode::OK, "7010");
    }
    // A verified token whose content has no key: refused by the back door.
    let a = app
        .post(RI_CK, Some(&ck_token(CID_EMPTY)), body.clone())
        .await;
    let empty_code = a.json()["errorCode"].as_str().unwrap().to_owned();
    // Right site, wrong content id in the request: refused by the gatekeeper.
    app.post("/v1/license/clearkey?cid=other", Some(&tok), body.clone())
        .await
        .assert_problem(StatusCode::FORBIDDEN, "7012");

    let s = parse(&scrape(&app).await);
    let granted = [
        ("front_door", "pallycon"),
        ("drm", "ClearKey"),
        ("back_door", "clearkey"),
        ("site", SITE),
        ("outcome", "granted"),
        ("code", "ok"),
    ];
    assert_eq!(value(&s, "keyward_licences_total", &granted), 3.0);
    let missing = [
        ("front_door", "none"),
        ("drm", "ClearKey"),
        ("back_door", "none"),
        ("site", "unknown"),
        ("outcome", "refused"),
        ("code", "7010"),
    ];
    assert_eq!(value(&s, "keyward_licences_total", &missing), 2.0);
    assert_eq!(
        value(
            &s,
            "keyward_licences_total",
            &[
                ("back_door", "clearkey"),
                ("site", SITE),
                ("code", &empty_code)
            ]
        ),
        1.0
    );
    assert_eq!(
        value(
            &s,
            "keyward_licences_total",
            &[("back_door", "none"), ("site", SITE), ("code", "7012")]
        ),
        1.0
    );
    assert_eq!(licence_series(&s), 4, "one series per distinct outcome");
    assert_eq!(sum(&s, "keyward_licences_total", &[]), 7.0);

    // Time per stage: every request with a credential was timed at the front
    // door, the verified ones at the gatekeeper, those admitted at the back
    // door; the whole pipeline for every request.
    let stage = |st: &str| {
        value(
            &s,
            "keyward_stage_duration_seconds_count",
            &[("stage", st), ("drm", "ClearKey")],
        )
    };
    assert_eq!(stage("front_door"), 5.0);
    assert_eq!(stage("gatekeeper"), 5.0);
    assert_eq!(stage("back_door"), 4.0);
    // Sub-millisecond buckets exist, and the +Inf bucket holds every request.
    let le = |st: &str, le: &str| {
        value(
            &s,
            "keyward_stage_duration_seconds_bucket",
            &[("stage", st), ("drm", "ClearKey"), ("le", le)],
        )
    };
    assert_eq!(le("front_door", "+Inf"), 5.0);
    let les: Vec<f64> = s
        .iter()
        .filter(|x| x.name == "keyward_stage_duration_seconds_bucket")
        .filter_map(|x| x.labels.get("le")?.parse().ok())
        .collect();
    for b in [0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001] {
        assert!(les.contains(&b), "bucket {b} in {les:?}");
    }
    assert_eq!(
        value(
            &s,
            "keyward_licence_duration_seconds_count",
            &[("drm", "ClearKey"), ("outcome", "granted")]
        ),
        3.0
    );
    assert_eq!(
        value(
            &s,
            "keyward_licence_duration_seconds_count",
            &[("drm", "ClearKey"), ("outcome", "refused")]
        ),
        4.0
    );
    // Caches: the site and its keys were looked up, mostly found.
    let hits = value(
        &s,
        "keyward_cache_lookups_total",
        &[("cache", "sites"), ("result", "hit")],
    );
    let misses = value(
        &s,
        "keyward_cache_lookups_total",
        &[("cache", "sites"), ("result", "miss")],
    );
    assert!(
        misses >= 1.0 && hits >= 3.0,
        "sites: {hits} hits {misses} misses"
    );
    assert!(
        value(
            &s,
            "keyward_cache_lookups_total",
            &[("cache", "keys"), ("result", "hit")]
        ) >= 2.0
    );
    // Build info.
    let info = s
        .iter()
        .find(|x| x.name == "keyward_build_info")
        .expect("build info");
    assert_eq!(info.labels["version"], env!("CARGO_PKG_VERSION"));
    assert!(!info.labels["git_sha"].is_empty());
    assert_eq!(info.value, 1.0);
    assert!(value(&s, "keyward_start_time_seconds", &[]) > 1.6e9);
    assert_eq!(value(&s, "keyward_audit_queue_depth", &[]), 0.0);
}

#[tokio::test]
async fn a_thousand_made_up_site_ids_add_at_most_one_series() {
    let app = app().await;
    let body = ck_request(&[KID_ALL], "temporary");
    let tok = ck_token(CID);
    assert_eq!(
        app.post(RI_CK, Some(&tok), body.clone()).await.status,
        StatusCode::OK
    );
    let bogus = |i: usize| {
        let l = |n: usize| char::from(b'A' + u8::try_from(n % 26).unwrap());
        format!("Q{}{}{}", l(i / 676), l(i / 26), l(i))
    };
    // The first one, so that the series it makes (and its histograms) exist.
    let send = |i: usize| {
        let site = bogus(i);
        let tok = ck_token_site(&site, CID);
        let body = body.clone();
        let app = &app;
        async move {
            let a = app.post(RI_CK, Some(&tok), body.clone()).await;
            let code = a.json()["errorCode"].as_str().unwrap().to_owned();
            // And the made-up site in the path of a native request.
            let b = app
                .get(&format!("/v1/hls-key/{site}/{CID}"), Some(&tok))
                .await;
            assert_ne!(b.status, StatusCode::OK);
            code
        }
    };
    let before = parse(&scrape(&app).await);
    let code = send(0).await;
    let after_one = parse(&scrape(&app).await);
    for i in 1..1000 {
        assert_eq!(send(i).await, code);
    }
    let after = parse(&scrape(&app).await);
    assert!(
        licence_series(&after) <= licence_series(&before) + 2,
        "the PallyCon and the HLS-key refusals may each add one series"
    );
    assert_eq!(
        after.len(),
        after_one.len(),
        "999 more made-up sites added series"
    );
    let unknown = sum(
        &after,
        "keyward_licences_total",
        &[("site", "unknown"), ("outcome", "refused")],
    );
    assert_eq!(unknown, 2000.0);
    // No label value anywhere names one of the made-up sites.
    for s in &after {
        for v in s.labels.values() {
            assert!(
                !(v.len() == 4 && v.starts_with('Q')),
                "label value {v} in {s:?}"
            );
        }
    }
    let sites: BTreeSet<&str> = after
        .iter()
        .filter_map(|s| s.labels.get("site").map(String::as_str))
        .collect();
    assert_eq!(sites, BTreeSet::from([SITE, "unknown"]));
}

#[tokio::test]
async fn disabled_metrics_are_neither_served_nor_collected() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.metrics.enabled = false;
    let app = app_with(dir, cfg).await;
    let a = app
        .post(
            RI_CK,
            Some(&ck_token(CID)),
            ck_request(&[KID_ALL], "temporary"),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    app.get("/metrics", None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");

    // With a listener of its own, the main router has no /metrics either.
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.metrics.listen = Some("127.0.0.1:9464".parse().unwrap());
    let app = app_with(dir, cfg).await;
    app.get("/metrics", None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
}

#[test]
fn metrics_settings_in_layers() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("k.toml");
    let load = |file: Option<&std::path::Path>, env: &[(&str, &str)]| {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::load(file, &env, &Overrides::default())
    };
    let c = load(None, &[]).unwrap();
    assert!(c.metrics.enabled && c.metrics.listen.is_none());
    assert!(c.metrics.on_main_listener());

    std::fs::write(
        &file,
        "[metrics]\nenabled = true\nlisten = \"127.0.0.1:9464\"\n",
    )
    .unwrap();
    let c = load(Some(&file), &[]).unwrap();
    assert_eq!(c.metrics.listen, Some("127.0.0.1:9464".parse().unwrap()));
    assert!(!c.metrics.on_main_listener());
    let c = load(
        Some(&file),
        &[
            ("KEYWARD_METRICS_LISTEN", "127.0.0.1:9999"),
            ("KEYWARD_METRICS_ENABLED", "false"),
        ],
    )
    .unwrap();
    assert_eq!(c.metrics.listen.unwrap().port(), 9999, "env beats file");
    assert!(!c.metrics.enabled && !c.metrics.on_main_listener());

    for (env, key, word) in [
        (
            &[("KEYWARD_METRICS_ENABLED", "maybe")][..],
            "KEYWARD_METRICS_ENABLED",
            "true or false",
        ),
        (
            &[("KEYWARD_METRICS_LISTEN", "9464")][..],
            "KEYWARD_METRICS_LISTEN",
            "not an address",
        ),
        (
            &[("KEYWARD_METRICS_LISTEN", "127.0.0.1:8080")][..],
            "metrics.listen",
            "main listen address",
        ),
    ] {
        let e = load(None, env).unwrap_err();
        assert_eq!(e.key, key, "{e}");
        assert!(e.message.contains(word), "{e}");
    }
    std::fs::write(&file, "[metrics]\nport = 9464\n").unwrap();
    let e = load(Some(&file), &[]).unwrap_err();
    assert!(e.to_string().contains("port"), "{e}");
    std::fs::write(&file, "[metrics]\nlisten = \"localhost\"\n").unwrap();
    assert_eq!(load(Some(&file), &[]).unwrap_err().key, "metrics.listen");
    // The commented example documents the defaults.
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../keyward.example.toml");
    let c = load(Some(&example), &[]).unwrap();
    assert!(c.metrics.on_main_listener());
    assert!(std::fs::read_to_string(&example)
        .unwrap()
        .contains("[metrics]"));
}

/// A licence upstream on loopback: `/down` answers 503 without a body (a
/// failure: keyward fails over), `/up` answers a licence; `/session` is a
/// Studio session webhook that allows.
async fn upstream() -> (String, Arc<Mutex<usize>>) {
    let calls = Arc::new(Mutex::new(0));
    let c = calls.clone();
    let app = Router::new()
        .route(
            "/down",
            post(|| async { (StatusCode::SERVICE_UNAVAILABLE, "") }),
        )
        .route("/session", axum::routing::get(|| async { "ok" }))
        .route(
            "/up",
            post(move |_b: Bytes| {
                let c = c.clone();
                async move {
                    *c.lock().unwrap() += 1;
                    (
                        [("content-type", "application/octet-stream")],
                        vec![0x08u8, 0x02, 0xAA],
                    )
                }
            }),
        );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (format!("http://{addr}"), calls)
}

async fn admin(app: &TestApp, method: &str, uri: &str, body: Value) -> Answer {
    app.send(
        Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn upstream_calls_breakers_and_stream_decisions() {
    let app = app().await;
    let (base, calls) = upstream().await;
    for name in ["down", "up"] {
        let a = admin(
            &app,
            "POST",
            &format!("/v1/admin/sites/{SITE}/upstreams"),
            json!({"name": name, "drm": "Widevine", "kind": "http-forward",
                "url": format!("{base}/{name}"), "settings": {"breaker_failures": 5}}),
        )
        .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    }
    let p = Policy::from_json(
        br#"{"policy_version":2,"playback_policy":{"persistent":false,"max_stream_per_user":2}}"#,
    )
    .unwrap();
    let tok = token(DrmType::Widevine, CID, &p);
    let a = app
        .post(WV, Some(&tok), widevine_license_request(KID_ALL))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(*calls.lock().unwrap(), 1);

    let s = parse(&scrape(&app).await);
    let up = |route: &str, status: &str| {
        value(
            &s,
            "keyward_upstream_requests_total",
            &[
                ("site", SITE),
                ("route", route),
                ("kind", "http-forward"),
                ("drm", "Widevine"),
                ("status", status),
            ],
        )
    };
    assert_eq!(up("down", "503"), 1.0);
    assert_eq!(up("up", "200"), 1.0);
    for route in ["down", "up"] {
        assert_eq!(
            value(
                &s,
                "keyward_upstream_duration_seconds_count",
                &[("site", SITE), ("route", route)]
            ),
            1.0
        );
    }
    assert_eq!(
        value(
            &s,
            "keyward_stage_duration_seconds_count",
            &[("stage", "upstream"), ("drm", "Widevine")]
        ),
        2.0
    );
    let breaker = |name: &str, route: &str| {
        value(
            &s,
            name,
            &[("kind", "upstream"), ("site", SITE), ("route", route)],
        )
    };
    assert_eq!(breaker("keyward_breaker_consecutive_failures", "down"), 1.0);
    assert_eq!(breaker("keyward_breaker_open", "down"), 0.0);
    assert_eq!(breaker("keyward_breaker_consecutive_failures", "up"), 0.0);
    assert_eq!(
        value(
            &s,
            "keyward_stream_decisions_total",
            &[("result", "admitted")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &s,
            "keyward_licences_total",
            &[("back_door", "widevine"), ("site", SITE), ("code", "ok")]
        ),
        1.0
    );

    // Four more failures open the breaker of `down` (5 in a row).
    for _ in 0..4 {
        let a = app
            .post(WV, Some(&tok), widevine_license_request(KID_ALL))
            .await;
        assert_eq!(a.status, StatusCode::OK);
    }
    let s = parse(&scrape(&app).await);
    assert_eq!(
        value(
            &s,
            "keyward_breaker_open",
            &[("kind", "upstream"), ("site", SITE), ("route", "down")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &s,
            "keyward_breaker_consecutive_failures",
            &[("kind", "upstream"), ("site", SITE), ("route", "down")]
        ),
        5.0
    );
    // The next call fails fast without reaching the route.
    let a = app
        .post(WV, Some(&tok), widevine_license_request(KID_ALL))
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let s = parse(&scrape(&app).await);
    assert_eq!(
        value(
            &s,
            "keyward_upstream_requests_total",
            &[("route", "down"), ("status", "circuit_open")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &s,
            "keyward_upstream_requests_total",
            &[("route", "up"), ("status", "200")]
        ),
        6.0
    );
}

/// A Studio client `acme` on the TEST site; its API key.
async fn studio_client(app: &TestApp) -> String {
    let a = admin(
        app,
        "POST",
        "/v1/admin/clients",
        json!({"name": "acme", "site_id": SITE, "settings": {}}),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    a.json()["api_key"].as_str().unwrap().to_owned()
}

/// A Studio token (single use) with `policy`.
async fn studio_token(app: &TestApp, key: &str, policy: Value) -> String {
    let m = app
        .send(
            Request::post("/v2/token")
                .header("x-api-key", key)
                .header("content-type", "application/json")
                .body(Body::from(
                    json!({"clientName": "acme", "policy": policy}).to_string(),
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(m.status, StatusCode::OK, "{}", m.text());
    m.text()
}

/// A ClearKey licence request with a Studio token.
async fn studio_licence(app: &TestApp, tok: &str) -> Answer {
    app.send(
        Request::post("/v1/license/clearkey")
            .header("x-vudrm-token", tok)
            .body(Body::from(ck_request(&[KID_ALL], "temporary")))
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn single_use_decisions_are_counted() {
    let app = app().await;
    let key = studio_client(&app).await;
    let tok = studio_token(&app, &key, json!({"content_id": CID})).await;
    assert_eq!(studio_licence(&app, &tok).await.status, StatusCode::OK);
    let second = studio_licence(&app, &tok).await;
    assert_ne!(second.status, StatusCode::OK);
    let code = second.json()["code"].as_str().unwrap().to_owned();
    let s = parse(&scrape(&app).await);
    let replay = |r: &str| sum(&s, "keyward_replay_decisions_total", &[("result", r)]);
    assert_eq!(replay("accepted"), 1.0);
    assert_eq!(replay("replayed"), 1.0);
    assert_eq!(
        value(
            &s,
            "keyward_licences_total",
            &[("front_door", "studio"), ("site", SITE), ("code", &code)]
        ),
        1.0
    );
}

/// Stores Apple's development FairPlay credential for the TEST site; its
/// certificate hash (hex) and notAfter.
async fn add_fairplay(app: &TestApp) -> (String, i64) {
    let fix = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/fixtures/fairplay-ksm/Development Credentials"
    );
    let cert = std::fs::read(format!("{fix}/dev_certificate.der")).unwrap();
    let key = std::fs::read(format!("{fix}/dev_private_key.pem")).unwrap();
    let new = keyward_server::prepare_fairplay_credential(
        SiteId::parse(SITE).unwrap(),
        &cert,
        &key,
        None,
        b"d87ce7a26081de2e8eb8acef3a6dc179",
        Some("dev".into()),
    )
    .unwrap();
    let hash = hex::encode(sha1::Sha1::digest(&new.cert_der));
    app.store.add_fairplay_credential(new).await.unwrap();
    let not_after = keyward_drm::fairplay::FpsCertificate::parse(&cert)
        .unwrap()
        .not_after;
    (hash, not_after)
}

#[tokio::test]
async fn fairplay_certificate_expiry_is_a_gauge() {
    let app = app().await;
    let (hash, want) = add_fairplay(&app).await;
    let s = parse(&scrape(&app).await);
    let got = value(
        &s,
        "keyward_fairplay_certificate_not_after_seconds",
        &[("site", SITE), ("cert", &hash)],
    );
    assert_eq!(got, want as f64);
}

/// Every metric name the Grafana dashboard's PromQL uses is one keyward
/// exports (a sample name, or a family's name).
#[tokio::test]
async fn the_grafana_dashboard_uses_only_exported_metrics() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/grafana/keyward.json"
    );
    let dash: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut exprs = Vec::new();
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("expr" | "query", Value::String(s)) => out.push(s.clone()),
                        _ => walk(v, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(&dash, &mut exprs);
    assert!(exprs.len() >= 8, "panels with queries: {exprs:?}");
    assert!(dash["panels"].as_array().is_some_and(|p| p.len() >= 6));

    // A series exists once used: use every kind.
    let app = app().await;
    let body = ck_request(&[KID_ALL], "temporary");
    app.post(RI_CK, Some(&ck_token(CID)), body.clone()).await;
    app.post(RI_CK, None, body).await;
    let (base, _) = upstream().await;
    admin(
        &app,
        "POST",
        &format!("/v1/admin/sites/{SITE}/upstreams"),
        json!({"name": "up", "drm": "Widevine", "kind": "http-forward", "url": format!("{base}/up")}),
    )
    .await;
    let p = Policy::from_json(
        br#"{"policy_version":2,"playback_policy":{"persistent":false,"max_stream_per_user":1}}"#,
    )
    .unwrap();
    let a = app
        .post(
            WV,
            Some(&token(DrmType::Widevine, CID, &p)),
            widevine_license_request(KID_ALL),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let key = studio_client(&app).await;
    let tok = studio_token(
        &app,
        &key,
        json!({"content_id": CID, "session": {"id": "s-1", "url": format!("{base}/session")}}),
    )
    .await;
    let a = studio_licence(&app, &tok).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    add_fairplay(&app).await;
    // The Studio licence's audit event reaches the store.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let text = scrape(&app).await;
    let mut names: BTreeSet<String> = parse(&text).into_iter().map(|s| s.name).collect();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            names.insert(rest.split(' ').next().unwrap().to_owned());
        }
    }
    let mut used = BTreeSet::new();
    for e in &exprs {
        let mut rest = e.as_str();
        while let Some(i) = rest.find("keyward_") {
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            used.insert(tail[..end].to_owned());
            rest = &tail[end..];
        }
    }
    assert!(used.len() >= 6, "{used:?}");
    let s = parse(&text);
    assert_eq!(
        value(
            &s,
            "keyward_callback_duration_seconds_count",
            &[("kind", "session"), ("site", SITE), ("result", "ok")]
        ),
        1.0
    );
    assert!(value(&s, "keyward_audit_flush_duration_seconds_count", &[]) >= 1.0);
    assert!(value(&s, "keyward_audit_events_written_total", &[]) >= 1.0);
    let missing: Vec<&String> = used.iter().filter(|n| !names.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "the dashboard uses metrics keyward does not export: {missing:?}\nexported: {names:?}"
    );
}
