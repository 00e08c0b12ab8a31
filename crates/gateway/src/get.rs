//! The GET pipeline: for each segment in the requested range, read its stripes
//! with the segment reader (`kintsugi_storage::StripeReader`, via `kintsugi_cluster::stripe_reader`: k shard streams,
//! parity on errors, hedged slow reads), cut them to the range and stream them
//! to the client. Damage seen on the way is queued for read-repair. An inline segment (a
//! small object kept with the metadata) is read from the metadata store instead.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::Stream;
use kintsugi_cluster::{read_stripe_pieces, stripe_reader, RepairRequest, Store};
use kintsugi_meta::Manifest;
use tokio::sync::mpsc;

use crate::error::{GatewayError, GwResult};

/// Stream `range` of an object. Errors mid-stream end the body early (the
/// client sees a short body, never wrong bytes).
pub fn read_range(
    store: Arc<Store>,
    bucket: String,
    key: String,
    manifest: Arc<Manifest>,
    range: Range<u64>,
) -> impl Stream<Item = Result<Bytes, GatewayError>> + Send + Sync + 'static {
    // Items are at most one chunk (`cut`): 2k of them are two stripes' bytes. A decoded
    // stripe's slices share its one buffer, which stays alive while any is queued: about one
    // stripe more is held, as before stripes came in pieces.
    let (tx, rx) = mpsc::channel::<GwResult<Bytes>>(2 * usize::from(manifest.coding.k).max(1));
    tokio::spawn(async move {
        if let Err(e) = produce(&store, &bucket, &key, &manifest, range, &tx).await {
            tracing::error!(bucket, key, error = %e, "GET failed mid-stream");
            let _ = tx.send(Err(e)).await;
        }
    });
    RxStream(rx)
}

/// A receiver as a `Stream` (Sync, as s3s requires of bodies).
pub(crate) struct RxStream(pub(crate) mpsc::Receiver<GwResult<Bytes>>);

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
        if seg.is_inline() {
            let bytes = read_inline(store, bucket, key, si, seg.id, seg.len, local).await?;
            if tx.send(Ok(bytes)).await.is_err() {
                return Ok(());
            }
            seg_start = seg_end;
            continue;
        }
        let layout = coded.layout;
        let stripes = layout.stripes_for_range(seg.len, local.start, local.end);
        let mut reader = stripe_reader(store, &coded, seg, stripes.clone(), &[]);
        for s in stripes {
            let pieces = match read_stripe_pieces(&mut reader, &coded, seg, s, (bucket, key, si)).await {
                Ok(d) => d,
                Err(e) => {
                    if reader.damaged {
                        report(store, bucket, key, manifest, si);
                    }
                    return Err(e.into());
                }
            };
            let geom = layout.stripe(seg.len, s).map_err(kintsugi_cluster::ClusterError::from)?;
            let from = local.start.max(geom.data_offset) - geom.data_offset;
            let to = local.end.min(geom.data_offset + geom.data_len) - geom.data_offset;
            let (from, to) = (usize::try_from(from).unwrap_or(usize::MAX), usize::try_from(to).unwrap_or(usize::MAX));
            for bytes in cut(pieces, from, to, geom.chunk_len as usize) {
                store.metrics.bytes_read.fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
                if tx.send(Ok(bytes)).await.is_err() {
                    return Ok(()); // client went away
                }
            }
        }
        if reader.damaged {
            report(store, bucket, key, manifest, si);
        }
        seg_start = seg_end;
    }
    Ok(())
}

/// Bytes `from..to` of a stripe's data held in `pieces` (in order), without copying: each
/// piece becomes `Bytes` and is sliced, in slices of at most `most` bytes (a stripe decoded
/// from parity comes as one piece); empty ones are left out.
fn cut(pieces: Vec<Vec<u8>>, from: usize, to: usize, most: usize) -> Vec<Bytes> {
    let most = most.max(1);
    let mut out = Vec::with_capacity(pieces.len());
    let mut at = 0usize;
    for p in pieces {
        let (start, end) = (at, at + p.len());
        at = end;
        let (mut a, b) = (from.max(start), to.min(end));
        let p = Bytes::from(p);
        while a < b {
            let e = b.min(a + most);
            out.push(p.slice(a - start..e - start));
            a = e;
        }
    }
    out
}

/// `local` of inline segment `segment` (the `si`th, of `len` bytes), from the metadata.
async fn read_inline(store: &Arc<Store>, bucket: &str, key: &str, si: usize, segment: kintsugi_meta::SegmentId, len: u64, local: Range<u64>) -> GwResult<Bytes> {
    let data = store.meta_call(move |m| m.inline_data(segment)).await?;
    let Some(data) = data.filter(|d| d.len() as u64 == len) else {
        return Err(GatewayError::Internal(format!(
            "object {bucket}/{key} segment {si}: its bytes, kept with the metadata, are not there (the object was overwritten or deleted meanwhile); retry the request"
        )));
    };
    kintsugi_cluster::Metrics::inc(&store.metrics.inline_reads);
    // `local` lies within the segment, whose length was just checked.
    let (from, to) = (usize::try_from(local.start).unwrap_or(usize::MAX), usize::try_from(local.end).unwrap_or(usize::MAX));
    let bytes = if from <= to && to <= data.len() { Bytes::from(data).slice(from..to) } else { Bytes::new() };
    store.metrics.bytes_read.fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
    Ok(bytes)
}

fn report(store: &Store, bucket: &str, key: &str, manifest: &Manifest, segment: usize) {
    store.report_damage(RepairRequest {
        bucket: bucket.into(),
        key: key.into(),
        version_id: manifest.version_id,
        segment,
    });
}

#[cfg(test)]
mod tests {
    use super::cut;

    #[test]
    fn a_stripes_pieces_are_cut_to_the_range_without_gaps_or_overlap() {
        let whole: Vec<u8> = (0u8..25).collect();
        // Chunks as they came, one piece decoded from parity, and an empty piece among them.
        let shapes: [fn() -> Vec<Vec<u8>>; 3] = [
            || vec![(0u8..10).collect(), (10u8..20).collect(), (20u8..25).collect()],
            || vec![(0u8..25).collect()],
            || vec![(0u8..10).collect(), Vec::new(), (10u8..25).collect()],
        ];
        for pieces in shapes {
            for from in 0..=25 {
                for to in from..=26 {
                    let got = cut(pieces(), from, to, 10);
                    let flat: Vec<u8> = got.iter().flat_map(|b| b.iter().copied()).collect();
                    assert_eq!(flat, whole[from.min(25)..to.min(25)], "{from}..{to}");
                    assert!(got.iter().all(|b| !b.is_empty() && b.len() <= 10), "{from}..{to}: no empty pieces, none past the most");
                }
            }
        }
        assert_eq!(cut(shapes[0](), 3, 18, 10).len(), 2);
        assert_eq!(cut(shapes[1](), 0, 25, 10).len(), 3, "a decoded stripe is cut to chunk-sized slices");
    }
}
