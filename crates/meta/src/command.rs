//! The metadata seam: every mutation of the metadata is one [`Command`] — its
//! preconditions (the compare of a compare-and-swap) and its writes — applied by
//! one function, [`RocksMeta::apply`].
//!
//! `apply` is deterministic: what it writes depends only on the command and the
//! state it finds, never on the clock, randomness or the process's configuration.
//! Times a mutation needs (a bucket's creation, when garbage falls due, when an
//! intent started) travel inside the command, stamped by whoever builds it (the
//! wrappers in `mutate.rs`). So a log of encoded commands, applied in order to an
//! empty store, rebuilds the same store byte for byte — the property a replicated
//! log needs of its state machine. A command whose precondition fails writes
//! nothing and fails the same way wherever it is applied.
//!
//! Commands cross processes and outlive versions: `Command::encode` (`command_name.rs`) writes the
//! metadata format-version byte and postcard; new variants and fields are only
//! ever appended (see `docs/formats.md`).

use serde::{Deserialize, Serialize};

use crate::join_tokens::JoinTokenRecord;
use crate::relocate::ShardMove;
use crate::controls::PublicAccessBlock;
use crate::cors::CorsRule;
use crate::expiry::LifecycleRule;
use crate::retention::{BucketLock, Retention, VersionLock};
use crate::tags::TagSet;
use crate::versions::{ExpiryExpect, VersionRef, Versioning};
use crate::store::Expect;
pub use crate::types::PartStamp;
use crate::types::{AccessKeyRecord, AccessKeyRecordV1, DiskId, DiskRecord, DrainRecord, IntentRecord, Manifest, NodeRecord, PartRecord, PartRecordV1, RebalanceRecord, SegmentId, ShardOwner, UploadRecord};

/// One mutation of the metadata store. Each variant's documentation says its
/// precondition (when it fails, nothing is written) and its writes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// Create a bucket with no owner (it belongs to the admin keys): as written before buckets
    /// had owners, kept so such a log still applies. Precondition: it does not exist.
    CreateBucket {
        /// Bucket name.
        bucket: String,
        /// Creation time, ms since the epoch.
        created_ms: i64,
    },
    /// Delete an empty bucket; its unfinished uploads are aborted (their parts become garbage).
    /// Precondition: it exists and holds no object.
    DeleteBucket {
        /// Bucket name.
        bucket: String,
        /// When the aborted parts' shards may be deleted.
        garbage_due_ms: i64,
    },
    /// Commit a manifest for `bucket/key`; the replaced object's shards become garbage.
    /// Precondition: the bucket exists and the current version is as `expect` says.
    PutObject {
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
        /// The new manifest.
        manifest: Manifest,
        /// The compare of the compare-and-swap.
        expect: Expect,
        /// When the replaced object's shards may be deleted.
        garbage_due_ms: i64,
    },
    /// Delete an object; its shards become garbage. Precondition: the bucket exists and the
    /// current version is as `expect` says (a missing object is not an error).
    DeleteObject {
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
        /// The compare of the compare-and-swap.
        expect: Expect,
        /// When the deleted object's shards may be deleted.
        garbage_due_ms: i64,
    },
    /// Record a new multipart upload. Precondition: its bucket exists.
    CreateUpload {
        /// The upload.
        upload: UploadRecord,
    },
    /// Store a part, replacing an earlier upload of the same number (which becomes garbage).
    /// Precondition: the upload exists.
    PutPart {
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
        /// Upload id.
        upload_id: String,
        /// The part (as parts were before they kept checksums: one with a checksum is
        /// `PutPartWithChecksum`).
        part: PartRecordV1,
        /// When a replaced part's shards may be deleted.
        garbage_due_ms: i64,
    },
    /// Abort an upload: its parts become garbage. Precondition: the upload exists.
    AbortUpload {
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
        /// Upload id.
        upload_id: String,
        /// When the parts' shards may be deleted.
        garbage_due_ms: i64,
    },
    /// Complete an upload: `manifest` becomes the object, the parts in `used` move into it,
    /// every other part and the replaced object become garbage. Precondition: the bucket and
    /// the upload exist and every part in `used` is still the one stored.
    CompleteUpload {
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
        /// Upload id.
        upload_id: String,
        /// The parts the manifest was built from, as they were read.
        used: Vec<PartStamp>,
        /// The object's manifest.
        manifest: Manifest,
        /// When unused parts' and the replaced object's shards may be deleted.
        garbage_due_ms: i64,
    },
    /// Create or replace an admin access key: as written before keys had roles (every such key
    /// was a root key), kept so such a log still applies.
    PutAccessKey {
        /// Access key id.
        access_key: String,
        /// Its record.
        record: AccessKeyRecordV1,
    },
    /// Replace the disk registry.
    PutDisks {
        /// Every registered disk.
        disks: Vec<DiskRecord>,
    },
    /// Replace the node and disk registries together.
    PutCluster {
        /// Every storage node.
        nodes: Vec<NodeRecord>,
        /// Every registered disk.
        disks: Vec<DiskRecord>,
    },
    /// Record that shards of `segment` are about to be written, adding to an open intent of
    /// the same segment (which keeps its start time).
    AddIntent {
        /// Segment id.
        segment: SegmentId,
        /// (shard index, disk) about to be written.
        shards: Vec<(u8, DiskId)>,
        /// When the write started.
        started_ms: i64,
    },
    /// Turn the open intents of `segments` into garbage due at once (the write failed).
    IntentsToGarbage {
        /// Segment ids.
        segments: Vec<SegmentId>,
    },
    /// Forget a garbage entry whose shards are deleted.
    RemoveGarbage {
        /// Segment id.
        segment: SegmentId,
    },
    /// Replace the drain records.
    PutDrains {
        /// Every disk being drained or decommissioned.
        drains: Vec<DrainRecord>,
    },
    /// Record the running rebalance (`None`: it ended).
    PutRebalance {
        /// The rebalance.
        record: Option<RebalanceRecord>,
    },
    /// Remove `disks` and the nodes named in `nodes` from the cluster map: registry, node
    /// records, drain records, their counters and queued garbage and intents. Precondition:
    /// no committed shard is indexed on any of the disks.
    RetireDisks {
        /// Disk ids.
        disks: Vec<DiskId>,
        /// Node names.
        nodes: Vec<String>,
    },
    /// Move shards of one segment: each move applies only if `owner` still references the
    /// segment and names `from` for that shard (the compare, per move); applied moves
    /// re-point the index, queue the old copy as garbage and clear the new copy's intent.
    MoveShards {
        /// What references the segment.
        owner: ShardOwner,
        /// Segment id.
        segment: SegmentId,
        /// The moves.
        moves: Vec<ShardMove>,
        /// When the old copies may be deleted.
        garbage_due_ms: i64,
    },
    /// The cluster map changed in a way its records do not show (a node went down or came
    /// back, a zone label, a gateway restart): its epoch grows by one.
    MapChanged,
    /// Create a bucket owned by `owner` (an access key; empty: the admin keys).
    /// Precondition: it does not exist.
    CreateOwnedBucket {
        /// Bucket name.
        bucket: String,
        /// Creation time, ms since the epoch.
        created_ms: i64,
        /// The owning access key.
        owner: String,
    },
    /// Create or replace an access key.
    PutKey {
        /// Access key id.
        access_key: String,
        /// Its record.
        record: AccessKeyRecord,
    },
    /// Delete an access key. Precondition: it exists and is not the last admin key.
    DeleteKey {
        /// Access key id.
        access_key: String,
    },
    /// Store a new join token for storage nodes; every token expired at `now_ms` is dropped.
    AddJoinToken {
        /// Its id: the BLAKE3 hash of its secret, hex.
        id: String,
        /// The token.
        record: JoinTokenRecord,
        /// When this was stamped, ms since the epoch.
        now_ms: i64,
    },
    /// Count one join admitted by a token. Precondition: the token exists, has not expired at
    /// `now_ms` and has a use left.
    UseJoinToken {
        /// The token's id.
        id: String,
        /// The node it admitted (for the log).
        node: String,
        /// When the join was stamped, ms since the epoch.
        now_ms: i64,
    },
    /// Revoke every join token.
    RevokeJoinTokens,
    /// [`Command::CompleteUpload`] with a compare on the object it replaces (a conditional
    /// CompleteMultipartUpload: If-Match, If-None-Match: `*`). Precondition: that of
    /// `CompleteUpload`, and the key's current version is as `expect` says.
    CompleteUploadIf {
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
        /// Upload id.
        upload_id: String,
        /// The parts the manifest was built from, as they were read.
        used: Vec<PartStamp>,
        /// The object's manifest.
        manifest: Manifest,
        /// When unused parts' and the replaced object's shards may be deleted.
        garbage_due_ms: i64,
        /// What the key's current version must be.
        expect: Expect,
    },
    /// [`Command::PutObject`] of an object with tags (a PUT or CopyObject with `x-amz-tagging`
    /// or a copied tag set): the manifest and its tags in one write.
    PutObjectTagged {
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
        /// The new version's manifest.
        manifest: Manifest,
        /// What the current version must be.
        expect: Expect,
        /// When the replaced object's shards may be deleted.
        garbage_due_ms: i64,
        /// The new version's tags.
        tags: TagSet,
    },
    /// Replace the tags of an object version (none: delete them). Precondition: the bucket
    /// exists and the key's current version is `version_id`.
    PutObjectTags {
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
        /// The version tagged.
        version_id: u128,
        /// The tags.
        tags: TagSet,
    },
    /// [`Command::CreateUpload`] whose object will carry `tags` once completed.
    CreateUploadTagged {
        /// The upload.
        upload: UploadRecord,
        /// The tags.
        tags: TagSet,
    },
    /// Replace a bucket's tags (none: delete them). Precondition: the bucket exists.
    PutBucketTags {
        /// Bucket name.
        bucket: String,
        /// The tags.
        tags: TagSet,
    },
    /// Replace a bucket's CORS rules (none: delete the configuration). Precondition: the
    /// bucket exists.
    PutBucketCors {
        /// Bucket name.
        bucket: String,
        /// The rules.
        rules: Vec<CorsRule>,
    },
    /// Take the shards garbage collection has dealt with out of a segment's garbage entry,
    /// deleting the entry once none is left. Shards queued meanwhile (by a delete, a move or
    /// a commit) stay; `RemoveGarbage` dropped them with the entry.
    RemoveGarbageShards {
        /// Segment id.
        segment: SegmentId,
        /// (shard index, disk) pairs done with.
        shards: Vec<(u8, DiskId)>,
    },
    /// [`Command::AddJoinToken`] of a token that admits only the node named `node`, whether
    /// or not the cluster has one (a re-admission: `admin join-token --node NAME`).
    AddNodeJoinToken {
        /// Its id: the BLAKE3 hash of its secret, hex.
        id: String,
        /// The token.
        record: JoinTokenRecord,
        /// The one node name it admits.
        node: String,
        /// When this was stamped, ms since the epoch.
        now_ms: i64,
    },
    /// [`Command::UseJoinToken`] for the joiner's key `key` (the BLAKE3 of its CSR's public
    /// key), which is recorded: the same token, name and key again (a join retried after its
    /// answer was lost) is admitted without counting another use.
    UseJoinTokenBy {
        /// The token's id.
        id: String,
        /// The name it admits (`gateway`, for a gateway).
        node: String,
        /// BLAKE3 of the joiner's public key.
        key: [u8; 32],
        /// When the join was stamped, ms since the epoch.
        now_ms: i64,
    },
    /// Replace a bucket's policy document (empty: delete it). Precondition: the bucket exists.
    PutBucketPolicy {
        /// Bucket name.
        bucket: String,
        /// The policy document, as given (checked by the front end).
        policy: String,
    },
    /// Replace a bucket's public-access block (none: delete it). Precondition: the bucket
    /// exists.
    PutPublicAccessBlock {
        /// Bucket name.
        bucket: String,
        /// The four switches.
        block: Option<PublicAccessBlock>,
    },
    /// Replace a bucket's object ownership setting (empty: delete it). Precondition: the
    /// bucket exists.
    PutBucketOwnership {
        /// Bucket name.
        bucket: String,
        /// `BucketOwnerEnforced`, `BucketOwnerPreferred` or `ObjectWriter`.
        ownership: String,
    },
    /// Set a bucket's versioning state. Precondition: the bucket exists.
    PutBucketVersioning {
        /// Bucket name.
        bucket: String,
        /// Enabled or suspended.
        state: Versioning,
    },
    /// `DeleteObject` that also works in a bucket with versioning: there the current version
    /// is archived (or, being the `null` version of a suspended bucket, becomes garbage) and
    /// the delete marker `marker_id` made at `now_ms` becomes the newest version.
    /// Precondition: the bucket exists, `expect` holds, and the key has no U+0000 when the
    /// bucket has versioning.
    DeleteObjectMarked {
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
        /// Compare on the current version.
        expect: Expect,
        /// When shards that become garbage may be deleted.
        garbage_due_ms: i64,
        /// Id of the delete marker (used only where versioning is on).
        marker_id: u128,
        /// Its time, ms since the epoch.
        now_ms: i64,
    },
    /// Delete one version (or delete marker) of a key for good; when it is the current
    /// version, the newest archived one takes its place. Precondition: the bucket exists (a
    /// version that does not exist is no error and writes nothing).
    DeleteVersion {
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
        /// The version.
        version: VersionRef,
        /// When its shards may be deleted.
        garbage_due_ms: i64,
    },
    /// Replace the tags of one version of a key, current or archived, named by its manifest
    /// id. Precondition: the bucket exists and the key has that version (else
    /// `VersionConflict`).
    PutVersionTags {
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
        /// The version's manifest id (`Manifest::version_id`).
        version_id: u128,
        /// The tags (empty: none).
        tags: Vec<(String, String)>,
    },
    /// [`Command::DeleteVersion`] that honours object lock: refused (`ObjectLocked`, nothing
    /// written) while the version is under a legal hold or retained at `now_ms` — in
    /// GOVERNANCE mode only without `bypass`. `DeleteVersion` deletes no locked version.
    DeleteVersionLocked {
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
        /// The version.
        version: VersionRef,
        /// When its shards may be deleted.
        garbage_due_ms: i64,
        /// When the delete was asked, ms since the epoch.
        now_ms: i64,
        /// The caller asked to bypass GOVERNANCE retention and may.
        bypass: bool,
    },
    /// Enable object lock on a bucket and set its default retention. Precondition: the bucket
    /// exists with versioning `Enabled` (else `BucketState`).
    PutBucketLock {
        /// Bucket name.
        bucket: String,
        /// The configuration.
        config: BucketLock,
    },
    /// Change one version's retention (`Some(None)`: remove it) and/or legal hold, the version
    /// named by its manifest id. Precondition: object lock is enabled, the key has the version,
    /// and a retention running at `now_ms` is only extended (or, GOVERNANCE with `bypass`,
    /// changed at will).
    PutVersionLock {
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
        /// The version's manifest id.
        version_id: u128,
        /// The new retention, if it changes.
        retention: Option<Option<Retention>>,
        /// The new legal hold, if it changes.
        legal_hold: Option<bool>,
        /// The caller asked to bypass GOVERNANCE retention and may.
        bypass: bool,
        /// When it was asked, ms since the epoch.
        now_ms: i64,
    },
    /// [`Command::PutObjectTagged`] whose new version gets `lock` (with the bucket's default
    /// retention when `lock` has none). Precondition also: object lock is enabled.
    PutObjectLocked {
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
        /// The new version's manifest.
        manifest: Manifest,
        /// What the current version must be.
        expect: Expect,
        /// When the replaced object's shards may be deleted.
        garbage_due_ms: i64,
        /// The new version's tags.
        tags: TagSet,
        /// Its retention and legal hold.
        lock: VersionLock,
    },
    /// [`Command::CreateUploadTagged`] whose object will get `lock` once completed.
    /// Precondition also: object lock is enabled.
    CreateUploadLocked {
        /// The upload.
        upload: UploadRecord,
        /// The tags.
        tags: TagSet,
        /// The retention and legal hold.
        lock: VersionLock,
    },
    /// [`Command::CreateOwnedBucket`] of a bucket with object lock (and so versioning)
    /// enabled from the start, without a default retention.
    CreateLockedBucket {
        /// Bucket name.
        bucket: String,
        /// Creation time, ms since the epoch.
        created_ms: i64,
        /// The owning access key.
        owner: String,
    },
    /// Replace a bucket's lifecycle rules (none: delete the configuration). Precondition: the
    /// bucket exists.
    PutBucketLifecycle {
        /// Bucket name.
        bucket: String,
        /// The rules.
        rules: Vec<LifecycleRule>,
    },
    /// Delete a version the lifecycle expires, as [`Command::DeleteVersionLocked`] without a
    /// bypass. Precondition: the bucket exists and the version is as `expect` says (else
    /// `VersionConflict`): a version written since the lifecycle looked is never expired.
    ExpireVersion {
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
        /// The version.
        version: VersionRef,
        /// What the lifecycle saw of it.
        expect: ExpiryExpect,
        /// When its shards may be deleted.
        garbage_due_ms: i64,
        /// The lifecycle's time (object lock is checked against it).
        now_ms: i64,
    },
    /// Set the cluster master key of server-side encryption, unless one is set (then nothing
    /// is written: the first writer wins).
    PutMasterKey {
        /// The key.
        key: [u8; 32],
    },
    /// Set a bucket's default encryption algorithm (empty: delete it). Precondition: the
    /// bucket exists.
    PutBucketEncryption {
        /// Bucket name.
        bucket: String,
        /// The algorithm (`AES256`).
        algorithm: String,
    },
    /// Write the bytes of an inline segment (a small object kept with its metadata) and a
    /// write intent for it, before the commit that references it (see `inline.rs`; written
    /// unsynced, as that commit syncs it). Precondition: `data` hashes to `hash` (else
    /// `InlineDamaged`).
    PutInline {
        /// The segment.
        segment: SegmentId,
        /// Its bytes.
        data: Vec<u8>,
        /// BLAKE3 of `data`.
        hash: [u8; 32],
        /// When the write started (the intent's time).
        started_ms: i64,
    },
    /// Commit a small object and its bytes in one write (one log entry in a group, where
    /// [`Command::PutInline`] then a commit take two): [`Command::PutObjectLocked`] — or
    /// [`Command::PutObjectTagged`] when `lock` is `None` — that also stores `data` as the
    /// bytes of the manifest's inline segment `segment`. No intent is needed: nothing is
    /// written unless the whole commit is. Precondition also: the manifest names `segment` as
    /// an inline segment of `data.len()` bytes and `data` hashes to `hash` (else
    /// `InlineDamaged`).
    PutObjectInline {
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
        /// The new version's manifest.
        manifest: Manifest,
        /// What the current version must be.
        expect: Expect,
        /// When the replaced object's shards may be deleted.
        garbage_due_ms: i64,
        /// The new version's tags.
        tags: TagSet,
        /// Its retention and legal hold, if asked for.
        lock: Option<VersionLock>,
        /// The inline segment.
        segment: SegmentId,
        /// Its bytes.
        data: Vec<u8>,
        /// BLAKE3 of `data`.
        hash: [u8; 32],
    },
    /// Replace a bucket's ACL (empty: back to the default, its owner's `FULL_CONTROL`), as
    /// the front end spells it. Precondition: the bucket exists.
    PutBucketAcl {
        /// Bucket name.
        bucket: String,
        /// The ACL.
        acl: String,
    },
    /// Replace the ACL (the manifest header [`crate::ACL_HEADER`]; empty: none) of the version
    /// of `bucket/key` whose manifest id is `version_id`, current or archived, in place.
    /// Precondition: the bucket exists, the key has that version and its ACL is still
    /// `expect` (else `VersionConflict`: a compare-and-swap, so a change made on an ACL read
    /// before another change is refused rather than undoing it).
    PutVersionAcl {
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
        /// The version's manifest id.
        version_id: u128,
        /// The ACL.
        acl: String,
        /// The ACL the version must have now (empty: none).
        expect: String,
    },
    /// `PutPart` for a part with a checksum: store it, replacing an earlier upload of the same
    /// number (which becomes garbage). Precondition: the upload exists.
    PutPartWithChecksum {
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
        /// Upload id.
        upload_id: String,
        /// The part.
        part: PartRecord,
        /// When a replaced part's shards may be deleted.
        garbage_due_ms: i64,
    },
    /// Give up write intents no writer will finish (the intent sweep): each becomes garbage
    /// due at once, as [`Command::IntentsToGarbage`] — but only while the segment's intent is
    /// still exactly the record given (a compare-and-swap: an intent a writer added to since
    /// it was read is left alone).
    GiveUpIntents {
        /// (segment, its intent as the sweep read it).
        intents: Vec<(SegmentId, IntentRecord)>,
    },
    /// Set the cluster's secrets (its CA and join secrets), unless they are set (then nothing
    /// is written: the first writer wins).
    PutClusterSecrets {
        /// The secrets.
        secrets: crate::ClusterSecrets,
    },
}
