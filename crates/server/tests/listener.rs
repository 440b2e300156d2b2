//! A few requests over a real TCP listener (`axum::serve`), written as raw
//! HTTP/1.1 so that framing (Content-Length, chunked bodies) and the headers
//! hyper adds (`Date`) are what a player would see.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failure is a test failure"
)]

mod common;

use std::net::SocketAddr;

use common::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

struct Wire {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Wire {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

async fn serve() -> (SocketAddr, TestApp) {
    serve_app(app().await).await
}

async fn serve_app(app: TestApp) -> (SocketAddr, TestApp) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app.router.clone();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (addr, app)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size_text = std::str::from_utf8(&data[..line_end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// Writes `head` then `body` as given, reads until the server closes.
async fn exchange(addr: SocketAddr, head: &str, body: &[u8]) -> Wire {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    s.flush().await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
    let status = status_line[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    let mut w = Wire {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    };
    if w.header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        w.body = dechunk(&w.body);
    } else if let Some(n) = w.header("content-length") {
        assert_eq!(w.body.len(), n.parse::<usize>().unwrap());
    }
    w
}

#[tokio::test]
async fn clearkey_licence_over_the_wire() {
    let (addr, _app) = serve().await;
    let body = ck_request(&[KID_ALL], "temporary");
    // As Chromium sends it: POST, no Content-Type.
    let head = format!(
        "POST /ri/clearkey/licenseManager.do HTTP/1.1\r\nHost: {addr}\r\npallycon-customdata-v2: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        ck_token(CID),
        body.len()
    );
    let w = exchange(addr, &head, body.as_bytes()).await;
    assert_eq!(w.status, 200, "{}", w.text());
    assert_eq!(w.header("content-type"), Some("application/json"));
    assert_eq!(w.text(), jwk_set(&[(KID_ALL, KEY_ALL)], "temporary"));
    assert!(w.header("date").is_some(), "Date header");
    assert!(w.header("x-request-id").is_some());

    // A refusal over the wire also has a Date and a request id.
    let head = format!(
        "POST /v1/license/clearkey HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 2\r\nx-request-id: wire-1\r\nConnection: close\r\n\r\n"
    );
    let w = exchange(addr, &head, b"{}").await;
    assert_eq!(w.status, 401);
    assert_eq!(w.header("content-type"), Some("application/problem+json"));
    assert!(w.header("date").is_some());
    assert_eq!(w.header("x-request-id"), Some("wire-1"));
    let j: serde_json::Value = serde_json::from_slice(&w.body).unwrap();
    assert_eq!(j["code"], "7010");
    assert_eq!(j["request_id"], "wire-1");
}

#[tokio::test]
async fn chunked_request_bodies() {
    let (addr, _app) = serve().await;
    let body = ck_request(&[KID_ALL], "temporary");
    let (a, b) = body.as_bytes().split_at(10);
    let mut chunked = Vec::new();
    for part in [a, b] {
        chunked.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        chunked.extend_from_slice(part);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let head = format!(
        "POST /v1/license/clearkey HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        ck_token(CID)
    );
    let w = exchange(addr, &head, &chunked).await;
    assert_eq!(w.status, 200, "{}", w.text());
    assert_eq!(w.text(), jwk_set(&[(KID_ALL, KEY_ALL)], "temporary"));

    // A chunked body over the limit: 413 with the code, not a dropped connection.
    let mut big = Vec::new();
    for _ in 0..20 {
        big.extend_from_slice(b"1000\r\n");
        big.extend_from_slice(&[b' '; 0x1000]);
        big.extend_from_slice(b"\r\n");
    }
    big.extend_from_slice(b"0\r\n\r\n");
    let w = exchange(addr, &head, &big).await;
    assert_eq!(w.status, 413, "{}", w.text());
    let j: serde_json::Value = serde_json::from_slice(&w.body).unwrap();
    assert_eq!(j["code"], "7505");
}

#[tokio::test]
async fn hls_key_and_limits_over_the_wire() {
    let (addr, _app) = serve().await;
    // ffmpeg-style key GET with Range and Icy-MetaData.
    let head = format!(
        "GET /v1/hls-key/{SITE}/{CID}?pallycon-customdata-v2={} HTTP/1.1\r\nHost: {addr}\r\nRange: bytes=0-\r\nIcy-MetaData: 1\r\nConnection: close\r\n\r\n",
        q(&ck_token(CID))
    );
    let w = exchange(addr, &head, b"").await;
    assert_eq!(w.status, 200, "{}", w.text());
    assert_eq!(w.header("content-type"), Some("application/octet-stream"));
    assert_eq!(w.header("content-length"), Some("16"));
    assert_eq!(w.body, KEY_ALL);

    // Headers over the limit.
    let head = format!(
        "GET /v1/hls-key/{SITE}/{CID} HTTP/1.1\r\nHost: {addr}\r\nX-Pad: {}\r\nConnection: close\r\n\r\n",
        "p".repeat(20_000)
    );
    let w = exchange(addr, &head, b"").await;
    assert_eq!(w.status, 431, "{}", w.text());
    let j: serde_json::Value = serde_json::from_slice(&w.body).unwrap();
    assert_eq!(j["code"], "7508");

    // A non-UTF-8 token header.
    let mut head =
        format!("GET /v1/hls-key/{SITE}/{CID} HTTP/1.1\r\nHost: {addr}\r\n").into_bytes();
    head.extend_from_slice(b"pallycon-customdata-v2: \xc3\x28\xff\r\nConnection: close\r\n\r\n");
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&head).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(text.contains("\"code\":\"7509\""), "{text}");
}

#[tokio::test]
async fn overload_and_timeout_are_coded() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.limits.max_concurrency = 1;
    cfg.limits.request_timeout_ms = 1500;
    let (addr, _app) = serve_app(app_with(dir, cfg).await).await;
    // A slow client: announces 100 bytes, sends 2, and holds the only permit.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(
        format!(
            "POST /v1/license/clearkey HTTP/1.1\r\nHost: {addr}\r\npallycon-customdata-v2: {}\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{{\"",
            ck_token(CID)
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let head = format!("GET /v1/time HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let w = exchange(addr, &head, b"").await;
    assert_eq!(w.status, 503, "{}", w.text());
    let j: serde_json::Value = serde_json::from_slice(&w.body).unwrap();
    assert_eq!(j["code"], "7506");
    // The slow request itself ends with the timeout code.
    let mut raw = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        slow.read_to_end(&mut raw),
    )
    .await
    .unwrap()
    .unwrap();
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("\"code\":\"7507\""), "{text}");
    // And the permit is free again.
    let w = exchange(addr, &head, b"").await;
    assert_eq!(w.status, 200, "{}", w.text());
}
