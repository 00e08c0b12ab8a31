//! Spreading: a segment whose shards crowd one failure domain (two shards on one node while
//! the cluster has k+m nodes, or two on one disk, as older versions placed them while nodes
//! were down) survives fewer domain losses than its shard count says. Each crowding shard is
//! copied to a domain the segment does not use (verified copy + compare-and-swap,
//! `moves::copy_shard`, as drain and rebalance do), and the old copy becomes garbage.
//!
//! Such segments arise only when the failure-domain cap falls: at the first repair pass after
//! a start (older data), and when domains come back or are added after segments were placed
//! two to a domain while domains were missing. So a pass scans every segment only then.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use kintsugi_meta::{DiskId, SegmentId, NO_DISK};
use kintsugi_placement::repair::crowding_shard;

use crate::error::ClusterResult;
use crate::limiter::Limiter;
use crate::store::Store;

/// The spread pass's memory between passes and its count (reported with repair's).
#[derive(Debug, Default)]
pub struct SpreadStats {
    /// Shards moved out of a failure domain holding more of their segment than it may.
    pub shards_spread: AtomicU64,
    /// The domain cap of the last spread pass; 0 until one ran.
    pub spread_cap: AtomicU64,
    /// Usable failure domains when the last spread pass had to leave segments for later; 0 when
    /// it finished.
    pub spread_pending_at: AtomicU64,
}

/// Spread out every segment over the current domain cap, when the cap fell since the last
/// spread (or none ran since the start: `spread_cap` 0), or when a spread had to leave some
/// segments for later (no free domain) and more domains are usable now. Otherwise nothing: a
/// pass scans all segments only on those events, not every `--repair-interval`.
pub async fn pass(store: &Arc<Store>, stats: &SpreadStats, limiter: &Limiter) -> ClusterResult<()> {
    let cap = store.domain_cap() as u64;
    let done_at = stats.spread_cap.load(Ordering::Relaxed);
    let pending_at = stats.spread_pending_at.load(Ordering::Relaxed);
    let usable = usable_domains(store);
    if cap == 0 {
        return Ok(());
    }
    let cap_fell = done_at == 0 || cap < done_at;
    let more_room = pending_at != 0 && usable > pending_at;
    if !cap_fell && !more_room {
        // More sharing may be allowed now (domains were lost): remember the cap, so that its
        // fall, later, triggers a pass.
        stats.spread_cap.store(cap, Ordering::Relaxed);
        return Ok(());
    }
    let cap_n = usize::try_from(cap).unwrap_or(usize::MAX);
    let crowded: Vec<SegmentId> = store.meta_call(move |m| m.segments_over_domain_cap(cap_n)).await?;
    if !crowded.is_empty() {
        tracing::info!(segments = crowded.len(), cap, "spreading segments whose shards crowd a failure domain");
    }
    let mut complete = true;
    for segment in crowded {
        match spread_segment(store, stats, segment, limiter).await {
            Ok(true) => {}
            Ok(false) => complete = false,
            Err(e) => {
                complete = false;
                tracing::warn!(segment = %format!("{segment:032x}"), error = %e, "spreading a segment failed; retrying when more domains are usable");
            }
        }
    }
    stats.spread_cap.store(cap, Ordering::Relaxed);
    stats.spread_pending_at.store(if complete { 0 } else { usable.max(1) }, Ordering::Relaxed);
    Ok(())
}

/// Distinct failure domains with a usable disk in service now.
fn usable_domains(store: &Store) -> u64 {
    let disks = store.all_disks();
    crate::store::distinct_domains(disks.iter().filter(|d| d.usable() && !store.out_of_service(d.id())).map(|d| d.failure_domain())) as u64
}

/// Move shards of `segment` out of crowded domains, one at a time, until none is over the cap.
/// `Ok(false)` when some must wait (no free domain now, or the object changed meanwhile).
async fn spread_segment(store: &Arc<Store>, stats: &SpreadStats, segment: SegmentId, limiter: &Limiter) -> ClusterResult<bool> {
    loop {
        let Some((owner, owned)) = store.meta_call(move |m| m.resolve_segment(segment, None)).await? else { return Ok(true) };
        let seg = &owned.segment;
        let cap = store.domain_cap().max(1);
        let domain_of = |d: DiskId| store.disk(d).ok().filter(|x| d != NO_DISK && x.usable()).map(|x| x.failure_domain());
        let domains: Vec<Option<u32>> = seg.shards.iter().map(|l| domain_of(l.disk)).collect();
        let Some(i) = crowding_shard(&domains, cap) else { return Ok(true) };
        let used: Vec<DiskId> = seg.shards.iter().map(|l| l.disk).collect();
        let healthy: Vec<DiskId> = seg.shards.iter().enumerate().filter(|(j, l)| *j != i && domain_of(l.disk).is_some()).map(|(_, l)| l.disk).collect();
        let Some(&target) = store.place_extra(seg.id, &used, &healthy, 1).first() else {
            tracing::debug!(segment = %format!("{segment:032x}"), shard = i, "no free failure domain to spread to yet");
            return Ok(false);
        };
        let index = u8::try_from(i).unwrap_or(u8::MAX);
        match crate::moves::copy_shard(store, &owner, &owned, index, target, limiter).await? {
            Some(_) => {
                stats.shards_spread.fetch_add(1, Ordering::Relaxed);
                tracing::info!(segment = %format!("{segment:032x}"), shard = i, from = seg.shards[i].disk, to = target, "shard moved to a failure domain of its own");
            }
            None => return Ok(false),
        }
    }
}
