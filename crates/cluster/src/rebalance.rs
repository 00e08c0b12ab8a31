//! Rebalance: after capacity is added, move shards from fuller disks to
//! emptier ones until every in-service disk holds its share of the committed
//! shard bytes within a stated tolerance. Shares go by capacity, as far as
//! placement allows: a node never holds two shards of a segment, so no node
//! can be given more than 1/(k+m) of the shard bytes. The planning (shares,
//! the choice of target) is pure code in `kintsugi_placement::balance`; this
//! worker gathers usage and runs the moves. Each move is drain's verified straight copy committed
//! with a compare-and-swap, at a bounded bandwidth, and never breaks
//! placement: the target is on a node (failure domain) that holds no other
//! shard of the segment (fewer than the domain cap, when the cluster has
//! fewer nodes than k+m) and no zone ends up with more of the segment's shards
//! than the source's zone had. One rebalance runs at a time; it can be
//! cancelled, and it is recorded in the metadata until it ends, so a
//! restarted gateway resumes it (from the usage as it is then).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use kintsugi_meta::{now_ms, DiskId, RebalanceRecord};
use kintsugi_placement::balance::{max_deviation, pick_target, shares, Holder, Share, Weighted};
use serde::Serialize;

use crate::error::{ClusterError, ClusterResult};
use crate::limiter::Limiter;
use crate::store::Store;

/// Default tolerance: every disk within ±10 % of its share.
pub const DEFAULT_TOLERANCE_PCT: f64 = 10.0;

/// One disk in the rebalance report.
#[derive(Debug, Clone, Serialize)]
pub struct DiskShare {
    /// Disk id.
    pub disk: DiskId,
    /// Node.
    pub node: String,
    /// Committed shard bytes on it now.
    pub bytes: u64,
    /// Its share of all committed shard bytes (by capacity).
    pub target_bytes: u64,
    /// (bytes − target) / target, in percent.
    pub deviation_pct: f64,
}

/// `GET /kintsugi-admin/v1/rebalance`.
#[derive(Debug, Clone, Serialize, Default)]
pub struct RebalanceReport {
    /// "idle" (never ran), "running", "balanced", "stuck" (no move improves balance), "cancelled" or "failed".
    pub state: String,
    /// The tolerance asked for, percent of each disk's share.
    pub tolerance_pct: f64,
    /// Bandwidth cap, MiB/s (0: none).
    pub bandwidth_mib_s: f64,
    /// Shards moved.
    pub shards_moved: u64,
    /// Shard bytes moved.
    pub bytes_moved: u64,
    /// Seconds since start (to the end once finished).
    pub elapsed_s: f64,
    /// Shard data moved per second, MiB/s.
    pub mib_per_s: f64,
    /// Largest |deviation| among in-service disks, percent (as last computed).
    pub max_deviation_pct: f64,
    /// In-service disks and their shares (as last computed).
    pub disks: Vec<DiskShare>,
    /// What happened, in words.
    pub message: String,
}

/// The one rebalance job of a gateway.
#[derive(Debug, Default)]
pub struct Rebalancer {
    report: parking_lot::Mutex<RebalanceReport>,
    running: AtomicBool,
    cancel: AtomicBool,
    started_ms: parking_lot::Mutex<i64>,
    /// The tolerance and bandwidth of a rebalance started but not yet taken up by the worker.
    asked: parking_lot::Mutex<Option<(f64, u64)>>,
    wake: tokio::sync::Notify,
}

impl Rebalancer {
    /// Progress now.
    pub fn report(&self) -> RebalanceReport {
        let mut r = self.report.lock().clone();
        if r.state.is_empty() {
            r.state = "idle".into();
        }
        r
    }

    /// Ask a running rebalance to stop after the shard it is moving.
    pub fn cancel(&self) -> bool {
        let running = self.running.load(Ordering::SeqCst);
        if running {
            self.cancel.store(true, Ordering::SeqCst);
        }
        running
    }

    /// Resolves once a rebalance has been started (the rebalance worker's wait).
    pub(crate) async fn asked(&self) {
        self.wake.notified().await;
    }

    fn update(&self, f: impl FnOnce(&mut RebalanceReport)) {
        let started = *self.started_ms.lock();
        let mut r = self.report.lock();
        f(&mut r);
        r.elapsed_s = (now_ms() - started).max(0) as f64 / 1000.0;
        r.mib_per_s = if r.elapsed_s > 0.0 { r.bytes_moved as f64 / r.elapsed_s / f64::from(1u32 << 20) } else { 0.0 };
    }
}

/// Rebalance figures in Prometheus text format (appended to `/metrics`).
pub fn render_metrics(rebalancer: &Rebalancer) -> String {
    use std::fmt::Write;
    let rb = rebalancer.report();
    let mut s = String::new();
    let _ = writeln!(s, "# HELP kintsugi_rebalance_running 1 while a rebalance runs.\n# TYPE kintsugi_rebalance_running gauge\nkintsugi_rebalance_running {}", u8::from(rb.state == "running"));
    let _ = writeln!(s, "# HELP kintsugi_rebalance_bytes_moved Shard bytes moved by the current or last rebalance.\n# TYPE kintsugi_rebalance_bytes_moved gauge\nkintsugi_rebalance_bytes_moved {}", rb.bytes_moved);
    let _ = writeln!(s, "# HELP kintsugi_rebalance_max_deviation_pct Largest deviation of a disk from its share, as last computed by rebalance.\n# TYPE kintsugi_rebalance_max_deviation_pct gauge\nkintsugi_rebalance_max_deviation_pct {:.2}", rb.max_deviation_pct);
    s
}

/// Committed shard bytes per disk, from the ledger's per-disk counters.
async fn usage(store: &Arc<Store>) -> ClusterResult<HashMap<DiskId, u64>> {
    store.meta_call(|m| Ok(m.disk_usages()?.into_iter().map(|(d, (_, bytes))| (d, bytes)).collect())).await
}

/// In-service disks with their failure domains, zones and capacities, and their node names.
fn eligible(store: &Store) -> (Vec<Weighted>, HashMap<DiskId, String>) {
    let mut names = HashMap::new();
    let disks = store
        .all_disks()
        .iter()
        .filter(|d| d.usable() && !store.out_of_service(d.id()))
        .map(|d| {
            let i = d.info();
            names.insert(i.id, i.node);
            Weighted { disk: i.id, domain: d.failure_domain(), zone: d.zone(), weight: i.capacity }
        })
        .collect();
    (disks, names)
}

/// The report's view of the shares.
fn report_shares(sh: &[Share], names: &HashMap<DiskId, String>) -> Vec<DiskShare> {
    sh.iter()
        .map(|s| DiskShare {
            disk: s.disk.disk,
            node: names.get(&s.disk.disk).cloned().unwrap_or_default(),
            bytes: s.bytes,
            target_bytes: s.target_bytes,
            deviation_pct: s.deviation_pct,
        })
        .collect()
}

/// Start a rebalance in the background; refused while one runs. It is recorded in the
/// metadata until it ends, so a restarted gateway resumes it ([`resume`]).
pub async fn start(store: &Arc<Store>, rb: &Arc<Rebalancer>, tolerance_pct: f64, bandwidth: u64) -> ClusterResult<RebalanceReport> {
    let rec = RebalanceRecord { tolerance_pct, bandwidth, started_ms: now_ms() };
    let report = launch(rb, tolerance_pct, bandwidth)?;
    store.meta_call(move |m| m.put_rebalance_record(Some(&rec))).await?;
    Ok(report)
}

/// Resume a rebalance a previous gateway process left running, once the disks have reported
/// (their capacities decide the shares).
pub async fn resume(store: &Arc<Store>, rb: &Arc<Rebalancer>) -> ClusterResult<()> {
    let Some(rec) = store.meta_call(|m| m.rebalance_record()).await? else { return Ok(()) };
    let (st, rb) = (store.clone(), rb.clone());
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        while tokio::time::Instant::now() < deadline && st.all_disks().iter().any(|d| !d.usable() || d.info().capacity == 0) {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        tracing::warn!(tolerance_pct = rec.tolerance_pct, "resuming the rebalance the last gateway process was running");
        if let Err(e) = launch(&rb, rec.tolerance_pct, rec.bandwidth) {
            tracing::warn!(error = %e, "could not resume the rebalance");
        }
    });
    Ok(())
}

/// On the leader: take up the rebalance the metadata records when this gateway runs none —
/// one a previous leader (or process) started and did not finish.
pub(crate) async fn take_up(store: &Arc<Store>, rb: &Rebalancer) -> ClusterResult<()> {
    if rb.running.load(Ordering::SeqCst) {
        return Ok(());
    }
    let Some(rec) = store.meta_call(|m| m.rebalance_record()).await? else { return Ok(()) };
    if store.all_disks().iter().any(|d| d.usable() && d.info().capacity == 0) {
        return Ok(()); // a disk has not reported its capacity yet (it decides the shares): next look
    }
    tracing::warn!(tolerance_pct = rec.tolerance_pct, "taking up the rebalance recorded in the metadata (started by an earlier leader or process)");
    launch(rb, rec.tolerance_pct, rec.bandwidth).map(drop)
}

/// On a gateway that is not the leader: forget a rebalance handed to this one's worker (at
/// start-up); the leader runs it.
pub(crate) fn stand_down(rb: &Rebalancer) {
    if rb.asked.lock().take().is_some() {
        rb.running.store(false, Ordering::SeqCst);
        rb.update(|r| {
            r.state = "idle".into();
            r.message = "the leader of the metadata group runs it".into();
        });
    }
}

/// Mark a rebalance running and hand it to the rebalance worker (refused while one runs).
fn launch(rb: &Rebalancer, tolerance_pct: f64, bandwidth: u64) -> ClusterResult<RebalanceReport> {
    if !(0.0..=100.0).contains(&tolerance_pct) || tolerance_pct.is_nan() {
        return Err(ClusterError::InvalidArgument(format!("tolerance {tolerance_pct} is not a percentage between 0 and 100")));
    }
    if rb.running.swap(true, Ordering::SeqCst) {
        return Err(ClusterError::Refused("a rebalance is already running; see `kintsugi admin rebalance --status`, or stop it with --cancel".into()));
    }
    rb.cancel.store(false, Ordering::SeqCst);
    *rb.started_ms.lock() = now_ms();
    *rb.report.lock() = RebalanceReport {
        state: "running".into(),
        tolerance_pct,
        bandwidth_mib_s: bandwidth as f64 / f64::from(1u32 << 20),
        message: "computing disk usage".into(),
        ..RebalanceReport::default()
    };
    *rb.asked.lock() = Some((tolerance_pct, bandwidth));
    rb.wake.notify_one();
    Ok(rb.report())
}

/// Run the rebalance that was started, to its end (the rebalance worker's pass); nothing when
/// none was.
pub(crate) async fn run_asked(st: &Arc<Store>, rb: &Rebalancer) {
    let Some((tolerance_pct, bandwidth)) = rb.asked.lock().take() else { return };
    let outcome = run(st, rb, tolerance_pct, bandwidth).await;
    rb.update(|r| match outcome {
        Ok((state, msg)) => {
            r.state = state.into();
            r.message = msg;
        }
        Err(e) => {
            r.state = "failed".into();
            r.message = format!("{e}; run `kintsugi admin rebalance` again");
        }
    });
    let r = rb.report();
    tracing::warn!(state = r.state, shards = r.shards_moved, bytes = r.bytes_moved, max_deviation_pct = r.max_deviation_pct, "rebalance ended: {}", r.message);
    if let Err(e) = st.meta_call(|m| m.put_rebalance_record(None)).await {
        tracing::warn!(error = %e, "could not clear the rebalance record; a restarted gateway will run it again");
    }
    rb.running.store(false, Ordering::SeqCst);
}

/// A target for shard `index` of `seg` (now on `src`): see [`pick_target`].
fn target_for(store: &Store, seg: &kintsugi_meta::SegmentMeta, index: usize, src: DiskId, size: u64, sh: &[Share]) -> Option<DiskId> {
    let others: Vec<Holder> = seg
        .shards
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != index)
        .map(|(_, l)| {
            let d = store.disk(l.disk).ok();
            Holder { disk: l.disk, domain: d.as_ref().map(|d| d.failure_domain()), zone: d.and_then(|d| d.zone()) }
        })
        .collect();
    // Never onto a disk at its reserve, or one that just ran out of space: those are no
    // candidates (the source stays, it is what the shares are measured from).
    let takes = |d: DiskId| store.disk(d).is_ok_and(|x| store.space.takes_shards(&x.info()));
    let candidates: Vec<Share> = sh.iter().filter(|x| x.disk.disk == src || takes(x.disk.disk)).copied().collect();
    pick_target(&candidates, src, size, &others, store.domain_cap().max(1))
}

async fn run(store: &Arc<Store>, rb: &Rebalancer, tolerance_pct: f64, bandwidth: u64) -> ClusterResult<(&'static str, String)> {
    let limiter = Limiter::new(bandwidth);
    let (disks, names) = eligible(store);
    if disks.len() < 2 {
        return Ok(("balanced", "fewer than two disks in service: nothing to even out".into()));
    }
    let mut used = usage(store).await?;
    let width = store.total_shards();
    let mut stuck: Vec<DiskId> = Vec::new();
    loop {
        let sh = shares(&disks, &used, width);
        let maxdev = max_deviation(&sh);
        rb.update(|r| {
            r.disks = report_shares(&sh, &names);
            r.max_deviation_pct = maxdev;
        });
        if maxdev <= tolerance_pct {
            return Ok(("balanced", format!("every in-service disk is within {tolerance_pct}% of its share (largest deviation {maxdev:.1}%)")));
        }
        // The fullest disk (relative to its share) that can still give something.
        let Some(src) = sh.iter().filter(|d| d.deviation_pct > 0.0 && !stuck.contains(&d.disk.disk)).max_by(|a, b| a.deviation_pct.total_cmp(&b.deviation_pct)).map(|d| d.disk.disk)
        else {
            return Ok(("stuck", format!("no move improves balance further within placement rules (largest deviation {maxdev:.1}%, asked {tolerance_pct}%)")));
        };
        rb.update(|r| r.message = format!("moving shards off disk {src}"));
        let mut after = None;
        let mut moved_any = false;
        'pages: loop {
            let page = store.meta_call(move |m| m.indexed_shards(src, after, 256)).await?;
            let Some(last) = page.last() else { break };
            after = Some((last.segment, last.index));
            for e in page {
                if rb.cancel.load(Ordering::SeqCst) {
                    return Ok(("cancelled", "cancelled by an admin; disks keep the shards moved so far".into()));
                }
                let segment = e.segment;
                let Some((owner, owned)) = store.meta_call(move |m| m.resolve_segment(segment, e.owner)).await? else { continue };
                let i = usize::from(e.index);
                if owned.segment.shards.get(i).map(|l| l.disk) != Some(src) {
                    continue;
                }
                let size = kintsugi_meta::shard_bytes(&owned.coding, owned.segment.len);
                if size == 0 {
                    continue; // moving an empty shard evens out nothing
                }
                let sh = shares(&disks, &used, width);
                let src_dev = sh.iter().find(|d| d.disk.disk == src).map_or(0.0, |d| d.deviation_pct);
                if src_dev <= 0.0 || max_deviation(&sh) <= tolerance_pct {
                    break 'pages; // this disk gave its part, or all are within tolerance: look again
                }
                let Some(target) = target_for(store, &owned.segment, i, src, size, &sh) else { continue };
                match crate::moves::copy_shard(store, &owner, &owned, e.index, target, &limiter).await {
                    Ok(Some(bytes)) => {
                        *used.entry(src).or_default() = used.get(&src).copied().unwrap_or(0).saturating_sub(size);
                        *used.entry(target).or_default() += size;
                        moved_any = true;
                        rb.update(|r| {
                            r.shards_moved += 1;
                            r.bytes_moved += bytes;
                        });
                    }
                    Ok(None) => {}
                    Err(err) => tracing::warn!(disk = src, to = target, error = %err, "rebalance could not move a shard; skipping it"),
                }
            }
        }
        // Every move lowers the spread of fills strictly (the target ends no fuller than the
        // source), so this ends; a disk that could give nothing is skipped until something moved.
        if moved_any {
            stuck.clear();
        } else {
            stuck.push(src);
        }
    }
}
