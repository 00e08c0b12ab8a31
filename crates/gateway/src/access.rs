//! Who may do what. Every access key is a principal of its own:
//!
//! - an **admin key** (the root key of first start, and keys made with
//!   `kintsugi admin key create --admin`) may use the admin API and every bucket;
//! - any other key may use only the buckets it owns — those it created — and sees only those
//!   in ListBuckets. Anything else it asks of another principal's bucket is `AccessDenied`
//!   (403); a bucket that does not exist is `NoSuchBucket` (404), as S3 answers.
//!
//! A bucket created before buckets had owners (or by a metadata rebuild) has no owner and
//! belongs to the admin keys. Anonymous (unsigned) requests are refused.
//!
//! The check runs before the request's body is read, on this gateway's own copy of the keys
//! and buckets (a bucket's owner never changes while it exists); a bucket this copy does not
//! hold yet — one created a moment ago through another gateway — is looked up linearizably.

use std::sync::Arc;

use s3s::access::{S3Access, S3AccessContext};
use s3s::dto::{CopyObjectInput, CopySource, UploadPartCopyInput};
use s3s::path::S3Path;
use s3s::{s3_error, S3Request, S3Result};

use kintsugi_cluster::Store;
use kintsugi_meta::{AccessKeyRecord, MetaError, MetaRead};

/// The principal a request was signed by (put in the request's extensions by the check).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// Its access key id.
    pub access_key: String,
    /// Whether it is an admin key.
    pub admin: bool,
}

impl Principal {
    /// Whether this principal may use a bucket owned by `owner` (empty: the admin keys').
    pub fn may_use(&self, owner: &str) -> bool {
        self.admin || (!owner.is_empty() && owner == self.access_key)
    }
}

/// The record of `access_key`: this gateway's own copy first (a key it has applied is used
/// without a round trip to a majority), else a linearizable read (a key created a moment ago
/// through another gateway); without a quorum, the local answer stands. The SigV4 check
/// (`http.rs`) and the access check both look keys up through it.
pub(crate) async fn lookup_key(store: &Arc<Store>, access_key: &str) -> S3Result<Option<AccessKeyRecord>> {
    let ak = access_key.to_owned();
    store
        .meta_call(move |m| match m.local_access_key(&ak)? {
            Some(r) => Ok(Some(r)),
            None => match m.access_key(&ak) {
                Err(MetaError::NotCommitted { .. }) => Ok(None),
                other => other,
            },
        })
        .await
        .map_err(|e| s3_error!(InternalError, "access key lookup failed: {e}"))
}

/// The error for a key that does not exist.
pub(crate) fn unknown_key() -> s3s::S3Error {
    s3_error!(InvalidAccessKeyId, "The AWS access key Id you provided does not exist in our records.")
}

/// The principal of `access_key` (its signature was just checked against the same lookup).
pub(crate) async fn principal(store: &Arc<Store>, access_key: &str) -> S3Result<Principal> {
    match lookup_key(store, access_key).await? {
        Some(r) => Ok(Principal { access_key: access_key.to_owned(), admin: r.admin }),
        None => Err(unknown_key()),
    }
}

/// The principal of a signed request: the one the check found, or looked up again.
pub(crate) async fn principal_of<T>(store: &Arc<Store>, req: &S3Request<T>) -> S3Result<Principal> {
    if let Some(p) = req.extensions.get::<Principal>() {
        return Ok(p.clone());
    }
    match &req.credentials {
        Some(c) => principal(store, &c.access_key).await,
        None => Err(anonymous()),
    }
}

fn anonymous() -> s3s::S3Error {
    s3_error!(AccessDenied, "anonymous requests are not served: sign the request with an access key (see `kintsugi admin key create`)")
}

/// The owner of `bucket` (empty: the admin keys), or `None` when there is no such bucket.
async fn owner_of(store: &Arc<Store>, bucket: &str) -> S3Result<Option<String>> {
    let b = bucket.to_owned();
    store
        .meta_call(move |m| match m.local_bucket(&b)? {
            Some(r) => Ok(Some(r.owner)),
            None => match m.bucket(&b) {
                Ok(r) => Ok(r.map(|r| r.owner)),
                // Without a quorum the request itself will fail with the right answer.
                Err(MetaError::NotCommitted { .. }) => Ok(None),
                Err(e) => Err(e),
            },
        })
        .await
        .map_err(|e| s3_error!(InternalError, "bucket lookup failed: {e}"))
}

/// Refuse `p` the use of `bucket` unless it owns it (or is an admin key).
async fn require_use(store: &Arc<Store>, p: &Principal, bucket: &str) -> S3Result<()> {
    if p.admin {
        return Ok(());
    }
    match owner_of(store, bucket).await? {
        Some(owner) if !p.may_use(&owner) => Err(s3_error!(
            AccessDenied,
            "access key {} does not own bucket {bucket}: only its owner and admin keys may use it",
            p.access_key
        )),
        _ => Ok(()),
    }
}

/// Refuse a request whose `x-amz-expected-bucket-owner` is not `bucket`'s owner (its access
/// key; any admin key for a bucket of the admin keys), as S3 does: 403.
async fn require_owner(store: &Arc<Store>, bucket: &str, expected: &str) -> S3Result<()> {
    let matches = match owner_of(store, bucket).await? {
        None => true, // no such bucket: the request itself answers 404
        Some(owner) if owner.is_empty() => lookup_key(store, expected).await?.is_some_and(|k| k.admin),
        Some(owner) => owner == expected,
    };
    if matches {
        Ok(())
    } else {
        Err(s3_error!(AccessDenied, "bucket {bucket} is not owned by {expected} (x-amz-expected-bucket-owner)"))
    }
}

/// Refuse `p` a copy from a bucket it may not use (the destination was checked with the path),
/// or whose owner is not `expected_owner` (`x-amz-source-expected-bucket-owner`).
async fn require_source(store: &Arc<Store>, p: &Principal, source: &CopySource, expected_owner: Option<&str>) -> S3Result<()> {
    match source {
        CopySource::Bucket { bucket, .. } => {
            require_use(store, p, bucket).await?;
            match expected_owner {
                Some(o) => require_owner(store, bucket, o).await,
                None => Ok(()),
            }
        }
        _ => Err(s3_error!(NotImplemented, "copy sources that are access points or outposts are not supported")),
    }
}

/// Longest validity of a presigned URL, as S3 allows (seven days).
const MAX_PRESIGNED_SECS: u64 = 7 * 24 * 3600;

/// Refuse a presigned URL signed for more than seven days, as S3 does (s3s checks only that
/// it has not expired yet).
fn check_presigned_expiry(query: Option<&str>) -> S3Result<()> {
    let Some(q) = query else { return Ok(()) };
    for pair in q.split('&') {
        if let Some(v) = pair.strip_prefix("X-Amz-Expires=") {
            return match v.parse::<u64>() {
                Ok(secs) if secs <= MAX_PRESIGNED_SECS => Ok(()),
                _ => Err(s3_error!(
                    AuthorizationQueryParametersError,
                    "X-Amz-Expires must be a number of seconds of at most {MAX_PRESIGNED_SECS} (seven days); got {v}"
                )),
            };
        }
    }
    Ok(())
}

/// The S3 access check of a gateway.
pub(crate) struct KintsugiAccess {
    pub(crate) store: Arc<Store>,
}

#[async_trait::async_trait]
impl S3Access for KintsugiAccess {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let Some(creds) = cx.credentials() else { return Err(anonymous()) };
        check_presigned_expiry(cx.uri().query())?;
        let p = principal(&self.store, &creds.access_key).await?;
        let bucket = match cx.s3_path() {
            S3Path::Root => None,
            S3Path::Bucket { bucket } | S3Path::Object { bucket, .. } => Some(bucket.to_string()),
        };
        // CreateBucket decides for itself (BucketAlreadyExists vs BucketAlreadyOwnedByYou).
        if let Some(b) = bucket.filter(|_| cx.s3_op().name() != "CreateBucket") {
            require_use(&self.store, &p, &b).await?;
            if let Some(v) = cx.headers().get("x-amz-expected-bucket-owner") {
                // A value that is not text names no owner: it cannot match.
                let expected = v.to_str().unwrap_or("\u{fffd}").to_owned();
                require_owner(&self.store, &b, &expected).await?;
            }
        }
        cx.extensions_mut().insert(p);
        Ok(())
    }

    async fn copy_object(&self, req: &mut S3Request<CopyObjectInput>) -> S3Result<()> {
        let p = principal_of(&self.store, req).await?;
        require_source(&self.store, &p, &req.input.copy_source, req.input.expected_source_bucket_owner.as_deref()).await
    }

    async fn upload_part_copy(&self, req: &mut S3Request<UploadPartCopyInput>) -> S3Result<()> {
        let p = principal_of(&self.store, req).await?;
        require_source(&self.store, &p, &req.input.copy_source, req.input.expected_source_bucket_owner.as_deref()).await
    }
}

#[cfg(test)]
mod tests {
    use super::Principal;

    #[test]
    fn presigned_urls_may_last_seven_days_and_no_longer() {
        assert!(super::check_presigned_expiry(None).is_ok());
        assert!(super::check_presigned_expiry(Some("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=604800")).is_ok());
        for q in ["X-Amz-Expires=604801", "a=b&X-Amz-Expires=99999999999999999999", "X-Amz-Expires=-1"] {
            let e = super::check_presigned_expiry(Some(q)).expect_err(q);
            assert_eq!(e.code().as_str(), "AuthorizationQueryParametersError", "{q}");
        }
    }

    #[test]
    fn admin_keys_use_every_bucket_and_other_keys_only_their_own() {
        let admin = Principal { access_key: "ROOT".into(), admin: true };
        let team = Principal { access_key: "TEAM".into(), admin: false };
        assert!(admin.may_use("") && admin.may_use("TEAM"));
        assert!(team.may_use("TEAM"));
        assert!(!team.may_use("ROOT"));
        assert!(!team.may_use(""), "a bucket with no owner belongs to the admin keys");
    }
}
