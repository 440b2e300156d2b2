//! OpenTelemetry trace export (OTLP/HTTP, JSON encoding) of the licence
//! pipeline, off by default (`[tracing] otlp_endpoint`).
//!
//! Each licence request becomes one trace: a server span `licence` (request
//! id, site, DRM, front and back door, outcome, code) with one child span per
//! stage that ran (`front_door`, `gatekeeper`, `back_door`), timed by the
//! pipeline's own laps. A W3C `traceparent` header on the request makes the
//! span a child of the caller's (and its sampled flag decides); otherwise a
//! new trace is sampled at `sample_ratio`.
//!
//! Spans leave the request path through a bounded queue (a full queue drops
//! the span, counted and logged at most once a minute); one task POSTs them in
//! batches to `<endpoint>/v1/traces` as an `ExportTraceServiceRequest` in
//! OTLP's JSON mapping (ids in hex, times as decimal strings of unix
//! nanoseconds). Nothing secret is in a span: no token, key or challenge.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio::sync::mpsc;

/// Spans waiting for the exporter; more are dropped.
const QUEUE: usize = 8192;
/// Spans per POST at most.
const MAX_BATCH: usize = 512;

/// The `[tracing]` settings.
#[derive(Clone, Debug, PartialEq)]
pub struct OtlpConfig {
    /// Base URL of the OTLP/HTTP receiver (`http://collector:4318`); spans go
    /// to `<endpoint>/v1/traces`. `None`: export off (the default).
    pub endpoint: Option<String>,
    /// `service.name` of the resource (default `keyward`).
    pub service_name: String,
    /// Share of new traces exported, 0.0 to 1.0 (default 1.0); a request
    /// with a `traceparent` follows its sampled flag.
    pub sample_ratio: f64,
    /// Longest wait before a partial batch is sent, milliseconds (default 1000).
    pub batch_ms: u64,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        Self {
            endpoint: None,
            service_name: "keyward".into(),
            sample_ratio: 1.0,
            batch_ms: 1000,
        }
    }
}

/// The caller's trace context, from a W3C `traceparent` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parent {
    /// Trace id.
    pub trace_id: [u8; 16],
    /// The caller's span id.
    pub span_id: [u8; 8],
    /// The caller's sampled flag.
    pub sampled: bool,
}

/// Parses `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`); `None` for anything
/// else, including the all-zero ids the specification forbids.
pub fn parse_traceparent(v: &str) -> Option<Parent> {
    let mut parts = v.trim().split('-');
    let (version, trace, span, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if version.len() != 2 || version == "ff" || (version == "00" && parts.next().is_some()) {
        return None;
    }
    let mut trace_id = [0u8; 16];
    let mut span_id = [0u8; 8];
    hex::decode_to_slice(trace, &mut trace_id).ok()?;
    hex::decode_to_slice(span, &mut span_id).ok()?;
    let mut f = [0u8; 1];
    hex::decode_to_slice(flags, &mut f).ok()?;
    if trace_id == [0; 16] || span_id == [0; 8] {
        return None;
    }
    Some(Parent {
        trace_id,
        span_id,
        sampled: f[0] & 1 == 1,
    })
}

/// The caller's context from a request's `traceparent` header, if it has a
/// valid one.
pub fn parent_of(headers: &axum::http::HeaderMap) -> Option<Parent> {
    headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_traceparent)
}

/// One finished licence request, as the pipeline saw it.
pub struct LicenceTrace<'a> {
    /// The caller's context, if it sent one.
    pub parent: Option<Parent>,
    /// Request id.
    pub request_id: &'a str,
    /// Front and back door labels.
    pub doors: (&'static str, &'static str),
    /// Site and DRM, once the credential named them.
    pub site_drm: Option<(&'a str, &'static str)>,
    /// `ok` or the refusal code.
    pub code: &'a str,
    /// Time per stage (front door, gatekeeper, back door), `None` when not reached.
    pub times: [Option<Duration>; 3],
    /// Whole request.
    pub total: Duration,
}

/// The exporter's handle (cheap to clone).
#[derive(Clone)]
pub struct Tracer {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    tx: mpsc::Sender<Value>,
    ratio: f64,
    dropped: AtomicU64,
    last_warned: Mutex<Option<Instant>>,
}

impl Tracer {
    /// No export.
    pub fn off() -> Self {
        Self { inner: None }
    }

    /// Starts the exporter task for `config` (no export without an endpoint
    /// or outside a tokio runtime).
    pub fn start(config: &OtlpConfig) -> Self {
        let Some(endpoint) = config.endpoint.clone() else {
            return Self::off();
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return Self::off();
        }
        let client = match reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("keyward/", env!("CARGO_PKG_VERSION"), " otlp"))
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "OTLP export off: no HTTP client");
                return Self::off();
            }
        };
        let (tx, rx) = mpsc::channel(QUEUE);
        let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
        tokio::spawn(export(
            rx,
            client,
            url,
            config.service_name.clone(),
            Duration::from_millis(config.batch_ms.max(1)),
        ));
        Self {
            inner: Some(Arc::new(Inner {
                tx,
                ratio: config.sample_ratio.clamp(0.0, 1.0),
                dropped: AtomicU64::new(0),
                last_warned: Mutex::new(None),
            })),
        }
    }

    /// Whether spans are exported at all.
    pub fn enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Queues the spans of one request, if it is sampled.
    pub fn record(&self, t: &LicenceTrace<'_>) {
        let Some(inner) = &self.inner else {
            return;
        };
        let sampled = match t.parent {
            Some(p) => p.sampled,
            None => inner.ratio >= 1.0 || rand::random::<f64>() < inner.ratio,
        };
        if !sampled {
            return;
        }
        for span in spans(t) {
            if inner.tx.try_send(span).is_err() {
                let n = inner.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                let mut last = inner
                    .last_warned
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if last.is_none_or(|at| at.elapsed() > Duration::from_secs(60)) {
                    *last = Some(Instant::now());
                    tracing::warn!(dropped = n, "OTLP export queue full: spans dropped");
                }
                return;
            }
        }
    }
}

fn nanos(t: SystemTime) -> String {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
        .to_string()
}

fn attr(key: &str, value: &str) -> Value {
    json!({"key": key, "value": {"stringValue": value}})
}

/// The request's spans in OTLP JSON: the `licence` server span and its stages.
fn spans(t: &LicenceTrace<'_>) -> Vec<Value> {
    let end = SystemTime::now();
    let start = end.checked_sub(t.total).unwrap_or(end);
    let trace_id = t
        .parent
        .map_or_else(rand::random::<[u8; 16]>, |p| p.trace_id);
    let root: [u8; 8] = rand::random();
    let refused = t.code != "ok";
    let mut attrs = vec![
        attr("keyward.request_id", t.request_id),
        attr("keyward.front_door", t.doors.0),
        attr("keyward.back_door", t.doors.1),
        attr(
            "keyward.outcome",
            if refused { "refused" } else { "granted" },
        ),
        attr("keyward.code", t.code),
    ];
    if let Some((site, drm)) = t.site_drm {
        attrs.push(attr("keyward.site", site));
        attrs.push(attr("keyward.drm", drm));
    }
    let status = if refused {
        json!({"code": 2, "message": t.code})
    } else {
        json!({"code": 1})
    };
    let mut root_span = json!({
        "traceId": hex::encode(trace_id),
        "spanId": hex::encode(root),
        "name": "licence",
        "kind": 2,
        "startTimeUnixNano": nanos(start),
        "endTimeUnixNano": nanos(end),
        "attributes": attrs,
        "status": status,
    });
    if let Some(p) = t.parent {
        root_span["parentSpanId"] = json!(hex::encode(p.span_id));
    }
    let mut out = vec![root_span];
    let mut at = start;
    for (name, d) in ["front_door", "gatekeeper", "back_door"]
        .into_iter()
        .zip(t.times)
    {
        let Some(d) = d else { break };
        let stage_end = at + d;
        out.push(json!({
            "traceId": hex::encode(trace_id),
            "spanId": hex::encode(rand::random::<[u8; 8]>()),
            "parentSpanId": hex::encode(root),
            "name": name,
            "kind": 1,
            "startTimeUnixNano": nanos(at),
            "endTimeUnixNano": nanos(stage_end),
        }));
        at = stage_end;
    }
    out
}

/// The exporter: batches of spans POSTed as one `ExportTraceServiceRequest`.
async fn export(
    mut rx: mpsc::Receiver<Value>,
    client: reqwest::Client,
    url: String,
    service: String,
    wait: Duration,
) {
    let resource = json!({"attributes": [
        attr("service.name", &service),
        attr("service.version", env!("CARGO_PKG_VERSION")),
    ]});
    let mut batch: Vec<Value> = Vec::with_capacity(MAX_BATCH);
    let mut failing = false;
    loop {
        // The first span of a batch, then whatever arrives within `wait`.
        match rx.recv().await {
            Some(s) => batch.push(s),
            None => return,
        }
        let deadline = tokio::time::Instant::now() + wait;
        while batch.len() < MAX_BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(s)) => batch.push(s),
                Ok(None) | Err(_) => break,
            }
        }
        let body = json!({"resourceSpans": [{
            "resource": resource,
            "scopeSpans": [{
                "scope": {"name": "keyward", "version": env!("CARGO_PKG_VERSION")},
                "spans": std::mem::take(&mut batch),
            }],
        }]});
        let sent = client
            .post(&url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await;
        let ok = matches!(&sent, Ok(r) if r.status().is_success());
        if !ok && !failing {
            let why = match sent {
                Ok(r) => format!("HTTP {}", r.status().as_u16()),
                Err(e) => e.without_url().to_string(),
            };
            tracing::warn!(error = %why, "OTLP export failed; spans of this batch dropped (logged once until it works again)");
        }
        failing = !ok;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn traceparent_is_read_exactly() {
        let p =
            parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(hex::encode(p.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(hex::encode(p.span_id), "00f067aa0ba902b7");
        assert!(p.sampled);
        let p =
            parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").unwrap();
        assert!(!p.sampled);
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-xyf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(parse_traceparent(bad), None, "{bad}");
        }
    }

    #[test]
    fn stages_are_children_in_sequence() {
        let parent = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        let t = LicenceTrace {
            parent,
            request_id: "r1",
            doors: ("pallycon", "clearkey"),
            site_drm: Some(("TEST", "ClearKey")),
            code: "7001",
            times: [
                Some(Duration::from_micros(100)),
                Some(Duration::from_micros(50)),
                None,
            ],
            total: Duration::from_micros(200),
        };
        let s = spans(&t);
        assert_eq!(s.len(), 3);
        assert_eq!(s[0]["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(s[0]["parentSpanId"], "00f067aa0ba902b7");
        assert_eq!(s[0]["status"]["code"], 2);
        assert_eq!(s[1]["name"], "front_door");
        assert_eq!(s[2]["name"], "gatekeeper");
        assert_eq!(s[1]["parentSpanId"], s[0]["spanId"]);
        let n = |v: &Value| v.as_str().unwrap().parse::<u128>().unwrap();
        assert_eq!(n(&s[1]["startTimeUnixNano"]), n(&s[0]["startTimeUnixNano"]));
        assert_eq!(
            n(&s[1]["endTimeUnixNano"]) - n(&s[1]["startTimeUnixNano"]),
            100_000
        );
        assert_eq!(n(&s[2]["startTimeUnixNano"]), n(&s[1]["endTimeUnixNano"]));
        assert_eq!(
            n(&s[0]["endTimeUnixNano"]) - n(&s[0]["startTimeUnixNano"]),
            200_000
        );
    }
}
