//! Principals: the access key a request was signed by (an admin key or not), or anonymous,
//! and the lookups of keys that the signature check and the access check share.

use std::sync::Arc;

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
    /// The principal of an unsigned request.
    pub(crate) fn anonymous() -> Self {
        Self { access_key: String::new(), admin: false }
    }

    /// Its access key (`None`: anonymous).
    pub(crate) fn key(&self) -> Option<&str> {
        (!self.access_key.is_empty()).then_some(self.access_key.as_str())
    }

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
        .map_err(|e| lookup_failed("access key", &e))
}

/// A failed lookup of what the access check needs: 503 when the store could not answer for now
/// (no quorum, a snapshot being installed), else 500.
pub(super) fn lookup_failed(what: &str, e: &kintsugi_cluster::ClusterError) -> s3s::S3Error {
    match e {
        kintsugi_cluster::ClusterError::Meta(MetaError::NotCommitted { detail, .. }) => s3_error!(ServiceUnavailable, "{what} lookup: {detail}"),
        e => s3_error!(InternalError, "{what} lookup failed: {e}"),
    }
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

/// The principal of a request, signed or not (an unsigned one is anonymous).
pub(crate) async fn principal_or_anonymous<T>(store: &Arc<Store>, req: &S3Request<T>) -> S3Result<Principal> {
    if req.credentials.is_none() {
        return Ok(Principal::anonymous());
    }
    principal_of(store, req).await
}

fn anonymous() -> s3s::S3Error {
    s3_error!(AccessDenied, "anonymous requests are not served: sign the request with an access key (see `kintsugi admin key create`)")
}
