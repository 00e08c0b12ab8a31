//! Object lock (S3's write-once-read-many): a bucket's lock configuration, and the retention
//! and legal hold of each object version. Records of the system column family:
//!
//! - `object-lock-config/<bucket>` → [`BucketLock`]: present once object lock is enabled; it
//!   goes only with the bucket (S3 cannot turn object lock off). It needs versioning
//!   `Enabled`, and while it is there the bucket's versioning cannot be suspended, so a
//!   locked bucket never turns a version into garbage by overwriting it.
//! - `object-lock/<object key><manifest id, 16 bytes BE>` → [`VersionLock`]: one version's
//!   retention and legal hold. Keyed by the version's manifest id (the last 16 bytes, so keys
//!   of any length stay apart), it stays while the version is archived or made current again
//!   and goes only in the batch that deletes the version for good.
//! - `upload-lock/<upload id>` → the lock a CreateMultipartUpload asked for, given to the
//!   object when the upload completes and dropped with the upload.
//!
//! Every decision is made where a command applies, against the time the command carries
//! (never the applying replica's clock): a version's deletion is refused while it is under a
//! legal hold, or retained (COMPLIANCE always; GOVERNANCE unless the command says the caller
//! may bypass it), and a retention can be shortened, removed or weakened only where its
//! deletion could be. A new version gets the retention its write asked for, else the bucket's
//! default, counted from the manifest's own time.

use rocksdb::WriteBatch;

use crate::error::{MetaError, MetaResult};
use crate::keys;
use crate::store::{RocksMeta, CF_SYSTEM};
use crate::retention::{rfc3339, BucketLock, LockMode, Retention, VersionLock};
use crate::types::{encode, Manifest};

const KEY_BUCKET_LOCK: &[u8] = b"object-lock-config/";
const KEY_VERSION_LOCK: &[u8] = b"object-lock/";
const KEY_UPLOAD_LOCK: &[u8] = b"upload-lock/";

fn bucket_lock_key(bucket: &str) -> Vec<u8> {
    let mut k = KEY_BUCKET_LOCK.to_vec();
    k.extend_from_slice(bucket.as_bytes());
    k
}

fn version_lock_key(bucket: &str, key: &str, version_id: u128) -> Vec<u8> {
    let mut k = KEY_VERSION_LOCK.to_vec();
    k.extend(keys::object_key(bucket, key.as_bytes()));
    k.extend_from_slice(&version_id.to_be_bytes());
    k
}

fn upload_lock_key(upload_id: &str) -> Vec<u8> {
    let mut k = KEY_UPLOAD_LOCK.to_vec();
    k.extend_from_slice(upload_id.as_bytes());
    k
}

fn locked(bucket: &str, key: &str, version_id: u128, why: String) -> MetaError {
    MetaError::ObjectLocked { bucket: bucket.into(), key: key.into(), version_id, why }
}

impl RocksMeta {
    /// A bucket's object lock configuration as this replica holds it (`None`: not enabled).
    pub fn local_bucket_lock(&self, bucket: &str) -> MetaResult<Option<BucketLock>> {
        self.guarded(|| self.get(CF_SYSTEM, "object lock configuration", &bucket_lock_key(bucket)))
    }

    /// One version's lock as this replica holds it (by its manifest id).
    pub fn local_version_lock(&self, bucket: &str, key: &str, version_id: u128) -> MetaResult<VersionLock> {
        self.guarded(|| Ok(self.get(CF_SYSTEM, "version lock", &version_lock_key(bucket, key, version_id))?.unwrap_or_default()))
    }

    /// The lock an upload's object will get.
    pub(crate) fn local_upload_lock(&self, upload_id: &str) -> MetaResult<Option<VersionLock>> {
        self.get(CF_SYSTEM, "upload lock", &upload_lock_key(upload_id))
    }

    /// In `b`: a version's lock becomes `lock` (empty: its record goes).
    pub(crate) fn batch_version_lock(&self, b: &mut WriteBatch, bucket: &str, key: &str, version_id: u128, lock: &VersionLock) -> MetaResult<()> {
        let value = if lock.is_empty() { None } else { Some(encode(lock)?) };
        self.batch_set(b, version_lock_key(bucket, key, version_id), value)
    }

    /// In `b`: an upload's waiting lock (none: the record goes).
    pub(crate) fn batch_upload_lock(&self, b: &mut WriteBatch, upload_id: &str, lock: Option<&VersionLock>) -> MetaResult<()> {
        let value = match lock.filter(|l| !l.is_empty()) {
            Some(l) => Some(encode(l)?),
            None => None,
        };
        self.batch_set(b, upload_lock_key(upload_id), value)
    }

    /// In `b`: drop a version's lock (it is deleted for good).
    pub(crate) fn batch_drop_version_lock(&self, b: &mut WriteBatch, bucket: &str, key: &str, version_id: u128) -> MetaResult<()> {
        self.batch_set(b, version_lock_key(bucket, key, version_id), None)
    }

    /// In `b`: drop a bucket's lock configuration (the bucket is being deleted).
    pub(crate) fn batch_drop_bucket_lock(&self, b: &mut WriteBatch, bucket: &str) -> MetaResult<()> {
        self.batch_set(b, bucket_lock_key(bucket), None)
    }

    /// Refuse a lock asked for in a bucket without object lock (S3's `InvalidRequest`).
    pub(crate) fn require_lock_enabled(&self, bucket: &str) -> MetaResult<BucketLock> {
        self.local_bucket_lock(bucket)?.ok_or_else(|| MetaError::NoObjectLock { bucket: bucket.into() })
    }

    /// In `b`: the lock of a new version `manifest` of `bucket/key`: `asked` (a write's lock
    /// headers, refused where object lock is off), with the bucket's default retention, from
    /// the manifest's time, when it asked for no retention.
    pub(crate) fn batch_new_version_lock(&self, b: &mut WriteBatch, bucket: &str, key: &str, manifest: &Manifest, asked: Option<&VersionLock>) -> MetaResult<()> {
        let config = match asked {
            Some(_) => Some(self.require_lock_enabled(bucket)?),
            None => self.local_bucket_lock(bucket)?,
        };
        let Some(config) = config else { return Ok(()) };
        let mut lock = asked.copied().unwrap_or_default();
        if lock.retention.is_none() {
            lock.retention = config.default.map(|(mode, period)| Retention { mode, until_ms: manifest.modified_ms.saturating_add(period.ms()) });
        }
        self.batch_version_lock(b, bucket, key, manifest.version_id, &lock)
    }

    /// Refuse the deletion of a version for good while its lock protects it at `now_ms`.
    /// `guard: None` is a command from a gateway that predates object lock: it may delete
    /// only a version without a lock record.
    pub(crate) fn check_unlocked(&self, bucket: &str, key: &str, version_id: u128, guard: Option<(i64, bool)>) -> MetaResult<VersionLock> {
        let lock = self.local_version_lock(bucket, key, version_id)?;
        if lock.is_empty() {
            return Ok(lock);
        }
        let Some((now_ms, bypass)) = guard else {
            return Err(MetaError::NeedsNewerCommand { command: "delete_version".into() });
        };
        match lock.refusal(now_ms, bypass) {
            Some(why) => Err(locked(bucket, key, version_id, why)),
            None => Ok(lock),
        }
    }

    /// Enable object lock on a bucket and set its default retention. Precondition: the bucket
    /// exists with versioning enabled.
    pub(crate) fn apply_put_bucket_lock(&self, bucket: &str, config: &BucketLock) -> MetaResult<()> {
        let _b = self.bucket_lock.read();
        self.require_bucket(bucket)?;
        if !self.versioning_enabled(bucket)? {
            return Err(MetaError::BucketState { bucket: bucket.into(), detail: "object lock needs versioning Enabled: enable versioning first".into() });
        }
        let mut b = WriteBatch::default();
        self.batch_enable_lock(&mut b, bucket, config)?;
        self.write(b)
    }

    /// In `b`: versioning enabled and object lock configured as `config`.
    pub(crate) fn batch_enable_lock(&self, b: &mut WriteBatch, bucket: &str, config: &BucketLock) -> MetaResult<()> {
        self.batch_enable_versioning(b, bucket)?;
        self.batch_set(b, bucket_lock_key(bucket), Some(encode(config)?))
    }

    /// Change one version's retention (`Some(None)`: remove it) and/or legal hold. A
    /// retention still running at `now_ms` may only be extended — or, in GOVERNANCE mode
    /// with `bypass`, changed in any way. Precondition: object lock is enabled and the key
    /// has the version (else `VersionConflict`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn apply_put_version_lock(
        &self,
        bucket: &str,
        key: &str,
        version_id: u128,
        retention: Option<Option<Retention>>,
        legal_hold: Option<bool>,
        bypass: bool,
        now_ms: i64,
    ) -> MetaResult<()> {
        let _b = self.bucket_lock.read();
        let _k = self.key_lock(bucket, key).lock();
        self.require_bucket(bucket)?;
        self.require_lock_enabled(bucket)?;
        if self.local_object(bucket, key)?.is_none_or(|m| m.version_id != version_id) && self.archived_version(bucket, key, version_id)?.is_none() {
            return Err(MetaError::VersionConflict { bucket: bucket.into(), key: key.into(), expected: Some(version_id) });
        }
        let mut lock = self.local_version_lock(bucket, key, version_id)?;
        if let Some(new) = retention {
            if let Some(old) = lock.retention.filter(|r| r.until_ms > now_ms) {
                let kept = new.is_some_and(|n| n.until_ms >= old.until_ms && (old.mode == LockMode::Governance || n.mode == LockMode::Compliance));
                if !kept {
                    match old.mode {
                        LockMode::Compliance => {
                            return Err(locked(bucket, key, version_id, format!("its COMPLIANCE retention until {} can only be extended", rfc3339(old.until_ms))));
                        }
                        LockMode::Governance if !bypass => {
                            return Err(locked(
                                bucket,
                                key,
                                version_id,
                                format!(
                                    "its GOVERNANCE retention until {} can only be extended, unless the request sends x-amz-bypass-governance-retention: true with a key allowed s3:BypassGovernanceRetention",
                                    rfc3339(old.until_ms)
                                ),
                            ));
                        }
                        LockMode::Governance => {}
                    }
                }
            }
            lock.retention = new;
        }
        if let Some(on) = legal_hold {
            lock.legal_hold = on;
        }
        let mut b = WriteBatch::default();
        self.batch_version_lock(&mut b, bucket, key, version_id, &lock)?;
        self.write(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retention::{LockMode, RetentionPeriod};

    fn put(meta: &RocksMeta, key: &str, id: u128, modified_ms: i64, lock: Option<&VersionLock>) {
        let m = Manifest { modified_ms, ..crate::tests::manifest(id, &[(id, &[1, 2, 3])]) };
        meta.put_object_locked("b", key, &m, crate::Expect::Any, &[], lock).expect("put");
    }

    #[test]
    fn object_lock_needs_versioning_and_keeps_it_enabled() {
        let (_d, meta) = crate::tests::open();
        meta.create_bucket("b").expect("bucket");
        assert!(matches!(meta.put_bucket_lock("b", &BucketLock::default()), Err(MetaError::BucketState { .. })));
        let held = VersionLock { retention: None, legal_hold: true };
        let m = crate::tests::manifest(1, &[(1, &[1, 2, 3])]);
        assert!(matches!(meta.put_object_locked("b", "k", &m, crate::Expect::Any, &[], Some(&held)), Err(MetaError::NoObjectLock { .. })));
        assert_eq!(meta.local_object("b", "k").expect("read"), None, "a refused locked write stores nothing");
        meta.put_bucket_versioning("b", crate::Versioning::Enabled).expect("versioning");
        meta.put_bucket_lock("b", &BucketLock::default()).expect("lock");
        assert!(matches!(meta.put_bucket_versioning("b", crate::Versioning::Suspended), Err(MetaError::BucketState { .. })));
        meta.create_locked_bucket("c", "").expect("locked bucket");
        assert_eq!(meta.local_bucket_versioning("c").expect("read"), Some(crate::Versioning::Enabled));
        assert_eq!(meta.local_bucket_lock("c").expect("read"), Some(BucketLock::default()));
        meta.delete_bucket("c").expect("delete");
        meta.create_bucket("c").expect("again");
        assert_eq!(meta.local_bucket_lock("c").expect("read"), None, "the configuration went with the bucket");
    }

    #[test]
    fn retention_is_kept_extended_and_lifted_only_as_s3_allows() {
        let (_d, meta) = crate::tests::open();
        meta.create_locked_bucket("b", "").expect("bucket");
        let now = crate::now_ms();
        let day = 86_400_000;
        meta.put_bucket_lock("b", &BucketLock { default: Some((LockMode::Compliance, RetentionPeriod::Days(2))) }).expect("default");
        put(&meta, "k", 1, now, None);
        let got = meta.local_version_lock("b", "k", 1).expect("read");
        assert_eq!(got.retention, Some(Retention { mode: LockMode::Compliance, until_ms: now + 2 * day }), "the default counts from the version's time");
        // COMPLIANCE: extended, never shortened, weakened or removed, not even with a bypass.
        meta.put_version_lock("b", "k", 1, Some(Some(Retention { mode: LockMode::Compliance, until_ms: now + 3 * day })), None, false).expect("extend");
        for r in [Some(Retention { mode: LockMode::Compliance, until_ms: now + day }), Some(Retention { mode: LockMode::Governance, until_ms: now + 9 * day }), None] {
            assert!(matches!(meta.put_version_lock("b", "k", 1, Some(r), None, true), Err(MetaError::ObjectLocked { .. })));
        }
        // A new version archives the locked one, which keeps its lock and cannot go.
        let gov = VersionLock { retention: Some(Retention { mode: LockMode::Governance, until_ms: now + day }), legal_hold: false };
        put(&meta, "k", 2, now, Some(&gov));
        assert_eq!(meta.local_version_lock("b", "k", 2).expect("read"), gov, "an explicit retention beats the default");
        assert!(matches!(meta.delete_version("b", "k", crate::VersionRef::Id(1), true), Err(MetaError::ObjectLocked { .. })));
        // GOVERNANCE: shortened or removed only with a bypass.
        assert!(matches!(meta.put_version_lock("b", "k", 2, Some(None), None, false), Err(MetaError::ObjectLocked { .. })));
        meta.put_version_lock("b", "k", 2, Some(Some(Retention { mode: LockMode::Compliance, until_ms: now + day })), None, false).expect("GOVERNANCE to COMPLIANCE strengthens it");
        put(&meta, "k", 3, now, Some(&gov));
        meta.put_version_lock("b", "k", 3, Some(None), None, true).expect("bypassed removal");
        assert_eq!(meta.local_version_lock("b", "k", 3).expect("read"), VersionLock::default());
        meta.delete_version("b", "k", crate::VersionRef::Id(3), false).expect("an unlocked version goes");
        // An ended retention protects nothing, and its record goes with its version.
        put(&meta, "old", 4, now - 3 * day, None);
        meta.delete_version("b", "old", crate::VersionRef::Id(4), false).expect("retention ended");
        assert_eq!(meta.local_version_lock("b", "old", 4).expect("read"), VersionLock::default());
        // A version the key does not have cannot be locked.
        assert!(matches!(meta.put_version_lock("b", "k", 99, None, Some(true), false), Err(MetaError::VersionConflict { .. })));
    }

    #[test]
    fn an_upload_gives_its_object_the_lock_it_asked_for() {
        let (_d, meta) = crate::tests::open();
        meta.create_locked_bucket("b", "").expect("bucket");
        let up = crate::UploadRecord { upload_id: "u".into(), bucket: "b".into(), key: "k".into(), created_ms: 1, content_type: None, headers: vec![], user_meta: vec![] };
        let held = VersionLock { retention: None, legal_hold: true };
        meta.create_upload_locked(&up, &[], Some(&held)).expect("upload");
        let part = crate::PartRecord { part_number: 1, size: 1000, etag: "p".into(), modified_ms: 1, coding: crate::tests::manifest(1, &[]).coding, segments: crate::tests::manifest(1, &[(5, &[1, 2, 3, 4, 5, 6])]).segments, checksum: None };
        meta.put_part("b", "k", "u", &part).expect("part");
        meta.complete_upload::<MetaError>("b", "k", "u", |_, p| Ok((Manifest { segments: p[0].segments.clone(), ..crate::tests::manifest(7, &[]) }, vec![1]))).expect("complete");
        assert_eq!(meta.local_version_lock("b", "k", 7).expect("read"), held);
        assert_eq!(meta.local_upload_lock("u").expect("read"), None, "the upload's lock went with it");
    }
}
