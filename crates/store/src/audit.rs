//! Audit trail: what happened, for which site and content, and how it ended.
//!
//! Events never carry key material or tokens; `detail` is free JSON for the caller
//! (bounded in size). [`AuditStore::search`] reads them back newest first, by
//! site, user, content id, result code, kind and time, a page at a time.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};
use crate::sites::SiteId;
use keyward_types::calendar::{civil_from_days, days_from_civil, days_in_month};

/// Largest serialized `detail` accepted, in bytes.
pub const MAX_DETAIL_LEN: usize = 16 * 1024;
/// Most records [`AuditStore::recent`] returns, whatever limit is asked.
pub const MAX_RECENT: u32 = 1000;
/// Longest user id an event or a query carries, in bytes (a PallyCon token's
/// `user_id` is at most 1024 bytes too).
pub const MAX_USER_LEN: usize = 1024;
/// Longest `kind`, `cid`, `drm`, `result` or `request_id`, in bytes.
pub const MAX_FIELD_LEN: usize = 256;
/// Page size of [`AuditStore::search`] when none is asked.
pub const DEFAULT_PAGE: u32 = 100;
/// Largest page [`AuditStore::search`] answers.
pub const MAX_PAGE: u32 = 1000;

/// One audit event, as recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// When it happened, unix milliseconds.
    pub at_unix_ms: i64,
    /// The site concerned, if known.
    pub site_id: Option<SiteId>,
    /// What happened, e.g. `license`, `token_issued`, `key_imported`.
    pub kind: String,
    /// Content id concerned, if any.
    pub cid: Option<String>,
    /// DRM concerned, if any (e.g. `Widevine`).
    pub drm: Option<String>,
    /// Result code: `ok` or the error code that was answered.
    pub result: String,
    /// Request id for correlating with logs.
    pub request_id: Option<String>,
    /// The end user (licences: the token's user id, or the client standing in
    /// for one), at most [`MAX_USER_LEN`] bytes. `None` for other events and for
    /// rows written before the column existed.
    #[serde(default)]
    pub user: Option<String>,
    /// Free JSON detail (no secrets), at most [`MAX_DETAIL_LEN`] bytes serialized.
    pub detail: serde_json::Value,
}

impl AuditEvent {
    /// An event of `kind` with `result`, stamped now, with everything else empty.
    pub fn new(kind: impl Into<String>, result: impl Into<String>) -> AuditEvent {
        AuditEvent {
            at_unix_ms: crate::unix_now_ms(),
            site_id: None,
            kind: kind.into(),
            cid: None,
            drm: None,
            result: result.into(),
            request_id: None,
            user: None,
            detail: serde_json::Value::Null,
        }
    }

    /// Checks field sizes (`invalid_input` otherwise) and returns the serialized detail.
    pub(crate) fn validated_detail(&self) -> Result<String> {
        let short = |field: &'static str, value: Option<&str>| match value {
            Some(v) if v.len() > MAX_FIELD_LEN => Err(StoreError::InvalidInput {
                field,
                reason: "longer than 256 bytes",
            }),
            _ => Ok(()),
        };
        if self.user.as_ref().is_some_and(|u| u.len() > MAX_USER_LEN) {
            return Err(StoreError::InvalidInput {
                field: "user",
                reason: "longer than 1024 bytes",
            });
        }
        if self.kind.is_empty() {
            return Err(StoreError::InvalidInput {
                field: "kind",
                reason: "must not be empty",
            });
        }
        short("kind", Some(&self.kind))?;
        short("cid", self.cid.as_deref())?;
        short("drm", self.drm.as_deref())?;
        short("result", Some(&self.result))?;
        short("request_id", self.request_id.as_deref())?;
        let detail = serde_json::to_string(&self.detail).map_err(StoreError::backend)?;
        if detail.len() > MAX_DETAIL_LEN {
            return Err(StoreError::InvalidInput {
                field: "detail",
                reason: "larger than 16 KiB",
            });
        }
        Ok(detail)
    }
}

/// A stored audit event with its sequence number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Increasing sequence number.
    pub id: i64,
    /// The event.
    #[serde(flatten)]
    pub event: AuditEvent,
}

/// Storage of audit events. Implemented by [`SqliteStore`](crate::sqlite::SqliteStore),
/// [`PostgresStore`](crate::postgres::PostgresStore) and
/// [`MemoryStore`](crate::memory::MemoryStore).
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an event; returns its sequence number.
    async fn record(&self, event: AuditEvent) -> Result<i64>;

    /// Appends several events at once (one transaction where the backend has
    /// them), so a busy gateway does not pay one write per licence. The default
    /// records them one by one.
    async fn record_batch(&self, events: Vec<AuditEvent>) -> Result<()> {
        for e in events {
            self.record(e).await?;
        }
        Ok(())
    }

    /// The newest events first, of one site or of all (`None`), at most `limit` (capped
    /// at [`MAX_RECENT`]).
    async fn recent(&self, site_id: Option<&SiteId>, limit: u32) -> Result<Vec<AuditRecord>>;

    /// One page of the events that match every filter of `query`, newest first
    /// (see [`AuditQuery`] for the order, the time bounds and the cursor).
    /// `invalid_input` (naming the field) for a query [`AuditQuery::validate`]
    /// refuses, or a cursor that names no event.
    async fn search(&self, query: &AuditQuery) -> Result<AuditPage>;

    /// For following the trail as it is written (`keyward audit tail
    /// --follow`): the events that match `query`'s filters and were written
    /// after the event `after_id` (a larger id), oldest first by id, at most
    /// `query.limit`; `next` is the `after_id` of the next call when more are
    /// waiting. `query.before` is ignored. Unlike a time window, this misses
    /// no event that is written late with an earlier time stamp.
    async fn follow(&self, query: &AuditQuery, after_id: i64) -> Result<AuditPage>;
}

/// What [`AuditStore::search`] looks for. Every filter given must match; an
/// absent one matches everything.
///
/// * **Order**: newest first by event time (`at_unix_ms`), ties by id (the
///   later insert first).
/// * **Time bounds**: `since_ms` is inclusive, `until_ms` exclusive
///   (`since_ms <= at_unix_ms < until_ms`), so consecutive windows neither
///   overlap nor leave a gap.
/// * **Cursor**: `before` is the id of the last record of the previous page
///   (its [`AuditPage::next`]); the page holds the records that come after it
///   in that order. Records are never changed, so paging on with the same
///   filters shows every matching record once: none twice, none skipped, even
///   while new ones are written (those are newer than the first page and show
///   up in a new search, except one stamped earlier than the cursor, which
///   comes on a later page).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only this site's events.
    pub site: Option<SiteId>,
    /// Only this user's (1 to [`MAX_USER_LEN`] bytes).
    pub user: Option<String>,
    /// Only this content id's (1 to 256 bytes).
    pub cid: Option<String>,
    /// Only events with this result: `ok` or a refusal code (1 to 256 bytes).
    pub code: Option<String>,
    /// Only events of this kind, e.g. `license`, `upstream`, `packager_keys`
    /// (1 to 256 bytes).
    pub kind: Option<String>,
    /// Only events of this request id (1 to 256 bytes).
    pub request_id: Option<String>,
    /// Events at or after this time, unix milliseconds (inclusive).
    pub since_ms: Option<i64>,
    /// Events before this time, unix milliseconds (exclusive).
    pub until_ms: Option<i64>,
    /// Page size, 1 to [`MAX_PAGE`] ([`DEFAULT_PAGE`] by default).
    pub limit: u32,
    /// Cursor: the id of the last record of the previous page.
    pub before: Option<i64>,
}

impl Default for AuditQuery {
    fn default() -> Self {
        Self {
            site: None,
            user: None,
            cid: None,
            code: None,
            kind: None,
            request_id: None,
            since_ms: None,
            until_ms: None,
            limit: DEFAULT_PAGE,
            before: None,
        }
    }
}

impl AuditQuery {
    /// Checks the bounds of every field (`invalid_input` naming the field).
    pub fn validate(&self) -> Result<()> {
        let text = |field: &'static str, v: Option<&str>, max: usize, reason: &'static str| match v
        {
            Some("") => Err(StoreError::InvalidInput {
                field,
                reason: "must not be empty",
            }),
            Some(v) if v.len() > max => Err(StoreError::InvalidInput { field, reason }),
            _ => Ok(()),
        };
        text(
            "user",
            self.user.as_deref(),
            MAX_USER_LEN,
            "longer than 1024 bytes",
        )?;
        let long = "longer than 256 bytes";
        text("cid", self.cid.as_deref(), MAX_FIELD_LEN, long)?;
        text("code", self.code.as_deref(), MAX_FIELD_LEN, long)?;
        text("kind", self.kind.as_deref(), MAX_FIELD_LEN, long)?;
        text(
            "request_id",
            self.request_id.as_deref(),
            MAX_FIELD_LEN,
            long,
        )?;
        if !(1..=MAX_PAGE).contains(&self.limit) {
            return Err(StoreError::InvalidInput {
                field: "limit",
                reason: "must be 1 to 1000",
            });
        }
        if let (Some(since), Some(until)) = (self.since_ms, self.until_ms) {
            if since > until {
                return Err(StoreError::InvalidInput {
                    field: "until",
                    reason: "earlier than since",
                });
            }
        }
        if self.before.is_some_and(|b| b < 1) {
            return Err(StoreError::InvalidInput {
                field: "before",
                reason: "must be a record id (1 or more)",
            });
        }
        Ok(())
    }

    /// Whether `event` passes the filters (not the cursor).
    pub(crate) fn matches(&self, e: &AuditEvent) -> bool {
        let eq = |want: &Option<String>, got: Option<&str>| {
            want.as_deref().is_none_or(|w| got == Some(w))
        };
        self.site
            .as_ref()
            .is_none_or(|s| e.site_id.as_ref() == Some(s))
            && eq(&self.user, e.user.as_deref())
            && eq(&self.cid, e.cid.as_deref())
            && eq(&self.code, Some(e.result.as_str()))
            && eq(&self.kind, Some(e.kind.as_str()))
            && eq(&self.request_id, e.request_id.as_deref())
            && self.since_ms.is_none_or(|s| e.at_unix_ms >= s)
            && self.until_ms.is_none_or(|u| e.at_unix_ms < u)
    }
}

/// One page of [`AuditStore::search`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditPage {
    /// The matching records, newest first.
    pub records: Vec<AuditRecord>,
    /// The cursor for the next page ([`AuditQuery::before`]); `None` when this
    /// page is the last.
    pub next: Option<i64>,
}

impl AuditPage {
    /// The page from up to `limit + 1` matching records in order: the extra
    /// one only says that there is a next page.
    pub(crate) fn from_overfetch(mut records: Vec<AuditRecord>, limit: u32) -> AuditPage {
        let limit = limit as usize;
        let more = records.len() > limit;
        records.truncate(limit);
        let next = if more {
            records.last().map(|r| r.id)
        } else {
            None
        };
        AuditPage { records, next }
    }
}

/// Parses a time for [`AuditQuery`]: unix seconds (digits only), or RFC 3339
/// (`2024-05-01T12:00:00Z`, any `±hh:mm` offset, an optional fraction kept to
/// the millisecond; `t`/`z` in either case). Returns unix milliseconds, or
/// `None` for anything else (years 0000 to 9999 only).
pub fn parse_time_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if !b.is_empty() && b.len() <= 12 && b.iter().all(u8::is_ascii_digit) {
        return s.parse::<i64>().ok()?.checked_mul(1000);
    }
    if b.len() < 20
        || b.len() > 40
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        let mut v = 0i64;
        for &c in &b[from..to] {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Some(v)
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut rest = &b[19..];
    let mut millis = 0i64;
    if let Some(frac) = rest.strip_prefix(b".") {
        let digits = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        for (i, &c) in frac[..digits.min(3)].iter().enumerate() {
            millis += i64::from(c - b'0') * [100, 10, 1][i];
        }
        rest = &frac[digits..];
    }
    let offset_secs = match rest {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let two = |a: u8, b: u8| -> Option<i64> {
                (a.is_ascii_digit() && b.is_ascii_digit())
                    .then(|| i64::from(a - b'0') * 10 + i64::from(b - b'0'))
            };
            let (h, m) = (two(*h1, *h2)?, two(*m1, *m2)?);
            if h > 23 || m > 59 {
                return None;
            }
            if *sign == b'-' {
                -(h * 3600 + m * 60)
            } else {
                h * 3600 + m * 60
            }
        }
        _ => return None,
    };
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second
        - offset_secs;
    Some(secs * 1000 + millis)
}

/// Formats unix milliseconds as RFC 3339 in UTC with milliseconds
/// (`2024-05-01T12:00:00.250Z`).
pub fn format_time_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600,
        (rem % 3_600) / 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_in_every_accepted_form() {
        let z = 1_636_615_721_000; // 2021-11-11T07:28:41Z
        assert_eq!(parse_time_ms("2021-11-11T07:28:41Z"), Some(z));
        assert_eq!(parse_time_ms("2021-11-11t07:28:41z"), Some(z));
        assert_eq!(parse_time_ms("2021-11-11T16:28:41+09:00"), Some(z));
        assert_eq!(parse_time_ms("2021-11-11T02:28:41-05:00"), Some(z));
        assert_eq!(parse_time_ms("2021-11-11T07:28:41.25Z"), Some(z + 250));
        assert_eq!(parse_time_ms("2021-11-11T07:28:41.123999Z"), Some(z + 123));
        assert_eq!(parse_time_ms("1636615721"), Some(z));
        assert_eq!(parse_time_ms("0"), Some(0));
        for bad in [
            "",
            "-5",
            "+5",
            "1e9",
            "1234567890123",
            "2021-11-11 07:28:41Z",
            "2021-11-11T07:28:41",
            "2021-13-11T07:28:41Z",
            "2021-02-29T07:28:41Z",
            "2021-11-11T24:00:00Z",
            "2021-11-11T07:28:41.Z",
            "2021-11-11T07:28:41+9:00",
            "2021-11-11T07:28:41+24:00",
            "2021-11-11T07:28:41Zjunk",
            "x",
        ] {
            assert_eq!(parse_time_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn times_format_back() {
        assert_eq!(
            format_time_ms(1_636_615_721_250),
            "2021-11-11T07:28:41.250Z"
        );
        assert_eq!(format_time_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_time_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        for ms in [
            0,
            1,
            951_782_400_123,
            1_636_615_721_250,
            253_402_300_799_999,
        ] {
            assert_eq!(parse_time_ms(&format_time_ms(ms)), Some(ms));
        }
    }

    #[test]
    fn queries_are_bounded() {
        let ok = AuditQuery::default();
        assert_eq!(ok.limit, DEFAULT_PAGE);
        assert!(ok.validate().is_ok());
        let field = |q: AuditQuery| match q.validate() {
            Err(StoreError::InvalidInput { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let q = |f: fn(&mut AuditQuery)| {
            let mut q = AuditQuery::default();
            f(&mut q);
            q
        };
        assert_eq!(field(q(|q| q.limit = 0)), "limit");
        assert_eq!(field(q(|q| q.limit = MAX_PAGE + 1)), "limit");
        assert_eq!(field(q(|q| q.user = Some("u".repeat(1025)))), "user");
        assert_eq!(field(q(|q| q.user = Some(String::new()))), "user");
        assert_eq!(field(q(|q| q.cid = Some("c".repeat(257)))), "cid");
        assert_eq!(field(q(|q| q.code = Some("c".repeat(257)))), "code");
        assert_eq!(field(q(|q| q.kind = Some(String::new()))), "kind");
        assert_eq!(field(q(|q| q.before = Some(0))), "before");
        assert_eq!(
            field(q(|q| {
                q.since_ms = Some(2);
                q.until_ms = Some(1);
            })),
            "until"
        );
        assert!(q(|q| q.limit = MAX_PAGE).validate().is_ok());
        assert!(q(|q| q.user = Some("u".repeat(1024))).validate().is_ok());
    }
}
