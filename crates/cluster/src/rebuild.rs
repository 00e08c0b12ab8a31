//! Rebuilding shards from k healthy ones: read k shards stripe by stripe
//! (hedged, like GET), reconstruct the wanted shards, write them to their
//! target disks and keep them only if they hash to what the manifest says.
//! Used by the PUT path (re-placing a shard whose disk failed mid-write), by
//! read-repair (rewriting a damaged shard in place), and — spread over the
//! storage nodes that receive the rebuilt shards — by background repair.

use std::sync::Arc;

use kintsugi_disk::ShardHeader;
use kintsugi_meta::SegmentMeta;
use kintsugi_storage::{rebuild_stripes, RebuildOutcome, RebuildTarget, ShardError, ShardSource, ShardStore};

use crate::error::{ClusterError, ClusterResult};
use crate::read::{segment_error, stripe_reader};
use crate::metrics::Metrics;
use crate::store::{Coded, Store};

/// What a rebuild did.
#[derive(Debug, Default)]
pub struct Rebuilt {
    /// Targets rebuilt, verified against the manifest and durable: (shard index, disk).
    pub done: Vec<(usize, u32)>,
    /// Chunk bytes read from the other shards to do it.
    pub bytes_read: u64,
    /// Of `done`, those the target's own storage node rebuilt.
    pub on_nodes: Vec<(usize, u32)>,
}

/// Rebuild shard `index` of `seg` onto `disk` for each target, reading only
/// the other shards (the storage crate's reader and rebuild loop, as on a storage node).
pub async fn rebuild_onto(store: &Store, coded: &Coded, seg: &SegmentMeta, template: ShardHeader, targets: &[(usize, u32)]) -> ClusterResult<Rebuilt> {
    let stripes = coded.layout.stripe_count(seg.len);
    let skip: Vec<usize> = targets.iter().map(|t| t.0).collect();
    let mut reader = stripe_reader(store, coded, seg, 0..stripes, &skip);
    let mut writers = Vec::with_capacity(targets.len());
    for &(i, disk) in targets {
        let mut h = template.clone();
        h.index = u8::try_from(i).map_err(|_| ClusterError::Internal("shard index".into()))?;
        let d: Arc<dyn ShardStore> = store.disk(disk)?;
        writers.push(RebuildTarget::new(i, d.write(h)));
    }
    let bytes_read = rebuild_stripes(&mut reader, &coded.codec, stripes, &mut writers).await.map_err(|e| segment_error(e, ("(rebuild)", "", 0)))?;
    let mut done = Vec::new();
    for (w, &(i, disk)) in writers.into_iter().zip(targets) {
        match w.finish(seg.len, seg.shards[i].hash).await {
            Ok(()) => done.push((i, disk)),
            Err(e @ RebuildOutcome::HashMismatch) => return Err(ClusterError::Internal(format!("rebuilt shard {i}: {e}"))),
            Err(e) => {
                if matches!(&e, RebuildOutcome::Write(w) if w.is_full()) {
                    store.space.note_full(disk);
                }
                tracing::warn!(shard = i, disk, error = %e, "rebuilt shard could not be written");
            }
        }
    }
    Ok(Rebuilt { done, bytes_read, on_nodes: Vec::new() })
}

/// Rebuild like [`rebuild_onto`], but where the targets are disks on storage
/// nodes, each target's node does the work: it reads k healthy shards straight
/// from the other nodes, decodes, verifies and stores, so repair traffic does
/// not all funnel through the gateway. Targets whose node cannot do it (or
/// fails) are rebuilt by the gateway.
pub async fn rebuild_spread(store: &Store, coded: &Coded, seg: &SegmentMeta, template: ShardHeader, targets: &[(usize, u32)]) -> ClusterResult<Rebuilt> {
    let mut sources = Vec::new();
    for (i, loc) in seg.shards.iter().enumerate() {
        if targets.iter().any(|t| t.0 == i) {
            continue;
        }
        let Ok(d) = store.disk(loc.disk) else { continue };
        if !d.usable() {
            continue;
        }
        let index = u8::try_from(i).map_err(|_| ClusterError::Internal("shard index".into()))?;
        // Not on a storage node (the embedded store), or its node has no address yet.
        let Some(source) = d.node_source(index, loc.hash) else { continue };
        // Nodes whose reads were slow lately go last.
        sources.push((d.is_slow(), source, d));
    }
    if sources.len() < usize::from(coded.layout.scheme.k) {
        return rebuild_onto(store, coded, seg, template, targets).await; // no node could do it
    }
    sources.sort_by_key(|(slow, _, _)| *slow);
    let source_disks: Vec<(u8, Arc<dyn ShardStore>)> = sources.iter().map(|(_, s, d)| (s.index, d.clone())).collect();
    let sources: Vec<ShardSource> = sources.into_iter().map(|(_, s, _)| s).collect();
    let coding = coded.coding();
    let timeout = node_rebuild_timeout(coded, seg);
    let shared = &template;
    let source_disks: Vec<(u8, &dyn ShardStore)> = source_disks.iter().map(|(i, d)| (*i, &**d)).collect();
    let source_disks = &source_disks;
    let jobs = targets.iter().map(|&(i, disk)| {
        let sources = sources.clone();
        async move {
            let d = store.disk(disk).ok()?;
            let mut h = shared.clone();
            h.index = u8::try_from(i).ok()?;
            grant_reads(&d.info().node, source_disks, seg.id, timeout).await;
            match d.rebuild_here(&h, coding, seg.len, seg.shards[i].hash, sources, timeout).await {
                Ok(read) => Some((i, disk, read)),
                Err(ShardError::NotOnANode { .. }) => None,
                Err(e) => {
                    tracing::warn!(segment = %format!("{:032x}", seg.id), shard = i, disk, error = %e, "node-side rebuild failed; the gateway rebuilds the shard");
                    None
                }
            }
        }
    });
    let results = futures::future::join_all(jobs).await;
    let mut out = Rebuilt::default();
    for (i, disk, read) in results.into_iter().flatten() {
        out.done.push((i, disk));
        out.bytes_read += read;
        out.on_nodes.push((i, disk));
    }
    let rest: Vec<(usize, u32)> = targets.iter().copied().filter(|t| !out.done.contains(t)).collect();
    if !rest.is_empty() {
        let r = rebuild_onto(store, coded, seg, template, &rest).await?;
        out.done.extend(r.done);
        out.bytes_read += r.bytes_read;
    }
    Ok(out)
}

/// Re-place the shards `failed` of a segment being written onto other usable
/// disks (other failure domains first) by rebuilding them from the durable
/// ones; updates `seg`'s locations. Returns the shards still missing.
pub async fn replace_shards(store: &Arc<Store>, coded: &Coded, seg: &mut SegmentMeta, template: ShardHeader, failed: &[usize]) -> Vec<usize> {
    let used: Vec<u32> = seg.shards.iter().map(|l| l.disk).collect();
    let healthy: Vec<u32> = (0..seg.shards.len()).filter(|i| !failed.contains(i)).map(|i| seg.shards[i].disk).collect();
    let targets = store.place_extra(seg.id, &used, &healthy, failed.len());
    if targets.is_empty() {
        return failed.to_vec();
    }
    let plan: Vec<(usize, u32)> = failed.iter().copied().zip(targets).collect();
    // New shard files are garbage until the manifest that names them commits.
    let intents: Vec<(u8, u32)> = plan.iter().map(|(i, d)| (*i as u8, *d)).collect();
    let id = seg.id;
    if let Err(e) = store.meta_call(move |m| m.add_intent(id, intents)).await {
        tracing::warn!(error = %e, "could not record re-placement intent; not re-placing");
        return failed.to_vec();
    }
    let rebuilt = match rebuild_onto(store, coded, seg, template, &plan).await {
        Ok(r) => r.done,
        Err(e) => {
            tracing::warn!(segment = %format!("{:032x}", seg.id), error = %e, "re-placing failed shards did not work");
            Vec::new()
        }
    };
    for (i, disk) in &rebuilt {
        seg.shards[*i].disk = *disk;
        Metrics::inc(&store.metrics.shards_replaced);
        tracing::info!(segment = %format!("{:032x}", seg.id), shard = i, disk, "shard re-placed onto another disk during PUT");
    }
    failed.iter().copied().filter(|i| !rebuilt.iter().any(|(j, _)| j == i)).collect()
}

/// Before a node-side job: let node `reader` read the `sources` (shard index, disk) of segment
/// `segment` for the job's `timeout` (and a little more). Storage nodes serve other nodes' reads
/// only under such a grant; one that cannot be given is logged, and the job reads other
/// sources (or fails, and the gateway does the work).
pub(crate) async fn grant_reads(reader: &str, sources: &[(u8, &dyn ShardStore)], segment: u128, timeout: std::time::Duration) {
    let ttl = timeout + std::time::Duration::from_secs(10);
    let grants = sources.iter().map(|(index, d)| async move {
        if let Err(e) = d.grant_read(reader, segment, *index, ttl).await {
            tracing::debug!(segment = %format!("{segment:032x}"), shard = index, disk = d.id(), reader, error = %e, "could not grant a read for a node-side job");
        }
    });
    futures::future::join_all(grants).await;
}

/// How long a node may take to rebuild or copy one shard of `seg`: 30 s, plus 1 s per MiB.
pub(crate) fn node_rebuild_timeout(coded: &Coded, seg: &SegmentMeta) -> std::time::Duration {
    std::time::Duration::from_secs(30 + coded.layout.shard_data_len(seg.len) / (1 << 20))
}
