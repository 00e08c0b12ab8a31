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
//! segment for [`LINGER`] more: a caller that lets go of it a little before its commit (a
//! struct taken apart, say) is still covered. While the sweep gives a segment's intent up
//! ([`OpenWrites::begin_sweep`] until its command is applied), a new hold on that segment
//! waits: a move that writes a segment again must not add its copies to an intent that is
//! being turned into garbage.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use kintsugi_meta::SegmentId;
use parking_lot::Mutex;
use tokio::sync::Notify;

/// How long a released hold still claims its segment.
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
    /// Segments whose intents the sweep is giving up now.
    sweeping: HashSet<SegmentId>,
}

#[derive(Debug)]
struct Held {
    entries: Mutex<Entries>,
    linger: Duration,
    /// Woken when a sweep ends.
    swept: Notify,
}

/// This process's open writes (see the module docs).
pub struct OpenWrites {
    held: Arc<Held>,
    others: OnceLock<Arc<dyn OtherWriters>>,
}

impl std::fmt::Debug for OpenWrites {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenWrites").field("segments", &self.held.entries.lock().held.len()).field("others", &self.others.get().is_some()).finish()
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
        if let Some(e) = entries.held.get_mut(&self.segment) {
            e.holders = e.holders.saturating_sub(1);
            if e.holders == 0 {
                e.released = Some(Instant::now());
            }
        }
    }
}

impl OpenWrites {
    /// A registry whose released holds claim their segment for `linger` more.
    pub fn with_linger(linger: Duration) -> Self {
        Self { held: Arc::new(Held { entries: Mutex::new(Entries::default()), linger, swept: Notify::new() }), others: OnceLock::new() }
    }

    /// Claim `segment` until the answer is dropped (and [`LINGER`] after). Take it before the
    /// segment's intent is proposed. Waits while the sweep gives up that segment's intent.
    pub async fn hold(&self, segment: SegmentId) -> WriteHold {
        loop {
            // Created before the check, so the end of a sweep between the two wakes it.
            let swept = self.held.swept.notified();
            {
                let mut entries = self.held.entries.lock();
                if !entries.sweeping.contains(&segment) {
                    let e = entries.held.entry(segment).or_insert(Entry { holders: 0, released: None });
                    e.holders += 1;
                    e.released = None;
                    return WriteHold { held: self.held.clone(), segment };
                }
            }
            swept.await;
        }
    }

    /// Of `segments`, those this process still writes (or let go of less than the linger
    /// ago). Forgets holds released longer ago than that.
    pub fn claimed(&self, segments: &[SegmentId]) -> Vec<SegmentId> {
        let mut entries = self.held.entries.lock();
        self.prune(&mut entries);
        segments.iter().copied().filter(|s| entries.held.contains_key(s)).collect()
    }

    fn prune(&self, entries: &mut Entries) {
        let linger = self.held.linger;
        entries.held.retain(|_, e| e.holders > 0 || e.released.is_none_or(|t| t.elapsed() < linger));
    }

    /// The sweep is about to give up the intents of `segments`: those this process does not
    /// claim are marked (new holds on them wait) until the answer is dropped, which the sweep
    /// does once its command has been applied. Answers the marked ones.
    pub fn begin_sweep(&self, segments: &[SegmentId]) -> Sweeping {
        let mut entries = self.held.entries.lock();
        self.prune(&mut entries);
        let marked: Vec<SegmentId> = segments.iter().copied().filter(|s| !entries.held.contains_key(s) && !entries.sweeping.contains(s)).collect();
        entries.sweeping.extend(marked.iter().copied());
        Sweeping { held: self.held.clone(), segments: marked }
    }

    /// How many segments are claimed now (held, or released within the linger).
    pub fn len(&self) -> usize {
        let mut entries = self.held.entries.lock();
        self.prune(&mut entries);
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

/// Segments the sweep is giving up; see [`OpenWrites::begin_sweep`].
#[derive(Debug)]
pub struct Sweeping {
    held: Arc<Held>,
    segments: Vec<SegmentId>,
}

impl Sweeping {
    /// The segments marked.
    pub fn segments(&self) -> &[SegmentId] {
        &self.segments
    }
}

impl Drop for Sweeping {
    fn drop(&mut self) {
        let mut entries = self.held.entries.lock();
        for s in &self.segments {
            entries.sweeping.remove(s);
        }
        drop(entries);
        self.held.swept.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_segment_is_claimed_while_held_and_for_the_linger_after() {
        let w = OpenWrites::with_linger(Duration::from_millis(300));
        let a = w.hold(1).await;
        let b = w.hold(1).await;
        let c = w.hold(2).await;
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

    #[tokio::test]
    async fn a_segment_held_again_after_its_release_is_claimed_again() {
        let w = OpenWrites::with_linger(Duration::ZERO);
        drop(w.hold(7).await);
        assert!(w.claimed(&[7]).is_empty());
        let h = w.hold(7).await;
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(w.claimed(&[7]), vec![7]);
        drop(h);
    }

    #[tokio::test]
    async fn a_hold_on_a_segment_being_swept_waits_for_the_sweep_to_end() {
        let w = Arc::new(OpenWrites::with_linger(Duration::ZERO));
        let kept = w.hold(1).await;
        let sweep = w.begin_sweep(&[1, 2, 3]);
        assert_eq!(sweep.segments(), &[2, 3], "a held segment is never marked");
        assert!(w.begin_sweep(&[2]).segments().is_empty(), "a segment is marked by one sweep at a time");
        let w2 = w.clone();
        let waiting = tokio::spawn(async move { w2.hold(2).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!waiting.is_finished(), "a hold was taken on a segment being swept");
        assert!(w.claimed(&[2]).is_empty());
        drop(sweep);
        let h = tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("the hold waits no longer than the sweep").expect("task");
        assert_eq!(w.claimed(&[1, 2, 3]), vec![1, 2]);
        drop((h, kept));
    }
}
