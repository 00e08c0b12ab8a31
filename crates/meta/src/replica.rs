//! What a replicated command log needs of the store beyond [`RocksMeta::apply`]:
//!
//! - **Stamped applies.** [`RocksMeta::apply_stamped`] applies a command taken from the log
//!   and records the log position (`stamp`, opaque bytes the log chooses) *in the same write
//!   batch* as the command's writes — or alone, when the command writes nothing (its
//!   precondition failed). So after a crash the stamp says exactly which commands are in the
//!   store, and none is applied twice: a replayed `PutObject` with `Expect::Any` would
//!   otherwise queue the live object's own shards as garbage.
//! - **Unsynced writes.** Where the log itself is synced before a command is applied, the
//!   store need not sync each batch again ([`RocksMeta::set_synced_writes`]): RocksDB's
//!   write-ahead log keeps batches in order, so a crash loses a suffix of applies together
//!   with their stamps, and the log applies them again. [`RocksMeta::sync_wal`] makes
//!   everything applied so far durable (before the log forgets the entries, at a snapshot).
//! - **Snapshots.** [`RocksMeta::export`] writes every record at one consistent point;
//!   [`RocksMeta::import`] replaces the whole store with such an export.
//! - **Outcomes that cross the wire.** A command refused by its precondition is part of the
//!   replicated history (every replica refuses it the same way), so its refusal travels back
//!   to the gateway that submitted it as an [`Outcome`].

use std::cell::RefCell;
use std::sync::atomic::Ordering;

use rocksdb::{IteratorMode, ReadOptions, WriteBatch};
use serde::{Deserialize, Serialize};

use crate::apply::Applied;
use crate::command::Command;
use crate::error::{MetaError, MetaResult};
use crate::store::{RocksMeta, ALL_CFS, CF_SYSTEM};

/// Where the stamp of the last applied log entry is kept (system column family).
pub(crate) const KEY_STAMP: &[u8] = b"log-applied";

thread_local! {
    /// The stamp every write batch of the apply running on this thread carries, and whether
    /// one was written.
    static STAMP: RefCell<Option<(Vec<u8>, bool)>> = const { RefCell::new(None) };
}

/// What applying a command from the log came to: its result, or the refusal of its
/// precondition. Serializable, so a replica can answer the gateway that submitted it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    /// The command applied.
    Applied(Applied),
    /// Its precondition failed; nothing was written.
    Refused(Refusal),
}

impl Outcome {
    /// The outcome as the result [`RocksMeta::apply`] would have given.
    pub fn into_result(self) -> MetaResult<Applied> {
        match self {
            Outcome::Applied(a) => Ok(a),
            Outcome::Refused(r) => Err(r.into_error()),
        }
    }
}

/// A command refused by its precondition, as it crosses the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// See [`MetaError::NoSuchBucket`].
    NoSuchBucket { bucket: String },
    /// See [`MetaError::BucketExists`].
    BucketExists { bucket: String },
    /// See [`MetaError::BucketNotEmpty`].
    BucketNotEmpty { bucket: String },
    /// See [`MetaError::NoSuchUpload`].
    NoSuchUpload { upload_id: String },
    /// See [`MetaError::VersionConflict`].
    VersionConflict { bucket: String, key: String, expected: Option<u128> },
    /// See [`MetaError::PartsChanged`].
    PartsChanged { upload_id: String, part: u32 },
    /// See [`MetaError::DiskInUse`].
    DiskInUse { disk: u32, shards: u64 },
    /// See [`MetaError::NoSuchAccessKey`].
    NoSuchAccessKey { access_key: String },
    /// See [`MetaError::LastAdminKey`].
    LastAdminKey { access_key: String },
    /// See [`MetaError::JoinTokenRefused`].
    JoinTokenRefused { reason: String },
    /// See [`MetaError::UnversionableKey`].
    UnversionableKey { key: String },
    /// See [`MetaError::NeedsNewerCommand`].
    NeedsNewerCommand { command: String },
    /// See [`MetaError::ObjectLocked`].
    ObjectLocked { bucket: String, key: String, version_id: u128, why: String },
    /// See [`MetaError::NoObjectLock`].
    NoObjectLock { bucket: String },
    /// See [`MetaError::BucketState`].
    BucketState { bucket: String, detail: String },
    /// See [`MetaError::InlineDamaged`].
    InlineDamaged { segment: u128 },
}

impl Refusal {
    /// The refusal `e` is, or `None` when `e` is a failure of the store itself (which stops
    /// the replica instead: every replica must apply the same history).
    pub fn of(e: &MetaError) -> Option<Self> {
        Some(match e {
            MetaError::NoSuchBucket { bucket } => Refusal::NoSuchBucket { bucket: bucket.clone() },
            MetaError::BucketExists { bucket } => Refusal::BucketExists { bucket: bucket.clone() },
            MetaError::BucketNotEmpty { bucket } => Refusal::BucketNotEmpty { bucket: bucket.clone() },
            MetaError::NoSuchUpload { upload_id } => Refusal::NoSuchUpload { upload_id: upload_id.clone() },
            MetaError::VersionConflict { bucket, key, expected } => Refusal::VersionConflict { bucket: bucket.clone(), key: key.clone(), expected: *expected },
            MetaError::PartsChanged { upload_id, part } => Refusal::PartsChanged { upload_id: upload_id.clone(), part: *part },
            MetaError::DiskInUse { disk, shards } => Refusal::DiskInUse { disk: *disk, shards: *shards },
            MetaError::NoSuchAccessKey { access_key } => Refusal::NoSuchAccessKey { access_key: access_key.clone() },
            MetaError::LastAdminKey { access_key } => Refusal::LastAdminKey { access_key: access_key.clone() },
            MetaError::JoinTokenRefused { reason } => Refusal::JoinTokenRefused { reason: reason.clone() },
            MetaError::UnversionableKey { key } => Refusal::UnversionableKey { key: key.clone() },
            MetaError::NeedsNewerCommand { command } => Refusal::NeedsNewerCommand { command: command.clone() },
            MetaError::ObjectLocked { bucket, key, version_id, why } => Refusal::ObjectLocked { bucket: bucket.clone(), key: key.clone(), version_id: *version_id, why: why.clone() },
            MetaError::NoObjectLock { bucket } => Refusal::NoObjectLock { bucket: bucket.clone() },
            MetaError::BucketState { bucket, detail } => Refusal::BucketState { bucket: bucket.clone(), detail: detail.clone() },
            MetaError::InlineDamaged { segment } => Refusal::InlineDamaged { segment: *segment },
            _ => return None,
        })
    }

    /// The error the submitter returns.
    pub fn into_error(self) -> MetaError {
        match self {
            Refusal::NoSuchBucket { bucket } => MetaError::NoSuchBucket { bucket },
            Refusal::BucketExists { bucket } => MetaError::BucketExists { bucket },
            Refusal::BucketNotEmpty { bucket } => MetaError::BucketNotEmpty { bucket },
            Refusal::NoSuchUpload { upload_id } => MetaError::NoSuchUpload { upload_id },
            Refusal::VersionConflict { bucket, key, expected } => MetaError::VersionConflict { bucket, key, expected },
            Refusal::PartsChanged { upload_id, part } => MetaError::PartsChanged { upload_id, part },
            Refusal::DiskInUse { disk, shards } => MetaError::DiskInUse { disk, shards },
            Refusal::NoSuchAccessKey { access_key } => MetaError::NoSuchAccessKey { access_key },
            Refusal::LastAdminKey { access_key } => MetaError::LastAdminKey { access_key },
            Refusal::JoinTokenRefused { reason } => MetaError::JoinTokenRefused { reason },
            Refusal::UnversionableKey { key } => MetaError::UnversionableKey { key },
            Refusal::NeedsNewerCommand { command } => MetaError::NeedsNewerCommand { command },
            Refusal::ObjectLocked { bucket, key, version_id, why } => MetaError::ObjectLocked { bucket, key, version_id, why },
            Refusal::NoObjectLock { bucket } => MetaError::NoObjectLock { bucket },
            Refusal::BucketState { bucket, detail } => MetaError::BucketState { bucket, detail },
            Refusal::InlineDamaged { segment } => MetaError::InlineDamaged { segment },
        }
    }
}

/// The export format's version byte.
const EXPORT_VERSION: u8 = 1;

/// One column family's records in an export.
/// One column family of an export: its name and its (key, value) records.
pub type Family = (String, Vec<(Vec<u8>, Vec<u8>)>);

impl RocksMeta {
    /// Sync each write batch before it returns (the default), or not: only where every
    /// command comes from a log that is itself synced first (see the module docs).
    pub fn set_synced_writes(&self, synced: bool) {
        self.synced.store(synced, Ordering::Relaxed);
    }

    /// Make every write so far durable (sync RocksDB's write-ahead log).
    pub fn sync_wal(&self) -> MetaResult<()> {
        self.db().flush_wal(true).map_err(MetaError::db("sync wal"))
    }

    /// Apply `cmd` (from a log) and record `stamp` atomically with its writes. `Ok` carries
    /// the command's outcome, refusals included; `Err` is a failure of the store itself.
    pub fn apply_stamped(&self, cmd: &Command, stamp: &[u8]) -> MetaResult<Outcome> {
        STAMP.with(|s| *s.borrow_mut() = Some((stamp.to_vec(), false)));
        let applied = self.apply(cmd);
        let written = STAMP.with(|s| s.borrow_mut().take().is_some_and(|(_, w)| w));
        match applied {
            Ok(a) => {
                if !written {
                    self.record_stamp(stamp)?;
                }
                Ok(Outcome::Applied(a))
            }
            Err(e) => match Refusal::of(&e) {
                Some(r) => {
                    self.record_stamp(stamp)?;
                    Ok(Outcome::Refused(r))
                }
                None => Err(e),
            },
        }
    }

    /// Record `stamp` alone (a log entry that carries no command).
    pub fn record_stamp(&self, stamp: &[u8]) -> MetaResult<()> {
        let mut b = WriteBatch::default();
        b.put_cf(self.cf(CF_SYSTEM)?, KEY_STAMP, stamp);
        self.write(b)
    }

    /// Forget the stamp: the store is about to be the first state of a new log (a gateway
    /// restored from a backup forms a new group; the old group's positions mean nothing there).
    pub fn clear_stamp(&self) -> MetaResult<()> {
        let mut b = WriteBatch::default();
        b.delete_cf(self.cf(CF_SYSTEM)?, KEY_STAMP);
        self.write(b)
    }

    /// The stamp of the last applied log entry, if any.
    pub fn stamp(&self) -> MetaResult<Option<Vec<u8>>> {
        self.get_raw(CF_SYSTEM, KEY_STAMP)
    }

    /// Called by every write: adds the running apply's stamp to the batch.
    pub(crate) fn stamp_batch(&self, b: &mut WriteBatch) -> MetaResult<()> {
        let stamp = STAMP.with(|s| {
            let mut s = s.borrow_mut();
            s.as_mut().map(|(bytes, written)| {
                *written = true;
                bytes.clone()
            })
        });
        if let Some(bytes) = stamp {
            b.put_cf(self.cf(CF_SYSTEM)?, KEY_STAMP, bytes);
        }
        Ok(())
    }

    /// Every record of the store at one consistent point, and the stamp at that point: a
    /// version byte, then postcard.
    pub fn export(&self) -> MetaResult<(Vec<u8>, Option<Vec<u8>>)> {
        let snap = self.db().snapshot();
        let mut families: Vec<Family> = Vec::with_capacity(ALL_CFS.len());
        let mut stamp = None;
        for name in ALL_CFS {
            let mut ro = ReadOptions::default();
            ro.set_snapshot(&snap);
            let mut records = Vec::new();
            for item in self.db().iterator_cf_opt(self.cf(name)?, ro, IteratorMode::Start) {
                let (k, v) = item.map_err(MetaError::db("export"))?;
                if name == CF_SYSTEM && &*k == KEY_STAMP {
                    stamp = Some(v.to_vec());
                    continue;
                }
                records.push((k.to_vec(), v.to_vec()));
            }
            // An importer clears every family first, so an empty one is left out: a store that
            // never used a family newer versions added (versions) exports what older ones import.
            if !records.is_empty() {
                families.push((name.to_owned(), records));
            }
        }
        Ok((encode_export(&families)?, stamp))
    }

    /// Replace every record with those of an [`RocksMeta::export`], stamped `stamp`, in one
    /// synced write batch. An export that does not decode changes nothing.
    pub fn import(&self, bytes: &[u8], stamp: &[u8]) -> MetaResult<()> {
        let families = decode_export(bytes)?;
        let mut b = WriteBatch::default();
        for name in ALL_CFS {
            let cf = self.cf(name)?;
            for item in self.db().iterator_cf(cf, IteratorMode::Start) {
                let (k, _) = item.map_err(MetaError::db("import"))?;
                b.delete_cf(cf, k);
            }
        }
        for (name, records) in &families {
            let Some(known) = ALL_CFS.iter().find(|n| **n == name.as_str()) else {
                return Err(MetaError::Corrupt { what: "export", detail: format!("unknown column family {name:?}") });
            };
            let cf = self.cf(known)?;
            for (k, v) in records {
                // Never a marker from outside (it would name a file for the next start to import).
                if *known == CF_SYSTEM && k.as_slice() == crate::export::KEY_IMPORTING {
                    continue;
                }
                b.put_cf(cf, k, v);
            }
        }
        b.put_cf(self.cf(CF_SYSTEM)?, KEY_STAMP, stamp);
        self.write_sync(b, true)?;
        self.load_domains()
    }
}

/// An export's bytes: the export format-version byte, then the families (postcard).
pub fn encode_export(families: &[Family]) -> MetaResult<Vec<u8>> {
    let mut out = vec![EXPORT_VERSION];
    out.extend(postcard::to_allocvec(families).map_err(|e| MetaError::Encode { detail: e.to_string() })?);
    Ok(out)
}

/// The families of an export's bytes (a snapshot received from another gateway: untrusted,
/// so a typed error, never a panic; trailing bytes are refused).
pub fn decode_export(bytes: &[u8]) -> MetaResult<Vec<Family>> {
    match bytes.split_first() {
        Some((&EXPORT_VERSION, rest)) => {
            let (families, tail): (Vec<Family>, &[u8]) = postcard::take_from_bytes(rest).map_err(|e| MetaError::Corrupt { what: "export", detail: e.to_string() })?;
            if !tail.is_empty() {
                return Err(MetaError::Corrupt { what: "export", detail: format!("{} trailing bytes", tail.len()) });
            }
            Ok(families)
        }
        Some((v, _)) => Err(MetaError::Corrupt { what: "export", detail: format!("format version {v} is not one this build reads (1)") }),
        None => Err(MetaError::Corrupt { what: "export", detail: "empty".into() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::open;
    use crate::command_tests::{manifest, seg};
    use crate::store::Expect;

    fn put(bucket: &str, key: &str, version: u128) -> Command {
        Command::PutObject { bucket: bucket.into(), key: key.into(), manifest: manifest(version, vec![seg(version, &[1, 2, 3])]), expect: Expect::Any, garbage_due_ms: 5 }
    }

    #[test]
    fn a_stamp_is_written_with_the_commands_writes_and_with_a_refusal() {
        let (_d, meta) = open();
        assert_eq!(meta.stamp().expect("stamp"), None);
        let out = meta.apply_stamped(&Command::CreateBucket { bucket: "b".into(), created_ms: 1 }, b"one").expect("apply");
        assert_eq!(out, Outcome::Applied(Applied::Done));
        assert_eq!(meta.stamp().expect("stamp").as_deref(), Some(&b"one"[..]));
        // Refused by its precondition: nothing else written, the stamp still moves on.
        let out = meta.apply_stamped(&Command::CreateBucket { bucket: "b".into(), created_ms: 2 }, b"two").expect("apply");
        assert_eq!(out, Outcome::Refused(Refusal::BucketExists { bucket: "b".into() }));
        assert!(matches!(out.into_result(), Err(MetaError::BucketExists { .. })));
        assert_eq!(meta.stamp().expect("stamp").as_deref(), Some(&b"two"[..]));
        // A plain apply (no log) writes no stamp.
        meta.apply(&put("b", "k", 1)).expect("apply");
        assert_eq!(meta.stamp().expect("stamp").as_deref(), Some(&b"two"[..]));
    }

    #[test]
    fn an_export_imported_elsewhere_is_the_same_store_and_replaces_what_was_there() {
        let (_a, src) = open();
        src.apply_stamped(&Command::CreateBucket { bucket: "b".into(), created_ms: 1 }, b"1").expect("apply");
        for v in 1..20u128 {
            src.apply_stamped(&put("b", &format!("k{}", v % 7), v), &v.to_be_bytes()).expect("apply");
        }
        let (bytes, stamp) = src.export().expect("export");
        assert_eq!(stamp.as_deref(), Some(&19u128.to_be_bytes()[..]));

        let (_b, dst) = open();
        dst.apply(&Command::CreateBucket { bucket: "stale".into(), created_ms: 9 }).expect("apply");
        dst.import(&bytes, b"at-19").expect("import");
        let strip = |m: &RocksMeta| m.dump_for_test().expect("dump").into_iter().filter(|(cf, k, _)| !(*cf == CF_SYSTEM && k == KEY_STAMP)).collect::<Vec<_>>();
        assert_eq!(strip(&src), strip(&dst));
        assert_eq!(dst.stamp().expect("stamp").as_deref(), Some(&b"at-19"[..]));
        assert!(dst.local_bucket("stale").expect("read").is_none());
    }

    #[test]
    fn a_damaged_export_is_refused_and_changes_nothing() {
        let (_a, src) = open();
        src.apply(&Command::CreateBucket { bucket: "b".into(), created_ms: 1 }).expect("apply");
        let (bytes, _) = src.export().expect("export");
        let (_b, dst) = open();
        dst.apply(&Command::CreateBucket { bucket: "mine".into(), created_ms: 1 }).expect("apply");
        for bad in [vec![], vec![2u8], bytes[..bytes.len() - 1].to_vec(), [bytes.clone(), vec![0]].concat()] {
            assert!(matches!(dst.import(&bad, b"x"), Err(MetaError::Corrupt { .. })), "{bad:?}");
        }
        assert!(dst.local_bucket("mine").expect("read").is_some());
        assert_eq!(dst.stamp().expect("stamp"), None);
    }
}
