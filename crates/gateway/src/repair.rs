//! Background workers of a gateway: read-repair (rebuild a corrupt or missing
//! shard in place from k healthy ones), garbage collection of unreferenced
//! shards, start-up recovery of interrupted writes, and the disk health monitor.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use kintsugi_disk::DiskError;
use kintsugi_meta::now_ms;
use tokio::sync::mpsc;
use tokio_util_shim::CancelToken;

use crate::error::GwResult;
use crate::metrics::Metrics;
use crate::store::{RepairRequest, Store};

/// Minimal cancellation token (a watch channel) so workers stop on shutdown.
pub mod tokio_util_shim {
    use tokio::sync::watch;

    /// Cloneable stop signal.
    #[derive(Clone, Debug)]
    pub struct CancelToken(watch::Receiver<bool>);

    /// The sending side.
    #[derive(Debug)]
    pub struct CancelSource(watch::Sender<bool>);

    /// A new source/token pair.
    pub fn cancel_pair() -> (CancelSource, CancelToken) {
        let (tx, rx) = watch::channel(false);
        (CancelSource(tx), CancelToken(rx))
    }

    impl CancelSource {
        /// Signal every token.
        pub fn cancel(&self) {
            let _ = self.0.send(true);
        }
    }

    impl CancelToken {
        /// Resolves once cancelled.
        pub async fn cancelled(&mut self) {
            while !*self.0.borrow() {
                if self.0.changed().await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Start-up recovery: every write intent left by a previous process is dead
/// (this process owns all writes), so its shards become garbage.
pub async fn recover_at_startup(store: &Arc<Store>) -> GwResult<()> {
    crate::drain::load_drains(store).await?;
    crate::rebalance::resume(store).await?;
    let intents = store.meta_call(|m| m.list_intents()).await?;
    if !intents.is_empty() {
        let ids: Vec<u128> = intents.iter().map(|(s, _)| *s).collect();
        tracing::info!(count = ids.len(), "collecting shards of writes interrupted by the last shutdown");
        store.meta_call(move |m| m.intents_to_garbage(&ids)).await?;
    }
    gc_pass(store).await?;
    Ok(())
}

/// Delete the shards of due garbage entries. Returns shard files deleted.
/// An entry whose shards cannot all be reached stays queued for the next pass.
pub async fn gc_pass(store: &Arc<Store>) -> GwResult<u64> {
    let mut deleted = 0;
    let mut tried = HashSet::new();
    loop {
        let due = store.meta_call(|m| m.due_garbage(now_ms(), 256)).await?;
        let due: Vec<_> = due.into_iter().filter(|(s, _)| tried.insert(*s)).collect();
        if due.is_empty() {
            return Ok(deleted);
        }
        for (seg, rec) in due {
            let mut complete = true;
            for (idx, disk_id) in &rec.shards {
                // A shard that a committed record references again (repair or drain placed the same
                // index of the segment back on this disk) is live, whatever the garbage entry says.
                let (d, i) = (*disk_id, *idx);
                if store.meta_call(move |m| m.is_indexed(d, seg, i)).await? {
                    continue;
                }
                let Ok(disk) = store.disk(*disk_id) else { continue };
                if !disk.info().reachable {
                    complete = false; // its node is down: try again on a later pass
                    continue;
                }
                match disk.delete(seg, *idx).await {
                    Ok(true) => {
                        deleted += 1;
                        Metrics::inc(&store.metrics.gc_deleted);
                    }
                    Ok(false) => {}
                    // A local disk that failed loses its copies with it; an unreachable node is retried.
                    Err(e @ DiskError::Unreachable { .. }) => {
                        complete = false;
                        tracing::debug!(segment = %format!("{seg:032x}"), disk = disk_id, error = %e, "GC will retry: node unreachable");
                    }
                    Err(e) => tracing::warn!(segment = %format!("{seg:032x}"), disk = disk_id, error = %e, "GC could not delete shard"),
                }
            }
            if complete {
                store.meta_call(move |m| m.remove_garbage(seg)).await?;
            }
        }
    }
}

/// Spawn the background workers; they stop when `cancel` fires.
pub fn spawn_workers(store: Arc<Store>, repair_rx: mpsc::Receiver<RepairRequest>, cancel: CancelToken, gc_interval: Duration) {
    tokio::spawn(repair_loop(store.clone(), repair_rx, cancel.clone()));
    let (repair, scrub) = (store.repair_config, store.scrub_config);
    let (st, l) = (store.clone(), Arc::new(crate::heal::Limiter::new(repair.bandwidth)));
    spawn_periodic("repair", repair.interval, cancel.clone(), move || {
        let (st, l) = (st.clone(), l.clone());
        async move { crate::heal::pass(&st, repair, &l).await }
    });
    // Drain runs at repair's interval, with a bandwidth cap of the same size of its own.
    let (st, l) = (store.clone(), Arc::new(crate::heal::Limiter::new(repair.bandwidth)));
    spawn_periodic("drain", repair.interval, cancel.clone(), move || {
        let (st, l) = (st.clone(), l.clone());
        async move { crate::drain::drain_pass(&st, &l).await }
    });
    if !scrub.interval.is_zero() {
        let (st, l) = (store.clone(), Arc::new(crate::heal::Limiter::new(scrub.bandwidth)));
        spawn_periodic("scrub", scrub.interval, cancel.clone(), move || {
            let (st, l) = (st.clone(), l.clone());
            async move { crate::scrub::scrub_pass(&st, None, &l).await.map(|_| ()) }
        });
    }
    let st = store.clone();
    spawn_periodic("garbage collection", gc_interval, cancel.clone(), move || {
        let st = st.clone();
        async move {
            let n = gc_pass(&st).await?;
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

/// The one shape of every background worker: wait `interval` (or stop when cancelled), run one
/// pass of `work`, log a failed pass and try again next interval.
fn spawn_periodic<F, Fut>(what: &'static str, interval: Duration, mut cancel: CancelToken, mut work: F)
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = GwResult<()>> + Send + 'static,
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

async fn repair_loop(store: Arc<Store>, mut rx: mpsc::Receiver<RepairRequest>, mut cancel: CancelToken) {
    let mut recent: HashSet<(u128, usize)> = HashSet::new();
    loop {
        let req = tokio::select! {
            _ = cancel.cancelled() => return,
            r = rx.recv() => match r { Some(r) => r, None => return },
        };
        // Several reads of one damaged segment queue it several times; repair it once.
        if !recent.insert((req.version_id, req.segment)) {
            continue;
        }
        let res = repair_segment(&store, &req).await;
        recent.remove(&(req.version_id, req.segment));
        match res {
            Ok(n) if n > 0 => tracing::info!(bucket = req.bucket, key = req.key, segment = req.segment, rebuilt = n, "read-repair rebuilt shards in place"),
            Ok(_) => {}
            Err(e) => {
                Metrics::inc(&store.metrics.repair_failed);
                tracing::warn!(bucket = req.bucket, key = req.key, segment = req.segment, error = %e, "read-repair failed");
            }
        }
    }
}

/// Verify every shard of one segment fully and rebuild the missing or
/// corrupt ones that sit on usable disks, in place. Returns how many shards were rebuilt.
pub async fn repair_segment(store: &Arc<Store>, req: &RepairRequest) -> GwResult<usize> {
    let (b, k) = (req.bucket.clone(), req.key.clone());
    let Some(manifest) = store.meta_call(move |m| m.object(&b, &k)).await? else { return Ok(0) };
    if manifest.version_id != req.version_id {
        return Ok(0); // overwritten meanwhile: the old shards are garbage now
    }
    let Some(seg) = manifest.segments.get(req.segment) else { return Ok(0) };
    let coded = store.coded(&manifest.coding)?;
    // 1. Classify every shard: good (fully verified), to rebuild (usable disk), or unavailable.
    let mut template = None;
    let mut rebuild: Vec<(usize, u32)> = Vec::new();
    for (i, loc) in seg.shards.iter().enumerate() {
        let Ok(disk) = store.disk(loc.disk) else { continue };
        if !disk.usable() {
            continue;
        }
        match disk.check(seg.id, i as u8, loc.hash, true).await {
            Ok(h) => template = template.or(Some(h)),
            Err(e) if e.is_disk_failure() => {}
            Err(_) => rebuild.push((i, loc.disk)),
        }
    }
    let Some(template) = template else { return Ok(0) };
    if rebuild.is_empty() {
        return Ok(0);
    }
    // 2. Rebuild from the others; a rebuilt shard replaces the bad file only if it hashes right.
    let done = crate::rebuild::rebuild_onto(store, &coded, seg, template, &rebuild).await?.done;
    for _ in &done {
        Metrics::inc(&store.metrics.shard_repaired);
    }
    Ok(done.len())
}
