//! The one registry of refusal codes.
//!
//! Every refusal keyward answers carries one of these codes: the vendor's
//! number where the vendor defines one (PallyCon `7019`, ExpressPlay `-4010`),
//! keyward's own keyword otherwise (`studio_token_used`, `admin_disabled`). Each
//! entry says its [`Class`] (what kind of refusal it is; the edge turns that
//! into an HTTP status), a default message, and which front-door dialects
//! answer with it. The OpenAPI document and the code tables in `docs/` are
//! checked against [`ALL`], so a code cannot exist in one and not the other.
//!
//! Adding a code is one line here; a refusal names its code by constant
//! (`Refusal::new(codes::TOKEN_MISSING)`), never by a string.

/// What kind of refusal; each has one HTTP status (for native answers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// The request is malformed (400).
    BadRequest,
    /// The credential is missing or does not verify (401).
    Unauthorized,
    /// The credential is valid but the rules refuse (403).
    Forbidden,
    /// Nothing by that name (404).
    NotFound,
    /// Wrong method (405).
    MethodNotAllowed,
    /// Already exists (409).
    Conflict,
    /// Body too large (413).
    TooLarge,
    /// Headers too large (431).
    HeadersTooLarge,
    /// Over a rate limit (429).
    TooManyRequests,
    /// keyward's own failure (500).
    Internal,
    /// An upstream (callback, webhook, licence service) answered badly (502).
    Upstream,
    /// keyward does not do this (501).
    NotImplemented,
    /// Temporarily unavailable: overload, timeout, a dependency down (503).
    Unavailable,
}

impl Class {
    /// The HTTP status a native answer uses.
    pub const fn status(self) -> u16 {
        match self {
            Class::BadRequest => 400,
            Class::Unauthorized => 401,
            Class::Forbidden => 403,
            Class::NotFound => 404,
            Class::MethodNotAllowed => 405,
            Class::Conflict => 409,
            Class::TooLarge => 413,
            Class::HeadersTooLarge => 431,
            Class::TooManyRequests => 429,
            Class::Internal => 500,
            Class::NotImplemented => 501,
            Class::Upstream => 502,
            Class::Unavailable => 503,
        }
    }
}

/// The dialects a code is answered in (a set).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dialects(u8);

impl Dialects {
    /// PallyCon-compatible paths (`{"errorCode","message"}`).
    pub const PALLYCON: Dialects = Dialects(1);
    /// Native RFC 7807 problem+json (licence, admin, meta paths).
    pub const NATIVE: Dialects = Dialects(2);
    /// ExpressPlay html/json with negative codes.
    pub const EXPRESSPLAY: Dialects = Dialects(4);
    /// The Studio token API (problem+json with `field`).
    pub const STUDIO: Dialects = Dialects(8);
    /// Licence paths: PallyCon-compatible and native.
    pub const LICENCE: Dialects = Dialects(1 | 2);
    /// Every dialect (limits, routing).
    pub const EVERY: Dialects = Dialects(1 | 2 | 4 | 8);
    /// Native and Studio (admin and token APIs).
    pub const API: Dialects = Dialects(2 | 8);
    /// Licence paths and the Studio API.
    pub const LICENCE_STUDIO: Dialects = Dialects(1 | 2 | 8);

    /// Whether the set holds every dialect of `other`.
    pub const fn contains(self, other: Dialects) -> bool {
        self.0 & other.0 == other.0
    }

    /// Names, for documents.
    pub fn names(self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for (d, name) in [
            (Self::PALLYCON, "pallycon"),
            (Self::NATIVE, "native"),
            (Self::EXPRESSPLAY, "expressplay"),
            (Self::STUDIO, "studio"),
        ] {
            if self.contains(d) {
                out.push(name);
            }
        }
        out
    }
}

/// A registered refusal code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Code {
    /// The code on the wire (`"7019"`, `"-4010"`, `"studio_token_used"`).
    pub wire: &'static str,
    /// What kind of refusal it is (the default; a refusal may say otherwise
    /// where the same vendor code covers two situations).
    pub class: Class,
    /// The message when the refusal gives none.
    pub message: &'static str,
    /// Where it is answered.
    pub dialects: Dialects,
}

impl Code {
    /// The ExpressPlay number, for codes of that dialect.
    pub fn number(&self) -> Option<i64> {
        self.wire.parse().ok()
    }
}

macro_rules! registry {
    ($( $(#[$doc:meta])* $name:ident = $wire:literal, $class:ident, $dialects:ident, $msg:literal; )*) => {
        $( $(#[$doc])* pub const $name: Code = Code {
            wire: $wire,
            class: Class::$class,
            message: $msg,
            dialects: Dialects::$dialects,
        }; )*
        /// Every registered code, in registry order.
        pub const ALL: &[Code] = &[$($name),*];
    };
}

registry! {
    // --- PallyCon licence-token codes (pallycon.md §6.4) -------------------
    /// The token names an unknown site.
    SITE_NOT_FOUND = "1003", NotFound, LICENCE, "Site ID not found";
    /// The site's service is stopped.
    SITE_DISABLED = "1004", Forbidden, LICENCE, "The site's service is stopped";
    /// A track type in the path is not one of the policy's names.
    TRACK_TYPE_INVALID = "1013", BadRequest, LICENCE, "Track type must be one of ALL, ALL_VIDEO, AUDIO, SD, HD, UHD1, UHD2";
    /// Internal storage failure (detail in the server log only).
    INTERNAL = "2001", Unavailable, EVERY, "Internal storage error; the request id identifies it in the server log";
    /// No content key for the requested KID or content.
    KEY_NOT_FOUND = "7001", NotFound, LICENCE, "No key for this content";
    /// Callback auth data cannot be parsed.
    AUTH_DATA_PARSE = "7007", BadRequest, LICENCE, "Invalid auth data";
    /// Callback auth data does not decrypt with the site key.
    AUTH_DATA_DECRYPT = "7008", Unauthorized, LICENCE, "Auth data decryption failed";
    /// The token cannot be parsed.
    TOKEN_PARSE = "7009", BadRequest, LICENCE, "Token parsing error";
    /// No token or auth data in the request.
    TOKEN_MISSING = "7010", Unauthorized, LICENCE, "Token data not found: send the license token in the pallycon-customdata-v2 header or query parameter, or as Authorization: Bearer <token> on the native /v1/ paths";
    /// The token's timestamp is outside the accepted window.
    TOKEN_EXPIRED = "7011", Unauthorized, LICENCE, "Token time expired";
    /// The request names another content id than the token.
    CID_MISMATCH = "7012", Forbidden, LICENCE, "Does not match with token's CID: the request names another content id";
    /// The token's JSON or policy is invalid.
    TOKEN_JSON = "7013", BadRequest, LICENCE, "Invalid token JSON";
    /// The token is invalid (missing field, or for another site).
    TOKEN_INVALID = "7016", Unauthorized, LICENCE, "Invalid token";
    /// The token's DRM type does not fit the endpoint or the site.
    DRM_TYPE_INVALID = "7018", Forbidden, LICENCE, "Invalid DRM type in token";
    /// The token's hash does not verify.
    TOKEN_HASH = "7019", Unauthorized, LICENCE, "Token hash mismatch";
    /// The Widevine upstream refused the request (its status in the message).
    WIDEVINE_UPSTREAM_REFUSED = "7103", Upstream, LICENCE, "The Widevine upstream refused the request";
    /// No Widevine upstream is configured.
    WIDEVINE_NO_UPSTREAM = "7104", NotImplemented, LICENCE, "No Widevine upstream is configured";
    /// No Widevine service certificate is configured for the site.
    WIDEVINE_NO_SERVICE_CERT = "7106", NotFound, LICENCE, "No Widevine service certificate is configured for this site";
    /// The Widevine challenge is malformed.
    WIDEVINE_BAD_CHALLENGE = "7107", BadRequest, LICENCE, "Invalid Widevine challenge";
    /// The Widevine upstream says the device is revoked (its internal status 127).
    WIDEVINE_DEVICE_REVOKED = "7110", Forbidden, LICENCE, "The device is revoked";
    /// The Widevine upstream's answer cannot be read (not its JSON, or no licence in it).
    WIDEVINE_UPSTREAM_PARSE = "7111", Upstream, LICENCE, "The Widevine upstream's answer could not be read";
    /// A PSSH box is malformed (also the Widevine upstream's internal status 152).
    PSSH_MALFORMED = "7112", BadRequest, LICENCE, "Malformed PSSH";
    /// No Widevine service certificate for the certificate path.
    WIDEVINE_NO_CERT = "7113", NotFound, LICENCE, "No Widevine service certificate is configured for this site";
    /// A rule of the entitlement the Widevine upstream cannot express (refused rather than dropped).
    WIDEVINE_UPSTREAM_UNSUPPORTED = "7114", Forbidden, LICENCE, "The policy asks for a Widevine rule the upstream cannot express";
    /// No Widevine upstream answered (connection, timeout, 5xx, breaker open).
    WIDEVINE_UPSTREAM_UNAVAILABLE = "7115", Unavailable, LICENCE, "No Widevine upstream answered; retry shortly";
    /// A PlayReady header could not be built.
    PLAYREADY_HEADER = "7201", BadRequest, LICENCE, "PlayReady header build failed";
    /// No PlayReady upstream is configured.
    PLAYREADY_NO_UPSTREAM = "7202", NotImplemented, LICENCE, "No PlayReady upstream is configured";
    /// The PlayReady challenge cannot be read.
    PLAYREADY_READ = "7204", BadRequest, LICENCE, "PlayReady challenge could not be read";
    /// The PlayReady challenge cannot be parsed.
    PLAYREADY_PARSE = "7205", BadRequest, LICENCE, "PlayReady challenge could not be parsed";
    /// The PlayReady challenge carries no CustomData.
    PLAYREADY_NO_CUSTOM_DATA = "7206", BadRequest, LICENCE, "PlayReady challenge has no CustomData";
    /// The PlayReady upstream refused: a SOAP fault (its StatusCode and faultstring in the
    /// message; native paths relay the fault itself), another status, or an answer that is
    /// no licence.
    PLAYREADY_UPSTREAM_REFUSED = "7207", Upstream, LICENCE, "The PlayReady upstream refused the request";
    /// No PlayReady upstream answered (connection, timeout, 5xx without a body, breaker open).
    PLAYREADY_UPSTREAM_UNAVAILABLE = "7208", Unavailable, LICENCE, "No PlayReady upstream answered; retry shortly";
    /// The policy asks for something the PlayReady upstream cannot be told (test-server `cfg=`).
    PLAYREADY_POLICY_UNSUPPORTED = "7209", Forbidden, LICENCE, "The policy asks for a PlayReady rule the upstream cannot be told";
    /// No FairPlay upstream or credentials are configured.
    FAIRPLAY_NO_UPSTREAM = "7301", NotImplemented, LICENCE, "No FairPlay upstream is configured";
    /// A FairPlay private key or ASk cannot be used.
    FAIRPLAY_BAD_KEY = "7303", BadRequest, LICENCE, "FairPlay private key or ASk is unusable";
    /// The CKC could not be built.
    FAIRPLAY_CKC_BUILD = "7304", Internal, LICENCE, "FairPlay CKC could not be built";
    /// The SPC is empty.
    FAIRPLAY_SPC_EMPTY = "7305", BadRequest, LICENCE, "FairPlay SPC is empty";
    /// The SPC's asset id is missing, malformed, or not covered by the entitlement.
    FAIRPLAY_BAD_ASSET = "7308", Forbidden, LICENCE, "FairPlay asset id is invalid or not entitled";
    /// No FairPlay certificate is configured for the site (or a certificate is unreadable).
    FAIRPLAY_NO_CERT = "7315", NotFound, LICENCE, "No FairPlay certificate is configured for this site";
    /// The private key does not open the SPC key.
    FAIRPLAY_RSA_DECRYPT = "7316", BadRequest, LICENCE, "FairPlay SPC key could not be decrypted";
    /// The SPC is malformed.
    FAIRPLAY_BAD_SPC = "7317", BadRequest, LICENCE, "FairPlay SPC is malformed";
    /// An SPC version keyward does not open.
    FAIRPLAY_SPC_VERSION = "7318", BadRequest, LICENCE, "FairPlay SPC version is not supported";
    /// The SPC's integrity check failed (wrong ASk or D function, or an altered SPC).
    FAIRPLAY_INTEGRITY = "7319", BadRequest, LICENCE, "FairPlay SPC integrity check failed";
    /// The SPC names a certificate the site holds no credential for.
    FAIRPLAY_UNKNOWN_CERT = "7320", Forbidden, LICENCE, "The SPC was made for a FairPlay certificate this site does not hold";
    /// The D function (DASk provider) is not configured, down, slow or answering garbage.
    FAIRPLAY_DASK_UNAVAILABLE = "7321", Unavailable, LICENCE, "The FairPlay D function is unavailable";
    /// No FairPlay upstream KSM answered (connection, timeout, 5xx, breaker open).
    FAIRPLAY_UPSTREAM_UNAVAILABLE = "7323", Unavailable, LICENCE, "No FairPlay upstream KSM answered; retry shortly";
    /// The FairPlay upstream KSM refused, or answered something that is not a CKC.
    FAIRPLAY_UPSTREAM_REFUSED = "7324", Upstream, LICENCE, "The FairPlay upstream KSM refused the request";
    /// An output rule the native KSM cannot express (HDCP, AirPlay, AV adapter).
    FAIRPLAY_OUTPUT_UNSUPPORTED = "7322", Forbidden, LICENCE, "The policy asks for a FairPlay output rule keyward's KSM cannot enforce";
    /// ClearKey request is not a JSON object.
    CLEARKEY_NOT_OBJECT = "7401", BadRequest, LICENCE, "ClearKey request is not a JSON object";
    /// ClearKey request has no kids.
    CLEARKEY_NO_KIDS = "7402", BadRequest, LICENCE, "ClearKey request has no kids";
    /// ClearKey request has a malformed kid.
    CLEARKEY_BAD_KID = "7403", BadRequest, LICENCE, "ClearKey request has a malformed kid";
    /// ClearKey request names too many kids.
    CLEARKEY_TOO_MANY_KIDS = "7404", BadRequest, LICENCE, "ClearKey request names too many kids";
    /// ClearKey request has an unknown session type.
    CLEARKEY_SESSION_TYPE = "7405", BadRequest, LICENCE, "ClearKey request has an unknown session type";
    /// ClearKey request is larger than the limit.
    CLEARKEY_TOO_LARGE = "7406", TooLarge, LICENCE, "ClearKey request is larger than the limit";
    /// ClearKey kids is not an array.
    CLEARKEY_KIDS_NOT_ARRAY = "7407", BadRequest, LICENCE, "ClearKey kids is not an array";
    // --- keyward gateway policy (75xx) --------------------------------------
    /// `persistent-license` asked but the policy is not persistent.
    PERSISTENT_NOT_ALLOWED = "7501", Forbidden, LICENCE, "persistent-license requested, but the policy is not persistent";
    /// A requested key's track type is not permitted by `allowed_track_types`.
    TRACK_NOT_ALLOWED = "7502", Forbidden, LICENCE, "The policy does not release keys of this track type";
    /// The request's Origin is not in the site's CORS list.
    ORIGIN_NOT_ALLOWED = "7503", Forbidden, LICENCE, "Origin is not allowed for this site";
    /// Request body larger than the limit.
    BODY_TOO_LARGE = "7505", TooLarge, EVERY, "Request body is larger than the limit";
    /// Too many requests in flight.
    OVERLOADED = "7506", Unavailable, EVERY, "Too many requests in flight; retry shortly";
    /// The request took longer than the timeout.
    TIMEOUT = "7507", Unavailable, EVERY, "The request took longer than the timeout";
    /// Request headers larger than the limit.
    HEADERS_TOO_LARGE = "7508", HeadersTooLarge, EVERY, "Request headers are larger than the limit";
    /// A header that must be text is not.
    BAD_HEADER = "7509", BadRequest, LICENCE, "A header is not printable ASCII text";
    /// The licence expired per the policy's `expire_date`.
    LICENSE_EXPIRED = "7510", Forbidden, LICENCE, "The policy's expire_date has passed";
    /// The request carries more than one credential (a repeated header, or a
    /// header and a query parameter that differ).
    CREDENTIAL_AMBIGUOUS = "7511", BadRequest, LICENCE, "The request carries more than one credential: send exactly one";
    /// The user already plays as many streams as the policy's
    /// `max_stream_per_user` allows (the message names the limit and when the
    /// oldest slot frees).
    STREAM_LIMIT_REACHED = "stream_limit_reached", Forbidden, LICENCE, "Concurrent stream limit reached";
    /// Over a configured rate limit (`[rate_limits]`: per site, or per client
    /// address); the message says when to retry.
    RATE_LIMITED = "rate_limited", TooManyRequests, LICENCE, "Too many licence requests; retry later";
    /// The stream-slot store cannot be reached, and the policy has a stream
    /// limit (the site does not fail open).
    STREAMS_UNAVAILABLE = "stream_state_unavailable", Unavailable, LICENCE, "Stream limits cannot be checked right now; retry shortly";
    // --- brokered licence services (76xx) -----------------------------------
    // The doverunner kind.
    /// The entitlement asks for something a DoveRunner licence token cannot carry.
    DOVERUNNER_UNSUPPORTED = "7601", Forbidden, LICENCE, "The policy asks for something a DoveRunner licence token cannot carry";
    /// DoveRunner refused: its `{"errorCode","message"}` (the code and message in ours), or a non-2xx status.
    DOVERUNNER_REFUSED = "7602", Upstream, LICENCE, "DoveRunner refused the licence request";
    /// DoveRunner answered that it is unavailable (HTTP 429 or 503 with a body).
    DOVERUNNER_UNAVAILABLE = "7603", Unavailable, LICENCE, "DoveRunner is unavailable; retry shortly";
    /// DoveRunner's 2xx answer is no licence (empty; for FairPlay, no CKC).
    DOVERUNNER_ANSWER = "7604", Upstream, LICENCE, "DoveRunner's answer could not be read";
    // The axinom and drmtoday kinds.
    /// A rule of the entitlement the Axinom licence service message cannot express, or a key
    /// source it cannot take (refused rather than dropped).
    AXINOM_UNSUPPORTED = "7611", Forbidden, LICENCE, "The policy asks for something the Axinom upstream cannot express";
    /// The Axinom licence service refused (its X-AxDRM-ErrorMessage in the message), or
    /// answered no licence.
    AXINOM_REFUSED = "7612", Upstream, LICENCE, "The Axinom upstream refused the request";
    /// No Axinom route answered (connection, timeout, 5xx without a body, breaker open).
    AXINOM_UNAVAILABLE = "7613", Unavailable, LICENCE, "No Axinom upstream answered; retry shortly";
    /// A rule of the entitlement the DRMtoday upfront token cannot express (refused rather
    /// than dropped).
    DRMTODAY_UNSUPPORTED = "7621", Forbidden, LICENCE, "The policy asks for something the DRMtoday upstream cannot express";
    /// DRMtoday refused (its x-dt-resp-code in the message), or answered no licence.
    DRMTODAY_REFUSED = "7622", Upstream, LICENCE, "The DRMtoday upstream refused the request";
    /// No DRMtoday route answered (connection, timeout, 5xx without a body, breaker open).
    DRMTODAY_UNAVAILABLE = "7623", Unavailable, LICENCE, "No DRMtoday upstream answered; retry shortly";
    // --- PallyCon callback mode (88xx / 87xx) -------------------------------
    /// The customer's callback refused (carries its own code and message).
    CALLBACK_DENIED = "8002", Forbidden, LICENCE, "The callback refused";
    /// The callback answer's nonce is missing or wrong.
    CALLBACK_NONCE = "8004", Upstream, LICENCE, "Callback answer has a missing or wrong nonce";
    /// The callback could not be reached (or its circuit is open).
    CALLBACK_UNREACHABLE = "8701", Unavailable, LICENCE, "Callback URL could not be reached";
    /// The site has no callback URL.
    CALLBACK_NOT_CONFIGURED = "8705", Forbidden, LICENCE, "Callback auth data received, but this site has no callback URL configured";
    /// The callback answer is malformed.
    CALLBACK_BAD_ANSWER = "8706", Upstream, LICENCE, "Invalid callback answer";
    /// The callback's playback period is invalid.
    CALLBACK_PERIOD = "8707", Upstream, LICENCE, "Invalid playback period";
    /// The callback's playback period format is invalid.
    CALLBACK_PERIOD_FORMAT = "8708", Upstream, LICENCE, "Invalid playback period format";
    /// The callback's playback period is over.
    CALLBACK_PERIOD_OVER = "8711", Forbidden, LICENCE, "Playback period is over";
    /// The callback's HDCP value is invalid.
    CALLBACK_HDCP = "8712", Upstream, LICENCE, "Invalid HDCP value";
    /// A licence upstream of a generic kind (`http-forward`) refused: a non-2xx status, or
    /// an empty answer.
    UPSTREAM_REFUSED = "upstream_refused", Upstream, LICENCE, "The licence upstream refused the request";
    /// A request that cannot be read (body, path parameter).
    BAD_REQUEST = "9001", BadRequest, LICENCE, "Bad request";
    /// A DRM keyward neither issues nor brokers (NCG, WisePlay).
    DRM_UNSUPPORTED = "9999", NotImplemented, LICENCE, "This DRM is not served";
    // --- native API --------------------------------------------------------
    /// No route.
    NOT_FOUND = "not_found", NotFound, NATIVE, "No such endpoint";
    /// The route exists but not for this method.
    METHOD_NOT_ALLOWED = "method_not_allowed", MethodNotAllowed, NATIVE, "Method not allowed on this endpoint";
    /// The admin API is off.
    ADMIN_DISABLED = "admin_disabled", NotFound, NATIVE, "The admin API is off: configure an admin token (KEYWARD_ADMIN_TOKEN or KEYWARD_ADMIN_TOKEN_FILE)";
    /// Missing or wrong admin bearer token.
    UNAUTHORIZED = "unauthorized", Unauthorized, NATIVE, "Missing or wrong admin bearer token";
    /// An admin body is not the expected JSON.
    INVALID_BODY = "invalid_body", BadRequest, NATIVE, "Invalid JSON body";
    /// The store is not ready.
    NOT_READY = "not_ready", Unavailable, NATIVE, "The store is not ready";
    /// Admin: no such site.
    ADMIN_SITE_NOT_FOUND = "site_not_found", NotFound, API, "Site not found";
    /// Admin: the site exists.
    SITE_EXISTS = "site_exists", Conflict, NATIVE, "A site with this id already exists";
    /// Admin: no such key.
    ADMIN_KEY_NOT_FOUND = "key_not_found", NotFound, NATIVE, "No such key";
    /// Admin: a key with that kid exists with other material.
    KEY_CONFLICT = "key_conflict", Conflict, NATIVE, "A key with this kid already exists";
    /// Admin: no such customer.
    CUSTOMER_NOT_FOUND = "customer_not_found", NotFound, NATIVE, "Customer not found";
    /// Admin: the customer exists.
    CUSTOMER_EXISTS = "customer_exists", Conflict, NATIVE, "A customer with this id already exists";
    /// Admin: no such client.
    CLIENT_NOT_FOUND = "client_not_found", NotFound, API, "No such client";
    /// Admin: the client (or API key) exists.
    CLIENT_EXISTS = "client_exists", Conflict, API, "A client with that name or API key already exists";
    /// Admin: no such FairPlay credential.
    FAIRPLAY_CREDENTIAL_NOT_FOUND = "fairplay_credential_not_found", NotFound, NATIVE, "No FairPlay credential with that certificate hash for this site";
    /// Admin: the site already holds a credential for that certificate.
    FAIRPLAY_CREDENTIAL_EXISTS = "fairplay_credential_exists", Conflict, NATIVE, "The site already holds a FairPlay credential for this certificate";
    /// Admin: no such upstream.
    UPSTREAM_NOT_FOUND = "upstream_not_found", NotFound, NATIVE, "No upstream with that name for this site";
    /// Admin: the site already has an upstream of that name.
    UPSTREAM_EXISTS = "upstream_exists", Conflict, NATIVE, "The site already has an upstream with this name";
    /// Admin: no decision with that request id in the decision debugger's ring.
    DECISION_NOT_FOUND = "decision_not_found", NotFound, NATIVE, "No decision with that request id: the ring keeps the most recent decisions (decisions_ring), the audit store those of the sites in decisions_audit_sites";
    /// Admin: no packager credential of that name.
    PACKAGER_NOT_FOUND = "packager_not_found", NotFound, NATIVE, "No packager credential with that name";
    /// Admin: a packager credential of that name exists (names are unique across sites).
    PACKAGER_EXISTS = "packager_exists", Conflict, NATIVE, "A packager credential with this name already exists";
    /// Key server: no packager credential, or not a valid one.
    PACKAGER_UNAUTHORIZED = "packager_unauthorized", Unauthorized, NATIVE, "Packager credential missing or not valid";
    /// Key server: the credential may not ask for this content id.
    PACKAGER_FORBIDDEN = "packager_forbidden", Forbidden, NATIVE, "This packager credential may not ask for keys of this content id";
    /// Key server: The CPIX document is larger than 1 MiB.
    CPIX_TOO_LARGE = "cpix_too_large", TooLarge, NATIVE, "The CPIX document is larger than 1 MiB";
    /// Key server: The CPIX document is nested too deeply or has too many elements.
    CPIX_TOO_COMPLEX = "cpix_too_complex", BadRequest, NATIVE, "The CPIX document is nested too deeply or has too many elements";
    /// Key server: The CPIX document is not well-formed CPIX.
    CPIX_MALFORMED = "cpix_malformed", BadRequest, NATIVE, "The CPIX document is not well-formed CPIX";
    /// Key server: keyward reads CPIX 2.x documents.
    CPIX_UNSUPPORTED_VERSION = "cpix_unsupported_version", BadRequest, NATIVE, "keyward reads CPIX 2.x documents";
    /// Key server: An element names a kid that is not in the ContentKeyList.
    CPIX_UNKNOWN_KID = "cpix_unknown_kid", BadRequest, NATIVE, "An element names a kid that is not in the ContentKeyList";
    /// Key server: A kid appears more than once.
    CPIX_DUPLICATE_KID = "cpix_duplicate_kid", BadRequest, NATIVE, "A kid appears more than once";
    /// Key server: A KeyPeriodFilter names a period the ContentKeyPeriodList does not define.
    CPIX_UNKNOWN_PERIOD = "cpix_unknown_period", BadRequest, NATIVE, "A KeyPeriodFilter names a period the ContentKeyPeriodList does not define";
    /// Key server: The request does not follow the SPEKE v2 profile.
    CPIX_SPEKE_CONTRACT = "cpix_speke_contract", BadRequest, NATIVE, "The request does not follow the SPEKE v2 profile";
    /// Key server: keyward found no key for a requested kid.
    CPIX_UNRESOLVED_KEY = "cpix_unresolved_key", Internal, NATIVE, "keyward found no key for a requested kid";
    /// Key server: keyward cannot build the signalling for a DRM system.
    CPIX_SIGNALLING = "cpix_signalling", Internal, NATIVE, "keyward cannot build the signalling for a DRM system";
    /// Key server: A recipient certificate cannot be used.
    CPIX_BAD_CERTIFICATE = "cpix_bad_certificate", BadRequest, NATIVE, "A recipient certificate cannot be used";
    /// Key server: A recipient certificate is refused as weak (RSA under 2048 bits, or MD5 / SHA-1 signed).
    CPIX_WEAK_CERTIFICATE = "cpix_weak_certificate", BadRequest, NATIVE, "A recipient certificate is refused as weak (RSA under 2048 bits, or MD5 / SHA-1 signed)";
    /// Key server: The document uses an algorithm keyward does not support.
    CPIX_UNSUPPORTED_ALGORITHM = "cpix_unsupported_algorithm", BadRequest, NATIVE, "The document uses an algorithm keyward does not support";
    /// Key server: The content keys are encrypted for a recipient keyward has no key of.
    CPIX_NO_RECIPIENT_KEY = "cpix_no_recipient_key", BadRequest, NATIVE, "The content keys are encrypted for a recipient keyward has no key of";
    /// Key server: A wrapped document or MAC key does not open with the recipient key.
    CPIX_KEY_UNWRAP = "cpix_key_unwrap", BadRequest, NATIVE, "A wrapped document or MAC key does not open with the recipient key";
    /// Key server: A content key's ValueMAC does not match: the document was altered.
    CPIX_BAD_MAC = "cpix_bad_mac", BadRequest, NATIVE, "A content key's ValueMAC does not match: the document was altered";
    /// Key server: An encrypted value cannot be decrypted.
    CPIX_DECRYPT = "cpix_decrypt", BadRequest, NATIVE, "An encrypted value cannot be decrypted";
    /// Key server: XML signatures are not accepted here.
    CPIX_SIGNATURE_UNSUPPORTED = "cpix_signature_unsupported", BadRequest, NATIVE, "XML signatures are not accepted here";
    /// Key server: An XML signature does not verify.
    CPIX_BAD_SIGNATURE = "cpix_bad_signature", BadRequest, NATIVE, "An XML signature does not verify";
    /// Key server: An XML signature is made by a certificate that is not trusted.
    CPIX_UNTRUSTED_SIGNER = "cpix_untrusted_signer", BadRequest, NATIVE, "An XML signature is made by a certificate that is not trusted";
    /// Key server: The system random source failed.
    CPIX_RANDOM = "cpix_random", Internal, NATIVE, "The system random source failed";
    /// Admin: no such API key.
    API_KEY_NOT_FOUND = "api_key_not_found", NotFound, API, "No API key with that id for this client";
    /// Invalid site id.
    INVALID_SITE_ID = "invalid_site_id", BadRequest, API, "Invalid site id";
    /// A secret of the wrong length.
    INVALID_SECRET_LENGTH = "invalid_secret_length", BadRequest, API, "A secret has the wrong length";
    /// A key or kid of the wrong length.
    INVALID_KEY_LENGTH = "invalid_key_length", BadRequest, API, "A key or kid has the wrong length";
    /// An invalid content id.
    INVALID_CID = "invalid_cid", BadRequest, API, "Invalid content id";
    /// An invalid setting.
    INVALID_SETTING = "invalid_setting", BadRequest, API, "Invalid setting";
    /// An invalid value.
    INVALID_INPUT = "invalid_input", BadRequest, API, "Invalid input";
    /// An invalid KEK.
    INVALID_KEK = "invalid_kek", BadRequest, API, "Invalid key-encryption key";
    /// Single use is decided by another process on this database.
    STORE_LOCKED = "store_locked", Unavailable, LICENCE_STUDIO, "Single-use tokens are decided by another keyward process on this database";
    // --- Studio token API and Studio tokens --------------------------------
    /// Missing or wrong `x-api-key`.
    STUDIO_API_KEY_INVALID = "studio_api_key_invalid", Unauthorized, STUDIO, "Missing or wrong x-api-key";
    /// The body is not JSON.
    STUDIO_INVALID_BODY = "studio_invalid_body", BadRequest, STUDIO, "The body is not JSON";
    /// The client is disabled.
    STUDIO_CLIENT_DISABLED = "studio_client_disabled", Forbidden, LICENCE_STUDIO, "The client is disabled";
    /// The request names another client than the API key's.
    STUDIO_CLIENT_MISMATCH = "studio_client_mismatch", Forbidden, STUDIO, "The API key belongs to another client";
    /// The content id is outside the client's scope.
    STUDIO_CONTENT_NOT_ALLOWED = "studio_content_not_allowed", Forbidden, STUDIO, "The client may not mint tokens for this content";
    /// Unknown policy field.
    STUDIO_UNKNOWN_FIELD = "studio_unknown_field", BadRequest, LICENCE_STUDIO, "Unknown policy field";
    /// Missing policy field.
    STUDIO_MISSING_FIELD = "studio_missing_field", BadRequest, LICENCE_STUDIO, "Missing policy field";
    /// Policy value of the wrong type.
    STUDIO_WRONG_TYPE = "studio_wrong_type", BadRequest, LICENCE_STUDIO, "Policy value of the wrong type";
    /// Policy value out of range.
    STUDIO_OUT_OF_RANGE = "studio_out_of_range", BadRequest, LICENCE_STUDIO, "Policy value out of range";
    /// Invalid policy value.
    STUDIO_INVALID_VALUE = "studio_invalid_value", BadRequest, LICENCE_STUDIO, "Invalid policy value";
    /// Conflicting policy values.
    STUDIO_POLICY_CONFLICT = "studio_policy_conflict", BadRequest, LICENCE_STUDIO, "Conflicting policy values";
    /// Invalid client name.
    STUDIO_INVALID_CLIENT_NAME = "studio_invalid_client_name", BadRequest, STUDIO, "Invalid client name";
    /// Invalid token secret.
    STUDIO_INVALID_SECRET = "studio_invalid_secret", BadRequest, STUDIO, "Invalid token secret";
    /// The Studio token is malformed.
    STUDIO_TOKEN_MALFORMED = "studio_token_malformed", BadRequest, LICENCE, "Invalid Studio token: malformed";
    /// The Studio token has an unknown version.
    STUDIO_TOKEN_VERSION = "studio_token_version", BadRequest, LICENCE, "Invalid Studio token: unknown version";
    /// The Studio token does not verify.
    STUDIO_TOKEN_INVALID = "studio_token_invalid", Unauthorized, LICENCE, "Invalid Studio token: the hash does not verify (tampered, or minted for another client)";
    /// The Studio token expired.
    STUDIO_TOKEN_EXPIRED = "studio_token_expired", Unauthorized, LICENCE, "Invalid Studio token: expired";
    /// The Studio token is not valid yet.
    STUDIO_TOKEN_NOT_YET_VALID = "studio_token_not_yet_valid", Unauthorized, LICENCE, "Invalid Studio token: not valid yet";
    /// The token names an unknown client.
    STUDIO_UNKNOWN_CLIENT = "studio_unknown_client", Unauthorized, LICENCE, "Invalid Studio token: unknown client";
    /// A Studio token on an endpoint that serves several DRMs.
    STUDIO_DRM_UNKNOWN = "studio_drm_unknown", BadRequest, LICENCE, "A Studio token names no DRM: use /v1/license/{drm} or the ClearKey / HLS key paths";
    /// Denied by rule content_id.
    STUDIO_CONTENT_MISMATCH = "studio_content_mismatch", Forbidden, LICENCE, "Denied by rule content_id: the request names another content id than the token";
    /// Neither the token nor the request names a content id.
    STUDIO_CONTENT_MISSING = "studio_content_missing", BadRequest, LICENCE, "The token has no content_id and the request names none (add ?cid=)";
    /// The token was used up.
    STUDIO_TOKEN_USED = "studio_token_used", Forbidden, LICENCE, "The Studio token was already used: each licence request needs a new token";
    /// The token may have been used before an unclean stop.
    STUDIO_TOKEN_UNVERIFIABLE = "studio_token_unverifiable", Forbidden, LICENCE, "The Studio token was issued before keyward restarted after an unclean stop, and its earlier uses may not have been saved: ask for a new token";
    /// The single-use decision store (Redis in a cluster, the database
    /// otherwise) did not answer: the token is neither used nor refused as
    /// used; retry.
    SINGLE_USE_UNAVAILABLE = "single_use_unavailable", Unavailable, LICENCE, "Single-use tokens cannot be checked right now; retry shortly";
    /// The client address is unknown.
    STUDIO_GEO_UNKNOWN = "studio_geo_unknown", Forbidden, LICENCE, "Denied by rule geo_restrictions: the client address is unknown";
    /// No geo database.
    STUDIO_GEO_UNAVAILABLE = "studio_geo_unavailable", Unavailable, LICENCE, "Denied by rule geo_restrictions: no geo database is available";
    /// Country not allowed.
    STUDIO_GEO_COUNTRY = "studio_geo_country", Forbidden, LICENCE, "Denied by rule geo_restrictions.country_code_whitelist";
    /// Metro code not allowed.
    STUDIO_GEO_METRO = "studio_geo_metro", Forbidden, LICENCE, "Denied by rule geo_restrictions.metro_code_whitelist";
    /// No VPN list.
    STUDIO_VPN_UNAVAILABLE = "studio_vpn_unavailable", Unavailable, LICENCE, "Denied by rule geo_restrictions.block_vpn_and_tor: no VPN/Tor list is available";
    /// A VPN or Tor exit.
    STUDIO_VPN_BLOCKED = "studio_vpn_blocked", Forbidden, LICENCE, "Denied by rule geo_restrictions.block_vpn_and_tor: the address is a known VPN or Tor exit";
    /// The session webhook refused.
    STUDIO_SESSION_DENIED = "studio_session_denied", Forbidden, LICENCE, "Denied by rule session";
    /// The session webhook is unreachable.
    STUDIO_SESSION_UNAVAILABLE = "studio_session_unavailable", Unavailable, LICENCE, "Denied by rule session: the session webhook could not be reached";
    // --- ExpressPlay (Table 18; negative codes) ----------------------------
    /// Token expired.
    EP_EXPIRATION = "-2002", BadRequest, EXPRESSPLAY, "Expiration time invalid or in the past";
    /// Source address not allowed.
    EP_IP_ADDRESS = "-2003", Unauthorized, EXPRESSPLAY, "IP address not allowed";
    /// Content key invalid.
    EP_CONTENT_KEY = "-2005", BadRequest, EXPRESSPLAY, "Content key invalid";
    /// Output control flags invalid.
    EP_OUTPUT_CONTROL_FLAGS = "-2008", BadRequest, EXPRESSPLAY, "Output control flags invalid";
    /// Authenticator missing.
    EP_AUTH_MISSING = "-2017", Unauthorized, EXPRESSPLAY, "customerAuthenticator missing";
    /// Authenticator invalid.
    EP_AUTH_INVALID = "-2018", Unauthorized, EXPRESSPLAY, "customerAuthenticator invalid";
    /// Token quota used up.
    EP_NO_TOKENS = "-2019", Unauthorized, EXPRESSPLAY, "No tokens left";
    /// Rental end missing.
    EP_RENTAL_END_MISSING = "-2022", BadRequest, EXPRESSPLAY, "Rental end missing";
    /// Rental play missing.
    EP_RENTAL_PLAY_MISSING = "-2023", BadRequest, EXPRESSPLAY, "Rental play duration missing";
    /// Rental play invalid.
    EP_RENTAL_PLAY_INVALID = "-2025", BadRequest, EXPRESSPLAY, "Rental play duration invalid";
    /// Content key length invalid.
    EP_CONTENT_KEY_LENGTH = "-2027", BadRequest, EXPRESSPLAY, "Content key length invalid";
    /// Admin error (bad request shape, no such endpoint, internal failure).
    EP_ADMIN = "-2030", BadRequest, EXPRESSPLAY, "ExpressPlay Admin error";
    /// Account disabled.
    EP_ACCOUNT_DISABLED = "-2031", Unauthorized, EXPRESSPLAY, "Account disabled";
    /// Cookie invalid.
    EP_COOKIE = "-2033", BadRequest, EXPRESSPLAY, "Cookie invalid";
    /// Output control out of range.
    EP_OUTPUT_CONTROL_RANGE = "-2034", BadRequest, EXPRESSPLAY, "Output control value out of range";
    /// Empty value.
    EP_NO_VALUE = "-2035", BadRequest, EXPRESSPLAY, "Parameter has no value";
    /// Extension type invalid.
    EP_EXTENSION_TYPE = "-2036", BadRequest, EXPRESSPLAY, "Extension type invalid";
    /// Extension payload invalid.
    EP_EXTENSION_PAYLOAD = "-2037", BadRequest, EXPRESSPLAY, "Extension payload invalid";
    /// Flags length invalid.
    EP_FLAGS_LENGTH = "-2040", BadRequest, EXPRESSPLAY, "Flags length invalid";
    /// errorFormat invalid.
    EP_ERROR_FORMAT = "-3004", BadRequest, EXPRESSPLAY, "errorFormat invalid";
    /// Token invalid.
    EP_INVALID_TOKEN = "-4010", Unauthorized, EXPRESSPLAY, "Invalid token";
    /// KID missing.
    EP_KID_MISSING = "-4018", BadRequest, EXPRESSPLAY, "kid missing";
    /// Key storage: no such named key.
    EP_KEY_STORAGE = "-4019", BadRequest, EXPRESSPLAY, "Key storage error";
    /// KID length invalid.
    EP_KID_LENGTH = "-4020", BadRequest, EXPRESSPLAY, "kid length invalid";
    /// KID name too long.
    EP_KID_NAME_LENGTH = "-4021", BadRequest, EXPRESSPLAY, "kid name too long";
    /// KID invalid.
    EP_KID_INVALID = "-4022", BadRequest, EXPRESSPLAY, "kid invalid";
    /// KEK invalid.
    EP_KEK = "-4024", BadRequest, EXPRESSPLAY, "kek invalid";
    /// generalFlags invalid.
    EP_GENERAL_FLAGS = "-5003", BadRequest, EXPRESSPLAY, "generalFlags invalid";
    /// Key data invalid.
    EP_KEY_DATA = "-6005", BadRequest, EXPRESSPLAY, "Key data invalid";
    /// Rental duration invalid.
    EP_RENTAL_DURATION = "-6007", BadRequest, EXPRESSPLAY, "Rental duration invalid";
    /// Device binding not supported.
    EP_DEVICE_BINDING = "-7002", BadRequest, EXPRESSPLAY, "Device binding not supported";
    /// Security level missing.
    EP_SECURITY_LEVEL_MISSING = "-7003", BadRequest, EXPRESSPLAY, "securityLevel missing";
    /// Security level invalid.
    EP_SECURITY_LEVEL_INVALID = "-7004", BadRequest, EXPRESSPLAY, "securityLevel invalid";
    /// HDCP missing.
    EP_HDCP_MISSING = "-7006", BadRequest, EXPRESSPLAY, "hdcpOutputControl missing";
    /// Licence duration invalid.
    EP_LICENSE_DURATION = "-7007", BadRequest, EXPRESSPLAY, "licenseDuration invalid";
    /// Widevine challenge malformed.
    EP_WIDEVINE_LICENSE = "-7008", BadRequest, EXPRESSPLAY, "Widevine licence request invalid";
    /// wvExtension invalid.
    EP_WV_EXTENSION = "-7009", BadRequest, EXPRESSPLAY, "wvExtension invalid";
    /// No Widevine upstream.
    EP_WIDEVINE_DISABLED = "-7011", NotImplemented, EXPRESSPLAY, "Widevine licensing is not available";
}

/// The registered code of an ExpressPlay number (the library's
/// `expressplay::codes`); an unregistered number is an admin error (-2030), and
/// a test keeps every library code registered.
pub fn expressplay(number: i32) -> Code {
    let wire = number.to_string();
    ALL.iter()
        .copied()
        .find(|c| c.dialects.contains(Dialects::EXPRESSPLAY) && c.wire == wire)
        .unwrap_or(EP_ADMIN)
}

/// Every registered code as a Markdown table (the body of `docs/codes.md`; a
/// test keeps that file equal to this).
pub fn markdown() -> String {
    let mut out = String::from(
        "# Refusal codes\n\n\
         Generated from the code registry (`crates/server/src/codes.rs`); a test keeps \
         this file equal to it. Every refusal keyward answers carries one of these codes, \
         in the dialect of the path it came through: `pallycon` (`/ri/…`, HTTP 200 with \
         `{\"errorCode\",\"message\"}` unless the site asks for real statuses), `native` \
         (RFC 7807 problem+json), `expressplay` (`/hms/…`, html or json) and `studio` \
         (`/v2/…`, problem+json with `field`). The status is the one a native answer uses.\n\n\
         | code | status | dialects | default message |\n|---|---|---|---|\n",
    );
    for c in ALL {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            c.wire,
            c.class.status(),
            c.dialects.names().join(", "),
            c.message.replace('|', "\\|")
        ));
    }
    out
}

/// The registered code of a CPIX / SPEKE failure.
pub fn cpix(code: &str) -> Code {
    ALL.iter()
        .find(|c| c.wire == code && c.wire.starts_with("cpix_"))
        .copied()
        .unwrap_or(CPIX_MALFORMED)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
    use super::*;
    use keyward_token::expressplay::codes as ep;

    #[test]
    fn docs_codes_table_is_the_registry() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/codes.md");
        let want = markdown();
        if std::env::var_os("KEYWARD_BLESS").is_some() {
            std::fs::write(path, &want).unwrap_or_else(|e| panic!("write {path}: {e}"));
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "docs/codes.md is stale: run `KEYWARD_BLESS=1 cargo test -p keyward-server codes` and commit"
        );
    }

    /// The codes (and statuses, when the table has a status column) of the
    /// `| code | …` tables in a document.
    fn doc_table(doc: &str) -> Vec<(String, Option<u16>)> {
        let path = format!("{}/../../docs/{doc}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut out = Vec::new();
        let mut in_table = false;
        let mut status_col = None;
        for line in text.lines() {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            if !line.starts_with('|') {
                in_table = false;
                continue;
            }
            if cells.get(1).is_some_and(|c| c.eq_ignore_ascii_case("code")) {
                in_table = true;
                status_col = cells.iter().position(|c| c.eq_ignore_ascii_case("status"));
                continue;
            }
            if !in_table || cells.get(1).is_some_and(|c| c.starts_with("---")) {
                continue;
            }
            let status = status_col
                .and_then(|i| cells.get(i))
                .and_then(|c| c.parse().ok());
            for code in cells[1].split(['/', ',']) {
                out.push((code.trim().trim_matches('`').to_owned(), status));
            }
        }
        out
    }

    #[test]
    fn docs_code_tables_match_the_registry() {
        for (doc, dialect) in [
            ("studio-token.md", Dialects::STUDIO),
            ("expressplay.md", Dialects::EXPRESSPLAY),
        ] {
            let table = doc_table(doc);
            assert!(!table.is_empty(), "{doc} has no code table");
            for (code, status) in &table {
                let c = ALL.iter().find(|c| c.wire == code).unwrap_or_else(|| {
                    panic!("{doc} names `{code}`, which is not in the registry")
                });
                if let Some(s) = status {
                    assert_eq!(c.class.status(), *s, "{doc}: status of `{code}`");
                }
            }
            for c in ALL.iter().filter(|c| c.dialects.contains(dialect)) {
                // The dialect's own codes; the shared ones (limits, 2001) are in
                // codes.md.
                let own = if dialect == Dialects::STUDIO {
                    c.wire.starts_with("studio_")
                } else {
                    c.wire.starts_with('-')
                };
                if !own {
                    continue;
                }
                assert!(
                    table.iter().any(|(w, _)| w == c.wire),
                    "`{}` is registered for {doc}'s dialect but missing from its code table",
                    c.wire
                );
            }
        }
    }

    #[test]
    fn wire_codes_are_unique() {
        for (i, a) in ALL.iter().enumerate() {
            for b in &ALL[i + 1..] {
                assert_ne!(a.wire, b.wire, "registered twice");
            }
        }
    }

    #[test]
    fn every_cpix_library_code_is_registered() {
        for code in [
            "cpix_too_large",
            "cpix_too_complex",
            "cpix_malformed",
            "cpix_unsupported_version",
            "cpix_unknown_kid",
            "cpix_duplicate_kid",
            "cpix_unknown_period",
            "cpix_speke_contract",
            "cpix_unresolved_key",
            "cpix_signalling",
            "cpix_bad_certificate",
            "cpix_weak_certificate",
            "cpix_unsupported_algorithm",
            "cpix_no_recipient_key",
            "cpix_key_unwrap",
            "cpix_bad_mac",
            "cpix_decrypt",
            "cpix_signature_unsupported",
            "cpix_bad_signature",
            "cpix_untrusted_signer",
            "cpix_random",
        ] {
            assert_eq!(cpix(code).wire, code, "{code} is not registered");
        }
    }

    #[test]
    fn every_expressplay_library_code_is_registered() {
        for n in [
            ep::EXPIRATION,
            ep::IP_ADDRESS,
            ep::CONTENT_KEY,
            ep::OUTPUT_CONTROL_FLAGS,
            ep::AUTH_MISSING,
            ep::AUTH_INVALID,
            ep::NO_TOKENS,
            ep::RENTAL_END_MISSING,
            ep::RENTAL_PLAY_MISSING,
            ep::RENTAL_PLAY_INVALID,
            ep::CONTENT_KEY_LENGTH,
            ep::ADMIN,
            ep::ACCOUNT_DISABLED,
            ep::COOKIE,
            ep::OUTPUT_CONTROL_RANGE,
            ep::NO_VALUE,
            ep::EXTENSION_TYPE,
            ep::EXTENSION_PAYLOAD,
            ep::FLAGS_LENGTH,
            ep::ERROR_FORMAT,
            ep::INVALID_TOKEN,
            ep::KID_MISSING,
            ep::KEY_STORAGE,
            ep::KID_LENGTH,
            ep::KID_NAME_LENGTH,
            ep::KID_INVALID,
            ep::KEK,
            ep::GENERAL_FLAGS,
            ep::KEY_DATA,
            ep::RENTAL_DURATION,
            ep::DEVICE_BINDING,
            ep::SECURITY_LEVEL_MISSING,
            ep::SECURITY_LEVEL_INVALID,
            ep::HDCP_MISSING,
            ep::LICENSE_DURATION,
            ep::WIDEVINE_LICENSE,
            ep::WV_EXTENSION,
            ep::WIDEVINE_DISABLED,
        ] {
            assert_eq!(expressplay(n).wire, n.to_string(), "{n} is not registered");
        }
    }
}
