//! The commands that delete versions or change one version (see `versions.rs` for the layout):
//! a delete of the current version (a delete marker where versioning is on), the deletion of
//! one version for good, and the tags of one version. Each reads only the head and the few
//! archive entries it needs, under the key's lock, so its cost does not grow with the number
//! of versions the key holds (but for a version deep in its archive, which is found by a walk).

use rocksdb::WriteBatch;

use crate::error::{MetaError, MetaResult};
use crate::keys;
use crate::store::{Expect, RocksMeta, CF_OBJECTS, CF_VERSIONS};
use crate::types::{encode, Manifest, ShardOwner};
use crate::versions::{current_ref, head_key, ExpiryExpect, KeyHead, StoredVersion, VersionDeleted, VersionRef};

impl RocksMeta {
    /// Delete the key's current version. In a bucket with versioning, `marker` (id, time) is
    /// the delete marker to make (without one such a delete is refused: it comes from a
    /// gateway that predates versioning).
    pub(crate) fn apply_delete_object(&self, bucket: &str, key: &str, expect: Expect, garbage_due_ms: i64, marker: Option<(u128, i64)>) -> MetaResult<VersionDeleted> {
        let _b = self.bucket_lock.read();
        let _k = self.key_lock(bucket, key).lock();
        self.require_bucket(bucket)?;
        let ok = keys::object_key(bucket, key.as_bytes());
        let old: Option<Manifest> = self.get(CF_OBJECTS, "manifest", &ok)?;
        self.check_expect(bucket, key, &old, expect)?;
        if marker.is_none() && self.local_bucket_versioning(bucket)?.is_some() {
            return Err(MetaError::NeedsNewerCommand { command: "delete_object".into() });
        }
        let mut b = WriteBatch::default();
        let gone = self.batch_supersede(&mut b, bucket, key, old.as_ref(), None, marker, garbage_due_ms)?;
        if let Some(o) = &old {
            b.delete_cf(self.cf(CF_OBJECTS)?, &ok);
            self.batch_object_tags(&mut b, bucket, key, o.version_id, &[])?;
        }
        if let Some(o) = &gone.garbage {
            self.batch_unreference(&mut b, &o.segments, &o.coding, garbage_due_ms)?;
        }
        if old.is_some() || gone.marker.is_some() {
            self.write(b)?;
        }
        Ok(VersionDeleted { vref: gone.marker, marker: gone.marker.is_some(), removed: gone.garbage })
    }

    /// Delete one version of a key for good. When it is the newest one (the current version,
    /// or the delete marker that hides the key), the next newest takes its place: an object
    /// version becomes current, a delete marker keeps the key hidden. A version its object
    /// lock protects at `guard`'s time (with its bypass) is refused; without a `guard` (a
    /// command from before object lock) so is every version with a lock record.
    pub(crate) fn apply_delete_version(&self, bucket: &str, key: &str, vref: VersionRef, garbage_due_ms: i64, guard: Option<(i64, bool)>) -> MetaResult<VersionDeleted> {
        let _b = self.bucket_lock.read();
        let _k = self.key_lock(bucket, key).lock();
        self.require_bucket(bucket)?;
        self.delete_version_held(bucket, key, vref, garbage_due_ms, guard)
    }

    /// Delete a version the lifecycle expires, if it is still as the lifecycle saw it (else
    /// `VersionConflict`, nothing written): a noncurrent version written at that time, or a
    /// delete marker that is all the key has. Object lock is honoured at `now_ms`, never
    /// bypassed.
    pub(crate) fn apply_expire_version(&self, bucket: &str, key: &str, vref: VersionRef, expect: ExpiryExpect, garbage_due_ms: i64, now_ms: i64) -> MetaResult<VersionDeleted> {
        let _b = self.bucket_lock.read();
        let _k = self.key_lock(bucket, key).lock();
        self.require_bucket(bucket)?;
        let current: Option<Manifest> = self.get(CF_OBJECTS, "manifest", &keys::object_key(bucket, key.as_bytes()))?;
        let head = self.key_head(bucket, key)?;
        let is_current = current.as_ref().is_some_and(|c| current_ref(head.as_ref(), c) == vref);
        let holds = match expect {
            ExpiryExpect::Noncurrent { modified_ms, newer } => {
                let mut found = None;
                self.scan_entries(bucket, key, |i, _, e| {
                    if e.vref() == vref {
                        found = (e.modified_ms() == modified_ms).then_some(i);
                        return Ok(false);
                    }
                    Ok(true)
                })?;
                // Without a current object the newest archive entry is the latest version (a
                // delete marker, or what a deletion left on top): not noncurrent.
                let at = found.filter(|i| current.is_some() || *i > 0);
                let noncurrent_before = at.map(|i| if current.is_some() { i } else { i - 1 });
                !is_current && noncurrent_before.is_some_and(|n| u32::try_from(n).unwrap_or(u32::MAX) >= newer)
            }
            ExpiryExpect::LoneMarker => {
                let first = self.first_entries(bucket, key, 2)?;
                current.is_none() && first.len() == 1 && first.iter().all(|(_, e)| e.vref() == vref && matches!(e, StoredVersion::DeleteMarker { .. }))
            }
        };
        if !holds {
            return Err(MetaError::VersionConflict { bucket: bucket.into(), key: key.into(), expected: None });
        }
        self.delete_version_held(bucket, key, vref, garbage_due_ms, Some((now_ms, false)))
    }

    /// [`RocksMeta::apply_delete_version`] with the bucket and key locks held.
    fn delete_version_held(&self, bucket: &str, key: &str, vref: VersionRef, garbage_due_ms: i64, guard: Option<(i64, bool)>) -> MetaResult<VersionDeleted> {
        let ok = keys::object_key(bucket, key.as_bytes());
        let current: Option<Manifest> = self.get(CF_OBJECTS, "manifest", &ok)?;
        let stored_head = self.key_head(bucket, key)?;
        let mut head = stored_head.clone().unwrap_or_default();
        let mut b = WriteBatch::default();
        let mut gone = VersionDeleted { vref: Some(vref), marker: false, removed: None };
        // The archive entries that may take the deleted version's place (newest first): the
        // next one becomes current if it is an object version; one after it tells whether
        // anything is left.
        let next: Vec<(Vec<u8>, StoredVersion)>;
        if let Some(cur) = current.clone().filter(|c| current_ref(stored_head.as_ref(), c) == vref) {
            self.check_unlocked(bucket, key, cur.version_id, guard)?;
            self.batch_drop_version_lock(&mut b, bucket, key, cur.version_id)?;
            b.delete_cf(self.cf(CF_OBJECTS)?, &ok);
            self.batch_object_tags(&mut b, bucket, key, cur.version_id, &[])?;
            self.batch_unreference(&mut b, &cur.segments, &cur.coding, garbage_due_ms)?;
            head.current = None;
            gone.removed = Some(cur);
            next = self.first_entries(bucket, key, 2)?;
        } else {
            let mut seen = Vec::new();
            let mut at = None;
            self.scan_entries(bucket, key, |i, k, e| {
                if at.is_none() && e.vref() == vref {
                    at = Some(i);
                }
                seen.push((k.to_vec(), e));
                // Found at the top: two more; found further down: done.
                Ok(match at {
                    None => true,
                    Some(0) => seen.len() < 3,
                    Some(_) => false,
                })
            })?;
            let Some(i) = at else {
                return Ok(VersionDeleted { vref: None, ..gone });
            };
            let (k, entry) = seen.remove(i);
            b.delete_cf(self.cf(CF_VERSIONS)?, &k);
            match &entry {
                StoredVersion::Object { manifest, .. } => {
                    self.check_unlocked(bucket, key, manifest.version_id, guard)?;
                    self.batch_drop_version_lock(&mut b, bucket, key, manifest.version_id)?;
                    self.batch_unreference(&mut b, &manifest.segments, &manifest.coding, garbage_due_ms)?;
                }
                StoredVersion::DeleteMarker { .. } => gone.marker = true,
            }
            if current.is_some() || i > 0 {
                // Not the newest version: the current one (or newer entries) stay as they are.
                self.write(b)?;
                return Ok(gone);
            }
            next = seen;
        }
        // The newest version went: the next newest, if an object version, becomes current.
        let mut left = next.len();
        if let Some((k, StoredVersion::Object { manifest, null, tags })) = next.into_iter().next() {
            left -= 1;
            b.delete_cf(self.cf(CF_VERSIONS)?, &k);
            b.put_cf(self.cf(CF_OBJECTS)?, &ok, encode(&manifest)?);
            self.batch_object_tags(&mut b, bucket, key, manifest.version_id, &tags)?;
            self.batch_reindex(&mut b, &manifest.segments, &ShardOwner::Object { bucket: bucket.into(), key: key.into() })?;
            head.current = (!null).then_some(manifest.version_id);
        }
        self.batch_put_head(&mut b, bucket, key, &head, left > 0)?;
        self.write(b)?;
        Ok(gone)
    }

    /// Replace the tags of the version of `bucket/key` whose manifest id is `version_id`: the
    /// current one's tag record, or an archived one's entry.
    pub(crate) fn apply_put_version_tags(&self, bucket: &str, key: &str, version_id: u128, tags: &[(String, String)]) -> MetaResult<()> {
        let _b = self.bucket_lock.read();
        let _k = self.key_lock(bucket, key).lock();
        self.require_bucket(bucket)?;
        let mut b = WriteBatch::default();
        if self.local_object(bucket, key)?.is_some_and(|m| m.version_id == version_id) {
            self.batch_object_tags(&mut b, bucket, key, version_id, tags)?;
            return self.write(b);
        }
        let hit = self.archived_entry(bucket, key, version_id)?;
        let Some((k, StoredVersion::Object { manifest, null, .. })) = hit else {
            return Err(MetaError::VersionConflict { bucket: bucket.into(), key: key.into(), expected: Some(version_id) });
        };
        b.put_cf(self.cf(CF_VERSIONS)?, k, encode(&StoredVersion::Object { manifest, null, tags: tags.to_vec() })?);
        self.write(b)
    }

    /// The archive entry (its key and value) of the version of `bucket/key` whose manifest id
    /// is `version_id`, if it is archived.
    pub(crate) fn archived_entry(&self, bucket: &str, key: &str, version_id: u128) -> MetaResult<Option<(Vec<u8>, StoredVersion)>> {
        let mut hit = None;
        self.scan_entries(bucket, key, |_, k, e| {
            if matches!(&e, StoredVersion::Object { manifest, .. } if manifest.version_id == version_id) {
                hit = Some((k.to_vec(), e));
            }
            Ok(hit.is_none())
        })?;
        Ok(hit)
    }

    /// In `b`: keep `head` while the key has anything versioned left (`more`), else drop it.
    fn batch_put_head(&self, b: &mut WriteBatch, bucket: &str, key: &str, head: &KeyHead, more: bool) -> MetaResult<()> {
        if more || head.current.is_some() {
            b.put_cf(self.cf(CF_VERSIONS)?, head_key(bucket, key), encode(head)?);
        } else {
            // The archive sequence restarts at 0 only when no entry is left to sort against.
            b.delete_cf(self.cf(CF_VERSIONS)?, head_key(bucket, key));
        }
        Ok(())
    }
}
