//! The PUT pipeline: body stream → stripes → RS encode + BLAKE3 (blocking pool)
//! → k+m shard writers in parallel → fsync + rename. MD5 for the ETag runs on
//! its own blocking thread. Memory stays bounded by a few stripes.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use kintsugi_disk::ShardHeader;
use kintsugi_erasure::{encode_stripe, ChunkHash};
use kintsugi_meta::{SegmentId, SegmentMeta, ShardLoc};
use md5::{Digest, Md5};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::{GatewayError, GwResult};
use crate::store::Store;

/// Who owns the segments being written (recorded in shard headers).
#[derive(Clone, Copy, Debug)]
pub struct Owner {
    /// Object version id or upload id.
    pub id: u128,
    /// Part number, 0 for a plain PUT.
    pub part_number: u32,
}

/// Result of writing a body.
#[derive(Debug)]
pub struct Written {
    /// Bytes written.
    pub size: u64,
    /// MD5 of the body.
    pub md5: [u8; 16],
    /// Durable segments, in order.
    pub segments: Vec<SegmentMeta>,
}

enum ShardMsg {
    Chunk(Vec<u8>, ChunkHash),
    Finish(u64),
}

struct OpenSegment {
    id: SegmentId,
    disks: Vec<u32>,
    txs: Vec<mpsc::Sender<ShardMsg>>,
    writers: Vec<JoinHandle<GwResult<[u8; 32]>>>,
    len: u64,
}

/// A running shard writer: where to send its chunks, and its result (the shard hash).
type ShardWriterHandle = (mpsc::Sender<ShardMsg>, JoinHandle<GwResult<[u8; 32]>>);

fn spawn_shard_writer(store: &Arc<Store>, disk_id: u32, header: ShardHeader) -> GwResult<ShardWriterHandle> {
    let disk = store.disk(disk_id)?.clone();
    let (tx, mut rx) = mpsc::channel::<ShardMsg>(2);
    let handle = tokio::spawn(async move {
        let d = disk.clone();
        let mut w = tokio::task::spawn_blocking(move || d.create_shard(header)).await??;
        while let Some(msg) = rx.recv().await {
            match msg {
                ShardMsg::Chunk(chunk, hash) => {
                    w = tokio::task::spawn_blocking(move || w.append(&chunk, hash).map(|()| w)).await??;
                }
                ShardMsg::Finish(len) => {
                    return Ok(tokio::task::spawn_blocking(move || w.finish(len)).await??);
                }
            }
        }
        // Sender dropped without Finish: the PUT was abandoned; dropping `w` removes the temp file.
        Err(GatewayError::Internal("shard write abandoned".into()))
    });
    Ok((tx, handle))
}

struct SegmentSink<'a> {
    store: &'a Arc<Store>,
    owner: Owner,
    started: Vec<SegmentId>,
    open: Option<OpenSegment>,
    done: Vec<JoinHandle<GwResult<SegmentMeta>>>,
}

impl SegmentSink<'_> {
    async fn start_segment(&mut self) -> GwResult<()> {
        let id: SegmentId = rand::random();
        let disks = self.store.place(id)?;
        let shards: Vec<(u8, u32)> = disks.iter().enumerate().map(|(i, d)| (i as u8, *d)).collect();
        self.started.push(id);
        self.store.meta_call(move |m| m.add_intent(id, shards)).await?;
        let s = self.store.layout.scheme;
        let mut txs = Vec::new();
        let mut writers = Vec::new();
        for (i, d) in disks.iter().enumerate() {
            let header = ShardHeader {
                codec: self.store.codec.id().as_u8(),
                k: s.k,
                m: s.m,
                index: i as u8,
                chunk_size: self.store.layout.chunk_size,
                segment_no: u32::try_from(self.started.len() - 1).unwrap_or(u32::MAX),
                segment_id: id,
                owner_id: self.owner.id,
                part_number: self.owner.part_number,
                segment_len: 0,
                data_len: 0,
                chunks: 0,
            };
            let (tx, h) = spawn_shard_writer(self.store, *d, header)?;
            txs.push(tx);
            writers.push(h);
        }
        self.open = Some(OpenSegment { id, disks, txs, writers, len: 0 });
        Ok(())
    }

    /// Encode one stripe of `data` and hand its chunks to the shard writers.
    async fn push_stripe(&mut self, data: Bytes, last: bool) -> GwResult<()> {
        if self.open.is_none() {
            self.start_segment().await?;
        }
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
            if seg.txs[i].send(ShardMsg::Chunk(chunk, hash)).await.is_err() {
                return Err(self.writer_error(i).await);
            }
        }
        seg.len = seg_len_after;
        if seg.len >= self.store.segment_size {
            self.finish_segment().await?;
        }
        Ok(())
    }

    async fn writer_error(&mut self, i: usize) -> GatewayError {
        let Some(seg) = self.open.as_mut() else {
            return GatewayError::Internal("no open segment".into());
        };
        let h = seg.writers.remove(i);
        match h.await {
            Ok(Err(e)) => e,
            Ok(Ok(_)) => GatewayError::Internal("shard writer stopped early".into()),
            Err(e) => e.into(),
        }
    }

    async fn finish_segment(&mut self) -> GwResult<()> {
        let Some(seg) = self.open.take() else { return Ok(()) };
        for tx in &seg.txs {
            // A failed send means the writer already died; its error surfaces when joined.
            let _ = tx.send(ShardMsg::Finish(seg.len)).await;
        }
        let OpenSegment { id, disks, writers, len, txs } = seg;
        drop(txs);
        self.done.push(tokio::spawn(async move {
            let mut shards = Vec::with_capacity(disks.len());
            for (h, disk) in writers.into_iter().zip(disks) {
                let hash = h.await??;
                shards.push(ShardLoc { disk, hash });
            }
            Ok(SegmentMeta { id, len, shards })
        }));
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

/// Write a body as erasure-coded segments. On error every shard written so far
/// is handed to garbage collection and nothing is referenced.
pub async fn write_body<S, E>(store: &Arc<Store>, body: S, owner: Owner, expected_len: Option<u64>) -> GwResult<Written>
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
    E: std::fmt::Display,
{
    let mut sink = SegmentSink { store, owner, started: Vec::new(), open: None, done: Vec::new() };
    let result = write_inner(&mut sink, body, expected_len).await;
    match result {
        Ok(w) => Ok(w),
        Err(e) => {
            if let Some(seg) = sink.open.take() {
                drop(seg.txs);
                for h in seg.writers {
                    let _ = h.await;
                }
            }
            let _ = sink.collect().await;
            let started = std::mem::take(&mut sink.started);
            if !started.is_empty() {
                if let Err(ge) = store.meta_call(move |m| m.intents_to_garbage(&started)).await {
                    tracing::warn!(error = %ge, "could not hand failed PUT's shards to GC; they are collected at next start");
                }
            }
            Err(e)
        }
    }
}

async fn write_inner<S, E>(sink: &mut SegmentSink<'_>, mut body: S, expected_len: Option<u64>) -> GwResult<Written>
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
    E: std::fmt::Display,
{
    let stripe = usize::try_from(sink.store.layout.stripe_data_size())
        .map_err(|_| GatewayError::Internal("stripe too large".into()))?;
    let (md5_tx, mut md5_rx) = mpsc::channel::<Bytes>(64);
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
        if let Some(exp) = expected_len {
            if size > exp {
                return Err(GatewayError::IncompleteBody { got: size, expected: exp });
            }
        }
        let _ = md5_tx.send(bytes.clone()).await;
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
    Ok(Written { size, md5, segments })
}
