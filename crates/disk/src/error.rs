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
    /// The file system holding the disk has no space left (ENOSPC, or a quota).
    #[error("disk {disk} is full: no space left for {path}; it takes no new shards until space is freed (delete objects, or add disks)")]
    Full {
        /// Disk id.
        disk: u32,
        /// The file being written.
        path: PathBuf,
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

/// True when an I/O error says the file system is out of space (or over a quota).
pub fn is_out_of_space(e: &std::io::Error) -> bool {
    // std maps ENOSPC and EDQUOT to these kinds.
    matches!(e.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded)
}

impl DiskError {
    /// An I/O error on `path` of `disk`: [`DiskError::Full`] when the file system is out of
    /// space, else [`DiskError::Io`].
    pub fn io(disk: u32, path: &std::path::Path, source: std::io::Error) -> Self {
        if is_out_of_space(&source) {
            DiskError::Full { disk, path: path.to_path_buf() }
        } else {
            DiskError::Io { disk, path: path.to_path_buf(), source }
        }
    }

    /// True when the disk's file system is out of space.
    pub fn is_full(&self) -> bool {
        matches!(self, DiskError::Full { .. })
    }

    /// True when the error says the whole disk is unusable (not just one shard).
    pub fn is_disk_failure(&self) -> bool {
        matches!(self, DiskError::DiskGone { .. } | DiskError::DiskFailed { .. })
    }
}

/// Result alias.
pub type DiskResult<T> = Result<T, DiskError>;
