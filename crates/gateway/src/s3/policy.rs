//! Get/Put/DeleteBucketPolicy and GetBucketPolicyStatus. The document is checked when it is
//! put (`crate::policy::Policy::parse`) and kept as given; `crate::access` evaluates it for
//! every request.

use kintsugi_meta::MetaRead;
use s3s::dto::*;
use s3s::{s3_error, S3Response, S3Result};

use super::KintsugiS3;
use crate::policy::Policy;

impl KintsugiS3 {
    /// The policy document of `bucket`, or S3's `NoSuchBucketPolicy`.
    async fn policy_doc(&self, bucket: &str) -> S3Result<String> {
        self.require_bucket(bucket).await?;
        let b = bucket.to_owned();
        match self.meta(move |m| m.bucket_policy(&b)).await? {
            Some(doc) => Ok(doc),
            None => Err(s3_error!(NoSuchBucketPolicy, "The bucket policy does not exist: bucket {bucket} has none")),
        }
    }

    pub(super) async fn get_bucket_policy_impl(&self, input: GetBucketPolicyInput) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        let doc = self.policy_doc(&input.bucket).await?;
        Ok(S3Response::new(GetBucketPolicyOutput { policy: Some(doc) }))
    }

    pub(super) async fn put_bucket_policy_impl(&self, input: PutBucketPolicyInput) -> S3Result<S3Response<PutBucketPolicyOutput>> {
        self.require_bucket(&input.bucket).await?;
        let policy = Policy::parse(&input.policy, &input.bucket).map_err(|e| s3_error!(MalformedPolicy, "{e}"))?;
        let b = input.bucket.clone();
        if policy.is_public() && self.meta(move |m| m.public_access_block(&b)).await?.is_some_and(|p| p.block_public_policy) {
            return Err(s3_error!(AccessDenied, "bucket {}'s public access block has BlockPublicPolicy on, and this policy grants public access: narrow its Principal \"*\" statements, or turn the switch off first", input.bucket));
        }
        let (b, doc) = (input.bucket, input.policy);
        self.meta(move |m| m.put_bucket_policy(&b, &doc)).await?;
        Ok(S3Response::new(PutBucketPolicyOutput {}))
    }

    pub(super) async fn delete_bucket_policy_impl(&self, input: DeleteBucketPolicyInput) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        self.require_bucket(&input.bucket).await?;
        let b = input.bucket;
        self.meta(move |m| m.put_bucket_policy(&b, "")).await?;
        Ok(S3Response::new(DeleteBucketPolicyOutput {}))
    }

    pub(super) async fn get_bucket_policy_status_impl(&self, input: GetBucketPolicyStatusInput) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
        let doc = self.policy_doc(&input.bucket).await?;
        let public = Policy::parse(&doc, &input.bucket).is_ok_and(|p| p.is_public());
        Ok(S3Response::new(GetBucketPolicyStatusOutput { policy_status: Some(PolicyStatus { is_public: Some(public) }) }))
    }
}
