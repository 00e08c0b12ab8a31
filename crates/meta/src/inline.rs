//! Inline segments: a small object's bytes kept in the metadata store, beside its manifest,
//! instead of as k+m shard files (see `SegmentMeta::is_inline`).
//!
//! A PUT or copy stores the bytes with the object's commit, in the same write batch
//! ([`Command::PutObjectInline`]): one synced write, and in a group one log entry, per small
//! object; a commit its precondition refuses stores nothing, and a crash keeps both or neither.
//! Everything after follows the shard path: an unreferenced segment (overwritten, deleted,
//! expired) becomes a garbage entry with no shards, and when garbage collection removes that
//! entry, the bytes go with it. Only then: a GET that read the manifest just before an
//! overwrite still finds the bytes for the garbage delay, as it would find shard files.
//!
//! A writer whose commit cannot carry the bytes writes them first, with a write intent, by
//! [`Command::PutInline`] — the way shards are written before the commit that references
//! them; the commit clears the intent, a failed write turns it into garbage. Those bytes are
//! written unsynced: they matter only once a commit references them, and that commit is a
//! synced write, which syncs RocksDB's write-ahead log — every write before it included, in
//! every live WAL file (`DBImpl::WriteGroupToWAL` syncs all of `logs_`, checked against
//! RocksDB 11.8) — before it returns.

use rocksdb::WriteBatch;

use crate::error::{MetaError, MetaResult};
use crate::keys;
use crate::store::{RocksMeta, CF_INLINE, CF_INTENTS};
use crate::types::{encode, InlineRecord, IntentRecord, Manifest, SegmentId};

#[cfg(doc)]
use crate::command::Command;

/// The bytes of an object's inline segment, committed with it ([`Command::PutObjectInline`]).
pub(crate) struct InlinePut<'a> {
    /// The segment.
    pub segment: SegmentId,
    /// Its bytes.
    pub data: &'a [u8],
    /// BLAKE3 of `data`, as the command carries it.
    pub hash: &'a [u8; 32],
}

impl InlinePut<'_> {
    /// The precondition: `manifest` names the segment as inline, of this many bytes, and the
    /// bytes hash to the hash the command carries (`InlineDamaged` otherwise).
    pub(crate) fn check(&self, manifest: &Manifest) -> MetaResult<()> {
        let named = manifest.segments.iter().any(|s| s.id == self.segment && s.is_inline() && s.len == self.data.len() as u64);
        if !named || kintsugi_erasure::chunk_hash(self.data) != *self.hash {
            return Err(MetaError::InlineDamaged { segment: self.segment });
        }
        Ok(())
    }
}

impl RocksMeta {
    /// In `b`: store the bytes of `put` (checked by [`InlinePut::check`]).
    pub(crate) fn batch_put_inline(&self, b: &mut WriteBatch, put: &InlinePut<'_>) -> MetaResult<()> {
        let record = InlineRecord { hash: *put.hash, data: put.data.to_vec() };
        b.put_cf(self.cf(CF_INLINE)?, keys::segment_key(put.segment), encode(&record)?);
        Ok(())
    }

    /// The precondition of a commit: every inline segment of `manifest` (but `carried`, whose
    /// bytes the command itself brings) has its bytes stored — else `InlineDamaged`, so a
    /// writer that lost them can never commit an object that reads as missing bytes.
    pub(crate) fn require_inline_bytes(&self, manifest: &Manifest, carried: Option<SegmentId>) -> MetaResult<()> {
        for s in manifest.segments.iter().filter(|s| s.is_inline() && Some(s.id) != carried) {
            if self.get_raw(CF_INLINE, &keys::segment_key(s.id))?.is_none() {
                return Err(MetaError::InlineDamaged { segment: s.id });
            }
        }
        Ok(())
    }

    /// Apply [`Command::PutInline`]: refused (`InlineDamaged`) when `data` does not hash to `hash`.
    pub(crate) fn apply_put_inline(&self, segment: SegmentId, data: &[u8], hash: &[u8; 32], started_ms: i64) -> MetaResult<()> {
        if kintsugi_erasure::chunk_hash(data) != *hash {
            return Err(MetaError::InlineDamaged { segment });
        }
        let k = keys::segment_key(segment);
        let mut b = WriteBatch::default();
        b.put_cf(self.cf(CF_INLINE)?, k, encode(&InlineRecord { hash: *hash, data: data.to_vec() })?);
        b.put_cf(self.cf(CF_INTENTS)?, k, encode(&IntentRecord { started_ms, shards: Vec::new() })?);
        self.write_sync(b, false)
    }

    /// The bytes of inline segment `segment` (this replica's copy), checked against their
    /// hash; `None` when there are none (the segment was collected, or is not inline).
    pub fn inline_data(&self, segment: SegmentId) -> MetaResult<Option<Vec<u8>>> {
        let Some(rec) = self.get::<InlineRecord>(CF_INLINE, "inline segment", &keys::segment_key(segment))? else { return Ok(None) };
        if kintsugi_erasure::chunk_hash(&rec.data) != rec.hash {
            return Err(MetaError::Corrupt { what: "inline segment", detail: format!("segment {segment:032x}: its bytes do not match their hash") });
        }
        Ok(Some(rec.data))
    }

    /// In `b`: drop the bytes of `segment` if it is inline (its garbage entry is done).
    pub(crate) fn batch_drop_inline(&self, b: &mut WriteBatch, segment: SegmentId) -> MetaResult<()> {
        b.delete_cf(self.cf(CF_INLINE)?, keys::segment_key(segment));
        Ok(())
    }

    /// Inline segment records stored (committed or not yet collected) and their bytes.
    #[cfg(test)]
    pub(crate) fn scan_inline(&self) -> MetaResult<(u64, u64)> {
        let (mut n, mut bytes) = (0u64, 0u64);
        self.scan_prefix(CF_INLINE, &[], &[], |_, v| {
            let rec: InlineRecord = crate::types::decode("inline segment", v)?;
            n += 1;
            bytes += rec.data.len() as u64;
            Ok(true)
        })?;
        Ok((n, bytes))
    }
}

#[cfg(test)]
mod tests {
    use crate::command_tests::{manifest, seg};
    use crate::error::MetaError;
    use crate::read::MetaRead;
    use crate::store::{Expect, CF_INLINE};
    use crate::tests::open;
    use crate::types::SegmentMeta;
    use crate::{keys, Command, Totals};

    fn inline(id: u128, len: u64) -> SegmentMeta {
        SegmentMeta { id, len, shards: vec![] }
    }

    #[test]
    fn inline_bytes_live_until_their_garbage_entry_is_collected() {
        let (_d, meta) = open();
        meta.create_bucket("b").expect("bucket");
        meta.put_inline(7, b"hello".to_vec()).expect("bytes");
        assert_eq!(meta.list_intents().expect("intents").len(), 1, "uncommitted bytes have an intent, like shards");
        meta.put_object("b", "k", &manifest(1, vec![inline(7, 5)]), Expect::Version(None)).expect("commit");
        assert!(meta.list_intents().expect("intents").is_empty(), "the commit clears the intent");
        assert_eq!(meta.inline_data(7).expect("read"), Some(b"hello".to_vec()));
        // The ledger counts inline segments apart from coded ones, and a recount agrees.
        assert_eq!(meta.inline_totals().expect("inline"), Totals { segments: 1, bytes: 5 });
        assert_eq!(meta.committed_totals().expect("committed"), Totals::default());
        let r = meta.recount(&|_| true, 0).expect("recount");
        assert!(r.inline_counter_matches && r.shards == 0 && r.index_entries == 0, "{r:?}");
        assert_eq!(r.inline, Totals { segments: 1, bytes: 5 });
        assert!(r.by_shortfall.is_empty(), "an inline segment is not a segment at risk");
        // Overwritten by a coded object: the bytes stay (a GET may be reading them) until GC.
        meta.put_object("b", "k", &manifest(2, vec![seg(8, &[1, 2, 3])]), Expect::Any).expect("overwrite");
        assert_eq!(meta.inline_totals().expect("inline"), Totals::default());
        assert_eq!(meta.inline_data(7).expect("read"), Some(b"hello".to_vec()));
        let due = meta.due_garbage(i64::MAX, 10).expect("garbage");
        let entry = due.iter().find(|(s, _)| *s == 7).expect("the inline segment is garbage");
        assert!(entry.1.shards.is_empty());
        meta.remove_garbage_shards(7, vec![]).expect("collect");
        assert_eq!(meta.inline_data(7).expect("read"), None);
        assert_eq!(meta.scan_inline().expect("scan"), (0, 0));
        assert!(meta.recount(&|_| true, 0).expect("recount").inline_counter_matches);
    }

    #[test]
    fn bytes_of_a_put_that_never_committed_are_collected() {
        let (_d, meta) = open();
        meta.put_inline(9, vec![1; 100]).expect("bytes");
        meta.intents_to_garbage(&[9]).expect("abandon");
        assert!(meta.list_intents().expect("intents").is_empty());
        assert_eq!(meta.inline_data(9).expect("read").map(|d| d.len()), Some(100), "kept until collected");
        meta.remove_garbage(9).expect("collect");
        assert_eq!(meta.scan_inline().expect("scan"), (0, 0));
        assert_eq!(meta.inline_totals().expect("inline"), Totals::default(), "never committed, never counted");
    }

    #[test]
    fn removing_disks_keeps_the_intents_and_garbage_of_inline_segments() {
        let (_d, meta) = open();
        meta.create_bucket("b").expect("bucket");
        meta.put_inline(20, b"gone soon".to_vec()).expect("bytes");
        meta.put_object("b", "k", &manifest(1, vec![inline(20, 9)]), Expect::Any).expect("commit");
        meta.delete_object("b", "k", Expect::Any).expect("delete: its bytes are garbage");
        meta.put_inline(21, b"in flight".to_vec()).expect("bytes of a PUT not committed yet");
        meta.retire_disks(&[1, 2], &[]).expect("retire");
        // Neither names a disk: both stay, so GC still drops the first's bytes and the second
        // can still commit, or be collected when its PUT fails.
        assert!(meta.due_garbage(i64::MAX, 10).expect("garbage").iter().any(|(s, _)| *s == 20));
        assert!(meta.list_intents().expect("intents").iter().any(|(s, _)| *s == 21));
        meta.remove_garbage_shards(20, vec![]).expect("collect");
        meta.intents_to_garbage(&[21]).expect("abandon");
        meta.remove_garbage_shards(21, vec![]).expect("collect");
        assert_eq!(meta.scan_inline().expect("scan"), (0, 0), "no bytes left behind");
    }

    #[test]
    fn a_damaged_inline_counter_is_recounted_at_the_next_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let meta = crate::RocksMeta::open(dir.path(), 0).expect("open");
        meta.create_bucket("b").expect("bucket");
        meta.put_inline(30, vec![7; 40]).expect("bytes");
        meta.put_object("b", "k", &manifest(1, vec![inline(30, 40)]), Expect::Any).expect("commit");
        meta.put_raw_for_test(crate::store::CF_LEDGER, b"inline", &[1; 15]).expect("damage");
        assert!(matches!(meta.inline_totals(), Err(MetaError::Corrupt { .. })));
        drop(meta);
        let meta = crate::RocksMeta::open(dir.path(), 0).expect("reopen");
        assert_eq!(meta.inline_totals().expect("recounted"), Totals { segments: 1, bytes: 40 });
    }

    #[test]
    fn a_small_object_and_its_bytes_commit_in_one_write_or_not_at_all() {
        let (_d, meta) = open();
        meta.create_bucket("b").expect("bucket");
        let m = manifest(1, vec![inline(40, 5)]);
        meta.put_object_inline("b", "k", &m, Expect::Version(None), &[], None, 40, b"hello".to_vec()).expect("commit");
        assert_eq!(meta.inline_data(40).expect("read"), Some(b"hello".to_vec()));
        assert!(meta.list_intents().expect("intents").is_empty(), "one write: no intent is ever left");
        assert_eq!(meta.inline_totals().expect("inline"), Totals { segments: 1, bytes: 5 });
        assert!(meta.recount(&|_| true, 0).expect("recount").inline_counter_matches);
        // A commit its precondition refuses writes nothing: neither the object nor the bytes.
        let m2 = manifest(2, vec![inline(41, 3)]);
        let refused = meta.put_object_inline("b", "k", &m2, Expect::Version(None), &[], None, 41, b"new".to_vec());
        assert!(matches!(refused, Err(MetaError::VersionConflict { .. })), "{refused:?}");
        assert_eq!(meta.inline_data(41).expect("read"), None);
        assert!(meta.list_intents().expect("intents").is_empty());
        assert_eq!(meta.object("b", "k").expect("get").map(|m| m.version_id), Some(1));
        let gone = meta.put_object_inline("nope", "k", &m2, Expect::Any, &[], None, 41, b"new".to_vec());
        assert!(matches!(gone, Err(MetaError::NoSuchBucket { .. })), "{gone:?}");
        assert_eq!(meta.scan_inline().expect("scan"), (1, 5), "only the first object's bytes");
        // Overwritten: the old bytes become garbage with the old version, as with PutInline.
        meta.put_object_inline("b", "k", &m2, Expect::Version(Some(1)), &[], None, 41, b"new".to_vec()).expect("overwrite");
        assert_eq!(meta.inline_data(41).expect("read"), Some(b"new".to_vec()));
        assert!(meta.due_garbage(i64::MAX, 10).expect("garbage").iter().any(|(s, _)| *s == 40));
        assert_eq!(meta.inline_totals().expect("inline"), Totals { segments: 1, bytes: 3 });
    }

    #[test]
    fn a_commit_naming_inline_bytes_that_were_never_stored_is_refused() {
        let (_d, meta) = open();
        meta.create_bucket("b").expect("bucket");
        let m = manifest(1, vec![inline(50, 4)]);
        let lost = meta.put_object("b", "k", &m, Expect::Any);
        assert!(matches!(lost, Err(MetaError::InlineDamaged { segment: 50 })), "{lost:?}");
        assert_eq!(meta.object("b", "k").expect("get"), None);
        let lost = meta.put_object_locked("b", "k", &m, Expect::Any, &[("t".into(), "v".into())], None);
        assert!(matches!(lost, Err(MetaError::InlineDamaged { segment: 50 })), "{lost:?}");
        // With its bytes stored first (51), the same commit goes through.
        meta.put_inline(50, b"data".to_vec()).expect("bytes");
        meta.put_object("b", "k", &m, Expect::Any).expect("commit");
        assert_eq!(meta.inline_data(50).expect("read"), Some(b"data".to_vec()));
    }

    #[test]
    fn a_commit_whose_bytes_do_not_match_its_manifest_is_refused_whole() {
        let (_d, meta) = open();
        meta.create_bucket("b").expect("bucket");
        let hash = kintsugi_erasure::chunk_hash(b"abc");
        let put = |manifest, segment, data: &[u8], hash| Command::PutObjectInline {
            bucket: "b".into(),
            key: "k".into(),
            manifest,
            expect: Expect::Any,
            garbage_due_ms: 0,
            tags: vec![],
            lock: None,
            segment,
            data: data.to_vec(),
            hash,
        };
        for (why, cmd) in [
            ("bytes that do not hash to the hash", put(manifest(1, vec![inline(5, 3)]), 5, b"abd", hash)),
            ("a length the manifest does not give", put(manifest(1, vec![inline(5, 4)]), 5, b"abc", hash)),
            ("a segment the manifest does not name", put(manifest(1, vec![inline(6, 3)]), 5, b"abc", hash)),
            ("a segment the manifest names as coded", put(manifest(1, vec![seg(5, &[1, 2, 3])]), 5, b"abc", hash)),
        ] {
            assert!(matches!(meta.apply(&cmd), Err(MetaError::InlineDamaged { segment: 5 })), "{why}");
            assert_eq!(meta.object("b", "k").expect("get"), None, "{why}: no object");
            assert_eq!(meta.scan_inline().expect("scan"), (0, 0), "{why}: no bytes");
        }
        assert!(meta.apply(&put(manifest(1, vec![inline(5, 3)]), 5, b"abc", hash)).is_ok());
    }

    #[test]
    fn damaged_bytes_are_refused_on_the_way_in_and_reported_on_the_way_out() {
        let (_d, meta) = open();
        let cmd = Command::PutInline { segment: 3, data: b"abc".to_vec(), hash: [0; 32], started_ms: 1 };
        assert!(matches!(meta.apply(&cmd), Err(MetaError::InlineDamaged { segment: 3 })));
        assert_eq!(meta.scan_inline().expect("scan"), (0, 0), "nothing stored");
        assert!(meta.list_intents().expect("intents").is_empty());
        // A stored record whose bytes no longer match its hash reads as an error, never as data.
        meta.put_inline(4, b"abcd".to_vec()).expect("bytes");
        let k = keys::segment_key(4);
        let good = meta.get_raw(CF_INLINE, &k).expect("raw").expect("stored");
        let mut bad = good.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        meta.put_raw_for_test(CF_INLINE, &k, &bad).expect("damage");
        assert!(matches!(meta.inline_data(4), Err(MetaError::Corrupt { what: "inline segment", .. })));
    }
}
