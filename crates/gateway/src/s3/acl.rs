//! Get/PutBucketAcl and Get/PutObjectAcl as far as Kintsugi has ACLs: every bucket and object
//! is private to its bucket's owner (others get in through bucket policies), so an ACL read
//! answers the owner's FULL_CONTROL, and an ACL write is accepted when it asks for exactly that
//! (`private`, `bucket-owner-full-control`, or that one grant in the body: what a tool that
//! reads an ACL and writes it back sends). Anything else is `501`, nothing changed.

use kintsugi_meta::MetaRead;
use s3s::dto::*;
use s3s::{s3_error, S3Response, S3Result};

use super::KintsugiS3;

/// The owner id an ACL names for the buckets of the admin keys (they have no one owner).
const ADMIN_OWNER: &str = "kintsugi-admin-keys";

fn owner_id(owner: &str) -> String {
    if owner.is_empty() {
        ADMIN_OWNER.to_owned()
    } else {
        owner.to_owned()
    }
}

/// The owner an answer names for a bucket (and its objects) owned by `owner`.
pub(super) fn owner_of(owner: &str) -> Owner {
    let id = owner_id(owner);
    Owner { display_name: Some(id.clone()), id: Some(id) }
}

/// The ACL every bucket and object has: its bucket's owner, with FULL_CONTROL.
fn owner_acl(owner: &str) -> (Owner, Vec<Grant>) {
    let id = owner_id(owner);
    let grant = Grant {
        grantee: Some(Grantee { display_name: Some(id.clone()), email_address: None, id: Some(id.clone()), type_: Type::from_static(Type::CANONICAL_USER), uri: None }),
        permission: Some(Permission::from_static(Permission::FULL_CONTROL)),
    };
    (owner_of(owner), vec![grant])
}

/// Whether an ACL write asks for nothing but what every bucket and object already is.
fn only_the_owner(canned: Option<&str>, grant_headers: bool, body: Option<&AccessControlPolicy>, owner: &str) -> bool {
    if grant_headers {
        return false;
    }
    let id = owner_id(owner);
    let canned_ok = matches!(canned, None | Some("private" | "bucket-owner-full-control"));
    let body_ok = body.is_none_or(|p| {
        p.grants.as_ref().is_none_or(|grants| {
            grants.iter().all(|g| {
                g.permission.as_ref().is_some_and(|p| p.as_str() == Permission::FULL_CONTROL)
                    && g.grantee.as_ref().is_some_and(|e| e.type_.as_str() == Type::CANONICAL_USER && e.id.as_deref() == Some(id.as_str()) && e.uri.is_none())
            })
        })
    });
    canned_ok && body_ok
}

fn refused() -> s3s::S3Error {
    s3_error!(
        NotImplemented,
        "ACLs granting others are not supported yet (every bucket and object is private to its bucket's owner), so nothing was changed: grant access with a bucket policy"
    )
}

impl KintsugiS3 {
    /// The owner an answer names for `bucket` and its objects (every object is its bucket
    /// owner's), or `NoSuchBucket`.
    pub(super) async fn bucket_owner_entity(&self, bucket: &str) -> S3Result<Owner> {
        Ok(owner_of(&self.bucket_owner(bucket).await?))
    }

    /// The owner of `bucket`, or `NoSuchBucket`.
    async fn bucket_owner(&self, bucket: &str) -> S3Result<String> {
        let b = bucket.to_owned();
        match self.meta(move |m| m.bucket(&b)).await? {
            Some(r) => Ok(r.owner),
            None => Err(s3_error!(NoSuchBucket, "The specified bucket does not exist: {bucket}")),
        }
    }

    /// The owner of `bucket`, once `key` is known to exist in it.
    async fn object_owner(&self, bucket: &str, key: &str, version_id: Option<&str>) -> S3Result<String> {
        let owner = self.bucket_owner(bucket).await?;
        self.version_of(bucket, key, version_id).await?;
        Ok(owner)
    }

    pub(super) async fn get_bucket_acl_impl(&self, input: GetBucketAclInput) -> S3Result<S3Response<GetBucketAclOutput>> {
        let (owner, grants) = owner_acl(&self.bucket_owner(&input.bucket).await?);
        Ok(S3Response::new(GetBucketAclOutput { grants: Some(grants), owner: Some(owner) }))
    }

    pub(super) async fn get_object_acl_impl(&self, input: GetObjectAclInput) -> S3Result<S3Response<GetObjectAclOutput>> {
        let (owner, grants) = owner_acl(&self.object_owner(&input.bucket, &input.key, input.version_id.as_deref()).await?);
        Ok(S3Response::new(GetObjectAclOutput { grants: Some(grants), owner: Some(owner), ..Default::default() }))
    }

    pub(super) async fn put_bucket_acl_impl(&self, input: PutBucketAclInput) -> S3Result<S3Response<PutBucketAclOutput>> {
        let owner = self.bucket_owner(&input.bucket).await?;
        let headers = input.grant_full_control.is_some() || input.grant_read.is_some() || input.grant_read_acp.is_some() || input.grant_write.is_some() || input.grant_write_acp.is_some();
        if only_the_owner(input.acl.as_ref().map(BucketCannedACL::as_str), headers, input.access_control_policy.as_ref(), &owner) {
            Ok(S3Response::new(PutBucketAclOutput {}))
        } else {
            Err(refused())
        }
    }

    pub(super) async fn put_object_acl_impl(&self, input: PutObjectAclInput) -> S3Result<S3Response<PutObjectAclOutput>> {
        let owner = self.object_owner(&input.bucket, &input.key, input.version_id.as_deref()).await?;
        let headers = input.grant_full_control.is_some() || input.grant_read.is_some() || input.grant_read_acp.is_some() || input.grant_write_acp.is_some();
        if only_the_owner(input.acl.as_ref().map(ObjectCannedACL::as_str), headers, input.access_control_policy.as_ref(), &owner) {
            Ok(S3Response::new(PutObjectAclOutput::default()))
        } else {
            Err(refused())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(grants: Vec<(&str, &str, &str)>) -> AccessControlPolicy {
        AccessControlPolicy {
            grants: Some(
                grants
                    .into_iter()
                    .map(|(kind, id, perm)| Grant {
                        grantee: Some(Grantee { display_name: None, email_address: None, id: Some(id.to_owned()), type_: Type::from(kind.to_owned()), uri: None }),
                        permission: Some(Permission::from(perm.to_owned())),
                    })
                    .collect(),
            ),
            owner: None,
        }
    }

    #[test]
    fn only_the_owners_full_control_is_accepted() {
        assert!(only_the_owner(None, false, None, "TEAM"));
        assert!(only_the_owner(Some("private"), false, None, "TEAM"));
        assert!(only_the_owner(Some("bucket-owner-full-control"), false, None, ""));
        assert!(!only_the_owner(Some("public-read"), false, None, "TEAM"));
        assert!(!only_the_owner(None, true, None, "TEAM"));
        assert!(only_the_owner(None, false, Some(&body(vec![("CanonicalUser", "TEAM", "FULL_CONTROL")])), "TEAM"), "what GetBucketAcl answered, written back");
        assert!(only_the_owner(None, false, Some(&body(vec![("CanonicalUser", ADMIN_OWNER, "FULL_CONTROL")])), ""));
        assert!(!only_the_owner(None, false, Some(&body(vec![("CanonicalUser", "OTHER", "FULL_CONTROL")])), "TEAM"));
        assert!(!only_the_owner(None, false, Some(&body(vec![("CanonicalUser", "TEAM", "FULL_CONTROL"), ("CanonicalUser", "TEAM", "READ")])), "TEAM"));
        let (owner, grants) = owner_acl("TEAM");
        assert_eq!(owner.id.as_deref(), Some("TEAM"));
        assert_eq!(grants.len(), 1);
    }
}
