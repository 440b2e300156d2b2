//! `keyward token issue|inspect` and `keyward customdata make`.
//!
//! Invalid input exits with status 2 and one JSON line on stderr, coded like
//! the vendor SDKs: `{"error_code":"1022","error_message":"…"}`. Codes the SDKs
//! do not define are keyward's own: 1090 unknown drm type, 1091 bad timestamp.

use std::io::Read;
use std::process::ExitCode;

use clap::Subcommand;
use keyward_token::{
    parse_site_id, AuthData, CustomDataV2, DrmType, ResponseFormat, SdkCode, SiteCredentials,
    SiteKey, Timestamp, TokenBuilder, VerifyOptions,
};
use serde_json::{json, Value};

use crate::rfc3339;

const EXAMPLE_ISSUE: &str = "Example:
  echo '{\"policy_version\":2,\"playback_policy\":{\"persistent\":false,\"license_duration\":3600}}' |
  keyward token issue --site-id TUTO --site-key lU5D8s3PWoLls3PWFWkClULlFWk5D8oC \\
      --access-key LT2FVJDp2Xr018zf4Di6lzvNOv3DKP20 --drm-type Widevine \\
      --user-id test-user --cid bigbuckbunny --policy -

The policy file is the PallyCon v2 policy JSON (playback_policy, security_policy,
external_key); its bytes are encrypted exactly as given (surrounding whitespace
trimmed) after validation with the SDKs' codes 1005-1062.
Errors: exit 2 and {\"error_code\":\"NNNN\",\"error_message\":\"...\"} on stderr.";

const EXAMPLE_INSPECT: &str = "Example:
  keyward token inspect eyJkcm1fdHlwZSI6... --site-key K --access-key A --now 2021-11-11T07:30:00Z

Without keys it shows what can be seen without secrets (fields, age, window).
With keys it checks the hash, decrypts the policy and runs the full
verification. Exit status: 0 verified (or decoded, without keys), 1 verification
failed, 2 not a token.";

/// Token commands.
#[derive(Subcommand)]
pub enum TokenCommand {
    /// Mint a PallyCon/DoveRunner license token (v2).
    #[command(after_help = EXAMPLE_ISSUE)]
    Issue(IssueArgs),
    /// Decode a token and, with the site's keys, verify it.
    #[command(after_help = EXAMPLE_INSPECT)]
    Inspect(InspectArgs),
}

/// `token issue` arguments (all optional to clap, so that missing ones get the
/// SDKs' codes 1000–1005 rather than a usage error).
#[derive(clap::Args)]
pub struct IssueArgs {
    /// Site id: four uppercase letters (SDK code 1002).
    #[arg(long)]
    site_id: Option<String>,
    /// Site key: the console's 32-character string (1004). Or env KEYWARD_SITE_KEY.
    #[arg(long, env = "KEYWARD_SITE_KEY", hide_env_values = true)]
    site_key: Option<String>,
    /// Access key: 32 characters (1003). Or env KEYWARD_ACCESS_KEY.
    #[arg(long, env = "KEYWARD_ACCESS_KEY", hide_env_values = true)]
    access_key: Option<String>,
    /// DRM: Widevine, PlayReady, FairPlay, NCG, Wiseplay, or ClearKey (keyward) [default: PlayReady].
    #[arg(long)]
    drm_type: Option<String>,
    /// The service's user id (1000); LICENSETOKEN when there is none.
    #[arg(long)]
    user_id: Option<String>,
    /// Content id used at packaging (1001).
    #[arg(long)]
    cid: Option<String>,
    /// Policy JSON file, or - for standard input (1005).
    #[arg(long)]
    policy: Option<String>,
    /// Token timestamp, RFC 3339 [default: now].
    #[arg(long)]
    timestamp: Option<String>,
    /// original, custom or json [default: original] (1048).
    #[arg(long)]
    response_format: Option<String>,
    /// true or false [default: false] (1055).
    #[arg(long)]
    key_rotation: Option<String>,
    /// Print {token, token_json, policy_json, hash, timestamp} instead of the token.
    #[arg(long)]
    json: bool,
}

/// `token inspect` arguments.
#[derive(clap::Args)]
pub struct InspectArgs {
    /// The token, or - to read it from standard input.
    token: String,
    /// Site key (decrypts the policy). Or env KEYWARD_SITE_KEY.
    #[arg(long, env = "KEYWARD_SITE_KEY", hide_env_values = true)]
    site_key: Option<String>,
    /// Access key (checks the hash). Or env KEYWARD_ACCESS_KEY.
    #[arg(long, env = "KEYWARD_ACCESS_KEY", hide_env_values = true)]
    access_key: Option<String>,
    /// Judge the window at this time, RFC 3339 [default: now].
    #[arg(long)]
    now: Option<String>,
    /// Token window in seconds.
    #[arg(long, default_value_t = 600)]
    window: u32,
    /// Leeway for timestamps ahead of --now, seconds.
    #[arg(long, default_value_t = 60)]
    leeway: u32,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Callback auth data commands.
#[derive(Subcommand)]
pub enum CustomdataCommand {
    /// Print pallycon-customdata-v2 auth data for callback mode.
    #[command(
        after_help = "Example:\n  keyward customdata make --site-id DEMO --site-key <32 chars> --user-id alice --cid movie-1 --drm-type Widevine"
    )]
    Make(CustomdataArgs),
}

/// `customdata make` arguments.
#[derive(clap::Args)]
pub struct CustomdataArgs {
    /// Site id.
    #[arg(long)]
    site_id: String,
    /// Site key (32 characters). Or env KEYWARD_SITE_KEY.
    #[arg(long, env = "KEYWARD_SITE_KEY", hide_env_values = true)]
    site_key: String,
    /// User id.
    #[arg(long)]
    user_id: String,
    /// Content id.
    #[arg(long)]
    cid: String,
    /// Optional id passed to the callback (an order id, say).
    #[arg(long)]
    oid: Option<String>,
    /// DRM type.
    #[arg(long, default_value = "Widevine")]
    drm_type: String,
    /// Also print the legacy pallycon-customdata form.
    #[arg(long)]
    legacy: bool,
}

fn fail(code: &str, message: &str) -> ExitCode {
    eprintln!("{}", json!({"error_code": code, "error_message": message}));
    ExitCode::from(2)
}

fn fail_token(e: &keyward_token::TokenError) -> ExitCode {
    eprintln!("{}", e.to_json());
    ExitCode::from(2)
}

fn read_input(arg: &str) -> Result<String, String> {
    if arg == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        Ok(s)
    } else {
        std::fs::read(arg)
            .map_err(|e| format!("cannot read {arg}: {e}"))
            .and_then(|b| String::from_utf8(b).map_err(|_| format!("{arg} is not UTF-8")))
    }
}

/// Runs a token command.
pub fn run(c: TokenCommand) -> ExitCode {
    match c {
        TokenCommand::Issue(a) => issue(a),
        TokenCommand::Inspect(a) => inspect(a),
    }
}

fn issue(a: IssueArgs) -> ExitCode {
    let user_id = match a.user_id {
        Some(u) => u,
        None => return fail("1000", "Token err : The userId is Required (--user-id)"),
    };
    let cid = match a.cid {
        Some(c) => c,
        None => return fail("1001", "Token err : The cId is Required (--cid)"),
    };
    let Some(site_id) = a.site_id else {
        return fail("1002", "Token err : The siteId is Required (--site-id)");
    };
    let Some(access_key) = a.access_key else {
        return fail(
            "1003",
            "Token err : The accessKey is Required (--access-key or KEYWARD_ACCESS_KEY)",
        );
    };
    let Some(site_key) = a.site_key else {
        return fail(
            "1004",
            "Token err : The siteKey is Required (--site-key or KEYWARD_SITE_KEY)",
        );
    };
    let creds = match SiteCredentials::new(&site_id, site_key.as_bytes(), access_key.as_bytes()) {
        Ok(c) => c,
        Err(e) => return fail_token(&e),
    };
    let Some(policy_arg) = a.policy else {
        return fail(
            "1005",
            "Token err : The policy is Required (--policy FILE or -)",
        );
    };
    let policy_text = match read_input(&policy_arg) {
        Ok(t) => t,
        Err(m) => return fail("1005", &format!("Token err : The policy is Required: {m}")),
    };
    let mut b = TokenBuilder::new().user_id(user_id).cid(cid);
    if let Some(d) = a.drm_type {
        match DrmType::parse_ignore_case(&d) {
            Ok(d) => b = b.drm_type(d),
            Err(_) => {
                return fail(
                    "1090",
                    &format!("drm_type '{d}' is not one of Widevine, PlayReady, FairPlay, NCG, Wiseplay, ClearKey"),
                )
            }
        }
    }
    if let Some(f) = a.response_format {
        match ResponseFormat::parse(&f) {
            Ok(f) => b = b.response_format(f),
            Err(e) => return fail_token(&e),
        }
    }
    if let Some(k) = a.key_rotation {
        match k.as_str() {
            "true" => b = b.key_rotation(true),
            "false" => b = b.key_rotation(false),
            _ => {
                return fail(
                    &SdkCode::KeyRotation.to_string(),
                    "Token err : The key_rotation should be Boolean (true or false)",
                )
            }
        }
    }
    if let Some(t) = a.timestamp {
        match rfc3339::parse(&t) {
            Some(t) => b = b.timestamp(t),
            None => {
                return fail(
                    "1091",
                    "timestamp must be RFC 3339, e.g. 2021-11-11T07:28:41Z",
                )
            }
        }
    }
    b = match b.policy_json(&policy_text) {
        Ok(b) => b,
        Err(e) => return fail_token(&e),
    };
    match b.mint(&creds) {
        Ok(m) => {
            if a.json {
                println!(
                    "{}",
                    json!({"token": m.token, "token_json": m.token_json, "policy_json": m.policy_json,
                           "hash": m.hash, "timestamp": m.timestamp.to_string()})
                );
            } else {
                println!("{}", m.token);
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail_token(&e),
    }
}

fn inspect(a: InspectArgs) -> ExitCode {
    let text = if a.token == "-" {
        match read_input("-") {
            Ok(t) => t,
            Err(m) => return fail("7009", &m),
        }
    } else {
        a.token.clone()
    };
    let text = text.trim();
    let now = match a.now.as_deref() {
        None => Timestamp::now(),
        Some(n) => match rfc3339::parse(n) {
            Some(t) => t,
            None => return fail("1091", "--now must be RFC 3339, e.g. 2021-11-11T07:30:00Z"),
        },
    };
    let t = match CustomDataV2::parse(text) {
        Ok(CustomDataV2::LicenseToken(t)) => t,
        Ok(CustomDataV2::AuthData(ad)) => {
            let out = json!({"kind": "callback auth data", "site_id": ad.site_id().as_str(), "drm_type": ad.drm_type().as_str()});
            println!(
                "{}",
                if a.json {
                    out.to_string()
                } else {
                    format!(
                        "callback auth data for site {} ({})",
                        ad.site_id(),
                        ad.drm_type()
                    )
                }
            );
            return ExitCode::SUCCESS;
        }
        Err(e) => return fail(&e.code().to_string(), &e.to_string()),
    };
    let opts = VerifyOptions {
        now,
        window_secs: a.window,
        leeway_secs: a.leeway,
    };
    let mut out = json!({
        "kind": "license token",
        "fields": {
            "drm_type": t.untrusted_drm_type(),
            "site_id": t.untrusted_site_id(),
            "user_id": t.untrusted_user_id(),
            "cid": t.untrusted_cid(),
            "timestamp": t.untrusted_timestamp(),
            "response_format": t.untrusted_response_format(),
            "key_rotation": t.untrusted_key_rotation(),
            "policy": t.untrusted_policy_b64(),
            "hash": t.untrusted_hash(),
        },
        "legacy_policy_key": t.uses_legacy_policy_key(),
        "now": now.to_string(),
    });
    match t.time_verdict(&opts) {
        Ok(v) => {
            out["age_secs"] = json!(v.age_secs);
            out["window_secs"] = json!(v.window_secs);
            out["window"] = json!(if v.is_valid() {
                "inside"
            } else if v.age_secs < 0 {
                "in the future"
            } else {
                "expired"
            });
        }
        Err(e) => out["window"] = json!(format!("unreadable: {e}")),
    }
    let mut code = ExitCode::SUCCESS;
    let access = a
        .access_key
        .as_deref()
        .map(|k| keyward_token::AccessKey::new(k.as_bytes()));
    let site_key = a.site_key.as_deref().map(|k| SiteKey::new(k.as_bytes()));
    match &access {
        Some(Ok(ak)) => out["hash_valid"] = json!(t.hash_matches(ak)),
        Some(Err(e)) => return fail_token(e),
        None => out["hash_valid"] = Value::Null,
    }
    match &site_key {
        Some(Ok(sk)) => match keyward_token::pallycon::dangerous::open_policy_unverified(&t, sk) {
            Ok((json_text, _)) => {
                out["policy_json"] =
                    serde_json::from_str(&json_text).unwrap_or(Value::String(json_text));
            }
            Err(e) => {
                out["policy_error"] =
                    json!({"error_code": e.code().to_string(), "error_message": e.to_string()})
            }
        },
        Some(Err(e)) => return fail_token(e),
        None => {}
    }
    if let (Some(Ok(sk)), Some(Ok(ak))) = (&site_key, &access) {
        let site_id = match parse_site_id(t.untrusted_site_id()) {
            Ok(s) => s,
            Err(e) => return fail_token(&e),
        };
        let creds = SiteCredentials {
            site_id,
            site_key: sk.clone(),
            access_key: ak.clone(),
        };
        match t.verify(&creds, &opts) {
            Ok(v) => {
                out["verify"] = json!({"ok": true, "drm_type": v.drm_type().as_str()});
            }
            Err(e) => {
                out["verify"] = json!({"ok": false, "error_code": e.code().to_string(), "error_message": e.to_string()});
                code = ExitCode::from(1);
            }
        }
    }
    if a.json {
        println!("{out}");
    } else {
        print_human(&out);
    }
    code
}

fn print_human(v: &Value) {
    let f = &v["fields"];
    let s = |x: &Value| match x {
        Value::Null => "(absent)".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    println!(
        "license token (PallyCon v2){}",
        if v["legacy_policy_key"] == json!(true) {
            ", legacy 'token' key"
        } else {
            ""
        }
    );
    for k in [
        "drm_type",
        "site_id",
        "user_id",
        "cid",
        "timestamp",
        "response_format",
        "key_rotation",
        "hash",
    ] {
        println!("  {k:<16} {}", s(&f[k]));
    }
    println!("  {:<16} {}", "policy", s(&f["policy"]));
    println!(
        "  {:<16} {} s (window {} s, server time {}): {}",
        "age",
        s(&v["age_secs"]),
        s(&v["window_secs"]),
        s(&v["now"]),
        s(&v["window"])
    );
    match &v["hash_valid"] {
        Value::Bool(b) => println!(
            "  {:<16} {}",
            "hash",
            if *b { "valid" } else { "DOES NOT MATCH" }
        ),
        _ => println!("  {:<16} not checked (give --access-key)", "hash"),
    }
    if let Some(p) = v.get("policy_json") {
        println!(
            "  decrypted policy:\n{}",
            serde_json::to_string_pretty(p).unwrap_or_default()
        );
    } else if let Some(e) = v.get("policy_error") {
        println!(
            "  policy           cannot be opened: {}",
            s(&e["error_message"])
        );
    } else {
        println!("  policy           encrypted (give --site-key to decrypt)");
    }
    if let Some(r) = v.get("verify") {
        if r["ok"] == json!(true) {
            println!("verify: OK");
        } else {
            println!(
                "verify: FAILED {} {}",
                s(&r["error_code"]),
                s(&r["error_message"])
            );
        }
    }
}

/// Runs a customdata command.
pub fn run_customdata(c: CustomdataCommand) -> ExitCode {
    let CustomdataCommand::Make(a) = c;
    let Ok(drm_type) = DrmType::parse_ignore_case(&a.drm_type) else {
        return fail(
            "1090",
            "drm_type is not one of Widevine, PlayReady, FairPlay, NCG, Wiseplay, ClearKey",
        );
    };
    let site_id = match parse_site_id(&a.site_id) {
        Ok(s) => s,
        Err(e) => return fail_token(&e),
    };
    let key = match SiteKey::new(a.site_key.as_bytes()) {
        Ok(k) => k,
        Err(e) => return fail_token(&e),
    };
    let ad = AuthData {
        drm_type,
        site_id,
        user_id: a.user_id,
        cid: a.cid,
        oid: a.oid,
        content_type: None,
    };
    println!("{}", ad.encode(&key));
    if a.legacy {
        match ad.encode_legacy(&key) {
            Some(l) => println!("{l}"),
            None => {
                return fail(
                    "1090",
                    "the legacy form exists only for Widevine, PlayReady and FairPlay",
                )
            }
        }
    }
    ExitCode::SUCCESS
}
