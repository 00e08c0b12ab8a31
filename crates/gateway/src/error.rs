//! Gateway errors and their one mapping to S3 error codes.

use kintsugi_disk::DiskError;
use kintsugi_erasure::CodecError;
use kintsugi_meta::MetaError;
use s3s::{S3Error, S3ErrorCode};

/// What went wrong serving a request.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// Metadata store failure or a metadata-level refusal.
    #[error(transparent)]
    Meta(#[from] MetaError),
    /// Disk failure that the request could not route around.
    #[error(transparent)]
    Disk(#[from] DiskError),
    /// Codec failure.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// Not enough usable disks and failure domains to place a segment's shards.
    #[error("only {healthy} usable disks in {domains} failure domains can take shards now (never two on one disk, and one per node while nodes are down): fewer than the {need} needed; restore the failed disks or nodes, or lower --write-quorum")]
    NotEnoughDisks {
        /// Healthy disks now.
        healthy: usize,
        /// Distinct failure domains among them.
        domains: usize,
        /// Shards needed (the write quorum for a new segment).
        need: usize,
    },
    /// A drain would leave too few failure domains to hold every segment at full redundancy.
    #[error("draining {what} would leave {domains} failure domains (nodes) in service for segments of {need} shards: its shards could not all be kept on distinct nodes at full redundancy. Add a node first, or pass --force to drain anyway (segments then put 2 shards on some nodes, so losing one of those nodes costs 2 shards)")]
    DrainRefused {
        /// "disk 3" or "node n2".
        what: String,
        /// Failure domains that would remain.
        domains: usize,
        /// k+m.
        need: usize,
    },
    /// Too few shards of a new segment became durable.
    #[error("only {durable} shards of a new segment became durable, {need} needed; storage nodes are failing or too slow, retry later")]
    WriteQuorum {
        /// Durable shards.
        durable: usize,
        /// Write quorum.
        need: usize,
    },
    /// Fewer than k shards of a stripe could be read and verified.
    #[error("object {bucket}/{key} segment {segment}: only {have} of the {need} shards needed are readable and intact; restore the failed disks")]
    Unreadable {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// Segment index.
        segment: usize,
        /// Readable shards.
        have: usize,
        /// k.
        need: usize,
    },
    /// The client's body stream failed.
    #[error("request body could not be read: {detail}")]
    Body {
        /// What the body stream reported.
        detail: String,
    },
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
    /// A bad argument.
    #[error("{0}")]
    InvalidArgument(String),
    /// An admin request that the cluster's state does not allow now (the message says why and what to do).
    #[error("{0}")]
    Refused(String),
    /// The object does not exist.
    #[error("no such key {key} in bucket {bucket}")]
    NoSuchKey {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
    },
    /// An internal task died.
    #[error("internal error: {0}")]
    Internal(String),
}

impl GatewayError {
    /// Classify an error from the request body stream. s3s's aws-chunked
    /// decoder reports a bad chunk signature only through its message (its
    /// error type is private); tests/embedded.rs pins this behaviour.
    pub fn from_body_error(detail: String) -> Self {
        if detail.contains("SignatureMismatch") {
            GatewayError::ChunkSignatureMismatch
        } else {
            GatewayError::Body { detail }
        }
    }
}

impl From<tokio::task::JoinError> for GatewayError {
    fn from(e: tokio::task::JoinError) -> Self {
        GatewayError::Internal(format!("background task failed: {e}"))
    }
}

/// Result alias.
pub type GwResult<T> = Result<T, GatewayError>;

impl From<GatewayError> for S3Error {
    fn from(e: GatewayError) -> Self {
        use S3ErrorCode as C;
        let code = match &e {
            GatewayError::Meta(m) => match m {
                MetaError::NoSuchBucket { .. } => C::NoSuchBucket,
                MetaError::BucketExists { .. } => C::BucketAlreadyOwnedByYou,
                MetaError::BucketNotEmpty { .. } => C::BucketNotEmpty,
                MetaError::NoSuchUpload { .. } => C::NoSuchUpload,
                MetaError::VersionConflict { .. } => C::OperationAborted,
                MetaError::DiskInUse { .. } => C::InvalidRequest,
                _ => C::InternalError,
            },
            GatewayError::Disk(_) | GatewayError::Codec(_) | GatewayError::Internal(_) => C::InternalError,
            GatewayError::NotEnoughDisks { .. } | GatewayError::WriteQuorum { .. } | GatewayError::Unreadable { .. } => C::ServiceUnavailable,
            GatewayError::DrainRefused { .. } | GatewayError::Refused(_) => C::InvalidRequest,
            GatewayError::Body { .. } | GatewayError::IncompleteBody { .. } => C::IncompleteBody,
            GatewayError::BadDigest | GatewayError::ChecksumMismatch { .. } => C::BadDigest,
            GatewayError::ChunkSignatureMismatch => C::SignatureDoesNotMatch,
            GatewayError::InvalidDigest => C::InvalidDigest,
            GatewayError::EntityTooSmall { .. } => C::EntityTooSmall,
            GatewayError::InvalidPart { .. } => C::InvalidPart,
            GatewayError::InvalidPartOrder => C::InvalidPartOrder,
            GatewayError::InvalidArgument(_) => C::InvalidArgument,
            GatewayError::NoSuchKey { .. } => C::NoSuchKey,
        };
        if matches!(code, C::InternalError | C::ServiceUnavailable) {
            tracing::error!(error = %e, "request failed");
        }
        let mut err = S3Error::with_message(code.clone(), e.to_string());
        if matches!(code, C::ServiceUnavailable) {
            err.set_status_code(http::StatusCode::SERVICE_UNAVAILABLE);
        }
        err
    }
}
