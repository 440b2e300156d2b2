//! The vendor's event error codes (Table 18) that this module and the server use,
//! and their descriptions.

/// Invalid token expiration time.
pub const EXPIRATION: i32 = -2002;
/// Invalid IP address.
pub const IP_ADDRESS: i32 = -2003;
/// Invalid content encryption key.
pub const CONTENT_KEY: i32 = -2005;
/// Invalid output control flags specified.
pub const OUTPUT_CONTROL_FLAGS: i32 = -2008;
/// Authentication token must be supplied.
pub const AUTH_MISSING: i32 = -2017;
/// Authentication token invalid.
pub const AUTH_INVALID: i32 = -2018;
/// Insufficient tokens available.
pub const NO_TOKENS: i32 = -2019;
/// Missing rental period end time.
pub const RENTAL_END_MISSING: i32 = -2022;
/// Missing rental play duration.
pub const RENTAL_PLAY_MISSING: i32 = -2023;
/// Invalid rental play duration.
pub const RENTAL_PLAY_INVALID: i32 = -2025;
/// Content encryption key must be 32 hexadecimal digits long.
pub const CONTENT_KEY_LENGTH: i32 = -2027;
/// ExpressPlay Admin error.
pub const ADMIN: i32 = -2030;
/// Service account disabled.
pub const ACCOUNT_DISABLED: i32 = -2031;
/// Invalid cookie.
pub const COOKIE: i32 = -2033;
/// Invalid output control, values out of range.
pub const OUTPUT_CONTROL_RANGE: i32 = -2034;
/// No corresponding value specified.
pub const NO_VALUE: i32 = -2035;
/// Extension type should be 4 characters.
pub const EXTENSION_TYPE: i32 = -2036;
/// Extension payload should be base64 encoded.
pub const EXTENSION_PAYLOAD: i32 = -2037;
/// OutputControlFlag must encode 4 bytes.
pub const FLAGS_LENGTH: i32 = -2040;
/// Invalid error format specified.
pub const ERROR_FORMAT: i32 = -3004;
/// Invalid token.
pub const INVALID_TOKEN: i32 = -4010;
/// Missing kid.
pub const KID_MISSING: i32 = -4018;
/// Failed to get content key from key storage service.
pub const KEY_STORAGE: i32 = -4019;
/// kid must be 32 hexadecimal characters long.
pub const KID_LENGTH: i32 = -4020;
/// kid must be (at most) 64 characters long after the '^'.
pub const KID_NAME_LENGTH: i32 = -4021;
/// Invalid kid.
pub const KID_INVALID: i32 = -4022;
/// Invalid encrypted key or kek.
pub const KEK: i32 = -4024;
/// Invalid general flags.
pub const GENERAL_FLAGS: i32 = -5003;
/// Invalid key data specified.
pub const KEY_DATA: i32 = -6005;
/// Invalid rental duration specified.
pub const RENTAL_DURATION: i32 = -6007;
/// Device ID binding is not supported for Widevine.
pub const DEVICE_BINDING: i32 = -7002;
/// Missing security level value.
pub const SECURITY_LEVEL_MISSING: i32 = -7003;
/// Invalid security level value.
pub const SECURITY_LEVEL_INVALID: i32 = -7004;
/// Missing HDCP output control value.
pub const HDCP_MISSING: i32 = -7006;
/// Invalid license duration specified.
pub const LICENSE_DURATION: i32 = -7007;
/// Failed to generate Widevine license.
pub const WIDEVINE_LICENSE: i32 = -7008;
/// Invalid WVExtension parameters specified.
pub const WV_EXTENSION: i32 = -7009;
/// Widevine option disabled.
pub const WIDEVINE_DISABLED: i32 = -7011;

/// The vendor's description of a code (Table 18), without the details.
pub fn description(code: i32) -> &'static str {
    match code {
        -2002 => "Invalid token expiration time",
        -2003 => "Invalid IP address",
        -2005 => "Invalid content encryption key",
        -2008 => "Invalid output control flags specified",
        -2017 => "Authentication token must be supplied",
        -2018 => "Authentication token invalid",
        -2019 => "Insufficient tokens available",
        -2022 => "Missing rental period end time",
        -2023 => "Missing rental play duration",
        -2025 => "Invalid rental play duration",
        -2027 => "Content encryption key must be 32-hexadecimal digits long",
        -2030 => "ExpressPlay Admin error",
        -2031 => "Service Account Disabled",
        -2033 => "Invalid cookie",
        -2034 => "Invalid Output Control, values out of specified range",
        -2035 => "No corresponding value specified",
        -2036 => "Extension type should be 4 characters",
        -2037 => "Extension payload should be Base64 encoded",
        -2040 => "OutputControlFlag must be encode 4 bytes",
        -3004 => "Invalid error format specified",
        -4001 => "Device could not be authenticated",
        -4010 => "Invalid token",
        -4018 => "Missing kid",
        -4019 => "Failed to get content key from key storage service",
        -4020 => "kid must be 32 hexadecimal characters long",
        -4021 => "kid must be 64 characters long after the '^'",
        -4022 => "Invalid kid",
        -4024 => "Invalid encrypted key or kek",
        -5003 => "Invalid general flags",
        -6005 => "Invalid key data specified",
        -6007 => "Invalid rental duration specified",
        -7002 => "Device ID binding is not supported for Widevine",
        -7003 => "Missing security level value",
        -7004 => "Invalid security level value",
        -7006 => "Missing HDCP output control value",
        -7007 => "Invalid license duration specified",
        -7008 => "Failed to generate Widevine license",
        -7009 => "Invalid WVExtension parameters specified",
        -7011 => "Widevine option disabled",
        _ => "Error",
    }
}
