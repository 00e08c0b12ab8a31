//! The background workers of a gateway and their one shape: each is a pass run every
//! interval (repair + spread, drain, scrub, garbage collection, the disk monitor) or a queue
//! served as it fills (read-repair), stopped by one cancel token, its rate held by its own
//! [`Limiter`]. Their state — tunables, counters, the rebalance job — lives here, not in the
//! shared [`Store`]: the admin API and `/metrics` read it through [`Workers`].

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::cancel::CancelToken;
use crate::error::ClusterResult;
use crate::heal::{RepairConfig, RepairStats};
use crate::limiter::Limiter;
use crate::rebalance::Rebalancer;
use crate::scrub::{ScrubConfig, ScrubStats};
use crate::store::{RepairRequest, Store};

/// Tunables of the background workers.
#[derive(Clone, Copy, Debug)]
pub struct WorkerConfig {
    /// Background repair of shards on lost disks (its concurrency and bandwidth also bound drains).
    pub repair: RepairConfig,
    /// Background scrubbing.
    pub scrub: ScrubConfig,
    /// Pause between garbage-collection passes.
    pub gc_interval: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self { repair: RepairConfig::default(), scrub: ScrubConfig::default(), gc_interval: Duration::from_secs(1) }
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
}

impl Workers {
    /// Workers over `store`; none runs until [`Workers::spawn`].
    pub fn new(store: Arc<Store>, config: WorkerConfig) -> Arc<Self> {
        Arc::new(Self { store, config, repair: RepairStats::default(), scrub: ScrubStats::default(), rebalance: Arc::default() })
    }

    /// The store they work on.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Start-up recovery, before any request is served: load the drains (before any PUT can
    /// place a shard), resume a rebalance, and turn every write intent left by a previous
    /// process into garbage (this process owns all writes), then collect garbage once.
    pub async fn recover_at_startup(&self) -> ClusterResult<()> {
        let store = &self.store;
        crate::drain::load_drains(store).await?;
        crate::rebalance::resume(store, &self.rebalance).await?;
        let intents = store.meta_call(|m| m.list_intents()).await?;
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
        s
    }

    /// Spawn the background workers; they stop when `cancel` fires.
    pub fn spawn(self: &Arc<Self>, repair_rx: mpsc::Receiver<RepairRequest>, cancel: CancelToken) {
        let store = self.store.clone();
        tokio::spawn(crate::read_repair::repair_loop(store.clone(), repair_rx, cancel.clone()));
        let WorkerConfig { repair, scrub, gc_interval } = self.config;
        let (w, l) = (self.clone(), Arc::new(Limiter::new(repair.bandwidth)));
        spawn_periodic("repair", repair.interval, cancel.clone(), move || {
            let (w, l) = (w.clone(), l.clone());
            async move { crate::heal::pass(&w.store, &w.repair, repair, &l).await }
        });
        // Drain runs at repair's interval and concurrency, with a bandwidth cap of the same size of its own.
        let (st, l) = (store.clone(), Arc::new(Limiter::new(repair.bandwidth)));
        spawn_periodic("drain", repair.interval, cancel.clone(), move || {
            let (st, l) = (st.clone(), l.clone());
            async move { crate::drain::drain_pass(&st, repair.concurrency, &l).await }
        });
        if !scrub.interval.is_zero() {
            let (w, l) = (self.clone(), Arc::new(Limiter::new(scrub.bandwidth)));
            spawn_periodic("scrub", scrub.interval, cancel.clone(), move || {
                let (w, l) = (w.clone(), l.clone());
                async move { crate::scrub::scrub_pass(&w.store, &w.scrub, None, &l).await.map(|_| ()) }
            });
        }
        let st = store.clone();
        spawn_periodic("garbage collection", gc_interval, cancel.clone(), move || {
            let st = st.clone();
            async move {
                let n = crate::gc::gc_pass(&st).await?;
                if n > 0 {
                    tracing::info!(deleted = n, "garbage collection deleted unreferenced shards");
                }
                Ok(())
            }
        });
        spawn_periodic("disk monitor", Duration::from_secs(2), cancel, move || {
            let st = store.clone();
            async move {
                for d in st.all_disks() {
                    d.probe().await;
                }
                Ok(())
            }
        });
    }
}

/// The one shape of every background worker: wait `interval` (or stop when cancelled), run one
/// pass of `work`, log a failed pass and try again next interval.
fn spawn_periodic<F, Fut>(what: &'static str, interval: Duration, mut cancel: CancelToken, mut work: F)
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ClusterResult<()>> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(interval) => {}
            }
            if let Err(e) = work().await {
                tracing::warn!(worker = what, error = %e, "background pass failed; retrying next interval");
            }
        }
    });
}
