//! Garbage collection: delete the shard files of due garbage entries (overwritten or deleted
//! objects, aborted uploads, copies left behind by moves and by interrupted writes).

use std::sync::Arc;

use kintsugi_storage::ShardError;
use kintsugi_meta::{now_ms, ShardFileUse};

use crate::error::ClusterResult;
use crate::metrics::Metrics;
use crate::store::Store;

/// Delete the shards of due garbage entries. Returns shard files deleted.
/// An entry whose shards cannot all be reached stays queued for the next pass.
pub async fn gc_pass(store: &Arc<Store>) -> ClusterResult<u64> {
    let mut deleted = 0;
    let mut after = None;
    loop {
        let due = store.meta_call(move |m| m.due_garbage_after(now_ms(), after, 256)).await?;
        let Some((last, _)) = due.last() else { return Ok(deleted) };
        after = Some(*last);
        for (seg, rec) in due {
            let mut complete = true;
            for (idx, disk_id) in &rec.shards {
                let (d, i) = (*disk_id, *idx);
                // A move writing this very file holds it: leave it to the next pass.
                let Some(_claim) = store.claims.try_claim((d, seg, i)) else {
                    complete = false;
                    continue;
                };
                match store.meta_call(move |m| m.shard_file_use(d, seg, i)).await? {
                    // A committed record references it again (repair or drain placed the same index
                    // of the segment back on this disk): not this entry's to delete; when that
                    // record lets go of it, it is queued again.
                    ShardFileUse::Indexed => continue,
                    // An open intent names it (a copy being written there now): it may be kept or
                    // given up, so the entry stays and a later pass looks again.
                    ShardFileUse::Intended => {
                        complete = false;
                        continue;
                    }
                    ShardFileUse::Free => {}
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
                    Err(e @ ShardError::Unreachable { .. }) => {
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
