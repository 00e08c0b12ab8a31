//! Grants in the access check: the ACLs that may let a principal other than a bucket's owner
//! in (`crate::acl` is the model), how they are looked up on this gateway's copy, and the
//! [`Pin`] that makes a handler serve only the object version a grant was judged on.

use kintsugi_meta::{FoundVersion, VersionRef};
use s3s::{s3_error, S3Result};

use super::{lookup_failed, Ask, KintsugiAccess, View};
use crate::acl::{self, Acl};
use crate::policy::{action_of, Decision};

/// Put in a request's extensions when a grant on an object version — not the bucket's
/// ownership or its policy — let the caller in (`ObjectPin` for the object in the path,
/// `SourcePin` for a copy's source): what the check judged, the version's manifest id and ACL
/// header, or `None` when it found no version (the caller may list the bucket, so it was let
/// through to learn that the key is missing). The check reads this gateway's copy; the
/// handler reads linearizably and serves exactly that version with that ACL, else refuses:
/// the version may have been overwritten, or its ACL changed, meanwhile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Pin(pub(super) Option<(u128, Option<String>)>);

impl Pin {
    /// Refuse `manifest` unless it is what the check judged (no pin: nothing to compare).
    pub(crate) fn check(pin: Option<&Pin>, manifest: &kintsugi_meta::Manifest) -> S3Result<()> {
        let Some(Pin(judged)) = pin else { return Ok(()) };
        let now = (manifest.version_id, kintsugi_meta::acl_header(&manifest.headers));
        if judged.as_ref() == Some(&now) {
            Ok(())
        } else {
            // Retryable: the check then judges what is there now.
            Err(s3_error!(ServiceUnavailable, "the object changed between the access check and its reading (it was written, overwritten, or its ACL changed), and a grant on it let you in: retry"))
        }
    }
}

/// [`Pin`] of the object a request's path names.
#[derive(Clone, Debug)]
pub(crate) struct ObjectPin(pub(crate) Pin);

/// [`Pin`] of a copy's source.
#[derive(Clone, Debug)]
pub(crate) struct SourcePin(pub(crate) Pin);

/// An object version's ACL as the access check read it.
struct ObjectAcl {
    /// What a [`Pin`] holds of it.
    seen: (u128, Option<String>),
    acl: Acl,
}

/// The ACLs that may let a principal other than a bucket's owner in (`crate::acl`).
pub(super) struct Acls {
    bucket: Acl,
    /// The ACL of the object version a request names, once looked up (`Some(None)`: there is
    /// no such version: who may list the bucket is let through to learn so, as S3 answers
    /// 404 rather than 403 to who may list).
    object: Option<Option<ObjectAcl>>,
    /// Grants count for nothing (ownership `BucketOwnerEnforced`).
    disabled: bool,
    /// Public grants count for nothing (`IgnorePublicAcls`).
    ignore_public: bool,
    /// Who initiated the upload an AbortMultipartUpload or ListParts names, once looked up.
    initiator: Option<String>,
}

impl Acls {
    /// Whether a grant lets `who` (`None`: anonymous) do `op`, which needs policy action
    /// `action`.
    pub(super) fn permit(&self, who: Option<&str>, op: &str, action: &str) -> bool {
        // An upload's initiator may list its parts and abort it with no grant, as S3 lets it
        // (a default permission, not an ACL's: BucketOwnerEnforced leaves it).
        if matches!(op, "AbortMultipartUpload" | "ListParts") && who.is_some() && who == self.initiator.as_deref() {
            return true;
        }
        let Some((level, perm)) = acl::permission_for(op) else { return false };
        // S3 lets a WRITE grant delete versions for good only to the bucket's owner.
        if self.disabled || action == "s3:DeleteObjectVersion" {
            return false;
        }
        match level {
            acl::Level::Bucket => self.bucket.permits(who, perm, self.ignore_public),
            // An object's owner (its writer) may always read and change its ACL.
            acl::Level::Object => match &self.object {
                None => false,
                Some(None) => self.bucket.permits(who, acl::Perm::Read, self.ignore_public),
                Some(Some(ObjectAcl { acl: a, .. })) => (who.is_some_and(|w| w == a.owner) && matches!(perm, acl::Perm::ReadAcp | acl::Perm::WriteAcp)) || a.permits(who, perm, self.ignore_public),
            },
        }
    }
}


impl KintsugiAccess {
    /// `bucket`'s ACL and the settings that switch grants off, as this gateway holds them. A
    /// stored ACL this version cannot read grants nothing (it is logged).
    pub(super) async fn acls(&self, bucket: &str, owner: &str) -> S3Result<Acls> {
        let b = bucket.to_owned();
        let (doc, block, ownership) = self
            .store
            .meta_call(move |m| Ok((m.local_bucket_acl(&b)?, m.local_public_access_block(&b)?, m.local_bucket_ownership(&b)?)))
            .await
            .map_err(|e| lookup_failed("bucket ACL", &e))?;
        let bucket_acl = match doc.map(|d| Acl::decode(&d)).transpose() {
            Ok(a) => a.unwrap_or_else(|| Acl::private(owner)),
            Err(e) => {
                tracing::warn!(bucket, error = %e, "the bucket's ACL cannot be read by this version; it grants nothing until its owner replaces it");
                Acl { owner: owner.to_owned(), grants: Vec::new() }
            }
        };
        Ok(Acls {
            bucket: bucket_acl,
            object: None,
            disabled: ownership.as_deref() == Some("BucketOwnerEnforced"),
            ignore_public: block.is_some_and(|b| b.ignore_public_acls),
            initiator: None,
        })
    }

    /// Look up who initiated the upload an AbortMultipartUpload or ListParts names (`query`'s
    /// `uploadId`), where that could decide (a signed caller that does not own the bucket:
    /// an anonymous one never initiated anything). This gateway's copy first; an upload it
    /// does not hold yet (created a moment ago through another gateway) is read
    /// linearizably, as a bucket it does not hold is (without a quorum: 503, retried).
    pub(super) async fn load_initiator(&self, view: &mut View, op: &str, bucket: &str, key: Option<&str>, query: Option<&str>, signed: bool) -> S3Result<()> {
        let (Some(acls), Some(key), true) = (view.acls.as_mut(), key, signed) else { return Ok(()) };
        if !matches!(op, "AbortMultipartUpload" | "ListParts") {
            return Ok(());
        }
        let Some(id) = query.and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "uploadId").map(|(_, v)| v.into_owned())) else { return Ok(()) };
        let (b, k) = (bucket.to_owned(), key.to_owned());
        let up = self
            .store
            .meta_call(move |m| {
                use kintsugi_meta::{MetaError, MetaRead};
                match m.local_upload(&b, &k, &id) {
                    Ok(u) => Ok(Some(u)),
                    Err(MetaError::NoSuchUpload { .. }) => match m.upload(&b, &k, &id) {
                        Ok(u) => Ok(Some(u)),
                        Err(MetaError::NoSuchUpload { .. }) => Ok(None),
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(e),
                }
            })
            .await
            .map_err(|e| lookup_failed("upload", &e))?;
        acls.initiator = up.and_then(|u| crate::sse_io::initiator(&u.headers));
        Ok(())
    }

    /// Look up the ACL of the object version `ask` names, where a grant on it could decide
    /// (the caller does not own the bucket and `op` is an object ACL permission). This
    /// gateway's copy is read, as for the bucket's ACL: a version written a moment ago through
    /// another gateway may be refused until this one applies it.
    pub(super) async fn load_object_acl(&self, view: &mut View, op: &str, bucket: &str, key: Option<&str>, keys: &[(String, String)]) -> S3Result<()> {
        let (Some(acls), Some(key)) = (view.acls.as_mut(), key) else { return Ok(()) };
        if !matches!(acl::permission_for(op), Some((acl::Level::Object, _))) {
            return Ok(());
        }
        let version = keys.iter().find(|(k, _)| k == "s3:versionid").map(|(_, v)| v.clone());
        let (b, k, owner) = (bucket.to_owned(), key.to_owned(), view.owner.clone());
        let found = self
            .store
            .meta_call(move |m| match version {
                Some(v) => match VersionRef::parse(&v) {
                    Some(v) => m.local_object_version(&b, &k, v),
                    None => Ok(None),
                },
                None => m.local_newest_version(&b, &k),
            })
            .await
            .map_err(|e| lookup_failed("object ACL", &e))?;
        acls.object = Some(match found {
            Some(FoundVersion::Object { manifest, .. }) => {
                let acl = match Acl::of_headers(&manifest.headers) {
                    Ok(a) => a.unwrap_or_else(|| Acl::private(&owner)),
                    Err(e) => {
                        tracing::warn!(bucket, key, error = %e, "an object's ACL cannot be read by this version; it grants nothing");
                        Acl { owner, grants: Vec::new() }
                    }
                };
                Some(ObjectAcl { seen: (manifest.version_id, kintsugi_meta::acl_header(&manifest.headers)), acl })
            }
            _ => None,
        });
        Ok(())
    }

    /// The [`Pin`] of the object version whose grant let `ask` in (`None`: the bucket's
    /// ownership, its policy or a bucket grant did, or no version was looked at).
    pub(super) fn pin(&self, view: &View, ask: &Ask<'_>) -> Option<Pin> {
        let object = view.acls.as_ref()?.object.as_ref()?;
        if ask.principal.admin || ask.principal.may_use(&view.owner) {
            return None;
        }
        let action = action_of(ask.op, ask.keys.iter().any(|(k, _)| k == "s3:versionid"));
        if view.policy.as_ref().is_some_and(|p| p.decide(&self.facts(ask, &action)) != Decision::Silent) {
            return None;
        }
        Some(Pin(object.as_ref().map(|o| o.seen.clone())))
    }

    /// Refuse an object write's ACL where the bucket's settings do, as S3 does: a public ACL
    /// under BlockPublicAcls (403), any ACL but `bucket-owner-full-control` under
    /// BucketOwnerEnforced (400 AccessControlListNotSupported). What is left is the
    /// handler's (`s3/acl.rs`: the grantees exist, a body's grants are not public).
    pub(super) async fn check_acl(&self, bucket: &str, headers: &http::HeaderMap) -> S3Result<()> {
        let acl = headers.get("x-amz-acl").map(|v| v.to_str().unwrap_or("\u{fffd}"));
        let grants: Vec<&str> = headers.iter().filter(|(k, _)| k.as_str().starts_with("x-amz-grant-")).map(|(_, v)| v.to_str().unwrap_or("\u{fffd}")).collect();
        if acl.is_none() && grants.is_empty() {
            return Ok(());
        }
        let (block, ownership) = self.controls(bucket).await?;
        let public = matches!(acl, Some("public-read" | "public-read-write" | "authenticated-read"))
            || grants.iter().any(|g| g.contains("acs.amazonaws.com/groups/global/AllUsers") || g.contains("acs.amazonaws.com/groups/global/AuthenticatedUsers"));
        if public && block.is_some_and(|b| b.block_public_acls) {
            return Err(s3_error!(AccessDenied, "bucket {bucket}'s public access block has BlockPublicAcls on, so a public ACL is refused"));
        }
        if ownership.as_deref() == Some("BucketOwnerEnforced") && !(acl == Some("bucket-owner-full-control") && grants.is_empty()) {
            return Err(s3_error!(AccessControlListNotSupported, "The bucket does not allow ACLs: bucket {bucket}'s ownership is BucketOwnerEnforced; send the request without x-amz-acl or x-amz-grant-* (or with bucket-owner-full-control)"));
        }
        Ok(())
    }
}
