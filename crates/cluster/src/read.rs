//! The segment reader, shared by GETs and rebuilds: stream the needed chunks of
//! k shards of a segment (data shards first: a systematic code needs no decode
//! while they are healthy), one stream per shard, local or remote. A shard that
//! errors is replaced by the next one (parity), and one that has not delivered
//! its chunk within the hedge deadline gets a parity read beside it — whichever
//! k arrive first win — so one slow node does not stall reads. Damage is counted
//! (the caller queues it for read-repair).

use std::ops::Range;
use std::sync::Arc;
use std::task::Poll;

use kintsugi_disk::DiskError;
use kintsugi_storage::ShardError;
use kintsugi_erasure::decode_stripe;
use kintsugi_meta::SegmentMeta;
use kintsugi_storage::{ChunkRx, ShardStore};
use tokio::time::Instant;

use crate::error::{ClusterError, ClusterResult};
use crate::metrics::Metrics;
use crate::store::{Coded, Store};

/// How long a node that missed a hedge deadline is read from last.
const SLOW_FOR: std::time::Duration = std::time::Duration::from_secs(5);

/// Reads a segment's stripes in order from k shard streams, switching to
/// other shards on errors and hedging slow ones.
pub struct StripeReader<'a> {
    store: &'a Store,
    seg: &'a SegmentMeta,
    coded: Coded,
    /// Shard indices in the order they should be tried.
    order: Vec<usize>,
    /// Next position in `order` to open.
    next_candidate: usize,
    streams: Vec<Option<ChunkRx>>,
    /// Stripe each open stream yields next.
    pos: Vec<u64>,
    disks: Vec<Option<Arc<dyn ShardStore>>>,
    end: u64,
    next: u64,
    /// A missing or corrupt shard was found (worth a repair).
    pub damaged: bool,
    /// Shards found missing or corrupt.
    pub bad: Vec<bool>,
}

impl<'a> StripeReader<'a> {
    /// Read stripes `stripes` of `seg`, never touching shards in `skip`.
    pub fn new(store: &'a Store, coded: Coded, seg: &'a SegmentMeta, stripes: Range<u64>, skip: &[usize]) -> Self {
        let n = seg.shards.len();
        let k = usize::from(coded.layout.scheme.k);
        let disks: Vec<Option<Arc<dyn ShardStore>>> = seg.shards.iter().map(|l| store.disk(l.disk).ok()).collect();
        // Data shards on healthy, fast disks first; then parity; unusable disks last.
        let mut order: Vec<usize> = (0..n).filter(|i| !skip.contains(i)).collect();
        order.sort_by_key(|&i| {
            let rank = match &disks[i] {
                None => 3,
                Some(d) if !d.usable() => 3,
                Some(d) if d.is_slow() => 2,
                Some(_) => u8::from(i >= k),
            };
            (rank, i)
        });
        let mut r = Self {
            store,
            seg,
            coded,
            order,
            next_candidate: 0,
            streams: (0..n).map(|_| None).collect(),
            pos: vec![0; n],
            disks,
            end: stripes.end,
            next: stripes.start,
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
            let Some(d) = self.disks[i].clone() else {
                self.bad[i] = true;
                Metrics::inc(&self.store.metrics.shard_missing);
                continue;
            };
            let loc = &self.seg.shards[i];
            let count = self.end.saturating_sub(self.next);
            self.streams[i] = Some(d.read(self.seg.id, i as u8, loc.hash, self.next, count));
            self.pos[i] = self.next;
            return true;
        }
        false
    }

    fn note_error(&mut self, i: usize, e: &ShardError) {
        self.streams[i] = None;
        match e {
            ShardError::Disk(DiskError::Corrupt { .. }) => {
                Metrics::inc(&self.store.metrics.shard_corrupt);
                self.damaged = true;
                self.bad[i] = true;
            }
            ShardError::Disk(DiskError::Missing { .. }) => {
                Metrics::inc(&self.store.metrics.shard_missing);
                self.damaged = true;
                self.bad[i] = true;
            }
            _ => Metrics::inc(&self.store.metrics.shard_missing),
        }
        tracing::warn!(shard = i, error = %e, "shard unusable on read; using another shard");
    }

    /// The chunks of the next stripe: at least k present (by shard index).
    pub async fn next_chunks(&mut self, label: (&str, &str, usize)) -> ClusterResult<Vec<Option<Vec<u8>>>> {
        let n = self.seg.shards.len();
        let k = usize::from(self.coded.layout.scheme.k);
        let s = self.next;
        let mut got: Vec<Option<Vec<u8>>> = vec![None; n];
        let mut hedge_at = Instant::now() + self.store.hedge_after;
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
                return Err(ClusterError::Unreadable { bucket: label.0.into(), key: label.1.into(), segment: label.2, have, need: k });
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
                        if let Some(d) = &self.disks[i] {
                            d.mark_slow(SLOW_FOR);
                        }
                    }
                    if self.open_next() {
                        Metrics::inc(&self.store.metrics.hedged_reads);
                    }
                    hedge_at = Instant::now() + self.store.hedge_after;
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
}

/// Read one stripe's data bytes (decoding when a data shard is missing).
pub async fn read_stripe(reader: &mut StripeReader<'_>, coded: &Coded, seg: &SegmentMeta, stripe: u64, label: (&str, &str, usize)) -> ClusterResult<Vec<u8>> {
    let geom = coded.layout.stripe(seg.len, stripe)?;
    let k = usize::from(coded.layout.scheme.k);
    let mut chunks = reader.next_chunks(label).await?;
    let data_len = usize::try_from(geom.data_len).map_err(|_| ClusterError::Internal("stripe too large".into()))?;
    if chunks[..k].iter().all(Option::is_some) {
        let mut out = Vec::with_capacity(data_len);
        for c in chunks[..k].iter().flatten() {
            let take = (data_len - out.len()).min(c.len());
            out.extend_from_slice(&c[..take]);
        }
        return Ok(out);
    }
    Metrics::inc(&reader.store.metrics.degraded_reads);
    let codec = coded.codec.clone();
    Ok(tokio::task::spawn_blocking(move || decode_stripe(codec.as_ref(), &mut chunks, geom.data_len)).await??)
}
