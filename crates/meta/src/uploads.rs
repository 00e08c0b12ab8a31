//! Multipart uploads in the metadata store: an upload's record, its parts (each referencing
//! its shards as an upload part), and what aborting or completing one writes — the parts the
//! manifest uses re-pointed to the object, the others garbage.

use rocksdb::WriteBatch;

use crate::command::PartStamp;
use crate::error::{MetaError, MetaResult};
use crate::keys;
use crate::store::{Expect, RocksMeta, CF_OBJECTS, CF_PARTS, CF_UPLOADS};
use crate::types::*;

impl RocksMeta {
    pub(crate) fn apply_create_upload(&self, up: &UploadRecord, tags: &[(String, String)], lock: Option<&crate::retention::VersionLock>) -> MetaResult<()> {
        let _b = self.bucket_lock.read();
        self.require_bucket(&up.bucket)?;
        if lock.is_some() {
            self.require_lock_enabled(&up.bucket)?;
        }
        let mut b = WriteBatch::default();
        b.put_cf(self.cf(CF_UPLOADS)?, keys::upload_key(&up.bucket, &up.key, &up.upload_id), encode(up)?);
        self.batch_upload_tags(&mut b, &up.upload_id, tags)?;
        self.batch_upload_lock(&mut b, &up.upload_id, lock)?;
        self.write(b)
    }

    /// Look up an upload in this replica's copy (no read barrier: clients read through
    /// `MetaRead::upload`).
    pub fn local_upload(&self, bucket: &str, key: &str, upload_id: &str) -> MetaResult<UploadRecord> {
        self.get(CF_UPLOADS, "upload", &keys::upload_key(bucket, key, upload_id))?
            .ok_or_else(|| MetaError::NoSuchUpload { upload_id: upload_id.into() })
    }

    pub(crate) fn apply_put_part(&self, bucket: &str, key: &str, upload_id: &str, part: &PartRecord, garbage_due_ms: i64) -> MetaResult<()> {
        let _b = self.bucket_lock.read();
        let _k = self.key_lock(bucket, key).lock();
        self.local_upload(bucket, key, upload_id)?;
        let pk = keys::part_key(upload_id, part.part_number);
        let mut b = WriteBatch::default();
        if let Some(old) = self.get_part(&pk)? {
            self.batch_unreference(&mut b, &old.segments, &old.coding, garbage_due_ms)?;
        }
        b.put_cf(self.cf(CF_PARTS)?, &pk, crate::types::encode_part(part)?);
        let owner = ShardOwner::Part { bucket: bucket.into(), key: key.into(), upload_id: upload_id.into(), part: part.part_number };
        self.batch_reference(&mut b, &part.segments, &part.coding, &owner, true)?;
        self.write(b)
    }

    /// Parts of an upload with number > `after`, at most `max`, in order.
    pub(crate) fn local_list_parts(&self, upload_id: &str, after: u32, max: usize) -> MetaResult<Vec<PartRecord>> {
        let prefix = keys::part_prefix(upload_id);
        let start = keys::part_key(upload_id, after.saturating_add(1));
        let mut out = Vec::new();
        if max == 0 || after == u32::MAX {
            return Ok(out);
        }
        self.scan_prefix(CF_PARTS, &prefix, &start, |_, v| {
            out.push(decode_part(v)?);
            Ok(out.len() < max)
        })?;
        Ok(out)
    }

    pub(crate) fn batch_drop_upload(&self, b: &mut WriteBatch, upload_key: &[u8], upload_id: &str, keep: &[u32], due_ms: i64) -> MetaResult<()> {
        let prefix = keys::part_prefix(upload_id);
        let mut parts: Vec<(Vec<u8>, PartRecord)> = Vec::new();
        self.scan_prefix(CF_PARTS, &prefix, &prefix, |k, v| {
            parts.push((k.to_vec(), decode_part(v)?));
            Ok(true)
        })?;
        let parts_cf = self.cf(CF_PARTS)?;
        for (k, p) in parts {
            if !keep.contains(&p.part_number) {
                self.batch_unreference(b, &p.segments, &p.coding, due_ms)?;
            }
            b.delete_cf(parts_cf, k);
        }
        b.delete_cf(self.cf(CF_UPLOADS)?, upload_key);
        self.batch_upload_tags(b, upload_id, &[])?;
        self.batch_upload_lock(b, upload_id, None)?;
        Ok(())
    }

    pub(crate) fn apply_abort_upload(&self, bucket: &str, key: &str, upload_id: &str, garbage_due_ms: i64) -> MetaResult<()> {
        let _b = self.bucket_lock.read();
        let _k = self.key_lock(bucket, key).lock();
        self.local_upload(bucket, key, upload_id)?;
        let mut b = WriteBatch::default();
        self.batch_drop_upload(&mut b, &keys::upload_key(bucket, key, upload_id), upload_id, &[], garbage_due_ms)?;
        self.write(b)
    }

    // The fields of `CompleteUpload(If)`, one argument each, as every `apply_*` takes them.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn apply_complete_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        used: &[PartStamp],
        manifest: &Manifest,
        garbage_due_ms: i64,
        expect: Expect,
    ) -> MetaResult<Option<Manifest>> {
        let _b = self.bucket_lock.read();
        let _k = self.key_lock(bucket, key).lock();
        self.require_bucket(bucket)?;
        self.local_upload(bucket, key, upload_id)?;
        // The compare: every part the manifest was built from is still the one stored.
        for stamp in used {
            let stored: Option<PartRecord> = self.get_part(&keys::part_key(upload_id, stamp.number))?;
            if stored.as_ref().map(PartStamp::of).as_ref() != Some(stamp) {
                return Err(MetaError::PartsChanged { upload_id: upload_id.into(), part: stamp.number });
            }
        }
        let numbers: Vec<u32> = used.iter().map(|p| p.number).collect();
        let ok = keys::object_key(bucket, key.as_bytes());
        let old: Option<Manifest> = self.get(CF_OBJECTS, "manifest", &ok)?;
        self.check_expect(bucket, key, &old, expect)?;
        let mut b = WriteBatch::default();
        // The upload's tags become the object's (its drop below deletes them as upload tags).
        let tags = self.local_upload_tags(upload_id)?;
        let lock = self.local_upload_lock(upload_id)?;
        self.batch_drop_upload(&mut b, &keys::upload_key(bucket, key, upload_id), upload_id, &numbers, garbage_due_ms)?;
        let gone = self.batch_supersede(&mut b, bucket, key, old.as_ref(), Some(manifest.version_id), None, garbage_due_ms)?;
        self.batch_object_tags(&mut b, bucket, key, manifest.version_id, &tags)?;
        if let Some(o) = &gone.garbage {
            self.batch_unreference(&mut b, &o.segments, &o.coding, garbage_due_ms)?;
        }
        b.put_cf(self.cf(CF_OBJECTS)?, &ok, encode(manifest)?);
        self.batch_new_version_lock(&mut b, bucket, key, manifest, lock.as_ref())?;
        // The used parts' segments now belong to the object: re-point their index entries
        // (the ledger counted them when their parts were stored).
        self.batch_reference(&mut b, &manifest.segments, &manifest.coding, &ShardOwner::Object { bucket: bucket.into(), key: key.into() }, false)?;
        self.write(b)?;
        Ok(old)
    }

    /// Uploads in a bucket whose key starts with `prefix`, after (`key_marker`, `upload_id_marker`).
    pub(crate) fn local_list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        key_marker: Option<&str>,
        upload_id_marker: Option<&str>,
        max: usize,
    ) -> MetaResult<(Vec<UploadRecord>, bool)> {
        let p = keys::object_key(bucket, prefix.as_bytes());
        let start = match (key_marker, upload_id_marker) {
            (Some(k), Some(u)) => {
                let mut s = keys::upload_key(bucket, k, u);
                s.push(0);
                s
            }
            (Some(k), None) => {
                let mut s = keys::object_key(bucket, k.as_bytes());
                s.push(keys::AFTER_UTF8);
                s.push(keys::AFTER_UTF8);
                s
            }
            _ => p.clone(),
        };
        let mut out = Vec::new();
        let mut truncated = false;
        self.scan_prefix(CF_UPLOADS, &p, &start, |_, v| {
            if out.len() == max {
                truncated = true;
                return Ok(false);
            }
            out.push(decode("upload", v)?);
            Ok(true)
        })?;
        Ok((out, truncated))
    }
}
