//! The GET pipeline: for each stripe in the requested range read the k data
//! chunks (systematic code: no decode while they are healthy), verify BLAKE3,
//! and fall back to parity — decoding — for any shard that is missing, on a
//! failed disk or corrupt. Damage is counted and queued for read-repair.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::Stream;
use kintsugi_disk::{DiskError, ShardReader};
use kintsugi_erasure::decode_stripe;
use kintsugi_meta::{Manifest, SegmentMeta};
use tokio::sync::mpsc;

use crate::error::{GatewayError, GwResult};
use crate::metrics::Metrics;
use crate::store::{Coded, RepairRequest, Store};

/// Per-segment read state: shards opened so far and shards known bad.
struct SegmentState {
    readers: Vec<Option<ShardReader>>,
    bad: Vec<bool>,
    damaged: bool,
}

impl SegmentState {
    fn new(n: usize) -> Self {
        Self { readers: (0..n).map(|_| None).collect(), bad: vec![false; n], damaged: false }
    }
}

fn note_error(store: &Store, state: &mut SegmentState, i: usize, e: &DiskError) {
    state.bad[i] = true;
    state.readers[i] = None;
    match e {
        DiskError::Corrupt { .. } => {
            Metrics::inc(&store.metrics.shard_corrupt);
            state.damaged = true;
        }
        DiskError::Missing { .. } => {
            Metrics::inc(&store.metrics.shard_missing);
            state.damaged = true;
        }
        _ => Metrics::inc(&store.metrics.shard_missing),
    }
    tracing::warn!(shard = i, error = %e, "shard unusable on read; using parity");
}

/// Read one stripe (blocking). Returns the stripe's real data bytes.
fn read_stripe(
    store: &Store,
    coding: &Coded,
    seg: &SegmentMeta,
    state: &mut SegmentState,
    stripe: u64,
    label: (&str, &str, usize),
) -> GwResult<Vec<u8>> {
    let layout = coding.layout;
    let geom = layout.stripe(seg.len, stripe)?;
    let k = usize::from(layout.scheme.k);
    let n = seg.shards.len();
    let mut chunks: Vec<Option<Vec<u8>>> = vec![None; n];
    let mut have = 0;
    #[allow(clippy::needless_range_loop)] // i indexes chunks, state and seg.shards together
    for i in 0..n {
        if have == k {
            break;
        }
        if state.bad[i] {
            continue;
        }
        if state.readers[i].is_none() {
            let loc = &seg.shards[i];
            let opened = store
                .disk(loc.disk)
                .and_then(|d| Ok(d.open_shard(seg.id, i as u8, Some(&loc.hash))?));
            match opened {
                Ok(r) => state.readers[i] = Some(r),
                Err(GatewayError::Disk(e)) => {
                    note_error(store, state, i, &e);
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        let Some(reader) = state.readers[i].as_ref() else { continue };
        match reader.read_chunk(geom.index, geom.shard_offset, geom.chunk_len) {
            Ok(c) => {
                chunks[i] = Some(c);
                have += 1;
            }
            Err(e) => note_error(store, state, i, &e),
        }
    }
    if have < k {
        return Err(GatewayError::Unreadable {
            bucket: label.0.into(),
            key: label.1.into(),
            segment: label.2,
            have,
            need: k,
        });
    }
    let data_len = usize::try_from(geom.data_len).map_err(|_| GatewayError::Internal("stripe too large".into()))?;
    if chunks[..k].iter().all(Option::is_some) {
        let mut out = Vec::with_capacity(data_len);
        for c in chunks[..k].iter().flatten() {
            let take = (data_len - out.len()).min(c.len());
            out.extend_from_slice(&c[..take]);
        }
        return Ok(out);
    }
    Metrics::inc(&store.metrics.degraded_reads);
    Ok(decode_stripe(coding.codec.as_ref(), &mut chunks, geom.data_len)?)
}

/// Stream `range` of an object. Errors mid-stream end the body early (the
/// client sees a short body, never wrong bytes).
pub fn read_range(
    store: Arc<Store>,
    bucket: String,
    key: String,
    manifest: Arc<Manifest>,
    range: Range<u64>,
) -> impl Stream<Item = Result<Bytes, GatewayError>> + Send + Sync + 'static {
    let (tx, rx) = mpsc::channel::<GwResult<Bytes>>(2);
    tokio::spawn(async move {
        if let Err(e) = produce(&store, &bucket, &key, &manifest, range, &tx).await {
            tracing::error!(bucket, key, error = %e, "GET failed mid-stream");
            let _ = tx.send(Err(e)).await;
        }
    });
    RxStream(rx)
}

/// A receiver as a `Stream` (Sync, as s3s requires of bodies).
struct RxStream(mpsc::Receiver<GwResult<Bytes>>);

impl Stream for RxStream {
    type Item = GwResult<Bytes>;
    fn poll_next(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

async fn produce(
    store: &Arc<Store>,
    bucket: &str,
    key: &str,
    manifest: &Arc<Manifest>,
    range: Range<u64>,
    tx: &mpsc::Sender<GwResult<Bytes>>,
) -> GwResult<()> {
    let coded = store.coded(&manifest.coding)?;
    let mut seg_start = 0u64;
    for (si, seg) in manifest.segments.iter().enumerate() {
        let seg_end = seg_start + seg.len;
        if seg_end <= range.start || seg_start >= range.end {
            seg_start = seg_end;
            continue;
        }
        let local = range.start.saturating_sub(seg_start)..(range.end.min(seg_end) - seg_start);
        let layout = coded.layout;
        let stripes = layout.stripes_for_range(seg.len, local.start, local.end);
        let mut state = SegmentState::new(seg.shards.len());
        for s in stripes {
            let st = store.clone();
            let cd = coded.clone();
            let seg_c = seg.clone();
            let (b, k) = (bucket.to_owned(), key.to_owned());
            let (res, back) = tokio::task::spawn_blocking(move || {
                let r = read_stripe(&st, &cd, &seg_c, &mut state, s, (&b, &k, si));
                (r, state)
            })
            .await?;
            state = back;
            let data = match res {
                Ok(d) => d,
                Err(e) => {
                    if state.damaged {
                        report(store, bucket, key, manifest, si);
                    }
                    return Err(e);
                }
            };
            let geom = layout.stripe(seg.len, s)?;
            let from = local.start.max(geom.data_offset) - geom.data_offset;
            let to = local.end.min(geom.data_offset + geom.data_len) - geom.data_offset;
            let mut bytes = Bytes::from(data);
            bytes.truncate(usize::try_from(to).unwrap_or(usize::MAX));
            let bytes = bytes.slice(usize::try_from(from).unwrap_or(0)..);
            store.metrics.bytes_read.fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
            if tx.send(Ok(bytes)).await.is_err() {
                return Ok(()); // client went away
            }
        }
        if state.damaged {
            report(store, bucket, key, manifest, si);
        }
        seg_start = seg_end;
    }
    Ok(())
}

fn report(store: &Store, bucket: &str, key: &str, manifest: &Manifest, segment: usize) {
    store.report_damage(RepairRequest {
        bucket: bucket.into(),
        key: key.into(),
        version_id: manifest.version_id,
        segment,
    });
}
