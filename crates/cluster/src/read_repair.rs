//! Read-repair: a GET or a scrub that finds a shard missing or corrupt queues its segment;
//! every shard of it is verified fully and the bad ones on usable disks are rebuilt in place
//! from k healthy ones (kept only if they hash to the manifest's shard hash).

use std::sync::Arc;

use crate::error::ClusterResult;
use crate::metrics::Metrics;
use crate::store::{RepairRequest, Store};

/// Serve one read-repair request (the read-repair worker's pass): log what was rebuilt, count
/// a failure (the next read that finds the damage queues it again).
pub(crate) async fn repair_one(store: &Arc<Store>, req: &RepairRequest) -> ClusterResult<()> {
    match repair_segment(store, req).await {
        Ok(n) if n > 0 => tracing::info!(bucket = req.bucket, key = req.key, segment = req.segment, rebuilt = n, "read-repair rebuilt shards in place"),
        Ok(_) => {}
        Err(e) => {
            Metrics::inc(&store.metrics.repair_failed);
            tracing::warn!(bucket = req.bucket, key = req.key, segment = req.segment, error = %e, "read-repair failed");
        }
    }
    Ok(())
}

/// Verify every shard of one segment fully and rebuild the missing or
/// corrupt ones that sit on usable disks, in place. Returns how many shards were rebuilt.
pub async fn repair_segment(store: &Arc<Store>, req: &RepairRequest) -> ClusterResult<usize> {
    let (b, k, v) = (req.bucket.clone(), req.key.clone(), req.version_id);
    // The current version or an archived one; gone meanwhile: its shards are garbage now.
    let Some(manifest) = store.meta_call(move |m| m.local_manifest_by_id(&b, &k, v)).await? else { return Ok(0) };
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
