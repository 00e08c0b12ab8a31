//! The `ShardStore` seam: everything the gateway does with one disk's shards.

use kintsugi_disk::{DiskResult, ShardHeader};
use kintsugi_erasure::ChunkHash;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A message to a shard being written.
#[derive(Debug)]
pub enum ShardMsg {
    /// The next chunk and its BLAKE3.
    Chunk(Vec<u8>, ChunkHash),
    /// No more chunks: make the shard durable (segment length for the header).
    Finish(u64),
}

/// A shard write in progress: send chunks, then `Finish`; `done` yields the
/// shard hash once the shard is durable. Dropping `tx` without `Finish`
/// abandons the write and leaves nothing behind.
#[derive(Debug)]
pub struct ShardWrite {
    /// Where chunks go.
    pub tx: mpsc::Sender<ShardMsg>,
    /// The result: the shard hash over the chunk hashes, after fsync + rename.
    pub done: JoinHandle<DiskResult<[u8; 32]>>,
}

/// Verified chunks of one shard, in order.
pub type ChunkRx = mpsc::Receiver<DiskResult<Vec<u8>>>;

/// A disk as the placement and status code see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskInfo {
    /// Cluster-wide disk id.
    pub id: u32,
    /// Node holding it ("local" in the embedded store).
    pub node: String,
    /// Directory on its node.
    pub path: String,
    /// File-system capacity in bytes (0 when unknown).
    pub capacity: u64,
    /// Free bytes (0 when unknown).
    pub free: u64,
    /// The disk is missing, replaced or failing.
    pub failed: bool,
    /// Its node answers (always true for a local disk).
    pub reachable: bool,
}

/// One disk's shards, wherever the disk is.
#[async_trait::async_trait]
pub trait ShardStore: Send + Sync + std::fmt::Debug + 'static {
    /// Cluster-wide disk id.
    fn id(&self) -> u32;
    /// Failure domain for placement: distinct values never share a failure (a node; a disk in the embedded store).
    fn failure_domain(&self) -> u32;
    /// Zone (a failure domain above the node) for placement, when the node is labelled with one.
    fn zone(&self) -> Option<u32> {
        None
    }
    /// Placement and status view.
    fn info(&self) -> DiskInfo;
    /// True when new shards may go here and reads are worth trying.
    fn usable(&self) -> bool {
        let i = self.info();
        !i.failed && i.reachable
    }
    /// True when this disk's shards count as gone for good and repair must rebuild
    /// them elsewhere: the disk failed, or its node is lost (not merely down).
    fn lost(&self) -> bool {
        self.info().failed
    }
    /// Start writing a shard (temp name, fsync, rename on `Finish`).
    fn write(&self, header: ShardHeader) -> ShardWrite;
    /// Stream `count` verified chunks of a shard from chunk `first`; the
    /// shard's hash table must match `expected`. Errors arrive in the stream.
    fn read(&self, segment: u128, index: u8, expected: [u8; 32], first: u64, count: u64) -> ChunkRx;
    /// Verify a shard's header and hash table (every chunk too when `full`); returns its header.
    async fn check(&self, segment: u128, index: u8, expected: [u8; 32], full: bool) -> DiskResult<ShardHeader>;
    /// Delete a shard; false when it was not there.
    async fn delete(&self, segment: u128, index: u8) -> DiskResult<bool>;
    /// True while reads from this disk's node recently missed their hedge deadline.
    fn is_slow(&self) -> bool {
        false
    }
    /// A read missed its hedge deadline: prefer other disks' nodes for `d`.
    fn mark_slow(&self, _d: std::time::Duration) {}
    /// Re-check the disk's health (local disks look at their identity file).
    async fn probe(&self) {}
    /// The disk as a disk on a storage node, when it is one (for node-side rebuilds).
    fn remote(&self) -> Option<&crate::RemoteShards> {
        None
    }
}
