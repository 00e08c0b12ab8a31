//! A bucket's public-access block (S3's PutPublicAccessBlock: four switches) and its object
//! ownership setting (PutBucketOwnershipControls), as system records
//! `bucket-public-access-block/<bucket>` and `bucket-ownership/<bucket>`, dropped with the
//! bucket. The front end enforces them (`crates/gateway/src/access.rs`).

use rocksdb::WriteBatch;
use serde::{Deserialize, Serialize};

use crate::error::MetaResult;
use crate::store::{RocksMeta, CF_SYSTEM};
use crate::types::encode;

/// S3's four public-access switches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicAccessBlock {
    /// Refuse requests that set a public ACL.
    pub block_public_acls: bool,
    /// Ignore public ACLs (there are none to ignore: only private ACLs are stored).
    pub ignore_public_acls: bool,
    /// Refuse a bucket policy that grants public access.
    pub block_public_policy: bool,
    /// While the bucket's policy is public, let it grant only to the bucket's owner.
    pub restrict_public_buckets: bool,
}

const KEY_PAB: &[u8] = b"bucket-public-access-block/";
const KEY_OWNERSHIP: &[u8] = b"bucket-ownership/";

fn key(prefix: &[u8], bucket: &str) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.extend_from_slice(bucket.as_bytes());
    k
}

impl RocksMeta {
    /// In `b`: drop a bucket's public-access block and ownership setting (with the bucket).
    pub(crate) fn batch_drop_bucket_controls(&self, b: &mut WriteBatch, bucket: &str) -> MetaResult<()> {
        self.batch_set(b, key(KEY_PAB, bucket), None)?;
        self.batch_set(b, key(KEY_OWNERSHIP, bucket), None)
    }

    /// Replace a bucket's public-access block (`None`: delete it).
    pub(crate) fn apply_put_public_access_block(&self, bucket: &str, block: Option<&PublicAccessBlock>) -> MetaResult<()> {
        let _b = self.bucket_lock.read();
        self.require_bucket(bucket)?;
        let mut b = WriteBatch::default();
        self.batch_set(&mut b, key(KEY_PAB, bucket), block.map(encode).transpose()?)?;
        self.write(b)
    }

    /// Replace a bucket's object ownership setting (empty: delete it).
    pub(crate) fn apply_put_bucket_ownership(&self, bucket: &str, ownership: &str) -> MetaResult<()> {
        let _b = self.bucket_lock.read();
        self.require_bucket(bucket)?;
        let mut b = WriteBatch::default();
        let value = if ownership.is_empty() { None } else { Some(encode(&ownership.to_owned())?) };
        self.batch_set(&mut b, key(KEY_OWNERSHIP, bucket), value)?;
        self.write(b)
    }

    /// A bucket's public-access block as this replica holds it (read by the access check of
    /// every request, so without a read barrier).
    pub fn local_public_access_block(&self, bucket: &str) -> MetaResult<Option<PublicAccessBlock>> {
        self.guarded(|| self.get(CF_SYSTEM, "public access block", &key(KEY_PAB, bucket)))
    }

    /// A bucket's object ownership setting as this replica holds it.
    pub fn local_bucket_ownership(&self, bucket: &str) -> MetaResult<Option<String>> {
        self.guarded(|| self.get(CF_SYSTEM, "bucket ownership", &key(KEY_OWNERSHIP, bucket)))
    }
}

#[cfg(test)]
mod tests {
    use crate::tests::open;
    use crate::*;

    #[test]
    fn controls_are_set_deleted_and_go_with_the_bucket() {
        let (_d, meta) = open();
        let block = PublicAccessBlock { block_public_policy: true, ..PublicAccessBlock::default() };
        assert!(matches!(meta.put_public_access_block("nope", Some(&block)), Err(MetaError::NoSuchBucket { .. })));
        assert!(matches!(meta.put_bucket_ownership("nope", "BucketOwnerEnforced"), Err(MetaError::NoSuchBucket { .. })));
        meta.create_bucket("b").expect("bucket");
        assert_eq!(meta.public_access_block("b").expect("read"), None);
        meta.put_public_access_block("b", Some(&block)).expect("block");
        meta.put_bucket_ownership("b", "BucketOwnerEnforced").expect("ownership");
        assert_eq!(meta.public_access_block("b").expect("read"), Some(block));
        assert_eq!(meta.bucket_ownership("b").expect("read").as_deref(), Some("BucketOwnerEnforced"));
        meta.put_public_access_block("b", None).expect("delete");
        meta.put_bucket_ownership("b", "").expect("delete");
        assert_eq!((meta.public_access_block("b").expect("read"), meta.bucket_ownership("b").expect("read")), (None, None));
        meta.put_public_access_block("b", Some(&block)).expect("block");
        meta.put_bucket_ownership("b", "ObjectWriter").expect("ownership");
        meta.delete_bucket("b").expect("delete bucket");
        meta.create_bucket("b").expect("again");
        assert_eq!((meta.local_public_access_block("b").expect("read"), meta.local_bucket_ownership("b").expect("read")), (None, None), "a new bucket of the same name has none");
    }
}
