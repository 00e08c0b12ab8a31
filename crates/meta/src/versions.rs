//! Object versions (S3 versioning).
//!
//! A bucket's versioning state is a system record `bucket-versioning/<bucket>`: absent (never
//! enabled), `Enabled` or `Suspended` (it never returns to absent, as in S3).
//!
//! The current version of a key stays where it always was, in the `objects` family, so
//! GET, HEAD and ListObjects read one record as before. Everything else about a key's
//! versions lives in the `versions` family, under `[object key] 0x00`:
//!
//! - `[object key] 0x00 0x00` → [`KeyHead`]: the next archive sequence number and, when the
//!   current version is not S3's `null` version, its id. A current manifest without a head
//!   naming it is the `null` version — so every object written before versioning existed,
//!   or in a bucket that never enabled it, reads as `null` with no record at all.
//! - `[object key] 0x00 0x01 [!seq BE]` → [`StoredVersion`]: a noncurrent version (with its
//!   tags) or a delete marker, newest first (a higher archive sequence sorts first).
//!
//! When the newest version is a delete marker the key has no entry in `objects` (it is
//! absent for GET and ListObjects) and the marker is the first archive entry. Object keys
//! holding U+0000 cannot be versioned (they would not sort apart from this layout; S3's XML
//! cannot carry them either).
//!
//! Every segment of a version is indexed with its owner ([`ShardOwner::Version`] for an
//! archived one), so repair, scrub, drain and rebalance move the shards of every version, and
//! the redundancy ledger counts them. Archiving or restoring a version only re-points its
//! index entries.

use rocksdb::WriteBatch;
use serde::{Deserialize, Serialize};

use crate::error::{MetaError, MetaResult};
use crate::keys;
use crate::store::{RocksMeta, CF_DISK_SHARDS, CF_SYSTEM, CF_VERSIONS};
use crate::types::{decode, encode, Manifest, SegmentMeta, ShardOwner};

const KEY_BUCKET_VERSIONING: &[u8] = b"bucket-versioning/";
const HEAD: u8 = 0;
const ENTRY: u8 = 1;

/// A bucket's versioning state once it was first set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Versioning {
    /// Every write makes a new version with its own id.
    Enabled,
    /// Writes make the `null` version (replacing the previous `null` one); older versions stay.
    Suspended,
}

/// S3's name for one version of a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VersionRef {
    /// The `null` version: written while versioning was never enabled or suspended.
    Null,
    /// A version written while versioning was enabled (the manifest's `version_id`, or a
    /// delete marker's id).
    Id(u128),
}

impl VersionRef {
    /// Parse a `versionId` as S3 clients send it (`None`: not a version id this store made).
    /// Ids are case-sensitive, as S3's: one version has one spelling, so a policy condition
    /// on `s3:versionid` cannot be passed by another.
    pub fn parse(s: &str) -> Option<Self> {
        if s == "null" {
            return Some(Self::Null);
        }
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return None;
        }
        u128::from_str_radix(s, 16).ok().map(Self::Id)
    }
}

impl std::fmt::Display for VersionRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Null => f.write_str("null"),
            Self::Id(id) => write!(f, "{id:032x}"),
        }
    }
}

/// The head record of a key with versions (see the module documentation).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeyHead {
    /// Sequence number the next archived version gets.
    pub next_seq: u64,
    /// Id of the current manifest when it is not the `null` version.
    pub current: Option<u128>,
}

/// A version that is not current, or a delete marker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoredVersion {
    /// An object version with the tags it had.
    Object {
        /// Its manifest.
        manifest: Manifest,
        /// It is the `null` version.
        null: bool,
        /// Its tags.
        tags: Vec<(String, String)>,
    },
    /// A delete marker.
    DeleteMarker {
        /// Its id (meaningless when `null`).
        id: u128,
        /// When the delete was made, ms since the epoch.
        modified_ms: i64,
        /// It is the `null` version.
        null: bool,
    },
}

impl StoredVersion {
    /// Its S3 version id.
    pub fn vref(&self) -> VersionRef {
        match self {
            Self::Object { null: true, .. } | Self::DeleteMarker { null: true, .. } => VersionRef::Null,
            Self::Object { manifest, .. } => VersionRef::Id(manifest.version_id),
            Self::DeleteMarker { id, .. } => VersionRef::Id(*id),
        }
    }

    /// When it was written, ms since the epoch.
    pub fn modified_ms(&self) -> i64 {
        match self {
            Self::Object { manifest, .. } => manifest.modified_ms,
            Self::DeleteMarker { modified_ms, .. } => *modified_ms,
        }
    }

    fn is_null(&self) -> bool {
        self.vref() == VersionRef::Null
    }
}

/// What the lifecycle expects of a version it expires (the compare of
/// [`crate::Command::ExpireVersion`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpiryExpect {
    /// A noncurrent version (object or delete marker) written at this time, with at least
    /// `newer` noncurrent versions newer than it (those `NewerNoncurrentVersions` keeps).
    Noncurrent {
        /// When it was written, ms since the epoch.
        modified_ms: i64,
        /// Noncurrent versions that must stand before it.
        newer: u32,
    },
    /// A delete marker that is the key's only version.
    LoneMarker,
}

/// One version of a key as a read finds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FoundVersion {
    /// An object version (`current`: it is the key's current version).
    Object {
        /// Its manifest.
        manifest: Manifest,
        /// Its tags.
        tags: Vec<(String, String)>,
        /// Its S3 version id.
        vref: VersionRef,
        /// It is the current version.
        current: bool,
    },
    /// A delete marker (`latest`: it is the newest version of the key).
    DeleteMarker {
        /// Its S3 version id.
        vref: VersionRef,
        /// When it was made, ms since the epoch.
        modified_ms: i64,
        /// It is the newest version.
        latest: bool,
    },
}

/// What a versioned delete did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionDeleted {
    /// The version that was made (a delete marker) or removed, as S3 answers it in
    /// `x-amz-version-id`; `None` when nothing was there and nothing was made.
    pub vref: Option<VersionRef>,
    /// It is a delete marker (S3's `x-amz-delete-marker`).
    pub marker: bool,
    /// The current manifest the delete replaced or removed (when it is garbage now).
    pub removed: Option<Manifest>,
}

fn versioning_key(bucket: &str) -> Vec<u8> {
    let mut k = KEY_BUCKET_VERSIONING.to_vec();
    k.extend_from_slice(bucket.as_bytes());
    k
}

pub(crate) fn head_key(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = keys::object_key(bucket, key.as_bytes());
    k.extend_from_slice(&[0, HEAD]);
    k
}

pub(crate) fn entry_prefix(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = keys::object_key(bucket, key.as_bytes());
    k.extend_from_slice(&[0, ENTRY]);
    k
}

fn entry_key(bucket: &str, key: &str, seq: u64) -> Vec<u8> {
    let mut k = entry_prefix(bucket, key);
    k.extend_from_slice(&(u64::MAX - seq).to_be_bytes());
    k
}

/// An archive entry's key (ends `0x00 0x01` and 8 sequence bytes); a head's ends `0x00 0x00`.
pub(crate) fn is_entry_key(k: &[u8]) -> bool {
    k.len() >= 10 && k[k.len() - 10..k.len() - 8] == [0, ENTRY]
}

/// S3 version id of `current` (the key's manifest in `objects`) given the key's head.
pub(crate) fn current_ref(head: Option<&KeyHead>, current: &Manifest) -> VersionRef {
    match head.and_then(|h| h.current) {
        Some(id) if id == current.version_id => VersionRef::Id(id),
        _ => VersionRef::Null,
    }
}

impl RocksMeta {
    /// A bucket's versioning state as this replica holds it (`None`: never enabled).
    pub fn local_bucket_versioning(&self, bucket: &str) -> MetaResult<Option<Versioning>> {
        self.get(CF_SYSTEM, "bucket versioning", &versioning_key(bucket))
    }

    /// In `b`: drop the bucket's versioning state (the bucket is being deleted).
    pub(crate) fn batch_drop_versioning(&self, b: &mut WriteBatch, bucket: &str) -> MetaResult<()> {
        self.batch_set(b, versioning_key(bucket), None)
    }

    pub(crate) fn apply_put_bucket_versioning(&self, bucket: &str, state: Versioning) -> MetaResult<()> {
        let _b = self.bucket_lock.read();
        self.require_bucket(bucket)?;
        if state == Versioning::Suspended && self.local_bucket_lock(bucket)?.is_some() {
            return Err(MetaError::BucketState { bucket: bucket.into(), detail: "versioning cannot be suspended on a bucket with object lock".into() });
        }
        let mut b = WriteBatch::default();
        self.batch_versioning(&mut b, bucket, state)?;
        self.write(b)
    }

    /// In `b`: set a bucket's versioning state.
    fn batch_versioning(&self, b: &mut WriteBatch, bucket: &str, state: Versioning) -> MetaResult<()> {
        self.batch_set(b, versioning_key(bucket), Some(encode(&state)?))
    }

    /// In `b`: enable a bucket's versioning.
    pub(crate) fn batch_enable_versioning(&self, b: &mut WriteBatch, bucket: &str) -> MetaResult<()> {
        self.batch_versioning(b, bucket, Versioning::Enabled)
    }

    /// The bucket's versioning is enabled (on this replica).
    pub(crate) fn versioning_enabled(&self, bucket: &str) -> MetaResult<bool> {
        Ok(self.local_bucket_versioning(bucket)? == Some(Versioning::Enabled))
    }

    /// Visit the manifest of every archived version (a full scan, for recounts).
    pub(crate) fn visit_archived(&self, mut f: impl FnMut(&Manifest)) -> MetaResult<()> {
        self.scan_prefix(CF_VERSIONS, &[], &[], |k, v| {
            if is_entry_key(k) {
                if let StoredVersion::Object { manifest, .. } = decode::<StoredVersion>("stored version", v)? {
                    f(&manifest);
                }
            }
            Ok(true)
        })
    }

    /// The archived version that references `segment` (a full scan).
    pub(crate) fn find_archived_owner(&self, segment: crate::types::SegmentId) -> MetaResult<Option<ShardOwner>> {
        let mut found = None;
        self.scan_prefix(CF_VERSIONS, &[], &[], |k, v| {
            if !is_entry_key(k) {
                return Ok(true);
            }
            if let StoredVersion::Object { manifest, .. } = decode::<StoredVersion>("stored version", v)? {
                if manifest.segments.iter().any(|s| s.id == segment) {
                    found = keys::parse_object_key(&k[..k.len() - 10]).map(|(bucket, key)| ShardOwner::Version { bucket, key, version_id: manifest.version_id });
                    return Ok(false);
                }
            }
            Ok(true)
        })?;
        Ok(found)
    }

    /// True when the bucket holds any noncurrent version or delete marker.
    pub(crate) fn bucket_has_versions(&self, bucket: &str) -> MetaResult<bool> {
        let prefix = keys::bucket_prefix(bucket);
        let mut found = false;
        self.scan_prefix(CF_VERSIONS, &prefix, &prefix, |k, _| {
            found = is_entry_key(k);
            Ok(!found)
        })?;
        Ok(found)
    }

    /// A key's head record.
    pub(crate) fn key_head(&self, bucket: &str, key: &str) -> MetaResult<Option<KeyHead>> {
        self.get(CF_VERSIONS, "version head", &head_key(bucket, key))
    }

    /// Visit a key's archive entries newest first — `f(position, RocksDB key, entry)` — while
    /// `f` answers true (each entry is decoded only when reached).
    pub(crate) fn scan_entries(&self, bucket: &str, key: &str, mut f: impl FnMut(usize, &[u8], StoredVersion) -> MetaResult<bool>) -> MetaResult<()> {
        let prefix = entry_prefix(bucket, key);
        let want = prefix.len() + 8;
        let mut i = 0;
        self.scan_prefix(CF_VERSIONS, &prefix, &prefix, |k, v| {
            // A longer key is another object's (its key starts with this one and U+0000).
            if k.len() != want {
                return Ok(true);
            }
            let go = f(i, k, decode::<StoredVersion>("stored version", v)?)?;
            i += 1;
            Ok(go)
        })
    }

    /// A key's first `n` archive entries (newest first).
    pub(crate) fn first_entries(&self, bucket: &str, key: &str, n: usize) -> MetaResult<Vec<(Vec<u8>, StoredVersion)>> {
        let mut out = Vec::new();
        if n == 0 {
            return Ok(out);
        }
        self.scan_entries(bucket, key, |_, k, e| {
            out.push((k.to_vec(), e));
            Ok(out.len() < n)
        })?;
        Ok(out)
    }

    /// In `b`: re-point the index entries of `segments` at `owner` (a version archived or
    /// made current again; the ledger's counts do not change).
    pub(crate) fn batch_reindex(&self, b: &mut WriteBatch, segments: &[SegmentMeta], owner: &ShardOwner) -> MetaResult<()> {
        let idx = self.cf(CF_DISK_SHARDS)?;
        let value = encode(owner)?;
        for s in segments {
            for (i, loc) in s.shards.iter().enumerate() {
                b.put_cf(idx, keys::disk_shard_key(loc.disk, s.id, u8::try_from(i).unwrap_or(u8::MAX)), &value);
            }
        }
        Ok(())
    }

    /// In `b`: the key's current version `old` is replaced by a new current one (`new`: its
    /// version id; `None` for a delete, whose marker is `marker`). What becomes of `old`
    /// follows the bucket's versioning: garbage when it never was enabled or `old` is the
    /// `null` version of a suspended bucket, archived otherwise. Returns `old` when it is
    /// garbage now (the caller unreferences it) and the S3 id of the marker made.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn batch_supersede(
        &self,
        b: &mut WriteBatch,
        bucket: &str,
        key: &str,
        old: Option<&Manifest>,
        new: Option<u128>,
        marker: Option<(u128, i64)>,
        garbage_due_ms: i64,
    ) -> MetaResult<Superseded> {
        let Some(state) = self.local_bucket_versioning(bucket)? else {
            return Ok(Superseded { garbage: old.cloned(), marker: None });
        };
        if key.contains('\0') {
            return Err(MetaError::UnversionableKey { key: key.into() });
        }
        let stored_head = self.key_head(bucket, key)?;
        let mut head = stored_head.clone().unwrap_or_default();
        let suspended = state == Versioning::Suspended;
        let mut garbage = None;
        if let Some(o) = old {
            let null = current_ref(stored_head.as_ref(), o) == VersionRef::Null;
            if null && suspended {
                self.batch_drop_version_lock(b, bucket, key, o.version_id)?;
                garbage = Some(o.clone());
            } else {
                let tags = self.local_object_tags(bucket, key, o.version_id)?;
                let entry = StoredVersion::Object { manifest: o.clone(), null, tags };
                self.batch_archive(b, bucket, key, &mut head, &entry)?;
                self.batch_reindex(b, &o.segments, &ShardOwner::Version { bucket: bucket.into(), key: key.into(), version_id: o.version_id })?;
            }
        }
        if suspended {
            // The new version (or marker) is the `null` one: an older `null` version goes
            // (there is at most one).
            let mut null_entry = None;
            self.scan_entries(bucket, key, |_, k, e| {
                if e.is_null() {
                    null_entry = Some((k.to_vec(), e));
                }
                Ok(null_entry.is_none())
            })?;
            if let Some((k, e)) = null_entry {
                b.delete_cf(self.cf(CF_VERSIONS)?, &k);
                if let StoredVersion::Object { manifest, .. } = e {
                    self.batch_drop_version_lock(b, bucket, key, manifest.version_id)?;
                    self.batch_unreference(b, &manifest.segments, &manifest.coding, garbage_due_ms)?;
                }
            }
        }
        let mut made = None;
        if let Some((id, modified_ms)) = marker {
            let entry = StoredVersion::DeleteMarker { id, modified_ms, null: suspended };
            made = Some(entry.vref());
            self.batch_archive(b, bucket, key, &mut head, &entry)?;
        }
        head.current = if suspended { None } else { new };
        b.put_cf(self.cf(CF_VERSIONS)?, head_key(bucket, key), encode(&head)?);
        Ok(Superseded { garbage, marker: made })
    }

    fn batch_archive(&self, b: &mut WriteBatch, bucket: &str, key: &str, head: &mut KeyHead, entry: &StoredVersion) -> MetaResult<()> {
        b.put_cf(self.cf(CF_VERSIONS)?, entry_key(bucket, key, head.next_seq), encode(entry)?);
        head.next_seq = head.next_seq.saturating_add(1);
        Ok(())
    }

    /// In `b`: write back an archived version whose shards moved.
    pub(crate) fn batch_rewrite_archived(&self, b: &mut WriteBatch, rocks_key: &[u8], manifest: &Manifest) -> MetaResult<()> {
        let Some(mut entry) = self.get::<StoredVersion>(CF_VERSIONS, "stored version", rocks_key)? else { return Ok(()) };
        if let StoredVersion::Object { manifest: m, .. } = &mut entry {
            *m = manifest.clone();
        }
        b.put_cf(self.cf(CF_VERSIONS)?, rocks_key, encode(&entry)?);
        Ok(())
    }
}

/// What [`RocksMeta::batch_supersede`] left to the caller.
pub(crate) struct Superseded {
    /// The old current version, now garbage.
    pub garbage: Option<Manifest>,
    /// The delete marker made.
    pub marker: Option<VersionRef>,
}

pub(crate) fn found(e: &StoredVersion, latest: bool) -> FoundVersion {
    match e {
        StoredVersion::Object { manifest, tags, .. } => FoundVersion::Object { manifest: manifest.clone(), tags: tags.clone(), vref: e.vref(), current: false },
        StoredVersion::DeleteMarker { modified_ms, .. } => FoundVersion::DeleteMarker { vref: e.vref(), modified_ms: *modified_ms, latest },
    }
}
