//! Errors of the S3 front end and their one mapping to S3 error codes.

use kintsugi_cluster::ClusterError;
use kintsugi_disk::DiskError;
use kintsugi_erasure::CodecError;
use kintsugi_meta::MetaError;
use s3s::{S3Error, S3ErrorCode};

/// What went wrong serving a request.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The store, a read or rebuild, the cluster map or a worker failed or refused.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// Too few shards of a new segment became durable.
    #[error("only {durable} shards of a new segment became durable, {need} needed; storage nodes are failing or too slow, retry later")]
    WriteQuorum {
        /// Durable shards.
        durable: usize,
        /// Write quorum.
        need: usize,
    },
    /// Disks ran out of space while a new segment was written, and too few others could take
    /// its shards.
    #[error("storage is full: {full} disks ran out of space during the write and only {durable} shards of a new segment became durable, {need} needed; delete objects or add disks")]
    StorageFull {
        /// Shards given up for want of space.
        full: usize,
        /// Durable shards.
        durable: usize,
        /// Write quorum.
        need: usize,
    },
    /// The client's body stream failed.
    #[error("request body could not be read: {detail}")]
    Body {
        /// What the body stream reported.
        detail: String,
    },
    /// The request body sent no byte for `--body-timeout`.
    #[error("{detail}")]
    BodyStalled {
        /// What the body reported.
        detail: String,
    },
    /// The body's SHA-256 is not the `x-amz-content-sha256` the request signed.
    #[error("the body's SHA-256 does not match the x-amz-content-sha256 the request was signed with; nothing was stored")]
    ContentSha256Mismatch,
    /// A chunk of an aws-chunked body carried a wrong signature.
    #[error("a chunk signature of the streaming upload does not match; check the secret key the client signs with")]
    ChunkSignatureMismatch,
    /// The body was shorter or longer than Content-Length.
    #[error("body had {got} bytes but Content-Length said {expected}")]
    IncompleteBody {
        /// Bytes received.
        got: u64,
        /// Content-Length.
        expected: u64,
    },
    /// Content-MD5 did not match the body.
    #[error("Content-MD5 does not match the body that was received")]
    BadDigest,
    /// An `x-amz-checksum-*` value (header or trailer) did not match the body.
    #[error("the x-amz-checksum-{algorithm} you specified did not match the calculated checksum")]
    ChecksumMismatch {
        /// Which algorithm.
        algorithm: &'static str,
    },
    /// Content-MD5 is not valid base64 of 16 bytes.
    #[error("Content-MD5 header is not base64 of a 16-byte MD5")]
    InvalidDigest,
    /// A single PUT or a part above S3's 5 GiB (larger objects are multipart uploads).
    #[error("an upload of {size} bytes exceeds the {max}-byte maximum of a single PUT or part; upload larger objects in parts (multipart)")]
    EntityTooLarge {
        /// Bytes announced or received.
        size: u64,
        /// The maximum.
        max: u64,
    },
    /// A multipart part other than the last is below 5 MiB.
    #[error("part {part} is {size} bytes; every part but the last must be at least 5 MiB")]
    EntityTooSmall {
        /// Part number.
        part: u32,
        /// Its size.
        size: u64,
    },
    /// A listed part does not exist or its ETag differs.
    #[error("part {part} was not uploaded or its ETag does not match")]
    InvalidPart {
        /// Part number.
        part: u32,
    },
    /// Parts are not in ascending order.
    #[error("parts must be listed in ascending part-number order")]
    InvalidPartOrder,
    /// A bad argument in a request.
    #[error("{0}")]
    InvalidArgument(String),
    /// The object does not exist.
    #[error("no such key {key} in bucket {bucket}")]
    NoSuchKey {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
    },
    /// An internal task of a request died.
    #[error("internal error: {0}")]
    Internal(String),
}

impl GatewayError {
    /// See [`ClusterError::outcome_unknown`].
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, GatewayError::Cluster(c) if c.outcome_unknown())
    }

    /// Whether a commit was refused by its compare-and-swap on the object's version.
    pub fn is_version_conflict(&self) -> bool {
        matches!(self, GatewayError::Cluster(kintsugi_cluster::ClusterError::Meta(kintsugi_meta::MetaError::VersionConflict { .. })))
    }

    /// Whether the multipart upload named does not exist (any more).
    pub fn is_no_such_upload(&self) -> bool {
        matches!(self, GatewayError::Cluster(kintsugi_cluster::ClusterError::Meta(kintsugi_meta::MetaError::NoSuchUpload { .. })))
    }

    /// Classify an error from the request body stream. s3s's aws-chunked
    /// decoder reports a bad chunk signature only through its message (its
    /// error type is private); tests/embedded.rs pins this behaviour.
    pub fn from_body_error(detail: String) -> Self {
        if detail.contains("SignatureMismatch") {
            GatewayError::ChunkSignatureMismatch
        } else if detail.contains("Sha256Mismatch") {
            GatewayError::ContentSha256Mismatch
        } else if detail.contains(crate::body::BODY_STALLED) {
            GatewayError::BodyStalled { detail }
        } else {
            GatewayError::Body { detail }
        }
    }
}

impl From<MetaError> for GatewayError {
    fn from(e: MetaError) -> Self {
        GatewayError::Cluster(e.into())
    }
}

impl From<DiskError> for GatewayError {
    fn from(e: DiskError) -> Self {
        GatewayError::Cluster(e.into())
    }
}

impl From<CodecError> for GatewayError {
    fn from(e: CodecError) -> Self {
        GatewayError::Cluster(e.into())
    }
}

impl From<tokio::task::JoinError> for GatewayError {
    fn from(e: tokio::task::JoinError) -> Self {
        GatewayError::Internal(format!("background task failed: {e}"))
    }
}

/// Result alias.
pub type GwResult<T> = Result<T, GatewayError>;

/// The S3 error for a failure of the cluster side (admin routes call workers directly).
pub(crate) fn s3_err(e: impl Into<GatewayError>) -> S3Error {
    S3Error::from(e.into())
}

/// The code of a write refused because the disks are full (S3 has none; 507 with it).
pub const STORAGE_FULL: &str = "XKintsugiStorageFull";

/// S3's code for a body that is not the one whose SHA-256 was signed (400; s3s has no
/// variant for it).
const CONTENT_SHA256_MISMATCH: &str = "XAmzContentSHA256Mismatch";

fn storage_full() -> S3ErrorCode {
    S3ErrorCode::Custom(STORAGE_FULL.into())
}

fn cluster_code(e: &ClusterError) -> S3ErrorCode {
    use S3ErrorCode as C;
    match e {
        ClusterError::Meta(m) => match m {
            MetaError::NoSuchBucket { .. } => C::NoSuchBucket,
            MetaError::BucketExists { .. } => C::BucketAlreadyOwnedByYou,
            MetaError::BucketNotEmpty { .. } => C::BucketNotEmpty,
            MetaError::NoSuchUpload { .. } => C::NoSuchUpload,
            MetaError::VersionConflict { .. } | MetaError::PartsChanged { .. } => C::OperationAborted,
            MetaError::DiskInUse { .. } | MetaError::LastAdminKey { .. } => C::InvalidRequest,
            MetaError::NoSuchAccessKey { .. } | MetaError::UnversionableKey { .. } => C::InvalidArgument,
            MetaError::NotCommitted { .. } | MetaError::NeedsNewerCommand { .. } => C::ServiceUnavailable,
            MetaError::ObjectLocked { .. } => C::AccessDenied,
            MetaError::NoObjectLock { .. } => C::InvalidRequest,
            MetaError::BucketState { .. } => C::InvalidBucketState,
            _ => C::InternalError,
        },
        ClusterError::Disk(_) | ClusterError::Shard(_) | ClusterError::Codec(_) | ClusterError::Internal(_) => C::InternalError,
        ClusterError::NotEnoughDisks { .. } | ClusterError::Unreadable { .. } => C::ServiceUnavailable,
        ClusterError::StorageFull { .. } | ClusterError::MetaFull { .. } => storage_full(),
        ClusterError::DrainRefused { .. } | ClusterError::Refused(_) => C::InvalidRequest,
        ClusterError::InvalidArgument(_) => C::InvalidArgument,
    }
}

impl From<GatewayError> for S3Error {
    fn from(e: GatewayError) -> Self {
        use S3ErrorCode as C;
        let code = match &e {
            GatewayError::Cluster(c) => cluster_code(c),
            GatewayError::Internal(_) => C::InternalError,
            GatewayError::WriteQuorum { .. } => C::ServiceUnavailable,
            GatewayError::StorageFull { .. } => storage_full(),
            GatewayError::Body { .. } | GatewayError::IncompleteBody { .. } => C::IncompleteBody,
            GatewayError::BodyStalled { .. } => C::RequestTimeout,
            GatewayError::BadDigest | GatewayError::ChecksumMismatch { .. } => C::BadDigest,
            GatewayError::ChunkSignatureMismatch => C::SignatureDoesNotMatch,
            GatewayError::ContentSha256Mismatch => C::Custom(CONTENT_SHA256_MISMATCH.into()),
            GatewayError::InvalidDigest => C::InvalidDigest,
            GatewayError::EntityTooSmall { .. } => C::EntityTooSmall,
            GatewayError::EntityTooLarge { .. } => C::EntityTooLarge,
            GatewayError::InvalidPart { .. } => C::InvalidPart,
            GatewayError::InvalidPartOrder => C::InvalidPartOrder,
            GatewayError::InvalidArgument(_) => C::InvalidArgument,
            GatewayError::NoSuchKey { .. } => C::NoSuchKey,
        };
        if code == storage_full() {
            tracing::warn!(error = %e, "write refused");
        } else if matches!(code, C::InternalError | C::ServiceUnavailable) {
            tracing::error!(error = %e, "request failed");
        }
        let mut err = S3Error::with_message(code.clone(), e.to_string());
        if matches!(code, C::ServiceUnavailable) {
            err.set_status_code(http::StatusCode::SERVICE_UNAVAILABLE);
        } else if code == C::Custom(CONTENT_SHA256_MISMATCH.into()) {
            err.set_status_code(http::StatusCode::BAD_REQUEST);
        } else if code == storage_full() {
            // As MinIO answers a full store: 507, which clients do not retry.
            err.set_status_code(http::StatusCode::INSUFFICIENT_STORAGE);
        }
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_that_is_not_the_one_signed_is_s3s_400() {
        let e = S3Error::from(GatewayError::from_body_error("UploadStreamError: Sha256Mismatch".into()));
        assert_eq!((e.code().as_str(), e.status_code()), ("XAmzContentSHA256Mismatch", Some(http::StatusCode::BAD_REQUEST)));
        let e = S3Error::from(GatewayError::from_body_error("SignatureMismatch".into()));
        assert_eq!(e.code().as_str(), "SignatureDoesNotMatch");
        let e = S3Error::from(GatewayError::from_body_error("connection reset".into()));
        assert_eq!(e.code().as_str(), "IncompleteBody");
    }
}
