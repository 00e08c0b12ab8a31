//! The read side of the metadata seam: what clients read (the S3 front end, the admin
//! API, the signature check). Every read first passes the command log's read barrier
//! ([`crate::CommandLog::read_barrier`]): alone that is nothing; with replicated gateways it
//! waits until this replica has applied every command committed before the read began, so
//! a read sees every write acknowledged before it (linearizable reads).
//!
//! Background workers read the local state directly (`RocksMeta::local_object`, the index
//! and ledger scans): every write they make is a compare-and-swap command whose
//! precondition is checked again where it is applied, so a stale read costs a retry, never
//! a wrong write. Code that runs inside [`crate::RocksMeta::apply`] reads locally too.

use crate::error::MetaResult;
use crate::list::{ListPage, ListQuery};
use crate::store::RocksMeta;
use crate::types::{AccessKeyRecord, BucketRecord, Manifest, PartRecord, UploadRecord};

/// Client reads of the metadata store. Import it to read buckets, objects, uploads and keys.
pub trait MetaRead {
    /// Look up a bucket.
    fn bucket(&self, bucket: &str) -> MetaResult<Option<BucketRecord>>;
    /// All buckets, sorted by name.
    fn list_buckets(&self) -> MetaResult<Vec<(String, BucketRecord)>>;
    /// Current manifest of an object.
    fn object(&self, bucket: &str, key: &str) -> MetaResult<Option<Manifest>>;
    /// List objects of `bucket` (the bucket must exist; checked by the caller).
    fn list_objects(&self, bucket: &str, q: &ListQuery) -> MetaResult<ListPage>;
    /// Look up an upload (`NoSuchUpload` when there is none).
    fn upload(&self, bucket: &str, key: &str, upload_id: &str) -> MetaResult<UploadRecord>;
    /// Parts of an upload with number > `after`, at most `max`, in order.
    fn list_parts(&self, upload_id: &str, after: u32, max: usize) -> MetaResult<Vec<PartRecord>>;
    /// Uploads in a bucket whose key starts with `prefix`, after (`key_marker`, `upload_id_marker`),
    /// and whether more follow.
    fn list_uploads(&self, bucket: &str, prefix: &str, key_marker: Option<&str>, upload_id_marker: Option<&str>, max: usize) -> MetaResult<(Vec<UploadRecord>, bool)>;
    /// Look up an access key.
    fn access_key(&self, access_key: &str) -> MetaResult<Option<AccessKeyRecord>>;
    /// All access keys.
    fn list_access_keys(&self) -> MetaResult<Vec<(String, AccessKeyRecord)>>;
    /// A join token by id (the BLAKE3 hash of its secret, hex).
    fn join_token(&self, id: &str) -> MetaResult<Option<crate::JoinTokenRecord>>;
    /// Current manifest of an object with its tags (one read barrier for both).
    fn object_with_tags(&self, bucket: &str, key: &str) -> MetaResult<Option<(Manifest, crate::TagSet)>>;
    /// A bucket's tags (`None`: it has no tag set).
    fn bucket_tags(&self, bucket: &str) -> MetaResult<Option<crate::TagSet>>;
    /// A bucket's CORS rules (`None`: it has no CORS configuration).
    fn bucket_cors(&self, bucket: &str) -> MetaResult<Option<Vec<crate::CorsRule>>>;
    /// A bucket's default encryption algorithm (`None`: none).
    fn bucket_encryption(&self, bucket: &str) -> MetaResult<Option<String>>;
    /// The master key of server-side encryption (`None`: not made yet).
    fn master_key(&self) -> MetaResult<Option<[u8; 32]>>;
    /// A bucket's lifecycle rules (`None`: it has no lifecycle configuration).
    fn bucket_lifecycle(&self, bucket: &str) -> MetaResult<Option<Vec<crate::LifecycleRule>>>;
    /// A bucket's policy document (`None`: it has no policy).
    fn bucket_policy(&self, bucket: &str) -> MetaResult<Option<String>>;
    /// A bucket's public-access block (`None`: it has none).
    fn public_access_block(&self, bucket: &str) -> MetaResult<Option<crate::PublicAccessBlock>>;
    /// A bucket's object ownership setting (`None`: it has none).
    fn bucket_ownership(&self, bucket: &str) -> MetaResult<Option<String>>;
    /// A bucket's ACL as the front end spells it (`None`: the default).
    fn bucket_acl(&self, bucket: &str) -> MetaResult<Option<String>>;
    /// A bucket's versioning state (`None`: never enabled).
    fn bucket_versioning(&self, bucket: &str) -> MetaResult<Option<crate::Versioning>>;
    /// One version of a key; without `version`, the newest: the current object, or the
    /// delete marker that hides it (`None`: there is no such version).
    fn object_version(&self, bucket: &str, key: &str, version: Option<crate::VersionRef>) -> MetaResult<Option<crate::FoundVersion>>;
    /// List the versions and delete markers of `bucket` (the bucket must exist).
    fn list_versions(&self, bucket: &str, q: &crate::VersionQuery) -> MetaResult<crate::VersionPage>;
}

thread_local! {
    /// The moment the reads on this thread serve as of (`reads_as_of`).
    static READS_AS_OF: std::cell::Cell<Option<std::time::Instant>> = const { std::cell::Cell::new(None) };
}

/// Run `f` with the client reads it makes on this thread serving one request that began at
/// `since` (`None`: no request; each read is linearizable on its own). Such a read needs only
/// what was committed before the request began — the request is one operation, linearized
/// after its start — so a read barrier that began since then answers it, and a request's
/// later reads reuse its first one's round ([`crate::CommandLog::read_barrier_since`]).
pub fn reads_as_of<R>(since: Option<std::time::Instant>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<std::time::Instant>);
    impl Drop for Restore {
        fn drop(&mut self) {
            READS_AS_OF.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(READS_AS_OF.with(|c| c.replace(since)));
    f()
}

impl RocksMeta {
    /// Wait, where a command log is set, until this replica has applied everything committed
    /// before now — or, inside [`reads_as_of`], before its request began.
    fn read_barrier(&self) -> MetaResult<()> {
        match (self.log.get(), READS_AS_OF.with(std::cell::Cell::get)) {
            (Some(log), Some(since)) => log.read_barrier_since(since),
            (Some(log), None) => log.read_barrier(),
            (None, _) => Ok(()),
        }
    }
}

impl MetaRead for RocksMeta {
    fn bucket(&self, bucket: &str) -> MetaResult<Option<BucketRecord>> {
        self.read_barrier()?;
        self.local_bucket(bucket)
    }
    fn list_buckets(&self) -> MetaResult<Vec<(String, BucketRecord)>> {
        self.read_barrier()?;
        self.local_list_buckets()
    }
    fn object(&self, bucket: &str, key: &str) -> MetaResult<Option<Manifest>> {
        self.read_barrier()?;
        self.local_object(bucket, key)
    }
    fn list_objects(&self, bucket: &str, q: &ListQuery) -> MetaResult<ListPage> {
        self.read_barrier()?;
        self.local_list_objects(bucket, q)
    }
    fn upload(&self, bucket: &str, key: &str, upload_id: &str) -> MetaResult<UploadRecord> {
        self.read_barrier()?;
        self.local_upload(bucket, key, upload_id)
    }
    fn list_parts(&self, upload_id: &str, after: u32, max: usize) -> MetaResult<Vec<PartRecord>> {
        self.read_barrier()?;
        self.local_list_parts(upload_id, after, max)
    }
    fn list_uploads(&self, bucket: &str, prefix: &str, key_marker: Option<&str>, upload_id_marker: Option<&str>, max: usize) -> MetaResult<(Vec<UploadRecord>, bool)> {
        self.read_barrier()?;
        self.local_list_uploads(bucket, prefix, key_marker, upload_id_marker, max)
    }
    fn access_key(&self, access_key: &str) -> MetaResult<Option<AccessKeyRecord>> {
        self.read_barrier()?;
        self.local_access_key(access_key)
    }
    fn join_token(&self, id: &str) -> MetaResult<Option<crate::JoinTokenRecord>> {
        self.read_barrier()?;
        self.local_join_token(id)
    }
    fn list_access_keys(&self) -> MetaResult<Vec<(String, AccessKeyRecord)>> {
        self.read_barrier()?;
        self.local_list_access_keys()
    }
    fn object_with_tags(&self, bucket: &str, key: &str) -> MetaResult<Option<(Manifest, crate::TagSet)>> {
        self.read_barrier()?;
        match self.local_object(bucket, key)? {
            Some(m) => {
                let tags = self.local_object_tags(bucket, key, m.version_id)?;
                Ok(Some((m, tags)))
            }
            None => Ok(None),
        }
    }
    fn bucket_tags(&self, bucket: &str) -> MetaResult<Option<crate::TagSet>> {
        self.read_barrier()?;
        self.local_bucket_tags(bucket)
    }
    fn bucket_cors(&self, bucket: &str) -> MetaResult<Option<Vec<crate::CorsRule>>> {
        self.read_barrier()?;
        self.local_bucket_cors(bucket)
    }
    fn bucket_encryption(&self, bucket: &str) -> MetaResult<Option<String>> {
        self.read_barrier()?;
        self.local_bucket_encryption(bucket)
    }
    fn master_key(&self) -> MetaResult<Option<[u8; 32]>> {
        self.read_barrier()?;
        self.local_master_key()
    }
    fn bucket_lifecycle(&self, bucket: &str) -> MetaResult<Option<Vec<crate::LifecycleRule>>> {
        self.read_barrier()?;
        self.local_bucket_lifecycle(bucket)
    }
    fn bucket_policy(&self, bucket: &str) -> MetaResult<Option<String>> {
        self.read_barrier()?;
        self.local_bucket_policy(bucket)
    }
    fn public_access_block(&self, bucket: &str) -> MetaResult<Option<crate::PublicAccessBlock>> {
        self.read_barrier()?;
        self.local_public_access_block(bucket)
    }
    fn bucket_ownership(&self, bucket: &str) -> MetaResult<Option<String>> {
        self.read_barrier()?;
        self.local_bucket_ownership(bucket)
    }
    fn bucket_acl(&self, bucket: &str) -> MetaResult<Option<String>> {
        self.read_barrier()?;
        self.local_bucket_acl(bucket)
    }
    fn bucket_versioning(&self, bucket: &str) -> MetaResult<Option<crate::Versioning>> {
        self.read_barrier()?;
        self.local_bucket_versioning(bucket)
    }
    fn object_version(&self, bucket: &str, key: &str, version: Option<crate::VersionRef>) -> MetaResult<Option<crate::FoundVersion>> {
        self.read_barrier()?;
        match version {
            Some(v) => self.local_object_version(bucket, key, v),
            None => self.local_newest_version(bucket, key),
        }
    }
    fn list_versions(&self, bucket: &str, q: &crate::VersionQuery) -> MetaResult<crate::VersionPage> {
        self.read_barrier()?;
        self.local_list_versions(bucket, q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Applied, Command, CommandLog, MetaError};

    /// A log that records which barrier each read asked for.
    #[derive(Default)]
    struct Barriers {
        asked: std::sync::Mutex<Vec<Option<std::time::Instant>>>,
    }

    impl CommandLog for Barriers {
        fn submit(&self, cmd: &Command) -> MetaResult<Applied> {
            Err(MetaError::NotCommitted { command: cmd.name(), detail: "not here".into() })
        }
        fn read_barrier(&self) -> MetaResult<()> {
            self.asked.lock().expect("lock").push(None);
            Ok(())
        }
        fn read_barrier_since(&self, since: std::time::Instant) -> MetaResult<()> {
            self.asked.lock().expect("lock").push(Some(since));
            Ok(())
        }
    }

    #[test]
    fn reads_serving_a_request_ask_for_a_barrier_as_of_its_start_and_others_as_of_their_call() {
        let (_d, meta) = crate::tests::open();
        meta.create_bucket("b").expect("bucket");
        let log = std::sync::Arc::new(Barriers::default());
        assert!(meta.set_log(log.clone()).is_ok());
        let began = std::time::Instant::now();
        let inner = began + std::time::Duration::from_millis(1);
        reads_as_of(Some(began), || {
            meta.bucket("b").expect("read");
            // Nested, and restored when the inner scope ends (a panic too).
            reads_as_of(Some(inner), || meta.bucket_versioning("b").expect("read"));
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reads_as_of(None, || panic!("a read that fails"))));
            meta.object("b", "k").expect("read");
        });
        meta.bucket("b").expect("read");
        let asked = log.asked.lock().expect("lock").clone();
        assert_eq!(asked, vec![Some(began), Some(inner), Some(began), None]);
    }
}
