//! Upstream kinds: the licensed services a back door forwards a challenge to
//! when keyward cannot issue the licence itself. Each kind is one file: its
//! name and DRM, the settings it reads besides the common ones (timeouts,
//! headers, breaker — `resources::upstreams::RouteSettings`), the request it
//! makes from the entitlement and the challenge (the translation), how it reads
//! the answer, and a harmless probe for `keyward upstream test`.
//!
//! The outbound half — routes, the pooled client, timeouts, concurrency,
//! breakers, failover — is `resources::upstreams`; [`broker`] joins the two.

pub mod axinom;
pub mod doverunner;
pub mod drmtoday;
pub mod fairplay_ksm;
pub mod http_forward;
pub mod playready;
pub mod widevine_cloud;

use keyward_store::{ContentKeyRecord, Drm, Upstream};

use super::Licence;
use crate::codes::{self, Code};
use crate::entitlement::Entitlement;
use crate::refusal::Refusal;
use crate::resources::upstreams::{common_settings, Answered, Outgoing, Route, Upstreams};

/// One upstream kind.
pub trait Kind: Send + Sync {
    /// Its name in `--kind` and the admin API.
    fn name(&self) -> &'static str;
    /// Whether it serves a DRM (a kind may serve several).
    fn serves(&self, drm: Drm) -> bool;
    /// Checks the kind's own settings (`extra`: everything but the common
    /// ones; unknown names are refused).
    ///
    /// # Errors
    /// A message naming the setting.
    fn validate(
        &self,
        extra: &serde_json::Map<String, serde_json::Value>,
        secret_names: &[&str],
    ) -> Result<(), String>;
    /// The request for one route. `stored` is the site's key store's keys for
    /// the entitled content (empty when the entitlement releases only the
    /// keys it carries, or names no content): a kind that sends keys
    /// upstream takes them from the entitlement's carried keys and these.
    ///
    /// # Errors
    /// A refusal when the entitlement cannot be expressed for this upstream.
    fn build(
        &self,
        route: &Route,
        ent: &Entitlement,
        stored: &[ContentKeyRecord],
        challenge: &[u8],
    ) -> Result<Outgoing, Refusal>;
    /// The licence in a route's answer, or the upstream's refusal.
    ///
    /// # Errors
    /// The upstream's refusal, in keyward's codes.
    fn judge(&self, route: &Route, ent: &Entitlement, answer: Answered)
        -> Result<Licence, Refusal>;
    /// A harmless request for `keyward upstream test`.
    fn probe(&self, upstream: &Upstream) -> Outgoing;
    /// The kind's own "no route answered" code, used instead of the back
    /// door's when every route tried is of this kind (default: none, the
    /// back door's DRM code).
    fn unavailable(&self) -> Option<Code> {
        None
    }
    /// Whether the player's `pallycon-client-meta` header (device info the
    /// PallyCon/DoveRunner client SDKs send) goes to the upstream.
    fn passes_client_meta(&self) -> bool {
        false
    }
    /// Whether the request carries the entitlement's output rules to the
    /// upstream, refusing those it cannot (a FairPlay back door checks the
    /// rules a raw SPC cannot carry only for kinds that do not).
    fn carries_output_rules(&self) -> bool {
        false
    }
}

/// A rule of `ent` the upstream cannot express: the refusal (the default:
/// never weaken a rule silently), or — for a site that opted into best effort
/// (`brokers.best_effort_sites`) — `Ok` after a `warn` log line naming the
/// site and the rule dropped, so the caller goes on without it.
///
/// # Errors
/// `refusal`, unless the site opted into best effort.
pub fn cannot(ent: &Entitlement, refusal: Refusal) -> Result<(), Refusal> {
    if ent.best_effort {
        tracing::warn!(
            site = %ent.site_id,
            code = refusal.code.wire,
            rule = %refusal.message.trim_end_matches(": refused rather than dropped"),
            "best effort: a rule the upstream cannot express was dropped from this licence"
        );
        Ok(())
    } else {
        Err(refusal)
    }
}

/// A Widevine security level a kind can send: `Some(l)` for 1–5, the levels
/// the Widevine protocol has. Another level goes to [`cannot`] with the
/// kind's own `unsupported` refusal: an error, or `None` for a best-effort
/// site (the rule is dropped).
///
/// # Errors
/// The kind's refusal for a level outside 1–5, unless the site opted into
/// best effort.
pub fn widevine_level(
    ent: &Entitlement,
    level: u8,
    track: &str,
    unsupported: fn(String) -> Refusal,
) -> Result<Option<u8>, Refusal> {
    if (1..=5).contains(&level) {
        return Ok(Some(level));
    }
    cannot(
        ent,
        unsupported(format!(
            "The policy asks for Widevine security level {level} on {track} tracks"
        )),
    )?;
    Ok(None)
}

/// Refuses a private secret (`keyward-…`, never sent as a header) that the
/// kind does not read itself: it would be stored and never used.
///
/// # Errors
/// The message naming the secret and the kind.
pub fn refuse_unused_private_secrets(
    kind: &str,
    secret_names: &[&str],
    used: &[&str],
) -> Result<(), String> {
    match secret_names
        .iter()
        .find(|n| crate::resources::upstreams::is_private_secret(n) && !used.contains(n))
    {
        Some(n) => Err(format!(
            "secrets: {} is a private secret, which kind {kind} does not use",
            crate::json::bounded(n, 64)
        )),
        None => Ok(()),
    }
}

/// Every kind keyward has.
pub fn kinds() -> &'static [&'static dyn Kind] {
    &[
        &fairplay_ksm::FairPlayKsm,
        &widevine_cloud::WidevineCloud,
        &playready::PlayReady,
        &http_forward::HttpForward,
        &doverunner::DoveRunner,
        &axinom::Axinom,
        &drmtoday::DrmToday,
    ]
}

/// The kind of a name.
pub fn kind(name: &str) -> Option<&'static dyn Kind> {
    kinds().iter().copied().find(|k| k.name() == name)
}

/// The DRMs a kind serves, by name.
pub fn served(k: &dyn Kind) -> Vec<&'static str> {
    Drm::ALL
        .iter()
        .filter(|d| k.serves(**d))
        .map(|d| d.as_str())
        .collect()
}

/// Checks an upstream before it is stored: a known kind for its DRM, the
/// common settings, and the kind's own.
///
/// # Errors
/// `invalid_input` naming what is wrong.
pub fn validate(
    kind_name: &str,
    drm: Drm,
    settings: &serde_json::Value,
    secret_names: &[&str],
) -> Result<(), Refusal> {
    let bad = |m: String| Refusal::with(codes::INVALID_INPUT, m);
    let k = kind(kind_name).ok_or_else(|| {
        bad(format!(
            "unknown upstream kind '{}': known kinds are {}",
            crate::json::bounded(kind_name, 32),
            kinds()
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    if !k.serves(drm) {
        return Err(bad(format!(
            "an upstream of kind {} serves {}, not {}",
            k.name(),
            served(k).join(" and "),
            drm.as_str()
        )));
    }
    let common = common_settings(settings, secret_names).map_err(bad)?;
    k.validate(&common.extra, secret_names).map_err(bad)
}

/// Forwards a challenge to `routes` (in order, with failover) and returns the
/// licence of the first that answers; `unavailable` when none does. `stored`:
/// the key store's keys for the entitled content (see [`Kind::build`]).
///
/// # Errors
/// The kind's refusals; `unavailable`.
pub async fn broker(
    upstreams: &Upstreams,
    routes: &[&Route],
    ent: &Entitlement,
    stored: &[ContentKeyRecord],
    challenge: &[u8],
    cx: &super::Context<'_>,
    unavailable: Code,
) -> Result<Licence, Refusal> {
    let request_id = cx.request_id;
    // Routes all of one kind with its own "unavailable" code answer with it.
    let own = routes
        .iter()
        .map(|r| kind(&r.upstream.kind).and_then(|k| k.unavailable()))
        .reduce(|a, b| if a == b { a } else { None })
        .flatten();
    let unavailable = own.unwrap_or(unavailable);
    upstreams
        .call(
            routes,
            request_id,
            unavailable,
            |route| match kind(&route.upstream.kind) {
                Some(k) => {
                    let mut out = k.build(route, ent, stored, challenge)?;
                    if let (true, Some(meta)) = (k.passes_client_meta(), cx.client_meta) {
                        out.headers
                            .push(("pallycon-client-meta".to_owned(), meta.to_owned()));
                    }
                    Ok(out)
                }
                None => Err(Refusal::internal(format!(
                    "stored upstream of unknown kind {}",
                    route.upstream.kind
                ))),
            },
            |route, answered| match kind(&route.upstream.kind) {
                Some(k) => k.judge(route, ent, answered),
                None => Err(Refusal::internal("stored upstream of unknown kind")),
            },
        )
        .await
}

/// `keyward upstream test`.
///
/// # Errors
/// The report when the upstream did not answer.
pub async fn probe(u: Upstream) -> Result<String, String> {
    let k = kind(&u.kind).ok_or_else(|| format!("unknown upstream kind {}", u.kind))?;
    let out = k.probe(&u);
    crate::resources::upstreams::probe(u, out).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entitlement::Origin;
    use keyward_token::DrmType;

    fn refused(what: String) -> Refusal {
        Refusal::with(codes::WIDEVINE_UPSTREAM_UNSUPPORTED, what)
    }

    #[test]
    fn widevine_levels_outside_one_to_five_are_refused_or_dropped_for_best_effort() {
        let mut e = Entitlement::new(
            Origin::PallyConToken,
            "TEST",
            "u",
            "movie",
            DrmType::Widevine,
        );
        for l in 1..=5 {
            assert_eq!(widevine_level(&e, l, "HD", refused).unwrap(), Some(l));
        }
        for l in [0, 6, 255] {
            let r = widevine_level(&e, l, "HD", refused).unwrap_err();
            assert!(r.is(codes::WIDEVINE_UPSTREAM_UNSUPPORTED));
            assert_eq!(
                r.message,
                format!("The policy asks for Widevine security level {l} on HD tracks")
            );
        }
        e.best_effort = true;
        assert_eq!(widevine_level(&e, 6, "HD", refused).unwrap(), None);
        assert_eq!(widevine_level(&e, 2, "HD", refused).unwrap(), Some(2));
    }
}
