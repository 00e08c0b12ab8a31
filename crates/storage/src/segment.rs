//! The segment I/O layer, the same code on gateways and storage nodes: read a segment's
//! stripes from k of its shards ([`StripeReader`]: data shards first — a systematic code needs
//! no decode while they are healthy — parity on errors, a hedged parity read beside a shard
//! that is slow), and rebuild shards from k others ([`rebuild_stripes`] into
//! [`RebuildTarget`]s, each kept only if it hashes to the manifest's shard hash). The GET path
//! and the gateway's rebuilds read through it, and so does a storage node rebuilding a shard
//! from its peers: one reader, one rebuild loop.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use kintsugi_disk::DiskError;
use kintsugi_erasure::{chunk_hash, decode_stripe, shard_hash, ChunkHash, Codec, CodecError, Layout};
use tokio::time::Instant;

use crate::error::ShardError;
use crate::shards::{ChunkRx, ShardStore, ShardWrite, WriteError};

/// How long a shard read may take before a parity read starts beside it, unless configured.
pub const DEFAULT_HEDGE_AFTER: Duration = Duration::from_millis(250);
/// How long a disk that missed a hedge deadline is read from last.
const SLOW_FOR: Duration = Duration::from_secs(5);

/// What segment reads found, counted where the reader's owner shows them (a gateway's
/// `/metrics`, a node's reports).
#[derive(Debug, Default)]
pub struct ReadCounters {
    /// Corrupt shards or chunks found on read.
    pub shard_corrupt: AtomicU64,
    /// Missing shard files, unreadable disks or unreachable nodes found on read.
    pub shard_missing: AtomicU64,
    /// Parity reads started because a shard read missed its hedge deadline.
    pub hedged_reads: AtomicU64,
    /// Stripe reads that needed a decode (a data shard was missing).
    pub degraded_reads: AtomicU64,
}

fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Why a segment read or rebuild stopped.
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    /// Fewer than k shards could be read for a stripe.
    #[error("only {have} of the {need} shards needed could be read")]
    TooFewShards {
        /// Shards delivered for the stripe.
        have: usize,
        /// Shards needed (k).
        need: usize,
    },
    /// The stripe geometry or the codec refused the data.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A decode task died.
    #[error("a decode task died: {0}")]
    Task(String),
}

/// One shard of a segment as a reader sees it.
#[derive(Clone, Debug)]
pub struct ShardSlot {
    /// Where it is (`None`: nowhere this reader can reach).
    pub store: Option<Arc<dyn ShardStore>>,
    /// The shard hash the manifest names.
    pub hash: ChunkHash,
}

/// Reads a segment's stripes in order from k shard streams, switching to other shards on
/// errors and hedging slow ones.
pub struct StripeReader<'a> {
    segment: u128,
    slots: Vec<ShardSlot>,
    k: usize,
    /// Shard indices in the order they should be tried.
    order: Vec<usize>,
    /// Next position in `order` to open.
    next_candidate: usize,
    streams: Vec<Option<ChunkRx>>,
    /// Stripe each open stream yields next.
    pos: Vec<u64>,
    end: u64,
    next: u64,
    hedge_after: Duration,
    counters: &'a ReadCounters,
    /// Shards on disks that are usable now (not failed, their node not down or lost).
    usable: usize,
    /// A missing or corrupt shard was found (worth a repair).
    pub damaged: bool,
    /// Shards found missing or corrupt.
    pub bad: Vec<bool>,
}

impl<'a> StripeReader<'a> {
    /// Read stripes `stripes` of segment `segment` (k data shards of `slots`, by index), never
    /// touching shards in `skip`; a read slower than `hedge_after` gets a parity read beside it.
    /// With fewer than k shards on usable disks, every read fails at once
    /// ([`SegmentError::TooFewShards`]) instead of waiting for nodes known to be down.
    pub fn new(segment: u128, slots: Vec<ShardSlot>, k: usize, stripes: Range<u64>, skip: &[usize], hedge_after: Duration, counters: &'a ReadCounters) -> Self {
        let n = slots.len();
        // Data shards on healthy, fast disks first; then parity; unusable disks last (tried
        // all the same: a node the map holds down may answer).
        let rank: Vec<u8> = (0..n)
            .map(|i| match &slots[i].store {
                None => 3,
                Some(d) if !d.usable() => 3,
                Some(d) if d.is_slow() => 2,
                Some(_) => u8::from(i >= k),
            })
            .collect();
        let mut order: Vec<usize> = (0..n).filter(|i| !skip.contains(i)).collect();
        order.sort_by_key(|&i| (rank[i], i));
        let usable = order.iter().filter(|&&i| rank[i] < 3).count();
        let mut r = Self {
            segment,
            slots,
            k,
            order,
            next_candidate: 0,
            streams: (0..n).map(|_| None).collect(),
            pos: vec![0; n],
            end: stripes.end,
            next: stripes.start,
            hedge_after,
            counters,
            usable,
            damaged: false,
            bad: vec![false; n],
        };
        for _ in 0..k {
            r.open_next();
        }
        r
    }

    /// Open the next candidate shard's stream from the current stripe; false when none is left.
    fn open_next(&mut self) -> bool {
        while let Some(&i) = self.order.get(self.next_candidate) {
            self.next_candidate += 1;
            let Some(d) = self.slots[i].store.clone() else {
                self.bad[i] = true;
                inc(&self.counters.shard_missing);
                continue;
            };
            let count = self.end.saturating_sub(self.next);
            let index = u8::try_from(i).unwrap_or(u8::MAX); // slots come from a coding of at most MAX_SHARDS
            self.streams[i] = Some(d.read(self.segment, index, self.slots[i].hash, self.next, count));
            self.pos[i] = self.next;
            return true;
        }
        false
    }

    fn note_error(&mut self, i: usize, e: &ShardError) {
        self.streams[i] = None;
        match e {
            ShardError::Disk(DiskError::Corrupt { .. }) => {
                inc(&self.counters.shard_corrupt);
                self.damaged = true;
                self.bad[i] = true;
            }
            ShardError::Disk(DiskError::Missing { .. }) => {
                inc(&self.counters.shard_missing);
                self.damaged = true;
                self.bad[i] = true;
            }
            _ => inc(&self.counters.shard_missing),
        }
        tracing::warn!(segment = %format!("{:032x}", self.segment), shard = i, error = %e, "shard unusable on read; using another shard");
    }

    /// The chunks of the next stripe: at least k present (by shard index).
    pub async fn next_chunks(&mut self) -> Result<Vec<Option<Vec<u8>>>, SegmentError> {
        let (n, k) = (self.slots.len(), self.k);
        if self.usable < k {
            // Fail fast: waiting out the deadlines of nodes the map holds down would only make
            // the client (and its retries) wait for the same answer.
            return Err(SegmentError::TooFewShards { have: self.usable, need: k });
        }
        let s = self.next;
        let mut got: Vec<Option<Vec<u8>>> = vec![None; n];
        let mut hedge_at = Instant::now() + self.hedge_after;
        loop {
            let have = got.iter().filter(|c| c.is_some()).count();
            if have >= k {
                break;
            }
            // Keep enough streams open to reach k.
            let mut open = (0..n).filter(|&i| self.streams[i].is_some() && got[i].is_none()).count();
            while have + open < k && self.open_next() {
                open += 1;
            }
            if open == 0 {
                return Err(SegmentError::TooFewShards { have, need: k });
            }
            let waiting: Vec<usize> = (0..n).filter(|&i| self.streams[i].is_some() && got[i].is_none()).collect();
            let streams = &mut self.streams;
            let polled = tokio::time::timeout_at(
                hedge_at,
                std::future::poll_fn(|cx| {
                    for &i in &waiting {
                        if let Some(rx) = streams[i].as_mut() {
                            if let Poll::Ready(item) = rx.poll_recv(cx) {
                                return Poll::Ready((i, item));
                            }
                        }
                    }
                    Poll::Pending
                }),
            )
            .await;
            match polled {
                Ok((i, Some(Ok(chunk)))) => {
                    let at = self.pos[i];
                    self.pos[i] += 1;
                    if at == s {
                        got[i] = Some(chunk);
                    } // else: a chunk of a stripe already served by others; dropped
                }
                Ok((i, Some(Err(e)))) => self.note_error(i, &e),
                Ok((i, None)) => self.note_error(i, &DiskError::Invalid { detail: "shard stream ended early".into() }.into()),
                Err(_) => {
                    // Hedge: the laggards' nodes are slow; read one more shard beside them.
                    for &i in &waiting {
                        if let Some(d) = &self.slots[i].store {
                            d.mark_slow(SLOW_FOR);
                        }
                    }
                    if self.open_next() {
                        inc(&self.counters.hedged_reads);
                    }
                    hedge_at = Instant::now() + self.hedge_after;
                }
            }
        }
        // Streams that did not deliver this stripe are behind: drop them so the next stripe uses the k that did.
        for ((stream, chunk), pos) in self.streams.iter_mut().zip(&got).zip(&self.pos) {
            if stream.is_some() && chunk.is_none() && *pos <= s {
                *stream = None;
            }
        }
        self.next += 1;
        Ok(got)
    }

    /// The next stripe's data bytes (stripe `stripe` of a segment of `segment_len` bytes coded
    /// as `layout`), decoded with `codec` when a data shard is missing.
    pub async fn read_stripe(&mut self, layout: &Layout, codec: &Arc<dyn Codec>, segment_len: u64, stripe: u64) -> Result<Vec<u8>, SegmentError> {
        let mut pieces = self.read_stripe_pieces(layout, codec, segment_len, stripe).await?;
        Ok(if pieces.len() == 1 { pieces.pop().unwrap_or_default() } else { pieces.concat() })
    }

    /// [`Self::read_stripe`] in pieces, in order: the data chunks as they arrived, cut to the
    /// stripe's data length, or one piece decoded from parity. A reader that streams them on
    /// (a GET) saves copying a whole stripe into one buffer.
    pub async fn read_stripe_pieces(&mut self, layout: &Layout, codec: &Arc<dyn Codec>, segment_len: u64, stripe: u64) -> Result<Vec<Vec<u8>>, SegmentError> {
        let geom = layout.stripe(segment_len, stripe)?;
        let k = self.k;
        let mut chunks = self.next_chunks().await?;
        let data_len = usize::try_from(geom.data_len).map_err(|_| CodecError::BadChunks { detail: format!("a stripe of {} bytes does not fit in memory", geom.data_len) })?;
        if chunks[..k].iter().all(Option::is_some) {
            let mut left = data_len;
            let mut pieces = Vec::with_capacity(k);
            for mut c in chunks.into_iter().take(k).flatten() {
                if left == 0 {
                    break;
                }
                c.truncate(left);
                left -= c.len();
                pieces.push(c);
            }
            return Ok(pieces);
        }
        inc(&self.counters.degraded_reads);
        let codec = codec.clone();
        let data = tokio::task::spawn_blocking(move || decode_stripe(codec.as_ref(), &mut chunks, geom.data_len)).await.map_err(|e| SegmentError::Task(e.to_string()))??;
        Ok(vec![data])
    }
}

/// A shard being rebuilt: its index, its writer (`None` once writing it failed; the other
/// targets go on) and the hashes of the chunks rebuilt so far.
#[derive(Debug)]
pub struct RebuildTarget {
    /// Shard index.
    pub index: usize,
    write: Option<ShardWrite>,
    failed: Option<WriteError>,
    hashes: Vec<ChunkHash>,
}

/// How a rebuilt shard ended.
#[derive(Debug, thiserror::Error)]
pub enum RebuildOutcome {
    /// The rebuilt bytes are not the shard the manifest names: not stored.
    #[error("the rebuilt shard does not hash to the manifest's shard hash; not stored")]
    HashMismatch,
    /// The disk stored it with another hash.
    #[error("the disk stored the rebuilt shard with another hash")]
    StoredHashMismatch,
    /// Writing it failed.
    #[error("writing the rebuilt shard failed: {0}")]
    Write(WriteError),
}

impl RebuildTarget {
    /// Rebuild shard `index` into `write`.
    pub fn new(index: usize, write: ShardWrite) -> Self {
        Self { index, write: Some(write), failed: None, hashes: Vec::new() }
    }

    /// Keep the shard only if what was rebuilt hashes to `expected` and the disk made it
    /// durable with that hash.
    pub async fn finish(self, segment_len: u64, expected: ChunkHash) -> Result<(), RebuildOutcome> {
        let Some(w) = self.write else {
            return Err(RebuildOutcome::Write(self.failed.unwrap_or(WriteError::Stopped)));
        };
        if shard_hash(&self.hashes) != expected {
            w.abandon();
            return Err(RebuildOutcome::HashMismatch);
        }
        match w.finish(segment_len, expected).await {
            Ok(_) => Ok(()),
            Err(WriteError::HashMismatch) => Err(RebuildOutcome::StoredHashMismatch),
            Err(e) => Err(RebuildOutcome::Write(e)),
        }
    }
}

/// Rebuild every target's shard, `stripes` stripes read from `reader` (which skips the
/// targets), reconstructed with `codec`; decoding and hashing run on a blocking thread.
/// Answers the chunk bytes read. A target whose writer fails is dropped and the others go on
/// (all failed: it stops early); call [`RebuildTarget::finish`] on each afterwards.
pub async fn rebuild_stripes(reader: &mut StripeReader<'_>, codec: &Arc<dyn Codec>, stripes: u64, targets: &mut [RebuildTarget]) -> Result<u64, SegmentError> {
    let mut bytes_read = 0u64;
    for _ in 0..stripes {
        if targets.iter().all(|t| t.write.is_none()) {
            break; // nothing left to write to
        }
        let mut slots = reader.next_chunks().await?;
        bytes_read += slots.iter().flatten().map(|c| c.len() as u64).sum::<u64>();
        let codec = codec.clone();
        let wanted: Vec<usize> = targets.iter().map(|t| t.index).collect();
        let rebuilt = tokio::task::spawn_blocking(move || {
            codec.reconstruct(&mut slots)?;
            wanted
                .iter()
                .map(|&i| slots.get_mut(i).and_then(Option::take).map(|c| (chunk_hash(&c), c)).ok_or_else(|| CodecError::BadChunks { detail: format!("the codec left shard {i} empty") }))
                .collect::<Result<Vec<_>, CodecError>>()
        })
        .await
        .map_err(|e| SegmentError::Task(e.to_string()))??;
        for (t, (h, chunk)) in targets.iter_mut().zip(rebuilt) {
            t.hashes.push(h);
            if let Some(w) = t.write.as_mut() {
                if let Err(e) = w.append(chunk, h).await {
                    tracing::warn!(shard = t.index, error = %e, "rebuilt shard could not be written");
                    t.write = None; // that target failed; the others go on
                    t.failed = Some(e);
                }
            }
        }
    }
    Ok(bytes_read)
}
