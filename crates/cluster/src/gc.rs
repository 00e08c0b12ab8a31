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
            // The shards this pass is done with; only they leave the entry (a shard queued for
            // the same segment meanwhile — a delete, a move, a commit — stays queued).
            let mut done = Vec::with_capacity(rec.shards.len());
            // Claims are held until the entry is updated: a move cannot write (and queue again)
            // one of these files between its deletion and the update.
            let mut held = Vec::with_capacity(rec.shards.len());
            for &(i, d) in &rec.shards {
                // A disk no longer in the cluster took its copies with it.
                let Ok(disk) = store.disk(d) else {
                    done.push((i, d));
                    continue;
                };
                // Its node is down: try again on a later pass (checked first: it costs nothing).
                if !disk.info().reachable {
                    continue;
                }
                // A move writing this very file holds it: leave it to the next pass.
                let Some(claim) = store.claims.try_claim((d, seg, i)) else { continue };
                held.push(claim);
                match store.meta_call(move |m| m.shard_file_use(d, seg, i)).await? {
                    // A committed record references it again (repair or drain placed the same index
                    // of the segment back on this disk): not this entry's to delete; when that
                    // record lets go of it, it is queued again.
                    ShardFileUse::Indexed => {
                        done.push((i, d));
                        continue;
                    }
                    // An open intent names it (a copy being written there now): it may be kept or
                    // given up, so it stays queued and a later pass looks again.
                    ShardFileUse::Intended => continue,
                    ShardFileUse::Free => {}
                }
                match disk.delete(seg, i).await {
                    Ok(true) => {
                        deleted += 1;
                        Metrics::inc(&store.metrics.gc_deleted);
                        done.push((i, d));
                    }
                    Ok(false) => done.push((i, d)),
                    // An unreachable node is retried.
                    Err(e @ ShardError::Unreachable { .. }) => {
                        tracing::debug!(segment = %format!("{seg:032x}"), disk = d, error = %e, "GC will retry: node unreachable");
                    }
                    // A local disk that failed loses its copies with it.
                    Err(e) => {
                        tracing::warn!(segment = %format!("{seg:032x}"), disk = d, error = %e, "GC could not delete shard");
                        done.push((i, d));
                    }
                }
            }
            // An entry with no shards at all (an older store may hold one) goes too.
            if !done.is_empty() || rec.shards.is_empty() {
                store.meta_call(move |m| m.remove_garbage_shards(seg, done)).await?;
            }
            drop(held);
        }
    }
}
