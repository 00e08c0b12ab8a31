//! Errors of the cluster side of a gateway (placement, reads and rebuilds, workers, the
//! cluster map). The S3 front end wraps them and maps them to S3 error codes.

use kintsugi_disk::DiskError;
use kintsugi_erasure::CodecError;
use kintsugi_meta::MetaError;
use kintsugi_storage::ShardError;

/// What went wrong in the store, the cluster map or a background worker.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Metadata store failure or a metadata-level refusal.
    #[error(transparent)]
    Meta(#[from] MetaError),
    /// Disk failure that the operation could not route around.
    #[error(transparent)]
    Disk(#[from] DiskError),
    /// A shard's disk, or its node, failed in a way the operation could not route around.
    #[error(transparent)]
    Shard(#[from] ShardError),
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
    /// Too few disks have room above their reserve to take a new segment's shards.
    #[error("storage is full: only {room} disks have room above the disk reserve ({reserve}) and {full} are full, fewer than the {need} a write needs; delete objects or add disks (or lower --disk-reserve)")]
    StorageFull {
        /// Disks with room.
        room: usize,
        /// Usable disks left out for want of space.
        full: usize,
        /// Shards a new segment needs.
        need: usize,
        /// The reserve, as configured.
        reserve: String,
    },
    /// The metadata directory's file system has no room above the reserve: new objects are
    /// refused so that deletes (which free space) can always be committed.
    #[error("storage is full: the metadata directory's file system ({dir}) has {free} bytes free, not more than the reserve ({reserve} bytes); new objects are refused so that deletes always have room: delete objects or add disks, or give the metadata directory more room")]
    MetaFull {
        /// The metadata directory.
        dir: String,
        /// Its file system's free bytes.
        free: u64,
        /// The reserve on it, in bytes.
        reserve: u64,
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
    /// A bad argument.
    #[error("{0}")]
    InvalidArgument(String),
    /// An admin request that the cluster's state does not allow now (the message says why and what to do).
    #[error("{0}")]
    Refused(String),
    /// An internal task died.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ClusterError {
    /// Whether a metadata change may or may not have committed (a group of gateways that did
    /// not answer in time). Its shards must then stay as they are — neither referenced nor
    /// garbage — since the change may still commit; a later start collects what it left.
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, ClusterError::Meta(MetaError::NotCommitted { .. }))
    }
}

impl From<tokio::task::JoinError> for ClusterError {
    fn from(e: tokio::task::JoinError) -> Self {
        ClusterError::Internal(format!("background task failed: {e}"))
    }
}

/// Result alias.
pub type ClusterResult<T> = Result<T, ClusterError>;
