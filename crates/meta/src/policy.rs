//! A bucket's policy (S3's PutBucketPolicy): the policy document exactly as it was given
//! (GetBucketPolicy answers it byte for byte), as a system record `bucket-policy/<bucket>`
//! dropped with the bucket. The front end checks a document before a command is built and
//! evaluates it for every request (`crates/gateway/src/policy/`).

use rocksdb::WriteBatch;

use crate::error::MetaResult;
use crate::store::{RocksMeta, CF_SYSTEM};
use crate::types::encode;

const KEY_BUCKET_POLICY: &[u8] = b"bucket-policy/";

fn policy_key(bucket: &str) -> Vec<u8> {
    let mut k = KEY_BUCKET_POLICY.to_vec();
    k.extend_from_slice(bucket.as_bytes());
    k
}

impl RocksMeta {
    /// In `b`: a bucket's policy (empty: the record goes, as when the bucket is deleted).
    pub(crate) fn batch_bucket_policy(&self, b: &mut WriteBatch, bucket: &str, policy: &str) -> MetaResult<()> {
        let value = if policy.is_empty() { None } else { Some(encode(&policy.to_owned())?) };
        self.batch_set(b, policy_key(bucket), value)
    }

    /// Replace a bucket's policy (empty: delete it).
    pub(crate) fn apply_put_bucket_policy(&self, bucket: &str, policy: &str) -> MetaResult<()> {
        let _b = self.bucket_lock.read();
        self.require_bucket(bucket)?;
        let mut b = WriteBatch::default();
        self.batch_bucket_policy(&mut b, bucket, policy)?;
        self.write(b)
    }

    /// A bucket's policy document as this replica holds it (`None`: no policy). The access
    /// check reads it for every request, so it passes no read barrier: a change reaches a
    /// gateway when it applies it.
    pub fn local_bucket_policy(&self, bucket: &str) -> MetaResult<Option<String>> {
        self.guarded(|| self.get(CF_SYSTEM, "bucket policy", &policy_key(bucket)))
    }
}

#[cfg(test)]
mod tests {
    use crate::tests::open;
    use crate::*;

    #[test]
    fn a_policy_is_kept_as_given_deleted_and_goes_with_the_bucket() {
        let (_d, meta) = open();
        let doc = r#"{"Version":"2012-10-17","Statement":[]}"#;
        assert!(matches!(meta.put_bucket_policy("nope", doc), Err(MetaError::NoSuchBucket { .. })));
        meta.create_bucket("b").expect("bucket");
        assert_eq!(meta.bucket_policy("b").expect("read"), None);
        meta.put_bucket_policy("b", doc).expect("policy");
        assert_eq!(meta.bucket_policy("b").expect("read").as_deref(), Some(doc));
        assert_eq!(meta.local_bucket_policy("b").expect("read").as_deref(), Some(doc));
        meta.put_bucket_policy("b", "").expect("delete");
        assert_eq!(meta.bucket_policy("b").expect("read"), None);
        meta.put_bucket_policy("b", doc).expect("policy");
        meta.delete_bucket("b").expect("delete bucket");
        meta.create_bucket("b").expect("again");
        assert_eq!(meta.bucket_policy("b").expect("read"), None, "a new bucket of the same name has no policy");
    }
}
