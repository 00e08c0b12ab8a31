//! Errors of the metadata store.

/// What went wrong in a metadata operation.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    /// RocksDB itself failed (I/O error, corruption, lock held by another process).
    #[error("metadata store error in {op}: {source}. Check that the --meta directory is writable and not used by another kintsugi process")]
    Db {
        /// The operation that failed.
        op: &'static str,
        /// The underlying RocksDB error.
        #[source]
        source: rocksdb::Error,
    },
    /// A stored record could not be decoded.
    #[error("metadata record {what} is corrupt or from an unknown format version: {detail}")]
    Corrupt {
        /// Which kind of record.
        what: &'static str,
        /// Decoder message.
        detail: String,
    },
    /// A file of the store's own (a snapshot being written or read) could not be used.
    #[error("{what} {path}: {source}. Check the disk under the --meta directory (space, permissions)")]
    File {
        /// The file.
        path: String,
        /// What was being done.
        what: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A record could not be encoded (nothing was written).
    #[error("could not encode a metadata record, nothing was written: {detail}")]
    Encode {
        /// Encoder message.
        detail: String,
    },
    /// The bucket does not exist.
    #[error("bucket {bucket} does not exist")]
    NoSuchBucket {
        /// Bucket name.
        bucket: String,
    },
    /// There is no such access key.
    #[error("there is no access key {access_key} (see `kintsugi admin key list`)")]
    NoSuchAccessKey {
        /// The access key id.
        access_key: String,
    },
    /// Deleting this key would leave no admin key, and so no one who could create keys.
    #[error("{access_key} is the last admin key: create another admin key first (`kintsugi admin key create --name NAME --admin`)")]
    LastAdminKey {
        /// The access key id.
        access_key: String,
    },
    /// A join token admits no join (unknown, revoked, expired or used up).
    #[error("{reason}; print a new one with `kintsugi admin join-token`")]
    JoinTokenRefused {
        /// Why.
        reason: String,
    },
    /// The bucket already exists.
    #[error("bucket {bucket} already exists")]
    BucketExists {
        /// Bucket name.
        bucket: String,
    },
    /// The bucket still holds objects or uploads.
    #[error("bucket {bucket} is not empty")]
    BucketNotEmpty {
        /// Bucket name.
        bucket: String,
    },
    /// The multipart upload does not exist (never created, completed or aborted).
    #[error("multipart upload {upload_id} does not exist")]
    NoSuchUpload {
        /// Upload id.
        upload_id: String,
    },
    /// A compare-and-swap found another version than expected.
    #[error("object {bucket}/{key} changed concurrently (expected version {expected:?})")]
    VersionConflict {
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
        /// The version the caller expected.
        expected: Option<u128>,
    },
    /// A part a completion was built from was replaced or removed before it committed.
    #[error("part {part} of multipart upload {upload_id} changed while the upload was being completed; complete it again")]
    PartsChanged {
        /// Upload id.
        upload_id: String,
        /// The part number that changed.
        part: u32,
    },
    /// A metadata command could not be decoded (from a newer version, or damaged).
    #[error("metadata command could not be decoded: {detail}")]
    BadCommand {
        /// Decoder message.
        detail: String,
    },
    /// A disk still holds committed shards, so it cannot leave the cluster map.
    #[error("disk {disk} still holds {shards} committed shards; drain it first (`kintsugi admin disk drain {disk} --wait`) or, if it is dead, wait for repair to rebuild them")]
    DiskInUse {
        /// Disk id.
        disk: u32,
        /// Committed shards indexed on it.
        shards: u64,
    },
    /// The metadata log did not commit a command (with replicated gateways: no majority
    /// reachable, or this gateway could not reach the leader); nothing was applied.
    #[error("the metadata log did not commit the {command} command, nothing changed: {detail}. Retry; if it persists, check that a majority of gateways is up")]
    NotCommitted {
        /// The command's name.
        command: &'static str,
        /// Why.
        detail: String,
    },
    /// An object key holding U+0000 cannot be versioned.
    #[error("object key {key:?} holds U+0000, which a bucket with versioning cannot store; use another key")]
    UnversionableKey {
        /// The key.
        key: String,
    },
    /// A command from a gateway that predates a feature met state that needs it (with
    /// replicated gateways of mixed versions); nothing was written.
    #[error("the {command} command cannot be applied to a bucket with versioning or object lock; upgrade every gateway")]
    NeedsNewerCommand {
        /// The command's name.
        command: String,
    },
    /// A version's object lock refuses its deletion, or the change of its retention.
    #[error("version {version_id:032x} of {bucket}/{key} is locked: {why}")]
    ObjectLocked {
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
        /// The version's manifest id.
        version_id: u128,
        /// What holds it, and what would let it go.
        why: String,
    },
    /// A retention or legal hold was asked for in a bucket without object lock.
    #[error("bucket {bucket} has no object lock configuration, so its objects cannot have a retention or legal hold: enable object lock on it first (PutObjectLockConfiguration, with versioning enabled)")]
    NoObjectLock {
        /// Bucket name.
        bucket: String,
    },
    /// The bucket's state refuses the change (S3's `InvalidBucketState`).
    #[error("bucket {bucket}: {detail}")]
    BucketState {
        /// Bucket name.
        bucket: String,
        /// What refused it and what to do.
        detail: String,
    },
    /// The bytes of an inline segment arrived damaged: they do not hash to the hash sent with
    /// them (nothing was stored; the PUT fails and may be retried).
    #[error("inline segment {segment:032x}: the bytes do not hash to the hash sent with them; nothing was stored, retry the request")]
    InlineDamaged {
        /// The segment.
        segment: u128,
    },
    /// A column family is missing (the database was not created by this version).
    #[error("metadata column family {name} is missing")]
    MissingColumnFamily {
        /// Column family name.
        name: &'static str,
    },
}

impl MetaError {
    pub(crate) fn db(op: &'static str) -> impl FnOnce(rocksdb::Error) -> MetaError {
        move |source| MetaError::Db { op, source }
    }
}

/// Result alias for metadata operations.
pub type MetaResult<T> = Result<T, MetaError>;
