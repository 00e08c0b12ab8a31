//! Get/Put/DeletePublicAccessBlock and Get/Put/DeleteBucketOwnershipControls: a bucket's
//! four public-access switches and its object ownership setting, enforced by the access check
//! (`crate::access`) and by PutBucketPolicy.

use kintsugi_meta::{MetaRead, PublicAccessBlock};
use s3s::dto::*;
use s3s::{s3_error, S3Error, S3ErrorCode, S3Response, S3Result};

use super::KintsugiS3;

/// The object ownership settings S3 knows.
const OWNERSHIPS: [&str; 3] = [ObjectOwnership::BUCKET_OWNER_ENFORCED, ObjectOwnership::BUCKET_OWNER_PREFERRED, ObjectOwnership::OBJECT_WRITER];

/// An object ownership setting S3 knows, or `400 MalformedXML`.
pub(super) fn check_ownership(o: &str) -> S3Result<()> {
    if OWNERSHIPS.contains(&o) {
        Ok(())
    } else {
        Err(s3_error!(MalformedXML, "ObjectOwnership must be one of {}; got {o:?}", OWNERSHIPS.join(", ")))
    }
}

fn not_found(code: &str, bucket: &str, what: &str) -> S3Error {
    let mut e = S3Error::with_message(S3ErrorCode::Custom(code.to_owned().into()), format!("bucket {bucket} has no {what}"));
    e.set_status_code(http::StatusCode::NOT_FOUND);
    e
}

impl KintsugiS3 {
    pub(super) async fn get_public_access_block_impl(&self, input: GetPublicAccessBlockInput) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
        self.require_bucket(&input.bucket).await?;
        let b = input.bucket.clone();
        match self.meta(move |m| m.public_access_block(&b)).await? {
            Some(p) => Ok(S3Response::new(GetPublicAccessBlockOutput {
                public_access_block_configuration: Some(PublicAccessBlockConfiguration {
                    block_public_acls: Some(p.block_public_acls),
                    ignore_public_acls: Some(p.ignore_public_acls),
                    block_public_policy: Some(p.block_public_policy),
                    restrict_public_buckets: Some(p.restrict_public_buckets),
                }),
            })),
            None => Err(not_found("NoSuchPublicAccessBlockConfiguration", &input.bucket, "public access block configuration")),
        }
    }

    pub(super) async fn put_public_access_block_impl(&self, input: PutPublicAccessBlockInput) -> S3Result<S3Response<PutPublicAccessBlockOutput>> {
        let c = input.public_access_block_configuration;
        let block = PublicAccessBlock {
            block_public_acls: c.block_public_acls.unwrap_or(false),
            ignore_public_acls: c.ignore_public_acls.unwrap_or(false),
            block_public_policy: c.block_public_policy.unwrap_or(false),
            restrict_public_buckets: c.restrict_public_buckets.unwrap_or(false),
        };
        let b = input.bucket;
        self.meta(move |m| m.put_public_access_block(&b, Some(&block))).await?;
        Ok(S3Response::new(PutPublicAccessBlockOutput {}))
    }

    pub(super) async fn delete_public_access_block_impl(&self, input: DeletePublicAccessBlockInput) -> S3Result<S3Response<DeletePublicAccessBlockOutput>> {
        let b = input.bucket;
        self.meta(move |m| m.put_public_access_block(&b, None)).await?;
        Ok(S3Response::new(DeletePublicAccessBlockOutput {}))
    }

    pub(super) async fn get_bucket_ownership_controls_impl(&self, input: GetBucketOwnershipControlsInput) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
        self.require_bucket(&input.bucket).await?;
        let b = input.bucket.clone();
        match self.meta(move |m| m.bucket_ownership(&b)).await? {
            Some(o) => Ok(S3Response::new(GetBucketOwnershipControlsOutput {
                ownership_controls: Some(OwnershipControls { rules: vec![OwnershipControlsRule { object_ownership: ObjectOwnership::from(o) }] }),
            })),
            None => Err(not_found("OwnershipControlsNotFoundError", &input.bucket, "ownership controls")),
        }
    }

    pub(super) async fn put_bucket_ownership_controls_impl(&self, input: PutBucketOwnershipControlsInput) -> S3Result<S3Response<PutBucketOwnershipControlsOutput>> {
        let [rule] = input.ownership_controls.rules.as_slice() else {
            return Err(s3_error!(MalformedXML, "OwnershipControls must hold exactly one Rule"));
        };
        let o = rule.object_ownership.as_str().to_owned();
        check_ownership(&o)?;
        let b = input.bucket;
        self.meta(move |m| m.put_bucket_ownership(&b, &o)).await?;
        Ok(S3Response::new(PutBucketOwnershipControlsOutput {}))
    }

    pub(super) async fn delete_bucket_ownership_controls_impl(&self, input: DeleteBucketOwnershipControlsInput) -> S3Result<S3Response<DeleteBucketOwnershipControlsOutput>> {
        let b = input.bucket;
        self.meta(move |m| m.put_bucket_ownership(&b, "")).await?;
        Ok(S3Response::new(DeleteBucketOwnershipControlsOutput {}))
    }
}
