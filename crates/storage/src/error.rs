//! Errors of shard access: a disk's own errors, and what reaching a disk on another node
//! adds (the node is out of reach, or answers outside the protocol).

use kintsugi_disk::DiskError;

/// What went wrong with a shard, wherever its disk is.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    /// The disk failed the operation (here, or on its node as the node reports it).
    #[error(transparent)]
    Disk(#[from] DiskError),
    /// The disk's node cannot be reached now (down, partitioned or too slow).
    #[error("disk {disk} on node {node} is unreachable: {detail}")]
    Unreachable {
        /// Disk id.
        disk: u32,
        /// Node name.
        node: String,
        /// Why.
        detail: String,
    },
    /// The node answered something the shard protocol does not allow there.
    #[error("node {node} broke the shard protocol: {detail}")]
    Protocol {
        /// Node name.
        node: String,
        /// What it sent.
        detail: String,
    },
    /// The disk's node took a job (a node-side copy or rebuild) and could not do it.
    #[error("node {node} could not do the job: {detail}")]
    JobFailed {
        /// Node name.
        node: String,
        /// Its answer.
        detail: String,
    },
    /// The operation needs a disk on a storage node (a node-side copy or rebuild).
    #[error("disk {disk} is not on a storage node")]
    NotOnANode {
        /// Disk id.
        disk: u32,
    },
}

impl ShardError {
    /// True when the whole disk is unusable or out of reach (not just one shard).
    pub fn is_disk_failure(&self) -> bool {
        match self {
            ShardError::Disk(e) => e.is_disk_failure(),
            ShardError::Unreachable { .. } => true,
            ShardError::Protocol { .. } | ShardError::JobFailed { .. } | ShardError::NotOnANode { .. } => false,
        }
    }

    /// The disk's own error, when that is what happened.
    pub fn disk(&self) -> Option<&DiskError> {
        match self {
            ShardError::Disk(e) => Some(e),
            _ => None,
        }
    }

    /// A protocol error from node `node`.
    pub(crate) fn protocol(node: &str, detail: impl Into<String>) -> Self {
        ShardError::Protocol { node: node.to_owned(), detail: detail.into() }
    }
}

/// Result alias.
pub type ShardResult<T> = Result<T, ShardError>;
