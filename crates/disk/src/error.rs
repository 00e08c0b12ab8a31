//! Errors of shard storage on one disk.

use std::path::PathBuf;

/// What went wrong reading or writing a shard.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    /// The shard file does not exist on a healthy disk.
    #[error("shard {shard} is missing on disk {disk}")]
    Missing {
        /// Disk id.
        disk: u32,
        /// Shard file name.
        shard: String,
    },
    /// The shard file exists but fails verification (header, hash table or a chunk).
    #[error("shard {shard} on disk {disk} is corrupt: {detail}")]
    Corrupt {
        /// Disk id.
        disk: u32,
        /// Shard file name.
        shard: String,
        /// What did not verify.
        detail: String,
    },
    /// The disk directory is gone or not the disk we registered (identity file missing or different).
    #[error("disk {disk} at {path} is unavailable: {detail}")]
    DiskGone {
        /// Disk id.
        disk: u32,
        /// Disk root.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// The disk was already marked failed; no I/O attempted.
    #[error("disk {disk} is marked failed")]
    DiskFailed {
        /// Disk id.
        disk: u32,
    },
    /// An I/O error on a file of the disk.
    #[error("I/O error on disk {disk} at {path}: {source}")]
    Io {
        /// Disk id.
        disk: u32,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Another process (or another open in this one) holds the directory's lock.
    #[error("{path} is in use by another kintsugi process; give every process its own directories (--data, --state, --meta)")]
    InUse {
        /// The locked directory.
        path: PathBuf,
    },
    /// The caller asked for something inconsistent with the shard (e.g. a chunk past the end).
    #[error("invalid shard request: {detail}")]
    Invalid {
        /// What was wrong.
        detail: String,
    },
}

impl DiskError {
    /// True when the error says the whole disk is unusable (not just one shard).
    pub fn is_disk_failure(&self) -> bool {
        matches!(self, DiskError::DiskGone { .. } | DiskError::DiskFailed { .. })
    }
}

/// Result alias.
pub type DiskResult<T> = Result<T, DiskError>;
