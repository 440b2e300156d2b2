//! Licence statistics: counts per day, DRM and result, read from the audit trail
//! (`kind = "license"`, `detail.client`, `detail.client_data`).
//!
//! A concern of its own because it is a query over the audit events, not client
//! state: a backend that keeps its audit trail elsewhere answers it there.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};

/// What `license_stats` counts.
#[derive(Clone, Debug, Default)]
pub struct StatsQuery {
    /// Client name.
    pub client: String,
    /// From (unix ms, inclusive).
    pub since_ms: Option<i64>,
    /// Until (unix ms, exclusive).
    pub until_ms: Option<i64>,
    /// Only licences whose `client_data[key]` equals `value` (numbers and
    /// booleans compare by their JSON text).
    pub client_data: Option<(String, String)>,
}

/// One row of licence statistics.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsRow {
    /// UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// DRM name.
    pub drm: String,
    /// `ok` or the refusal code.
    pub result: String,
    /// How many.
    pub count: u64,
}

/// Licence statistics. Implemented by both stores.
#[async_trait]
pub trait StatsStore: Send + Sync {
    /// Licence counts per day, DRM and result, ordered by day, DRM, result.
    async fn license_stats(&self, q: &StatsQuery) -> Result<Vec<StatsRow>>;
}

pub(crate) fn validate_stats_key(key: &str) -> Result<()> {
    if key.is_empty()
        || key.len() > 64
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
    {
        return Err(StoreError::InvalidInput {
            field: "client_data key",
            reason: "must be 1 to 64 characters of A-Z a-z 0-9 _ - .",
        });
    }
    Ok(())
}

/// `YYYY-MM-DD` of a unix-ms time (UTC).
pub(crate) fn day_of(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The JSON text a `client_data` value is compared by.
pub(crate) fn client_data_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days() {
        assert_eq!(day_of(0), "1970-01-01");
        assert_eq!(day_of(1_740_830_400_000), "2025-03-01");
    }
}
