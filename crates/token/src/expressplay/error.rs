//! The one refusal of this module: a vendor code and client-safe details.

use super::codes::description;

/// A refusal with the vendor's negative code. `Display` is the vendor's
/// description followed by `: <details>` when there are details.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{}{}", description(*.code), if .detail.is_empty() { "" } else { ": " }, .detail)]
pub struct ExpressPlayError {
    code: i32,
    detail: String,
}

impl ExpressPlayError {
    /// A refusal with a code (see [`codes`](super::codes)) and client-safe details.
    pub fn new(code: i32, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }

    /// The vendor's negative code.
    pub fn code(&self) -> i32 {
        self.code
    }

    /// The details (may be empty).
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

pub(super) type Result<T, E = ExpressPlayError> = std::result::Result<T, E>;
