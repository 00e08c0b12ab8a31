//! What a QUIC endpoint takes on: at most so many connections, at most so many of them from
//! peers without a cluster certificate (joining nodes — or anyone), opened at a bounded rate,
//! and a first request frame within a deadline. Above a cap a new connection is refused before
//! its handshake costs anything; a stream whose request does not arrive in time is answered
//! `BadFrame` and closed. A handshake holds its place for at most `handshake`; while
//! `validate_above` or more are in progress, a new peer must first prove it receives at its
//! source address (a QUIC Retry), so spoofed addresses cannot fill the places.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The server side's limits (part of [`crate::TransportTuning`]).
#[derive(Clone, Debug)]
pub struct ServerLimits {
    /// Most connections open at once (members and joiners); more are refused.
    pub max_connections: usize,
    /// Most connections without a cluster certificate open at once.
    pub max_anonymous: usize,
    /// Connections without a certificate accepted per second, on average (bursts of as many).
    pub anonymous_per_sec: u32,
    /// How long a new stream may take to send its request frame.
    pub first_frame: Duration,
    /// How long a connection without a certificate stays open (a join is one exchange).
    pub anonymous_lifetime: Duration,
    /// How long a handshake may take before its place is given back.
    pub handshake: Duration,
    /// Handshakes in progress from which on (this many or more) new peers are sent a Retry
    /// (address validation) before they get a place; 0: always.
    pub validate_above: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            max_anonymous: 64,
            anonymous_per_sec: 20,
            first_frame: Duration::from_secs(10),
            anonymous_lifetime: Duration::from_secs(30),
            handshake: Duration::from_secs(10),
            validate_above: 32,
        }
    }
}

/// The counters behind [`ServerLimits`], shared by an endpoint's connection tasks.
#[derive(Debug)]
pub(crate) struct Gate {
    limits: ServerLimits,
    open: Arc<AtomicUsize>,
    anonymous: Arc<AtomicUsize>,
    handshaking: Arc<AtomicUsize>,
    /// Tokens for new anonymous connections, refilled at `anonymous_per_sec`.
    bucket: Mutex<(f64, Instant)>,
    /// Connections refused, for logs and tests.
    pub(crate) refused: AtomicU64,
    /// Peers sent a Retry to validate their address, for logs and tests.
    pub(crate) retried: AtomicU64,
}

/// A held place under a cap (a connection, an anonymous one, a handshake in progress);
/// given back when dropped.
#[derive(Debug)]
pub(crate) struct Held(Arc<AtomicUsize>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Gate {
    pub(crate) fn new(limits: ServerLimits) -> Arc<Self> {
        let burst = f64::from(limits.anonymous_per_sec.max(1));
        Arc::new(Self {
            limits,
            open: Arc::default(),
            anonymous: Arc::default(),
            handshaking: Arc::default(),
            bucket: Mutex::new((burst, Instant::now())),
            refused: AtomicU64::new(0),
            retried: AtomicU64::new(0),
        })
    }

    pub(crate) fn handshake_deadline(&self) -> Duration {
        self.limits.handshake
    }

    /// Whether a new peer whose address is not validated yet must be sent a Retry first:
    /// too many handshakes are in progress (counting a flood of spoofed sources).
    pub(crate) fn must_validate(&self) -> bool {
        self.handshaking.load(Ordering::Acquire) >= self.limits.validate_above
    }

    /// Count a Retry sent.
    pub(crate) fn retry_sent(&self) {
        self.retried.fetch_add(1, Ordering::Relaxed);
    }

    /// Count a handshake as in progress until the guard drops.
    pub(crate) fn handshake(&self) -> Held {
        self.handshaking.fetch_add(1, Ordering::AcqRel);
        Held(self.handshaking.clone())
    }

    pub(crate) fn first_frame(&self) -> Duration {
        self.limits.first_frame
    }

    pub(crate) fn anonymous_lifetime(&self) -> Duration {
        self.limits.anonymous_lifetime
    }

    fn take(&self, anonymous: bool) -> Option<Held> {
        let (counter, cap) = if anonymous { (&self.anonymous, self.limits.max_anonymous) } else { (&self.open, self.limits.max_connections) };
        let taken = counter.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < cap).then_some(n + 1)).is_ok();
        if !taken {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        taken.then(|| Held(counter.clone()))
    }

    /// A place for a new connection, or `None` at `max_connections`.
    pub(crate) fn connection(&self) -> Option<Held> {
        self.take(false)
    }

    /// A place for a connection that turned out to carry no cluster certificate, or `None`
    /// at `max_anonymous` or above the rate.
    pub(crate) fn anonymous(&self) -> Option<Held> {
        // The cap first: a connection refused by it spends no token of the rate.
        let held = self.take(true)?;
        {
            let rate = f64::from(self.limits.anonymous_per_sec.max(1));
            let mut b = self.bucket.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = Instant::now();
            b.0 = (b.0 + now.duration_since(b.1).as_secs_f64() * rate).min(rate);
            b.1 = now;
            if b.0 < 1.0 {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            b.0 -= 1.0;
        }
        Some(held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_hold_and_places_come_back() {
        let gate = Gate::new(ServerLimits { max_connections: 2, max_anonymous: 1, anonymous_per_sec: 100, validate_above: 1, ..ServerLimits::default() });
        let a = gate.connection().expect("first");
        let _b = gate.connection().expect("second");
        assert!(gate.connection().is_none(), "a third over the cap");
        drop(a);
        assert!(gate.connection().is_some(), "a place came back");
        let anon = gate.anonymous().expect("one joiner");
        assert!(gate.anonymous().is_none(), "a second joiner over its cap");
        drop(anon);
        assert!(gate.anonymous().is_some());
        // Handshakes in progress above the mark: new peers must validate their address.
        assert!(!gate.must_validate());
        let h = gate.handshake();
        assert!(gate.must_validate(), "one handshake in progress with validate_above 1");
        drop(h);
        assert!(!gate.must_validate(), "the handshake's count came back");
    }

    #[test]
    fn joiners_are_rate_limited() {
        let gate = Gate::new(ServerLimits { max_connections: 100, max_anonymous: 100, anonymous_per_sec: 5, ..ServerLimits::default() });
        let held: Vec<_> = (0..20).filter_map(|_| gate.anonymous()).collect();
        assert_eq!(held.len(), 5, "a burst of the rate, then refusals");
    }
}
