//! Rebuilding a shard on the storage node that will hold it: the node reads
//! k healthy shards of the segment — from its own disks, or straight from the
//! other nodes over QUIC — decodes the missing one stripe by stripe, writes it
//! to its disk and keeps it only if it hashes to what the manifest says. So
//! repair traffic flows node to node instead of all through the gateway.
//!
//! When a source *is* the shard wanted (same index, on another disk: a drain or
//! rebalance moving it), the node copies it straight — every chunk verified where
//! it is read and again here, the whole against the manifest's shard hash — and
//! decodes from the other sources only if that copy fails.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use kintsugi_disk::ShardHeader;
use kintsugi_erasure::Coding;
use kintsugi_net::Client;

use crate::local::LocalShards;
use crate::proto::ShardSource;
use crate::remote::{NodeLink, RemoteShards};
use crate::segment::{rebuild_stripes, ReadCounters, RebuildOutcome, RebuildTarget, SegmentError, ShardSlot, StripeReader, DEFAULT_HEDGE_AFTER};
use crate::shards::{ShardStore, ShardWrite, WriteError};

/// One rebuild job as the node received it.
pub(crate) struct RebuildJob {
    /// Header of the shard to write.
    pub header: ShardHeader,
    /// Codec id, k, m, chunk size.
    pub coding: Coding,
    /// Segment length.
    pub segment_len: u64,
    /// Hash the rebuilt shard must have.
    pub expected: [u8; 32],
    /// Where the healthy shards are.
    pub sources: Vec<ShardSource>,
}

/// Where the node reads sources from.
pub(crate) struct Peers<'a> {
    /// This node's name (sources on it are read from its own disks).
    pub me: &'a str,
    /// This node's disks by uuid.
    pub local: &'a HashMap<u128, LocalShards>,
    /// Links to other nodes, kept across rebuilds so their QUIC connections are reused.
    pub links: &'a PeerLinks,
    /// Where the node counts what its reads of sources found.
    pub counters: &'a ReadCounters,
}

/// Links to the other nodes, by name.
#[derive(Debug)]
pub(crate) struct PeerLinks {
    client: Client,
    deadline: Duration,
    links: parking_lot::Mutex<HashMap<String, Arc<NodeLink>>>,
}

impl PeerLinks {
    /// Reach peers with `client` (this node's certificate), each step under `deadline`.
    pub fn new(client: Client, deadline: Duration) -> Self {
        Self { client, deadline, links: parking_lot::Mutex::new(HashMap::new()) }
    }

    /// The link to `node` at `addr` (re-pointed when the node moved).
    fn get(&self, node: &str, addr: &str) -> Arc<NodeLink> {
        let addr = addr.parse().ok();
        let mut links = self.links.lock();
        let link = links.entry(node.to_owned()).or_insert_with(|| Arc::new(NodeLink::new(node, 0, addr, self.client.clone(), self.deadline))).clone();
        if let Some(a) = addr {
            link.set_addr(a);
        }
        link
    }
}

fn source_store(p: &Peers<'_>, s: &ShardSource) -> Option<Arc<dyn ShardStore>> {
    if s.node == p.me {
        return p.local.get(&s.disk).map(|d| Arc::new(d.clone()) as Arc<dyn ShardStore>);
    }
    Some(Arc::new(RemoteShards::new(0, s.disk, "", p.links.get(&s.node, &s.addr))))
}

/// Why a node-side rebuild stored nothing (sent back to the gateway, which then rebuilds the
/// shard itself).
#[derive(Debug, thiserror::Error)]
pub(crate) enum RebuildError {
    /// The request's coding is not one this build can decode.
    #[error("the request's coding is invalid: {0}")]
    Coding(#[from] kintsugi_erasure::CodecError),
    /// Shard indexes outside k+m.
    #[error("shard indexes out of range")]
    BadIndexes,
    /// Fewer than k sources could be read.
    #[error("fewer than k={k} sources readable ({known} known): {why}")]
    TooFewSources {
        /// Shards needed.
        k: u8,
        /// Sources left when the last one failed.
        known: usize,
        /// What the last failure was.
        why: String,
    },
    /// Decoding a stripe failed (or its task died).
    #[error("decoding a stripe failed: {0}")]
    Decode(String),
    /// The rebuilt shard was not stored (wrong hash, or the write failed).
    #[error(transparent)]
    Stored(#[from] RebuildOutcome),
}

/// Rebuild `job` onto `target`; answers the chunk bytes read from the sources. The decode is
/// the gateway's: the same [`StripeReader`] (data shards first, another source when one fails,
/// a hedged read beside a slow one) and the same [`rebuild_stripes`] loop.
pub(crate) async fn rebuild(p: &Peers<'_>, target: &LocalShards, job: RebuildJob) -> Result<u64, RebuildError> {
    let layout = job.coding.layout()?;
    let codec = job.coding.codec()?;
    let (scheme, k) = (layout.scheme, job.coding.k);
    let want = usize::from(job.header.index);
    let width = scheme.total();
    if want >= width || job.sources.iter().any(|s| usize::from(s.index) >= width) {
        return Err(RebuildError::BadIndexes);
    }
    let stripes = layout.stripe_count(job.segment_len);
    if let Some(src) = job.sources.iter().find(|s| usize::from(s.index) == want) {
        match copy_straight(p, target, &job, src, stripes).await {
            Ok(read) => return Ok(read),
            Err(e) if job.sources.iter().filter(|s| usize::from(s.index) != want).count() >= usize::from(k) => {
                tracing::warn!(segment = %format!("{:032x}", job.header.segment_id), shard = want, error = %e, "straight copy from the source node failed; decoding from the other shards");
            }
            Err(e) => return Err(e),
        }
    }
    // One slot per shard index: the first source given for it (the gateway lists the slow last).
    let mut slots: Vec<ShardSlot> = (0..width).map(|_| ShardSlot { store: None, hash: [0; 32] }).collect();
    for s in job.sources.iter().filter(|s| usize::from(s.index) != want) {
        let slot = &mut slots[usize::from(s.index)];
        if slot.store.is_none() {
            *slot = ShardSlot { store: source_store(p, s), hash: s.hash };
        }
    }
    let known = slots.iter().filter(|s| s.store.is_some()).count();
    if known < usize::from(k) {
        return Err(RebuildError::TooFewSources { k, known, why: "not enough sources given".into() });
    }
    let mut reader = StripeReader::new(job.header.segment_id, slots, usize::from(k), 0..stripes, &[want], DEFAULT_HEDGE_AFTER, p.counters);
    let mut targets = [RebuildTarget::new(want, target.write(job.header.clone()))];
    let bytes_read = rebuild_stripes(&mut reader, &codec, stripes, &mut targets).await.map_err(|e| match e {
        SegmentError::TooFewShards { have, .. } => RebuildError::TooFewSources { k, known, why: format!("only {have} could be read") },
        other => RebuildError::Decode(other.to_string()),
    })?;
    let [t] = targets;
    t.finish(job.segment_len, job.expected).await?;
    Ok(bytes_read)
}

/// Copy the shard straight from `src` (the same shard on another disk): answers the bytes read.
async fn copy_straight(p: &Peers<'_>, target: &LocalShards, job: &RebuildJob, src: &ShardSource, stripes: u64) -> Result<u64, RebuildError> {
    let tried = |why: String| RebuildError::TooFewSources { k: 1, known: 0, why };
    let store = source_store(p, src).ok_or_else(|| tried(format!("source disk {:032x} is not on this node", src.disk)))?;
    let mut rx = store.read(job.header.segment_id, src.index, src.hash, 0, stripes);
    let mut w = target.write(job.header.clone());
    let mut bytes_read = 0u64;
    for _ in 0..stripes {
        let chunk = match rx.recv().await {
            Some(Ok(chunk)) => chunk,
            Some(Err(e)) => return Err(tried(e.to_string())),
            None => return Err(tried("stream ended early".into())),
        };
        bytes_read += chunk.len() as u64;
        // Verified by the source's disk against its hash table; the writer hashes it again
        // for ours, and `finish` keeps the copy only if that makes the manifest's shard hash.
        w.append_hashing(chunk).await.map_err(|e| RebuildError::from(RebuildOutcome::Write(e)))?;
    }
    finish(w, job).await.map(|()| bytes_read)
}

/// Keep the copied shard only if the disk stored it with the manifest's shard hash.
async fn finish(w: ShardWrite, job: &RebuildJob) -> Result<(), RebuildError> {
    match w.finish(job.segment_len, job.expected).await {
        Ok(_) => Ok(()),
        Err(WriteError::HashMismatch) => Err(RebuildOutcome::StoredHashMismatch.into()),
        Err(e) => Err(RebuildOutcome::Write(e).into()),
    }
}
