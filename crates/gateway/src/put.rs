//! The PUT pipeline: body stream → stripes → RS encode + BLAKE3 (blocking pool)
//! → k+m shard writers in parallel → fsync + rename. MD5 for the ETag runs on
//! its own blocking thread. Memory stays bounded by a few stripes.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use kintsugi_cluster::{Metrics, Store, WriteHold};
use kintsugi_disk::ShardHeader;
use kintsugi_erasure::{encode_stripe, shard_hash, ChunkHash};
use kintsugi_meta::{SegmentId, SegmentMeta, ShardLabel, ShardLoc, NO_DISK};
use kintsugi_storage::{ShardWrite, WriteError};
use md5::{Digest, Md5};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::{GatewayError, GwResult};

/// The largest single PUT or multipart part, as S3 allows (5 GiB); larger objects are uploaded
/// in parts.
pub const MAX_UPLOAD: u64 = 5 << 30;

/// Who owns the segments being written (recorded in shard headers and labels).
#[derive(Clone, Debug)]
pub struct Owner {
    /// Object version id or upload id.
    pub id: u128,
    /// Part number, 0 for a plain PUT.
    pub part_number: u32,
    /// The encoded [`ShardLabel`] every shard carries (empty: none).
    pub label: Arc<[u8]>,
}

impl Owner {
    /// An owner whose shards carry `label` (so metadata can be rebuilt from them).
    pub fn labelled(id: u128, part_number: u32, label: &ShardLabel) -> Self {
        let label = match label.encode() {
            Ok(b) => Arc::from(b),
            Err(e) => {
                tracing::warn!(error = %e, "a shard label could not be encoded; the shards go without one");
                Arc::from(&[][..])
            }
        };
        Self { id, part_number, label }
    }
}

/// Result of writing a body.
#[derive(Debug)]
pub struct Written {
    /// Bytes written.
    pub size: u64,
    /// MD5 of the body.
    pub md5: [u8; 16],
    /// Durable segments, in order — except an inline segment's, whose bytes are in `inline`
    /// until the commit (or [`Written::keep_inline`]) stores them.
    pub segments: Vec<SegmentMeta>,
    /// The bytes of the one inline segment of `segments`, not stored yet: the object's commit
    /// stores them with it (`RocksMeta::put_object_inline`, one metadata write), or
    /// [`Written::keep_inline`] before another commit. Dropping them makes that commit fail
    /// (`InlineDamaged`), never commit an object without its bytes.
    pub inline: Option<PendingInline>,
    /// Claims on the segments' write intents, so that the intent sweep leaves them alone
    /// (`kintsugi_cluster::writes`). Keep them until the commit or the discard has been applied.
    pub holds: Vec<WriteHold>,
}

/// A small body's bytes, to be stored as its inline segment with the object's commit.
#[derive(Debug)]
pub struct PendingInline {
    /// The inline segment.
    pub segment: SegmentId,
    /// Its bytes.
    pub data: Vec<u8>,
}

impl Written {
    /// Store the pending inline bytes on their own, with a write intent (`PutInline`), for a
    /// caller whose commit does not carry them: after this, every segment is durable.
    pub async fn keep_inline(&mut self, store: &Arc<Store>) -> GwResult<()> {
        if let Some(p) = self.inline.take() {
            self.holds.push(store.writes.hold(p.segment));
            store.meta_call(move |m| m.put_inline(p.segment, p.data)).await?;
        }
        Ok(())
    }
}

struct OpenSegment {
    id: SegmentId,
    disks: Vec<u32>,
    /// Live shard writers; `None` once given up (or never started: `NO_DISK`).
    writers: Vec<Option<ShardWrite>>,
    /// Chunk hashes per shard: the gateway's own record of what each shard must hash to.
    hashes: Vec<Vec<ChunkHash>>,
    failed: Vec<Option<String>>,
    /// Per shard: given up because its disk ran out of space.
    full: Vec<bool>,
    len: u64,
    /// Header of shard 0 (the others differ only in index).
    template: ShardHeader,
}

impl OpenSegment {
    /// Give up shard `i` after its writer failed with `e` (a disk out of space leaves placement).
    fn writer_failed(&mut self, store: &Store, i: usize, e: &WriteError) {
        if e.is_full() {
            store.space.note_full(self.disks[i]);
            self.full[i] = true;
        }
        self.give_up(i, e.to_string());
    }

    fn give_up(&mut self, i: usize, why: String) {
        if let Some(w) = self.writers[i].take() {
            w.abandon();
        }
        tracing::warn!(segment = %format!("{:032x}", self.id), shard = i, disk = self.disks[i], why, "shard write given up");
        self.failed[i] = Some(why);
    }

    fn failures(&self) -> usize {
        self.failed.iter().filter(|f| f.is_some()).count()
    }
}

struct SegmentSink<'a> {
    store: &'a Arc<Store>,
    owner: Owner,
    started: Vec<SegmentId>,
    /// Claims on `started`'s intents, taken before each intent is proposed.
    holds: Vec<WriteHold>,
    open: Option<OpenSegment>,
    done: Vec<JoinHandle<GwResult<SegmentMeta>>>,
}

impl SegmentSink<'_> {
    async fn start_segment(&mut self) -> GwResult<()> {
        let id: SegmentId = rand::random();
        // NO_DISK where no failure domain may take a shard now: written by nobody, recorded so.
        let disks = self.store.place(id, &[])?;
        let shards: Vec<(u8, u32)> = disks.iter().enumerate().filter(|(_, d)| **d != NO_DISK).map(|(i, d)| (i as u8, *d)).collect();
        self.started.push(id);
        self.holds.push(self.store.writes.hold(id));
        self.store.meta_call(move |m| m.add_intent(id, shards)).await?;
        let s = self.store.layout.scheme;
        let n = disks.len();
        let mut seg = OpenSegment {
            id,
            disks: disks.clone(),
            writers: Vec::with_capacity(n),
            hashes: vec![Vec::new(); n],
            failed: vec![None; n],
            full: vec![false; n],
            len: 0,
            template: ShardHeader {
                codec: self.store.codec.id().as_u8(),
                k: s.k,
                m: s.m,
                index: 0,
                chunk_size: self.store.layout.chunk_size,
                segment_no: u32::try_from(self.started.len() - 1).unwrap_or(u32::MAX),
                segment_id: id,
                owner_id: self.owner.id,
                part_number: self.owner.part_number,
                segment_len: 0,
                data_len: 0,
                chunks: 0,
                label: self.owner.label.clone(),
            },
        };
        for (i, d) in disks.iter().enumerate() {
            if *d == NO_DISK {
                seg.writers.push(None);
                seg.failed[i] = Some("no failure domain could take it (nodes down)".into());
                continue;
            }
            let mut header = seg.template.clone();
            header.index = i as u8;
            seg.writers.push(Some(self.store.disk(*d)?.write(header)));
        }
        self.open = Some(seg);
        Ok(())
    }

    /// The most shard writers a segment may lose and still commit.
    fn tolerable_failures(&self) -> usize {
        self.store.total_shards() - self.store.write_quorum
    }

    /// Encode one stripe of `data` and hand its chunks to the shard writers.
    async fn push_stripe(&mut self, data: Bytes, last: bool) -> GwResult<()> {
        if self.open.is_none() {
            self.start_segment().await?;
        }
        let tolerable = self.tolerable_failures();
        let stall = self.store.write_stall;
        let Some(seg) = self.open.as_mut() else {
            return Err(GatewayError::Internal("no open segment".into()));
        };
        let layout = self.store.layout;
        let seg_len_after = seg.len + data.len() as u64;
        let stripe_idx = seg.len / layout.stripe_data_size();
        let chunk_len = if last {
            layout.stripe(seg_len_after, stripe_idx)?.chunk_len
        } else {
            layout.chunk_size
        };
        let codec = self.store.codec.clone();
        let enc = tokio::task::spawn_blocking(move || encode_stripe(codec.as_ref(), &data, chunk_len)).await??;
        for (i, (chunk, hash)) in enc.chunks.into_iter().zip(enc.hashes).enumerate() {
            seg.hashes[i].push(hash);
            let Some(w) = seg.writers[i].as_mut() else { continue };
            match tokio::time::timeout(stall, w.append(chunk, hash)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => seg.writer_failed(self.store, i, &e), // the writer stopped: its reason
                Err(_) => seg.give_up(i, format!("disk took no data for {stall:?}")),
            }
            if seg.failures() > tolerable {
                let lost: Vec<usize> = (0..seg.failed.len()).filter(|i| seg.failed[*i].is_some()).collect();
                return Err(quorum_lost(seg, &lost, self.store.total_shards() - seg.failures(), self.store.write_quorum));
            }
        }
        seg.len = seg_len_after;
        if seg.len >= self.store.segment_size {
            self.finish_segment().await?;
        }
        Ok(())
    }

    async fn finish_segment(&mut self) -> GwResult<()> {
        let Some(mut seg) = self.open.take() else { return Ok(()) };
        for w in seg.writers.iter_mut().flatten() {
            // A writer that already died says why when settled.
            w.close(seg.len).await;
        }
        let store = self.store.clone();
        self.done.push(tokio::spawn(async move { settle_segment(store, seg).await }));
        Ok(())
    }

    async fn collect(&mut self) -> GwResult<Vec<SegmentMeta>> {
        let mut out = Vec::with_capacity(self.done.len());
        let mut first_err = None;
        for h in self.done.drain(..) {
            match h.await {
                Ok(Ok(s)) => out.push(s),
                Ok(Err(e)) => first_err = first_err.or(Some(e)),
                Err(e) => first_err = first_err.or(Some(e.into())),
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }
}

/// Wait for a segment's shard writers; re-place shards that failed by
/// rebuilding them from the durable ones onto other disks; accept the
/// segment with every shard durable, or — when no other disk can take the
/// missing shards — with at least the write quorum (the rest is left to repair).
async fn settle_segment(store: Arc<Store>, mut seg: OpenSegment) -> GwResult<SegmentMeta> {
    let deadline = store.write_stall;
    for i in 0..seg.disks.len() {
        let Some(w) = seg.writers[i].take() else { continue };
        let want = shard_hash(&seg.hashes[i]);
        let why = match tokio::time::timeout(deadline, w.durable()).await {
            Ok(Ok(hash)) if hash == want => continue,
            Ok(Ok(_)) => "the disk wrote a shard with another hash than was sent".to_owned(),
            Ok(Err(e)) => {
                seg.writer_failed(&store, i, &e);
                continue;
            }
            Err(_) => format!("no durable answer within {deadline:?}"),
        };
        seg.give_up(i, why);
    }
    let shards: Vec<ShardLoc> = seg.disks.iter().zip(&seg.hashes).map(|(d, h)| ShardLoc { disk: *d, hash: shard_hash(h) }).collect();
    let mut meta = SegmentMeta { id: seg.id, len: seg.len, shards };
    let failed: Vec<usize> = (0..seg.disks.len()).filter(|i| seg.failed[*i].is_some()).collect();
    if failed.is_empty() {
        return Ok(meta);
    }
    let coded = store.coded(&store.coding())?;
    let missing = kintsugi_cluster::replace_shards(&store, &coded, &mut meta, seg.template.clone(), &failed).await;
    let durable = meta.shards.len() - missing.len();
    if missing.is_empty() {
        return Ok(meta);
    }
    if durable >= store.write_quorum {
        // Stored nowhere: the index files them under NO_DISK, so the ledger counts the segment
        // at risk and repair rebuilds them as soon as a failure domain can take them.
        for &i in &missing {
            meta.shards[i].disk = NO_DISK;
        }
        Metrics::inc(&store.metrics.shards_pending_repair);
        tracing::warn!(segment = %format!("{:032x}", seg.id), missing = missing.len(), durable, "segment committed at write quorum; missing shards are left to repair");
        return Ok(meta);
    }
    Err(quorum_lost(&seg, &missing, durable, store.write_quorum))
}

/// The error of a segment left with fewer than `need` durable shards (`lost`: the shards not
/// stored): the store is full when space decided it — had the disks that ran out of space
/// taken their shards, the quorum would have been met.
fn quorum_lost(seg: &OpenSegment, lost: &[usize], durable: usize, need: usize) -> GatewayError {
    let full = lost.iter().filter(|i| seg.full.get(**i).copied().unwrap_or(false)).count();
    if full > 0 && durable + full >= need {
        GatewayError::StorageFull { full, durable, need }
    } else {
        GatewayError::WriteQuorum { durable, need }
    }
}

/// Write a body as erasure-coded segments — or, when small, as an inline segment whose bytes
/// are in [`Written::inline`], not stored yet: the caller's commit must store them
/// (`put_object_inline`) or call [`Written::keep_inline`] first; a commit of a manifest whose
/// inline bytes are not stored is refused (`InlineDamaged`). On error every shard written so
/// far is handed to garbage collection and nothing is referenced.
pub async fn write_body<S, E>(store: &Arc<Store>, body: S, owner: Owner, expected_len: Option<u64>) -> GwResult<Written>
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
    E: std::fmt::Display,
{
    write_body_up_to(store, body, owner, expected_len, MAX_UPLOAD, true).await
}

/// [`write_body`] of a body of at most `max` bytes (a sealed body is longer than the
/// plaintext it holds, which is what `MAX_UPLOAD` bounds); without `md5` the body's MD5 is
/// not computed (`Written::md5` means nothing then: a sealed body's is of no use, its plaintext's is
/// taken as it is sealed).
///
/// A body of an object (not of a part) no longer than the store's inline limit is kept with
/// the metadata as one inline segment instead (see `kintsugi_meta`'s `inline.rs`): no shard
/// files; its bytes wait in [`Written::inline`] for the commit.
pub async fn write_body_up_to<S, E>(store: &Arc<Store>, mut body: S, owner: Owner, expected_len: Option<u64>, max: u64, md5: bool) -> GwResult<Written>
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
    E: std::fmt::Display,
{
    let limit = store.inline_max.min(max);
    if owner.part_number != 0 || limit == 0 || expected_len.is_some_and(|n| n > limit) {
        return write_coded(store, body, owner, expected_len, max, md5).await;
    }
    // Take the body until it ends (inline) or passes the limit (coded, from what was taken).
    let mut head = BytesMut::new();
    while let Some(item) = body.next().await {
        let bytes = item.map_err(|e| GatewayError::from_body_error(e.to_string()))?;
        head.extend_from_slice(&bytes);
        if head.len() as u64 > limit {
            let taken = futures::stream::iter([Ok::<Bytes, String>(head.freeze())]);
            let rest = body.map(|item| item.map_err(|e| e.to_string()));
            return write_coded(store, taken.chain(rest), owner, expected_len, max, md5).await;
        }
    }
    write_inline(store, head.freeze(), expected_len, md5).await
}

/// Keep a small body with the metadata: one inline segment (none for an empty body), whose
/// bytes the commit stores ([`Written::inline`]).
async fn write_inline(store: &Arc<Store>, data: Bytes, expected_len: Option<u64>, md5: bool) -> GwResult<Written> {
    let size = data.len() as u64;
    if let Some(exp) = expected_len.filter(|&e| e != size) {
        return Err(GatewayError::IncompleteBody { got: size, expected: exp });
    }
    let md5: [u8; 16] = if md5 { Md5::digest(&data).into() } else { [0; 16] };
    if data.is_empty() {
        return Ok(Written { size, md5, segments: Vec::new(), inline: None, holds: Vec::new() });
    }
    // The metadata file system keeps its reserve (as `Store::place` does for shards), all
    // the more as these bytes go there.
    store.meta_room()?;
    let id: SegmentId = rand::random();
    Metrics::inc(&store.metrics.inline_writes);
    store.metrics.bytes_written.fetch_add(size, std::sync::atomic::Ordering::Relaxed);
    let inline = Some(PendingInline { segment: id, data: Vec::from(data) });
    Ok(Written { size, md5, segments: vec![SegmentMeta { id, len: size, shards: Vec::new() }], inline, holds: Vec::new() })
}

/// [`write_body_up_to`] as erasure-coded segments.
async fn write_coded<S, E>(store: &Arc<Store>, body: S, owner: Owner, expected_len: Option<u64>, max: u64, md5: bool) -> GwResult<Written>
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
    E: std::fmt::Display,
{
    let mut sink = SegmentSink { store, owner, started: Vec::new(), holds: Vec::new(), open: None, done: Vec::new() };
    let result = write_inner(&mut sink, body, expected_len, max, md5).await;
    match result {
        Ok(w) => Ok(w),
        Err(e) => {
            if let Some(seg) = sink.open.take() {
                // Unclosed writes are abandoned; wait until each has removed its temp file.
                for w in seg.writers.into_iter().flatten() {
                    let _ = w.durable().await;
                }
            }
            let _ = sink.collect().await;
            let started = std::mem::take(&mut sink.started);
            if !started.is_empty() {
                if let Err(ge) = store.meta_call(move |m| m.intents_to_garbage(&started)).await {
                    tracing::warn!(error = %ge, "could not hand failed PUT's shards to GC; the intent sweep collects them later");
                }
            }
            Err(e)
        }
    }
}

async fn write_inner<S, E>(sink: &mut SegmentSink<'_>, mut body: S, expected_len: Option<u64>, max: u64, md5: bool) -> GwResult<Written>
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
    E: std::fmt::Display,
{
    if let Some(exp) = expected_len.filter(|&e| e > max) {
        return Err(GatewayError::EntityTooLarge { size: exp, max });
    }
    let stripe = usize::try_from(sink.store.layout.stripe_data_size())
        .map_err(|_| GatewayError::Internal("stripe too large".into()))?;
    let (md5_tx, mut md5_rx) = mpsc::channel::<Bytes>(64);
    let md5_tx = md5.then_some(md5_tx);
    let md5_task = tokio::task::spawn_blocking(move || {
        let mut h = Md5::new();
        while let Some(b) = md5_rx.blocking_recv() {
            h.update(&b);
        }
        let out: [u8; 16] = h.finalize().into();
        out
    });
    let mut buf = BytesMut::with_capacity(stripe);
    let mut size = 0u64;
    while let Some(item) = body.next().await {
        let mut bytes = item.map_err(|e| GatewayError::from_body_error(e.to_string()))?;
        size += bytes.len() as u64;
        if size > max {
            return Err(GatewayError::EntityTooLarge { size, max });
        }
        if let Some(exp) = expected_len {
            if size > exp {
                return Err(GatewayError::IncompleteBody { got: size, expected: exp });
            }
        }
        if let Some(tx) = &md5_tx {
            let _ = tx.send(bytes.clone()).await;
        }
        while !bytes.is_empty() {
            let take = (stripe - buf.len()).min(bytes.len());
            buf.extend_from_slice(&bytes.split_to(take));
            if buf.len() == stripe {
                let full = std::mem::replace(&mut buf, BytesMut::with_capacity(stripe)).freeze();
                sink.push_stripe(full, false).await?;
            }
        }
    }
    if let Some(exp) = expected_len {
        if size != exp {
            return Err(GatewayError::IncompleteBody { got: size, expected: exp });
        }
    }
    if !buf.is_empty() {
        sink.push_stripe(buf.freeze(), true).await?;
    }
    sink.finish_segment().await?;
    drop(md5_tx);
    let md5 = md5_task.await?;
    let segments = sink.collect().await?;
    sink.store.metrics.bytes_written.fetch_add(size, std::sync::atomic::Ordering::Relaxed);
    Ok(Written { size, md5, segments, inline: None, holds: std::mem::take(&mut sink.holds) })
}
