//! The sweep of write intents nobody will finish: a gateway killed or restarted in the middle
//! of a PUT leaves its segment's intent open, and the shard files it wrote with it. Nothing
//! references them, and without the sweep nothing would ever delete them.
//!
//! Run by the group's leader (or the gateway alone): intents older than `min_age` that
//! neither this process nor any other gateway of the group claims (`writes.rs`) are given
//! up — turned into garbage, which GC deletes. If any gateway cannot answer (down, cut off,
//! an older version), nothing is given up: a gateway that cannot be asked may still be
//! writing. Its intents wait until it answers again (restarted, it claims none of its old
//! ones) or is removed from the group.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use kintsugi_meta::{now_ms, SegmentId};

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
    let old: Vec<SegmentId> = intents.into_iter().filter(|(_, r)| r.started_ms <= before).map(|(s, _)| s).collect();
    if old.is_empty() {
        return Ok(0);
    }
    let mine: HashSet<SegmentId> = store.writes.claimed(&old).into_iter().collect();
    let mut unclaimed: Vec<SegmentId> = old.into_iter().filter(|s| !mine.contains(s)).collect();
    if let Some(others) = store.writes.others() {
        let mut theirs = HashSet::new();
        for batch in unclaimed.chunks(ASK_AT_ONCE) {
            match others.claimed(batch).await {
                Ok(c) => theirs.extend(c),
                Err(why) => {
                    Metrics::inc(&store.metrics.sweeps_undecided);
                    tracing::info!(intents = unclaimed.len(), why, "open write intents kept: not every gateway could say whether it still writes them");
                    return Ok(0);
                }
            }
        }
        unclaimed.retain(|s| !theirs.contains(s));
    }
    // Marked from here until the command is applied: a hold taken meanwhile (a move writing
    // the same segment again) waits, so its copies never join an intent given up here.
    let sweeping = store.writes.begin_sweep(&unclaimed);
    let given_up = sweeping.segments().to_vec();
    if given_up.is_empty() {
        return Ok(0);
    }
    let n = given_up.len();
    if let Err(e) = store.meta_call(move |m| m.intents_to_garbage(&given_up)).await {
        if e.outcome_unknown() {
            // The command may still be applied: new holds keep waiting a while longer.
            tokio::spawn(async move {
                tokio::time::sleep(crate::writes::LINGER).await;
                drop(sweeping);
            });
        }
        return Err(e);
    }
    drop(sweeping);
    store.metrics.intents_swept.fetch_add(n as u64, Ordering::Relaxed);
    tracing::warn!(count = n, "write intents given up: no gateway is writing them any more (one stopped mid-write); their shards go to garbage collection");
    Ok(n)
}
