//! The one shape of a background worker: it waits for work, does it, and one runner keeps
//! its status (passes, failed passes, time busy, the last error) and stops it on shutdown.
//! Repair (with spreading), drain, scrub, rebalance, garbage collection, the disk monitor and
//! read-repair are all [`Worker`]s; `Workers::spawn` starts them. A worker's own counters
//! (shards rebuilt, bytes scrubbed …) stay with it; its rate is held by its own `Limiter`.

use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::cancel::CancelToken;
use crate::error::ClusterResult;

/// A background worker.
#[async_trait::async_trait]
pub trait Worker: Send + Sync + 'static {
    /// Its name, in logs, `/metrics` (`worker="…"`) and the admin status.
    fn name(&self) -> &'static str;

    /// Return when there may be work: after the worker's interval, when asked (a rebalance
    /// started), or when work arrives (a read-repair request).
    async fn wait_for_work(&self);

    /// Do the work there is now. A failed pass is logged, counted and tried again after the
    /// next wait; it must leave the metadata consistent (every worker's moves are
    /// compare-and-swaps whose leftovers become garbage).
    async fn work(&self) -> ClusterResult<()>;

    /// Whether only the leader of a gateway group runs it (most background work must run
    /// once per cluster). A worker that serves this gateway's own requests says false.
    fn leader_only(&self) -> bool {
        true
    }

    /// What a gateway that is not the leader does instead of [`Worker::work`]: keep its
    /// view of the replicated state the worker changes fresh. Nothing by default.
    async fn follow(&self) -> ClusterResult<()> {
        Ok(())
    }
}

/// What the runner knows of one worker.
#[derive(Debug, Default)]
pub struct WorkerStatus {
    passes: AtomicU64,
    failed: AtomicU64,
    busy_ms: AtomicU64,
    working: AtomicBool,
    last_error: parking_lot::Mutex<Option<String>>,
}

/// One worker's status, as `admin status --json` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerReport {
    /// The worker.
    pub name: &'static str,
    /// Passes run since start.
    pub passes: u64,
    /// Of those, passes that failed.
    pub failed_passes: u64,
    /// Seconds spent working since start.
    pub busy_s: f64,
    /// True while a pass runs.
    pub working: bool,
    /// The error of the last pass, empty when it succeeded.
    pub last_error: String,
}

impl WorkerStatus {
    fn report(&self, name: &'static str) -> WorkerReport {
        WorkerReport {
            name,
            passes: self.passes.load(Ordering::Relaxed),
            failed_passes: self.failed.load(Ordering::Relaxed),
            busy_s: self.busy_ms.load(Ordering::Relaxed) as f64 / 1000.0,
            working: self.working.load(Ordering::Relaxed),
            last_error: self.last_error.lock().clone().unwrap_or_default(),
        }
    }
}

/// The workers a gateway runs, by name, with their status.
#[derive(Debug, Default)]
pub struct Running(parking_lot::Mutex<Vec<(&'static str, Arc<WorkerStatus>)>>);

impl Running {
    /// Start `worker`: until `cancel` fires, wait for work, then do it — or, for a
    /// leader-only worker while `leadership` says this gateway does not lead, follow.
    /// Cancellation is seen while waiting; a pass that has begun runs to its end (or to the
    /// process's end). A new leader's workers pick the work up from the replicated state.
    pub fn spawn(&self, worker: Arc<dyn Worker>, leadership: crate::store::Leadership, mut cancel: CancelToken) {
        let status = Arc::new(WorkerStatus::default());
        self.0.lock().push((worker.name(), status.clone()));
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    () = worker.wait_for_work() => {}
                }
                if worker.leader_only() && !leadership.is_leader() {
                    if let Err(e) = worker.follow().await {
                        tracing::debug!(worker = worker.name(), error = %e, "following the leader's work failed");
                    }
                    continue;
                }
                status.working.store(true, Ordering::Relaxed);
                let started = Instant::now();
                let outcome = worker.work().await;
                status.busy_ms.fetch_add(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
                status.passes.fetch_add(1, Ordering::Relaxed);
                status.working.store(false, Ordering::Relaxed);
                match outcome {
                    Ok(()) => *status.last_error.lock() = None,
                    Err(e) => {
                        status.failed.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(worker = worker.name(), error = %e, "background pass failed; retrying after the next wait");
                        *status.last_error.lock() = Some(e.to_string());
                    }
                }
            }
        });
    }

    /// Every running worker's status, in the order they were started.
    pub fn reports(&self) -> Vec<WorkerReport> {
        self.0.lock().iter().map(|(name, s)| s.report(name)).collect()
    }

    /// The runner's figures of every worker in Prometheus text format.
    pub fn render_metrics(&self) -> String {
        let reports = self.reports();
        let mut s = String::new();
        let mut family = |name: &str, kind: &str, help: &str, value: &dyn Fn(&WorkerReport) -> String| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for r in &reports {
                let _ = writeln!(s, "{name}{{worker=\"{}\"}} {}", r.name, value(r));
            }
        };
        family("kintsugi_worker_passes_total", "counter", "Passes a background worker has run.", &|r| r.passes.to_string());
        family("kintsugi_worker_failed_passes_total", "counter", "Passes of a background worker that failed (retried).", &|r| r.failed_passes.to_string());
        family("kintsugi_worker_busy_seconds_total", "counter", "Seconds a background worker has spent working.", &|r| format!("{:.3}", r.busy_s));
        family("kintsugi_worker_working", "gauge", "1 while a background worker's pass runs.", &|r| u8::from(r.working).to_string());
        s
    }
}

/// Wait one `interval` (the wait of every periodic worker).
pub async fn every(interval: Duration) {
    tokio::time::sleep(interval).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ClusterError;

    /// A worker that fails its first pass and counts the others.
    struct Flaky {
        passes: AtomicU64,
    }

    #[async_trait::async_trait]
    impl Worker for Flaky {
        fn name(&self) -> &'static str {
            "flaky"
        }
        async fn wait_for_work(&self) {
            every(Duration::from_millis(10)).await;
        }
        async fn work(&self) -> ClusterResult<()> {
            if self.passes.fetch_add(1, Ordering::SeqCst) == 0 {
                return Err(ClusterError::Internal("the first pass fails".into()));
            }
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_runner_retries_a_failed_pass_keeps_status_and_stops_on_cancel() {
        let running = Running::default();
        let (source, token) = crate::cancel::cancel_pair();
        let w = Arc::new(Flaky { passes: AtomicU64::new(0) });
        running.spawn(w.clone(), crate::store::Leadership::default(), token);
        tokio::time::sleep(Duration::from_millis(15)).await;
        let r = &running.reports()[0];
        assert_eq!((r.name, r.passes, r.failed_passes), ("flaky", 1, 1));
        assert_eq!(r.last_error, "internal error: the first pass fails", "{r:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
        let r = &running.reports()[0];
        assert!(r.passes >= 5 && r.failed_passes == 1 && r.last_error.is_empty(), "{r:?}");
        assert!(running.render_metrics().contains("kintsugi_worker_failed_passes_total{worker=\"flaky\"} 1"));
        source.cancel();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let stopped = w.passes.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(w.passes.load(Ordering::SeqCst), stopped, "a cancelled worker ran again");
    }
}
