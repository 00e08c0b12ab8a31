//! Background workers of the embedded store: read-repair (rebuild a corrupt
//! or missing shard in place from k healthy ones), garbage collection of
//! unreferenced shards, start-up recovery of interrupted writes, and the disk
//! health monitor.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use kintsugi_disk::{DiskError, ShardHeader, ShardReader};
use kintsugi_erasure::{chunk_hash, shard_hash, ChunkHash};
use kintsugi_meta::now_ms;
use tokio::sync::mpsc;
use tokio_util_shim::CancelToken;

use crate::error::{GatewayError, GwResult};
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
/// (this process owns all writes), so its shards become garbage; temp files are removed.
pub fn recover_at_startup(store: &Store) -> GwResult<()> {
    let intents = store.meta.list_intents()?;
    if !intents.is_empty() {
        let ids: Vec<u128> = intents.iter().map(|(s, _)| *s).collect();
        tracing::info!(count = ids.len(), "collecting shards of writes interrupted by the last shutdown");
        store.meta.intents_to_garbage(&ids)?;
    }
    for d in store.disks.values() {
        if !d.is_failed() {
            match d.clean_tmp() {
                Ok(0) => {}
                Ok(n) => tracing::info!(disk = d.id(), removed = n, "removed leftover temp files"),
                Err(e) => tracing::warn!(disk = d.id(), error = %e, "could not clean temp dir"),
            }
        }
    }
    gc_pass(store)?;
    Ok(())
}

/// Delete the shards of due garbage entries. Returns shard files deleted.
pub fn gc_pass(store: &Store) -> GwResult<u64> {
    let mut deleted = 0;
    loop {
        let due = store.meta.due_garbage(now_ms(), 256)?;
        if due.is_empty() {
            return Ok(deleted);
        }
        for (seg, rec) in due {
            for (idx, disk_id) in &rec.shards {
                let Ok(disk) = store.disk(*disk_id) else { continue };
                match disk.delete_shard(seg, *idx) {
                    Ok(true) => {
                        deleted += 1;
                        Metrics::inc(&store.metrics.gc_deleted);
                    }
                    Ok(false) => {}
                    // A failed disk's copy cannot be deleted now; a full scrub of that disk (when it returns) finds it.
                    Err(e) => tracing::warn!(segment = %format!("{seg:032x}"), disk = disk_id, error = %e, "GC could not delete shard"),
                }
            }
            store.meta.remove_garbage(seg)?;
        }
    }
}

/// Spawn the background workers; they stop when `cancel` fires.
pub fn spawn_workers(store: Arc<Store>, repair_rx: mpsc::Receiver<RepairRequest>, cancel: CancelToken, gc_interval: Duration) {
    tokio::spawn(repair_loop(store.clone(), repair_rx, cancel.clone()));
    let st = store.clone();
    let mut c = cancel.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = c.cancelled() => return,
                _ = tokio::time::sleep(gc_interval) => {}
            }
            let s = st.clone();
            match tokio::task::spawn_blocking(move || gc_pass(&s)).await {
                Ok(Ok(n)) if n > 0 => tracing::info!(deleted = n, "garbage collection deleted unreferenced shards"),
                Ok(Err(e)) => tracing::warn!(error = %e, "garbage collection pass failed"),
                _ => {}
            }
        }
    });
    let mut c = cancel;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = c.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
            let s = store.clone();
            let _ = tokio::task::spawn_blocking(move || {
                for d in s.disks.values() {
                    d.check();
                }
            })
            .await;
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
        let s = store.clone();
        let r = req.clone();
        let res = tokio::task::spawn_blocking(move || repair_segment(&s, &r)).await;
        recent.remove(&(req.version_id, req.segment));
        match res {
            Ok(Ok(n)) if n > 0 => tracing::info!(bucket = req.bucket, key = req.key, segment = req.segment, rebuilt = n, "read-repair rebuilt shards in place"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                Metrics::inc(&store.metrics.repair_failed);
                tracing::warn!(bucket = req.bucket, key = req.key, segment = req.segment, error = %e, "read-repair failed");
            }
            Err(e) => tracing::error!(error = %e, "read-repair task died"),
        }
    }
}

/// Verify every shard of one segment fully and rebuild the bad ones that sit
/// on healthy disks. Returns how many shards were rebuilt.
pub fn repair_segment(store: &Store, req: &RepairRequest) -> GwResult<usize> {
    let Some(manifest) = store.meta.object(&req.bucket, &req.key)? else { return Ok(0) };
    if manifest.version_id != req.version_id {
        return Ok(0); // overwritten meanwhile: the old shards are garbage now
    }
    let Some(seg) = manifest.segments.get(req.segment) else { return Ok(0) };
    let coded = store.coded(&manifest.coding)?;
    let layout = coded.layout;
    let n = seg.shards.len();
    let k = usize::from(layout.scheme.k);
    let stripes = layout.stripe_count(seg.len);
    // 1. Classify every shard: good (fully verified), to rebuild (healthy disk), or unavailable.
    let mut good: Vec<Option<ShardReader>> = (0..n).map(|_| None).collect();
    let mut rebuild: Vec<usize> = Vec::new();
    for (i, loc) in seg.shards.iter().enumerate() {
        let disk = store.disk(loc.disk)?;
        if disk.is_failed() {
            continue;
        }
        let verified = disk.open_shard(seg.id, i as u8, Some(&loc.hash)).and_then(|r| {
            for s in 0..stripes {
                let g = layout.stripe(seg.len, s).map_err(|e| DiskError::Invalid { detail: e.to_string() })?;
                r.read_chunk(s, g.shard_offset, g.chunk_len)?;
            }
            Ok(r)
        });
        match verified {
            Ok(r) => good[i] = Some(r),
            Err(e) if e.is_disk_failure() => {}
            Err(_) => rebuild.push(i),
        }
    }
    if rebuild.is_empty() {
        return Ok(0);
    }
    let sources: Vec<usize> = (0..n).filter(|i| good[*i].is_some()).take(k).collect();
    if sources.len() < k {
        return Err(GatewayError::Unreadable {
            bucket: req.bucket.clone(),
            key: req.key.clone(),
            segment: req.segment,
            have: sources.len(),
            need: k,
        });
    }
    let template: ShardHeader = match good.iter().flatten().next() {
        Some(r) => *r.header(),
        None => return Ok(0),
    };
    // 2. Rebuild stripe by stripe into new shard files.
    let mut writers = Vec::new();
    for &i in &rebuild {
        let disk = store.disk(seg.shards[i].disk)?;
        let mut h = template;
        h.index = i as u8;
        writers.push((i, disk.create_shard(h)?, Vec::<ChunkHash>::new()));
    }
    for s in 0..stripes {
        let g = layout.stripe(seg.len, s)?;
        let mut slots: Vec<Option<Vec<u8>>> = vec![None; n];
        for &i in &sources {
            if let Some(r) = &good[i] {
                slots[i] = Some(r.read_chunk(s, g.shard_offset, g.chunk_len)?);
            }
        }
        coded.codec.reconstruct(&mut slots)?;
        for (i, w, hashes) in writers.iter_mut() {
            let Some(chunk) = slots[*i].as_ref() else {
                return Err(GatewayError::Internal("codec left a shard empty".into()));
            };
            let h = chunk_hash(chunk);
            w.append(chunk, h)?;
            hashes.push(h);
        }
    }
    // 3. Only a rebuild that hashes to the manifest's shard hash replaces the bad file.
    let mut done = 0;
    for (i, w, hashes) in writers {
        if shard_hash(&hashes) != seg.shards[i].hash {
            return Err(GatewayError::Internal(format!("rebuilt shard {i} does not match the manifest hash")));
        }
        w.finish(seg.len)?;
        Metrics::inc(&store.metrics.shard_repaired);
        done += 1;
    }
    Ok(done)
}
