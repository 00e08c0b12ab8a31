//! Get/PutBucketAcl, Get/PutObjectAcl, and the ACL an object write or CreateBucket asks for
//! (`x-amz-acl` or `x-amz-grant-*`). The model and its evaluation: `crate::acl`, `crate::access`.
//!
//! A grant names a principal by its canonical id, the access key id (the admin keys' buckets
//! are owned by `kintsugi-admin-keys`), or one of S3's groups; a grant to an id that is not a
//! key is `400 InvalidArgument`, one by e-mail address `400 UnresolvableGrantByEmailAddress`
//! (keys have none). An object written by another principal than the bucket's owner is owned
//! by its writer (unless the bucket's ownership is `BucketOwnerEnforced`, or
//! `BucketOwnerPreferred` and the write says `bucket-owner-full-control`).

use std::collections::BTreeSet;

use kintsugi_meta::MetaRead;
use s3s::dto::*;
use s3s::{s3_error, S3Response, S3Result};

use super::KintsugiS3;
use crate::access::{Pin, Principal};
use crate::acl::{Acl, AclError, BodyGrant, Grantee, ADMIN_OWNER};

/// The owner an answer names for `owner` (empty: the admin keys).
pub(super) fn owner_of(owner: &str) -> Owner {
    let id = display(owner);
    Owner { display_name: Some(id.clone()), id: Some(id) }
}

/// The owners a listing names.
pub(super) struct ListingOwners {
    bucket: Owner,
    enforced: bool,
}

impl ListingOwners {
    /// The owner of an entry with ACL header `acl`: its writer, or the bucket's owner (an
    /// entry without an ACL, one this version cannot read, or any under
    /// `BucketOwnerEnforced`).
    pub(super) fn of(&self, acl: Option<&str>) -> Owner {
        match acl.filter(|_| !self.enforced).map(Acl::decode) {
            Some(Ok(a)) => owner_of(&a.owner),
            _ => self.bucket.clone(),
        }
    }
}

fn display(id: &str) -> String {
    if id.is_empty() {
        ADMIN_OWNER.to_owned()
    } else {
        id.to_owned()
    }
}

/// An ACL as S3 answers it.
fn answer(acl: &Acl) -> (Owner, Vec<Grant>) {
    let grants = acl
        .grants
        .iter()
        .map(|g| {
            let grantee = match &g.grantee {
                Grantee::User(id) => user_grantee(&display(id)),
                Grantee::Group(group) => group_grantee(&group.uri()),
            };
            Grant { grantee: Some(grantee), permission: Some(Permission::from(g.perm.as_str().to_owned())) }
        })
        .collect();
    (owner_of(&acl.owner), grants)
}

fn user_grantee(id: &str) -> s3s::dto::Grantee {
    s3s::dto::Grantee { display_name: Some(id.to_owned()), email_address: None, id: Some(id.to_owned()), type_: Type::from_static(Type::CANONICAL_USER), uri: None }
}

fn group_grantee(uri: &str) -> s3s::dto::Grantee {
    s3s::dto::Grantee { display_name: None, email_address: None, id: None, type_: Type::from_static(Type::GROUP), uri: Some(uri.to_owned()) }
}

/// The S3 error for an ACL a request cannot have.
pub(super) fn acl_error(e: AclError) -> s3s::S3Error {
    match e {
        AclError::Malformed(m) => s3_error!(MalformedACLError, "{m}"),
        AclError::InvalidArgument(m) => s3_error!(InvalidArgument, "{m}"),
        AclError::Email(m) => s3_error!(UnresolvableGrantByEmailAddress, "{m}"),
        AclError::Both(m) => s3_error!(InvalidRequest, "{m}"),
        e @ AclError::Stored(_) => s3_error!(InternalError, "{e}"),
    }
}

/// What a request asks of an ACL: a canned ACL, `x-amz-grant-*` headers, or (PutBucketAcl,
/// PutObjectAcl) a body.
#[derive(Default)]
pub(super) struct AclAsk {
    canned: Option<String>,
    /// (`read`, `write`, `read-acp`, `write-acp` or `full-control`, the header's value).
    grants: Vec<(&'static str, String)>,
    body: Option<AccessControlPolicy>,
}

impl AclAsk {
    /// From a request's canned ACL and grant headers (`[full-control, read, read-acp, write,
    /// write-acp]`, as s3s's inputs order them). The grants are kept in S3's order of
    /// permissions (READ, WRITE, READ_ACP, WRITE_ACP, FULL_CONTROL).
    pub(super) fn new(canned: Option<&str>, grants: [Option<&String>; 5]) -> Self {
        let [full, read, read_acp, write, write_acp] = grants;
        let named = [("read", read), ("write", write), ("read-acp", read_acp), ("write-acp", write_acp), ("full-control", full)];
        let grants = named.into_iter().filter_map(|(n, v)| v.map(|v| (n, v.clone()))).collect();
        Self { canned: canned.map(str::to_owned), grants, body: None }
    }

    fn with_body(mut self, body: Option<AccessControlPolicy>) -> Self {
        self.body = body;
        self
    }

    /// The ACL asked for, owned by `owner`, for something in a bucket owned by `bucket_owner`
    /// (`None`: nothing was asked).
    fn acl(&self, owner: &str, bucket_owner: &str) -> S3Result<Option<Acl>> {
        let given = usize::from(self.canned.is_some()) + usize::from(!self.grants.is_empty()) + usize::from(self.body.is_some());
        if given > 1 {
            return Err(acl_error(AclError::Both("give one of a canned ACL (x-amz-acl), x-amz-grant-* headers or an AccessControlPolicy body, not several".into())));
        }
        if let Some(c) = &self.canned {
            return Acl::canned(c, owner, bucket_owner).map(Some).ok_or_else(|| s3_error!(InvalidArgument, "{c:?} is not a canned ACL"));
        }
        if !self.grants.is_empty() {
            return Acl::from_headers(owner, self.grants.iter().map(|(n, v)| (*n, v.as_str()))).map(Some).map_err(acl_error);
        }
        let Some(body) = &self.body else { return Ok(None) };
        let grants = body.grants.iter().flatten().map(|g| {
            let e = g.grantee.as_ref();
            BodyGrant {
                kind: e.map_or("", |e| e.type_.as_str()),
                id: e.and_then(|e| e.id.as_deref()),
                uri: e.and_then(|e| e.uri.as_deref()),
                email: e.and_then(|e| e.email_address.as_deref()),
                perm: g.permission.as_ref().map(Permission::as_str),
            }
        });
        Acl::from_body(owner, grants).map(Some).map_err(acl_error)
    }
}

/// What ACL decisions need of a bucket.
struct BucketFacts {
    owner: String,
    ownership: Option<String>,
    block_public_acls: bool,
}

impl BucketFacts {
    /// ACLs are off: every object is the bucket owner's.
    fn enforced(&self) -> bool {
        self.ownership.as_deref() == Some("BucketOwnerEnforced")
    }
}

impl KintsugiS3 {
    /// The owner an answer names for `bucket` and its objects, or `NoSuchBucket`.
    pub(super) async fn listing_owners(&self, bucket: &str) -> S3Result<ListingOwners> {
        let facts = self.bucket_facts(bucket).await?;
        Ok(ListingOwners { bucket: owner_of(&facts.owner), enforced: facts.enforced() })
    }

    /// `bucket`'s owner and ACL settings, or `NoSuchBucket`: this gateway's copy (a bucket's
    /// owner never changes while it exists; the access check read the settings there too), and
    /// a linearizable read only of a bucket the copy does not hold yet.
    async fn bucket_facts(&self, bucket: &str) -> S3Result<BucketFacts> {
        let b = bucket.to_owned();
        let (rec, ownership, block) = self
            .meta(move |m| {
                let rec = match m.local_bucket(&b)? {
                    Some(r) => Some(r),
                    None => m.bucket(&b)?,
                };
                Ok((rec, m.local_bucket_ownership(&b)?, m.local_public_access_block(&b)?))
            })
            .await?;
        match rec {
            Some(r) => Ok(BucketFacts { owner: r.owner, ownership, block_public_acls: block.is_some_and(|b| b.block_public_acls) }),
            None => Err(s3_error!(NoSuchBucket, "The specified bucket does not exist: {bucket}")),
        }
    }

    /// Refuse an ACL that names a key this store does not have, or that is public where the
    /// bucket blocks public ACLs.
    async fn check_acl(&self, acl: &Acl, facts: &BucketFacts) -> S3Result<()> {
        let known: BTreeSet<&str> = [acl.owner.as_str(), facts.owner.as_str()].into();
        for id in acl.users().filter(|id| !known.contains(id)).collect::<BTreeSet<_>>() {
            if crate::access::lookup_key(&self.store, id).await?.is_none() {
                return Err(s3_error!(InvalidArgument, "Invalid id: {id} is not an access key of this store (a grant names a principal by its access key id)"));
            }
        }
        if facts.block_public_acls && acl.is_public() {
            return Err(s3_error!(AccessDenied, "the bucket's public access block has BlockPublicAcls on, so a public ACL is refused"));
        }
        Ok(())
    }

    /// The ACL header value an object write by `writer` into `bucket` stores (`None`: the
    /// default, the bucket owner's `FULL_CONTROL`).
    pub(super) async fn object_write_acl(&self, bucket: &str, writer: &Principal, ask: &AclAsk) -> S3Result<Option<String>> {
        let facts = self.bucket_facts(bucket).await?;
        match facts.ownership.as_deref() {
            // ACLs are off (the access check refused any but bucket-owner-full-control).
            Some("BucketOwnerEnforced") => return Ok(None),
            Some("BucketOwnerPreferred") if ask.canned.as_deref() == Some("bucket-owner-full-control") => return Ok(None),
            _ => {}
        }
        let owner = writer.key().unwrap_or(facts.owner.as_str()).to_owned();
        let acl = match ask.acl(&owner, &facts.owner)? {
            Some(acl) => acl,
            None => Acl::private(&owner),
        };
        self.check_acl(&acl, &facts).await?;
        Ok(acl.stored(&facts.owner))
    }

    /// The ACL of `bucket` with its facts.
    async fn bucket_acl(&self, bucket: &str) -> S3Result<(Acl, BucketFacts)> {
        let facts = self.bucket_facts(bucket).await?;
        let b = bucket.to_owned();
        let acl = match self.meta(move |m| m.bucket_acl(&b)).await? {
            Some(s) => Acl::decode(&s).map_err(acl_error)?,
            None => Acl::private(&facts.owner),
        };
        Ok((acl, facts))
    }

    /// The ACL a CreateBucket by `owner` asks for, checked before the bucket is made (`None`:
    /// the default).
    pub(super) async fn new_bucket_acl(&self, owner: &str, ask: &AclAsk, ownership: Option<&str>) -> S3Result<Option<Acl>> {
        let Some(acl) = ask.acl(owner, owner)?.filter(|a| *a != Acl::private(owner)) else { return Ok(None) };
        if ownership == Some("BucketOwnerEnforced") {
            return Err(s3_error!(InvalidBucketAclWithObjectOwnership, "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting: create it without x-amz-acl or x-amz-grant-*"));
        }
        self.check_acl(&acl, &BucketFacts { owner: owner.to_owned(), ownership: None, block_public_acls: false }).await?;
        Ok(Some(acl))
    }

    /// Keep the ACL a CreateBucket asked for (a second command: should it fail, the bucket
    /// stands, private, and the error says so).
    pub(super) async fn keep_bucket_acl(&self, bucket: &str, acl: &Acl) -> S3Result<()> {
        let (b, s) = (bucket.to_owned(), acl.encode());
        self.meta(move |m| m.put_bucket_acl(&b, &s))
            .await
            .map_err(|e| s3_error!(InternalError, "bucket {bucket} was created, but its ACL was not kept ({e}): set it with PutBucketAcl"))
    }

    pub(super) async fn get_bucket_acl_impl(&self, input: GetBucketAclInput) -> S3Result<S3Response<GetBucketAclOutput>> {
        let (owner, grants) = answer(&self.bucket_acl(&input.bucket).await?.0);
        Ok(S3Response::new(GetBucketAclOutput { grants: Some(grants), owner: Some(owner) }))
    }

    pub(super) async fn put_bucket_acl_impl(&self, input: PutBucketAclInput) -> S3Result<S3Response<PutBucketAclOutput>> {
        let facts = self.bucket_facts(&input.bucket).await?;
        let i = &input;
        let ask = AclAsk::new(i.acl.as_ref().map(BucketCannedACL::as_str), [i.grant_full_control.as_ref(), i.grant_read.as_ref(), i.grant_read_acp.as_ref(), i.grant_write.as_ref(), i.grant_write_acp.as_ref()])
            .with_body(input.access_control_policy.clone());
        let acl = ask.acl(&facts.owner, &facts.owner)?.ok_or_else(nothing_asked)?;
        self.refuse_when_enforced(&facts, &acl)?;
        self.check_acl(&acl, &facts).await?;
        let stored = acl.stored(&facts.owner).unwrap_or_default();
        let b = input.bucket.clone();
        self.meta(move |m| m.put_bucket_acl(&b, &stored)).await?;
        Ok(S3Response::new(PutBucketAclOutput {}))
    }

    /// Under `BucketOwnerEnforced` only the owner's `FULL_CONTROL` may be written.
    fn refuse_when_enforced(&self, facts: &BucketFacts, acl: &Acl) -> S3Result<()> {
        if facts.enforced() && *acl != Acl::private(&facts.owner) {
            return Err(s3_error!(AccessControlListNotSupported, "The bucket does not allow ACLs: its ownership is BucketOwnerEnforced"));
        }
        Ok(())
    }

    /// The ACL of an object version, as answered: under `BucketOwnerEnforced` every object is
    /// the bucket owner's, with its `FULL_CONTROL` alone.
    fn version_acl(facts: &BucketFacts, manifest: &kintsugi_meta::Manifest) -> S3Result<Acl> {
        if facts.enforced() {
            return Ok(Acl::private(&facts.owner));
        }
        Ok(Acl::of_headers(&manifest.headers).map_err(acl_error)?.unwrap_or_else(|| Acl::private(&facts.owner)))
    }

    pub(super) async fn get_object_acl_impl(&self, input: GetObjectAclInput, pin: Option<Pin>) -> S3Result<S3Response<GetObjectAclOutput>> {
        let facts = self.bucket_facts(&input.bucket).await?;
        let (manifest, _, _) = self.version_of(&input.bucket, &input.key, input.version_id.as_deref()).await?;
        Pin::check(pin.as_ref(), &manifest)?;
        let (owner, grants) = answer(&Self::version_acl(&facts, &manifest)?);
        Ok(S3Response::new(GetObjectAclOutput { grants: Some(grants), owner: Some(owner), ..Default::default() }))
    }

    pub(super) async fn put_object_acl_impl(&self, input: PutObjectAclInput, pin: Option<Pin>) -> S3Result<S3Response<PutObjectAclOutput>> {
        let facts = self.bucket_facts(&input.bucket).await?;
        let (manifest, _, _) = self.version_of(&input.bucket, &input.key, input.version_id.as_deref()).await?;
        Pin::check(pin.as_ref(), &manifest)?;
        // The version keeps its owner; one whose ACL this version cannot read (a newer
        // gateway's) is taken to be the bucket owner's, who alone can then replace it.
        let owner = match Acl::of_headers(&manifest.headers) {
            Ok(Some(a)) if !facts.enforced() => a.owner,
            _ => facts.owner.clone(),
        };
        let i = &input;
        let ask = AclAsk::new(i.acl.as_ref().map(ObjectCannedACL::as_str), [i.grant_full_control.as_ref(), i.grant_read.as_ref(), i.grant_read_acp.as_ref(), i.grant_write.as_ref(), i.grant_write_acp.as_ref()])
            .with_body(input.access_control_policy.clone());
        let acl = ask.acl(&owner, &facts.owner)?.ok_or_else(nothing_asked)?;
        if facts.enforced() {
            // Only `bucket-owner-full-control` (or the owner's FULL_CONTROL) is taken, and
            // changes nothing: the stored ACL counts again if the bucket leaves
            // BucketOwnerEnforced, as in S3.
            if ask.canned.as_deref() != Some("bucket-owner-full-control") {
                self.refuse_when_enforced(&facts, &acl)?;
            }
            return Ok(S3Response::new(PutObjectAclOutput::default()));
        }
        self.check_acl(&acl, &facts).await?;
        let stored = acl.stored(&facts.owner).unwrap_or_default();
        let (b, k, v) = (input.bucket.clone(), input.key.clone(), manifest.version_id);
        // A compare on the ACL read: a change made meanwhile is never undone by this one.
        let expect = kintsugi_meta::acl_header(&manifest.headers).unwrap_or_default();
        self.meta(move |m| m.put_version_acl(&b, &k, v, &stored, &expect)).await.map_err(|e| {
            if e.is_version_conflict() {
                s3_error!(OperationAborted, "object {} or its ACL changed while its ACL was being written (it was overwritten, deleted, or given another ACL): nothing was changed; read it again and retry", input.key)
            } else {
                e.into()
            }
        })?;
        Ok(S3Response::new(PutObjectAclOutput::default()))
    }
}

fn nothing_asked() -> s3s::S3Error {
    s3_error!(MalformedACLError, "no ACL was given: send x-amz-acl, x-amz-grant-* headers or an AccessControlPolicy body")
}
