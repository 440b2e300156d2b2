//! The OpenAPI 3.1 document for the native and admin endpoints, built next to
//! the routes it describes and served at `/openapi.json`. CI compares it with
//! the committed `docs/openapi.json`, so every API change shows up in review.

use serde_json::{json, Value};

use crate::codes::{self, Dialects};
use crate::render::status;

/// The registered codes a dialect answers with a status, as `a, b, c`.
fn codes_with(d: Dialects, http: u16) -> String {
    codes::ALL
        .iter()
        .filter(|c| c.dialects.contains(d) && status(c.class).as_u16() == http)
        .map(|c| c.wire)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The statuses a dialect's codes use.
fn statuses(d: Dialects) -> Vec<u16> {
    let mut out: Vec<u16> = codes::ALL
        .iter()
        .filter(|c| c.dialects.contains(d))
        .map(|c| status(c.class).as_u16())
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// References to the shared problem responses of a dialect (`name`), one per
/// status its codes use.
fn problems(d: Dialects, name: &str) -> Value {
    let mut out = serde_json::Map::new();
    for s in statuses(d) {
        out.insert(
            s.to_string(),
            json!({"$ref": format!("#/components/responses/{name}{s}")}),
        );
    }
    Value::Object(out)
}

/// The shared problem responses, each listing its codes (generated from the
/// registry).
fn problem_responses() -> Value {
    let mut out = serde_json::Map::new();
    for (d, name, what) in [
        (Dialects::LICENCE, "Licence", "licence refusal"),
        (Dialects::NATIVE, "Admin", "admin refusal"),
        (Dialects::STUDIO, "Studio", "Studio API refusal"),
    ] {
        for s in statuses(d) {
            let reason = axum::http::StatusCode::from_u16(s)
                .ok()
                .and_then(|x| x.canonical_reason())
                .unwrap_or("Error");
            out.insert(
                format!("{name}{s}"),
                problem(&format!("{reason} ({what} codes): {}", codes_with(d, s))),
            );
        }
    }
    Value::Object(out)
}

fn problem(desc: &str) -> Value {
    json!({"description": desc, "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}})
}

fn token_params() -> Value {
    json!([
        {"name": "pallycon-customdata-v2", "in": "header", "required": false, "schema": {"type": "string"},
         "description": "PallyCon/DoveRunner license token (or callback auth data)."},
        {"name": "pallycon-customdata-v2", "in": "query", "required": false, "schema": {"type": "string"},
         "description": "The same, as a query parameter."}
    ])
}

/// How `PUT` and `PATCH` update settings on the admin API.
const UPDATE: &str = "Update the settings the body names: the body is a JSON object; each field it names replaces the current value (nested objects field by field, null resets an optional field to its default), every field it does not name keeps its value. A body that is not a JSON object (empty, an array, a string) is refused (invalid_body).";

/// The document.
pub fn document() -> Value {
    let refusals = |ok: Value| -> Value {
        let mut r = problems(Dialects::LICENCE, "Licence");
        if let (Some(m), Value::Object(o)) = (r.as_object_mut(), ok) {
            m.extend(o);
        }
        r
    };
    let admin_err = problems(Dialects::NATIVE, "Admin");
    let with = |base: &Value, extra: Value| -> Value {
        let mut b = base.clone();
        if let (Some(m), Value::Object(o)) = (b.as_object_mut(), extra) {
            m.extend(o);
        }
        b
    };
    let site_param = json!({"name": "site", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[A-Z]{4}$"}});
    let kinds = crate::backdoor::upstream::kinds();
    let upstream_kinds: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
    let upstream_drms = kinds
        .iter()
        .map(|k| {
            format!(
                "{} (kind {})",
                crate::backdoor::upstream::served(*k).join(", "),
                k.name()
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let kid_param = json!({"name": "kid", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[0-9a-fA-F]{32}$"}});
    let export_param = json!({"name": "export", "in": "query", "required": false, "schema": {"type": "boolean"},
        "description": "Include the key material (hex) in the answer."});
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "keyward",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Native licence, Studio token and admin API of keyward. The vendor-compatible paths under /ri/ (PallyCon) and /hms/ (ExpressPlay) follow those vendors' protocols and are documented in docs/ rather than here."
        },
        "paths": {
            "/v1/license/{drm}": {"post": {
                "summary": "Licence for a DRM challenge",
                "description": "PlayReady brokered through an upstream: the upstream's licence is relayed byte for byte (text/xml), and a SOAP fault it answers is relayed as it came (HTTP 500 unless the upstream sent another error status, text/xml, x-keyward-error-code 7207) for the player's PlayReady stack.",
                "parameters": [
                    {"name": "drm", "in": "path", "required": true, "schema": {"type": "string", "enum": ["clearkey", "widevine", "playready", "fairplay"]}},
                    {"name": "Authorization", "in": "header", "required": false, "schema": {"type": "string"}, "description": "Bearer <license token>"}
                ],
                "requestBody": {"required": true, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
                "responses": refusals(json!({"200": {"description": "Licence (ClearKey: JWK set JSON)"}}))
            }},
            "/v1/hls-key/{site}/{cid}": {"get": {
                "summary": "HLS AES-128 identity key (16 raw bytes)",
                "parameters": [site_param, {"name": "cid", "in": "path", "required": true, "schema": {"type": "string"}}, token_params()[0], token_params()[1]],
                "responses": refusals(json!({"200": {"description": "The key", "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary", "minLength": 16, "maxLength": 16}}}}}))
            }},
            "/v1/hls-key/{site}/{cid}/{track}": {"get": {
                "summary": "HLS AES-128 key of one track type",
                "parameters": [site_param, {"name": "cid", "in": "path", "required": true, "schema": {"type": "string"}},
                    {"name": "track", "in": "path", "required": true, "schema": {"$ref": "#/components/schemas/TrackType"}}],
                "responses": refusals(json!({"200": {"description": "The key"}}))
            }},
            "/v1/time": {"get": {"summary": "Server time", "responses": {"200": {"description": "Now", "content": {"application/json": {"schema": {
                "type": "object", "properties": {"now": {"type": "string", "format": "date-time"}, "epoch": {"type": "integer"}}, "required": ["now", "epoch"]}}}}}}},
            "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {"description": "ok"}}}},
            "/readyz": {"get": {"summary": "Readiness (store answers)", "responses": {"200": {"description": "ready"}, "503": problem("Store not answering")}}},
            "/metrics": {"get": {"summary": "Prometheus metrics (text format 0.0.4; docs/metrics.md)", "description": "Unauthenticated. Served here unless `metrics.enabled = false` or `metrics.listen` gives it a listener of its own.", "responses": {"200": {"description": "Every series", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
            "/v1/admin/sites": {
                "get": {"summary": "List sites (no secrets)", "security": [{"admin": []}], "responses": with(&admin_err, json!({"200": {"description": "Sites", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Site"}}}}}}))},
                "post": {"summary": "Create a site; generated secrets are returned once", "security": [{"admin": []}],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewSite"}}}},
                    "responses": with(&admin_err, json!({"201": {"description": "Created"}}))}
            },
            "/v1/admin/sites/{site}": {
                "parameters": [site_param],
                "get": {"summary": "One site", "security": [{"admin": []}], "responses": with(&admin_err, json!({"200": {"description": "Site"}}))},
                "put": {"summary": "Update the site's settings", "description": UPDATE, "security": [{"admin": []}],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SiteSettings"}}}},
                    "responses": with(&admin_err, json!({"200": {"description": "Site"}}))},
                "delete": {"summary": "Delete the site and its keys", "security": [{"admin": []}], "responses": with(&admin_err, json!({"204": {"description": "Deleted"}}))}
            },
            "/v1/admin/sites/{site}/keys": {
                "parameters": [site_param],
                "get": {"summary": "List keys (metadata only)", "security": [{"admin": []}],
                    "parameters": [{"name": "cid", "in": "query", "required": false, "schema": {"type": "string"}}],
                    "responses": with(&admin_err, json!({"200": {"description": "Keys", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/KeyInfo"}}}}}}))},
                "post": {"summary": "Import (kid + key) or generate a content key", "security": [{"admin": []}],
                    "parameters": [export_param],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewKey"}}}},
                    "responses": with(&admin_err, json!({"201": {"description": "Key metadata (and material with export=true)"}}))}
            },
            "/v1/admin/sites/{site}/keys/{kid}": {
                "parameters": [site_param, kid_param],
                "get": {"summary": "One key", "security": [{"admin": []}], "parameters": [export_param], "responses": with(&admin_err, json!({"200": {"description": "Key"}}))},
                "delete": {"summary": "Delete a key", "security": [{"admin": []}], "responses": with(&admin_err, json!({"204": {"description": "Deleted"}}))}
            },
            "/v2/token": {"post": {
                "summary": "Mint a single-use Studio DRM token (alias: /v2/generate)",
                "parameters": [{"name": "x-api-key", "in": "header", "required": true, "schema": {"type": "string"}}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["clientName"], "properties": {
                    "clientName": {"type": "string"}, "policy": {"type": "object", "description": "Studio DRM policy (docs/studio-token.md); optional (the client's default policy applies); unknown fields are refused"}}}}}},
                "responses": with(&problems(Dialects::STUDIO, "Studio"), json!({
                    "200": {"description": "The token (text/plain, or {\"token\":…} with Accept: application/json)"}
                }))
            }},
            "/v2/generate": {"post": {"summary": "Alias of /v2/token", "responses": {"200": {"description": "The token"}}}},
            "/v2/stats": {"get": {
                "summary": "Issued licences per day and DRM for the API key's client",
                "parameters": [{"name": "x-api-key", "in": "header", "required": true, "schema": {"type": "string"}},
                    {"name": "client_data", "in": "query", "required": false, "schema": {"type": "string"}, "description": "key=value filter on client_data"}],
                "responses": with(&problems(Dialects::STUDIO, "Studio"), json!({"200": {"description": "Counts"}}))
            }},
            "/v1/admin/clients": {
                "get": {"summary": "List Studio token clients (no secrets)", "security": [{"admin": []}], "responses": with(&admin_err, json!({"200": {"description": "Clients"}}))},
                "post": {"summary": "Create a client; its first API key and token secret are returned once", "security": [{"admin": []}], "responses": with(&admin_err, json!({"201": {"description": "Created"}}))}
            },
            "/v1/admin/clients/{name}": {
                "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
                "get": {"summary": "One client", "security": [{"admin": []}], "responses": with(&admin_err, json!({"200": {"description": "Client"}}))},
                "put": {"summary": "Update the client's settings", "description": UPDATE, "security": [{"admin": []}], "responses": with(&admin_err, json!({"200": {"description": "Client"}}))},
                "delete": {"summary": "Delete the client", "security": [{"admin": []}], "responses": with(&admin_err, json!({"204": {"description": "Deleted"}}))}
            },
            "/v1/admin/clients/{name}/api-keys": {"post": {"summary": "Add an API key (returned once)", "security": [{"admin": []}],
                "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": with(&admin_err, json!({"201": {"description": "Key"}}))}},
            "/v1/admin/clients/{name}/api-keys/{id}": {"delete": {"summary": "Remove an API key", "security": [{"admin": []}],
                "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}, {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": with(&admin_err, json!({"204": {"description": "Removed"}}))}},
            "/v1/admin/clients/{name}/secret": {"post": {"summary": "Rotate the token secret (live tokens keep verifying by key id)", "security": [{"admin": []}],
                "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": with(&admin_err, json!({"200": {"description": "New secret, returned once"}}))}},
            "/v1/admin/customers": {
                "get": {"summary": "List ExpressPlay-style customers (no authenticators)", "security": [{"admin": []}], "responses": with(&admin_err, json!({"200": {"description": "Customers"}}))},
                "post": {"summary": "Create a customer; test and production authenticators are returned once", "security": [{"admin": []}], "responses": with(&admin_err, json!({"201": {"description": "Created"}}))}
            },
            "/v1/admin/customers/{id}": {
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "get": {"summary": "One customer", "security": [{"admin": []}], "responses": with(&admin_err, json!({"200": {"description": "Customer"}}))},
                "put": {"summary": "Update the customer's settings", "description": UPDATE, "security": [{"admin": []}], "responses": with(&admin_err, json!({"200": {"description": "Customer"}}))},
                "delete": {"summary": "Delete the customer", "security": [{"admin": []}], "responses": with(&admin_err, json!({"204": {"description": "Deleted"}}))}
            },
            "/v1/admin/customers/{id}/rotate": {"post": {"summary": "Rotate the test or production authenticator (returned once)", "security": [{"admin": []}],
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": with(&admin_err, json!({"200": {"description": "New authenticator"}}))}}
        },
        "components": {
            "securitySchemes": {"admin": {"type": "http", "scheme": "bearer"}},
            "responses": problem_responses(),
            "schemas": {
                "Problem": {"type": "object", "required": ["type", "title", "status", "detail", "code", "request_id"], "properties": {
                    "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                    "detail": {"type": "string"}, "code": {"$ref": "#/components/schemas/Code"},
                    "field": {"type": "string", "description": "Studio API: the JSON path of the offending value"},
                    "request_id": {"type": "string"}}},
                "Code": {"type": "string", "description": "Stable refusal code: the vendor's number where one exists (see x-keyward-codes)",
                    "enum": codes::ALL.iter().filter(|c| c.dialects.contains(Dialects::NATIVE) || c.dialects.contains(Dialects::STUDIO)).map(|c| c.wire).collect::<Vec<_>>()},
                "TrackType": {"type": "string", "enum": ["ALL", "ALL_VIDEO", "AUDIO", "SD", "HD", "UHD1", "UHD2"]},
                "SiteSettings": {"type": "object", "additionalProperties": false, "properties": {
                    "token_window_secs": {"type": "integer", "default": 600},
                    "future_leeway_secs": {"type": "integer", "default": 60},
                    "allowed_drms": {"type": "array", "items": {"type": "string", "enum": ["Widevine", "PlayReady", "FairPlay", "NCG", "Wiseplay", "ClearKey"]}},
                    "cors_origins": {"type": "array", "items": {"type": "string"}},
                    "fairplay_cert": {"type": ["string", "null"], "contentEncoding": "base64"},
                    "widevine_service_cert": {"type": ["string", "null"], "contentEncoding": "base64"},
                    "error_style": {"type": "string", "enum": ["PallyCon", "HttpStatus"]},
                    "callback_url": {"type": ["string", "null"]},
                    "disabled": {"type": "boolean"}}},
                "Site": {"allOf": [{"$ref": "#/components/schemas/SiteSettings"}, {"type": "object", "properties": {
                    "site_id": {"type": "string"}, "created_at": {"type": "integer"}}}]},
                "NewSite": {"type": "object", "required": ["site_id"], "additionalProperties": false, "properties": {
                    "site_id": {"type": "string", "pattern": "^[A-Z]{4}$"},
                    "site_key": {"type": "string", "description": "32 bytes; generated when absent"},
                    "access_key": {"type": "string", "description": "32 bytes; generated when absent"},
                    "settings": {"$ref": "#/components/schemas/SiteSettings"}}},
                "KeyInfo": {"type": "object", "properties": {
                    "site_id": {"type": "string"}, "cid": {"type": "string"}, "track_type": {"$ref": "#/components/schemas/TrackType"},
                    "kid": {"type": "string"}, "iv": {"type": ["string", "null"]}, "label": {"type": ["string", "null"]}, "created_at": {"type": "integer"}}},
                "NewKey": {"type": "object", "required": ["cid"], "additionalProperties": false, "properties": {
                    "cid": {"type": "string"}, "kid": {"type": "string"}, "key": {"type": "string"}, "iv": {"type": "string"},
                    "track_type": {"$ref": "#/components/schemas/TrackType"}, "label": {"type": "string"}, "replace": {"type": "boolean"}}}
            }
        },
        "x-keyward-codes": codes::ALL.iter().map(|c| json!({
            "code": c.wire,
            "status": status(c.class).as_u16(),
            "message": c.message,
            "dialects": c.dialects.names(),
        })).collect::<Vec<_>>()
    });
    // FairPlay and upstream paths (built apart: one json! of everything
    // exceeds the macro recursion limit).
    let more = json!({
            "/v1/fairplay/cert/{site}": {"get": {
                "summary": "The site's FairPlay application certificate (DER), for players' serverCertificateUrl",
                "parameters": [site_param],
                "responses": refusals(json!({"200": {"description": "The certificate", "content": {"application/pkix-cert": {"schema": {"type": "string", "format": "binary"}}}}}))
            }},
            "/v1/admin/sites/{site}/fairplay": {
                "parameters": [site_param],
                "get": {"summary": "List the site's FairPlay credentials (certificate facts only, newest first)", "security": [{"admin": []}],
                    "responses": with(&admin_err, json!({"200": {"description": "Credentials", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/FairPlayCredential"}}}}}}))},
                "post": {"summary": "Add a FairPlay credential (certificate, private key, ASk); secrets are wrapped at rest and never returned", "security": [{"admin": []}],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false,
                        "required": ["certificate", "private_key", "ask"], "properties": {
                        "certificate": {"type": "string", "description": "PEM text, or base64 of the DER certificate"},
                        "private_key": {"type": "string", "description": "PEM text (PKCS#1, PKCS#8, or encrypted PKCS#8), or base64 of DER"},
                        "key_passphrase": {"type": "string", "description": "Passphrase of an encrypted PKCS#8 key"},
                        "ask": {"type": "string", "pattern": "^[0-9a-fA-F]{32}$", "description": "Application Secret key, 32 hex digits"},
                        "label": {"type": "string", "maxLength": 64}}}}}},
                    "responses": with(&admin_err, json!({"201": {"description": "Created", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/FairPlayCredential"}}}}}))}
            },
            "/v1/admin/sites/{site}/fairplay/{cert_hash}": {
                "parameters": [site_param, {"name": "cert_hash", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[0-9a-fA-F]{40}$"}}],
                "delete": {"summary": "Remove a FairPlay credential", "security": [{"admin": []}], "responses": with(&admin_err, json!({"204": {"description": "Removed"}}))}
            },
            "/v1/admin/sites/{site}/upstreams": {
                "parameters": [site_param],
                "get": {"summary": "List the site's licence upstreams, in order per DRM (secret names only)", "security": [{"admin": []}],
                    "parameters": [{"name": "drm", "in": "query", "required": false, "schema": {"type": "string"}}],
                    "responses": with(&admin_err, json!({"200": {"description": "Upstreams", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Upstream"}}}}}}))},
                "post": {"summary": "Add a licence upstream (secrets are header values or a kind's signing material, wrapped at rest and never returned)", "security": [{"admin": []}],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false,
                        "required": ["name", "drm", "kind", "url"], "properties": {
                        "name": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"},
                        "drm": {"type": "string", "description": upstream_drms},
                        "kind": {"type": "string", "enum": upstream_kinds},
                        "url": {"type": "string", "format": "uri"},
                        "settings": {"type": "object", "description": "every kind: headers, timeout_ms, max_concurrent, breaker_failures, breaker_cooldown_secs; fairplay-ksm: envelope (raw|form|json), cert_hashes (docs/fairplay.md); widevine-cloud: provider (required), policy_name, session_init, key_source (keyward|upstream), track_type_for_all; playready: custom_data, test_server_cfg; http-forward: jwt, jwt_header; axinom: communication_key_id (required), keys_source (inline|stored); drmtoday: merchant and key_id (required), jwt_alg (HS256|HS384|HS512), secret_encoding (hex|base64|text), asset_id_from (content_id|none) (docs/brokers.md)"},
                        "secrets": {"type": "object", "additionalProperties": {"type": "string"}, "description": "name → value: secret request headers; a kind's own secrets are never sent: widevine-cloud's signing_key (64 hex) and signing_iv (32 hex), and names starting keyward- (http-forward: keyward-jwt-key; axinom: keyward-communication-key; drmtoday: keyward-shared-secret)"},
                        "position": {"type": "integer", "minimum": 0, "description": "0 = primary; default last"}}}}}},
                    "responses": with(&admin_err, json!({"201": {"description": "Created", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Upstream"}}}}}))}
            },
            "/v1/admin/sites/{site}/upstreams/{name}": {
                "parameters": [site_param, {"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
                "get": {"summary": "One upstream, with its circuit breaker's state", "security": [{"admin": []}], "responses": with(&admin_err, json!({"200": {"description": "Upstream"}}))},
                "delete": {"summary": "Remove an upstream", "security": [{"admin": []}], "responses": with(&admin_err, json!({"204": {"description": "Removed"}}))}
            }
    });
    let schemas = json!({
                "Upstream": {"type": "object", "description": "A licence upstream as listed: secret names, never values.", "properties": {
                    "site_id": {"type": "string"}, "drm": {"type": "string"}, "name": {"type": "string"}, "kind": {"type": "string"},
                    "url": {"type": "string"}, "settings": {"type": "object"}, "secret_names": {"type": "array", "items": {"type": "string"}},
                    "position": {"type": "integer"}, "created_at": {"type": "integer"}}},
                "Packager": {"type": "object", "description": "A packager credential as listed: never its secret.", "properties": {
                    "name": {"type": "string"}, "site_id": {"type": "string"}, "kind": {"type": "string", "enum": ["widevine", "api-key"]},
                    "cid_prefix": {"type": "string"}, "created_at": {"type": "integer"},
                    "api_key": {"type": "string", "description": "Only in the answer that created an api-key credential: NAME.SECRET, shown once"}}},
                "FairPlayCredential": {"type": "object", "description": "A FairPlay credential as listed: never the private key or the ASk.", "properties": {
                    "site_id": {"type": "string"}, "cert_hash": {"type": "string", "description": "SHA-1 of the DER certificate (what SPCs name)"},
                    "subject": {"type": ["string", "null"]}, "serial": {"type": ["string", "null"]},
                    "not_before": {"type": ["string", "null"], "format": "date-time"}, "not_after": {"type": ["string", "null"], "format": "date-time"},
                    "key_bits": {"type": ["integer", "null"]}, "label": {"type": ["string", "null"]}, "created_at": {"type": "string", "format": "date-time"}}}
    });
    if let (Some(paths), Value::Object(m)) = (doc["paths"].as_object_mut(), more) {
        paths.extend(m);
    }
    if let (Some(paths), Value::Object(m)) =
        (doc["paths"].as_object_mut(), packaging_paths(&admin_err))
    {
        paths.extend(m);
    }
    if let (Some(s), Value::Object(m)) = (doc["components"]["schemas"].as_object_mut(), schemas) {
        s.extend(m);
    }
    let (paths, schemas) = audit_paths(&admin_err);
    if let (Some(p), Value::Object(m)) = (doc["paths"].as_object_mut(), paths) {
        p.extend(m);
    }
    if let (Some(s), Value::Object(m)) = (doc["components"]["schemas"].as_object_mut(), schemas) {
        s.extend(m);
    }
    doc
}

/// The audit search (`GET /v1/admin/audit`) and its schemas.
fn audit_paths(admin_err: &Value) -> (Value, Value) {
    let mut responses = admin_err.clone();
    if let Some(m) = responses.as_object_mut() {
        m.insert(
            "200".into(),
            json!({"description": "One page, newest first", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AuditPage"}}}}),
        );
    }
    let text = |name: &str, max: u32, desc: &str| json!({"name": name, "in": "query", "required": false, "schema": {"type": "string", "minLength": 1, "maxLength": max}, "description": desc});
    let time = |name: &str, desc: &str| json!({"name": name, "in": "query", "required": false, "schema": {"type": "string"}, "description": desc});
    let paths = json!({
        "/v1/admin/audit": {"get": {
            "summary": "Search the audit trail (newest first, a page at a time)",
            "description": "Every filter given must match exactly (case-sensitive, no wildcards); an empty value is as good as none; an unknown or repeated parameter is refused (invalid_input naming it). Records are ordered by event time, newest first, ties by id. To page on, pass the answer's `next` as `before` with the same filters: every matching record comes once, none twice and none skipped, while new ones are written. See docs/audit.md.",
            "security": [{"admin": []}],
            "parameters": [
                {"name": "site", "in": "query", "required": false, "schema": {"type": "string", "pattern": "^[A-Z]{4}$"}, "description": "Only this site's events (invalid_site_id otherwise)."},
                text("user", 1024, "Only this end user's events (licences: the token's user id; Studio tokens: the client)."),
                text("cid", 256, "Only this content id's events."),
                text("code", 256, "Only events with this result: ok or a refusal code (e.g. 7011)."),
                text("kind", 256, "Only events of this kind: license, upstream, packager_keys, decision."),
                text("request_id", 256, "Only events of this request id."),
                time("since", "Events at or after this time (inclusive): RFC 3339 (2024-05-01T12:00:00Z, any offset, fraction to the millisecond) or unix seconds."),
                time("until", "Events before this time (exclusive), in the same forms; not earlier than since."),
                {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
                {"name": "before", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1}, "description": "Cursor: the `next` of the previous page (the id of its last record)."}
            ],
            "responses": responses
        }}
    });
    let schemas = json!({
        "AuditPage": {"type": "object", "required": ["records", "next"], "properties": {
            "records": {"type": "array", "items": {"$ref": "#/components/schemas/AuditRecord"}},
            "next": {"type": ["integer", "null"], "description": "Pass as `before` for the next page; null on the last page."}}},
        "AuditRecord": {"type": "object", "description": "One audit event: never keys, tokens or secrets.", "properties": {
            "id": {"type": "integer"}, "at_unix_ms": {"type": "integer"},
            "site_id": {"type": ["string", "null"]}, "kind": {"type": "string"},
            "cid": {"type": ["string", "null"]}, "drm": {"type": ["string", "null"]},
            "result": {"type": "string", "description": "ok or the refusal code answered"},
            "request_id": {"type": ["string", "null"]},
            "user": {"type": ["string", "null"], "description": "The end user of a licence event; null for other events and for events recorded before keyward kept it"},
            "detail": {"description": "Free JSON by kind (license: source, client, client_data; upstream: route, kind, status, ms; packager_keys: protocol, packager, keys; decision: the decision debugger's record)"}}}
    });
    (paths, schemas)
}

/// The key server's paths and their admin API.
fn packaging_paths(admin_err: &Value) -> Value {
    let with = |base: &Value, extra: Value| -> Value {
        let mut b = base.clone();
        if let (Some(m), Value::Object(o)) = (b.as_object_mut(), extra) {
            m.extend(o);
        }
        b
    };
    let site_param = json!({"name": "site", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[A-Z]{4}$"}});
    let api_key_note = "API key NAME.SECRET as Authorization: Bearer, Authorization: Basic (NAME:SECRET), X-Api-Key, ?api_key= or a PallyCon-style ?enc-token= (docs/packagers.md)";
    json!({
        "/cenc/getcontentkey/{signer}": {"post": {
            "summary": "Widevine key API (shaka-packager --enable_widevine_encryption): keys and Widevine PSSH data per track (and crypto period)",
            "description": "Signed envelope {request, signature, signer}; the answer is always HTTP 200 {\"response\": base64(JSON)} whose status is OK or a protocol status (SIGNATURE_FAILED, ACCESS_DENIED, MALFORMED_REQUEST, CONTENT_ID_MISSING, TRACK_TYPE_MISSING, TRACK_TYPE_UNKNOWN, INVALID_WIDEVINE_PSSH, INTERNAL_ERROR) with status_message.",
            "parameters": [{"name": "signer", "in": "path", "required": true, "schema": {"type": "string"}}],
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["request", "signer"], "properties": {
                "request": {"type": "string", "format": "byte"}, "signature": {"type": "string", "format": "byte"}, "signer": {"type": "string"}}}}}},
            "responses": {"200": {"description": "Key-API answer", "content": {"application/json": {"schema": {"type": "object", "properties": {"response": {"type": "string", "format": "byte"}}}}}}}
        }},
        "/v1/packager/widevine/{signer}": {"post": {
            "summary": "The Widevine key API on keyward's native prefix (same as /cenc/getcontentkey/{signer})",
            "parameters": [{"name": "signer", "in": "path", "required": true, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "Key-API answer"}}
        }},
        "/v1/packager/playready": {"post": {
            "summary": "PlayReady AcquirePackagingData (shaka-packager --enable_playready_encryption): the program's key and PlayReady Object",
            "description": api_key_note,
            "parameters": [{"name": "header_version", "in": "query", "required": false, "schema": {"type": "string", "enum": ["4.0", "4.3"]}}],
            "requestBody": {"required": true, "content": {"text/xml": {"schema": {"type": "string"}}}},
            "responses": {
                "200": {"description": "SOAP answer with KeyId, KeyData and Data (PRO)", "content": {"text/xml": {"schema": {"type": "string"}}}},
                "400": {"description": "SOAP fault soap:Client (malformed request)"},
                "401": {"description": "SOAP fault soap:Client (packager_unauthorized)"},
                "403": {"description": "SOAP fault soap:Client (packager_forbidden)"}
            }
        }},
        "/v1/packager/cpix": {"post": {
            "summary": "CPIX 2.x: keys and DRM signalling (PSSH, ContentProtectionData, HLS signalling, URIExtXKey, Smooth header) for a CPIX request; encrypted for the request's DeliveryData recipients",
            "description": api_key_note,
            "parameters": [
                {"name": "kids", "in": "query", "required": false, "schema": {"type": "string", "enum": ["packager", "keyward"]}, "description": "Who chooses the kids of new keys (default: the packager's are kept)"},
                {"name": "playready_header", "in": "query", "required": false, "schema": {"type": "string", "enum": ["4.0", "4.3"]}}],
            "requestBody": {"required": true, "content": {"application/xml": {"schema": {"type": "string"}}}},
            "responses": with(admin_err, json!({"200": {"description": "The completed CPIX document", "content": {"application/xml": {"schema": {"type": "string"}}}},
                "413": {"description": "Document over 1 MiB"}}))
        }},
        "/v1/packager/speke": {"post": {
            "summary": "SPEKE: v2 (CPIX 2.3, AWS Elemental) with X-Speke-Version 2.0, v1 otherwise; the encoder's kids are kept; Speke-User-Agent on every answer",
            "description": api_key_note,
            "parameters": [{"name": "X-Speke-Version", "in": "header", "required": false, "schema": {"type": "string"}}],
            "requestBody": {"required": true, "content": {"application/xml": {"schema": {"type": "string"}}}},
            "responses": with(admin_err, json!({"200": {"description": "The completed CPIX document", "content": {"application/xml": {"schema": {"type": "string"}}}}}))
        }},
        "/v1/packager/speke/heartbeat": {"get": {"summary": "SPEKE v1 heartbeat", "responses": {"200": {"description": "OK"}}}},
        "/v1/cpix/pallycon/getKey/{token}": {"post": {
            "summary": "PallyCon KMS CPIX dialect (also /v2/cpix/pallycon/getKey/{token}, /cpix/pallycon/getKey/{token}, and SPEKE at /cpix/getKey?enc-token=): keyward chooses the kids",
            "parameters": [{"name": "token", "in": "path", "required": true, "schema": {"type": "string"}, "description": "base64 of {\"access_key\": \"NAME.SECRET\", \"site_id\": \"SITE\"}"}],
            "requestBody": {"required": true, "content": {"application/xml": {"schema": {"type": "string"}}}},
            "responses": with(admin_err, json!({"200": {"description": "The completed CPIX document", "content": {"application/xml": {"schema": {"type": "string"}}}}}))
        }},
        "/v1/admin/decisions": {"get": {
            "summary": "The decision debugger: the most recent licence decisions, newest first (outcome, code, the stage that refused and why, time per stage, the credential's non-secret facts)",
            "security": [{"admin": []}],
            "parameters": [
                {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
                {"name": "outcome", "in": "query", "required": false, "schema": {"type": "string", "enum": ["granted", "refused"]}}],
            "responses": with(admin_err, json!({"200": {"description": "Decisions", "content": {"application/json": {"schema": {"type": "array", "items": {"type": "object"}}}}}}))
        }},
        "/v1/admin/decisions/{request_id}": {"get": {
            "summary": "Why one licence request (by its x-request-id) was granted or refused, while it is in the ring (decisions_ring)",
            "security": [{"admin": []}],
            "parameters": [{"name": "request_id", "in": "path", "required": true, "schema": {"type": "string"}}],
            "responses": with(admin_err, json!({"200": {"description": "The decision", "content": {"application/json": {"schema": {"type": "object"}}}}}))
        }},
        "/v1/admin/explain": {"post": {
            "summary": "Dry run of a pasted credential: the front door verifies it and the gatekeeper's checks that need only the claim run; nothing is used up, nobody is called, no key is released. Answers which rule would refuse it (refused_at, code, message) or passes_dry_run, with each check's result",
            "security": [{"admin": []}],
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false, "required": ["credential"], "properties": {
                "credential": {"type": "string"},
                "header": {"type": "string", "default": "pallycon-customdata-v2", "description": "where a player sends it: pallycon-customdata-v2, pallycon-customdata, x-vudrm-token, authorization"},
                "drm": {"type": "string", "enum": ["clearkey", "widevine", "playready", "fairplay"]},
                "cid": {"type": "string"}}}}}},
            "responses": with(admin_err, json!({"200": {"description": "The verdict", "content": {"application/json": {"schema": {"type": "object"}}}}}))
        }},
        "/v1/admin/sites/{site}/packagers": {
            "parameters": [site_param],
            "get": {"summary": "List the site's packager credentials (no secrets)", "security": [{"admin": []}],
                "responses": with(admin_err, json!({"200": {"description": "Credentials", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Packager"}}}}}}))},
            "post": {"summary": "Add a packager credential: a Widevine signer (aes_key, aes_iv) or an API key (generated, shown once in api_key)", "security": [{"admin": []}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false,
                    "required": ["name", "kind"], "properties": {
                    "name": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$", "description": "Unique across sites"},
                    "kind": {"type": "string", "enum": ["widevine", "api-key"]},
                    "cid_prefix": {"type": "string", "description": "Only content ids starting with it"},
                    "aes_key": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
                    "aes_iv": {"type": "string", "pattern": "^[0-9a-fA-F]{32}$"}}}}}},
                "responses": with(admin_err, json!({"201": {"description": "Created", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Packager"}}}}}))}
        },
        "/v1/admin/packagers/{name}": {
            "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
            "get": {"summary": "One packager credential (no secret)", "security": [{"admin": []}],
                "responses": with(admin_err, json!({"200": {"description": "Credential", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Packager"}}}}}))},
            "delete": {"summary": "Revoke a packager credential", "security": [{"admin": []}], "responses": with(admin_err, json!({"204": {"description": "Revoked"}}))}
        },
        "/v1/admin/sites/{site}/key-seed": {
            "parameters": [site_param],
            "put": {"summary": "Set the site's PlayReady key seed: new keys are derived from it and their kid (never shown back)", "security": [{"admin": []}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false, "required": ["key_seed"],
                    "properties": {"key_seed": {"type": "string", "format": "byte", "description": "At least 30 bytes; the first 30 are used"}}}}}},
                "responses": with(admin_err, json!({"204": {"description": "Set"}}))},
            "delete": {"summary": "Remove the site's key seed: new keys are random", "security": [{"admin": []}], "responses": with(admin_err, json!({"204": {"description": "Removed"}}))}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn studio_token_policy_is_optional() {
        let d = document();
        let schema = &d["paths"]["/v2/token"]["post"]["requestBody"]["content"]["application/json"]
            ["schema"];
        assert_eq!(schema["required"], json!(["clientName"]));
        assert!(schema["properties"]["policy"].is_object());
    }

    #[test]
    fn every_native_refusal_code_is_in_the_document() {
        let d = document();
        let listed = &d["components"]["schemas"]["Code"]["enum"];
        for c in codes::ALL
            .iter()
            .filter(|c| c.dialects.contains(Dialects::NATIVE))
        {
            assert!(
                listed
                    .as_array()
                    .is_some_and(|l| l.contains(&json!(c.wire))),
                "{} missing",
                c.wire
            );
        }
        let all = d["x-keyward-codes"].as_array().map_or(0, Vec::len);
        assert_eq!(all, codes::ALL.len());
    }
}
