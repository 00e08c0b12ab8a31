//! A gateway's side of the segment reader: the storage crate's [`StripeReader`] (the same code
//! a storage node rebuilds with) over the disks a manifest names, counted in this gateway's
//! [`Metrics`](crate::Metrics), with its errors named after the object being read.

use std::ops::Range;

use kintsugi_meta::SegmentMeta;
use kintsugi_storage::{SegmentError, ShardSlot, StripeReader};

use crate::error::{ClusterError, ClusterResult};
use crate::store::{Coded, Store};

/// A reader of stripes `stripes` of `seg`, never touching the shards in `skip`: data shards
/// on healthy, fast disks first, parity on errors, a hedged read beside a slow shard.
pub fn stripe_reader<'a>(store: &'a Store, coded: &Coded, seg: &SegmentMeta, stripes: Range<u64>, skip: &[usize]) -> StripeReader<'a> {
    let slots = seg.shards.iter().map(|l| ShardSlot { store: store.disk(l.disk).ok(), hash: l.hash }).collect();
    StripeReader::new(seg.id, slots, usize::from(coded.layout.scheme.k), stripes, skip, store.hedge_after, &store.metrics.reads)
}

/// Read stripe `stripe` of `seg` (the reader's next one): its data bytes, decoded when a data
/// shard is missing. `label` (bucket, key, segment number) names the object in errors.
pub async fn read_stripe(reader: &mut StripeReader<'_>, coded: &Coded, seg: &SegmentMeta, stripe: u64, label: (&str, &str, usize)) -> ClusterResult<Vec<u8>> {
    reader.read_stripe(&coded.layout, &coded.codec, seg.len, stripe).await.map_err(|e| segment_error(e, label))
}

/// [`read_stripe`] in pieces (`StripeReader::read_stripe_pieces`): a GET streams them on as they are.
pub async fn read_stripe_pieces(reader: &mut StripeReader<'_>, coded: &Coded, seg: &SegmentMeta, stripe: u64, label: (&str, &str, usize)) -> ClusterResult<Vec<Vec<u8>>> {
    reader.read_stripe_pieces(&coded.layout, &coded.codec, seg.len, stripe).await.map_err(|e| segment_error(e, label))
}

/// A segment read's error, named after the object.
pub(crate) fn segment_error(e: SegmentError, label: (&str, &str, usize)) -> ClusterError {
    match e {
        SegmentError::TooFewShards { have, need } => ClusterError::Unreadable { bucket: label.0.into(), key: label.1.into(), segment: label.2, have, need },
        SegmentError::Codec(c) => ClusterError::Codec(c),
        SegmentError::Task(t) => ClusterError::Internal(t),
    }
}
