//! The decision debugger's memory: for every licence decision (granted or refused)
//! a short record — request id, time, front door, the credential's decoded
//! non-secret facts, where the request stopped and why, the back door, time per
//! stage — kept in a bounded ring, newest first, and served by
//! `GET /v1/admin/decisions[/{request_id}]` and `keyward explain`.
//!
//! What a record never holds: keys, key ids' material, token text, hashes, site
//! secrets, the challenge. Messages are the refusal's own (client-safe, bounded).
//! The ring is written once per request, from the one place the pipeline ends
//! (`pipeline::access`), under a short mutex; its size is `decisions_ring`
//! (`KEYWARD_DECISIONS_RING`, default 10,000; 0 turns it off).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;

use crate::entitlement::Entitlement;
use crate::refusal::Refusal;

/// Longest message kept in a record, bytes.
const MAX_MESSAGE: usize = 300;

/// The credential's facts, as the front door decoded them (nothing secret).
#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    /// Which token dialect it was (`pallycon`, `studio`, `expressplay`, `callback`, …).
    pub origin: &'static str,
    /// Site.
    pub site: String,
    /// User / subject.
    pub user: String,
    /// Content id.
    pub cid: String,
    /// DRM asked for.
    pub drm: &'static str,
    /// Keys the credential carried (count only).
    pub keys_carried: usize,
    /// Persistent licence asked for.
    pub persistent: bool,
    /// Licence duration, seconds, when limited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license_duration_s: Option<u64>,
    /// Absolute expiry (RFC 3339), when limited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// Concurrent-stream limit, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_limit: Option<u32>,
}

impl Facts {
    /// The facts of an entitlement.
    pub fn of(e: &Entitlement) -> Self {
        Self {
            origin: e.origin.as_str(),
            site: e.site_id.clone(),
            user: crate::json::bounded(&e.subject, 256).into_owned(),
            cid: crate::json::bounded(&e.content_id, 256).into_owned(),
            drm: e.drm.as_str(),
            keys_carried: e.keys.cenc.len() + e.keys.hls.len(),
            persistent: e.timing.persistent,
            license_duration_s: e.timing.license_duration,
            expires: e.timing.expire_at.map(|t| t.to_string()),
            stream_limit: e.stream_limit,
        }
    }
}

/// One pipeline stage of a decision.
#[derive(Debug, Clone, Serialize)]
pub struct StageRecord {
    /// `front_door`, `gatekeeper` or `back_door`.
    pub stage: &'static str,
    /// `passed`, `refused` or `not_reached`.
    pub result: &'static str,
    /// Time spent, microseconds (absent when not reached).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub us: Option<u64>,
}

/// One gatekeeper check of a decision.
#[derive(Debug, Clone, Serialize)]
pub struct CheckRecord {
    /// The check.
    pub check: &'static str,
    /// `passed` or `refused`.
    pub result: &'static str,
}

/// One licence decision.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    /// The request id (the `x-request-id` the answer carried).
    pub request_id: String,
    /// When it was decided, unix milliseconds.
    pub at_unix_ms: i64,
    /// `granted` or `refused`.
    pub outcome: &'static str,
    /// `ok` or the refusal code.
    pub code: &'static str,
    /// The refusal's message (bounded), for a refused request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The stage that refused (`front_door`, `gatekeeper`, `back_door`), when refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused_at: Option<&'static str>,
    /// The front door (`pallycon`, `pallycon_v1`, `studio`, `expressplay`, `none`).
    pub front_door: &'static str,
    /// The back door (`clearkey`, `widevine`, …, `hls_key`, `none`).
    pub back_door: &'static str,
    /// The credential's facts, once the front door verified it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<Facts>,
    /// The three stages in order.
    pub stages: Vec<StageRecord>,
    /// The gatekeeper's checks that ran, in order (`endpoint`, `content_id`,
    /// `origin`, `geo_vpn`, `single_use`, `session_webhook`, `callback`,
    /// `streams` — the ones the credential has), each `passed` or `refused`.
    pub gatekeeper_checks: Vec<CheckRecord>,
    /// Whole decision, microseconds.
    pub total_us: u64,
}

/// What the pipeline hands over when a request ends.
pub struct Ending<'a> {
    /// Request id.
    pub request_id: &'a str,
    /// Front door label.
    pub front_door: &'static str,
    /// Back door label (`none` if not reached).
    pub back_door: &'static str,
    /// The entitlement, once the front door verified the credential.
    pub entitlement: Option<&'a Entitlement>,
    /// The refusal, if refused.
    pub refusal: Option<&'a Refusal>,
    /// Time per stage (front door, gatekeeper, back door), `None` when not reached.
    pub times: [Option<Duration>; 3],
    /// Whole decision.
    pub total: Duration,
    /// The gatekeeper's checks that ran, in order, with `passed` / `refused`.
    pub checks: &'a [(&'static str, &'static str)],
}

fn us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Decision {
    /// The record of a request that ended as `e` says.
    pub fn of(e: &Ending<'_>) -> Self {
        const NAMES: [&str; 3] = ["front_door", "gatekeeper", "back_door"];
        // The last stage that ran is the one that refused.
        let last_ran = e.times.iter().rposition(Option::is_some);
        let refused_at = e
            .refusal
            .map(|_| last_ran.map_or("front_door", |i| NAMES[i]));
        let stages = NAMES
            .iter()
            .zip(e.times)
            .enumerate()
            .map(|(i, (name, t))| StageRecord {
                stage: name,
                result: match (t, e.refusal, Some(i) == last_ran) {
                    (None, ..) => "not_reached",
                    (Some(_), Some(_), true) => "refused",
                    (Some(_), ..) => "passed",
                },
                us: t.map(us),
            })
            .collect();
        Self {
            request_id: crate::json::bounded(e.request_id, 128).into_owned(),
            at_unix_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            outcome: if e.refusal.is_some() {
                "refused"
            } else {
                "granted"
            },
            code: e.refusal.map_or("ok", |r| r.code.wire),
            message: e
                .refusal
                .map(|r| crate::json::bounded(&r.message, MAX_MESSAGE).into_owned()),
            refused_at,
            front_door: e.front_door,
            back_door: e.back_door,
            credential: e.entitlement.map(Facts::of),
            stages,
            gatekeeper_checks: e
                .checks
                .iter()
                .map(|(check, result)| CheckRecord { check, result })
                .collect(),
            total_us: us(e.total),
        }
    }
}

impl Decision {
    /// The record as an audit event (kind `decision`, the record as detail),
    /// for sites whose decisions are kept in the audit store.
    pub fn audit_event(&self, e: &Entitlement) -> keyward_store::AuditEvent {
        let mut ev = keyward_store::AuditEvent::new("decision", self.code);
        ev.at_unix_ms = self.at_unix_ms;
        ev.site_id = keyward_store::SiteId::parse(&e.site_id).ok();
        // Over-long values are left out: one invalid field would refuse the
        // whole batch it is written in.
        let fits = |v: &str| !v.is_empty() && v.len() <= keyward_store::audit::MAX_FIELD_LEN;
        ev.cid = Some(e.content_id.clone()).filter(|c| fits(c));
        ev.drm = Some(e.drm.as_str().to_owned());
        ev.request_id = Some(self.request_id.clone()).filter(|r| fits(r));
        ev.user = Some(e.subject.clone())
            .filter(|u| !u.is_empty() && u.len() <= keyward_store::audit::MAX_USER_LEN);
        ev.detail = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        ev
    }
}

/// The bounded ring of recent decisions.
#[derive(Debug)]
pub struct DecisionLog {
    ring: Mutex<VecDeque<Arc<Decision>>>,
    capacity: usize,
}

impl DecisionLog {
    /// A ring keeping the last `capacity` decisions (0: keeps none).
    pub fn new(capacity: usize) -> Self {
        Self {
            ring: Mutex::new(VecDeque::with_capacity(capacity.min(1024))),
            capacity,
        }
    }

    /// Whether decisions are kept at all.
    pub fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// Keeps one decision, dropping the oldest past the capacity.
    pub fn push(&self, d: Decision) {
        if self.capacity == 0 {
            return;
        }
        let d = Arc::new(d);
        let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        if ring.len() >= self.capacity {
            ring.pop_back();
        }
        ring.push_front(d);
    }

    /// The decision of a request id, if it is still in the ring.
    pub fn get(&self, request_id: &str) -> Option<Arc<Decision>> {
        let ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        ring.iter().find(|d| d.request_id == request_id).cloned()
    }

    /// The newest `limit` decisions, optionally only those with `outcome`
    /// (`granted` / `refused`), newest first.
    pub fn recent(&self, limit: usize, outcome: Option<&str>) -> Vec<Arc<Decision>> {
        let ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        ring.iter()
            .filter(|d| outcome.is_none_or(|o| d.outcome == o))
            .take(limit)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes;

    fn ending<'a>(
        rid: &'a str,
        refusal: Option<&'a Refusal>,
        times: [Option<Duration>; 3],
    ) -> Ending<'a> {
        Ending {
            request_id: rid,
            front_door: "pallycon",
            back_door: if times[2].is_some() {
                "clearkey"
            } else {
                "none"
            },
            entitlement: None,
            refusal,
            times,
            total: Duration::from_micros(99),
            checks: &[],
        }
    }

    #[test]
    fn the_stage_that_refused_is_the_last_that_ran() {
        let ms = Some(Duration::from_micros(5));
        let r = Refusal::new(codes::SITE_NOT_FOUND);
        let d = Decision::of(&ending("a", Some(&r), [ms, None, None]));
        assert_eq!(d.refused_at, Some("front_door"));
        assert_eq!(d.code, r.code.wire);
        let results: Vec<&str> = d.stages.iter().map(|s| s.result).collect();
        assert_eq!(results, ["refused", "not_reached", "not_reached"]);
        let d = Decision::of(&ending("b", Some(&r), [ms, ms, None]));
        assert_eq!(d.refused_at, Some("gatekeeper"));
        let d = Decision::of(&ending("c", None, [ms, ms, ms]));
        assert_eq!(d.outcome, "granted");
        assert_eq!(d.code, "ok");
        assert!(d.refused_at.is_none());
        assert!(d.stages.iter().all(|s| s.result == "passed"));
        // Refused before any stage ran (no credential): the front door.
        let d = Decision::of(&ending("d", Some(&r), [None, None, None]));
        assert_eq!(d.refused_at, Some("front_door"));
    }

    #[test]
    fn the_ring_is_bounded_and_newest_first() {
        let log = DecisionLog::new(3);
        for i in 0..5 {
            log.push(Decision::of(&ending(&i.to_string(), None, [None; 3])));
        }
        let ids: Vec<String> = log
            .recent(10, None)
            .iter()
            .map(|d| d.request_id.clone())
            .collect();
        assert_eq!(ids, ["4", "3", "2"]);
        assert!(log.get("1").is_none());
        assert_eq!(log.get("3").unwrap().request_id, "3");
        let off = DecisionLog::new(0);
        off.push(Decision::of(&ending("x", None, [None; 3])));
        assert!(off.recent(10, None).is_empty());
        assert!(!off.enabled());
    }
}
