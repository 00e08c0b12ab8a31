//! Where ACLs are kept. The metadata store holds them as the front end spells them (it
//! neither reads nor checks them; `crates/gateway/src/acl.rs` does):
//!
//! - a bucket's ACL is the system record `bucket-acl/<bucket>`, dropped with the bucket (no
//!   record: the default, its owner's `FULL_CONTROL`);
//! - an object version's ACL is its manifest's internal header [`ACL_HEADER`], written with
//!   the version by the write that makes it, so it goes wherever the version goes (archived,
//!   made current again, deleted, exported, relabelled). `PutVersionAcl` rewrites that header
//!   of one version in place: the version keeps its id, time, ETag and shards.

use rocksdb::WriteBatch;

use crate::error::{MetaError, MetaResult};
use crate::keys;
use crate::store::{RocksMeta, CF_OBJECTS, CF_SYSTEM, CF_VERSIONS};
use crate::types::{encode, Manifest};
use crate::versions::StoredVersion;

/// The internal manifest header holding an object version's ACL.
pub const ACL_HEADER: &str = "x-kintsugi-acl";

const KEY_BUCKET_ACL: &[u8] = b"bucket-acl/";

fn bucket_acl_key(bucket: &str) -> Vec<u8> {
    let mut k = KEY_BUCKET_ACL.to_vec();
    k.extend_from_slice(bucket.as_bytes());
    k
}

/// The ACL header among a manifest's `headers`, if it has one.
pub fn acl_of(headers: &[(String, String)]) -> Option<String> {
    headers.iter().find(|(k, _)| k == ACL_HEADER).map(|(_, v)| v.clone())
}

/// `m` with its ACL header `acl` (empty: none).
fn with_acl(mut m: Manifest, acl: &str) -> Manifest {
    m.headers.retain(|(k, _)| k != ACL_HEADER);
    if !acl.is_empty() {
        m.headers.push((ACL_HEADER.to_owned(), acl.to_owned()));
    }
    m
}

impl RocksMeta {
    /// A bucket's ACL as this replica holds it (read by the access check, without a barrier).
    pub fn local_bucket_acl(&self, bucket: &str) -> MetaResult<Option<String>> {
        self.guarded(|| self.get(CF_SYSTEM, "bucket ACL", &bucket_acl_key(bucket)))
    }

    /// In `b`: drop a bucket's ACL (with the bucket).
    pub(crate) fn batch_drop_bucket_acl(&self, b: &mut WriteBatch, bucket: &str) -> MetaResult<()> {
        self.batch_set(b, bucket_acl_key(bucket), None)
    }

    /// Replace a bucket's ACL (empty: back to the default).
    pub(crate) fn apply_put_bucket_acl(&self, bucket: &str, acl: &str) -> MetaResult<()> {
        let _b = self.bucket_lock.read();
        self.require_bucket(bucket)?;
        let mut b = WriteBatch::default();
        let value = if acl.is_empty() { None } else { Some(encode(&acl.to_owned())?) };
        self.batch_set(&mut b, bucket_acl_key(bucket), value)?;
        self.write(b)
    }

    /// Replace the ACL header of the version of `bucket/key` whose manifest id is
    /// `version_id` (the current one, or an archived one) if it is `expect` (empty: none);
    /// `VersionConflict` when the key has no such version (any more), or its ACL changed.
    pub(crate) fn apply_put_version_acl(&self, bucket: &str, key: &str, version_id: u128, acl: &str, expect: &str) -> MetaResult<()> {
        let _b = self.bucket_lock.read();
        let _k = self.key_lock(bucket, key).lock();
        self.require_bucket(bucket)?;
        let conflict = || MetaError::VersionConflict { bucket: bucket.into(), key: key.into(), expected: Some(version_id) };
        let unchanged = |m: &Manifest| acl_of(&m.headers).unwrap_or_default() == expect;
        let mut b = WriteBatch::default();
        if let Some(m) = self.local_object(bucket, key)?.filter(|m| m.version_id == version_id) {
            if !unchanged(&m) {
                return Err(conflict());
            }
            b.put_cf(self.cf(CF_OBJECTS)?, keys::object_key(bucket, key.as_bytes()), encode(&with_acl(m, acl))?);
            return self.write(b);
        }
        let hit = self.archived_entry(bucket, key, version_id)?;
        let Some((k, StoredVersion::Object { manifest, null, tags })) = hit.filter(|(_, e)| matches!(e, StoredVersion::Object { manifest, .. } if unchanged(manifest))) else {
            return Err(conflict());
        };
        b.put_cf(self.cf(CF_VERSIONS)?, k, encode(&StoredVersion::Object { manifest: with_acl(manifest, acl), null, tags })?);
        self.write(b)
    }
}

#[cfg(test)]
mod tests {
    use crate::tests::{manifest, open};
    use crate::*;

    fn acl_of(m: &Manifest) -> Option<&str> {
        m.headers.iter().find(|(k, _)| k == ACL_HEADER).map(|(_, v)| v.as_str())
    }

    #[test]
    fn a_bucket_acl_is_set_reset_and_goes_with_the_bucket() {
        let (_d, meta) = open();
        assert!(matches!(meta.put_bucket_acl("nope", "A"), Err(MetaError::NoSuchBucket { .. })));
        meta.create_bucket("b").expect("bucket");
        assert_eq!(meta.bucket_acl("b").expect("read"), None);
        meta.put_bucket_acl("b", "A").expect("acl");
        assert_eq!(meta.bucket_acl("b").expect("read").as_deref(), Some("A"));
        meta.put_bucket_acl("b", "").expect("reset");
        assert_eq!(meta.bucket_acl("b").expect("read"), None);
        meta.put_bucket_acl("b", "A").expect("acl");
        meta.delete_bucket("b").expect("delete");
        meta.create_bucket("b").expect("again");
        assert_eq!(meta.local_bucket_acl("b").expect("read"), None, "a new bucket of the same name has none");
    }

    #[test]
    fn a_version_acl_is_rewritten_in_place_current_or_archived() {
        let (_d, meta) = open();
        meta.create_bucket("b").expect("bucket");
        meta.put_bucket_versioning("b", Versioning::Enabled).expect("versioning");
        let mut first = manifest(1, &[]);
        first.headers.push((ACL_HEADER.to_owned(), "old".to_owned()));
        meta.put_object("b", "k", &first, Expect::Any).expect("v1");
        assert!(matches!(meta.put_version_acl("b", "k", 1, "one", "stale"), Err(MetaError::VersionConflict { .. })), "a compare on the ACL");
        meta.put_version_acl("b", "k", 1, "one", "old").expect("current");
        let cur = meta.local_object("b", "k").expect("read").expect("object");
        assert_eq!((acl_of(&cur), cur.modified_ms, cur.etag.as_str()), (Some("one"), first.modified_ms, first.etag.as_str()), "only the ACL changed");
        assert_eq!(cur.headers.iter().filter(|(k, _)| k == ACL_HEADER).count(), 1);
        meta.put_object("b", "k", &manifest(2, &[]), Expect::Any).expect("v2");
        assert!(matches!(meta.put_version_acl("b", "k", 1, "archived", "old"), Err(MetaError::VersionConflict { .. })), "an archived version's too");
        meta.put_version_acl("b", "k", 1, "archived", "one").expect("archived");
        let v1 = meta.local_object_version("b", "k", VersionRef::Id(1)).expect("read");
        assert!(matches!(&v1, Some(FoundVersion::Object { manifest, .. }) if acl_of(manifest) == Some("archived")), "{v1:?}");
        meta.put_version_acl("b", "k", 2, "", "").expect("none");
        assert_eq!(acl_of(&meta.local_object("b", "k").expect("read").expect("object")), None);
        assert!(matches!(meta.put_version_acl("b", "k", 9, "x", ""), Err(MetaError::VersionConflict { .. })));
        assert!(matches!(meta.put_version_acl("b", "gone", 1, "x", ""), Err(MetaError::VersionConflict { .. })));
    }
}
