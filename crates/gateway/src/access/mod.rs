//! Who may do what. Every access key is a principal of its own:
//!
//! - an **admin key** (the root key of first start, and keys made with
//!   `kintsugi admin key create --admin`) may use the admin API and every bucket;
//! - any other key may use the buckets it owns — those it created — and sees only those in
//!   ListBuckets;
//! - a bucket's **policy** (PutBucketPolicy, `crate::policy`) may allow other keys, or
//!   anonymous (unsigned) requests, what it names, and may deny anyone but admin keys what
//!   it names, the bucket's owner included: an explicit `Deny` wins. Only the owner (and
//!   admin keys) may read, replace or delete the policy itself, so no policy locks its owner
//!   out;
//! - where the policy is silent, the bucket's **ACL** and an object version's may grant
//!   others (`crate::acl`: S3's permissions, to keys, to anyone, or to any signed request),
//!   unless the bucket's ownership is `BucketOwnerEnforced` (or, for public grants, its public
//!   access block has `IgnorePublicAcls`). A grant on an object version pins that version
//!   ([`Pin`]): the handler serves it only if it is still what the check judged.
//!
//! Anything else asked of another principal's bucket is `AccessDenied` (403); a bucket that
//! does not exist is `NoSuchBucket` (404), signed or not, as S3 answers. A caller allowed to
//! read objects but not to list the bucket gets 403 rather than 404 for a missing key, so it
//! cannot learn which keys exist.
//!
//! A bucket created before buckets had owners (or by a metadata rebuild) has no owner and
//! belongs to the admin keys.
//!
//! The check runs before the request's body is read, on this gateway's own copy of the keys,
//! buckets and policies (a bucket's owner never changes while it exists; a policy change
//! reaches a gateway when it applies it); for a signed request, a bucket this copy does not
//! hold yet — one created a moment ago through another gateway — is looked up linearizably
//! (an anonymous request cannot make the gateway ask the group: it gets 404 until the
//! gateway applies the creation).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use s3s::access::{S3Access, S3AccessContext};
use s3s::dto::{CopyObjectInput, CopySource, DeleteObjectsInput, PostObjectInput, UploadPartCopyInput};
use s3s::path::S3Path;
use s3s::{s3_error, S3Request, S3Result};

use kintsugi_cluster::Store;
use kintsugi_meta::{MetaError, MetaRead, PublicAccessBlock};

use crate::policy::{action_of, request_keys, Decision, Facts, Policy, POLICY_ACTIONS};

mod grants;
mod marks;
mod presign;
mod principal;
mod transport;
use grants::Acls;
use presign::check_presigned_expiry;
pub(crate) use grants::{ObjectPin, Pin, SourcePin};
pub(crate) use marks::{BypassKeys, Client, DeniedKeys, HideMissing, LockVisible, MayBypass};
use principal::lookup_failed;
pub use principal::Principal;
pub(crate) use principal::{lookup_key, principal, principal_of, principal_or_anonymous, unknown_key};

fn asks_bypass(headers: &http::HeaderMap) -> bool {
    headers.get("x-amz-bypass-governance-retention").and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// The owner of `bucket` (empty: the admin keys), or `None` when there is no such bucket.
/// This gateway's copy first; a bucket it does not hold yet is looked up linearizably when
/// `linearizable` (for signed requests: anonymous ones cannot make a gateway ask the group).
async fn owner_of(store: &Arc<Store>, bucket: &str, linearizable: bool) -> S3Result<Option<String>> {
    let b = bucket.to_owned();
    store
        .meta_call(move |m| match m.local_bucket(&b)? {
            Some(r) => Ok(Some(r.owner)),
            None if !linearizable => Ok(None),
            None => m.bucket(&b).map(|r| r.map(|r| r.owner)),
        })
        .await
        .map_err(|e| match e {
            // Without a quorum a bucket this gateway has not seen cannot be told missing: 503,
            // which clients retry, never a final 404.
            kintsugi_cluster::ClusterError::Meta(MetaError::NotCommitted { .. }) => {
                s3_error!(ServiceUnavailable, "bucket {bucket} is not known to this gateway and the metadata group has no quorum to ask: retry")
            }
            e => s3_error!(InternalError, "bucket lookup failed: {e}"),
        })
}

fn no_such_bucket(bucket: &str) -> s3s::S3Error {
    s3_error!(NoSuchBucket, "The specified bucket does not exist: {bucket}")
}

/// Refuse a request whose `x-amz-expected-bucket-owner` is not `bucket`'s owner (its access
/// key; any admin key for a bucket of the admin keys), as S3 does: 403.
async fn require_owner(store: &Arc<Store>, bucket: &str, expected: &str) -> S3Result<()> {
    let matches = match owner_of(store, bucket, true).await? {
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

/// Operations whose ACL headers the bucket's settings may refuse (`check_acl`).
const ACL_WRITES: [&str; 5] = ["PutObject", "CopyObject", "CreateMultipartUpload", "PutObjectAcl", "PutBucketAcl"];

/// What the access check needs of a bucket.
struct View {
    /// Its owner's access key (empty: the admin keys').
    owner: String,
    policy: Option<Arc<Policy>>,
    /// Its policy is public and its RestrictPublicBuckets switch on.
    restrict: bool,
    /// Its ACLs, for a principal that does not own it (`None`: not looked at).
    acls: Option<Acls>,
}

/// One request to authorize against a bucket.
struct Ask<'a> {
    principal: &'a Principal,
    client: Option<Client>,
    /// s3s's operation name.
    op: &'a str,
    bucket: &'a str,
    key: Option<&'a str>,
    /// The request's condition keys.
    keys: Vec<(String, String)>,
}

/// The S3 access check of a gateway.
pub(crate) struct KintsugiAccess {
    pub(crate) store: Arc<Store>,
    /// Parsed policies by bucket, with the document each was parsed from.
    policies: Mutex<HashMap<String, (String, Arc<Policy>)>>,
}

impl KintsugiAccess {
    pub(crate) fn new(store: Arc<Store>) -> Self {
        Self { store, policies: Mutex::new(HashMap::new()) }
    }

    /// `bucket`'s policy as this gateway holds it, parsed once per document. A document this
    /// version cannot read (it was checked when it was put, so only a newer version's) denies
    /// everything to everyone but admin keys, until its owner replaces it: ignoring it would
    /// drop its Denies.
    async fn policy_of(&self, bucket: &str) -> S3Result<Option<Arc<Policy>>> {
        let b = bucket.to_owned();
        let doc = self.store.meta_call(move |m| m.local_bucket_policy(&b)).await.map_err(|e| lookup_failed("bucket policy", &e))?;
        let Some(doc) = doc else {
            self.forget_policy(bucket);
            return Ok(None);
        };
        if let Some((d, p)) = self.policies.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(bucket) {
            if *d == doc {
                return Ok(Some(p.clone()));
            }
        }
        let policy = Arc::new(Policy::parse(&doc, bucket).unwrap_or_else(|e| {
            tracing::warn!(bucket, error = %e, "the bucket's policy cannot be read by this version; it denies everything but admin keys until its owner replaces it");
            Policy::deny_all()
        }));
        self.policies.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(bucket.to_owned(), (doc, policy.clone()));
        Ok(Some(policy))
    }

    fn forget_policy(&self, bucket: &str) {
        self.policies.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(bucket);
    }

    /// `bucket`'s owner and policy (`None`: there is no such bucket), looked up as `p` may
    /// (see [`owner_of`]).
    async fn view(&self, bucket: &str, p: &Principal) -> S3Result<Option<View>> {
        let Some(owner) = owner_of(&self.store, bucket, p.key().is_some()).await? else {
            self.forget_policy(bucket);
            return Ok(None);
        };
        let policy = self.policy_of(bucket).await?;
        // RestrictPublicBuckets matters only while the policy is public.
        let restrict = match &policy {
            Some(p) if p.is_public() => self.controls(bucket).await?.0.is_some_and(|b| b.restrict_public_buckets),
            _ => false,
        };
        let acls = if p.admin || p.may_use(&owner) { None } else { Some(self.acls(bucket, &owner).await?) };
        Ok(Some(View { owner, policy, restrict, acls }))
    }

    /// `bucket`'s public-access block and object ownership setting, as this gateway holds them.
    async fn controls(&self, bucket: &str) -> S3Result<(Option<PublicAccessBlock>, Option<String>)> {
        let b = bucket.to_owned();
        self.store
            .meta_call(move |m| Ok((m.local_public_access_block(&b)?, m.local_bucket_ownership(&b)?)))
            .await
            .map_err(|e| lookup_failed("bucket settings", &e))
    }

    /// What the bucket's owner and policy (`view`) say of `ask`: `Ok(true)` allowed as the
    /// owner (or an admin key), `Ok(false)` allowed by the policy, else `AccessDenied`. A
    /// bucket that does not exist (no `view`) is `NoSuchBucket` from the callers, decided in
    /// the check so that a bucket created between it and the handler is never used by a
    /// request no one authorized.
    fn judge(&self, view: &View, ask: &Ask<'_>) -> S3Result<bool> {
        let p = ask.principal;
        if p.admin {
            return Ok(true);
        }
        let owns = p.may_use(&view.owner);
        let action = action_of(ask.op, ask.keys.iter().any(|(k, _)| k == "s3:versionid"));
        if POLICY_ACTIONS.contains(&ask.op) {
            return if owns { Ok(true) } else { Err(s3_error!(AccessDenied, "only the owner of bucket {} may read or change its policy, public access block and ownership controls", ask.bucket)) };
        }
        let decision = match &view.policy {
            Some(policy) => policy.decide(&self.facts(ask, &action)),
            None => Decision::Silent,
        };
        match decision {
            Decision::Deny => Err(s3_error!(AccessDenied, "the policy of bucket {} denies {action} on {}", ask.bucket, resource(ask.bucket, ask.key))),
            // RestrictPublicBuckets: a public policy grants nothing to others.
            Decision::Allow if view.restrict && !owns => Err(s3_error!(
                AccessDenied,
                "bucket {}'s policy is public and its public access block has RestrictPublicBuckets on, so the policy grants only to the bucket's owner",
                ask.bucket
            )),
            Decision::Allow => Ok(owns),
            Decision::Silent if owns => Ok(true),
            Decision::Silent if view.acls.as_ref().is_some_and(|a| a.permit(p.key(), ask.op, &action)) => Ok(false),
            Decision::Silent => Err(match p.key() {
                None => s3_error!(AccessDenied, "anonymous requests may not {action} in bucket {}: sign the request with an access key, or let the bucket's policy or ACLs allow it", ask.bucket),
                Some(k) => s3_error!(AccessDenied, "access key {k} does not own bucket {} and neither its policy nor its ACLs allow it {action}: ask the bucket's owner for a policy or grant that does", ask.bucket),
            }),
        }
    }

    /// A GET or HEAD its caller may not make: `NoSuchKey` (404) when the key has no current
    /// version here and the caller may list it (a listing with the key as its prefix would
    /// show as much, as S3 answers), else `denied`. A request naming a version keeps `denied`.
    async fn missing_or(&self, view: &View, ask: &Ask<'_>, denied: s3s::S3Error) -> s3s::S3Error {
        let Some(key) = ask.key.filter(|_| !ask.keys.iter().any(|(k, _)| k == "s3:versionid")) else { return denied };
        if self.judge(view, &listing_of(ask)).is_err() {
            return denied;
        }
        let (b, k) = (ask.bucket.to_owned(), key.to_owned());
        match self.store.meta_call(move |m| m.local_newest_version(&b, &k)).await {
            Ok(None | Some(kintsugi_meta::FoundVersion::DeleteMarker { .. })) => s3_error!(NoSuchKey, "The specified key does not exist."),
            _ => denied,
        }
    }

    /// Whether `ask`'s caller may bypass GOVERNANCE retention where it asks.
    async fn may_bypass(&self, ask: Ask<'_>) -> S3Result<bool> {
        if ask.principal.admin {
            return Ok(true);
        }
        let Some(view) = self.view(ask.bucket, ask.principal).await? else { return Ok(false) };
        Ok(self.judge(&view, &Ask { op: "BypassGovernanceRetention", ..ask }).is_ok())
    }

    fn facts<'a>(&self, ask: &'a Ask<'_>, action: &'a str) -> Facts<'a> {
        Facts {
            principal: ask.principal.key(),
            action,
            resource: resource(ask.bucket, ask.key),
            secure: ask.client.is_some_and(|c| c.secure),
            source_ip: ask.client.map(|c| c.ip),
            now: SystemTime::now(),
            keys: ask.keys.clone(),
        }
    }

    /// Refuse a copy from a source `p` may not read, or whose owner is not `expected_owner`
    /// (`x-amz-source-expected-bucket-owner`); the destination was checked with the path.
    async fn require_source<T>(&self, req: &mut S3Request<T>, source: &CopySource, expected_owner: Option<&str>) -> S3Result<()> {
        let p = principal_of(&self.store, req).await?;
        match source {
            CopySource::Bucket { bucket, key, version_id } => {
                // A source version needs what a GET of it needs (s3:GetObjectVersion).
                let mut keys = request_keys("GetObject", None, &req.headers);
                if let Some(v) = version_id {
                    keys.push(("s3:versionid".to_owned(), v.to_string()));
                }
                let ask = Ask { principal: &p, client: req.extensions.get::<Client>().copied(), op: "GetObject", bucket, key: Some(key), keys };
                if !p.admin {
                    let mut view = self.view(bucket, &p).await?.ok_or_else(|| no_such_bucket(bucket))?;
                    self.load_object_acl(&mut view, "GetObject", bucket, Some(key), &ask.keys).await?;
                    if !self.judge(&view, &ask)? {
                        if let Some(pin) = self.pin(&view, &ask) {
                            req.extensions.insert(SourcePin(pin));
                        }
                        if self.judge(&view, &listing_of(&ask)).is_err() {
                            req.extensions.insert(HideMissing);
                        }
                    }
                }
                match expected_owner {
                    Some(o) => require_owner(&self.store, bucket, o).await,
                    None => Ok(()),
                }
            }
            _ => Err(s3_error!(NotImplemented, "copy sources that are access points or outposts are not supported")),
        }
    }
}

/// The listing that would show whether `ask`'s key exists: ListObjects with the key as its
/// `s3:prefix`, under the request's own condition keys (how it is signed, from where).
fn listing_of<'a>(ask: &Ask<'a>) -> Ask<'a> {
    let mut keys: Vec<(String, String)> = ask.keys.iter().filter(|(k, _)| k != "s3:versionid").cloned().collect();
    keys.extend(ask.key.map(|k| ("s3:prefix".to_owned(), k.to_owned())));
    Ask { op: "ListObjects", key: None, keys, ..*ask }
}

/// The ARN a policy names `bucket` (and `key`) by.
fn resource(bucket: &str, key: Option<&str>) -> String {
    match key {
        Some(k) => format!("arn:aws:s3:::{bucket}/{k}"),
        None => format!("arn:aws:s3:::{bucket}"),
    }
}

#[async_trait::async_trait]
impl S3Access for KintsugiAccess {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let op = cx.s3_op().name().to_owned();
        let op = op.as_str();
        let client = cx.extensions_mut().get::<Client>().copied();
        transport::refuse_plain_customer_key(client, transport::names_customer_key(cx.headers()))?;
        let p = match cx.credentials() {
            Some(creds) => {
                check_presigned_expiry(cx.uri().query())?;
                principal(&self.store, &creds.access_key).await?
            }
            None => Principal::anonymous(),
        };
        let (bucket, key) = match cx.s3_path() {
            S3Path::Root => (None, None),
            S3Path::Bucket { bucket } => (Some(bucket.to_string()), None),
            S3Path::Object { bucket, key } => (Some(bucket.to_string()), Some(key.to_string())),
        };
        match bucket {
            // ListBuckets and CreateBucket are for access keys; CreateBucket decides for
            // itself (BucketAlreadyExists vs BucketAlreadyOwnedByYou).
            _ if p.key().is_none() && (bucket.is_none() || op == "CreateBucket") => {
                return Err(s3_error!(AccessDenied, "anonymous requests may not list or create buckets: sign the request with an access key (see `kintsugi admin key create`)"));
            }
            Some(b) if op != "CreateBucket" => {
                let ask = Ask {
                    principal: &p,
                    client,
                    op,
                    bucket: &b,
                    key: key.as_deref(),
                    keys: request_keys(op, cx.uri().query(), cx.headers()),
                };
                if asks_bypass(cx.headers()) && matches!(op, "DeleteObject" | "PutObjectRetention") && self.may_bypass(Ask { keys: ask.keys.clone(), ..ask }).await? {
                    cx.extensions_mut().insert(MayBypass);
                }
                if op == "PostObject" {
                    // The key is in the form: decided once it is read (`post_object`).
                    if !p.admin && self.view(&b, &p).await?.is_none() {
                        return Err(no_such_bucket(&b));
                    }
                } else if op == "DeleteObjects" {
                    // Decided key by key once its body is read; refused whole when nothing
                    // could be allowed (another's bucket without a policy).
                    if !p.admin {
                        match self.view(&b, &p).await? {
                            None => return Err(no_such_bucket(&b)),
                            Some(view) if view.policy.is_none() => {
                                self.judge(&view, &Ask { op: "DeleteObject", ..ask })?;
                            }
                            Some(_) => {}
                        }
                    }
                } else if !p.admin {
                    // One look at the bucket serves every decision this request needs.
                    let mut view = self.view(&b, &p).await?.ok_or_else(|| no_such_bucket(&b))?;
                    self.load_object_acl(&mut view, op, &b, key.as_deref(), &ask.keys).await?;
                    self.load_initiator(&mut view, op, &b, key.as_deref(), cx.uri().query(), p.key().is_some()).await?;
                    let mut as_owner = match self.judge(&view, &ask) {
                        Ok(o) => o,
                        Err(e) if matches!(op, "GetObject" | "HeadObject") => return Err(self.missing_or(&view, &ask, e).await),
                        Err(e) => return Err(e),
                    };
                    if let Some(pin) = self.pin(&view, &ask).filter(|_| !as_owner) {
                        cx.extensions_mut().insert(ObjectPin(pin));
                    }
                    if matches!(op, "PutObject" | "CopyObject" | "CreateMultipartUpload") {
                        // A write that locks its version needs the lock's permissions too, as S3 asks.
                        let h = cx.headers();
                        if h.contains_key("x-amz-object-lock-mode") || h.contains_key("x-amz-object-lock-retain-until-date") {
                            self.judge(&view, &Ask { op: "PutObjectRetention", keys: ask.keys.clone(), ..ask })?;
                        }
                        if h.contains_key("x-amz-object-lock-legal-hold") {
                            self.judge(&view, &Ask { op: "PutObjectLegalHold", keys: ask.keys.clone(), ..ask })?;
                        }
                    }
                    if op == "GetObjectAttributes" {
                        // S3 asks for s3:GetObject too.
                        as_owner &= self.judge(&view, &Ask { op: "GetObject", keys: ask.keys.clone(), ..ask })?;
                    }
                    if ACL_WRITES.contains(&op) {
                        self.check_acl(&b, cx.headers()).await?;
                    }
                    if !as_owner && matches!(op, "GetObject" | "HeadObject") {
                        let retention = self.judge(&view, &Ask { op: "GetObjectRetention", keys: ask.keys.clone(), ..ask }).is_ok();
                        let legal_hold = self.judge(&view, &Ask { op: "GetObjectLegalHold", keys: ask.keys.clone(), ..ask }).is_ok();
                        cx.extensions_mut().insert(LockVisible { retention, legal_hold });
                    }
                    if !as_owner && matches!(op, "GetObject" | "HeadObject" | "GetObjectAttributes" | "GetObjectTagging" | "GetObjectAcl") && self.judge(&view, &listing_of(&ask)).is_err() {
                        cx.extensions_mut().insert(HideMissing);
                    }
                } else if ACL_WRITES.contains(&op) {
                    self.check_acl(&b, cx.headers()).await?;
                }
                if let Some(v) = cx.headers().get("x-amz-expected-bucket-owner") {
                    // A value that is not text names no owner: it cannot match.
                    let expected = v.to_str().unwrap_or("\u{fffd}").to_owned();
                    require_owner(&self.store, &b, &expected).await?;
                }
            }
            _ => {}
        }
        cx.extensions_mut().insert(p);
        Ok(())
    }

    async fn copy_object(&self, req: &mut S3Request<CopyObjectInput>) -> S3Result<()> {
        let (source, expected) = (req.input.copy_source.clone(), req.input.expected_source_bucket_owner.clone());
        self.require_source(req, &source, expected.as_deref()).await
    }

    async fn upload_part_copy(&self, req: &mut S3Request<UploadPartCopyInput>) -> S3Result<()> {
        let (source, expected) = (req.input.copy_source.clone(), req.input.expected_source_bucket_owner.clone());
        self.require_source(req, &source, expected.as_deref()).await
    }

    /// A browser POST upload is a PutObject of the form's key (with the lock permissions a
    /// locking write needs).
    async fn post_object(&self, req: &mut S3Request<PostObjectInput>) -> S3Result<()> {
        transport::refuse_plain_customer_key(req.extensions.get::<Client>().copied(), transport::form_names_customer_key(&req.input))?;
        let p = principal_of(&self.store, req).await?;
        let bucket = req.input.bucket.clone();
        // The form's ACL fields, as the headers a PutObject would carry them in.
        let i = &req.input;
        let acl_fields: Vec<(&str, &str)> = [
            ("x-amz-acl", i.acl.as_ref().map(|a| a.as_str())),
            ("x-amz-grant-read", i.grant_read.as_deref()),
            ("x-amz-grant-read-acp", i.grant_read_acp.as_deref()),
            ("x-amz-grant-write-acp", i.grant_write_acp.as_deref()),
            ("x-amz-grant-full-control", i.grant_full_control.as_deref()),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
        let mut acl_headers = http::HeaderMap::new();
        for (k, v) in &acl_fields {
            let v = http::HeaderValue::from_str(v).map_err(|_| s3_error!(InvalidArgument, "the form's {k} field is not a valid header value"))?;
            acl_headers.insert(*k, v);
        }
        self.check_acl(&bucket, &acl_headers).await?;
        if p.admin {
            return Ok(());
        }
        let view = self.view(&bucket, &p).await?.ok_or_else(|| no_such_bucket(&bucket))?;
        // The request's condition keys, with those the form carries in place of headers.
        let mut keys = request_keys("PutObject", None, &req.headers);
        // What the form says replaces any header of the same name: the form's is what is stored.
        keys.retain(|(k, _)| !(k == "s3:x-amz-acl" || k.starts_with("s3:x-amz-grant-") || k == "s3:x-amz-storage-class" || k == "s3:x-amz-server-side-encryption"));
        if let Some(sse) = &req.input.server_side_encryption {
            keys.push(("s3:x-amz-server-side-encryption".to_owned(), sse.as_str().to_owned()));
        }
        for (k, v) in acl_fields {
            keys.push((format!("s3:{k}"), v.to_owned()));
        }
        if let Some(class) = &req.input.storage_class {
            keys.push(("s3:x-amz-storage-class".to_owned(), class.as_str().to_owned()));
        }
        if req.input.policy.is_some() {
            keys.push(("s3:authtype".to_owned(), "POST".to_owned()));
        }
        let ask = Ask { principal: &p, client: req.extensions.get::<Client>().copied(), op: "PutObject", bucket: &bucket, key: Some(&req.input.key), keys };
        self.judge(&view, &ask)?;
        if req.input.object_lock_mode.is_some() || req.input.object_lock_retain_until_date.is_some() {
            self.judge(&view, &Ask { op: "PutObjectRetention", keys: ask.keys.clone(), ..ask })?;
        }
        if req.input.object_lock_legal_hold_status.is_some() {
            self.judge(&view, &Ask { op: "PutObjectLegalHold", keys: ask.keys.clone(), ..ask })?;
        }
        Ok(())
    }

    async fn delete_objects(&self, req: &mut S3Request<DeleteObjectsInput>) -> S3Result<()> {
        let p = principal_of(&self.store, req).await?;
        let client = req.extensions.get::<Client>().copied();
        let keys = request_keys("DeleteObject", None, &req.headers);
        let mut denied = DeniedKeys::default();
        let bypass = asks_bypass(&req.headers);
        if p.admin {
            if bypass {
                req.extensions.insert(MayBypass);
            }
            return Ok(());
        }
        let Some(view) = self.view(&req.input.bucket, &p).await? else { return Err(no_such_bucket(&req.input.bucket)) };
        let mut bypasses = BypassKeys::default();
        for obj in &req.input.delete.objects {
            // A key with a version id is a version's deletion: s3:DeleteObjectVersion.
            let mut keys = keys.clone();
            if let Some(v) = &obj.version_id {
                keys.push(("s3:versionid".to_owned(), v.clone()));
            }
            let ask = Ask { principal: &p, client, op: "DeleteObject", bucket: &req.input.bucket, key: Some(&obj.key), keys };
            if self.judge(&view, &ask).is_err() {
                denied.0.insert((obj.key.clone(), obj.version_id.clone()));
            } else if bypass && obj.version_id.is_some() && self.judge(&view, &Ask { op: "BypassGovernanceRetention", ..ask }).is_ok() {
                bypasses.0.insert((obj.key.clone(), obj.version_id.clone()));
            }
        }
        req.extensions.insert(denied);
        req.extensions.insert(bypasses);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{Pin, Principal};

    #[test]
    fn a_pin_lets_through_only_the_version_and_acl_the_check_judged() {
        let mut m = kintsugi_meta::Manifest {
            version_id: 7,
            size: 0,
            etag: String::new(),
            modified_ms: 0,
            content_type: None,
            headers: vec![(kintsugi_meta::ACL_HEADER.to_owned(), "public".to_owned())],
            user_meta: vec![],
            parts: 0,
            coding: kintsugi_meta::Coding { codec: 1, k: 4, m: 2, chunk_size: 65536 },
            segments: vec![],
        };
        let judged = Pin(Some((7, Some("public".to_owned()))));
        assert!(Pin::check(None, &m).is_ok(), "no pin: the owner or a policy let the caller in");
        assert!(Pin::check(Some(&judged), &m).is_ok());
        assert!(Pin::check(Some(&Pin(None)), &m).is_err(), "the check found no version; one appeared");
        m.headers[0].1 = "private".to_owned();
        assert!(Pin::check(Some(&judged), &m).is_err(), "the ACL changed since the check");
        m.headers[0].1 = "public".to_owned();
        m.version_id = 8;
        assert!(Pin::check(Some(&judged), &m).is_err(), "the version was overwritten since the check");
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
