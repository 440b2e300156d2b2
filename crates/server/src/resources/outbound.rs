//! The one outbound HTTP client (session webhooks and customer callbacks):
//! built on first use, no redirects followed.

use std::sync::OnceLock;

/// The lazily built client.
#[derive(Default)]
pub struct Outbound {
    http: OnceLock<Option<reqwest::Client>>,
}

impl Outbound {
    /// The client (`None` if it cannot be built on this system).
    pub fn http(&self) -> Option<&reqwest::Client> {
        self.http
            .get_or_init(|| {
                reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .user_agent(concat!("keyward/", env!("CARGO_PKG_VERSION"), " session"))
                    .build()
                    .ok()
            })
            .as_ref()
    }
}
