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

use kintsugi_meta::{now_ms, DiskId, DiskLifecycle, DrainRecord, IndexedShard, SegmentId};
use serde::Serialize;

use crate::error::{ClusterError, ClusterResult};
use crate::limiter::Limiter;
use crate::store::Store;

/// `GET /kintsugi-admin/v1/drain?disk=N`: a drain's progress.
#[derive(Debug, Clone, Serialize)]
pub struct DrainReport {
    /// Disk id.
    pub disk: DiskId,
    /// Node holding it.
    pub node: String,
    /// "in-service", "draining" or "decommissioned".
    pub state: String,
    /// Shards on the disk when the drain started.
    pub shards_at_start: u64,
    /// Committed shards still on it.
    pub shards_remaining: u64,
    /// Shard bytes on the disk when the drain started.
    pub bytes_at_start: u64,
    /// Shard bytes of the committed shards still on it.
    pub bytes_remaining: u64,
    /// Seconds since the drain started.
    pub elapsed_s: f64,
    /// Shards moved per second so far.
    pub shards_per_s: f64,
    /// Shard data moved per second so far, MiB/s.
    pub mib_per_s: f64,
    /// Estimated seconds to go (null when unknown).
    pub eta_s: Option<f64>,
}

/// `GET /kintsugi-admin/v1/drain?node=NAME`: every disk of a node.
#[derive(Debug, Clone, Serialize)]
pub struct NodeDrainReport {
    /// Node name.
    pub node: String,
    /// "in-service" (no disk draining), "draining" (some disk still draining) or
    /// "decommissioned" (every disk decommissioned).
    pub state: String,
    /// Sums over its disks.
    pub shards_at_start: u64,
    /// Committed shards left on its disks.
    pub shards_remaining: u64,
    /// Shard bytes when the drain started.
    pub bytes_at_start: u64,
    /// Shard bytes left.
    pub bytes_remaining: u64,
    /// Shard data moved per second so far, MiB/s.
    pub mib_per_s: f64,
    /// Estimated seconds to go (null when unknown).
    pub eta_s: Option<f64>,
    /// Each disk.
    pub disks: Vec<DrainReport>,
}

/// Load the drain records at start-up (before any PUT can place a shard).
pub async fn load_drains(store: &Arc<Store>) -> ClusterResult<()> {
    let recs = store.meta_call(|m| m.drains()).await?;
    let mut d = store.drains.write();
    for r in recs {
        d.insert(r.disk, r);
    }
    Ok(())
}

/// Replace the drains in memory with the stored ones (a gateway that is not the leader
/// follows the leader's drains this way).
pub async fn refresh_drains(store: &Arc<Store>) -> ClusterResult<()> {
    let recs = store.meta_call(|m| m.drains()).await?;
    *store.drains.write() = recs.into_iter().map(|r| (r.disk, r)).collect();
    Ok(())
}

async fn persist(store: &Arc<Store>) -> ClusterResult<()> {
    let recs: Vec<DrainRecord> = store.drains.read().values().cloned().collect();
    store.meta_call(move |m| m.put_drains(&recs)).await
}

/// Committed shards on `disk` and their bytes (the ledger's per-disk counter).
pub async fn disk_usage(store: &Arc<Store>, disk: DiskId) -> ClusterResult<(u64, u64)> {
    store.meta_call(move |m| m.disk_usage(disk)).await
}

/// Start draining `disks` (one disk, or every disk of a node: `what` names it
/// in messages). Refused when the disks left in service span fewer failure
/// domains than k+m, unless `force`. Disks already draining keep their record.
pub async fn start_drain(store: &Arc<Store>, what: &str, disks: &[DiskId], force: bool) -> ClusterResult<Vec<DrainRecord>> {
    for d in disks {
        store.disk(*d)?;
    }
    let mut domains: Vec<u32> = store
        .all_disks()
        .iter()
        .filter(|o| !disks.contains(&o.id()) && o.usable() && !store.out_of_service(o.id()))
        .map(|o| o.failure_domain())
        .collect();
    domains.sort_unstable();
    domains.dedup();
    let need = store.total_shards();
    let fresh: Vec<DiskId> = disks.iter().copied().filter(|d| !store.drains.read().contains_key(d)).collect();
    if !fresh.is_empty() && domains.len() < need && !force {
        return Err(ClusterError::DrainRefused { what: what.to_owned(), domains: domains.len(), need });
    }
    for disk in fresh {
        let (shards, bytes) = disk_usage(store, disk).await?;
        let rec = DrainRecord { disk, state: DiskLifecycle::Draining, started_ms: now_ms(), shards_at_start: shards, bytes_at_start: bytes };
        store.drains.write().insert(disk, rec);
        let node = store.disk(disk).map(|d| d.info().node).unwrap_or_default();
        tracing::warn!(disk, node, shards, bytes, force, "drain started: no new shards go to this disk; its shards move elsewhere");
    }
    persist(store).await?;
    let recs = store.drains.read();
    Ok(disks.iter().filter_map(|d| recs.get(d).cloned()).collect())
}

/// Stop draining `disks` (or take decommissioned disks back): they are in service again.
pub async fn cancel_drain(store: &Arc<Store>, disks: &[DiskId]) -> ClusterResult<bool> {
    let mut removed = false;
    for d in disks {
        store.disk(*d)?;
        if store.drains.write().remove(d).is_some() {
            removed = true;
            tracing::warn!(disk = d, "drain cancelled: the disk takes new shards again");
        }
    }
    if removed {
        persist(store).await?;
    }
    Ok(removed)
}

/// Progress of `disk`'s drain.
pub async fn drain_report(store: &Arc<Store>, disk: DiskId) -> ClusterResult<DrainReport> {
    let node = store.disk(disk)?.info().node;
    let rec = store.drains.read().get(&disk).cloned();
    let (remaining, bytes_remaining) = disk_usage(store, disk).await?;
    let Some(rec) = rec else {
        return Ok(DrainReport {
            disk,
            node,
            state: "in-service".into(),
            shards_at_start: 0,
            shards_remaining: remaining,
            bytes_at_start: 0,
            bytes_remaining,
            elapsed_s: 0.0,
            shards_per_s: 0.0,
            mib_per_s: 0.0,
            eta_s: None,
        });
    };
    let elapsed = (now_ms() - rec.started_ms).max(0) as f64 / 1000.0;
    let moved = rec.shards_at_start.saturating_sub(remaining);
    let moved_bytes = rec.bytes_at_start.saturating_sub(bytes_remaining);
    let rate = if elapsed > 0.0 { moved as f64 / elapsed } else { 0.0 };
    let byte_rate = if elapsed > 0.0 { moved_bytes as f64 / elapsed } else { 0.0 };
    let state = match rec.state {
        DiskLifecycle::Draining => "draining",
        DiskLifecycle::Decommissioned => "decommissioned",
    };
    let eta = if remaining == 0 {
        Some(0.0)
    } else if byte_rate > 0.0 && bytes_remaining > 0 {
        Some(bytes_remaining as f64 / byte_rate)
    } else {
        (rate > 0.0).then(|| remaining as f64 / rate)
    };
    Ok(DrainReport {
        disk,
        node,
        state: state.into(),
        shards_at_start: rec.shards_at_start,
        shards_remaining: remaining,
        bytes_at_start: rec.bytes_at_start,
        bytes_remaining,
        elapsed_s: elapsed,
        shards_per_s: rate,
        mib_per_s: byte_rate / f64::from(1u32 << 20),
        eta_s: eta,
    })
}

/// Progress of the drain of every disk of `node`.
pub async fn node_drain_report(store: &Arc<Store>, node: &str) -> ClusterResult<NodeDrainReport> {
    let mut disks = Vec::new();
    for d in store.node_disks(node) {
        disks.push(drain_report(store, d).await?);
    }
    let state = if disks.iter().any(|d| d.state == "draining") {
        "draining"
    } else if !disks.is_empty() && disks.iter().all(|d| d.state == "decommissioned") {
        "decommissioned"
    } else {
        "in-service"
    };
    let sum = |f: fn(&DrainReport) -> u64| disks.iter().map(f).sum::<u64>();
    let mib_per_s: f64 = disks.iter().map(|d| d.mib_per_s).sum();
    let bytes_remaining = sum(|d| d.bytes_remaining);
    let eta = if state != "draining" {
        None
    } else {
        disks.iter().filter(|d| d.state == "draining").map(|d| d.eta_s).try_fold(0.0f64, |acc, e| e.map(|e| acc.max(e)))
    };
    Ok(NodeDrainReport {
        node: node.to_owned(),
        state: state.into(),
        shards_at_start: sum(|d| d.shards_at_start),
        shards_remaining: sum(|d| d.shards_remaining),
        bytes_at_start: sum(|d| d.bytes_at_start),
        bytes_remaining,
        mib_per_s,
        eta_s: eta,
        disks,
    })
}

/// One pass over every draining disk: move what is on it; mark it decommissioned when empty.
pub async fn drain_pass(store: &Arc<Store>, concurrency: usize, limiter: &Limiter) -> ClusterResult<()> {
    use futures::StreamExt;
    let draining: Vec<DiskId> = store.drains.read().values().filter(|r| r.state == DiskLifecycle::Draining).map(|r| r.disk).collect();
    let concurrency = concurrency.max(1);
    for disk in draining {
        // A draining disk that died (or whose node is lost) is background repair's: it rebuilds the
        // shards from the others, and the disk is decommissioned below once none is left on it.
        // One whose node is only down waits for it to come back or be declared lost.
        let readable = store.disk(disk).is_ok_and(|d| d.usable());
        let mut after = None;
        while readable && store.drains.read().contains_key(&disk) {
            let page = store.meta_call(move |m| m.indexed_shards(disk, after, 256)).await?;
            let Some(last) = page.last() else { break };
            after = Some((last.segment, last.index));
            futures::stream::iter(page)
                .for_each_concurrent(concurrency, |e| async move {
                    if !store.drains.read().contains_key(&disk) {
                        return; // cancelled meanwhile
                    }
                    if let Err(err) = move_shard(store, disk, e, limiter).await {
                        tracing::warn!(disk, error = %err, "drain could not move a shard; retrying next pass");
                    }
                })
                .await;
        }
        if store.meta_call(move |m| m.count_indexed(disk)).await? == 0 {
            let finished = match store.drains.write().get_mut(&disk) {
                Some(r) if r.state == DiskLifecycle::Draining => {
                    r.state = DiskLifecycle::Decommissioned;
                    true
                }
                _ => false, // cancelled meanwhile
            };
            if finished {
                persist(store).await?;
                tracing::warn!(disk, "drain finished: the disk holds no committed shard and is decommissioned");
            }
        }
    }
    Ok(())
}

/// Copy one shard off `disk` to a newly placed disk and commit the move.
async fn move_shard(store: &Arc<Store>, disk: DiskId, e: IndexedShard, limiter: &Limiter) -> ClusterResult<bool> {
    let segment: SegmentId = e.segment;
    let Some((owner, owned)) = store.meta_call(move |m| m.resolve_segment(segment, e.owner)).await? else { return Ok(false) };
    let seg = &owned.segment;
    let Some(loc) = seg.shards.get(usize::from(e.index)) else { return Ok(false) };
    if loc.disk != disk {
        return Ok(false);
    }
    let used: Vec<DiskId> = seg.shards.iter().map(|l| l.disk).collect();
    let healthy: Vec<DiskId> = used.iter().copied().filter(|d| *d != disk && store.disk(*d).is_ok_and(|x| x.usable())).collect();
    let Some(&target) = store.place_extra(seg.id, &used, &healthy, 1).first() else {
        return Err(ClusterError::NotEnoughDisks { healthy: healthy.len(), domains: 0, need: seg.shards.len() });
    };
    Ok(crate::moves::copy_shard(store, &owner, &owned, e.index, target, limiter).await?.is_some())
}

/// Drain figures in Prometheus text format (appended to `/metrics`).
pub async fn render_metrics(store: &Arc<Store>) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let disks: Vec<DiskId> = {
        let mut v: Vec<DiskId> = store.drains.read().keys().copied().collect();
        v.sort_unstable();
        v
    };
    let mut rows = Vec::new();
    for d in disks {
        if let Ok(r) = drain_report(store, d).await {
            rows.push(r);
        }
    }
    let gauge = |s: &mut String, name: &str, help: &str, f: &dyn Fn(&DrainReport) -> String| {
        let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} gauge");
        for r in &rows {
            let _ = writeln!(s, "{name}{{disk=\"{}\",node=\"{}\"}} {}", r.disk, r.node, f(r));
        }
    };
    gauge(&mut s, "kintsugi_drain_decommissioned", "1 when the disk is decommissioned (empty), 0 while it drains.", &|r| u8::from(r.state == "decommissioned").to_string());
    gauge(&mut s, "kintsugi_drain_shards_remaining", "Committed shards still on a draining disk.", &|r| r.shards_remaining.to_string());
    gauge(&mut s, "kintsugi_drain_bytes_remaining", "Shard bytes still on a draining disk.", &|r| r.bytes_remaining.to_string());
    gauge(&mut s, "kintsugi_drain_bytes_moved", "Shard bytes moved off a draining disk since its drain started.", &|r| r.bytes_at_start.saturating_sub(r.bytes_remaining).to_string());
    s
}
