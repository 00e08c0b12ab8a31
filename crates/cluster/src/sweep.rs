//! The sweep of write intents nobody will finish: a gateway killed or restarted in the middle
//! of a PUT leaves its segment's intent open, and the shard files it wrote with it. Nothing
//! references them, and without the sweep nothing would ever delete them.
//!
//! Run by the group's leader (or the gateway alone): intents older than `min_age` that
//! neither this process nor any other gateway of the group claims (`writes.rs`) are given
//! up — turned into garbage, which GC deletes, by a compare-and-swap on each intent record
//! (`GiveUpIntents`), so an intent some writer added to since it was read is left alone. If
//! any gateway cannot answer (down, cut off, an older version), nothing is given up: a
//! gateway that cannot be asked may still be writing. Its intents wait until it answers
//! again (restarted, it claims none of its old ones) or is removed from the group.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use kintsugi_meta::{now_ms, IntentRecord, SegmentId};

use crate::error::ClusterResult;
use crate::metrics::Metrics;
use crate::store::Store;

/// The sweep's tunables.
#[derive(Clone, Copy, Debug)]
pub struct SweepConfig {
    /// Pause between sweeps.
    pub interval: Duration,
    /// Intents younger than this are left alone (a margin; the claims decide).
    pub min_age: Duration,
}

impl Default for SweepConfig {
    fn default() -> Self {
        Self { interval: Duration::from_secs(30), min_age: Duration::from_secs(60) }
    }
}

/// Segments asked about in one request to the other gateways.
const ASK_AT_ONCE: usize = 50_000;

/// One sweep; answers how many intents it gave up.
pub async fn sweep_pass(store: &Arc<Store>, min_age: Duration) -> ClusterResult<usize> {
    let before = now_ms().saturating_sub(i64::try_from(min_age.as_millis()).unwrap_or(i64::MAX));
    let intents = store.meta_call(|m| m.list_intents()).await?;
    let old: Vec<(SegmentId, IntentRecord)> = intents.into_iter().filter(|(_, r)| r.started_ms <= before).collect();
    if old.is_empty() {
        return Ok(0);
    }
    let ids: Vec<SegmentId> = old.iter().map(|(s, _)| *s).collect();
    let mut claimed = HashSet::new();
    if let Some(others) = store.writes.others() {
        for batch in ids.chunks(ASK_AT_ONCE) {
            match others.claimed(batch).await {
                Ok(c) => claimed.extend(c),
                Err(why) => {
                    Metrics::inc(&store.metrics.sweeps_undecided);
                    tracing::info!(intents = ids.len(), why, "open write intents kept: not every gateway could say whether it still writes them");
                    return Ok(0);
                }
            }
        }
    }
    // This process is asked last, so a writer of its own that took a hold while the others
    // were asked (a move writing the segment again) keeps its intent. Each is then given up
    // only if its intent is still the record read above (a compare-and-swap), so one that
    // some writer added new shards to meanwhile is kept too.
    claimed.extend(store.writes.claimed(&ids));
    let unclaimed: Vec<(SegmentId, IntentRecord)> = old.into_iter().filter(|(s, _)| !claimed.contains(s)).collect();
    if unclaimed.is_empty() {
        return Ok(0);
    }
    let ids: Vec<SegmentId> = unclaimed.iter().map(|(s, _)| *s).collect();
    let left = store
        .meta_call(move |m| {
            m.give_up_intents(unclaimed)?;
            m.list_intents()
        })
        .await?;
    // Those gone now (`submit` returns once this replica has applied the command): given
    // up here, or — rarely — committed by their writer in between.
    let left: HashSet<SegmentId> = left.into_iter().map(|(s, _)| s).collect();
    let n = ids.iter().filter(|s| !left.contains(s)).count();
    if n == 0 {
        return Ok(0);
    }
    store.metrics.intents_swept.fetch_add(n as u64, Ordering::Relaxed);
    tracing::warn!(count = n, "write intents given up: no gateway is writing them any more (one stopped mid-write); their shards go to garbage collection");
    Ok(n)
}
