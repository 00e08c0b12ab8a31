//! The ledger of committed data: how many segments (of objects and of
//! uploaded parts) are committed and how many object bytes they hold, and per
//! disk how many committed shards and shard bytes it holds. They are RocksDB
//! merge counters updated in the same atomic write batch as every commit,
//! overwrite, delete, part upload, completion, abort and shard move, so they
//! are exact at every instant; [`RocksMeta::recount`] checks them (and the
//! disk → shards index) against a full scan.
//!
//! Beside them it counts the segments whose placement falls short of surviving m
//! failure-domain losses even with every placed shard healthy (see `domains`), by coding m
//! and shortfall: what the gateway's redundancy ledger needs to show crowded and partly
//! placed segments at risk without a scan.
//!
//! Each counter is a pair of `i64`s stored as `[u8 1][i64 LE][i64 LE]` (17 bytes); a 16-byte
//! value is the unversioned pair every store held before, read as such and rewritten in the
//! new form by the next merge into it. A value of any other shape is damage: readers get
//! [`MetaError::Corrupt`] naming the counter, and the next open recounts the ledger.

use std::collections::{BTreeMap, HashMap};

use rocksdb::{MergeOperands, Options, WriteBatch};

use crate::error::{MetaError, MetaResult};
use crate::store::{RocksMeta, CF_DISK_SHARDS, CF_LEDGER};
use crate::types::{Coding, DiskId, SegmentId, SegmentMeta, NO_DISK};

const KEY_COMMITTED: &[u8] = b"committed";
/// Inline segments (small objects kept with the metadata) and their bytes: not in
/// `committed`, which counts segments stored as shards. Absent in stores from before them,
/// which hold none.
const KEY_INLINE: &[u8] = b"inline";
/// Per-disk counters: `disk/` + disk id (big-endian).
const DISK_PREFIX: &[u8] = b"disk/";
/// Present once the per-disk counters exist (stores from before them get a recount at open).
const KEY_DISKS_COUNTED: &[u8] = b"disks-counted";
/// Placement shortfall counters: `short/` + coding m + shortfall (1..=m+1).
const SHORT_PREFIX: &[u8] = b"short/";
/// Present once the shortfall counters exist (stores from before them get a recount at open).
const KEY_DOMAINS_COUNTED: &[u8] = b"domains-counted";

fn short_key(m: u8, shortfall: u8) -> Vec<u8> {
    let mut k = SHORT_PREFIX.to_vec();
    k.extend_from_slice(&[m, shortfall]);
    k
}

/// Segments and bytes by (coding m, shortfall), shortfall > 0 only.
pub type Shortfalls = BTreeMap<(u8, u8), Totals>;

/// Count a segment of `len` bytes coded with `c` that falls `sf` short (nothing when 0).
fn tally(into: &mut Shortfalls, c: &Coding, sf: u8, len: u64) {
    if sf > 0 {
        let e = into.entry((c.m, sf)).or_default();
        e.segments += 1;
        e.bytes += len;
    }
}

fn disk_key(disk: DiskId) -> Vec<u8> {
    let mut k = DISK_PREFIX.to_vec();
    k.extend_from_slice(&disk.to_be_bytes());
    k
}

/// Data bytes one shard of a segment of `len` bytes holds under coding `c` (0 for an invalid coding).
pub fn shard_bytes(c: &Coding, len: u64) -> u64 {
    c.layout().map_or(0, |l| l.shard_data_len(len))
}

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
    /// Segments and bytes by (coding m, shortfall) of what they survive now, in failure
    /// domains, with only the shards on usable disks (shortfall 0 not listed).
    pub by_shortfall: Shortfalls,
    /// The placement shortfall counters agree with the scan.
    pub shortfall_counters_match: bool,
    /// Of those, segments with more shards missing than their coding's m (not recoverable now).
    pub unrecoverable: Totals,
    /// Per disk: committed shards and their bytes, from the scan.
    pub disks: HashMap<DiskId, (u64, u64)>,
    /// The per-disk counters agree with the scan.
    pub disk_counters_match: bool,
    /// Segments with more than the domain cap of their placed shards in one failure domain.
    pub over_domain_cap: Vec<SegmentId>,
    /// Segments with two shards on one disk.
    pub sharing_a_disk: u64,
    /// Inline segments (small objects kept with the metadata) the manifests and parts name,
    /// and their bytes (not in `totals`).
    pub inline: Totals,
    /// The inline counter agrees with the scan.
    pub inline_counter_matches: bool,
}

/// Version byte of a ledger value: `[PAIR_V1][i64 LE][i64 LE]`.
const PAIR_V1: u8 = 1;
/// Length of a ledger value with its version byte.
const PAIR_LEN: usize = 17;
/// Length of a value written before ledger values had a version: `[i64 LE][i64 LE]` (read,
/// never written).
const LEGACY_PAIR_LEN: usize = 16;
/// What the merge operator writes when it meets a value it cannot read (see [`add_pairs`]):
/// version byte 0, never a counter, always read as damage.
const DAMAGED: &[u8] = b"\0damaged";

/// Why a ledger value is not a counter pair.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum PairError {
    /// Neither the versioned nor the legacy length.
    #[error("{len} bytes, expected {PAIR_LEN} (version {PAIR_V1}) or {LEGACY_PAIR_LEN} (legacy, unversioned)")]
    Length {
        /// The value's length.
        len: usize,
    },
    /// The right length with a version byte this build does not know.
    #[error("unknown ledger value version {version}")]
    Version {
        /// The value's first byte.
        version: u8,
    },
    /// A merge met a value it could not read and marked the counter.
    #[error("marked damaged by a merge that met a malformed value")]
    Damaged,
}

fn decode_pair(v: &[u8]) -> Result<(i64, i64), PairError> {
    let body = match v.split_first() {
        _ if v.len() == LEGACY_PAIR_LEN => v,
        Some((&PAIR_V1, rest)) if v.len() == PAIR_LEN => rest,
        Some((&version, _)) if v.len() == PAIR_LEN => return Err(PairError::Version { version }),
        _ if v == DAMAGED => return Err(PairError::Damaged),
        _ => return Err(PairError::Length { len: v.len() }),
    };
    let half = |at: usize| body.get(at..at + 8).and_then(|b| <[u8; 8]>::try_from(b).ok()).map(i64::from_le_bytes);
    half(0).zip(half(8)).ok_or(PairError::Length { len: v.len() })
}

fn encode_pair(a: i64, b: i64) -> Vec<u8> {
    let mut v = Vec::with_capacity(PAIR_LEN);
    v.push(PAIR_V1);
    v.extend_from_slice(&a.to_le_bytes());
    v.extend_from_slice(&b.to_le_bytes());
    v
}

/// A ledger counter's value as RocksDB holds it (either shape: with its version byte, or
/// from before it had one), as (a, b); a typed error for any other bytes.
pub fn decode_ledger_value(v: &[u8]) -> MetaResult<(i64, i64)> {
    counter(b"", v)
}

/// A ledger counter's value in the current shape (its version byte, then a and b).
pub fn encode_ledger_value(a: i64, b: i64) -> Vec<u8> {
    encode_pair(a, b)
}

/// A ledger key for people: `committed`, `disk/7`, `short/m2/1` (m, shortfall).
fn describe_key(k: &[u8]) -> String {
    if let Some(id) = k.strip_prefix(DISK_PREFIX).and_then(|b| <[u8; 4]>::try_from(b).ok()) {
        return format!("disk/{}", DiskId::from_be_bytes(id));
    }
    if let Some(&[m, sf]) = k.strip_prefix(SHORT_PREFIX) {
        return format!("short/m{m}/{sf}");
    }
    k.escape_ascii().to_string()
}

/// The counter stored under `key`, or the typed error a damaged value is.
fn counter(key: &[u8], v: &[u8]) -> MetaResult<(i64, i64)> {
    decode_pair(v).map_err(|e| MetaError::Corrupt {
        what: "ledger counter",
        detail: format!("{}: {e}. Restart kintsugi: opening the metadata store recounts a damaged ledger", describe_key(key)),
    })
}

/// The merge operator `kintsugi-add-pairs` (full and partial merges): adds the pairs, wrapping,
/// and writes the sum with its version byte, whatever mix of legacy and versioned values it
/// was given.
///
/// It cannot return an error. Failing the merge instead (`None`) fails the flush or
/// compaction that runs it, which RocksDB treats as an unrecoverable background error: every
/// later write is refused, and the store no longer opens (recovery replays the same merge).
/// Dropping the value it cannot read, or reading it as 0, would invent numbers. So a value
/// of any other shape makes the result [`DAMAGED`]: writes go on, every read of that counter
/// is [`MetaError::Corrupt`], and `ensure_ledger` recounts the ledger at the next open.
fn add_pairs(key: &[u8], existing: Option<&[u8]>, operands: &MergeOperands) -> Option<Vec<u8>> {
    let (mut a, mut b) = (0i64, 0i64);
    for v in existing.into_iter().chain(operands) {
        match decode_pair(v) {
            Ok((x, y)) => {
                a = a.wrapping_add(x);
                b = b.wrapping_add(y);
            }
            Err(PairError::Damaged) => return Some(DAMAGED.to_vec()),
            Err(e) => {
                tracing::error!(counter = %describe_key(key), error = %e, "a ledger merge met a value it cannot read; the counter is marked damaged until a recount");
                return Some(DAMAGED.to_vec());
            }
        }
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
    /// Add `sign` × `segments` (coded with `coding`) to the ledger in batch `b`: the totals
    /// and the per-disk counters of every disk holding one of their shards.
    pub(crate) fn batch_count(&self, b: &mut WriteBatch, segments: &[SegmentMeta], coding: &Coding, sign: i64) -> MetaResult<()> {
        if segments.is_empty() {
            return Ok(());
        }
        let cf = self.cf(CF_LEDGER)?;
        let (inline, segments): (Vec<&SegmentMeta>, Vec<&SegmentMeta>) = segments.iter().partition(|s| s.is_inline());
        let sum = |v: &[&SegmentMeta]| {
            let n = i64::try_from(v.len()).unwrap_or(i64::MAX);
            let bytes: u64 = v.iter().map(|s| s.len).sum();
            (n, i64::try_from(bytes).unwrap_or(i64::MAX))
        };
        if !inline.is_empty() {
            let (n, bytes) = sum(&inline);
            b.merge_cf(cf, KEY_INLINE, encode_pair(sign * n, sign * bytes));
        }
        if segments.is_empty() {
            return Ok(());
        }
        let (n, bytes) = sum(&segments);
        b.merge_cf(cf, KEY_COMMITTED, encode_pair(sign * n, sign * bytes));
        let mut per_disk: HashMap<DiskId, (i64, i64)> = HashMap::new();
        let mut short: BTreeMap<(u8, u8), (i64, i64)> = BTreeMap::new();
        for s in &segments {
            let sb = i64::try_from(shard_bytes(coding, s.len)).unwrap_or(i64::MAX);
            for l in &s.shards {
                let e = per_disk.entry(l.disk).or_default();
                e.0 += sign;
                e.1 += sign * sb;
            }
            let sf = self.placement_shortfall(coding, s);
            if sf > 0 {
                let e = short.entry((coding.m, sf)).or_default();
                e.0 += sign;
                e.1 += sign * i64::try_from(s.len).unwrap_or(i64::MAX);
            }
        }
        for (d, (shards, bytes)) in per_disk {
            b.merge_cf(cf, disk_key(d), encode_pair(shards, bytes));
        }
        for ((m, sf), (n, bytes)) in short {
            b.merge_cf(cf, short_key(m, sf), encode_pair(n, bytes));
        }
        Ok(())
    }

    /// A segment's shards moved from `before` to `after`: move it between shortfall counters.
    pub(crate) fn batch_count_reshape(&self, b: &mut WriteBatch, coding: &Coding, before: &SegmentMeta, after: &SegmentMeta) -> MetaResult<()> {
        let (was, is) = (self.placement_shortfall(coding, before), self.placement_shortfall(coding, after));
        if was == is {
            return Ok(());
        }
        let cf = self.cf(CF_LEDGER)?;
        let len = i64::try_from(after.len).unwrap_or(i64::MAX);
        if was > 0 {
            b.merge_cf(cf, short_key(coding.m, was), encode_pair(-1, -len));
        }
        if is > 0 {
            b.merge_cf(cf, short_key(coding.m, is), encode_pair(1, len));
        }
        Ok(())
    }

    /// Committed segments whose placement falls short of surviving m domain losses, by
    /// (coding m, shortfall), from the counters.
    pub fn shortfall_counts(&self) -> MetaResult<Shortfalls> {
        Ok(self.raw_shortfall_counters()?.into_iter().filter(|(_, v)| *v != (0, 0)).map(|(k, (a, b))| (k, Totals { segments: u64::try_from(a).unwrap_or(0), bytes: u64::try_from(b).unwrap_or(0) })).collect())
    }

    fn raw_shortfall_counters(&self) -> MetaResult<BTreeMap<(u8, u8), (i64, i64)>> {
        let mut out = BTreeMap::new();
        self.scan_prefix(CF_LEDGER, SHORT_PREFIX, SHORT_PREFIX, |k, v| {
            if let Some(&[m, sf]) = k.get(SHORT_PREFIX.len()..) {
                out.insert((m, sf), counter(k, v)?);
            }
            Ok(true)
        })?;
        Ok(out)
    }

    /// Move one shard of `shard_bytes` bytes from disk `from` to disk `to` in the per-disk counters.
    pub(crate) fn batch_count_move(&self, b: &mut WriteBatch, from: DiskId, to: DiskId, shard_bytes: u64) -> MetaResult<()> {
        let cf = self.cf(CF_LEDGER)?;
        let sb = i64::try_from(shard_bytes).unwrap_or(i64::MAX);
        b.merge_cf(cf, disk_key(from), encode_pair(-1, -sb));
        b.merge_cf(cf, disk_key(to), encode_pair(1, sb));
        Ok(())
    }

    /// Forget the counters of disks leaving the cluster map.
    pub(crate) fn batch_forget_counters(&self, b: &mut WriteBatch, disks: &[DiskId]) -> MetaResult<()> {
        let cf = self.cf(CF_LEDGER)?;
        for d in disks {
            b.delete_cf(cf, disk_key(*d));
        }
        Ok(())
    }

    /// Committed segments (stored as shards) and bytes, from the ledger.
    pub fn committed_totals(&self) -> MetaResult<Totals> {
        self.totals_at(KEY_COMMITTED)
    }

    /// Committed inline segments (small objects kept with the metadata) and bytes.
    pub fn inline_totals(&self) -> MetaResult<Totals> {
        self.totals_at(KEY_INLINE)
    }

    fn totals_at(&self, key: &[u8]) -> MetaResult<Totals> {
        let (a, b) = self.get_raw(CF_LEDGER, key)?.map_or(Ok((0, 0)), |v| counter(key, &v))?;
        Ok(Totals { segments: u64::try_from(a).unwrap_or(0), bytes: u64::try_from(b).unwrap_or(0) })
    }

    /// Committed shards on `disk` and their data bytes, from its counter.
    pub fn disk_usage(&self, disk: DiskId) -> MetaResult<(u64, u64)> {
        let key = disk_key(disk);
        let (a, b) = self.get_raw(CF_LEDGER, &key)?.map_or(Ok((0, 0)), |v| counter(&key, &v))?;
        Ok((u64::try_from(a).unwrap_or(0), u64::try_from(b).unwrap_or(0)))
    }

    /// Every disk's counter (disks without one hold nothing).
    pub fn disk_usages(&self) -> MetaResult<HashMap<DiskId, (u64, u64)>> {
        Ok(self.raw_disk_counters()?.into_iter().map(|(d, (a, b))| (d, (u64::try_from(a).unwrap_or(0), u64::try_from(b).unwrap_or(0)))).collect())
    }

    /// The per-disk counters as stored (a negative value would be a bookkeeping bug, which a
    /// recount must see rather than have clamped to 0).
    fn raw_disk_counters(&self) -> MetaResult<HashMap<DiskId, (i64, i64)>> {
        let mut out = HashMap::new();
        self.scan_prefix(CF_LEDGER, DISK_PREFIX, DISK_PREFIX, |k, v| {
            if let Some(id) = k.get(DISK_PREFIX.len()..).and_then(|b| b.try_into().ok()).map(DiskId::from_be_bytes) {
                out.insert(id, counter(k, v)?);
            }
            Ok(true)
        })?;
        Ok(out)
    }

    /// The keys of the counters under `prefix` (their values unread).
    fn counter_keys(&self, prefix: &[u8]) -> MetaResult<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        self.scan_prefix(CF_LEDGER, prefix, prefix, |k, _| {
            out.push(k.to_vec());
            Ok(true)
        })?;
        Ok(out)
    }

    /// The error of the first counter that does not read, if any.
    fn damaged_counter(&self) -> MetaResult<Option<MetaError>> {
        for key in [KEY_COMMITTED, KEY_INLINE] {
            if let Some(Err(e)) = self.get_raw(CF_LEDGER, key)?.map(|v| counter(key, &v)) {
                return Ok(Some(e));
            }
        }
        let mut found = None;
        for prefix in [DISK_PREFIX, SHORT_PREFIX] {
            self.scan_prefix(CF_LEDGER, prefix, prefix, |k, v| match counter(k, v) {
                Ok(_) => Ok(true),
                Err(e) => {
                    found = Some(e);
                    Ok(false)
                }
            })?;
            if found.is_some() {
                break;
            }
        }
        Ok(found)
    }

    /// Start the ledger of a store created before it (or its per-disk counters) existed, or
    /// rebuild one holding a damaged counter: one recount at open, before any writer runs.
    pub(crate) fn ensure_ledger(&self) -> MetaResult<()> {
        let marked = |k: &[u8]| -> MetaResult<bool> { Ok(self.get_raw(CF_LEDGER, k)?.is_some()) };
        let damaged = self.damaged_counter()?;
        if damaged.is_none() && marked(KEY_COMMITTED)? && marked(KEY_DISKS_COUNTED)? && marked(KEY_DOMAINS_COUNTED)? {
            return Ok(());
        }
        if let Some(e) = &damaged {
            tracing::warn!(error = %e, "the redundancy ledger holds a damaged counter; recounting it");
        }
        let mut t = Totals::default();
        let mut disks: HashMap<DiskId, (u64, u64)> = HashMap::new();
        let mut short: Shortfalls = BTreeMap::new();
        let mut inline = Totals::default();
        self.visit_all_segments(|c, s| {
            if s.is_inline() {
                inline.segments += 1;
                inline.bytes += s.len;
                return;
            }
            t.segments += 1;
            t.bytes += s.len;
            let sb = shard_bytes(c, s.len);
            for l in &s.shards {
                let e = disks.entry(l.disk).or_default();
                e.0 += 1;
                e.1 += sb;
            }
            tally(&mut short, c, self.placement_shortfall(c, s), s.len);
        })?;
        let cf = self.cf(CF_LEDGER)?;
        let mut b = WriteBatch::default();
        for k in self.counter_keys(DISK_PREFIX)?.into_iter().chain(self.counter_keys(SHORT_PREFIX)?) {
            b.delete_cf(cf, k);
        }
        let i = |x: u64| i64::try_from(x).unwrap_or(i64::MAX);
        b.put_cf(cf, KEY_COMMITTED, encode_pair(i(t.segments), i(t.bytes)));
        if inline == Totals::default() {
            b.delete_cf(cf, KEY_INLINE); // absent reads (0, 0)
        } else {
            b.put_cf(cf, KEY_INLINE, encode_pair(i(inline.segments), i(inline.bytes)));
        }
        for (d, (n, bytes)) in &disks {
            b.put_cf(cf, disk_key(*d), encode_pair(i(*n), i(*bytes)));
        }
        for ((m, sf), v) in &short {
            b.put_cf(cf, short_key(*m, *sf), encode_pair(i(v.segments), i(v.bytes)));
        }
        b.put_cf(cf, KEY_DISKS_COUNTED, [1u8]);
        b.put_cf(cf, KEY_DOMAINS_COUNTED, [1u8]);
        if t.segments > 0 {
            tracing::info!(segments = t.segments, bytes = t.bytes, disks = disks.len(), "redundancy ledger started from a recount");
        }
        self.write(b)
    }

    /// Recount everything by a full scan: totals, shards against index entries, segments by
    /// shards on disks for which `usable` is false and by what they survive in failure
    /// domains, and the placement shortfall counters.
    ///
    /// A segment with more than `cap` placed shards in one failure domain, or two on one
    /// disk, is listed.
    pub fn recount(&self, usable: &dyn Fn(DiskId) -> bool, cap: usize) -> MetaResult<Recount> {
        let mut r = Recount::default();
        let mut placement: Shortfalls = BTreeMap::new();
        self.visit_all_segments(|c: &Coding, s: &SegmentMeta| {
            if s.is_inline() {
                r.inline.segments += 1;
                r.inline.bytes += s.len;
                return;
            }
            let stored: Vec<DiskId> = s.shards.iter().map(|l| l.disk).filter(|d| *d != NO_DISK).collect();
            if stored.iter().enumerate().any(|(i, d)| stored[..i].contains(d)) {
                r.sharing_a_disk += 1;
            }
            let (per, placed_short) = self.placement(c, s);
            tally(&mut placement, c, placed_short, s.len);
            tally(&mut r.by_shortfall, c, self.shortfall(c, s, usable), s.len);
            if cap > 0 && per.values().any(|n| *n > cap) {
                r.over_domain_cap.push(s.id);
            }
            r.totals.segments += 1;
            r.totals.bytes += s.len;
            r.shards += s.shards.len() as u64;
            let sb = shard_bytes(c, s.len);
            for l in &s.shards {
                let e = r.disks.entry(l.disk).or_default();
                e.0 += 1;
                e.1 += sb;
            }
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
        let mut counters = self.raw_disk_counters()?;
        counters.retain(|_, v| *v != (0, 0));
        let scanned: HashMap<DiskId, (i64, i64)> =
            r.disks.iter().map(|(d, (n, b))| (*d, (i64::try_from(*n).unwrap_or(i64::MAX), i64::try_from(*b).unwrap_or(i64::MAX)))).collect();
        r.disk_counters_match = counters == scanned;
        r.shortfall_counters_match = self.shortfall_counts()? == placement;
        r.inline_counter_matches = self.inline_totals()? == r.inline;
        Ok(r)
    }
}

#[cfg(test)]
impl RocksMeta {
    pub(crate) fn reset_ledger_for_test(&self) -> MetaResult<()> {
        let mut b = WriteBatch::default();
        b.delete_cf(self.cf(CF_LEDGER)?, KEY_COMMITTED);
        b.delete_cf(self.cf(CF_LEDGER)?, KEY_DISKS_COUNTED);
        b.delete_cf(self.cf(CF_LEDGER)?, KEY_DOMAINS_COUNTED);
        for k in self.counter_keys(SHORT_PREFIX)? {
            b.delete_cf(self.cf(CF_LEDGER)?, k);
        }
        self.write(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_values_carry_a_version_and_only_two_shapes_read() {
        let v = encode_pair(5, -1);
        assert_eq!(v, [&[1u8, 5, 0, 0, 0, 0, 0, 0, 0][..], &[0xff; 8][..]].concat(), "[u8 1][i64 LE][i64 LE] (docs/formats.md §2.4)");
        assert_eq!(decode_pair(&v), Ok((5, -1)));
        // The unversioned pair of older stores, whatever its first byte.
        let legacy = [&7i64.to_le_bytes()[..], &(-3i64).to_le_bytes()[..]].concat();
        assert_eq!(decode_pair(&legacy), Ok((7, -3)));
        assert_eq!(decode_pair(&[1; 16]), Ok((0x0101_0101_0101_0101, 0x0101_0101_0101_0101)));
        for len in [0, 1, 8, 15, 18, 33] {
            assert_eq!(decode_pair(&vec![1; len]), Err(PairError::Length { len }), "{len} bytes never read as a counter");
        }
        assert_eq!(decode_pair(&[&[2u8][..], &[0; 16][..]].concat()), Err(PairError::Version { version: 2 }));
        assert_eq!(decode_pair(&[0; 17]), Err(PairError::Version { version: 0 }));
        assert_eq!(decode_pair(DAMAGED), Err(PairError::Damaged));
    }

    #[test]
    fn ledger_keys_are_named_for_people() {
        assert_eq!(describe_key(KEY_COMMITTED), "committed");
        assert_eq!(describe_key(&disk_key(258)), "disk/258");
        assert_eq!(describe_key(&short_key(2, 1)), "short/m2/1");
        assert_eq!(describe_key(b"disk/\x01"), "disk/\\x01");
    }
}
