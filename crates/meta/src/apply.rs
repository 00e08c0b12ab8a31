//! Applying a [`Command`]: the one function through which metadata changes
//! ([`RocksMeta::apply`]), what it reports ([`Applied`]), and where commands are submitted
//! ([`RocksMeta::submit`], through a [`CommandLog`] when gateways are replicated).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::command::Command;
use crate::error::MetaResult;
use crate::relocate::ShardMove;
use crate::store::{Expect, RocksMeta};
use crate::types::{DiskRecord, Manifest, PartRecord};
use crate::versions::VersionDeleted;

/// What applying a command produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Applied {
    /// The writes were made; nothing to report.
    Done,
    /// The object that was replaced or deleted (its shards are now garbage), if there was one.
    Replaced(Option<Manifest>),
    /// The shard moves that applied (the new copies of the others are the caller's garbage).
    Moved(Vec<ShardMove>),
    /// The disk records that left the cluster map.
    Retired(Vec<DiskRecord>),
    /// The cluster-map epoch after the change.
    Epoch(u64),
    /// What a delete of a versioned key did.
    Deleted(VersionDeleted),
}

impl Applied {
    pub(crate) fn replaced(self) -> Option<Manifest> {
        match self {
            Applied::Replaced(m) => m,
            _ => None,
        }
    }

    pub(crate) fn moved(self) -> Vec<ShardMove> {
        match self {
            Applied::Moved(m) => m,
            _ => Vec::new(),
        }
    }

    pub(crate) fn deleted(self) -> VersionDeleted {
        match self {
            Applied::Deleted(d) => d,
            Applied::Replaced(removed) => VersionDeleted { vref: None, marker: false, removed },
            _ => VersionDeleted { vref: None, marker: false, removed: None },
        }
    }

    pub(crate) fn retired(self) -> Vec<DiskRecord> {
        match self {
            Applied::Retired(d) => d,
            _ => Vec::new(),
        }
    }
}

impl RocksMeta {
    /// Apply one command: check its precondition, then make its writes in one atomic,
    /// synced write batch. The only way metadata changes.
    pub fn apply(&self, cmd: &Command) -> MetaResult<Applied> {
        let applied = match cmd {
            Command::CreateBucket { bucket, created_ms } => self.apply_create_bucket(bucket, *created_ms, "", false).map(|()| Applied::Done),
            Command::DeleteBucket { bucket, garbage_due_ms } => self.apply_delete_bucket(bucket, *garbage_due_ms).map(|()| Applied::Done),
            Command::PutObject { bucket, key, manifest, expect, garbage_due_ms } => {
                self.apply_put_object(bucket, key, manifest, *expect, *garbage_due_ms, &[], None, None).map(Applied::Replaced)
            }
            Command::DeleteObject { bucket, key, expect, garbage_due_ms } => self.apply_delete_object(bucket, key, *expect, *garbage_due_ms, None).map(|d| Applied::Replaced(d.removed)),
            Command::DeleteObjectMarked { bucket, key, expect, garbage_due_ms, marker_id, now_ms } => {
                self.apply_delete_object(bucket, key, *expect, *garbage_due_ms, Some((*marker_id, *now_ms))).map(Applied::Deleted)
            }
            Command::DeleteVersion { bucket, key, version, garbage_due_ms } => self.apply_delete_version(bucket, key, *version, *garbage_due_ms, None).map(Applied::Deleted),
            Command::DeleteVersionLocked { bucket, key, version, garbage_due_ms, now_ms, bypass } => {
                self.apply_delete_version(bucket, key, *version, *garbage_due_ms, Some((*now_ms, *bypass))).map(Applied::Deleted)
            }
            Command::PutBucketLock { bucket, config } => self.apply_put_bucket_lock(bucket, config).map(|()| Applied::Done),
            Command::PutVersionLock { bucket, key, version_id, retention, legal_hold, bypass, now_ms } => {
                self.apply_put_version_lock(bucket, key, *version_id, *retention, *legal_hold, *bypass, *now_ms).map(|()| Applied::Done)
            }
            Command::PutVersionTags { bucket, key, version_id, tags } => self.apply_put_version_tags(bucket, key, *version_id, tags).map(|()| Applied::Done),
            Command::PutBucketVersioning { bucket, state } => self.apply_put_bucket_versioning(bucket, *state).map(|()| Applied::Done),
            Command::CreateUpload { upload } => self.apply_create_upload(upload, &[], None).map(|()| Applied::Done),
            Command::PutPart { bucket, key, upload_id, part, garbage_due_ms } => {
                self.apply_put_part(bucket, key, upload_id, &PartRecord::from(part.clone()), *garbage_due_ms).map(|()| Applied::Done)
            }
            Command::PutPartWithChecksum { bucket, key, upload_id, part, garbage_due_ms } => {
                self.apply_put_part(bucket, key, upload_id, part, *garbage_due_ms).map(|()| Applied::Done)
            }
            Command::AbortUpload { bucket, key, upload_id, garbage_due_ms } => self.apply_abort_upload(bucket, key, upload_id, *garbage_due_ms).map(|()| Applied::Done),
            Command::CompleteUpload { bucket, key, upload_id, used, manifest, garbage_due_ms } => {
                self.apply_complete_upload(bucket, key, upload_id, used, manifest, *garbage_due_ms, Expect::Any).map(Applied::Replaced)
            }
            Command::CompleteUploadIf { bucket, key, upload_id, used, manifest, garbage_due_ms, expect } => {
                self.apply_complete_upload(bucket, key, upload_id, used, manifest, *garbage_due_ms, *expect).map(Applied::Replaced)
            }
            Command::PutObjectTagged { bucket, key, manifest, expect, garbage_due_ms, tags } => {
                self.apply_put_object(bucket, key, manifest, *expect, *garbage_due_ms, tags, None, None).map(Applied::Replaced)
            }
            Command::PutObjectLocked { bucket, key, manifest, expect, garbage_due_ms, tags, lock } => {
                self.apply_put_object(bucket, key, manifest, *expect, *garbage_due_ms, tags, Some(lock), None).map(Applied::Replaced)
            }
            Command::PutObjectTags { bucket, key, version_id, tags } => self.apply_put_object_tags(bucket, key, *version_id, tags).map(|()| Applied::Done),
            Command::CreateUploadTagged { upload, tags } => self.apply_create_upload(upload, tags, None).map(|()| Applied::Done),
            Command::CreateUploadLocked { upload, tags, lock } => self.apply_create_upload(upload, tags, Some(lock)).map(|()| Applied::Done),
            Command::PutBucketTags { bucket, tags } => self.apply_put_bucket_tags(bucket, tags).map(|()| Applied::Done),
            Command::PutBucketCors { bucket, rules } => self.apply_put_bucket_cors(bucket, rules).map(|()| Applied::Done),
            Command::ExpireVersion { bucket, key, version, expect, garbage_due_ms, now_ms } => {
                self.apply_expire_version(bucket, key, *version, *expect, *garbage_due_ms, *now_ms).map(Applied::Deleted)
            }
            Command::PutMasterKey { key } => self.apply_put_master_key(key).map(|()| Applied::Done),
            Command::PutBucketEncryption { bucket, algorithm } => self.apply_put_bucket_encryption(bucket, algorithm).map(|()| Applied::Done),
            Command::PutBucketLifecycle { bucket, rules } => self.apply_put_bucket_lifecycle(bucket, rules).map(|()| Applied::Done),
            Command::RemoveGarbageShards { segment, shards } => self.apply_remove_garbage_shards(*segment, shards).map(|()| Applied::Done),
            Command::PutAccessKey { access_key, record } => self.apply_put_access_key(access_key, &record.clone().into()).map(|()| Applied::Done),
            Command::PutDisks { disks } => self.apply_put_disks(disks).map(|()| Applied::Done),
            Command::PutCluster { nodes, disks } => self.apply_put_cluster(nodes, disks).map(|()| Applied::Done),
            Command::AddIntent { segment, shards, started_ms } => self.apply_add_intent(*segment, shards, *started_ms).map(|()| Applied::Done),
            Command::IntentsToGarbage { segments } => self.apply_intents_to_garbage(segments).map(|()| Applied::Done),
            Command::GiveUpIntents { intents } => self.apply_give_up_intents(intents).map(|()| Applied::Done),
            Command::PutClusterSecrets { secrets } => self.apply_put_cluster_secrets(secrets).map(|()| Applied::Done),
            Command::RemoveGarbage { segment } => self.apply_remove_garbage(*segment).map(|()| Applied::Done),
            Command::PutDrains { drains } => self.apply_put_drains(drains).map(|()| Applied::Done),
            Command::PutRebalance { record } => self.apply_put_rebalance(record.as_ref()).map(|()| Applied::Done),
            Command::RetireDisks { disks, nodes } => self.apply_retire_disks(disks, nodes).map(Applied::Retired),
            Command::MoveShards { owner, segment, moves, garbage_due_ms } => self.apply_move_shards(owner, *segment, moves, *garbage_due_ms).map(Applied::Moved),
            Command::MapChanged => self.apply_map_changed().map(Applied::Epoch),
            Command::CreateOwnedBucket { bucket, created_ms, owner } => self.apply_create_bucket(bucket, *created_ms, owner, false).map(|()| Applied::Done),
            Command::CreateLockedBucket { bucket, created_ms, owner } => self.apply_create_bucket(bucket, *created_ms, owner, true).map(|()| Applied::Done),
            Command::PutKey { access_key, record } => self.apply_put_access_key(access_key, record).map(|()| Applied::Done),
            Command::DeleteKey { access_key } => self.apply_delete_access_key(access_key).map(|()| Applied::Done),
            Command::AddJoinToken { id, record, now_ms } => self.apply_add_join_token(id, record, None, *now_ms).map(|()| Applied::Done),
            Command::AddNodeJoinToken { id, record, node, now_ms } => self.apply_add_join_token(id, record, Some(node), *now_ms).map(|()| Applied::Done),
            Command::UseJoinToken { id, node, now_ms } => self.apply_use_join_token(id, node, None, *now_ms).map(|()| Applied::Done),
            Command::UseJoinTokenBy { id, node, key, now_ms } => self.apply_use_join_token(id, node, Some(key), *now_ms).map(|()| Applied::Done),
            Command::PutBucketPolicy { bucket, policy } => self.apply_put_bucket_policy(bucket, policy).map(|()| Applied::Done),
            Command::PutPublicAccessBlock { bucket, block } => self.apply_put_public_access_block(bucket, block.as_ref()).map(|()| Applied::Done),
            Command::PutBucketOwnership { bucket, ownership } => self.apply_put_bucket_ownership(bucket, ownership).map(|()| Applied::Done),
            Command::PutBucketAcl { bucket, acl } => self.apply_put_bucket_acl(bucket, acl).map(|()| Applied::Done),
            Command::PutVersionAcl { bucket, key, version_id, acl, expect } => self.apply_put_version_acl(bucket, key, *version_id, acl, expect).map(|()| Applied::Done),
            Command::PutInline { segment, data, hash, started_ms } => self.apply_put_inline(*segment, data, hash, *started_ms).map(|()| Applied::Done),
            Command::RevokeJoinTokens => self.apply_revoke_join_tokens().map(|()| Applied::Done),
            Command::PutObjectInline { bucket, key, manifest, expect, garbage_due_ms, tags, lock, segment, data, hash } => {
                let inline = crate::inline::InlinePut { segment: *segment, data, hash };
                self.apply_put_object(bucket, key, manifest, *expect, *garbage_due_ms, tags, lock.as_ref(), Some(inline)).map(Applied::Replaced)
            }
        };
        applied
    }

    /// Make every mutation from now on go through `log` instead of being applied here at
    /// once; refused (returning the log back) when a log is already set.
    pub fn set_log(&self, log: Arc<dyn CommandLog>) -> Result<(), Arc<dyn CommandLog>> {
        self.log.set(log)
    }

    /// Commit one mutation: through the command log when one is set, else by applying it
    /// here. Every mutating function of the store (`mutate.rs`) ends here, and nothing else
    /// writes metadata but [`RocksMeta::apply`].
    pub fn submit(&self, cmd: &Command) -> MetaResult<Applied> {
        match self.log.get() {
            Some(log) => log.submit(cmd),
            None => self.apply(cmd),
        }
    }
}

/// Where a gateway's metadata mutations go. Alone (the embedded store, one gateway) there
/// is no log: [`RocksMeta::submit`] applies a command at once. With replicated gateways the
/// log is the replicated one: `submit` returns once a majority has committed the command,
/// and every replica's state machine applies it with [`RocksMeta::apply`] in log order
/// (which is why `apply` is deterministic and every command carries its own times).
pub trait CommandLog: Send + Sync {
    /// Commit `cmd` and return what applying it did. Called from blocking threads (the store
    /// is used off the async executor), so it may block until the commit.
    fn submit(&self, cmd: &Command) -> MetaResult<Applied>;

    /// Return once this replica has applied every command committed before the call (with
    /// Raft: a read index confirmed by a majority, then applied up to it), or an error such
    /// as [`MetaError::NotCommitted`] when that cannot be known (no quorum). Every client
    /// read ([`crate::MetaRead`]) calls it first; called from blocking threads like `submit`.
    fn read_barrier(&self) -> MetaResult<()>;

    /// Return once this replica has applied every command committed before `since`, a moment
    /// no later than the call (the start of the request the read serves). A log may answer it
    /// with a confirmation that began after `since` instead of one of its own; without that it
    /// is [`CommandLog::read_barrier`]. Sound because a replica's state only moves forward and
    /// [`CommandLog::submit`] returns only once this replica applied the command: a request
    /// that writes and then reads sees its write (or, after a refused compare, the winner).
    fn read_barrier_since(&self, since: std::time::Instant) -> MetaResult<()> {
        let _ = since;
        self.read_barrier()
    }
}
