//! The one shard-move transaction, and the verified copy that drain, rebalance and spread move
//! shards with.
//!
//! A move of shards of a committed segment to other disks is always: the targets recorded as
//! write intents before a byte is written (so a crash leaves garbage, never an orphan); the
//! copies written and verified against the manifest's shard hash by whoever writes them (the
//! disk writer, a rebuild, a storage node); the verified ones committed with a
//! compare-and-swap on each shard's current disk (`move_shards`: the manifest, the disk →
//! shards index, the ledger and the old copy's garbage entry in one batch, applied only while
//! the record still names the old disk); and every copy not committed — not written, not
//! verified, or overtaken by an overwrite, delete or other move — handed to garbage
//! collection. [`MoveTxn`] is that sequence; background repair and [`copy_shard`] use it.

use std::sync::Arc;

use kintsugi_disk::ShardHeader;
use kintsugi_meta::{DiskId, OwnedSegment, SegmentId, SegmentMeta, ShardMove, ShardOwner};
use kintsugi_storage::{ShardError, ShardStore};

use crate::claims::Claim;
use crate::error::{ClusterError, ClusterResult};
use crate::limiter::Limiter;
use crate::store::{Coded, Store};

/// A move of some shards of one committed segment, from [`MoveTxn::begin`] (intents
/// recorded) to [`MoveTxn::commit`] or [`MoveTxn::abort`] (garbage for what is not kept).
#[must_use = "a move must be committed or aborted, or its copies wait for the next start to be collected"]
#[derive(Debug)]
pub struct MoveTxn {
    store: Arc<Store>,
    owner: ShardOwner,
    segment: SegmentId,
    planned: Vec<ShardMove>,
    /// The target files, kept from garbage collection until the move has committed or aborted.
    _claim: Claim,
    /// The intent, kept from the intent sweep for as long.
    _hold: crate::writes::WriteHold,
}

impl MoveTxn {
    /// Record `planned` (shard index, current disk, target disk) as write intents of `segment`
    /// — owned by `owner` — before any copy is written.
    pub async fn begin(store: &Arc<Store>, owner: &ShardOwner, segment: SegmentId, planned: Vec<ShardMove>) -> ClusterResult<Self> {
        // A target may be a file an older garbage entry names (the shard was on that disk
        // before): GC must not delete it between the copy landing and the commit.
        let claim = store.claims.claim(planned.iter().map(|m| (m.to, segment, m.index)).collect()).await;
        let hold = store.writes.hold(segment);
        let intents: Vec<(u8, DiskId)> = planned.iter().map(|m| (m.index, m.to)).collect();
        store.meta_call(move |m| m.add_intent(segment, intents)).await?;
        Ok(Self { store: store.clone(), owner: owner.clone(), segment, planned, _claim: claim, _hold: hold })
    }

    /// Commit the planned moves whose copies are written and verified (`verified`: shard index
    /// and target disk) with a compare-and-swap; every other planned copy becomes garbage.
    /// Answers the moves applied.
    pub async fn commit(self, verified: &[(usize, DiskId)]) -> ClusterResult<Vec<ShardMove>> {
        let moves: Vec<ShardMove> = self.planned.iter().filter(|m| verified.contains(&(usize::from(m.index), m.to))).copied().collect();
        let (owner, segment) = (self.owner.clone(), self.segment);
        // A commit whose outcome is unknown leaves every copy alone (it may still commit).
        let applied = if moves.is_empty() { Vec::new() } else { self.store.meta_call(move |m| m.move_shards(&owner, segment, &moves)).await? };
        if applied.len() < self.planned.len() {
            // Copies not committed (not verified, or the record changed meanwhile) are garbage.
            self.abort().await?;
        }
        Ok(applied)
    }

    /// Keep none of the copies: every one written becomes garbage.
    pub async fn abort(self) -> ClusterResult<()> {
        let segment = self.segment;
        self.store.meta_call(move |m| m.intents_to_garbage(&[segment])).await
    }

    /// Run `work` (which writes and verifies the copies and answers which are verified), then
    /// commit those — or, when `work` fails, abort and answer its error.
    pub async fn run<T>(self, work: impl std::future::Future<Output = ClusterResult<(T, Vec<(usize, DiskId)>)>>) -> ClusterResult<(T, Vec<ShardMove>)> {
        match work.await {
            Ok((out, verified)) => Ok((out, self.commit(&verified).await?)),
            Err(e) => {
                self.abort().await?;
                Err(e)
            }
        }
    }
}

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
    let txn = MoveTxn::begin(store, owner, segment, vec![ShardMove { index, from: disk, to: target }]).await?;
    let work = async {
        let to = store.disk(target)?;
        // Between two storage nodes, the target's node copies the shard straight from the source's:
        // the bytes do not pass through the gateway.
        if let Some(read) = copy_between_nodes(&*src, &*to, &coded, &seg, header.clone(), index).await {
            limiter.take(read).await;
            return Ok((true, vec![(i, target)]));
        }
        // Straight copy through here: every chunk is verified where it is read; the copy must hash to the manifest's shard hash.
        let chunks = coded.layout.stripe_count(seg.len);
        let mut w = to.write(header.clone());
        let mut rx = src.read(segment, index, loc.hash, 0, chunks);
        let mut copied = true;
        let mut bytes = 0u64;
        for _ in 0..chunks {
            match rx.recv().await {
                Some(Ok(chunk)) => {
                    bytes += chunk.len() as u64;
                    if w.append_hashing(chunk).await.is_err() {
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
        let moved = if copied {
            w.finish(seg.len, loc.hash).await.is_ok()
        } else {
            w.abandon(); // removes the partial copy
            false
        };
        if !moved {
            // The source could not be read whole (or the copy failed): rebuild from the other shards instead.
            tracing::warn!(disk, segment = %format!("{segment:032x}"), shard = index, "straight copy failed; rebuilding the shard from the others");
            let r = crate::rebuild::rebuild_onto(store, &coded, &seg, header, &[(i, target)]).await?;
            if r.done.is_empty() {
                return Err(ClusterError::Internal(format!("shard {i} of segment {segment:032x} could not be copied to disk {target}")));
            }
        }
        Ok((false, vec![(i, target)]))
    };
    let (by_node, applied) = txn.run(work).await?;
    if applied.is_empty() {
        return Ok(None); // the owner changed meanwhile: the copy is garbage
    }
    if by_node {
        crate::metrics::Metrics::inc(&store.metrics.shards_copied_by_nodes);
    }
    tracing::debug!(disk, to = target, segment = %format!("{segment:032x}"), shard = index, "shard moved");
    Ok(Some(coded.layout.shard_data_len(seg.len)))
}

/// Have the target disk's storage node copy shard `index` straight from the source disk's node
/// (`RebuildShard` naming the shard itself as its source; the node verifies every chunk and the
/// whole against the manifest's shard hash). `None` when either disk is not on a storage node,
/// or the node could not do it: the caller copies through the gateway then.
async fn copy_between_nodes(src: &dyn ShardStore, to: &dyn ShardStore, coded: &Coded, seg: &SegmentMeta, header: ShardHeader, index: u8) -> Option<u64> {
    let loc = seg.shards.get(usize::from(index))?;
    let source = src.node_source(index, loc.hash)?;
    let timeout = crate::rebuild::node_rebuild_timeout(coded, seg);
    crate::rebuild::grant_reads(&to.info().node, &[(index, src)], seg.id, timeout).await;
    match to.rebuild_here(&header, coded.coding(), seg.len, loc.hash, vec![source], timeout).await {
        Ok(read) => Some(read),
        Err(ShardError::NotOnANode { .. }) => None,
        Err(e) => {
            tracing::warn!(segment = %format!("{:032x}", seg.id), shard = index, error = %e, "node-to-node copy failed; copying through the gateway");
            None
        }
    }
}
