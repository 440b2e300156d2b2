//! A circuit breaker, shared by everything keyward calls out to (customer
//! callbacks, licence upstreams): after `failures` consecutive failures it
//! opens for `cooldown`, failing fast; then one probe is let through, and its
//! outcome closes or re-opens it. `failures = 0` never opens.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Default)]
struct State {
    failures: u32,
    open_until: Option<Instant>,
    probing: bool,
}

/// The breaker.
#[derive(Default)]
pub struct Breaker {
    state: Mutex<State>,
}

/// A breaker decision for one call.
#[derive(Debug, PartialEq, Eq)]
pub enum Gate {
    /// Calls go through.
    Closed,
    /// One probe after the cool-down.
    Probe,
    /// Failing fast for this long.
    Open(Duration),
}

impl Breaker {
    /// May a call go through now?
    pub fn gate(&self) -> Gate {
        let mut b = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match b.open_until {
            None => Gate::Closed,
            Some(t) if t > Instant::now() => Gate::Open(t - Instant::now()),
            Some(_) if b.probing => Gate::Open(Duration::ZERO),
            Some(_) => {
                b.probing = true;
                Gate::Probe
            }
        }
    }

    /// Records a call's outcome; `what` and `key` name the callee in the logs
    /// ("callback" / site id, "upstream" / route).
    pub fn record(&self, ok: bool, failures: u32, cooldown: Duration, what: &str, key: &str) {
        let mut b = self.state.lock().unwrap_or_else(|e| e.into_inner());
        b.probing = false;
        if ok {
            if b.open_until.is_some() || b.failures > 0 {
                tracing::info!(what, key, "{what} recovered: circuit closed");
            }
            *b = State::default();
            return;
        }
        b.failures = b.failures.saturating_add(1);
        if failures > 0 && b.failures >= failures {
            b.open_until = Some(Instant::now() + cooldown);
            tracing::warn!(
                what,
                key,
                failures = b.failures,
                cooldown_secs = cooldown.as_secs(),
                "{what} circuit open: failing fast"
            );
        }
    }

    /// (consecutive failures, open now).
    pub fn state(&self) -> (u32, bool) {
        let b = self.state.lock().unwrap_or_else(|e| e.into_inner());
        (b.failures, b.open_until.is_some_and(|t| t > Instant::now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_n_failures_then_probes_once() {
        let b = Breaker::default();
        let cool = Duration::from_millis(50);
        assert_eq!(b.gate(), Gate::Closed);
        b.record(false, 2, cool, "t", "k");
        assert_eq!(b.gate(), Gate::Closed);
        b.record(false, 2, cool, "t", "k");
        assert!(matches!(b.gate(), Gate::Open(_)));
        assert_eq!(b.state(), (2, true));
        std::thread::sleep(cool);
        assert_eq!(b.gate(), Gate::Probe);
        // Only one probe at a time.
        assert_eq!(b.gate(), Gate::Open(Duration::ZERO));
        b.record(true, 2, cool, "t", "k");
        assert_eq!(b.gate(), Gate::Closed);
        assert_eq!(b.state(), (0, false));
        // Zero never opens.
        for _ in 0..10 {
            b.record(false, 0, cool, "t", "k");
        }
        assert_eq!(b.gate(), Gate::Closed);
    }
}
