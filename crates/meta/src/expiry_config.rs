//! A bucket's lifecycle configuration (S3's PutBucketLifecycleConfiguration): its rules, as a
//! system record `bucket-lifecycle/<bucket>` dropped with the bucket. The rules are checked by
//! the front end before a command is built; what they decide is `expiry.rs`.

use rocksdb::WriteBatch;

use crate::error::MetaResult;
use crate::expiry::LifecycleRule;
use crate::store::{RocksMeta, CF_SYSTEM};
use crate::types::{decode, encode};

const KEY_BUCKET_LIFECYCLE: &[u8] = b"bucket-lifecycle/";

fn lifecycle_key(bucket: &str) -> Vec<u8> {
    let mut k = KEY_BUCKET_LIFECYCLE.to_vec();
    k.extend_from_slice(bucket.as_bytes());
    k
}

impl RocksMeta {
    /// In `b`: a bucket's lifecycle rules (none: the record goes, as when the bucket is deleted).
    pub(crate) fn batch_bucket_lifecycle(&self, b: &mut WriteBatch, bucket: &str, rules: &[LifecycleRule]) -> MetaResult<()> {
        let value = if rules.is_empty() { None } else { Some(encode(&rules.to_vec())?) };
        self.batch_set(b, lifecycle_key(bucket), value)
    }

    /// Replace a bucket's lifecycle rules (none: delete the configuration).
    pub(crate) fn apply_put_bucket_lifecycle(&self, bucket: &str, rules: &[LifecycleRule]) -> MetaResult<()> {
        let _b = self.bucket_lock.read();
        self.require_bucket(bucket)?;
        let mut b = WriteBatch::default();
        self.batch_bucket_lifecycle(&mut b, bucket, rules)?;
        self.write(b)
    }

    /// A bucket's lifecycle rules as this replica holds them (`None`: no configuration).
    pub fn local_bucket_lifecycle(&self, bucket: &str) -> MetaResult<Option<Vec<LifecycleRule>>> {
        self.get(CF_SYSTEM, "bucket lifecycle", &lifecycle_key(bucket))
    }

    /// Every bucket with lifecycle rules, with its rules, as this replica holds them (the
    /// lifecycle worker's list of work).
    pub fn local_lifecycle_configs(&self) -> MetaResult<Vec<(String, Vec<LifecycleRule>)>> {
        let mut out = Vec::new();
        self.scan_prefix(CF_SYSTEM, KEY_BUCKET_LIFECYCLE, KEY_BUCKET_LIFECYCLE, |k, v| {
            let bucket = String::from_utf8_lossy(&k[KEY_BUCKET_LIFECYCLE.len()..]).into_owned();
            out.push((bucket, decode::<Vec<LifecycleRule>>("bucket lifecycle", v)?));
            Ok(true)
        })?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::tests::open;
    use crate::*;

    #[test]
    fn lifecycle_rules_are_set_listed_deleted_and_go_with_the_bucket() {
        let (_d, meta) = open();
        let rule = LifecycleRule {
            id: "tmp".into(),
            enabled: true,
            filter: RuleFilter::Prefix("tmp/".into()),
            expiration: Some(Expiration { at: Some(ExpireAt::Days(1)), expired_markers: false }),
            noncurrent: None,
            abort_upload_days: Some(2),
        };
        assert!(matches!(meta.put_bucket_lifecycle("nope", std::slice::from_ref(&rule)), Err(MetaError::NoSuchBucket { .. })));
        meta.create_bucket("b").expect("bucket");
        meta.create_bucket("c").expect("bucket");
        assert_eq!(meta.bucket_lifecycle("b").expect("read"), None);
        meta.put_bucket_lifecycle("b", std::slice::from_ref(&rule)).expect("lifecycle");
        assert_eq!(meta.bucket_lifecycle("b").expect("read"), Some(vec![rule.clone()]));
        assert_eq!(meta.local_lifecycle_configs().expect("list"), vec![("b".to_owned(), vec![rule.clone()])]);
        meta.put_bucket_lifecycle("b", &[]).expect("delete");
        assert_eq!(meta.bucket_lifecycle("b").expect("read"), None);
        assert!(meta.local_lifecycle_configs().expect("list").is_empty());
        meta.put_bucket_lifecycle("b", &[rule]).expect("lifecycle");
        meta.delete_bucket("b").expect("delete bucket");
        meta.create_bucket("b").expect("again");
        assert_eq!(meta.bucket_lifecycle("b").expect("read"), None, "a new bucket of the same name has no lifecycle rules");
    }
}
