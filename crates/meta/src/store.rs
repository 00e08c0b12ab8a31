//! The RocksDB implementation of the metadata store.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, RwLock};
use rocksdb::{ColumnFamily, ColumnFamilyDescriptor, Options, WriteBatch, WriteOptions, DB};

use crate::error::{MetaError, MetaResult};
use crate::keys;
use crate::types::*;

pub(crate) const CF_BUCKETS: &str = "buckets";
pub(crate) const CF_OBJECTS: &str = "objects";
pub(crate) const CF_UPLOADS: &str = "uploads";
pub(crate) const CF_PARTS: &str = "parts";
pub(crate) const CF_DISK_SHARDS: &str = "disk_shards";
pub(crate) const CF_INTENTS: &str = "intents";
pub(crate) const CF_GARBAGE: &str = "garbage";
pub(crate) const CF_KEYS: &str = "keys";
pub(crate) const CF_SYSTEM: &str = "system";
pub(crate) const CF_LEDGER: &str = "ledger";
pub(crate) const CF_VERSIONS: &str = "versions";
/// The bytes of inline segments (small objects kept with their metadata), by segment id.
pub(crate) const CF_INLINE: &str = "inline";
pub(crate) const ALL_CFS: [&str; 12] = [
    CF_BUCKETS,
    CF_OBJECTS,
    CF_UPLOADS,
    CF_PARTS,
    CF_DISK_SHARDS,
    CF_INTENTS,
    CF_GARBAGE,
    CF_KEYS,
    CF_SYSTEM,
    CF_LEDGER,
    CF_VERSIONS,
    CF_INLINE,
];
pub(crate) const KEY_DISKS: &[u8] = b"disks";
pub(crate) const KEY_NODES: &[u8] = b"nodes";
pub(crate) const KEY_DRAINS: &[u8] = b"drains";
pub(crate) const KEY_RETIRED: &[u8] = b"retired-disks";
pub(crate) const KEY_REMOVED_NODES: &[u8] = b"removed-nodes";
pub(crate) const KEY_REBALANCE: &[u8] = b"rebalance";
pub(crate) const KEY_MAP_EPOCH: &[u8] = b"map-epoch";
const LOCK_STRIPES: usize = 64;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// What a commit expects the current object version to be (compare-and-swap).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Expect {
    /// Last writer wins (a plain PUT or DELETE).
    Any,
    /// The object must currently be this version (`None`: must not exist).
    Version(Option<u128>),
}

/// Metadata store on RocksDB. All commits are atomic write batches, synced to
/// the write-ahead log before they return.
pub struct RocksMeta {
    db: DB,
    /// Object commits take it shared; bucket create/delete take it exclusive.
    pub(crate) bucket_lock: RwLock<()>,
    /// Striped locks serialising read-modify-write of one object key.
    key_locks: Vec<Mutex<()>>,
    garbage_delay_ms: i64,
    /// Each disk's failure domain (see `domains`).
    pub(crate) domains: crate::domains::Domains,
    /// Serialises changes of the cluster-map epoch (see `cluster_map.rs`), and the one-time
    /// write of the master key (`encryption.rs`).
    pub(crate) epoch_lock: Mutex<()>,
    /// Where mutations go when not applied here at once (see [`crate::CommandLog`]).
    pub(crate) log: std::sync::OnceLock<std::sync::Arc<dyn crate::CommandLog>>,
    /// Whether each write batch is synced before it returns (see `replica.rs`).
    pub(crate) synced: std::sync::atomic::AtomicBool,
    /// Held by a snapshot import throughout, and by an export or checkpoint while it takes its
    /// point (`export.rs`).
    pub(crate) import_lock: Mutex<()>,
    /// Odd while a snapshot import runs (or failed midway): the access check's local reads
    /// refuse (`export.rs`, `guarded`).
    pub(crate) import_generation: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for RocksMeta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksMeta").field("path", &self.db.path()).finish()
    }
}

impl RocksMeta {
    /// Open (creating if needed) the store under `path`. Shards unreferenced
    /// by a commit are deleted no earlier than `garbage_delay_ms` later.
    pub fn open(path: &Path, garbage_delay_ms: i64) -> MetaResult<Self> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_keep_log_file_num(5);
        let cfs = ALL_CFS.iter().map(|n| {
            let o = if *n == CF_LEDGER { crate::ledger::ledger_options() } else { Options::default() };
            ColumnFamilyDescriptor::new(*n, o)
        });
        let db = DB::open_cf_descriptors(&opts, path, cfs).map_err(MetaError::db("open"))?;
        let meta = Self {
            db,
            bucket_lock: RwLock::new(()),
            key_locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            garbage_delay_ms,
            domains: crate::domains::Domains::default(),
            epoch_lock: Mutex::new(()),
            log: std::sync::OnceLock::new(),
            synced: std::sync::atomic::AtomicBool::new(true),
            import_lock: Mutex::new(()),
            import_generation: std::sync::atomic::AtomicU64::new(0),
        };
        meta.finish_interrupted_import()?;
        meta.load_domains()?;
        meta.ensure_ledger()?;
        Ok(meta)
    }

    /// Directory of the database.
    pub fn path(&self) -> &Path {
        self.db.path()
    }

    /// Write a consistent copy of the whole database to `dir` (which must not exist) while it
    /// serves: a RocksDB checkpoint (files hard-linked where `dir` is on the same file system,
    /// copied otherwise, the write-ahead log flushed first). It opens as a store of its own.
    pub fn checkpoint(&self, dir: &Path) -> MetaResult<()> {
        // Never a copy of a half-imported store.
        let _no_import = self.import_lock.lock();
        if self.importing() {
            return Err(crate::export::half_imported());
        }
        let cp = rocksdb::checkpoint::Checkpoint::new(&self.db).map_err(MetaError::db("checkpoint"))?;
        cp.create_checkpoint(dir).map_err(MetaError::db("checkpoint"))
    }

    pub(crate) fn db(&self) -> &DB {
        &self.db
    }

    pub(crate) fn cf(&self, name: &'static str) -> MetaResult<&ColumnFamily> {
        self.db.cf_handle(name).ok_or(MetaError::MissingColumnFamily { name })
    }

    pub(crate) fn write(&self, batch: WriteBatch) -> MetaResult<()> {
        self.write_sync(batch, self.synced.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// [`RocksMeta::write`], synced or not whatever the store's setting.
    pub(crate) fn write_sync(&self, mut batch: WriteBatch, sync: bool) -> MetaResult<()> {
        self.stamp_batch(&mut batch)?;
        let mut wo = WriteOptions::default();
        wo.set_sync(sync);
        self.db.write_opt(batch, &wo).map_err(MetaError::db("write"))
    }

    pub(crate) fn get<T: serde::de::DeserializeOwned>(&self, cf: &'static str, what: &'static str, key: &[u8]) -> MetaResult<Option<T>> {
        match self.db.get_cf(self.cf(cf)?, key).map_err(MetaError::db("get"))? {
            Some(bytes) => Ok(Some(decode(what, &bytes)?)),
            None => Ok(None),
        }
    }

    /// A stored part of either shape (`types::decode_part`).
    pub(crate) fn get_part(&self, key: &[u8]) -> MetaResult<Option<PartRecord>> {
        self.get_raw(CF_PARTS, key)?.map(|b| crate::types::decode_part(&b)).transpose()
    }

    pub(crate) fn get_raw(&self, cf: &'static str, key: &[u8]) -> MetaResult<Option<Vec<u8>>> {
        self.db.get_cf(self.cf(cf)?, key).map_err(MetaError::db("get"))
    }

    /// Write `value` as the system record `key` (`what` in errors) unless one is there: the
    /// first writer wins. The check and the write are one step: two first writes at once (the
    /// embedded store applies commands on several threads) must not both see none.
    pub(crate) fn set_system_once<T: serde::Serialize + serde::de::DeserializeOwned>(&self, key: &[u8], what: &'static str, value: &T) -> MetaResult<()> {
        let _m = self.epoch_lock.lock();
        if self.guarded(|| self.get::<T>(CF_SYSTEM, what, key))?.is_some() {
            return Ok(());
        }
        let mut b = WriteBatch::default();
        b.put_cf(self.cf(CF_SYSTEM)?, key, encode(value)?);
        self.write(b)
    }

    #[cfg(test)]
    pub(crate) fn put_raw_for_test(&self, cf: &'static str, key: &[u8], value: &[u8]) -> MetaResult<()> {
        let mut b = WriteBatch::default();
        b.put_cf(self.cf(cf)?, key, value);
        self.write(b)
    }

    /// Tests: every (column family, key, value) in the store, in order.
    #[cfg(test)]
    pub(crate) fn dump_for_test(&self) -> MetaResult<Vec<DumpedRecord>> {
        let mut out = Vec::new();
        for name in ALL_CFS {
            for item in self.db.iterator_cf(self.cf(name)?, rocksdb::IteratorMode::Start) {
                let (k, v) = item.map_err(MetaError::db("dump"))?;
                out.push((name, k.to_vec(), v.to_vec()));
            }
        }
        Ok(out)
    }

    /// An upload by id alone (a scan; used only for legacy index entries without owners).
    pub(crate) fn find_upload(&self, upload_id: &str) -> MetaResult<Option<UploadRecord>> {
        let mut found = None;
        self.scan_prefix(CF_UPLOADS, &[], &[], |_, v| {
            let u: UploadRecord = decode("upload", v)?;
            if u.upload_id == upload_id {
                found = Some(u);
                return Ok(false);
            }
            Ok(true)
        })?;
        Ok(found)
    }

    pub(crate) fn key_lock(&self, bucket: &str, key: &str) -> &Mutex<()> {
        let h = blake3_like_hash(bucket.as_bytes(), key.as_bytes());
        &self.key_locks[h % LOCK_STRIPES]
    }

    /// Iterate `(key, value)` pairs of `cf` whose key starts with `prefix`, from `start` (>= prefix).
    pub(crate) fn scan_prefix(
        &self,
        cf: &'static str,
        prefix: &[u8],
        start: &[u8],
        mut f: impl FnMut(&[u8], &[u8]) -> MetaResult<bool>,
    ) -> MetaResult<()> {
        let cfh = self.cf(cf)?;
        let mut it = self.db.raw_iterator_cf(cfh);
        it.seek(start);
        while it.valid() {
            let (Some(k), Some(v)) = (it.key(), it.value()) else { break };
            if !k.starts_with(prefix) {
                break;
            }
            if !f(k, v)? {
                return Ok(());
            }
            it.next();
        }
        it.status().map_err(MetaError::db("scan"))
    }

    /// Like [`scan_prefix`] but with a seek callback: `f` returns `Some(next)` to jump.
    pub(crate) fn scan_with_seek(
        &self,
        cf: &'static str,
        prefix: &[u8],
        start: &[u8],
        mut f: impl FnMut(&[u8], &[u8]) -> MetaResult<Step>,
    ) -> MetaResult<()> {
        let cfh = self.cf(cf)?;
        let mut it = self.db.raw_iterator_cf(cfh);
        it.seek(start);
        while it.valid() {
            let (Some(k), Some(v)) = (it.key(), it.value()) else { break };
            if !k.starts_with(prefix) {
                break;
            }
            match f(k, v)? {
                Step::Next => it.next(),
                Step::Seek(to) => it.seek(&to),
                Step::Stop => return Ok(()),
            }
        }
        it.status().map_err(MetaError::db("scan"))
    }

    // ----- buckets -----

    pub(crate) fn require_bucket(&self, bucket: &str) -> MetaResult<()> {
        match self.local_bucket(bucket)? {
            Some(_) => Ok(()),
            None => Err(MetaError::NoSuchBucket { bucket: bucket.into() }),
        }
    }

    pub(crate) fn apply_delete_bucket(&self, bucket: &str, garbage_due_ms: i64) -> MetaResult<()> {
        let _g = self.bucket_lock.write();
        self.require_bucket(bucket)?;
        let prefix = keys::bucket_prefix(bucket);
        let mut has_object = false;
        self.scan_prefix(CF_OBJECTS, &prefix, &prefix, |_, _| {
            has_object = true;
            Ok(false)
        })?;
        if has_object || self.bucket_has_versions(bucket)? {
            return Err(MetaError::BucketNotEmpty { bucket: bucket.into() });
        }
        let mut b = WriteBatch::default();
        // What is left of versions are heads of keys with nothing versioned left.
        self.scan_prefix(CF_VERSIONS, &prefix, &prefix, |k, _| {
            b.delete_cf(self.cf(CF_VERSIONS)?, k);
            Ok(true)
        })?;
        self.batch_drop_versioning(&mut b, bucket)?;
        self.batch_drop_bucket_lock(&mut b, bucket)?;
        let mut uploads = Vec::new();
        self.scan_prefix(CF_UPLOADS, &prefix, &prefix, |k, v| {
            uploads.push((k.to_vec(), decode::<UploadRecord>("upload", v)?));
            Ok(true)
        })?;
        for (k, up) in uploads {
            self.batch_drop_upload(&mut b, &k, &up.upload_id, &[], garbage_due_ms)?;
        }
        b.delete_cf(self.cf(CF_BUCKETS)?, bucket.as_bytes());
        self.batch_bucket_tags(&mut b, bucket, &[])?;
        self.batch_bucket_cors(&mut b, bucket, &[])?;
        self.batch_bucket_lifecycle(&mut b, bucket, &[])?;
        self.batch_bucket_encryption(&mut b, bucket, "")?;
        self.batch_bucket_policy(&mut b, bucket, "")?;
        self.batch_drop_bucket_controls(&mut b, bucket)?;
        self.batch_drop_bucket_acl(&mut b, bucket)?;
        self.write(b)
    }

    // ----- objects -----

    /// Current manifest of an object.
    pub fn local_object(&self, bucket: &str, key: &str) -> MetaResult<Option<Manifest>> {
        self.get(CF_OBJECTS, "manifest", &keys::object_key(bucket, key.as_bytes()))
    }

    pub(crate) fn check_expect(&self, bucket: &str, key: &str, old: &Option<Manifest>, expect: Expect) -> MetaResult<()> {
        if let Expect::Version(v) = expect {
            if old.as_ref().map(|m| m.version_id) != v {
                return Err(MetaError::VersionConflict {
                    bucket: bucket.into(),
                    key: key.into(),
                    expected: v,
                });
            }
        }
        Ok(())
    }

    /// Add index entries (valued with their owner) for segments now referenced and clear their
    /// intents; `fresh` segments (not referenced by anything before) are added to the ledger.
    pub(crate) fn batch_reference(&self, b: &mut WriteBatch, segments: &[SegmentMeta], coding: &Coding, owner: &ShardOwner, fresh: bool) -> MetaResult<()> {
        if fresh {
            self.batch_count(b, segments, coding, 1)?;
        }
        let idx = self.cf(CF_DISK_SHARDS)?;
        let intents = self.cf(CF_INTENTS)?;
        let value = encode(owner)?;
        for s in segments {
            let named: Vec<(u8, DiskId)> = s.shards.iter().enumerate().map(|(i, loc)| (shard_index(i), loc.disk)).collect();
            for (i, disk) in &named {
                b.put_cf(idx, keys::disk_shard_key(*disk, s.id, *i), &value);
            }
            // Copies an open intent names that this record does not (a write that failed part way,
            // a move of a part overtaken by its upload's completion) would be orphans once the
            // intent is gone: they become garbage, which GC deletes only when nothing holds them.
            let ik = keys::segment_key(s.id);
            if let Some(intent) = self.get::<IntentRecord>(CF_INTENTS, "intent", &ik)? {
                let stray: Vec<(u8, DiskId)> = intent.shards.into_iter().filter(|sh| !named.contains(sh)).collect();
                if !stray.is_empty() {
                    self.batch_add_garbage(b, s.id, stray, 0)?;
                }
            }
            b.delete_cf(intents, ik);
        }
        Ok(())
    }

    /// Remove index entries of segments no longer referenced and queue their shards as garbage
    /// due at `due_ms`.
    pub(crate) fn batch_unreference(&self, b: &mut WriteBatch, segments: &[SegmentMeta], coding: &Coding, due_ms: i64) -> MetaResult<()> {
        self.batch_count(b, segments, coding, -1)?;
        let idx = self.cf(CF_DISK_SHARDS)?;
        for s in segments {
            let mut shards = Vec::with_capacity(s.shards.len());
            for (i, loc) in s.shards.iter().enumerate() {
                b.delete_cf(idx, keys::disk_shard_key(loc.disk, s.id, shard_index(i)));
                shards.push((shard_index(i), loc.disk));
            }
            self.batch_add_garbage(b, s.id, shards, due_ms)?;
        }
        Ok(())
    }

    /// Garbage delay in milliseconds.
    pub(crate) fn garbage_delay_ms(&self) -> i64 {
        self.garbage_delay_ms
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn apply_put_object(
        &self,
        bucket: &str,
        key: &str,
        manifest: &Manifest,
        expect: Expect,
        garbage_due_ms: i64,
        tags: &[(String, String)],
        lock: Option<&crate::retention::VersionLock>,
        inline: Option<crate::inline::InlinePut<'_>>,
    ) -> MetaResult<Option<Manifest>> {
        if let Some(i) = &inline {
            i.check(manifest)?;
        }
        self.require_inline_bytes(manifest, inline.as_ref().map(|i| i.segment))?;
        let _b = self.bucket_lock.read();
        let _k = self.key_lock(bucket, key).lock();
        self.require_bucket(bucket)?;
        let ok = keys::object_key(bucket, key.as_bytes());
        let old: Option<Manifest> = self.get(CF_OBJECTS, "manifest", &ok)?;
        self.check_expect(bucket, key, &old, expect)?;
        let mut b = WriteBatch::default();
        if let Some(i) = &inline {
            self.batch_put_inline(&mut b, i)?;
        }
        let gone = self.batch_supersede(&mut b, bucket, key, old.as_ref(), Some(manifest.version_id), None, garbage_due_ms)?;
        b.put_cf(self.cf(CF_OBJECTS)?, &ok, encode(manifest)?);
        self.batch_object_tags(&mut b, bucket, key, manifest.version_id, tags)?;
        self.batch_new_version_lock(&mut b, bucket, key, manifest, lock)?;
        if let Some(o) = &gone.garbage {
            self.batch_unreference(&mut b, &o.segments, &o.coding, garbage_due_ms)?;
        }
        self.batch_reference(&mut b, &manifest.segments, &manifest.coding, &ShardOwner::Object { bucket: bucket.into(), key: key.into() }, true)?;
        self.write(b)?;
        Ok(old)
    }

    /// Shards indexed on `disk`, as (segment, shard index), after `after`, at most `max` (for tests).
    #[cfg(test)]
    pub(crate) fn shards_on_disk(&self, disk: DiskId, after: Option<(SegmentId, u8)>, max: usize) -> MetaResult<Vec<(SegmentId, u8)>> {
        Ok(self.indexed_shards(disk, after, max)?.into_iter().map(|e| (e.segment, e.index)).collect())
    }

    // ----- system records -----

    /// The registered disks.
    pub fn disks(&self) -> MetaResult<Vec<DiskRecord>> {
        Ok(self.get(CF_SYSTEM, "disks", KEY_DISKS)?.unwrap_or_default())
    }

    pub(crate) fn apply_put_disks(&self, disks: &[DiskRecord]) -> MetaResult<()> {
        let mut b = WriteBatch::default();
        b.put_cf(self.cf(CF_SYSTEM)?, KEY_DISKS, encode(&disks.to_vec())?);
        self.write(b)
    }

    /// Flush memtables (used at shutdown; the WAL already makes commits durable).
    pub fn flush(&self) -> MetaResult<()> {
        for name in ALL_CFS {
            self.db.flush_cf(self.cf(name)?).map_err(MetaError::db("flush"))?;
        }
        Ok(())
    }

    pub(crate) fn objects_cf_name() -> &'static str {
        CF_OBJECTS
    }
}

/// Tests: one record of [`RocksMeta::dump_for_test`]: (column family, key, value).
#[cfg(test)]
pub(crate) type DumpedRecord = (&'static str, Vec<u8>, Vec<u8>);

/// How a scan continues.
pub(crate) enum Step {
    Next,
    Seek(Vec<u8>),
    Stop,
}

fn shard_index(i: usize) -> u8 {
    u8::try_from(i).unwrap_or(u8::MAX)
}

fn blake3_like_hash(a: &[u8], b: &[u8]) -> usize {
    // FNV-1a: only spreads keys over lock stripes, no security role.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &x in a.iter().chain([0u8].iter()).chain(b.iter()) {
        h ^= u64::from(x);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    usize::try_from(h % (LOCK_STRIPES as u64)).unwrap_or(0)
}

