//! The S3 API: `impl s3s::S3` over the store.

mod checksum;
mod multipart;
mod objects;
mod util;

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
}

impl KintsugiS3 {
    /// Serve S3 over `store`.
    pub fn new(store: Arc<Store>) -> Self {
        Self { store }
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

#[async_trait::async_trait]
impl s3s::S3 for KintsugiS3 {
    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        let p = crate::access::principal_of(&self.store, &req).await?;
        let bucket = req.input.bucket;
        if bucket == crate::admin::ADMIN_BUCKET {
            return Err(s3s::s3_error!(InvalidBucketName, "the bucket name {bucket} is reserved for Kintsugi's admin API"));
        }
        // AWS reserves these suffixes (access point and object lambda aliases).
        if bucket.ends_with("-s3alias") || bucket.ends_with("--ol-s3") {
            return Err(s3s::s3_error!(InvalidBucketName, "bucket names may not end in -s3alias or --ol-s3"));
        }
        let (b, owner) = (bucket.clone(), p.access_key.clone());
        match self.meta(move |m| m.create_owned_bucket(&b, &owner)).await {
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
        let list = self.meta(|m| m.list_buckets()).await?;
        let buckets = list
            .into_iter()
            .filter(|(_, rec)| p.may_use(&rec.owner))
            .map(|(name, rec)| Bucket { name: Some(name), creation_date: Some(util::ts(rec.created_ms)), bucket_region: None })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(Owner { display_name: Some(p.access_key.clone()), id: Some(p.access_key.clone()) }),
            ..Default::default()
        }))
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let check = checksum::ChecksumCheck::from_request(&req.headers, req.trailing_headers.clone());
        self.put_object_impl(req.input, check).await
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        self.get_object_impl(req.input).await
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        self.head_object_impl(req.input).await
    }

    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        let DeleteObjectInput { bucket, key, .. } = req.input;
        self
            .meta(move |m| m.delete_object(&bucket, &key, kintsugi_meta::Expect::Any))
            .await?;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    async fn delete_objects(&self, req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
        self.delete_objects_impl(req.input).await
    }

    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        self.copy_object_impl(req.input).await
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
        self.create_multipart_impl(req.input).await
    }

    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
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
