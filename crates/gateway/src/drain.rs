//! Drain (decommission) a disk without downtime: it takes no new shards, and
//! each of its shards is copied — a straight copy, every chunk's BLAKE3
//! verified on read and the result checked against the manifest's shard hash,
//! no decode while the source is healthy — to a newly placed disk, committed
//! with `move_shards` (compare-and-swap on the shard's current disk), and the
//! old copy handed to GC. When no committed shard is left on it, the disk is
//! `decommissioned`. The state lives in the metadata store, so a drain
//! survives restarts; if the draining disk dies, background repair rebuilds
//! what is left from the other shards.

use std::sync::Arc;

use kintsugi_erasure::chunk_hash;
use kintsugi_meta::{now_ms, DiskId, DiskLifecycle, DrainRecord, IndexedShard, SegmentId, ShardMove};
use kintsugi_storage::ShardMsg;
use serde::Serialize;

use crate::error::{GatewayError, GwResult};
use crate::heal::Limiter;
use crate::store::Store;

/// `GET /kintsugi-admin/v1/drain?disk=N`: a drain's progress.
#[derive(Debug, Clone, Serialize)]
pub struct DrainReport {
    /// Disk id.
    pub disk: DiskId,
    /// "in-service", "draining" or "decommissioned".
    pub state: String,
    /// Shards on the disk when the drain started.
    pub shards_at_start: u64,
    /// Committed shards still on it.
    pub shards_remaining: u64,
    /// Seconds since the drain started.
    pub elapsed_s: f64,
    /// Shards moved per second so far.
    pub shards_per_s: f64,
    /// Estimated seconds to go (null when unknown).
    pub eta_s: Option<f64>,
}

/// Load the drain records at start-up (before any PUT can place a shard).
pub async fn load_drains(store: &Arc<Store>) -> GwResult<()> {
    let recs = store.meta_call(|m| m.drains()).await?;
    let mut d = store.drains.write();
    for r in recs {
        d.insert(r.disk, r);
    }
    Ok(())
}

async fn persist(store: &Arc<Store>) -> GwResult<()> {
    let recs: Vec<DrainRecord> = store.drains.read().values().cloned().collect();
    store.meta_call(move |m| m.put_drains(&recs)).await
}

/// Start draining `disk`. Refused when the disks left in service span fewer
/// failure domains than k+m, unless `force`.
pub async fn start_drain(store: &Arc<Store>, disk: DiskId, force: bool) -> GwResult<DrainRecord> {
    let d = store.disk(disk)?;
    if let Some(r) = store.drains.read().get(&disk) {
        return Ok(r.clone());
    }
    let mut domains: Vec<u32> = store
        .all_disks()
        .iter()
        .filter(|o| o.id() != disk && o.usable() && !store.out_of_service(o.id()))
        .map(|o| o.failure_domain())
        .collect();
    domains.sort_unstable();
    domains.dedup();
    let need = store.total_shards();
    if domains.len() < need && !force {
        return Err(GatewayError::DrainRefused { disk, domains: domains.len(), need });
    }
    let shards = store.meta_call(move |m| m.count_indexed(disk)).await?;
    let rec = DrainRecord { disk, state: DiskLifecycle::Draining, started_ms: now_ms(), shards_at_start: shards };
    store.drains.write().insert(disk, rec.clone());
    persist(store).await?;
    tracing::warn!(disk, node = d.info().node, shards, force, "drain started: no new shards go to this disk; its shards move elsewhere");
    Ok(rec)
}

/// Stop draining `disk` (or take a decommissioned disk back): it is in service again.
pub async fn cancel_drain(store: &Arc<Store>, disk: DiskId) -> GwResult<bool> {
    store.disk(disk)?;
    let removed = store.drains.write().remove(&disk).is_some();
    if removed {
        persist(store).await?;
        tracing::warn!(disk, "drain cancelled: the disk takes new shards again");
    }
    Ok(removed)
}

/// Progress of `disk`'s drain.
pub async fn drain_report(store: &Arc<Store>, disk: DiskId) -> GwResult<DrainReport> {
    store.disk(disk)?;
    let rec = store.drains.read().get(&disk).cloned();
    let remaining = store.meta_call(move |m| m.count_indexed(disk)).await?;
    let Some(rec) = rec else {
        return Ok(DrainReport { disk, state: "in-service".into(), shards_at_start: 0, shards_remaining: remaining, elapsed_s: 0.0, shards_per_s: 0.0, eta_s: None });
    };
    let elapsed = (now_ms() - rec.started_ms).max(0) as f64 / 1000.0;
    let moved = rec.shards_at_start.saturating_sub(remaining);
    let rate = if elapsed > 0.0 { moved as f64 / elapsed } else { 0.0 };
    let state = match rec.state {
        DiskLifecycle::Draining => "draining",
        DiskLifecycle::Decommissioned => "decommissioned",
    };
    Ok(DrainReport {
        disk,
        state: state.into(),
        shards_at_start: rec.shards_at_start,
        shards_remaining: remaining,
        elapsed_s: elapsed,
        shards_per_s: rate,
        eta_s: (rate > 0.0).then(|| remaining as f64 / rate),
    })
}

/// One pass over every draining disk: move what is on it; mark it decommissioned when empty.
pub async fn drain_pass(store: &Arc<Store>, limiter: &Limiter) -> GwResult<()> {
    let draining: Vec<DiskId> = store.drains.read().values().filter(|r| r.state == DiskLifecycle::Draining).map(|r| r.disk).collect();
    for disk in draining {
        // A draining disk that died is background repair's: it rebuilds the shards from the others,
        // and the disk is decommissioned below once none is left on it.
        let lost = store.disk(disk).is_ok_and(|d| d.lost());
        let mut after = None;
        while !lost && store.drains.read().contains_key(&disk) {
            let page = store.meta_call(move |m| m.indexed_shards(disk, after, 256)).await?;
            let Some(last) = page.last() else { break };
            after = Some((last.segment, last.index));
            for e in page {
                if !store.drains.read().contains_key(&disk) {
                    return Ok(()); // cancelled meanwhile
                }
                if let Err(err) = move_shard(store, disk, e, limiter).await {
                    tracing::warn!(disk, error = %err, "drain could not move a shard; retrying next pass");
                }
            }
        }
        if store.meta_call(move |m| m.count_indexed(disk)).await? == 0 {
            if let Some(r) = store.drains.write().get_mut(&disk) {
                r.state = DiskLifecycle::Decommissioned;
            }
            persist(store).await?;
            tracing::warn!(disk, "drain finished: the disk holds no committed shard and is decommissioned");
        }
    }
    Ok(())
}

/// Copy one shard off `disk` to a newly placed disk and commit the move.
async fn move_shard(store: &Arc<Store>, disk: DiskId, e: IndexedShard, limiter: &Limiter) -> GwResult<bool> {
    let segment: SegmentId = e.segment;
    let Some((owner, owned)) = store.meta_call(move |m| m.resolve_segment(segment, e.owner)).await? else { return Ok(false) };
    let seg = owned.segment;
    let i = usize::from(e.index);
    let Some(loc) = seg.shards.get(i).cloned() else { return Ok(false) };
    if loc.disk != disk {
        return Ok(false);
    }
    let used: Vec<DiskId> = seg.shards.iter().map(|l| l.disk).collect();
    let healthy: Vec<DiskId> = used.iter().copied().filter(|d| *d != disk && store.disk(*d).is_ok_and(|x| x.usable())).collect();
    let Some(&target) = store.place_extra(seg.id, &used, &healthy, 1).first() else {
        return Err(GatewayError::NotEnoughDisks { healthy: healthy.len(), domains: 0, need: seg.shards.len() });
    };
    let src = store.disk(disk)?;
    let header = src.check(segment, e.index, loc.hash, false).await?;
    let coded = store.coded(&owned.coding)?;
    let chunks = coded.layout.stripe_count(seg.len);
    store.meta_call(move |m| m.add_intent(segment, vec![(e.index, target)])).await?;
    // Straight copy: every chunk is verified where it is read; the copy must hash to the manifest's shard hash.
    let w = store.disk(target)?.write(header);
    let mut rx = src.read(segment, e.index, loc.hash, 0, chunks);
    let mut copied = true;
    let mut bytes = 0u64;
    for _ in 0..chunks {
        match rx.recv().await {
            Some(Ok(chunk)) => {
                bytes += chunk.len() as u64;
                let h = chunk_hash(&chunk);
                if w.tx.send(ShardMsg::Chunk(chunk, h)).await.is_err() {
                    copied = false;
                    break;
                }
            }
            _ => {
                copied = false;
                break;
            }
        }
    }
    limiter.take(bytes).await;
    let moved = if copied && w.tx.send(ShardMsg::Finish(seg.len)).await.is_ok() {
        drop(w.tx);
        matches!(w.done.await, Ok(Ok(h)) if h == loc.hash)
    } else {
        drop(w.tx); // abandons the partial copy
        false
    };
    let moved = if moved {
        true
    } else {
        // The source could not be read whole (or the copy failed): rebuild from the other shards instead.
        tracing::warn!(disk, segment = %format!("{segment:032x}"), shard = e.index, "straight copy failed; rebuilding the shard from the others");
        let r = crate::rebuild::rebuild_onto(store, &coded, &seg, header, &[(i, target)]).await?;
        !r.done.is_empty()
    };
    if !moved {
        store.meta_call(move |m| m.intents_to_garbage(&[segment])).await?;
        return Err(GatewayError::Internal(format!("shard {i} of segment {segment:032x} could not be copied to disk {target}")));
    }
    let mv = [ShardMove { index: e.index, from: disk, to: target }];
    let applied = store.meta_call(move |m| m.move_shards(&owner, segment, &mv)).await?;
    if applied.is_empty() {
        store.meta_call(move |m| m.intents_to_garbage(&[segment])).await?;
        return Ok(false);
    }
    tracing::debug!(disk, to = target, segment = %format!("{segment:032x}"), shard = e.index, "drain moved a shard");
    Ok(true)
}
