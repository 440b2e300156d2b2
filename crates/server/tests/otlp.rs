//! OpenTelemetry export: with `[tracing] otlp_endpoint`, each licence request
//! is POSTed to `<endpoint>/v1/traces` as OTLP/HTTP JSON — a `licence` server
//! span with its stages as children, the caller's `traceparent` honoured —
//! received here by a collector that speaks the documented protocol.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode};
use common::*;
use serde_json::Value;

/// A collector on loopback: every body POSTed to /v1/traces, parsed.
async fn collector() -> (String, Arc<Mutex<Vec<Value>>>) {
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: Bytes| {
            let sink = sink.clone();
            async move {
                assert_eq!(headers["content-type"], "application/json");
                sink.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap());
                "{}"
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (url, got)
}

/// Every span received so far.
fn spans(got: &Mutex<Vec<Value>>) -> Vec<Value> {
    let mut out = Vec::new();
    for body in got.lock().unwrap().iter() {
        let rs = &body["resourceSpans"][0];
        let attrs = rs["resource"]["attributes"].as_array().unwrap();
        assert!(attrs
            .iter()
            .any(|a| a["key"] == "service.name" && a["value"]["stringValue"] == "keyward-test"));
        for s in rs["scopeSpans"][0]["spans"].as_array().unwrap() {
            out.push(s.clone());
        }
    }
    out
}

fn attr<'a>(span: &'a Value, key: &str) -> &'a Value {
    span["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == key)
        .map_or(&Value::Null, |a| &a["value"]["stringValue"])
}

#[tokio::test]
async fn licences_are_exported_as_otlp_traces() {
    let (url, got) = collector().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.tracing.endpoint = Some(url);
    cfg.tracing.service_name = "keyward-test".into();
    cfg.tracing.batch_ms = 50;
    let app = app_with(dir, cfg).await;
    let tok = ck_token(CID);
    let a = app
        .send(
            Request::post("/v1/license/clearkey")
                .header("authorization", format!("Bearer {tok}"))
                .header("x-request-id", "otlp-granted")
                .header(
                    "traceparent",
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                )
                .body(Body::from(ck_request(&[KID_ALL], "temporary")))
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let a = app
        .send(
            Request::post("/v1/license/clearkey")
                .header(
                    "authorization",
                    format!("Bearer {}", ck_token("no-such-content")),
                )
                .header("x-request-id", "otlp-refused")
                .body(Body::from(ck_request(&[KID_ALL], "temporary")))
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    // A caller that did not sample: nothing exported for it.
    app.send(
        Request::post("/v1/license/clearkey")
            .header("authorization", format!("Bearer {tok}"))
            .header("x-request-id", "otlp-unsampled")
            .header(
                "traceparent",
                "00-11111111111111111111111111111111-2222222222222222-00",
            )
            .body(Body::from(ck_request(&[KID_ALL], "temporary")))
            .unwrap(),
    )
    .await;
    let mut all = Vec::new();
    for _ in 0..100 {
        all = spans(&got);
        if all.len() >= 8 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let root = |rid: &str| {
        all.iter()
            .find(|s| s["name"] == "licence" && attr(s, "keyward.request_id") == rid)
            .cloned()
    };
    let granted = root("otlp-granted").expect("granted span");
    assert_eq!(granted["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(granted["parentSpanId"], "00f067aa0ba902b7");
    assert_eq!(granted["kind"], 2);
    assert_eq!(granted["status"]["code"], 1);
    assert_eq!(attr(&granted, "keyward.code"), "ok");
    assert_eq!(attr(&granted, "keyward.outcome"), "granted");
    assert_eq!(attr(&granted, "keyward.site"), SITE);
    assert_eq!(attr(&granted, "keyward.drm"), "ClearKey");
    assert_eq!(attr(&granted, "keyward.front_door"), "pallycon");
    assert_eq!(attr(&granted, "keyward.back_door"), "clearkey");
    let children: Vec<&str> = all
        .iter()
        .filter(|s| s["parentSpanId"] == granted["spanId"])
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(children, ["front_door", "gatekeeper", "back_door"]);
    let refused = root("otlp-refused").expect("refused span");
    assert_eq!(refused["status"]["code"], 2);
    assert_eq!(attr(&refused, "keyward.code"), "7001");
    assert_eq!(refused["traceId"].as_str().unwrap().len(), 32);
    assert!(refused.get("parentSpanId").is_none());
    assert!(root("otlp-unsampled").is_none());
    // No token in any span.
    let text = serde_json::to_string(&all).unwrap();
    assert!(!text.contains(&tok));
    assert_eq!(all.len(), 8, "two requests × (licence + 3 stages)");
}
