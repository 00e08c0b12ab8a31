//! Principals: access keys (each its own principal, admin or not) and the buckets they own.
//!
//! Both records gained a field after stores existed, so both read their older shape too: an
//! access key stored before keys had roles was a server's root key and reads as an admin
//! key; a bucket stored before buckets had owners reads with no owner (it belongs to the
//! admin keys). The newer shape is one field longer, and `decode` refuses trailing bytes, so
//! the two shapes cannot be mistaken for each other.

use rocksdb::{IteratorMode, WriteBatch};

use crate::error::{MetaError, MetaResult};
use crate::store::{RocksMeta, CF_BUCKETS, CF_KEYS};
use crate::types::{decode, encode, AccessKeyRecord, AccessKeyRecordV1, BucketRecord, BucketRecordV1};

/// Decode a stored access key, of either shape.
pub(crate) fn decode_key(bytes: &[u8]) -> MetaResult<AccessKeyRecord> {
    decode::<AccessKeyRecord>("access key", bytes).or_else(|e| decode::<AccessKeyRecordV1>("access key", bytes).map(AccessKeyRecord::from).map_err(|_| e))
}

/// Decode a stored bucket, of either shape.
pub(crate) fn decode_bucket(bytes: &[u8]) -> MetaResult<BucketRecord> {
    decode::<BucketRecord>("bucket", bytes).or_else(|e| {
        decode::<BucketRecordV1>("bucket", bytes).map(|v| BucketRecord { created_ms: v.created_ms, owner: String::new() }).map_err(|_| e)
    })
}

impl RocksMeta {
    // ----- buckets -----

    pub(crate) fn apply_create_bucket(&self, bucket: &str, created_ms: i64, owner: &str, locked: bool) -> MetaResult<()> {
        let _g = self.bucket_lock.write();
        if self.local_bucket(bucket)?.is_some() {
            return Err(MetaError::BucketExists { bucket: bucket.into() });
        }
        let mut b = WriteBatch::default();
        b.put_cf(self.cf(CF_BUCKETS)?, bucket.as_bytes(), encode(&BucketRecord { created_ms, owner: owner.into() })?);
        if locked {
            // Object lock from the start: versioning enabled, no default retention.
            self.batch_enable_lock(&mut b, bucket, &crate::retention::BucketLock::default())?;
        }
        self.write(b)
    }

    /// Look up a bucket in this replica's own state, without the read barrier (see `MetaRead`).
    pub fn local_bucket(&self, bucket: &str) -> MetaResult<Option<BucketRecord>> {
        self.guarded(|| self.get_raw(CF_BUCKETS, bucket.as_bytes())?.map(|v| decode_bucket(&v)).transpose())
    }

    /// All buckets, sorted by name.
    pub(crate) fn local_list_buckets(&self) -> MetaResult<Vec<(String, BucketRecord)>> {
        let mut out = Vec::new();
        for item in self.db().iterator_cf(self.cf(CF_BUCKETS)?, IteratorMode::Start) {
            let (k, v) = item.map_err(MetaError::db("list buckets"))?;
            out.push((String::from_utf8_lossy(&k).into_owned(), decode_bucket(&v)?));
        }
        Ok(out)
    }

    // ----- access keys -----

    pub(crate) fn apply_put_access_key(&self, access_key: &str, rec: &AccessKeyRecord) -> MetaResult<()> {
        let mut b = WriteBatch::default();
        b.put_cf(self.cf(CF_KEYS)?, access_key.as_bytes(), encode(rec)?);
        self.write(b)
    }

    /// Delete an access key. Precondition: it exists, and it is not the last admin key (the
    /// admin API, which creates keys, would then have no one left to serve).
    pub(crate) fn apply_delete_access_key(&self, access_key: &str) -> MetaResult<()> {
        let keys = self.local_list_access_keys()?;
        let Some((_, rec)) = keys.iter().find(|(k, _)| k == access_key) else {
            return Err(MetaError::NoSuchAccessKey { access_key: access_key.into() });
        };
        if rec.admin && !keys.iter().any(|(k, r)| r.admin && k != access_key) {
            return Err(MetaError::LastAdminKey { access_key: access_key.into() });
        }
        let mut b = WriteBatch::default();
        b.delete_cf(self.cf(CF_KEYS)?, access_key.as_bytes());
        self.write(b)
    }

    /// Look up an access key in this replica's own state, without the read barrier (see `MetaRead`).
    pub fn local_access_key(&self, access_key: &str) -> MetaResult<Option<AccessKeyRecord>> {
        self.guarded(|| self.get_raw(CF_KEYS, access_key.as_bytes())?.map(|v| decode_key(&v)).transpose())
    }

    /// All access keys in this replica's own state, without the read barrier, sorted by key.
    pub fn local_list_access_keys(&self) -> MetaResult<Vec<(String, AccessKeyRecord)>> {
        let mut out = Vec::new();
        self.scan_prefix(CF_KEYS, &[], &[], |k, v| {
            out.push((String::from_utf8_lossy(k).into_owned(), decode_key(v)?));
            Ok(true)
        })?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::open;
    use crate::{Command, MetaRead};

    fn key(name: &str, admin: bool) -> AccessKeyRecord {
        AccessKeyRecord { secret: format!("{name}-secret"), created_ms: 1, name: name.into(), admin }
    }

    #[test]
    fn records_of_the_older_shapes_read_as_admin_keys_and_admin_buckets() {
        let (_d, meta) = open();
        // The bytes a store wrote before keys had roles and buckets had owners.
        let old_key = encode(&AccessKeyRecordV1 { secret: "s".into(), created_ms: 7, name: "root".into() }).expect("encode");
        let old_bucket = encode(&7i64).expect("encode");
        meta.put_raw_for_test(CF_KEYS, b"OLD", &old_key).expect("put");
        meta.put_raw_for_test(CF_BUCKETS, b"old", &old_bucket).expect("put");
        assert_eq!(meta.local_access_key("OLD").expect("read"), Some(AccessKeyRecord { secret: "s".into(), created_ms: 7, name: "root".into(), admin: true }));
        assert_eq!(meta.local_bucket("old").expect("read"), Some(BucketRecord { created_ms: 7, owner: String::new() }));
        // A damaged record is still an error, not a guess.
        meta.put_raw_for_test(CF_KEYS, b"BAD", &[1, 200]).expect("put");
        assert!(matches!(meta.local_access_key("BAD"), Err(MetaError::Corrupt { .. })));
        let longer = [&encode(&key("x", false)).expect("encode")[..], &[0][..]].concat();
        meta.put_raw_for_test(CF_KEYS, b"LONG", &longer).expect("put");
        assert!(matches!(meta.local_access_key("LONG"), Err(MetaError::Corrupt { .. })));
    }

    #[test]
    fn a_logged_put_access_key_of_the_older_shape_applies_as_an_admin_key() {
        let (_d, meta) = open();
        let cmd = Command::PutAccessKey { access_key: "AK".into(), record: AccessKeyRecordV1 { secret: "s".into(), created_ms: 1, name: "root".into() } };
        let cmd = Command::decode(&cmd.encode().expect("encode")).expect("decode");
        meta.apply(&cmd).expect("apply");
        assert!(meta.access_key("AK").expect("read").is_some_and(|r| r.admin));
        let cmd = Command::CreateBucket { bucket: "b".into(), created_ms: 2 };
        meta.apply(&cmd).expect("apply");
        assert_eq!(meta.bucket("b").expect("read").map(|b| b.owner), Some(String::new()));
    }

    #[test]
    fn the_last_admin_key_cannot_be_deleted_and_others_can() {
        let (_d, meta) = open();
        meta.put_access_key("ROOT", &key("root", true)).expect("put");
        meta.put_access_key("TEAM", &key("team", false)).expect("put");
        assert!(matches!(meta.delete_access_key("ROOT"), Err(MetaError::LastAdminKey { .. })));
        assert!(matches!(meta.delete_access_key("NOPE"), Err(MetaError::NoSuchAccessKey { .. })));
        meta.put_access_key("OPS", &key("ops", true)).expect("put");
        meta.delete_access_key("ROOT").expect("a second admin key exists");
        assert!(matches!(meta.delete_access_key("OPS"), Err(MetaError::LastAdminKey { .. })));
        meta.delete_access_key("TEAM").expect("a plain key");
        let left: Vec<String> = meta.list_access_keys().expect("list").into_iter().map(|(k, _)| k).collect();
        assert_eq!(left, vec!["OPS".to_owned()]);
    }

    #[test]
    fn an_owned_bucket_keeps_its_owner_and_a_second_create_is_refused() {
        let (_d, meta) = open();
        meta.create_owned_bucket("b", "TEAM").expect("create");
        assert!(matches!(meta.create_owned_bucket("b", "OTHER"), Err(MetaError::BucketExists { .. })));
        assert_eq!(meta.bucket("b").expect("read").map(|b| b.owner), Some("TEAM".to_owned()));
        assert_eq!(meta.list_buckets().expect("list")[0].1.owner, "TEAM");
    }
}
