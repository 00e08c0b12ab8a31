//! A disk in this process: the `ShardStore` without a socket. Blocking file
//! work runs on tokio's blocking pool.

use std::sync::Arc;

use kintsugi_disk::{Disk, DiskError, DiskResult, ShardHeader, ShardReader};
use kintsugi_erasure::ChunkHash;
use tokio::sync::mpsc;

use crate::error::ShardResult;
use crate::shards::{ChunkRx, DiskInfo, FoundShard, ShardMsg, ShardPage, ShardStore, ShardWrite, LIST_PAGE_BYTES};

/// Chunks read ahead of the consumer per shard stream.
const READ_AHEAD: usize = 4;

/// A local disk as a shard store.
#[derive(Debug, Clone)]
pub struct LocalShards {
    disk: Arc<Disk>,
    node: String,
    domain: u32,
}

impl LocalShards {
    /// Wrap a disk; `domain` is its failure domain for placement.
    pub fn new(disk: Arc<Disk>, node: &str, domain: u32) -> Self {
        Self { disk, node: node.to_owned(), domain }
    }

    /// The disk.
    pub fn disk(&self) -> &Arc<Disk> {
        &self.disk
    }
}

/// Offset and length of chunk `chunk` inside a shard with this header.
pub(crate) fn chunk_geometry(h: &ShardHeader, chunk: u64) -> DiskResult<(u64, u32)> {
    let invalid = |e: kintsugi_erasure::CodecError| DiskError::Invalid { detail: e.to_string() };
    let layout = h.coding().layout().map_err(invalid)?;
    let g = layout.stripe(h.segment_len, chunk).map_err(invalid)?;
    Ok((g.shard_offset, g.chunk_len))
}

/// Read and verify every chunk of an open shard.
pub(crate) fn verify_all(r: &ShardReader) -> DiskResult<()> {
    for c in 0..u64::from(r.header().chunks) {
        let (off, len) = chunk_geometry(r.header(), c)?;
        r.read_chunk(c, off, len)?;
    }
    Ok(())
}

impl LocalShards {
    /// [`ShardStore::read`], and the shard's chunk hash table (checked against `expected`)
    /// before the first chunk: what a node answers `ReadShard` with. The table's sender is
    /// dropped when the shard cannot be opened (the error is the stream's first item).
    pub fn read_with_table(&self, segment: u128, index: u8, expected: [u8; 32], first: u64, count: u64) -> (tokio::sync::oneshot::Receiver<Vec<ChunkHash>>, ChunkRx) {
        let (table_tx, table_rx) = tokio::sync::oneshot::channel();
        (table_rx, spawn_read(self.disk.clone(), segment, index, expected, first..first.saturating_add(count), Some(table_tx)))
    }
}

/// Read and verify chunks `chunks` of a shard on a blocking thread; `table` gets the shard's
/// chunk hash table first.
fn spawn_read(disk: Arc<Disk>, segment: u128, index: u8, expected: [u8; 32], chunks: std::ops::Range<u64>, table: Option<tokio::sync::oneshot::Sender<Vec<ChunkHash>>>) -> ChunkRx {
    let (tx, rx) = mpsc::channel(READ_AHEAD);
    tokio::task::spawn_blocking(move || {
        let r = match disk.open_shard(segment, index, Some(&expected)) {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.blocking_send(Err(e.into()));
                return;
            }
        };
        if let Some(t) = table {
            let _ = t.send(r.chunk_hashes().to_vec());
        }
        for c in chunks {
            let chunk = chunk_geometry(r.header(), c).and_then(|(off, len)| r.read_chunk(c, off, len)).map_err(Into::into);
            let failed = chunk.is_err();
            if tx.blocking_send(chunk).is_err() || failed {
                return; // reader gone, or the error ends the stream
            }
        }
    });
    rx
}

#[async_trait::async_trait]
impl ShardStore for LocalShards {
    fn id(&self) -> u32 {
        self.disk.id()
    }

    fn failure_domain(&self) -> u32 {
        self.domain
    }

    fn info(&self) -> DiskInfo {
        let (capacity, free) = self.disk.space();
        DiskInfo {
            id: self.disk.id(),
            node: self.node.clone(),
            path: self.disk.root().display().to_string(),
            capacity,
            free,
            failed: self.disk.is_failed(),
            reachable: true,
        }
    }

    fn usable(&self) -> bool {
        !self.disk.is_failed()
    }

    fn write(&self, header: ShardHeader) -> ShardWrite {
        let disk = self.disk.clone();
        let disk_id = disk.id();
        let (tx, mut rx) = mpsc::channel::<ShardMsg>(2);
        let done = tokio::spawn(async move {
            let (segment, index) = (header.segment_id, header.index);
            let write = async move {
                let mut w = spawn_blocking(move || disk.create_shard(header)).await?;
                while let Some(msg) = rx.recv().await {
                    match msg {
                        ShardMsg::Chunk(chunk, hashing) => {
                            let id = disk_id;
                            w = spawn_blocking(move || {
                                let hash = hashing.resolve(&chunk).map_err(|_| DiskError::Corrupt {
                                    disk: id,
                                    shard: Disk::shard_name(segment, index),
                                    detail: "a chunk arrived with a BLAKE3 that does not match its bytes".into(),
                                })?;
                                w.append(&chunk, hash).map(|()| w)
                            })
                            .await?;
                        }
                        ShardMsg::Finish(len) => return spawn_blocking(move || w.finish(len)).await,
                    }
                }
                // Sender dropped without Finish: abandoned; dropping `w` removes the temp file.
                Err(DiskError::Invalid { detail: "shard write abandoned before it finished".into() })
            };
            write.await.map_err(Into::into)
        });
        ShardWrite::new(tx, done)
    }

    fn read(&self, segment: u128, index: u8, expected: [u8; 32], first: u64, count: u64) -> ChunkRx {
        spawn_read(self.disk.clone(), segment, index, expected, first..first.saturating_add(count), None)
    }

    async fn check(&self, segment: u128, index: u8, expected: [u8; 32], full: bool) -> ShardResult<ShardHeader> {
        let disk = self.disk.clone();
        spawn_blocking(move || {
            let r = disk.open_shard(segment, index, Some(&expected))?;
            if full {
                verify_all(&r)?;
            }
            Ok(r.header().clone())
        })
        .await
        .map_err(Into::into)
    }

    async fn list(&self, after: Option<(u128, u8)>, limit: usize) -> ShardResult<ShardPage> {
        let disk = self.disk.clone();
        spawn_blocking(move || {
            let mut page = ShardPage::default();
            let mut bytes = 0usize;
            for (segment, index) in disk.list_shards(after, limit.max(1))? {
                if !page.shards.is_empty() && bytes >= LIST_PAGE_BYTES {
                    break;
                }
                page.last = Some((segment, index));
                match disk.open_shard(segment, index, None) {
                    Ok(r) => {
                        bytes += r.header().encoded_len() as usize + 64;
                        page.shards.push(FoundShard { hash: kintsugi_erasure::shard_hash(r.chunk_hashes()), header: r.header().clone() });
                    }
                    Err(DiskError::Missing { .. }) => {} // deleted since it was listed
                    Err(e @ DiskError::Corrupt { .. }) => tracing::warn!(error = %e, "a damaged shard is left out of the listing"),
                    Err(e) => return Err(e),
                }
            }
            Ok(page)
        })
        .await
        .map_err(Into::into)
    }

    async fn delete(&self, segment: u128, index: u8) -> ShardResult<bool> {
        let disk = self.disk.clone();
        Ok(spawn_blocking(move || disk.delete_shard(segment, index)).await?)
    }

    async fn probe(&self) {
        let disk = self.disk.clone();
        let _ = tokio::task::spawn_blocking(move || disk.check()).await;
    }
}

/// Run blocking disk work; a panicked task becomes an I/O error, not a panic here.
pub(crate) async fn spawn_blocking<T: Send + 'static>(f: impl FnOnce() -> DiskResult<T> + Send + 'static) -> DiskResult<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(DiskError::Invalid { detail: format!("disk task failed: {e}") }),
    }
}
