//! Server-side encryption's metadata: the cluster master key, which wraps the data key of
//! every SSE-S3 object (system record `sse-master-key`: 32 bytes, set once, by the first
//! gateway that needs it, and replicated like every record), and each bucket's default
//! encryption (`bucket-encryption/<bucket>`: the algorithm, dropped with the bucket).
//! The sealing itself is the S3 front end's (`crates/gateway/src/sse.rs`).

use rocksdb::WriteBatch;

use crate::error::MetaResult;
use crate::store::{RocksMeta, CF_SYSTEM};
use crate::types::encode;

const KEY_MASTER: &[u8] = b"sse-master-key";
const KEY_BUCKET_ENCRYPTION: &[u8] = b"bucket-encryption/";

fn encryption_key(bucket: &str) -> Vec<u8> {
    let mut k = KEY_BUCKET_ENCRYPTION.to_vec();
    k.extend_from_slice(bucket.as_bytes());
    k
}

impl RocksMeta {
    /// Set the master key unless one is set (the first writer wins: every gateway then reads
    /// the same key).
    pub(crate) fn apply_put_master_key(&self, key: &[u8; 32]) -> MetaResult<()> {
        self.set_system_once(KEY_MASTER, "master key", key)
    }

    /// The master key as this replica holds it (`None`: not made yet).
    pub fn local_master_key(&self) -> MetaResult<Option<[u8; 32]>> {
        self.guarded(|| self.get(CF_SYSTEM, "master key", KEY_MASTER))
    }

    /// In `b`: a bucket's default encryption algorithm (empty: none).
    pub(crate) fn batch_bucket_encryption(&self, b: &mut WriteBatch, bucket: &str, algorithm: &str) -> MetaResult<()> {
        let value = if algorithm.is_empty() { None } else { Some(encode(&algorithm.to_owned())?) };
        self.batch_set(b, encryption_key(bucket), value)
    }

    /// Set a bucket's default encryption (empty: delete it).
    pub(crate) fn apply_put_bucket_encryption(&self, bucket: &str, algorithm: &str) -> MetaResult<()> {
        let _b = self.bucket_lock.read();
        self.require_bucket(bucket)?;
        let mut b = WriteBatch::default();
        self.batch_bucket_encryption(&mut b, bucket, algorithm)?;
        self.write(b)
    }

    /// A bucket's default encryption algorithm as this replica holds it (`None`: none).
    pub fn local_bucket_encryption(&self, bucket: &str) -> MetaResult<Option<String>> {
        self.guarded(|| self.get(CF_SYSTEM, "bucket encryption", &encryption_key(bucket)))
    }
}

#[cfg(test)]
mod tests {
    use crate::tests::open;
    use crate::*;

    #[test]
    fn the_master_key_is_set_once_and_bucket_encryption_goes_with_the_bucket() {
        let (_d, meta) = open();
        assert_eq!(meta.master_key().expect("read"), None);
        meta.put_master_key(&[1; 32]).expect("first");
        meta.put_master_key(&[2; 32]).expect("second writes nothing");
        assert_eq!(meta.master_key().expect("read"), Some([1; 32]), "the first writer wins");
        // First writes racing on several threads (as the embedded store applies them) still
        // leave every writer reading one key back.
        for round in 0..20u8 {
            let (_d, meta) = open();
            let meta = std::sync::Arc::new(meta);
            let seen: Vec<[u8; 32]> = (0..8u8)
                .map(|i| {
                    let meta = meta.clone();
                    std::thread::spawn(move || {
                        meta.put_master_key(&[round.wrapping_mul(8).wrapping_add(i); 32]).expect("put");
                        meta.master_key().expect("read").expect("set")
                    })
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|t| t.join().expect("thread"))
                .collect();
            assert!(seen.iter().all(|k| *k == seen[0]), "round {round}: writers read different master keys");
        }
        assert!(matches!(meta.put_bucket_encryption("nope", "AES256"), Err(MetaError::NoSuchBucket { .. })));
        meta.create_bucket("b").expect("bucket");
        meta.put_bucket_encryption("b", "AES256").expect("set");
        assert_eq!(meta.bucket_encryption("b").expect("read").as_deref(), Some("AES256"));
        meta.put_bucket_encryption("b", "").expect("delete");
        assert_eq!(meta.bucket_encryption("b").expect("read"), None);
        meta.put_bucket_encryption("b", "AES256").expect("set");
        meta.delete_bucket("b").expect("delete bucket");
        meta.create_bucket("b").expect("again");
        assert_eq!(meta.bucket_encryption("b").expect("read"), None, "a new bucket of the same name has no default encryption");
    }
}
