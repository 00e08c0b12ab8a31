//! The ledger of committed data: how many segments (of objects and of
//! uploaded parts) are committed and how many object bytes they hold. It is
//! a RocksDB merge counter updated in the same atomic write batch as every
//! commit, overwrite, delete, part upload, completion and abort, so it is
//! exact at every instant; [`RocksMeta::recount`] checks it (and the
//! disk → shards index) against a full scan.

use std::collections::BTreeMap;

use rocksdb::{MergeOperands, Options, WriteBatch};

use crate::error::MetaResult;
use crate::store::{RocksMeta, CF_DISK_SHARDS, CF_LEDGER};
use crate::types::{Coding, DiskId, SegmentMeta};

const KEY_COMMITTED: &[u8] = b"committed";

/// Committed segments and their object bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Segments.
    pub segments: u64,
    /// Object bytes in them.
    pub bytes: u64,
}

/// A full recount.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recount {
    /// Segments and bytes found by scanning every manifest and part.
    pub totals: Totals,
    /// Shards the manifests and parts name.
    pub shards: u64,
    /// Entries in the disk → shards index (must equal `shards`).
    pub index_entries: u64,
    /// Segments and bytes by number of shards on unusable disks (0 = full redundancy).
    pub by_missing: BTreeMap<u8, Totals>,
    /// Of those, segments with more shards missing than their coding's m (not recoverable now).
    pub unrecoverable: Totals,
}

fn decode_pair(v: &[u8]) -> (i64, i64) {
    let a = v.get(..8).and_then(|b| b.try_into().ok()).map_or(0, i64::from_le_bytes);
    let b = v.get(8..16).and_then(|b| b.try_into().ok()).map_or(0, i64::from_le_bytes);
    (a, b)
}

fn encode_pair(a: i64, b: i64) -> Vec<u8> {
    let mut v = Vec::with_capacity(16);
    v.extend_from_slice(&a.to_le_bytes());
    v.extend_from_slice(&b.to_le_bytes());
    v
}

fn add_pairs(_key: &[u8], existing: Option<&[u8]>, operands: &MergeOperands) -> Option<Vec<u8>> {
    let (mut a, mut b) = existing.map_or((0, 0), decode_pair);
    for op in operands {
        let (x, y) = decode_pair(op);
        a = a.wrapping_add(x);
        b = b.wrapping_add(y);
    }
    Some(encode_pair(a, b))
}

/// Options of the ledger column family: an adding merge operator.
pub(crate) fn ledger_options() -> Options {
    let mut o = Options::default();
    o.set_merge_operator_associative("kintsugi-add-pairs", add_pairs);
    o
}

impl RocksMeta {
    /// Add `sign` × `segments` to the ledger in batch `b`.
    pub(crate) fn batch_count(&self, b: &mut WriteBatch, segments: &[SegmentMeta], sign: i64) -> MetaResult<()> {
        if segments.is_empty() {
            return Ok(());
        }
        let n = i64::try_from(segments.len()).unwrap_or(i64::MAX);
        let bytes: u64 = segments.iter().map(|s| s.len).sum();
        let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
        b.merge_cf(self.cf(CF_LEDGER)?, KEY_COMMITTED, encode_pair(sign * n, sign * bytes));
        Ok(())
    }

    /// Committed segments and bytes, from the ledger.
    pub fn committed_totals(&self) -> MetaResult<Totals> {
        let (a, b) = self.get_raw(CF_LEDGER, KEY_COMMITTED)?.as_deref().map_or((0, 0), decode_pair);
        Ok(Totals { segments: u64::try_from(a).unwrap_or(0), bytes: u64::try_from(b).unwrap_or(0) })
    }

    /// Start the ledger of a store created before it existed: one recount at open (no writer runs yet).
    pub(crate) fn ensure_ledger(&self) -> MetaResult<()> {
        if self.get_raw(CF_LEDGER, KEY_COMMITTED)?.is_some() {
            return Ok(());
        }
        let mut t = Totals::default();
        self.visit_segments(|_, s| {
            t.segments += 1;
            t.bytes += s.len;
        })?;
        let mut b = WriteBatch::default();
        let (a, c) = (i64::try_from(t.segments).unwrap_or(i64::MAX), i64::try_from(t.bytes).unwrap_or(i64::MAX));
        b.put_cf(self.cf(CF_LEDGER)?, KEY_COMMITTED, encode_pair(a, c));
        if t.segments > 0 {
            tracing::info!(segments = t.segments, bytes = t.bytes, "redundancy ledger started from a recount");
        }
        self.write(b)
    }

    /// Recount everything by a full scan: totals, shards against index entries, and
    /// segments by shards on disks for which `usable` is false.
    pub fn recount(&self, usable: &dyn Fn(DiskId) -> bool) -> MetaResult<Recount> {
        let mut r = Recount::default();
        self.visit_segments(|c: &Coding, s: &SegmentMeta| {
            r.totals.segments += 1;
            r.totals.bytes += s.len;
            r.shards += s.shards.len() as u64;
            let missing = s.shards.iter().filter(|l| !usable(l.disk)).count();
            let missing = u8::try_from(missing).unwrap_or(u8::MAX);
            let e = r.by_missing.entry(missing).or_default();
            e.segments += 1;
            e.bytes += s.len;
            if missing > c.m {
                r.unrecoverable.segments += 1;
                r.unrecoverable.bytes += s.len;
            }
        })?;
        self.scan_prefix(CF_DISK_SHARDS, &[], &[], |_, _| {
            r.index_entries += 1;
            Ok(true)
        })?;
        Ok(r)
    }
}

#[cfg(test)]
impl RocksMeta {
    pub(crate) fn reset_ledger_for_test(&self) -> MetaResult<()> {
        let mut b = WriteBatch::default();
        b.delete_cf(self.cf(CF_LEDGER)?, KEY_COMMITTED);
        self.write(b)
    }
}
