//! The `ShardStore` seam: everything the gateway does with one disk's shards.

use std::time::Duration;

use kintsugi_disk::{DiskError, ShardHeader};
use kintsugi_erasure::{ChunkHash, Coding};
use crate::proto::ShardSource;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::{ShardError, ShardResult};

/// A message to a shard's writer task (behind [`ShardWrite`]).
#[derive(Debug)]
pub(crate) enum ShardMsg {
    /// The next chunk and how its BLAKE3 is known.
    Chunk(Vec<u8>, Hashing),
    /// No more chunks: make the shard durable (segment length for the header).
    Finish(u64),
}

/// How a writer learns a chunk's BLAKE3. Hashing is CPU work: where the writer hashes,
/// it does so on a blocking thread, never on the async executor.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Hashing {
    /// The caller computed it (e.g. while encoding).
    Known(ChunkHash),
    /// The writer computes it.
    Compute,
    /// The sender claims it (bytes from the network): the writer computes it and refuses the
    /// chunk, and with it the shard, if the bytes do not match.
    Verify(ChunkHash),
}

impl Hashing {
    /// The chunk's hash, computing it where needed (call on a blocking thread); `Err(claimed)`
    /// when the bytes do not match a claimed hash.
    pub(crate) fn resolve(self, chunk: &[u8]) -> Result<ChunkHash, ChunkHash> {
        match self {
            Hashing::Known(h) => Ok(h),
            Hashing::Compute => Ok(kintsugi_erasure::chunk_hash(chunk)),
            Hashing::Verify(claimed) => {
                if kintsugi_erasure::chunk_hash(chunk) == claimed {
                    Ok(claimed)
                } else {
                    Err(claimed)
                }
            }
        }
    }
}

/// Why a shard write stored nothing (or not what was sent).
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The disk (local, or on a storage node) refused or failed the write, or its node was
    /// out of reach.
    #[error(transparent)]
    Shard(#[from] ShardError),
    /// The writer stopped without saying why (it was abandoned or aborted).
    #[error("the shard writer stopped early")]
    Stopped,
    /// The writer's task died.
    #[error("the shard writer task failed: {0}")]
    Task(String),
    /// The disk made a shard durable whose chunk hashes are not those sent.
    #[error("the disk stored the shard with another hash than was sent")]
    HashMismatch,
}

impl WriteError {
    /// True when the disk refused the write for want of space.
    pub fn is_full(&self) -> bool {
        matches!(self, WriteError::Shard(ShardError::Disk(d)) if d.is_full())
    }
}

impl From<DiskError> for WriteError {
    fn from(e: DiskError) -> Self {
        WriteError::Shard(ShardError::Disk(e))
    }
}

/// A shard write in progress: [`ShardWrite::append`] each chunk, then
/// [`ShardWrite::finish`] (or [`ShardWrite::close`] and later [`ShardWrite::durable`]) for the
/// shard hash once the shard is durable (fsync'd and renamed). Dropped or
/// [`ShardWrite::abandon`]ed before that, it leaves nothing behind.
#[derive(Debug)]
pub struct ShardWrite {
    tx: Option<mpsc::Sender<ShardMsg>>,
    done: Option<JoinHandle<ShardResult<[u8; 32]>>>,
}

impl ShardWrite {
    /// A write whose writer task takes messages from `tx` and answers through `done`.
    pub(crate) fn new(tx: mpsc::Sender<ShardMsg>, done: JoinHandle<ShardResult<[u8; 32]>>) -> Self {
        Self { tx: Some(tx), done: Some(done) }
    }

    /// Hand the next chunk (and its BLAKE3) to the writer. When the writer has stopped, the
    /// error says why (the write is over then).
    pub async fn append(&mut self, chunk: Vec<u8>, hash: ChunkHash) -> Result<(), WriteError> {
        self.send_chunk(chunk, Hashing::Known(hash)).await
    }

    /// Hand the next chunk to the writer, which computes its BLAKE3 off the async executor
    /// ([`ShardWrite::finish`] then checks the shard hash they make).
    pub async fn append_hashing(&mut self, chunk: Vec<u8>) -> Result<(), WriteError> {
        self.send_chunk(chunk, Hashing::Compute).await
    }

    /// Hand the next chunk, with the BLAKE3 its sender claims, to the writer: it checks the
    /// claim off the async executor, and a chunk that does not match fails the write
    /// (`DiskError::Corrupt`), storing nothing.
    pub async fn append_verified(&mut self, chunk: Vec<u8>, claimed: ChunkHash) -> Result<(), WriteError> {
        self.send_chunk(chunk, Hashing::Verify(claimed)).await
    }

    async fn send_chunk(&mut self, chunk: Vec<u8>, hashing: Hashing) -> Result<(), WriteError> {
        let sent = match &self.tx {
            Some(tx) => tx.send(ShardMsg::Chunk(chunk, hashing)).await.is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            Err(self.stopped().await)
        }
    }

    /// No more chunks: the writer makes the shard durable (`segment_len` goes into its header).
    /// A failure here surfaces from [`ShardWrite::durable`].
    pub async fn close(&mut self, segment_len: u64) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(ShardMsg::Finish(segment_len)).await;
        }
    }

    /// Wait until the shard is durable: its shard hash. Unclosed, the write is abandoned.
    pub async fn durable(mut self) -> Result<[u8; 32], WriteError> {
        self.tx = None;
        match self.done.take() {
            Some(h) => match h.await {
                Ok(r) => Ok(r?),
                Err(e) => Err(WriteError::Task(e.to_string())),
            },
            None => Err(WriteError::Stopped),
        }
    }

    /// Close and wait for durability; the shard must hash to `expected` (the chunk hashes
    /// sent, or the manifest's shard hash).
    pub async fn finish(mut self, segment_len: u64, expected: [u8; 32]) -> Result<[u8; 32], WriteError> {
        self.close(segment_len).await;
        match self.durable().await? {
            h if h == expected => Ok(h),
            _ => Err(WriteError::HashMismatch),
        }
    }

    /// Give the write up now: the writer stops and its partial file is removed.
    pub fn abandon(mut self) {
        self.tx = None;
        if let Some(h) = self.done.take() {
            h.abort();
        }
    }

    /// The writer's reason for stopping, once it has.
    async fn stopped(&mut self) -> WriteError {
        self.tx = None;
        match self.done.take() {
            Some(h) => match h.await {
                Ok(Err(e)) => WriteError::Shard(e),
                Ok(Ok(_)) => WriteError::Stopped,
                Err(e) => WriteError::Task(e.to_string()),
            },
            None => WriteError::Stopped,
        }
    }
}

/// Verified chunks of one shard, in order.
pub type ChunkRx = mpsc::Receiver<ShardResult<Vec<u8>>>;

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

/// A shard found by walking a disk: its header (with label) and shard hash, both verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundShard {
    /// The header and label.
    pub header: ShardHeader,
    /// `shard_hash` of its chunk hash table.
    pub hash: [u8; 32],
}

/// One page of a disk's shards ([`ShardStore::list`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShardPage {
    /// The shards that verified, in order.
    pub shards: Vec<FoundShard>,
    /// The last shard looked at: ask for the next page after it; `None` at the end.
    pub last: Option<(u128, u8)>,
}

/// Bytes of headers and labels one page of [`ShardStore::list`] holds at most (so it fits a
/// wire frame); a page has at least one shard, whatever its size.
pub const LIST_PAGE_BYTES: usize = 32 * 1024;

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
    async fn check(&self, segment: u128, index: u8, expected: [u8; 32], full: bool) -> ShardResult<ShardHeader>;
    /// Delete a shard; false when it was not there.
    async fn delete(&self, segment: u128, index: u8) -> ShardResult<bool>;
    /// The shards after `after`, in order, at most `limit` (and [`LIST_PAGE_BYTES`]); a shard
    /// that does not verify is skipped (and logged), not listed.
    async fn list(&self, after: Option<(u128, u8)>, limit: usize) -> ShardResult<ShardPage>;
    /// True while reads from this disk's node recently missed their hedge deadline.
    fn is_slow(&self) -> bool {
        false
    }
    /// A read missed its hedge deadline: prefer other disks' nodes for `d`.
    fn mark_slow(&self, _d: std::time::Duration) {}
    /// Re-check the disk's health (local disks look at their identity file).
    async fn probe(&self) {}
    /// Shard `index` (shard hash `hash`) of a segment on this disk as a source another storage
    /// node reads from (node-to-node copies and rebuilds); `None` when this disk is not on a
    /// storage node or its node has no address yet.
    fn node_source(&self, _index: u8, _hash: [u8; 32]) -> Option<ShardSource> {
        None
    }
    /// Have this disk's storage node write shard `header.index` of a segment itself, reading k
    /// of `sources` (or the one shard, for a copy) and checking the result against `expected`;
    /// answers the bytes it read. `timeout` bounds the whole job. A disk that is not on a
    /// storage node answers [`ShardError::NotOnANode`].
    async fn rebuild_here(&self, _header: &ShardHeader, _coding: Coding, _segment_len: u64, _expected: [u8; 32], _sources: Vec<ShardSource>, _timeout: Duration) -> ShardResult<u64> {
        Err(ShardError::NotOnANode { disk: self.id() })
    }
    /// Let storage node `reader` read shard `index` of `segment` from this disk for `ttl`: the
    /// source side of a job ([`ShardStore::rebuild_here`]) the gateway orders `reader`'s node to
    /// do. Storage nodes serve other nodes' reads only under such a grant. Nothing to do for
    /// a disk that is not on a storage node.
    async fn grant_read(&self, _reader: &str, _segment: u128, _index: u8, _ttl: Duration) -> ShardResult<()> {
        Ok(())
    }
}
