//! Tags of objects and buckets (S3 tagging), as records of the system column family:
//!
//! - `object-tags/<object key>` → [`ObjectTagsRecord`]: the tags of one object version. It is
//!   written in the same batch as the manifest it belongs to (a tagged PUT, CopyObject, a
//!   completed upload) or by `PutObjectTags` with a compare on the version, and deleted in the
//!   batch that replaces or deletes the object, so an object never shows another version's tags.
//! - `upload-tags/<upload id>` → the tags a CreateMultipartUpload asked for, moved onto the
//!   object when the upload completes and dropped with the upload.
//! - `bucket-tags/<bucket>` → the bucket's tag set, dropped with the bucket.
//!
//! The limits S3 sets (10 tags per object, 50 per bucket, keys of 1–128 and values of up to 256
//! characters, unique keys) are checked by the front end before a command is built.

use rocksdb::WriteBatch;
use serde::{Deserialize, Serialize};

use crate::error::{MetaError, MetaResult};
use crate::keys;
use crate::store::{RocksMeta, CF_OBJECTS, CF_SYSTEM};
use crate::types::{encode, Manifest};

/// A tag set: (key, value) pairs in the order they were given.
pub type TagSet = Vec<(String, String)>;

/// The tags of one object version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectTagsRecord {
    /// The version they belong to.
    pub version_id: u128,
    /// The tags.
    pub tags: TagSet,
}

const KEY_OBJECT_TAGS: &[u8] = b"object-tags/";
const KEY_BUCKET_TAGS: &[u8] = b"bucket-tags/";
const KEY_UPLOAD_TAGS: &[u8] = b"upload-tags/";

fn object_tags_key(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = KEY_OBJECT_TAGS.to_vec();
    k.extend(keys::object_key(bucket, key.as_bytes()));
    k
}

fn bucket_tags_key(bucket: &str) -> Vec<u8> {
    let mut k = KEY_BUCKET_TAGS.to_vec();
    k.extend_from_slice(bucket.as_bytes());
    k
}

fn upload_tags_key(upload_id: &str) -> Vec<u8> {
    let mut k = KEY_UPLOAD_TAGS.to_vec();
    k.extend_from_slice(upload_id.as_bytes());
    k
}

impl RocksMeta {
    /// In `b`: the system record at `key` becomes `value`, or goes when there is none. An
    /// absent record is not deleted again, so untagged writes (nearly all) leave no tombstones.
    pub(crate) fn batch_set(&self, b: &mut WriteBatch, key: Vec<u8>, value: Option<Vec<u8>>) -> MetaResult<()> {
        let cf = self.cf(CF_SYSTEM)?;
        match value {
            Some(v) => b.put_cf(cf, key, v),
            None => {
                if self.get_raw(CF_SYSTEM, &key)?.is_some() {
                    b.delete_cf(cf, key);
                }
            }
        }
        Ok(())
    }

    /// In `b`: `bucket/key`'s tags become `tags` of `version_id` (none: the record goes).
    pub(crate) fn batch_object_tags(&self, b: &mut WriteBatch, bucket: &str, key: &str, version_id: u128, tags: &[(String, String)]) -> MetaResult<()> {
        let value = if tags.is_empty() { None } else { Some(encode(&ObjectTagsRecord { version_id, tags: tags.to_vec() })?) };
        self.batch_set(b, object_tags_key(bucket, key), value)
    }

    /// In `b`: an upload's waiting tags (none: the record goes).
    pub(crate) fn batch_upload_tags(&self, b: &mut WriteBatch, upload_id: &str, tags: &[(String, String)]) -> MetaResult<()> {
        let value = if tags.is_empty() { None } else { Some(encode(&tags.to_vec())?) };
        self.batch_set(b, upload_tags_key(upload_id), value)
    }

    /// In `b`: a bucket's tags (none: the record goes, as when the bucket is deleted).
    pub(crate) fn batch_bucket_tags(&self, b: &mut WriteBatch, bucket: &str, tags: &[(String, String)]) -> MetaResult<()> {
        let value = if tags.is_empty() { None } else { Some(encode(&tags.to_vec())?) };
        self.batch_set(b, bucket_tags_key(bucket), value)
    }

    /// Replace the tags of `bucket/key`, which must be at `version_id`.
    pub(crate) fn apply_put_object_tags(&self, bucket: &str, key: &str, version_id: u128, tags: &[(String, String)]) -> MetaResult<()> {
        let _b = self.bucket_lock.read();
        let _k = self.key_lock(bucket, key).lock();
        self.require_bucket(bucket)?;
        let current: Option<Manifest> = self.get(CF_OBJECTS, "manifest", &keys::object_key(bucket, key.as_bytes()))?;
        if current.map(|m| m.version_id) != Some(version_id) {
            return Err(MetaError::VersionConflict { bucket: bucket.into(), key: key.into(), expected: Some(version_id) });
        }
        let mut b = WriteBatch::default();
        self.batch_object_tags(&mut b, bucket, key, version_id, tags)?;
        self.write(b)
    }

    /// Replace a bucket's tags (none: delete them).
    pub(crate) fn apply_put_bucket_tags(&self, bucket: &str, tags: &[(String, String)]) -> MetaResult<()> {
        let _b = self.bucket_lock.read();
        self.require_bucket(bucket)?;
        let mut b = WriteBatch::default();
        self.batch_bucket_tags(&mut b, bucket, tags)?;
        self.write(b)
    }

    /// The tags of `bucket/key` at `version_id` (empty when it has none).
    pub(crate) fn local_object_tags(&self, bucket: &str, key: &str, version_id: u128) -> MetaResult<TagSet> {
        let rec: Option<ObjectTagsRecord> = self.get(CF_SYSTEM, "object tags", &object_tags_key(bucket, key))?;
        Ok(rec.filter(|r| r.version_id == version_id).map(|r| r.tags).unwrap_or_default())
    }

    /// The tags an upload will give its object.
    pub(crate) fn local_upload_tags(&self, upload_id: &str) -> MetaResult<TagSet> {
        Ok(self.get(CF_SYSTEM, "upload tags", &upload_tags_key(upload_id))?.unwrap_or_default())
    }

    /// A bucket's tags (`None`: it has no tag set).
    pub(crate) fn local_bucket_tags(&self, bucket: &str) -> MetaResult<Option<TagSet>> {
        self.get(CF_SYSTEM, "bucket tags", &bucket_tags_key(bucket))
    }
}

#[cfg(test)]
mod tests {
    use crate::tests::open;
    use crate::*;

    fn tags(pairs: &[(&str, &str)]) -> TagSet {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn manifest(version_id: u128) -> Manifest {
        Manifest {
            version_id,
            size: 0,
            etag: "e".into(),
            modified_ms: 1,
            content_type: None,
            headers: vec![],
            user_meta: vec![],
            parts: 0,
            coding: Coding { codec: 1, k: 2, m: 1, chunk_size: 1024 },
            segments: vec![],
        }
    }

    #[test]
    fn object_tags_belong_to_one_version_and_go_with_it() {
        let (_d, meta) = open();
        meta.create_bucket("b").expect("bucket");
        meta.put_object_tagged("b", "k", &manifest(1), Expect::Any, &tags(&[("a", "1")])).expect("tagged put");
        assert_eq!(meta.object_with_tags("b", "k").expect("read").map(|(_, t)| t), Some(tags(&[("a", "1")])));
        // Tags set with a compare on the version; another version is refused and writes nothing.
        let before = meta.dump_for_test().expect("dump");
        assert!(matches!(meta.put_object_tags("b", "k", 9, &tags(&[("x", "y")])), Err(MetaError::VersionConflict { .. })));
        assert_eq!(meta.dump_for_test().expect("dump"), before);
        meta.put_object_tags("b", "k", 1, &tags(&[("b", "2"), ("c", "")])).expect("tags");
        assert_eq!(meta.object_with_tags("b", "k").expect("read").map(|(_, t)| t), Some(tags(&[("b", "2"), ("c", "")])));
        // An overwrite without tags leaves none; so does a delete and re-create.
        meta.put_object("b", "k", &manifest(2), Expect::Any).expect("overwrite");
        assert_eq!(meta.object_with_tags("b", "k").expect("read").map(|(_, t)| t), Some(vec![]));
        meta.put_object_tags("b", "k", 2, &tags(&[("d", "4")])).expect("tags");
        meta.delete_object("b", "k", Expect::Any).expect("delete");
        assert_eq!(meta.object_with_tags("b", "k").expect("read"), None);
        meta.put_object("b", "k", &manifest(3), Expect::Any).expect("re-create");
        assert_eq!(meta.object_with_tags("b", "k").expect("read").map(|(_, t)| t), Some(vec![]));
        assert_eq!(meta.dump_for_test().expect("dump").iter().filter(|(cf, k, _)| *cf == "system" && k.starts_with(b"object-tags/")).count(), 0, "a tag record outlived its object");
    }

    #[test]
    fn bucket_tags_are_set_deleted_and_go_with_the_bucket() {
        let (_d, meta) = open();
        assert!(matches!(meta.put_bucket_tags("nope", &tags(&[("a", "1")])), Err(MetaError::NoSuchBucket { .. })));
        meta.create_bucket("b").expect("bucket");
        assert_eq!(meta.bucket_tags("b").expect("read"), None);
        meta.put_bucket_tags("b", &tags(&[("team", "x")])).expect("tags");
        assert_eq!(meta.bucket_tags("b").expect("read"), Some(tags(&[("team", "x")])));
        meta.put_bucket_tags("b", &[]).expect("delete tags");
        assert_eq!(meta.bucket_tags("b").expect("read"), None);
        meta.put_bucket_tags("b", &tags(&[("team", "x")])).expect("tags");
        meta.delete_bucket("b").expect("delete bucket");
        meta.create_bucket("b").expect("bucket again");
        assert_eq!(meta.bucket_tags("b").expect("read"), None, "a new bucket of the same name has no tags");
    }
}
