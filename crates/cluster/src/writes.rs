//! The writes this process may still commit, so that a write intent nobody will finish (its
//! gateway was killed or restarted) can be told from one being written now.
//!
//! A write records an intent for its segment before its first shard byte (`add_intent`);
//! the commit that references the segment, or the write's own abort, clears it. A gateway
//! that dies in between leaves the intent, and its shard files, behind. The intent does not
//! say which gateway made it (an older store's intents could not), so the sweep
//! (`sweep.rs`) asks instead: every gateway answers which of a list of segments it still
//! writes, and an intent that no gateway claims is given up (turned into garbage).
//!
//! A writer takes a [`WriteHold`] on its segment *before* proposing the intent, and keeps it
//! until its commit or abort has been applied. A hold that is dropped keeps claiming its
//! segment for the linger ([`LINGER`] unless configured) more: a caller that lets go of it a
//! little before its commit (a struct taken apart, say) is still covered, and so is a
//! forwarded command still on its way to the leader. Released holds are forgotten as they
//! expire, oldest first, so the registry holds only the writes of the last linger.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use kintsugi_meta::SegmentId;
use parking_lot::Mutex;

/// How long a released hold still claims its segment, by default.
pub const LINGER: Duration = Duration::from_secs(120);

/// The other gateways of a group, asked which segments they still write.
#[async_trait::async_trait]
pub trait OtherWriters: Send + Sync {
    /// Of `segments`, those some other gateway still writes. An error when any gateway of the
    /// group could not answer: then nobody may give any of them up.
    async fn claimed(&self, segments: &[SegmentId]) -> Result<Vec<SegmentId>, String>;
}

#[derive(Debug)]
struct Entry {
    holders: usize,
    /// When the last holder let go (while `holders` is 0).
    released: Option<Instant>,
}

#[derive(Debug, Default)]
struct Entries {
    held: HashMap<SegmentId, Entry>,
    /// Releases in the order they happened, to forget expired entries without a scan.
    releases: VecDeque<(Instant, SegmentId)>,
}

#[derive(Debug)]
struct Held {
    entries: Mutex<Entries>,
    linger: Duration,
}

impl Held {
    /// Forget the entries whose last release is older than the linger.
    fn expire(&self, entries: &mut Entries) {
        while let Some(&(at, segment)) = entries.releases.front() {
            if at.elapsed() < self.linger {
                break;
            }
            entries.releases.pop_front();
            // Only if nobody took it again since (a later release has its own place behind).
            if entries.held.get(&segment).is_some_and(|e| e.holders == 0 && e.released == Some(at)) {
                entries.held.remove(&segment);
            }
        }
    }
}

/// This process's open writes (see the module docs).
pub struct OpenWrites {
    held: Arc<Held>,
    others: OnceLock<Arc<dyn OtherWriters>>,
}

impl std::fmt::Debug for OpenWrites {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenWrites").field("segments", &self.len()).field("others", &self.others.get().is_some()).finish()
    }
}

impl Default for OpenWrites {
    fn default() -> Self {
        Self::with_linger(LINGER)
    }
}

/// A claim on a segment this process writes; see [`OpenWrites::hold`].
#[derive(Debug)]
pub struct WriteHold {
    held: Arc<Held>,
    segment: SegmentId,
}

impl Drop for WriteHold {
    fn drop(&mut self) {
        let mut entries = self.held.entries.lock();
        let now = Instant::now();
        if let Some(e) = entries.held.get_mut(&self.segment) {
            e.holders = e.holders.saturating_sub(1);
            if e.holders == 0 {
                e.released = Some(now);
                entries.releases.push_back((now, self.segment));
            }
        }
        self.held.expire(&mut entries);
    }
}

impl OpenWrites {
    /// A registry whose released holds claim their segment for `linger` more.
    pub fn with_linger(linger: Duration) -> Self {
        Self { held: Arc::new(Held { entries: Mutex::new(Entries::default()), linger }), others: OnceLock::new() }
    }

    /// Claim `segment` until the answer is dropped (and the linger after). Take it before the
    /// segment's intent is proposed.
    pub fn hold(&self, segment: SegmentId) -> WriteHold {
        let mut entries = self.held.entries.lock();
        self.held.expire(&mut entries);
        let e = entries.held.entry(segment).or_insert(Entry { holders: 0, released: None });
        e.holders += 1;
        e.released = None;
        WriteHold { held: self.held.clone(), segment }
    }

    /// Of `segments`, those this process still writes (or let go of less than the linger ago).
    pub fn claimed(&self, segments: &[SegmentId]) -> Vec<SegmentId> {
        let mut entries = self.held.entries.lock();
        self.held.expire(&mut entries);
        segments.iter().copied().filter(|s| entries.held.contains_key(s)).collect()
    }

    /// How many segments are claimed now (held, or released within the linger).
    pub fn len(&self) -> usize {
        let mut entries = self.held.entries.lock();
        self.held.expire(&mut entries);
        entries.held.len()
    }

    /// Whether no segment is claimed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The other gateways of this gateway's group, asked by the sweep (set once; none: this
    /// process writes alone).
    pub fn set_others(&self, others: Arc<dyn OtherWriters>) {
        let _ = self.others.set(others);
    }

    /// The other gateways, if any.
    pub fn others(&self) -> Option<&Arc<dyn OtherWriters>> {
        self.others.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_is_claimed_while_held_and_for_the_linger_after() {
        let w = OpenWrites::with_linger(Duration::from_millis(300));
        let a = w.hold(1);
        let b = w.hold(1);
        let c = w.hold(2);
        assert_eq!(w.claimed(&[1, 2, 3]), vec![1, 2]);
        drop(a);
        drop(c);
        std::thread::sleep(Duration::from_millis(400));
        // 1 still has a holder; 2 was released longer ago than the linger.
        assert_eq!(w.claimed(&[1, 2, 3]), vec![1]);
        drop(b);
        assert_eq!(w.claimed(&[1]), vec![1], "a hold just released still claims");
        std::thread::sleep(Duration::from_millis(400));
        assert!(w.claimed(&[1, 2]).is_empty());
        assert!(w.is_empty(), "released holds are forgotten");
    }

    #[test]
    fn a_segment_held_again_after_its_release_is_claimed_again() {
        let w = OpenWrites::with_linger(Duration::from_millis(200));
        drop(w.hold(7));
        let h = w.hold(7);
        std::thread::sleep(Duration::from_millis(300));
        // The first release expired, but the segment is held again.
        assert_eq!(w.claimed(&[7]), vec![7]);
        drop(h);
        assert_eq!(w.claimed(&[7]), vec![7], "within the linger of its second release");
    }

    #[test]
    fn released_holds_are_forgotten_without_anyone_asking() {
        let w = OpenWrites::with_linger(Duration::ZERO);
        for s in 0..10_000u128 {
            drop(w.hold(s));
        }
        // Nothing asked `claimed` (a follower the sweep never asks): still nothing is kept.
        assert_eq!(w.held.entries.lock().held.len(), 0);
        assert!(w.held.entries.lock().releases.is_empty());
    }
}
