//! The S3 API: `impl s3s::S3` over the store.

mod acl;
mod attributes;
mod checksum;
mod conditions;
mod controls;
mod cors;
mod encryption;
mod lifecycle;
mod lock;
mod listing;
mod multipart;
mod objects;
mod part_sums;
mod policy;
mod post;
mod tagging;
mod util;
mod versions;

pub(crate) use attributes::{is_attributes_request, unquote_etag};
pub(crate) use post::{is_form, policy_refusal_as_s3, refuse_post, MAX_POST_FIELD, MAX_POST_FIELDS, MAX_POST_FILE, POSTS_AT_ONCE, POST_DEADLINE};

use std::sync::Arc;

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use crate::error::GatewayError;
use kintsugi_cluster::Store;
use kintsugi_meta::MetaRead;

/// The S3 service of one gateway.
#[derive(Clone, Debug)]
pub struct KintsugiS3 {
    store: Arc<Store>,
    /// The length of a lifecycle day, ms (`x-amz-expiration` counts in it).
    lifecycle_day_ms: i64,
    /// The cluster master key of SSE-S3, once read (it never changes).
    master: Arc<std::sync::OnceLock<crate::sse::Key>>,
}

impl KintsugiS3 {
    /// Serve S3 over `store`.
    pub fn new(store: Arc<Store>) -> Self {
        Self { store, lifecycle_day_ms: kintsugi_meta::DAY_MS, master: Arc::default() }
    }

    /// Count lifecycle days as the lifecycle worker does (tests shorten them).
    pub fn with_lifecycle(mut self, lifecycle: &kintsugi_cluster::expire::LifecycleConfig) -> Self {
        self.lifecycle_day_ms = lifecycle.day_ms();
        self
    }

    /// Blocking metadata work off the executor, its error as the front end's.
    async fn meta<T: Send + 'static>(
        &self,
        f: impl FnOnce(&kintsugi_meta::RocksMeta) -> Result<T, kintsugi_meta::MetaError> + Send + 'static,
    ) -> Result<T, GatewayError> {
        self.store.meta_call_with(move |m| f(m).map_err(GatewayError::from)).await
    }

    async fn require_bucket(&self, bucket: &str) -> Result<(), GatewayError> {
        let b = bucket.to_owned();
        match self.meta(move |m| m.bucket(&b)).await? {
            Some(_) => Ok(()),
            None => Err(kintsugi_meta::MetaError::NoSuchBucket { bucket: bucket.into() }.into()),
        }
    }
}

/// The request asked to bypass GOVERNANCE retention (`x-amz-bypass-governance-retention:
/// true`) and its access check found the caller may (s3:BypassGovernanceRetention).
fn may_bypass(extensions: &http::Extensions, asked: Option<bool>) -> bool {
    asked == Some(true) && extensions.get::<crate::access::MayBypass>().is_some()
}

#[async_trait::async_trait]
impl s3s::S3 for KintsugiS3 {
    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        let p = crate::access::principal_of(&self.store, &req).await?;
        let input = &req.input;
        let acl = acl::AclAsk::new(
            input.acl.as_ref().map(BucketCannedACL::as_str),
            [input.grant_full_control.as_ref(), input.grant_read.as_ref(), input.grant_read_acp.as_ref(), input.grant_write.as_ref(), input.grant_write_acp.as_ref()],
        );
        let ownership = input.object_ownership.as_ref().map(|o| o.as_str().to_owned());
        if let Some(o) = &ownership {
            controls::check_ownership(o)?;
        }
        let acl = self.new_bucket_acl(&p.access_key, &acl, ownership.as_deref()).await?;
        let locked = input.object_lock_enabled_for_bucket == Some(true);
        let bucket = req.input.bucket;
        if bucket == crate::admin::ADMIN_BUCKET {
            return Err(s3s::s3_error!(InvalidBucketName, "the bucket name {bucket} is reserved for Kintsugi's admin API"));
        }
        // AWS reserves these suffixes (access point and object lambda aliases).
        if bucket.ends_with("-s3alias") || bucket.ends_with("--ol-s3") {
            return Err(s3s::s3_error!(InvalidBucketName, "bucket names may not end in -s3alias or --ol-s3"));
        }
        let (b, owner) = (bucket.clone(), p.access_key.clone());
        // With x-amz-bucket-object-lock-enabled: object lock and versioning on from the start.
        match self.meta(move |m| if locked { m.create_locked_bucket(&b, &owner) } else { m.create_owned_bucket(&b, &owner) }).await {
            Ok(()) => {}
            Err(GatewayError::Cluster(kintsugi_cluster::ClusterError::Meta(kintsugi_meta::MetaError::BucketExists { .. }))) => {
                // Yours (BucketAlreadyOwnedByYou), or another principal's.
                let b = bucket.clone();
                let owner = self.meta(move |m| m.bucket(&b)).await?.map(|r| r.owner);
                return Err(match owner {
                    Some(o) if !(o == p.access_key || (o.is_empty() && p.admin)) => s3s::s3_error!(
                        BucketAlreadyExists,
                        "bucket {bucket} exists and belongs to another access key: bucket names are shared by every key, choose another"
                    ),
                    _ => s3s::s3_error!(BucketAlreadyOwnedByYou, "you already own bucket {bucket}"),
                });
            }
            Err(e) => return Err(e.into()),
        }
        if let Some(o) = ownership {
            // x-amz-object-ownership: a second command; should it fail, the bucket stands
            // without the setting and the error says so.
            let b = bucket.clone();
            self.meta(move |m| m.put_bucket_ownership(&b, &o)).await.map_err(|e| {
                s3s::s3_error!(InternalError, "bucket {bucket} was created, but its x-amz-object-ownership was not kept ({e}): set it with PutBucketOwnershipControls")
            })?;
        }
        if let Some(acl) = acl {
            self.keep_bucket_acl(&bucket, &acl).await?;
        }
        Ok(S3Response::new(CreateBucketOutput { location: Some(format!("/{bucket}")) }))
    }

    async fn delete_bucket(&self, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
        let b = req.input.bucket;
        self.meta(move |m| m.delete_bucket(&b)).await?;
        Ok(S3Response::new(DeleteBucketOutput {}))
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        self.require_bucket(&req.input.bucket).await?;
        Ok(S3Response::new(HeadBucketOutput::default()))
    }

    async fn get_bucket_location(&self, req: S3Request<GetBucketLocationInput>) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.require_bucket(&req.input.bucket).await?;
        Ok(S3Response::new(GetBucketLocationOutput::default()))
    }

    async fn list_buckets(&self, req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
        let p = crate::access::principal_of(&self.store, &req).await?;
        let input = req.input;
        // Paging: the token is the hex of the last name a page held (names sort as bytes).
        let after = match &input.continuation_token {
            Some(t) => Some(
                hex::decode(t)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| s3s::s3_error!(InvalidArgument, "The continuation token provided is incorrect"))?,
            ),
            None => None,
        };
        let max = match input.max_buckets {
            None => usize::MAX,
            Some(n) if (1..=10_000).contains(&n) => usize::try_from(n).unwrap_or(usize::MAX),
            Some(_) => return Err(s3s::s3_error!(InvalidArgument, "max-buckets must be between 1 and 10000")),
        };
        let prefix = input.prefix.clone().unwrap_or_default();
        let list = self.meta(|m| m.list_buckets()).await?;
        let mut mine: Vec<_> = list
            .into_iter()
            .filter(|(name, rec)| p.may_use(&rec.owner) && name.starts_with(&prefix) && after.as_ref().is_none_or(|a| name > a))
            .collect();
        mine.sort_by(|a, b| a.0.cmp(&b.0));
        let truncated = mine.len() > max;
        mine.truncate(max);
        let next = if truncated { mine.last().map(|(name, _)| hex::encode(name)) } else { None };
        let buckets = mine
            .into_iter()
            .map(|(name, rec)| Bucket { name: Some(name), creation_date: Some(util::ts(rec.created_ms)), bucket_region: None })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(Owner { display_name: Some(p.access_key.clone()), id: Some(p.access_key.clone()) }),
            continuation_token: next,
            prefix: input.prefix,
        }))
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        util::refuse_empty_md5(&req.headers)?;
        let check = checksum::ChecksumCheck::from_request(&req.headers, req.trailing_headers.clone());
        let writer = crate::access::principal_or_anonymous(&self.store, &req).await?;
        self.put_object_impl(req.input, check, &writer).await
    }

    async fn post_object(&self, req: S3Request<PostObjectInput>) -> S3Result<S3Response<PostObjectOutput>> {
        let writer = crate::access::principal_or_anonymous(&self.store, &req).await?;
        self.post_object_impl(req.input, &writer).await
    }

    async fn get_object(&self, mut req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        util::refuse_sse_on_read(&req.headers)?;
        let hide = req.extensions.get::<crate::access::HideMissing>().is_some();
        let visible = req.extensions.get::<crate::access::LockVisible>().copied();
        let pin = req.extensions.remove::<crate::access::ObjectPin>().map(|p| p.0);
        self.get_object_impl(req.input, visible, pin).await.map_err(|e| util::hide_missing(e, hide))
    }

    async fn head_object(&self, mut req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        util::refuse_sse_on_read(&req.headers)?;
        let hide = req.extensions.get::<crate::access::HideMissing>().is_some();
        let visible = req.extensions.get::<crate::access::LockVisible>().copied();
        let pin = req.extensions.remove::<crate::access::ObjectPin>().map(|p| p.0);
        self.head_object_impl(req.input, visible, pin).await.map_err(|e| util::hide_missing(e, hide))
    }

    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        let i = &req.input;
        let (version_id, marker) = match versions::parse_version(i.version_id.as_deref())? {
            Some(v) => self.delete_version(&i.bucket, &i.key, v, may_bypass(&req.extensions, i.bypass_governance_retention)).await?,
            None => {
                let cond = conditions::WriteCondition::delete(i.if_match.clone(), i.if_match_last_modified_time.as_ref(), i.if_match_size);
                self.delete_one(&i.bucket, &i.key, &cond).await?
            }
        };
        Ok(S3Response::new(DeleteObjectOutput { version_id, delete_marker: marker.then_some(true), ..Default::default() }))
    }

    async fn delete_objects(&self, mut req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let denied = req.extensions.remove::<crate::access::DeniedKeys>().unwrap_or_default();
        // Admin keys may bypass for every key; others key by key, as their policy allows.
        let bypass = match (req.input.bypass_governance_retention, req.extensions.get::<crate::access::MayBypass>()) {
            (Some(true), Some(_)) => objects::Bypass::All,
            (Some(true), None) => objects::Bypass::Keys(req.extensions.remove::<crate::access::BypassKeys>().unwrap_or_default()),
            _ => objects::Bypass::Keys(crate::access::BypassKeys::default()),
        };
        self.delete_objects_impl(req.input, &denied, &bypass).await
    }

    async fn copy_object(&self, mut req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        let hide = req.extensions.get::<crate::access::HideMissing>().is_some();
        let writer = crate::access::principal_or_anonymous(&self.store, &req).await?;
        let pin = req.extensions.remove::<crate::access::SourcePin>().map(|p| p.0);
        self.copy_object_impl(req.input, &writer, pin).await.map_err(|e| util::hide_missing(e, hide))
    }

    async fn upload_part_copy(&self, mut req: S3Request<UploadPartCopyInput>) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let hide = req.extensions.get::<crate::access::HideMissing>().is_some();
        let pin = req.extensions.remove::<crate::access::SourcePin>().map(|p| p.0);
        self.upload_part_copy_impl(req.input, pin).await.map_err(|e| util::hide_missing(e, hide))
    }

    async fn get_object_tagging(&self, req: S3Request<GetObjectTaggingInput>) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        let hide = req.extensions.get::<crate::access::HideMissing>().is_some();
        self.get_object_tagging_impl(req.input).await.map_err(|e| util::hide_missing(e, hide))
    }

    async fn put_object_tagging(&self, req: S3Request<PutObjectTaggingInput>) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        self.put_object_tagging_impl(req.input).await
    }

    async fn delete_object_tagging(&self, req: S3Request<DeleteObjectTaggingInput>) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        self.delete_object_tagging_impl(req.input).await
    }

    async fn get_bucket_tagging(&self, req: S3Request<GetBucketTaggingInput>) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        self.get_bucket_tagging_impl(req.input).await
    }

    async fn put_bucket_tagging(&self, req: S3Request<PutBucketTaggingInput>) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        self.put_bucket_tagging_impl(req.input).await
    }

    async fn delete_bucket_tagging(&self, req: S3Request<DeleteBucketTaggingInput>) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        self.delete_bucket_tagging_impl(req.input).await
    }

    async fn get_bucket_cors(&self, req: S3Request<GetBucketCorsInput>) -> S3Result<S3Response<GetBucketCorsOutput>> {
        self.get_bucket_cors_impl(req.input).await
    }

    async fn put_bucket_cors(&self, req: S3Request<PutBucketCorsInput>) -> S3Result<S3Response<PutBucketCorsOutput>> {
        self.put_bucket_cors_impl(req.input).await
    }

    async fn delete_bucket_cors(&self, req: S3Request<DeleteBucketCorsInput>) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
        self.delete_bucket_cors_impl(req.input).await
    }

    async fn get_bucket_acl(&self, req: S3Request<GetBucketAclInput>) -> S3Result<S3Response<GetBucketAclOutput>> {
        self.get_bucket_acl_impl(req.input).await
    }

    async fn put_bucket_acl(&self, req: S3Request<PutBucketAclInput>) -> S3Result<S3Response<PutBucketAclOutput>> {
        self.put_bucket_acl_impl(req.input).await
    }

    async fn get_object_acl(&self, mut req: S3Request<GetObjectAclInput>) -> S3Result<S3Response<GetObjectAclOutput>> {
        let hide = req.extensions.get::<crate::access::HideMissing>().is_some();
        let pin = req.extensions.remove::<crate::access::ObjectPin>().map(|p| p.0);
        self.get_object_acl_impl(req.input, pin).await.map_err(|e| util::hide_missing(e, hide))
    }

    async fn put_object_acl(&self, mut req: S3Request<PutObjectAclInput>) -> S3Result<S3Response<PutObjectAclOutput>> {
        let pin = req.extensions.remove::<crate::access::ObjectPin>().map(|p| p.0);
        self.put_object_acl_impl(req.input, pin).await
    }

    async fn get_object_attributes(&self, req: S3Request<GetObjectAttributesInput>) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        util::refuse_sse_on_read(&req.headers)?;
        let hide = req.extensions.get::<crate::access::HideMissing>().is_some();
        self.get_object_attributes_impl(req.input).await.map_err(|e| util::hide_missing(e, hide))
    }

    async fn get_bucket_versioning(&self, req: S3Request<GetBucketVersioningInput>) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        self.get_bucket_versioning_impl(req.input).await
    }

    async fn put_bucket_versioning(&self, req: S3Request<PutBucketVersioningInput>) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        self.put_bucket_versioning_impl(req.input).await
    }

    async fn list_object_versions(&self, req: S3Request<ListObjectVersionsInput>) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        self.list_object_versions_impl(req.input).await
    }

    async fn get_bucket_policy(&self, req: S3Request<GetBucketPolicyInput>) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        self.get_bucket_policy_impl(req.input).await
    }

    async fn put_bucket_policy(&self, req: S3Request<PutBucketPolicyInput>) -> S3Result<S3Response<PutBucketPolicyOutput>> {
        self.put_bucket_policy_impl(req.input).await
    }

    async fn delete_bucket_policy(&self, req: S3Request<DeleteBucketPolicyInput>) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        self.delete_bucket_policy_impl(req.input).await
    }

    async fn get_bucket_policy_status(&self, req: S3Request<GetBucketPolicyStatusInput>) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
        self.get_bucket_policy_status_impl(req.input).await
    }

    async fn get_bucket_lifecycle_configuration(
        &self,
        req: S3Request<GetBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
        self.get_bucket_lifecycle_impl(req.input).await
    }

    async fn put_bucket_lifecycle_configuration(
        &self,
        req: S3Request<PutBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
        self.put_bucket_lifecycle_impl(req.input).await
    }

    async fn delete_bucket_lifecycle(&self, req: S3Request<DeleteBucketLifecycleInput>) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
        self.delete_bucket_lifecycle_impl(req.input).await
    }

    async fn get_bucket_encryption(&self, req: S3Request<GetBucketEncryptionInput>) -> S3Result<S3Response<GetBucketEncryptionOutput>> {
        self.get_bucket_encryption_impl(req.input).await
    }

    async fn put_bucket_encryption(&self, req: S3Request<PutBucketEncryptionInput>) -> S3Result<S3Response<PutBucketEncryptionOutput>> {
        self.put_bucket_encryption_impl(req.input).await
    }

    async fn delete_bucket_encryption(&self, req: S3Request<DeleteBucketEncryptionInput>) -> S3Result<S3Response<DeleteBucketEncryptionOutput>> {
        self.delete_bucket_encryption_impl(req.input).await
    }

    async fn get_object_lock_configuration(&self, req: S3Request<GetObjectLockConfigurationInput>) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
        self.get_object_lock_configuration_impl(req.input).await
    }

    async fn put_object_lock_configuration(&self, req: S3Request<PutObjectLockConfigurationInput>) -> S3Result<S3Response<PutObjectLockConfigurationOutput>> {
        self.put_object_lock_configuration_impl(req.input).await
    }

    async fn get_object_retention(&self, req: S3Request<GetObjectRetentionInput>) -> S3Result<S3Response<GetObjectRetentionOutput>> {
        self.get_object_retention_impl(req.input).await
    }

    async fn put_object_retention(&self, req: S3Request<PutObjectRetentionInput>) -> S3Result<S3Response<PutObjectRetentionOutput>> {
        let bypass = may_bypass(&req.extensions, req.input.bypass_governance_retention);
        self.put_object_retention_impl(req.input, bypass).await
    }

    async fn get_object_legal_hold(&self, req: S3Request<GetObjectLegalHoldInput>) -> S3Result<S3Response<GetObjectLegalHoldOutput>> {
        self.get_object_legal_hold_impl(req.input).await
    }

    async fn put_object_legal_hold(&self, req: S3Request<PutObjectLegalHoldInput>) -> S3Result<S3Response<PutObjectLegalHoldOutput>> {
        self.put_object_legal_hold_impl(req.input).await
    }

    async fn get_bucket_ownership_controls(&self, req: S3Request<GetBucketOwnershipControlsInput>) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
        self.get_bucket_ownership_controls_impl(req.input).await
    }

    async fn put_bucket_ownership_controls(&self, req: S3Request<PutBucketOwnershipControlsInput>) -> S3Result<S3Response<PutBucketOwnershipControlsOutput>> {
        self.put_bucket_ownership_controls_impl(req.input).await
    }

    async fn delete_bucket_ownership_controls(&self, req: S3Request<DeleteBucketOwnershipControlsInput>) -> S3Result<S3Response<DeleteBucketOwnershipControlsOutput>> {
        self.delete_bucket_ownership_controls_impl(req.input).await
    }

    async fn get_public_access_block(&self, req: S3Request<GetPublicAccessBlockInput>) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
        self.get_public_access_block_impl(req.input).await
    }

    async fn put_public_access_block(&self, req: S3Request<PutPublicAccessBlockInput>) -> S3Result<S3Response<PutPublicAccessBlockOutput>> {
        self.put_public_access_block_impl(req.input).await
    }

    async fn delete_public_access_block(&self, req: S3Request<DeletePublicAccessBlockInput>) -> S3Result<S3Response<DeletePublicAccessBlockOutput>> {
        self.delete_public_access_block_impl(req.input).await
    }

    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.list_objects_v2_impl(req.input).await
    }

    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
        self.list_objects_v1_impl(req.input).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let writer = crate::access::principal_or_anonymous(&self.store, &req).await?;
        self.create_multipart_impl(req.input, &writer).await
    }

    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        util::refuse_empty_md5(&req.headers)?;
        let check = checksum::ChecksumCheck::from_request(&req.headers, req.trailing_headers.clone());
        self.upload_part_impl(req.input, check).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.complete_multipart_impl(req.input).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let AbortMultipartUploadInput { bucket, key, upload_id, .. } = req.input;
        self.meta(move |m| m.abort_upload(&bucket, &key, &upload_id)).await?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        self.list_parts_impl(req.input).await
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        self.list_uploads_impl(req.input).await
    }
}
