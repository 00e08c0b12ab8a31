//! Background repair: bring every segment with a shard on a lost disk (a
//! failed disk, or any disk of a node that is `lost`) back to k+m healthy
//! shards, with nobody's action.
//!
//! Each pass finds the damaged segments through the disk → shards index (no
//! scan of all objects), most-at-risk first (most shards lost). For each, a
//! job rebuilds the lost shards from k healthy ones onto newly placed disks
//! (placement rules hold: distinct nodes and zones first, never a down,
//! lost or failed disk), keeps only rebuilds that hash to the manifest's
//! shard hash, and commits the move with a compare-and-swap on the shard's
//! current disk, so a concurrent overwrite, delete or other move is never
//! undone. The queue is recomputed from the metadata on every pass, so a
//! restarted gateway simply resumes. Concurrency and bandwidth are bounded.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kintsugi_meta::{DiskId, SegmentId, ShardMove, ShardOwner, NO_DISK};
use kintsugi_placement::repair::{plan_rebuild, repair_order, RepairPlan, ShardState};
use serde::Serialize;

use crate::error::ClusterResult;
use crate::limiter::Limiter;
use crate::store::Store;

/// Repair's counters and the last pass's findings (shared with the admin API and `/metrics`).
#[derive(Debug, Default)]
pub struct RepairStats {
    /// Passes run.
    pub passes: AtomicU64,
    /// Segments found damaged by the last pass (its queue).
    pub queued: AtomicU64,
    /// Segments of the last pass done so far.
    pub done_in_pass: AtomicU64,
    /// Shards rebuilt onto new disks and committed.
    pub shards_rebuilt: AtomicU64,
    /// Shard bytes written by repair.
    pub bytes_rebuilt: AtomicU64,
    /// Of the shards rebuilt, those the receiving storage node rebuilt itself.
    pub rebuilt_by_nodes: AtomicU64,
    /// Shard bytes read by repair to rebuild them.
    pub bytes_read: AtomicU64,
    /// Jobs that failed (retried on a later pass).
    pub failed: AtomicU64,
    /// Segments the last pass found with fewer than k healthy shards: cannot be rebuilt now.
    pub unrecoverable: AtomicU64,
    /// Segments the last pass found no disk for (waiting for capacity).
    pub no_target: AtomicU64,
    /// Milliseconds spent rebuilding (for throughput).
    pub busy_ms: AtomicU64,
    /// The spread pass that follows each repair pass.
    pub spread: crate::spread::SpreadStats,
}

impl RepairStats {
    /// Repair's counters and its backlog gauge in Prometheus text format (part of `/metrics`).
    pub fn render_metrics(&self) -> String {
        use crate::metrics::counter;
        use std::fmt::Write;
        let mut s = String::new();
        counter(&mut s, "kintsugi_repair_shards_rebuilt_total", "Shards lost with a disk or node rebuilt onto new disks.", &self.shards_rebuilt);
        counter(&mut s, "kintsugi_repair_bytes_rebuilt_total", "Shard bytes written by background repair.", &self.bytes_rebuilt);
        counter(&mut s, "kintsugi_repair_bytes_read_total", "Shard bytes read by background repair.", &self.bytes_read);
        counter(&mut s, "kintsugi_repair_shards_rebuilt_by_nodes_total", "Shards rebuilt by the storage node that receives them.", &self.rebuilt_by_nodes);
        counter(&mut s, "kintsugi_repair_jobs_failed_total", "Background repair jobs that failed (retried next pass).", &self.failed);
        let _ = writeln!(
            s,
            "# HELP kintsugi_repair_queued Segments with shards on lost disks found by the last repair pass.\n# TYPE kintsugi_repair_queued gauge\nkintsugi_repair_queued {}",
            self.queued.load(Ordering::Relaxed).saturating_sub(self.done_in_pass.load(Ordering::Relaxed))
        );
        s
    }
}

/// Tunables of background repair.
#[derive(Clone, Copy, Debug)]
pub struct RepairConfig {
    /// Segments repaired at once.
    pub concurrency: usize,
    /// Rebuilt shard bytes per second, 0 for no limit.
    pub bandwidth: u64,
    /// Pause between passes.
    pub interval: Duration,
}

impl Default for RepairConfig {
    fn default() -> Self {
        Self { concurrency: 2, bandwidth: 0, interval: Duration::from_secs(5) }
    }
}

/// `GET /kintsugi-admin/v1/repair`: the redundancy ledger and repair progress.
#[derive(Debug, Clone, Serialize)]
pub struct RepairReport {
    /// Every segment survives the loss of any m failure domains: every committed shard is on a
    /// usable disk (none on a down, lost or failed one, none unplaced), no domain holds two shards
    /// of a segment (the ledger's placement counters; with `--recount` also checked by a scan
    /// against the domain cap), and the cluster has at least k+m failure domains.
    pub full_redundancy: bool,
    /// Disks whose shards are being rebuilt elsewhere (failed, or their node lost).
    pub lost_disks: Vec<DiskId>,
    /// Disks that are unreachable but not lost yet (their node is down): no repair until `--lost-after`.
    pub down_disks: Vec<DiskId>,
    /// Committed shards on lost disks (still to rebuild).
    pub shards_on_lost_disks: u64,
    /// Committed shards on down disks.
    pub shards_on_down_disks: u64,
    /// Shards stored nowhere: a PUT made while their failure domain was down could not place
    /// them (or could not write them). Repair rebuilds them as soon as a domain can take them.
    pub shards_not_placed: u64,
    /// Failure domains in service (nodes; disks in the embedded store), lost ones not counted.
    pub failure_domains: usize,
    /// Fewer failure domains than k+m: segments share domains by configuration and survive
    /// fewer than m domain losses, so redundancy is never full.
    pub too_few_domains: bool,
    /// Damaged segments by number of shards missing (on lost or down disks): "1" → count.
    pub segments_by_missing: std::collections::BTreeMap<String, u64>,
    /// Segments in the last pass's queue.
    pub queued: u64,
    /// Of those, done.
    pub done_in_pass: u64,
    /// Shards rebuilt since start.
    pub shards_rebuilt: u64,
    /// Shard bytes rebuilt since start.
    pub bytes_rebuilt: u64,
    /// Shards the receiving storage node rebuilt itself (reading k sources from its peers).
    pub shards_rebuilt_by_nodes: u64,
    /// Shard bytes read to rebuild them (read amplification = bytes_read / bytes_rebuilt).
    pub bytes_read: u64,
    /// Repair throughput while busy, MiB/s of rebuilt shard data.
    pub rebuild_mib_per_s: f64,
    /// Failed jobs since start.
    pub failed: u64,
    /// Segments the last pass could not rebuild (fewer than k healthy shards).
    pub unrecoverable: u64,
    /// Segments the last pass found no disk for (waiting for capacity).
    pub waiting_for_capacity: u64,
    /// Passes run since start.
    pub passes: u64,
    /// Shards moved since start out of a failure domain holding more of their segment than it may.
    pub shards_spread: u64,
    /// The redundancy ledger: segments and bytes by failure-domain losses survived.
    pub ledger: crate::ledger::Ledger,
    /// Seconds until the shards on lost disks are rebuilt at the throughput so far (null when unknown or idle).
    pub eta_s: Option<f64>,
    /// With `?recount=1`: the same table from a full scan, and whether it agrees.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recount: Option<crate::ledger::RecountReport>,
}

/// Build the repair report from the disk → shards index and the ledger; with
/// `recount`, also recount everything by a full scan and compare.
pub async fn repair_report(store: &Arc<Store>, stats: &RepairStats, recount: bool) -> ClusterResult<RepairReport> {
    let disks = store.all_disks();
    let lost: Vec<DiskId> = disks.iter().filter(|d| d.lost()).map(|d| d.id()).collect();
    let down: Vec<DiskId> = disks.iter().filter(|d| !d.lost() && !d.usable()).map(|d| d.id()).collect();
    let dmg = crate::ledger::damage(store).await?;
    let on = |disks: &[DiskId]| disks.iter().map(|d| dmg.shards_on.get(d).copied().unwrap_or(0)).sum::<u64>();
    let (on_lost, on_down, not_placed) = (on(&lost), on(&down), on(&[NO_DISK]));
    let domains = store.domains_in_service();
    let too_few_domains = domains < store.total_shards();
    let by_missing = dmg.by_missing.iter().map(|(n, segs)| (n.to_string(), *segs)).collect();
    let busy = stats.busy_ms.load(Ordering::Relaxed);
    let rebuilt = stats.bytes_rebuilt.load(Ordering::Relaxed);
    let ledger = dmg.ledger;
    let recount = if recount { Some(crate::ledger::recount(store, &ledger).await?) } else { None };
    let rate = if busy == 0 { 0.0 } else { rebuilt as f64 / (busy as f64 / 1000.0) };
    let eta_s = (on_lost + not_placed > 0 && rate > 0.0).then(|| ledger.shard_bytes_missing as f64 / rate);
    let spread = recount.as_ref().is_none_or(|r| r.segments_over_domain_cap == 0);
    Ok(RepairReport {
        full_redundancy: on_lost == 0 && on_down == 0 && not_placed == 0 && !too_few_domains && spread && ledger.full(),
        shards_not_placed: not_placed,
        failure_domains: domains,
        too_few_domains,
        ledger,
        eta_s,
        recount,
        lost_disks: lost,
        down_disks: down,
        shards_on_lost_disks: on_lost,
        shards_on_down_disks: on_down,
        segments_by_missing: by_missing,
        queued: stats.queued.load(Ordering::Relaxed),
        done_in_pass: stats.done_in_pass.load(Ordering::Relaxed),
        shards_rebuilt: stats.shards_rebuilt.load(Ordering::Relaxed),
        bytes_rebuilt: rebuilt,
        shards_rebuilt_by_nodes: stats.rebuilt_by_nodes.load(Ordering::Relaxed),
        bytes_read: stats.bytes_read.load(Ordering::Relaxed),
        rebuild_mib_per_s: if busy == 0 { 0.0 } else { rebuilt as f64 / (1 << 20) as f64 / (busy as f64 / 1000.0) },
        failed: stats.failed.load(Ordering::Relaxed),
        unrecoverable: stats.unrecoverable.load(Ordering::Relaxed),
        waiting_for_capacity: stats.no_target.load(Ordering::Relaxed),
        passes: stats.passes.load(Ordering::Relaxed),
        shards_spread: stats.spread.shards_spread.load(Ordering::Relaxed),
    })
}

/// One pass: queue every segment with a shard on a lost disk, most shards lost first, and repair them.
pub async fn pass(store: &Arc<Store>, stats: &RepairStats, cfg: RepairConfig, limiter: &Limiter) -> ClusterResult<()> {
    // Shards stored nowhere (NO_DISK) are rebuilt like those of a lost disk.
    let lost: Vec<DiskId> = store.all_disks().iter().filter(|d| d.lost()).map(|d| d.id()).chain([NO_DISK]).collect();
    stats.passes.fetch_add(1, Ordering::Relaxed);
    // Per-pass findings start over; the other counters run since start.
    stats.unrecoverable.store(0, Ordering::Relaxed);
    stats.no_target.store(0, Ordering::Relaxed);
    let queue = store
        .meta_call(move |m| {
            let mut jobs: HashMap<SegmentId, (Option<ShardOwner>, usize)> = HashMap::new();
            for disk in &lost {
                m.visit_indexed(*disk, |e| {
                    let j = jobs.entry(e.segment).or_insert((None, 0));
                    j.0 = j.0.take().or(e.owner);
                    j.1 += 1;
                    Ok(())
                })?;
            }
            let mut q: Vec<(SegmentId, Option<ShardOwner>, usize)> = jobs.into_iter().map(|(s, (o, n))| (s, o, n)).collect();
            repair_order(&mut q, |j| (j.2, j.0));
            Ok(q)
        })
        .await?;
    stats.queued.store(queue.len() as u64, Ordering::Relaxed);
    stats.done_in_pass.store(0, Ordering::Relaxed);
    if !queue.is_empty() {
        tracing::info!(segments = queue.len(), "repair pass: segments with shards on lost disks");
    }
    futures::stream::iter(queue)
        .for_each_concurrent(cfg.concurrency.max(1), |(segment, owner, _)| {
            async move {
                match heal_segment(store, stats, segment, owner, limiter).await {
                    Ok(_) => {}
                    Err(e) => {
                        stats.failed.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(segment = %format!("{segment:032x}"), error = %e, "repair of a segment failed; retrying next pass");
                    }
                }
                stats.done_in_pass.fetch_add(1, Ordering::Relaxed);
            }
        })
        .await;
    // Missing shards first; then segments that crowd a failure domain are spread out.
    crate::spread::pass(store, &stats.spread, limiter).await
}

/// Rebuild the shards of one segment that sit on lost (or unknown) disks. Returns shards moved.
async fn heal_segment(store: &Arc<Store>, stats: &RepairStats, segment: SegmentId, owner: Option<ShardOwner>, limiter: &Limiter) -> ClusterResult<usize> {
    let Some((owner, owned)) = store.meta_call(move |m| m.resolve_segment(segment, owner)).await? else { return Ok(0) };
    let seg = owned.segment;
    let coded = store.coded(&owned.coding)?;
    let k = usize::from(coded.layout.scheme.k);
    let state = |disk: DiskId| match store.disk(disk) {
        Err(_) => ShardState::Lost,
        Ok(d) if d.lost() => ShardState::Lost,
        Ok(d) if d.usable() => ShardState::Healthy,
        Ok(_) => ShardState::Unavailable,
    };
    let states: Vec<ShardState> = seg.shards.iter().map(|l| state(l.disk)).collect();
    let missing = match plan_rebuild(&states, k) {
        RepairPlan::Nothing => return Ok(0),
        RepairPlan::Unrecoverable { healthy, k } => {
            stats.unrecoverable.fetch_add(1, Ordering::Relaxed);
            tracing::error!(segment = %format!("{segment:032x}"), healthy, k, "segment has fewer than k reachable shards; cannot rebuild it now");
            return Ok(0);
        }
        RepairPlan::Rebuild(missing) => missing,
    };
    let healthy: Vec<DiskId> = seg.shards.iter().zip(&states).filter(|(_, s)| **s == ShardState::Healthy).map(|(l, _)| l.disk).collect();
    let used: Vec<DiskId> = seg.shards.iter().map(|l| l.disk).collect();
    let targets = store.place_extra(seg.id, &used, &healthy, missing.len());
    if targets.len() < missing.len() {
        stats.no_target.fetch_add(1, Ordering::Relaxed);
        if targets.is_empty() {
            tracing::debug!(segment = %format!("{segment:032x}"), "no usable disk can take a rebuilt shard; waiting for capacity");
            return Ok(0);
        }
    }
    let plan: Vec<(usize, DiskId)> = missing.iter().copied().zip(targets).collect();
    // The header of any healthy shard is the template of the rebuilt ones (they differ in index only).
    let mut template = None;
    for (i, loc) in seg.shards.iter().enumerate() {
        if missing.contains(&i) {
            continue;
        }
        let Ok(d) = store.disk(loc.disk) else { continue };
        if let Ok(h) = d.check(seg.id, i as u8, loc.hash, false).await {
            template = Some(h);
            break;
        }
    }
    let Some(template) = template else {
        return Err(crate::error::ClusterError::Internal("no healthy shard answered; will retry".into()));
    };
    // Bytes of one shard: the chunk lengths of all its stripes (the last one short).
    let shard_bytes: u64 = (0..coded.layout.stripe_count(seg.len))
        .map(|i| coded.layout.stripe(seg.len, i).map_or(0, |g| u64::from(g.chunk_len)))
        .sum();
    limiter.take(shard_bytes * plan.len() as u64).await;
    let started = Instant::now();
    let planned: Vec<ShardMove> = plan.iter().map(|&(i, to)| ShardMove { index: i as u8, from: seg.shards[i].disk, to }).collect();
    let txn = crate::moves::MoveTxn::begin(store, &owner, segment, planned).await?;
    // Rebuilt copies that are not committed (the object changed meanwhile, or a write failed) are garbage.
    let (on_nodes, applied) = txn
        .run(async {
            let r = crate::rebuild::rebuild_spread(store, &coded, &seg, template, &plan).await?;
            stats.bytes_read.fetch_add(r.bytes_read, Ordering::Relaxed);
            Ok((r.on_nodes, r.done))
        })
        .await?;
    stats.shards_rebuilt.fetch_add(applied.len() as u64, Ordering::Relaxed);
    let by_nodes = applied.iter().filter(|m| on_nodes.contains(&(usize::from(m.index), m.to))).count();
    stats.rebuilt_by_nodes.fetch_add(by_nodes as u64, Ordering::Relaxed);
    stats.bytes_rebuilt.fetch_add(shard_bytes * applied.len() as u64, Ordering::Relaxed);
    stats.busy_ms.fetch_add(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
    for m in &applied {
        tracing::info!(segment = %format!("{segment:032x}"), shard = m.index, from = m.from, to = m.to, "repair rebuilt a lost shard");
    }
    Ok(applied.len())
}
