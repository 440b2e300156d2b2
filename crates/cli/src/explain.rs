//! `keyward explain`: why was this licence request granted or refused? Asks a running
//! `keyward serve` for its decision record (`GET /v1/admin/decisions/{request_id}`)
//! and prints it for a support engineer: the outcome and code, the stage that
//! refused and its message, time per stage, and the credential's non-secret facts.

use std::process::ExitCode;

use clap::Args;
use serde_json::Value;

use crate::admin::fail;

/// `keyward explain` arguments.
#[derive(Args)]
#[command(
    after_help = "Examples:\n  keyward explain 019ac0a2-5f3e-7b21-9c4d-86b5ec2fb1a3 --url http://127.0.0.1:8080 --admin-token \"$KEYWARD_ADMIN_TOKEN\"\n  keyward explain --recent --refused --limit 20\n  keyward explain 019ac0a2-5f3e-7b21-9c4d-86b5ec2fb1a3 --json\n  keyward explain --token \"$TOKEN\" --drm clearkey --cid movie-1"
)]
pub struct ExplainArgs {
    /// The request id (the `x-request-id` of the answer, or the access log's
    /// `request_id`).
    #[arg(required_unless_present_any = ["recent", "token"])]
    request_id: Option<String>,
    /// Instead of a request id: a dry run of a credential a support engineer pastes
    /// (nothing is used up, nobody is called, no key is released).
    #[arg(long, conflicts_with_all = ["request_id", "recent"])]
    token: Option<String>,
    /// With --token: the header a player sends it in.
    #[arg(long, requires = "token", default_value = "pallycon-customdata-v2")]
    header: String,
    /// With --token: the endpoint's DRM (clearkey, widevine, playready, fairplay).
    #[arg(long, requires = "token")]
    drm: Option<String>,
    /// With --token: the content id the request would name.
    #[arg(long, requires = "token")]
    cid: Option<String>,
    /// Instead of one request: the most recent decisions, newest first.
    #[arg(long, conflicts_with = "request_id")]
    recent: bool,
    /// With --recent: only refused requests.
    #[arg(long, requires = "recent")]
    refused: bool,
    /// With --recent: how many (1 to 1000).
    #[arg(long, default_value_t = 20, requires = "recent")]
    limit: u32,
    /// The server's base URL.
    #[arg(long, env = "KEYWARD_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The admin token of that server.
    #[arg(long, env = "KEYWARD_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Print the decision record(s) as JSON (one object a line).
    #[arg(long)]
    json: bool,
}

fn show(d: &Value) {
    let s = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("-");
    let at = d
        .get("at_unix_ms")
        .and_then(Value::as_i64)
        .and_then(|ms| keyward_token::Timestamp::from_unix(ms.div_euclid(1000)))
        .map_or_else(|| "-".to_owned(), |t| t.to_string());
    let outcome = s("outcome").to_uppercase();
    match d.get("refused_at").and_then(Value::as_str) {
        Some(stage) => println!(
            "request {}  {at}  {outcome} {} at {stage}",
            s("request_id"),
            s("code")
        ),
        None => println!("request {}  {at}  {outcome}", s("request_id")),
    }
    if let Some(m) = d.get("message").and_then(Value::as_str) {
        println!("  why: {m}");
    }
    for st in d
        .get("stages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = st.get("stage").and_then(Value::as_str).unwrap_or("-");
        let result = st.get("result").and_then(Value::as_str).unwrap_or("-");
        let door = match name {
            "front_door" => format!(" ({})", s("front_door")),
            "back_door" if result != "not_reached" => format!(" ({})", s("back_door")),
            _ => String::new(),
        };
        match st.get("us").and_then(Value::as_u64) {
            Some(us) => println!("  {name}{door}: {result}, {us} µs"),
            None => println!("  {name}{door}: {result}"),
        }
    }
    let checks: Vec<String> = d
        .get("gatekeeper_checks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            format!(
                "{} {}",
                c.get("check").and_then(Value::as_str).unwrap_or("-"),
                c.get("result").and_then(Value::as_str).unwrap_or("-")
            )
        })
        .collect();
    if !checks.is_empty() {
        println!("  gatekeeper checks: {}", checks.join(", "));
    }
    match d.get("credential") {
        Some(c) => {
            let f = |k: &str| {
                c.get(k).map_or("-".to_owned(), |v| match v {
                    Value::String(t) => t.clone(),
                    other => other.to_string(),
                })
            };
            println!(
                "  credential: {} token, site {}, user {}, cid {}, drm {}, {} key(s) carried, persistent {}",
                f("origin"),
                f("site"),
                f("user"),
                f("cid"),
                f("drm"),
                f("keys_carried"),
                f("persistent")
            );
            for k in ["license_duration_s", "expires", "stream_limit"] {
                if let Some(v) = c.get(k) {
                    println!("    {k}: {v}");
                }
            }
        }
        None => println!("  credential: not verified (nothing from it is trusted)"),
    }
    if let Some(t) = d.get("total_us").and_then(Value::as_u64) {
        println!("  total: {t} µs");
    }
}

fn show_dry_run(v: &Value) {
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("-");
    match s("verdict") {
        "refused" => println!(
            "dry run: REFUSED {} at {}\n  why: {}",
            s("code"),
            s("refused_at"),
            s("message")
        ),
        _ => println!(
            "dry run: PASSES every check a dry run can make\n  {}",
            s("note")
        ),
    }
    if let Some(c) = v.get("credential") {
        let f = |k: &str| {
            c.get(k).map_or("-".to_owned(), |x| match x {
                Value::String(t) => t.clone(),
                other => other.to_string(),
            })
        };
        println!(
            "  credential: {} token, site {}, user {}, cid {}, drm {}",
            f("origin"),
            f("site"),
            f("user"),
            f("cid"),
            f("drm")
        );
    }
    for c in v
        .get("checks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = c.get("check").and_then(Value::as_str).unwrap_or("-");
        let result = c.get("result").and_then(Value::as_str).unwrap_or("-");
        match c.get("note").and_then(Value::as_str) {
            Some(n) => println!("  {name}: {result} ({n})"),
            None => println!("  {name}: {result}"),
        }
    }
}

/// Runs `keyward explain`.
pub fn run(a: ExplainArgs) -> ExitCode {
    let Some(token) = a.admin_token.filter(|t| !t.is_empty()) else {
        return fail(
            "invalid_input",
            "give --admin-token (or KEYWARD_ADMIN_TOKEN): the decision records are on the admin API",
        );
    };
    let base = a.url.trim_end_matches('/').to_owned();
    let dry = a.token.as_ref().map(|t| {
        let mut body = serde_json::json!({"credential": t, "header": a.header});
        if let Some(d) = &a.drm {
            body["drm"] = Value::String(d.clone());
        }
        if let Some(c) = &a.cid {
            body["cid"] = Value::String(c.clone());
        }
        body
    });
    let url = match &a.request_id {
        _ if dry.is_some() => format!("{base}/v1/admin/explain"),
        Some(rid) if !a.recent => {
            let rid: String = form_urlencoded::byte_serialize(rid.as_bytes()).collect();
            format!("{base}/v1/admin/decisions/{rid}")
        }
        _ => format!(
            "{base}/v1/admin/decisions?limit={}{}",
            a.limit,
            if a.refused { "&outcome=refused" } else { "" }
        ),
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail("io", &format!("cannot start the runtime: {e}")),
    };
    let answer = rt.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| e.to_string())?;
        let req = match &dry {
            Some(body) => client
                .post(&url)
                .header("content-type", "application/json")
                .body(body.to_string()),
            None => client.get(&url),
        };
        let resp = req
            .bearer_auth(&token)
            .send()
            .await
            .map_err(|e| format!("cannot reach {base}: {e}"))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| format!("{base} answered {status}, unreadable: {e}"))?;
        let body: Value = serde_json::from_slice(&bytes)
            .map_err(|_| format!("{base} answered {status} without JSON"))?;
        Ok::<_, String>((status, body))
    });
    let (status, body): (reqwest::StatusCode, Value) = match answer {
        Ok(x) => x,
        Err(m) => return fail("io", &m),
    };
    if !status.is_success() {
        let code = body.get("code").and_then(Value::as_str).unwrap_or("error");
        let detail = body
            .get("detail")
            .and_then(Value::as_str)
            .unwrap_or("the server refused");
        return fail(code, detail);
    }
    if dry.is_some() {
        if a.json {
            println!("{body}");
        } else {
            show_dry_run(&body);
        }
        return ExitCode::SUCCESS;
    }
    let records: Vec<&Value> = match &body {
        Value::Array(list) => list.iter().collect(),
        one => vec![one],
    };
    for d in records {
        if a.json {
            println!("{d}");
        } else {
            show(d);
        }
    }
    ExitCode::SUCCESS
}
