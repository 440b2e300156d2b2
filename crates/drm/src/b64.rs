//! Lenient base64 decoding shared by the parsers (base64 or base64url, padded or
//! not, canonical trailing bits only); defined in `keyward-types`, where the kid
//! parser uses it too.

pub(crate) use keyward_types::encoding::decode_base64_lenient as decode_lenient;
