//! Moving one shard to another disk — drain, rebalance and spread all do it the same way:
//! a straight copy, every chunk's BLAKE3 verified on read and the whole checked against the
//! manifest's shard hash (a rebuild from the other shards if the source cannot be read), the
//! target recorded as a write intent first, the move committed with a compare-and-swap on the
//! shard's current disk, and the old copy handed to garbage collection.

use std::sync::Arc;

use kintsugi_erasure::chunk_hash;
use kintsugi_meta::{DiskId, OwnedSegment, ShardMove, ShardOwner};
use kintsugi_storage::ShardMsg;

use crate::error::{ClusterError, ClusterResult};
use crate::limiter::Limiter;
use crate::store::Store;

/// Copy shard `index` of `owned` from the disk the owner names to `target` —
/// a straight copy, every chunk verified on read and the whole checked against
/// the manifest's shard hash; a rebuild from the other shards if the source
/// cannot be read — and commit the move with a compare-and-swap. Answers the
/// shard bytes moved, or `None` when the owner changed meanwhile (the copy is garbage).
pub async fn copy_shard(store: &Arc<Store>, owner: &ShardOwner, owned: &OwnedSegment, index: u8, target: DiskId, limiter: &Limiter) -> ClusterResult<Option<u64>> {
    let seg = owned.segment.clone();
    let segment = seg.id;
    let i = usize::from(index);
    let Some(loc) = seg.shards.get(i).cloned() else { return Ok(None) };
    let disk = loc.disk;
    let src = store.disk(disk)?;
    let header = src.check(segment, index, loc.hash, false).await?;
    let coded = store.coded(&owned.coding)?;
    let chunks = coded.layout.stripe_count(seg.len);
    store.meta_call(move |m| m.add_intent(segment, vec![(index, target)])).await?;
    // Straight copy: every chunk is verified where it is read; the copy must hash to the manifest's shard hash.
    let w = store.disk(target)?.write(header);
    let mut rx = src.read(segment, index, loc.hash, 0, chunks);
    let mut copied = true;
    let mut bytes = 0u64;
    for _ in 0..chunks {
        match rx.recv().await {
            Some(Ok(chunk)) => {
                bytes += chunk.len() as u64;
                let h = chunk_hash(&chunk);
                if w.tx.send(ShardMsg::Chunk(chunk, h)).await.is_err() {
                    copied = false;
                    break;
                }
            }
            _ => {
                copied = false;
                break;
            }
        }
    }
    limiter.take(bytes).await;
    let moved = if copied && w.tx.send(ShardMsg::Finish(seg.len)).await.is_ok() {
        drop(w.tx);
        matches!(w.done.await, Ok(Ok(h)) if h == loc.hash)
    } else {
        drop(w.tx); // abandons the partial copy
        false
    };
    let moved = if moved {
        true
    } else {
        // The source could not be read whole (or the copy failed): rebuild from the other shards instead.
        tracing::warn!(disk, segment = %format!("{segment:032x}"), shard = index, "straight copy failed; rebuilding the shard from the others");
        let r = crate::rebuild::rebuild_onto(store, &coded, &seg, header, &[(i, target)]).await?;
        !r.done.is_empty()
    };
    if !moved {
        store.meta_call(move |m| m.intents_to_garbage(&[segment])).await?;
        return Err(ClusterError::Internal(format!("shard {i} of segment {segment:032x} could not be copied to disk {target}")));
    }
    let mv = [ShardMove { index, from: disk, to: target }];
    let o = owner.clone();
    let applied = store.meta_call(move |m| m.move_shards(&o, segment, &mv)).await?;
    if applied.is_empty() {
        store.meta_call(move |m| m.intents_to_garbage(&[segment])).await?;
        return Ok(None);
    }
    tracing::debug!(disk, to = target, segment = %format!("{segment:032x}"), shard = index, "shard moved");
    Ok(Some(coded.layout.shard_data_len(seg.len)))
}
