//! The background workers of a gateway, each a [`Worker`] (the one shape: wait for work, do
//! it; one runner keeps its status and stops it): repair + spread, drain, scrub, garbage
//! collection and the disk monitor wait their interval, rebalance waits to be started,
//! read-repair waits for its queue; each holds its rate with its own [`Limiter`]. Their
//! state — tunables, counters, the rebalance job, the runner's status — lives here, not in
//! the shared [`Store`]: the admin API and `/metrics` read it through [`Workers`].

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::cancel::CancelToken;
use crate::error::ClusterResult;
use crate::expire::{LifecycleConfig, LifecycleStats};
use crate::heal::{RepairConfig, RepairStats};
use crate::limiter::Limiter;
use crate::rebalance::Rebalancer;
use crate::scrub::{ScrubConfig, ScrubStats};
use crate::store::{RepairRequest, Store};
use crate::worker::{every, Running, Worker};

/// Tunables of the background workers.
#[derive(Clone, Copy, Debug)]
pub struct WorkerConfig {
    /// Background repair of shards on lost disks (its concurrency and bandwidth also bound drains).
    pub repair: RepairConfig,
    /// Background scrubbing.
    pub scrub: ScrubConfig,
    /// Pause between garbage-collection passes.
    pub gc_interval: Duration,
    /// The lifecycle worker (bucket lifecycle rules).
    pub lifecycle: LifecycleConfig,
    /// The sweep of write intents no gateway will finish.
    pub sweep: crate::sweep::SweepConfig,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self { repair: RepairConfig::default(), scrub: ScrubConfig::default(), gc_interval: Duration::from_secs(1), lifecycle: LifecycleConfig::default(), sweep: crate::sweep::SweepConfig::default() }
    }
}

/// The background workers of one gateway: their tunables, counters and jobs.
#[derive(Debug)]
pub struct Workers {
    store: Arc<Store>,
    /// Tunables.
    pub config: WorkerConfig,
    /// Background repair's counters (and the spread pass's).
    pub repair: RepairStats,
    /// The scrubber's counters.
    pub scrub: ScrubStats,
    /// The rebalance job.
    pub rebalance: Arc<Rebalancer>,
    /// The lifecycle worker's counters.
    pub lifecycle: LifecycleStats,
    /// The runner's status of every spawned worker.
    running: Running,
}

impl Workers {
    /// Workers over `store`; none runs until [`Workers::spawn`].
    pub fn new(store: Arc<Store>, config: WorkerConfig) -> Arc<Self> {
        Arc::new(Self { store, config, repair: RepairStats::default(), scrub: ScrubStats::default(), rebalance: Arc::default(), lifecycle: LifecycleStats::default(), running: Running::default() })
    }

    /// The store they work on.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Start-up recovery, before any request is served: load the drains (before any PUT can
    /// place a shard), resume a rebalance, and — when `alone` (this process owns every
    /// write: the embedded store, a gateway alone in its group) — turn every write intent
    /// left by a previous process into garbage; then collect garbage once. With other
    /// gateways writing, an intent may be theirs: the intent sweep (`sweep.rs`) gives up the
    /// dead ones once every gateway says it does not write them.
    pub async fn recover_at_startup(&self, alone: bool) -> ClusterResult<()> {
        let store = &self.store;
        crate::drain::load_drains(store).await?;
        crate::rebalance::resume(store, &self.rebalance).await?;
        let intents = if alone { store.meta_call(|m| m.list_intents()).await? } else { Vec::new() };
        if !intents.is_empty() {
            let ids: Vec<u128> = intents.iter().map(|(s, _)| *s).collect();
            tracing::info!(count = ids.len(), "collecting shards of writes interrupted by the last shutdown");
            store.meta_call(move |m| m.intents_to_garbage(&ids)).await?;
        }
        crate::gc::gc_pass(store).await?;
        Ok(())
    }

    /// Run an explicit scrub (of one disk, or all) now, at full speed.
    pub async fn scrub_now(&self, only: Option<kintsugi_meta::DiskId>) -> ClusterResult<crate::scrub::ScrubReport> {
        crate::scrub::scrub_pass(&self.store, &self.scrub, only, &Limiter::new(0)).await
    }

    /// The redundancy ledger and repair's progress (with `recount`, checked by a full scan).
    pub async fn repair_report(&self, recount: bool) -> ClusterResult<crate::heal::RepairReport> {
        crate::heal::repair_report(&self.store, &self.repair, recount).await
    }

    /// Start a rebalance (refused while one runs); `bandwidth` `None` takes repair's cap (0: no cap).
    pub async fn start_rebalance(&self, tolerance_pct: f64, bandwidth: Option<u64>) -> ClusterResult<crate::rebalance::RebalanceReport> {
        let bandwidth = bandwidth.unwrap_or(self.config.repair.bandwidth);
        crate::rebalance::start(&self.store, &self.rebalance, tolerance_pct, bandwidth).await
    }

    /// Every worker's figures in Prometheus text format (part of `/metrics`).
    pub async fn render_metrics(&self) -> String {
        let mut s = self.repair.render_metrics();
        s.push_str(&self.scrub.render_metrics());
        s.push_str(&crate::ledger::render_metrics(&self.store).await);
        s.push_str(&crate::drain::render_metrics(&self.store).await);
        s.push_str(&crate::rebalance::render_metrics(&self.rebalance));
        s.push_str(&self.lifecycle.render_metrics());
        s.push_str(&self.running.render_metrics());
        s
    }

    /// What the lifecycle worker has done.
    pub fn lifecycle_report(&self) -> crate::expire::LifecycleReport {
        self.lifecycle.report(&self.config.lifecycle)
    }

    /// Every running worker's status (passes, failed passes, time busy, last error).
    pub fn reports(&self) -> Vec<crate::worker::WorkerReport> {
        self.running.reports()
    }

    /// Spawn the background workers; they stop when `cancel` fires.
    pub fn spawn(self: &Arc<Self>, repair_rx: mpsc::Receiver<RepairRequest>, cancel: CancelToken) {
        let store = self.store.clone();
        let WorkerConfig { repair, scrub, gc_interval, lifecycle: _, sweep } = self.config;
        let leadership = store.leadership.clone();
        let run = |w: Arc<dyn Worker>| self.running.spawn(w, leadership.clone(), cancel.clone());
        run(Arc::new(Repair { w: self.clone(), limiter: Limiter::new(repair.bandwidth) }));
        // Drain runs at repair's interval and concurrency, with a bandwidth cap of the same size of its own.
        run(Arc::new(Drain { store: store.clone(), interval: repair.interval, concurrency: repair.concurrency, limiter: Limiter::new(repair.bandwidth) }));
        if !scrub.interval.is_zero() {
            run(Arc::new(Scrub { w: self.clone(), limiter: Limiter::new(scrub.bandwidth) }));
        }
        run(Arc::new(Rebalance { w: self.clone() }));
        run(Arc::new(Gc { store: store.clone(), interval: gc_interval }));
        run(Arc::new(Sweep { store: store.clone(), config: sweep }));
        run(Arc::new(Lifecycle { w: self.clone() }));
        run(Arc::new(DiskMonitor { store: store.clone(), lost: parking_lot::Mutex::default() }));
        run(Arc::new(ReadRepair { store, rx: tokio::sync::Mutex::new(repair_rx), next: parking_lot::Mutex::new(None) }));
    }
}

/// Background repair of shards on lost disks, then the spread pass (`heal`, `spread`).
struct Repair {
    w: Arc<Workers>,
    limiter: Limiter,
}

#[async_trait::async_trait]
impl Worker for Repair {
    fn name(&self) -> &'static str {
        "repair"
    }
    async fn wait_for_work(&self) {
        // The interval, or as soon as the disk monitor finds a disk lost.
        tokio::select! {
            () = every(self.w.config.repair.interval) => {}
            () = self.w.store.losses.notified() => {}
        }
    }
    async fn work(&self) -> ClusterResult<()> {
        crate::heal::pass(&self.w.store, &self.w.repair, self.w.config.repair, &self.limiter).await
    }
}

/// Moving shards off draining disks (`drain`).
struct Drain {
    store: Arc<Store>,
    interval: Duration,
    concurrency: usize,
    limiter: Limiter,
}

#[async_trait::async_trait]
impl Worker for Drain {
    fn name(&self) -> &'static str {
        "drain"
    }
    async fn wait_for_work(&self) {
        every(self.interval).await;
    }
    async fn work(&self) -> ClusterResult<()> {
        crate::drain::drain_pass(&self.store, self.concurrency, &self.limiter).await
    }
    async fn follow(&self) -> ClusterResult<()> {
        // Placement here must skip the disks the leader drains.
        crate::drain::refresh_drains(&self.store).await
    }
}

/// Verifying every shard against its hash, at a bounded rate (`scrub`).
struct Scrub {
    w: Arc<Workers>,
    limiter: Limiter,
}

#[async_trait::async_trait]
impl Worker for Scrub {
    fn name(&self) -> &'static str {
        "scrub"
    }
    async fn wait_for_work(&self) {
        every(self.w.config.scrub.interval).await;
    }
    async fn work(&self) -> ClusterResult<()> {
        crate::scrub::scrub_pass(&self.w.store, &self.w.scrub, None, &self.limiter).await.map(|_| ())
    }
}

/// The rebalance job: waits until one is started (by an admin, resumed at start-up, or taken
/// up by a new leader from the metadata), then runs it to its end (`rebalance`).
struct Rebalance {
    w: Arc<Workers>,
}

#[async_trait::async_trait]
impl Worker for Rebalance {
    fn name(&self) -> &'static str {
        "rebalance"
    }
    async fn wait_for_work(&self) {
        // Asked, or a look at the metadata now and then: a new leader takes up the rebalance
        // its predecessor left running.
        tokio::select! {
            () = self.w.rebalance.asked() => {}
            () = tokio::time::sleep(REBALANCE_LOOK) => {}
        }
    }
    async fn work(&self) -> ClusterResult<()> {
        crate::rebalance::take_up(&self.w.store, &self.w.rebalance).await?;
        crate::rebalance::run_asked(&self.w.store, &self.w.rebalance).await;
        Ok(())
    }
    async fn follow(&self) -> ClusterResult<()> {
        crate::rebalance::stand_down(&self.w.rebalance);
        Ok(())
    }
}

/// How often the rebalance worker looks for a recorded rebalance it does not run.
const REBALANCE_LOOK: Duration = Duration::from_secs(1);

/// Deleting shards whose garbage delay has passed (`gc`).
struct Gc {
    store: Arc<Store>,
    interval: Duration,
}

#[async_trait::async_trait]
impl Worker for Gc {
    fn name(&self) -> &'static str {
        "garbage collection"
    }
    async fn wait_for_work(&self) {
        every(self.interval).await;
    }
    async fn work(&self) -> ClusterResult<()> {
        let n = crate::gc::gc_pass(&self.store).await?;
        if n > 0 {
            tracing::info!(deleted = n, "garbage collection deleted unreferenced shards");
        }
        Ok(())
    }
}

/// Giving up write intents no gateway will finish (`sweep`).
struct Sweep {
    store: Arc<Store>,
    config: crate::sweep::SweepConfig,
}

#[async_trait::async_trait]
impl Worker for Sweep {
    fn name(&self) -> &'static str {
        "intent sweep"
    }
    async fn wait_for_work(&self) {
        every(self.config.interval).await;
    }
    async fn work(&self) -> ClusterResult<()> {
        crate::sweep::sweep_pass(&self.store, self.config.min_age).await.map(drop)
    }
}

/// Carrying out buckets' lifecycle rules (`expire`).
struct Lifecycle {
    w: Arc<Workers>,
}

#[async_trait::async_trait]
impl Worker for Lifecycle {
    fn name(&self) -> &'static str {
        "lifecycle"
    }
    async fn wait_for_work(&self) {
        every(self.w.config.lifecycle.interval).await;
    }
    async fn work(&self) -> ClusterResult<()> {
        crate::expire::lifecycle_pass(&self.w.store, &self.w.lifecycle, &self.w.config.lifecycle).await
    }
}

/// Probing every disk every 2 s (a failed or vanished disk takes no new shards).
struct DiskMonitor {
    store: Arc<Store>,
    /// The disks lost at the last pass.
    lost: parking_lot::Mutex<std::collections::HashSet<kintsugi_meta::DiskId>>,
}

#[async_trait::async_trait]
impl Worker for DiskMonitor {
    fn name(&self) -> &'static str {
        "disk monitor"
    }
    async fn wait_for_work(&self) {
        every(Duration::from_secs(2)).await;
    }
    async fn work(&self) -> ClusterResult<()> {
        let disks = self.store.all_disks();
        for d in &disks {
            d.probe().await;
        }
        // A disk lost since the last pass (found by this probe, by a failed write, or with its
        // node, which the cluster map found lost) is repair's work now: this is the one place
        // that starts repair before its next interval.
        let lost: std::collections::HashSet<kintsugi_meta::DiskId> = disks.iter().filter(|d| d.lost()).map(|d| d.id()).collect();
        let mut known = self.lost.lock();
        if !lost.is_subset(&known) {
            self.store.losses.notify_one();
        }
        *known = lost;
        Ok(())
    }
    async fn follow(&self) -> ClusterResult<()> {
        // Not leading: forget what was seen, so that leading again reports every lost disk.
        self.lost.lock().clear();
        Ok(())
    }
}

/// Read-repair: segments a GET or a scrub found damaged, served as they are queued.
struct ReadRepair {
    store: Arc<Store>,
    rx: tokio::sync::Mutex<mpsc::Receiver<RepairRequest>>,
    next: parking_lot::Mutex<Option<RepairRequest>>,
}

#[async_trait::async_trait]
impl Worker for ReadRepair {
    fn name(&self) -> &'static str {
        "read-repair"
    }
    async fn wait_for_work(&self) {
        let req = self.rx.lock().await.recv().await;
        match req {
            Some(req) => *self.next.lock() = Some(req),
            None => std::future::pending().await, // every sender is gone: no more work, ever
        }
    }
    async fn work(&self) -> ClusterResult<()> {
        let Some(req) = self.next.lock().take() else { return Ok(()) };
        crate::read_repair::repair_one(&self.store, &req).await
    }
    fn leader_only(&self) -> bool {
        false // the requests come from this gateway's own reads; its moves are compare-and-swaps
    }
}
