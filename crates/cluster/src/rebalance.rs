//! Rebalance: after capacity is added, move shards from fuller disks to
//! emptier ones until every in-service disk holds its share of the committed
//! shard bytes within a stated tolerance. Shares go by capacity, as far as
//! placement allows: a node never holds two shards of a segment, so no node
//! can be given more than 1/(k+m) of the shard bytes (see [`shares`]). Each move is drain's verified straight copy committed
//! with a compare-and-swap, at a bounded bandwidth, and never breaks
//! placement: the target is on a node (failure domain) that holds no other
//! shard of the segment and no zone ends up with more of the segment's shards
//! than the source's zone had. One rebalance runs at a time; it can be
//! cancelled, and it is recorded in the metadata until it ends, so a
//! restarted gateway resumes it (from the usage as it is then).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use kintsugi_meta::{now_ms, DiskId, RebalanceRecord};
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

/// An in-service disk as rebalance sees it.
#[derive(Debug, Clone)]
struct Eligible {
    disk: DiskId,
    /// Failure domain: a node in a cluster, the disk itself in the embedded store.
    domain: u32,
    node: String,
    /// Capacity, or 1 for every disk while some disk's capacity is unknown.
    weight: u64,
}

/// In-service disks with their weights.
fn eligible(store: &Store) -> Vec<Eligible> {
    let mut v: Vec<Eligible> = store
        .all_disks()
        .iter()
        .filter(|d| d.usable() && !store.out_of_service(d.id()))
        .map(|d| {
            let i = d.info();
            Eligible { disk: i.id, domain: d.failure_domain(), node: i.node, weight: i.capacity }
        })
        .collect();
    if v.iter().any(|e| e.weight == 0) {
        for e in &mut v {
            e.weight = 1;
        }
    }
    v
}

/// Shares of every eligible disk given `usage`. A failure domain (a node)
/// holds at most one shard of each segment, so it can hold at most 1/(k+m)
/// of all shard bytes: domain shares are filled by capacity up to that cap
/// (water-filling, the rest going to the other domains), then split among the
/// domain's disks by capacity. These are the shares placement allows, so they
/// can be reached.
fn shares(disks: &[Eligible], usage: &HashMap<DiskId, u64>, width: usize) -> Vec<DiskShare> {
    let total: u64 = disks.iter().map(|e| usage.get(&e.disk).copied().unwrap_or(0)).sum();
    let mut domains: Vec<(u32, f64)> = Vec::new();
    for e in disks {
        match domains.iter_mut().find(|(x, _)| *x == e.domain) {
            Some(d) => d.1 += e.weight as f64,
            None => domains.push((e.domain, e.weight as f64)),
        }
    }
    let cap = total as f64 / width.max(1) as f64;
    let mut share: HashMap<u32, f64> = HashMap::new();
    let mut left = total as f64;
    loop {
        let open: Vec<(u32, f64)> = domains.iter().copied().filter(|(d, _)| !share.contains_key(d)).collect();
        let weight: f64 = open.iter().map(|(_, w)| *w).sum();
        if open.is_empty() || weight <= 0.0 {
            break;
        }
        let over: Vec<u32> = open.iter().filter(|(_, w)| left * w / weight > cap).map(|(d, _)| *d).collect();
        if over.is_empty() {
            for (d, w) in open {
                share.insert(d, left * w / weight);
            }
            break;
        }
        for d in over {
            share.insert(d, cap);
            left -= cap;
        }
    }
    disks
        .iter()
        .map(|e| {
            let bytes = usage.get(&e.disk).copied().unwrap_or(0);
            let domain_w = domains.iter().find(|(d, _)| *d == e.domain).map_or(1.0, |(_, x)| *x);
            let target = share.get(&e.domain).copied().unwrap_or(0.0) * (e.weight as f64) / domain_w.max(1.0);
            let deviation_pct = if target < 1.0 { 0.0 } else { (bytes as f64 - target) / target * 100.0 };
            DiskShare { disk: e.disk, node: e.node.clone(), bytes, target_bytes: target.round() as u64, deviation_pct }
        })
        .collect()
}

fn max_deviation(s: &[DiskShare]) -> f64 {
    s.iter().map(|d| d.deviation_pct.abs()).fold(0.0, f64::max)
}

/// Start a rebalance in the background; refused while one runs. It is recorded in the
/// metadata until it ends, so a restarted gateway resumes it ([`resume`]).
pub async fn start(store: &Arc<Store>, rb: &Arc<Rebalancer>, tolerance_pct: f64, bandwidth: u64) -> ClusterResult<RebalanceReport> {
    let rec = RebalanceRecord { tolerance_pct, bandwidth, started_ms: now_ms() };
    let report = launch(store, rb, tolerance_pct, bandwidth)?;
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
        if let Err(e) = launch(&st, &rb, rec.tolerance_pct, rec.bandwidth) {
            tracing::warn!(error = %e, "could not resume the rebalance");
        }
    });
    Ok(())
}

fn launch(store: &Arc<Store>, rebalancer: &Arc<Rebalancer>, tolerance_pct: f64, bandwidth: u64) -> ClusterResult<RebalanceReport> {
    if !(0.0..=100.0).contains(&tolerance_pct) || tolerance_pct.is_nan() {
        return Err(ClusterError::InvalidArgument(format!("tolerance {tolerance_pct} is not a percentage between 0 and 100")));
    }
    let rb = rebalancer;
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
    let (st, rb) = (store.clone(), rebalancer.clone());
    tokio::spawn(async move {
        let outcome = run(&st, &rb, tolerance_pct, bandwidth).await;
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
    });
    Ok(rebalancer.report())
}

/// A target for shard `index` of `seg` (now on `src`): the emptiest disk relative to its
/// share that takes the shard without breaking placement and improves balance.
fn pick_target(store: &Store, seg: &kintsugi_meta::SegmentMeta, index: usize, src: DiskId, size: u64, sh: &[DiskShare]) -> Option<DiskId> {
    let others: Vec<Arc<dyn kintsugi_storage::ShardStore>> =
        seg.shards.iter().enumerate().filter(|(i, _)| *i != index).filter_map(|(_, l)| store.disk(l.disk).ok()).collect();
    let domains: Vec<u32> = others.iter().map(|d| d.failure_domain()).collect();
    let zone_count = |z: Option<u32>| z.map_or(0, |z| others.iter().filter(|d| d.zone() == Some(z)).count());
    let src_disk = store.disk(src).ok()?;
    let src_zone_load = zone_count(src_disk.zone());
    let src_share = sh.iter().find(|d| d.disk == src)?;
    let mut best: Option<(f64, DiskId)> = None;
    for t in sh {
        if t.disk == src || seg.shards.iter().any(|l| l.disk == t.disk) {
            continue;
        }
        let Ok(td) = store.disk(t.disk) else { continue };
        if domains.contains(&td.failure_domain()) || zone_count(td.zone()) > src_zone_load {
            continue;
        }
        // The move must leave the target still below where the source ends up (relative to shares).
        let after_t = (t.bytes + size) as f64 / t.target_bytes.max(1) as f64;
        let after_s = src_share.bytes.saturating_sub(size) as f64 / src_share.target_bytes.max(1) as f64;
        if after_t > after_s {
            continue;
        }
        let fill = t.bytes as f64 / t.target_bytes.max(1) as f64;
        if best.is_none_or(|(f, _)| fill < f) {
            best = Some((fill, t.disk));
        }
    }
    best.map(|(_, d)| d)
}

async fn run(store: &Arc<Store>, rb: &Rebalancer, tolerance_pct: f64, bandwidth: u64) -> ClusterResult<(&'static str, String)> {
    let limiter = Limiter::new(bandwidth);
    let disks = eligible(store);
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
            r.disks = sh.clone();
            r.max_deviation_pct = maxdev;
        });
        if maxdev <= tolerance_pct {
            return Ok(("balanced", format!("every in-service disk is within {tolerance_pct}% of its share (largest deviation {maxdev:.1}%)")));
        }
        // The fullest disk (relative to its share) that can still give something.
        let Some(src) = sh.iter().filter(|d| d.deviation_pct > 0.0 && !stuck.contains(&d.disk)).max_by(|a, b| a.deviation_pct.total_cmp(&b.deviation_pct)).map(|d| d.disk)
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
                let src_dev = sh.iter().find(|d| d.disk == src).map_or(0.0, |d| d.deviation_pct);
                if src_dev <= 0.0 || max_deviation(&sh) <= tolerance_pct {
                    break 'pages; // this disk gave its part, or all are within tolerance: look again
                }
                let Some(target) = pick_target(store, &owned.segment, i, src, size, &sh) else { continue };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn disks(layout: &[(&str, usize)]) -> Vec<Eligible> {
        let mut out = Vec::new();
        for (n, (node, count)) in layout.iter().enumerate() {
            for _ in 0..*count {
                out.push(Eligible { disk: out.len() as DiskId + 1, domain: n as u32, node: (*node).to_owned(), weight: 100 });
            }
        }
        out
    }

    #[test]
    fn shares_follow_capacity_but_no_node_gets_more_than_one_shard_per_segment() {
        // 7 nodes, n1 and n2 with a second (empty) disk, 4+2: by capacity n1 would get 2/9 of the
        // bytes, but it can hold only 1/6; the rest is spread over the others.
        let d = disks(&[("n1", 2), ("n2", 2), ("n3", 1), ("n4", 1), ("n5", 1), ("n6", 1), ("n7", 1)]);
        let mut used = HashMap::new();
        for e in &d {
            used.insert(e.disk, if e.disk == 2 || e.disk == 4 { 0 } else { 6000 });
        }
        let total = 7 * 6000u64;
        let sh = shares(&d, &used, 6);
        let t = |disk: DiskId| sh.iter().find(|s| s.disk == disk).map(|s| s.target_bytes).unwrap_or(0);
        assert_eq!(t(1) + t(2), total / 6);
        assert_eq!(t(1), t(2));
        assert_eq!(t(5), total * 2 / 15);
        assert_eq!(sh.iter().map(|s| s.target_bytes).sum::<u64>(), total);
        assert!((sh[1].deviation_pct + 100.0).abs() < 1e-9, "the empty disk is 100% under its share");
        assert!(max_deviation(&sh) >= 100.0);
    }

    #[test]
    fn equal_disks_on_enough_nodes_get_equal_shares() {
        let d = disks(&[("a", 1), ("b", 1), ("c", 1), ("d", 1), ("e", 1), ("f", 1), ("g", 1), ("h", 1)]);
        let used: HashMap<DiskId, u64> = d.iter().map(|e| (e.disk, 800)).collect();
        let sh = shares(&d, &used, 6);
        assert!(sh.iter().all(|s| s.target_bytes == 800 && s.deviation_pct == 0.0));
        assert_eq!(max_deviation(&sh), 0.0);
    }

    #[test]
    fn in_the_embedded_store_each_disk_is_its_own_domain() {
        // Six local disks plus two new ones, all on node "local" but each its own failure domain.
        let d: Vec<Eligible> = (1..=8).map(|i| Eligible { disk: i, domain: i, node: "local".into(), weight: 100 }).collect();
        let used: HashMap<DiskId, u64> = d.iter().map(|e| (e.disk, if e.disk > 6 { 0 } else { 8000 })).collect();
        let sh = shares(&d, &used, 6);
        assert!(sh.iter().all(|s| s.target_bytes == 6000), "{sh:?}");
    }
}
