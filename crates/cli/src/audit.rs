//! `keyward audit search|tail`: the audit trail of the embedded store (licence
//! outcomes, upstream calls, packager key requests), with the filters of
//! `GET /v1/admin/audit`. Like `key list`, it reads the store `keyward serve`
//! uses, also while the server runs (it never takes the server's single-use
//! lock), and never creates one.

use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use keyward_store::audit::{format_time_ms, parse_time_ms, MAX_PAGE};
use keyward_store::{AuditQuery, AuditRecord, SiteId, Store};

use crate::admin::{fail, store_fail, with_store, StoreArgs};

/// Audit commands.
#[derive(Subcommand)]
pub enum AuditCommand {
    /// Search the audit trail, newest first (a table; --json for one JSON object per line).
    /// To page on, pass the last row's id as --before (the table's footer names it).
    #[command(
        after_help = "Examples:\n  keyward audit search --site-id TUTO --user alice --since 2024-05-01T00:00:00Z\n  keyward audit search --code 7011 --since 2h --json | jq -r .request_id\n  keyward audit search --cid movie-1 --until 1714521600 --limit 1000 --before 48213"
    )]
    Search {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        filters: Filters,
        /// Most rows to print, 1 to 1000.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Only rows after this one in the order (the id of the last row of the previous page).
        #[arg(long)]
        before: Option<i64>,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print the newest rows, oldest of them first; with --follow, keep printing new rows
    /// as they are written (polling the store) until Ctrl-C.
    #[command(
        after_help = "Examples:\n  keyward audit tail --site-id TUTO --follow\n  keyward audit tail --code 7011 --limit 50 --follow --interval-ms 500 --json"
    )]
    Tail {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        filters: Filters,
        /// How many of the newest rows to print first, 0 to 1000.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Keep printing rows as they are written.
        #[arg(long)]
        follow: bool,
        /// With --follow: how often to look for new rows, milliseconds (50 to 60000).
        #[arg(long, default_value_t = 1000)]
        interval_ms: u64,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// The filters both commands share (those of `GET /v1/admin/audit`).
#[derive(clap::Args, Clone)]
pub struct Filters {
    /// Only this site's rows.
    #[arg(long)]
    site_id: Option<String>,
    /// Only this end user's rows (licences: the token's user id; Studio tokens: the client).
    #[arg(long)]
    user: Option<String>,
    /// Only this content id's rows.
    #[arg(long)]
    cid: Option<String>,
    /// Only rows with this result: ok or a refusal code (e.g. 7011).
    #[arg(long)]
    code: Option<String>,
    /// Only rows of this kind: license, upstream, packager_keys, decision.
    #[arg(long)]
    kind: Option<String>,
    /// Only rows of this request id (the x-request-id a player or log shows).
    #[arg(long)]
    request_id: Option<String>,
    /// Rows at or after this time: RFC 3339 (2024-05-01T12:00:00Z), unix seconds, or an age
    /// (30s, 15m, 2h, 7d ago).
    #[arg(long)]
    since: Option<String>,
    /// Rows before this time (exclusive), in the same forms.
    #[arg(long)]
    until: Option<String>,
}

/// Parses `--since` / `--until`: RFC 3339, unix seconds, or an age before `now_ms`.
fn parse_time(flag: &str, v: &str, now_ms: i64) -> Result<i64, ExitCode> {
    if let Some(ms) = parse_time_ms(v) {
        return Ok(ms);
    }
    let age = v
        .len()
        .checked_sub(1)
        .filter(|n| (1..=9).contains(n))
        .and_then(|n| {
            let (digits, unit) = v.split_at(n);
            let count: i64 = digits
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| digits.parse().ok())??;
            let unit_ms = match unit {
                "s" => 1_000,
                "m" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                _ => return None,
            };
            count.checked_mul(unit_ms)
        });
    match age {
        Some(ms) => Ok(now_ms.saturating_sub(ms)),
        None => Err(fail(
            "invalid_input",
            &format!(
                "invalid {flag}: expected RFC 3339 (2024-05-01T12:00:00Z), unix seconds, or an age such as 30s, 15m, 2h, 7d"
            ),
        )),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Filters {
    /// The store query, or the JSON error line (exit 2) for a bad filter.
    fn query(&self, limit: u32) -> Result<AuditQuery, ExitCode> {
        let now = now_ms();
        let site = match &self.site_id {
            Some(s) => Some(SiteId::parse(s).map_err(|e| store_fail(&e.into()))?),
            None => None,
        };
        let time = |flag: &str, v: &Option<String>| {
            v.as_deref().map(|v| parse_time(flag, v, now)).transpose()
        };
        let q = AuditQuery {
            site,
            user: self.user.clone(),
            cid: self.cid.clone(),
            code: self.code.clone(),
            kind: self.kind.clone(),
            request_id: self.request_id.clone(),
            since_ms: time("--since", &self.since)?,
            until_ms: time("--until", &self.until)?,
            limit,
            before: None,
        };
        q.validate().map_err(|e| store_fail(&e))?;
        Ok(q)
    }
}

/// A value for the table: control characters (a user id can hold anything)
/// shown escaped, so a row cannot move the cursor or recolour the terminal.
fn cell(v: Option<&str>) -> String {
    match v {
        None | Some("") => "-".to_owned(),
        Some(v) if v.chars().any(char::is_control) => v
            .chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
        Some(v) => v.to_owned(),
    }
}

const HEADER: [&str; 8] = [
    "ID", "TIME", "SITE", "KIND", "CID", "USER", "RESULT", "REQUEST",
];

fn table_line(cols: &[String; 8]) -> String {
    format!(
        "{:<8} {:<24} {:<4} {:<13} {:<20} {:<16} {:<8} {}",
        cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7]
    )
    .trim_end()
    .to_owned()
}

fn print_header(json: bool) {
    if !json {
        println!("{}", table_line(&HEADER.map(str::to_owned)));
    }
}

fn print_record(r: &AuditRecord, json: bool) {
    if json {
        println!("{}", serde_json::to_string(r).unwrap_or_default());
        return;
    }
    let e = &r.event;
    println!(
        "{}",
        table_line(&[
            r.id.to_string(),
            format_time_ms(e.at_unix_ms),
            cell(e.site_id.as_ref().map(SiteId::as_str)),
            cell(Some(&e.kind)),
            cell(e.cid.as_deref()),
            cell(e.user.as_deref()),
            cell(Some(&e.result)),
            cell(e.request_id.as_deref()),
        ])
    );
}

/// Runs an audit command.
pub fn run(c: AuditCommand) -> ExitCode {
    match c {
        AuditCommand::Search {
            store,
            filters,
            limit,
            before,
            json,
        } => {
            if !(1..=MAX_PAGE).contains(&limit) {
                return fail("invalid_input", "invalid --limit: must be 1 to 1000");
            }
            let mut q = match filters.query(limit) {
                Ok(q) => q,
                Err(code) => return code,
            };
            q.before = before;
            with_store(&store, |s| Box::pin(search(s, q, json)))
        }
        AuditCommand::Tail {
            store,
            filters,
            limit,
            follow,
            interval_ms,
            json,
        } => {
            if limit > MAX_PAGE {
                return fail("invalid_input", "invalid --limit: must be 0 to 1000");
            }
            if !(50..=60_000).contains(&interval_ms) {
                return fail(
                    "invalid_input",
                    "invalid --interval-ms: must be 50 to 60000",
                );
            }
            let q = match filters.query(MAX_PAGE) {
                Ok(q) => q,
                Err(code) => return code,
            };
            let interval = Duration::from_millis(interval_ms);
            with_store(&store, |s| {
                Box::pin(tail(s, q, limit, follow.then_some(interval), json))
            })
        }
    }
}

async fn search(s: &dyn Store, q: AuditQuery, json: bool) -> ExitCode {
    let page = match s.search(&q).await {
        Ok(p) => p,
        Err(e) => return store_fail(&e),
    };
    print_header(json);
    for r in &page.records {
        print_record(r, json);
    }
    if let (Some(next), false) = (page.next, json) {
        eprintln!("more rows: add --before {next}");
    }
    ExitCode::SUCCESS
}

async fn tail(
    s: &dyn Store,
    mut q: AuditQuery,
    limit: u32,
    follow: Option<Duration>,
    json: bool,
) -> ExitCode {
    // Where following starts: the last event written so far (read first, so
    // nothing written while the newest rows are read is missed).
    let mut after = match s.recent(None, 1).await {
        Ok(last) => last.first().map_or(0, |r| r.id),
        Err(e) => return store_fail(&e),
    };
    print_header(json);
    if limit > 0 {
        q.limit = limit;
        let newest = match s.search(&q).await {
            Ok(p) => p.records,
            Err(e) => return store_fail(&e),
        };
        for r in newest.iter().rev() {
            print_record(r, json);
        }
        after = newest.iter().map(|r| r.id).fold(after, i64::max);
    }
    let Some(interval) = follow else {
        return ExitCode::SUCCESS;
    };
    q.limit = MAX_PAGE;
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        let page = match s.follow(&q, after).await {
            Ok(p) => p,
            Err(e) => return store_fail(&e),
        };
        for r in &page.records {
            print_record(r, json);
        }
        if let Some(last) = page.records.last() {
            after = last.id;
        }
        if page.next.is_some() {
            continue;
        }
        tokio::select! {
            _ = &mut stop => return ExitCode::SUCCESS,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_ages() {
        let now = 1_714_521_600_000;
        let p = |v: &str| parse_time("--since", v, now).ok();
        assert_eq!(p("2024-05-01T00:00:00Z"), Some(now));
        assert_eq!(p("1714521600"), Some(now));
        assert_eq!(p("30s"), Some(now - 30_000));
        assert_eq!(p("15m"), Some(now - 900_000));
        assert_eq!(p("2h"), Some(now - 7_200_000));
        assert_eq!(p("7d"), Some(now - 604_800_000));
        for bad in [
            "yesterday",
            "2h30m",
            "h",
            "-2h",
            "+2h",
            "1.5h",
            "2w",
            "1234567890s",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }

    #[test]
    fn cells_escape_control_characters() {
        assert_eq!(cell(None), "-");
        assert_eq!(cell(Some("")), "-");
        assert_eq!(cell(Some("alice")), "alice");
        assert_eq!(cell(Some("a\u{1b}[31mb\n")), "a\\u{1b}[31mb\\n");
    }
}
