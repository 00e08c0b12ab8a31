//! Bucket settings Kintsugi has no way to set yet, read as S3 reads a bucket where they were
//! never set: no default encryption (S3's 404). Tools read these before they write (sync tools, infrastructure-as-code); a `501` there stops them,
//! while the truthful answer lets them go on. Setting any of them is still `501`.

use s3s::{S3Error, S3ErrorCode, S3Result};

use super::KintsugiS3;

/// S3's answer for a bucket without a `what` configuration: `code`, always 404 (as S3 sends
/// each of them, whatever status s3s gives the code by default).
fn not_configured(bucket: &str, code: S3ErrorCode, what: &str) -> S3Error {
    let mut e = S3Error::with_message(code, format!("bucket {bucket} has no {what}: Kintsugi cannot set one yet"));
    e.set_status_code(http::StatusCode::NOT_FOUND);
    e
}

impl KintsugiS3 {
    /// The answer for a bucket that exists and has no `what` configuration (404 `code`), or
    /// `NoSuchBucket`.
    pub(super) async fn none_configured<T>(&self, bucket: &str, code: S3ErrorCode, what: &str) -> S3Result<T> {
        self.require_bucket(bucket).await?;
        Err(not_configured(bucket, code, what))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn not_configured_is_a_404_with_s3s_code() {
        use s3s::S3ErrorCode as C;
        for (c, s) in [
            (C::NoSuchBucketPolicy, "NoSuchBucketPolicy"),
            (C::NoSuchLifecycleConfiguration, "NoSuchLifecycleConfiguration"),
            (C::ServerSideEncryptionConfigurationNotFoundError, "ServerSideEncryptionConfigurationNotFoundError"),
            (C::ObjectLockConfigurationNotFoundError, "ObjectLockConfigurationNotFoundError"),
            (C::OwnershipControlsNotFoundError, "OwnershipControlsNotFoundError"),
        ] {
            let e = super::not_configured("b", c, "it");
            assert_eq!(e.code().as_str(), s);
            assert_eq!(e.status_code(), Some(http::StatusCode::NOT_FOUND), "{s}");
        }
    }
}
