//! A bucket's CORS configuration (S3's PutBucketCors): its rules, as a system record
//! `bucket-cors/<bucket>` dropped with the bucket. The rules are checked by the front end
//! before a command is built; evaluating them against a browser's request is the front end's
//! too (`crates/gateway/src/cors.rs`).

use rocksdb::WriteBatch;
use serde::{Deserialize, Serialize};

use crate::error::MetaResult;
use crate::store::{RocksMeta, CF_SYSTEM};
use crate::types::encode;

/// One CORS rule, as S3 has it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorsRule {
    /// The rule's id, if it was given one.
    pub id: Option<String>,
    /// Origins it allows (each may hold one `*`).
    pub allowed_origins: Vec<String>,
    /// Methods it allows (GET, PUT, POST, DELETE, HEAD).
    pub allowed_methods: Vec<String>,
    /// Request headers a preflight may ask for (each may hold one `*`).
    pub allowed_headers: Vec<String>,
    /// Response headers the browser may show the page.
    pub expose_headers: Vec<String>,
    /// How long a browser may cache the preflight's answer, in seconds.
    pub max_age_seconds: Option<i32>,
}

const KEY_BUCKET_CORS: &[u8] = b"bucket-cors/";

fn cors_key(bucket: &str) -> Vec<u8> {
    let mut k = KEY_BUCKET_CORS.to_vec();
    k.extend_from_slice(bucket.as_bytes());
    k
}

impl RocksMeta {
    /// In `b`: a bucket's CORS rules (none: the record goes, as when the bucket is deleted).
    pub(crate) fn batch_bucket_cors(&self, b: &mut WriteBatch, bucket: &str, rules: &[CorsRule]) -> MetaResult<()> {
        let value = if rules.is_empty() { None } else { Some(encode(&rules.to_vec())?) };
        self.batch_set(b, cors_key(bucket), value)
    }

    /// Replace a bucket's CORS rules (none: delete the configuration).
    pub(crate) fn apply_put_bucket_cors(&self, bucket: &str, rules: &[CorsRule]) -> MetaResult<()> {
        let _b = self.bucket_lock.read();
        self.require_bucket(bucket)?;
        let mut b = WriteBatch::default();
        self.batch_bucket_cors(&mut b, bucket, rules)?;
        self.write(b)
    }

    /// A bucket's CORS rules as this replica holds them (`None`: no configuration). The HTTP
    /// front end reads it for every browser request, so it passes no read barrier: a change
    /// reaches a gateway when it applies it.
    pub fn local_bucket_cors(&self, bucket: &str) -> MetaResult<Option<Vec<CorsRule>>> {
        self.get(CF_SYSTEM, "bucket cors", &cors_key(bucket))
    }
}

#[cfg(test)]
mod tests {
    use crate::tests::open;
    use crate::*;

    #[test]
    fn cors_rules_are_set_deleted_and_go_with_the_bucket() {
        let (_d, meta) = open();
        let rule = CorsRule { allowed_origins: vec!["https://*.example.com".into()], allowed_methods: vec!["GET".into()], ..CorsRule::default() };
        assert!(matches!(meta.put_bucket_cors("nope", std::slice::from_ref(&rule)), Err(MetaError::NoSuchBucket { .. })));
        meta.create_bucket("b").expect("bucket");
        assert_eq!(meta.bucket_cors("b").expect("read"), None);
        meta.put_bucket_cors("b", std::slice::from_ref(&rule)).expect("cors");
        assert_eq!(meta.bucket_cors("b").expect("read"), Some(vec![rule.clone()]));
        assert_eq!(meta.local_bucket_cors("b").expect("read"), Some(vec![rule.clone()]));
        meta.put_bucket_cors("b", &[]).expect("delete");
        assert_eq!(meta.bucket_cors("b").expect("read"), None);
        meta.put_bucket_cors("b", &[rule]).expect("cors");
        meta.delete_bucket("b").expect("delete bucket");
        meta.create_bucket("b").expect("again");
        assert_eq!(meta.bucket_cors("b").expect("read"), None, "a new bucket of the same name has no CORS rules");
    }
}
