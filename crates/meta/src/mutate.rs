//! The mutations callers make, each built as a [`Command`] and handed to
//! [`RocksMeta::submit`] (which applies it here, or commits it through the
//! command log first when one is set). Here, and only here, commands are stamped with the
//! clock and the store's garbage delay, so `apply` itself stays deterministic.

use crate::apply::Applied;
use crate::command::{Command, PartStamp};
use crate::read::MetaRead;
use crate::error::{MetaError, MetaResult};
use crate::relocate::ShardMove;
use crate::store::{now_ms, Expect, RocksMeta};
use crate::join_tokens::JoinTokenRecord;
use crate::retention::{BucketLock, Retention, VersionLock};
use crate::versions::{VersionDeleted, VersionRef, Versioning};
use crate::types::{AccessKeyRecord, DiskId, DiskRecord, DrainRecord, IntentRecord, Manifest, NodeRecord, PartRecord, RebalanceRecord, SegmentId, ShardOwner, UploadRecord};

/// How often a completion is rebuilt when a part it read was replaced before it committed.
const COMPLETE_ATTEMPTS: usize = 8;

impl RocksMeta {
    /// When shards unreferenced now may be deleted.
    fn garbage_due(&self) -> i64 {
        now_ms().saturating_add(self.garbage_delay_ms())
    }

    /// Create a bucket owned by no key in particular: the admin keys'.
    pub fn create_bucket(&self, bucket: &str) -> MetaResult<()> {
        self.submit(&Command::CreateBucket { bucket: bucket.into(), created_ms: now_ms() }).map(drop)
    }

    /// Create a bucket owned by the access key `owner`.
    pub fn create_owned_bucket(&self, bucket: &str, owner: &str) -> MetaResult<()> {
        self.submit(&Command::CreateOwnedBucket { bucket: bucket.into(), created_ms: now_ms(), owner: owner.into() }).map(drop)
    }

    /// Delete an empty bucket; its unfinished multipart uploads are aborted.
    pub fn delete_bucket(&self, bucket: &str) -> MetaResult<()> {
        self.submit(&Command::DeleteBucket { bucket: bucket.into(), garbage_due_ms: self.garbage_due() }).map(drop)
    }

    /// Commit a new manifest for `bucket/key`; returns the replaced one (its shards become garbage).
    pub fn put_object(&self, bucket: &str, key: &str, manifest: &Manifest, expect: Expect) -> MetaResult<Option<Manifest>> {
        let cmd = Command::PutObject { bucket: bucket.into(), key: key.into(), manifest: manifest.clone(), expect, garbage_due_ms: self.garbage_due() };
        Ok(self.submit(&cmd)?.replaced())
    }

    /// Delete an object: in a bucket with versioning, a delete marker becomes its newest
    /// version. Returns the marker made and the manifest that became garbage.
    pub fn delete_object(&self, bucket: &str, key: &str, expect: Expect) -> MetaResult<VersionDeleted> {
        let (b, k, garbage_due_ms) = (bucket.to_owned(), key.to_owned(), self.garbage_due());
        // Where versioning was never set, the command older gateways of a group apply too.
        if self.local_bucket_versioning(bucket)?.is_none() {
            match self.submit(&Command::DeleteObject { bucket: b.clone(), key: k.clone(), expect, garbage_due_ms }) {
                Err(MetaError::NeedsNewerCommand { .. }) => {}
                other => return Ok(other?.deleted()),
            }
        }
        let cmd = Command::DeleteObjectMarked { bucket: b, key: k, expect, garbage_due_ms, marker_id: rand::random(), now_ms: now_ms() };
        Ok(self.submit(&cmd)?.deleted())
    }

    /// Delete one version (or delete marker) of a key for good; `ObjectLocked` while its
    /// object lock protects it (`bypass`: the caller asked to bypass GOVERNANCE retention and
    /// may).
    pub fn delete_version(&self, bucket: &str, key: &str, version: VersionRef, bypass: bool) -> MetaResult<VersionDeleted> {
        let (b, k, garbage_due_ms) = (bucket.to_owned(), key.to_owned(), self.garbage_due());
        // Where object lock is off, the command older gateways of a group apply too (it is
        // refused if a lock record turns up meanwhile).
        if self.local_bucket_lock(bucket)?.is_none() {
            match self.submit(&Command::DeleteVersion { bucket: b.clone(), key: k.clone(), version, garbage_due_ms }) {
                Err(MetaError::NeedsNewerCommand { .. }) => {}
                other => return Ok(other?.deleted()),
            }
        }
        let cmd = Command::DeleteVersionLocked { bucket: b, key: k, version, garbage_due_ms, now_ms: now_ms(), bypass };
        Ok(self.submit(&cmd)?.deleted())
    }

    /// Enable object lock on a bucket (versioning must be enabled) with `config`'s default
    /// retention.
    pub fn put_bucket_lock(&self, bucket: &str, config: &BucketLock) -> MetaResult<()> {
        self.submit(&Command::PutBucketLock { bucket: bucket.into(), config: *config }).map(drop)
    }

    /// Change the retention (`Some(None)`: remove it) and/or legal hold of one version of
    /// `bucket/key`, named by its manifest id.
    pub fn put_version_lock(&self, bucket: &str, key: &str, version_id: u128, retention: Option<Option<Retention>>, legal_hold: Option<bool>, bypass: bool) -> MetaResult<()> {
        let cmd = Command::PutVersionLock { bucket: bucket.into(), key: key.into(), version_id, retention, legal_hold, bypass, now_ms: now_ms() };
        self.submit(&cmd).map(drop)
    }

    /// Create a bucket owned by `owner` with object lock (and versioning) enabled.
    pub fn create_locked_bucket(&self, bucket: &str, owner: &str) -> MetaResult<()> {
        self.submit(&Command::CreateLockedBucket { bucket: bucket.into(), created_ms: now_ms(), owner: owner.into() }).map(drop)
    }

    /// [`RocksMeta::put_object_locked`] of a small object whose bytes, `data`, are the
    /// manifest's inline segment `segment`: the bytes and the commit in one write (one log
    /// entry in a group), instead of [`RocksMeta::put_inline`] and then the commit.
    #[allow(clippy::too_many_arguments)]
    pub fn put_object_inline(
        &self,
        bucket: &str,
        key: &str,
        manifest: &Manifest,
        expect: Expect,
        tags: &[(String, String)],
        lock: Option<&VersionLock>,
        segment: SegmentId,
        data: Vec<u8>,
    ) -> MetaResult<Option<Manifest>> {
        let hash = kintsugi_erasure::chunk_hash(&data);
        let cmd = Command::PutObjectInline {
            bucket: bucket.into(),
            key: key.into(),
            manifest: manifest.clone(),
            expect,
            garbage_due_ms: self.garbage_due(),
            tags: tags.to_vec(),
            lock: lock.copied(),
            segment,
            data,
            hash,
        };
        Ok(self.submit(&cmd)?.replaced())
    }

    /// [`RocksMeta::put_object_tagged`] whose new version gets `lock` (none: as asked for no
    /// lock; the bucket's default retention applies either way).
    pub fn put_object_locked(&self, bucket: &str, key: &str, manifest: &Manifest, expect: Expect, tags: &[(String, String)], lock: Option<&VersionLock>) -> MetaResult<Option<Manifest>> {
        let Some(lock) = lock else { return self.put_object_tagged(bucket, key, manifest, expect, tags) };
        let cmd = Command::PutObjectLocked {
            bucket: bucket.into(),
            key: key.into(),
            manifest: manifest.clone(),
            expect,
            garbage_due_ms: self.garbage_due(),
            tags: tags.to_vec(),
            lock: *lock,
        };
        Ok(self.submit(&cmd)?.replaced())
    }

    /// [`RocksMeta::create_upload_tagged`] whose object will get `lock`.
    pub fn create_upload_locked(&self, up: &UploadRecord, tags: &[(String, String)], lock: Option<&VersionLock>) -> MetaResult<()> {
        match lock {
            None => self.create_upload_tagged(up, tags),
            Some(l) => self.submit(&Command::CreateUploadLocked { upload: up.clone(), tags: tags.to_vec(), lock: *l }).map(drop),
        }
    }

    /// Replace the tags of one version (current or archived) of `bucket/key`, named by its
    /// manifest id (`VersionConflict` when the key no longer has it).
    pub fn put_version_tags(&self, bucket: &str, key: &str, version_id: u128, tags: &[(String, String)]) -> MetaResult<()> {
        self.submit(&Command::PutVersionTags { bucket: bucket.into(), key: key.into(), version_id, tags: tags.to_vec() }).map(drop)
    }

    /// Set a bucket's versioning state.
    pub fn put_bucket_versioning(&self, bucket: &str, state: Versioning) -> MetaResult<()> {
        self.submit(&Command::PutBucketVersioning { bucket: bucket.into(), state }).map(drop)
    }

    /// Record a new multipart upload.
    pub fn create_upload(&self, up: &UploadRecord) -> MetaResult<()> {
        self.submit(&Command::CreateUpload { upload: up.clone() }).map(drop)
    }

    /// Store a part (replacing any earlier upload of the same part number).
    pub fn put_part(&self, bucket: &str, key: &str, upload_id: &str, part: &PartRecord) -> MetaResult<()> {
        let (bucket, key, upload_id, garbage_due_ms) = (bucket.into(), key.into(), upload_id.into(), self.garbage_due());
        // A part without a checksum goes as command 5, which every gateway of a group reads.
        let cmd = match part.as_v1() {
            Some(part) => Command::PutPart { bucket, key, upload_id, part, garbage_due_ms },
            None => Command::PutPartWithChecksum { bucket, key, upload_id, part: part.clone(), garbage_due_ms },
        };
        self.submit(&cmd).map(drop)
    }

    /// Abort an upload: its parts become garbage.
    pub fn abort_upload(&self, bucket: &str, key: &str, upload_id: &str) -> MetaResult<()> {
        let cmd = Command::AbortUpload { bucket: bucket.into(), key: key.into(), upload_id: upload_id.into(), garbage_due_ms: self.garbage_due() };
        self.submit(&cmd).map(drop)
    }

    /// Complete an upload atomically. `build` sees the upload and all its stored parts and
    /// returns the manifest plus the part numbers it used; unused parts become garbage.
    /// The commit applies only if every used part is still the one `build` saw; when a
    /// concurrent upload replaced one, `build` runs again on the new parts. Returns the
    /// replaced object.
    pub fn complete_upload<E: From<MetaError>>(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        build: impl FnMut(&UploadRecord, &[PartRecord]) -> Result<(Manifest, Vec<u32>), E>,
    ) -> Result<Option<Manifest>, E> {
        self.complete_upload_if(bucket, key, upload_id, Expect::Any, build)
    }

    /// [`RocksMeta::complete_upload`] that commits only if the key's current version is as
    /// `expect` says (else `VersionConflict`, and the upload stays as it was).
    pub fn complete_upload_if<E: From<MetaError>>(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        expect: Expect,
        mut build: impl FnMut(&UploadRecord, &[PartRecord]) -> Result<(Manifest, Vec<u32>), E>,
    ) -> Result<Option<Manifest>, E> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            MetaRead::bucket(self, bucket)?.ok_or_else(|| MetaError::NoSuchBucket { bucket: bucket.into() })?;
            let up = MetaRead::upload(self, bucket, key, upload_id)?;
            let parts = MetaRead::list_parts(self, upload_id, 0, usize::MAX)?;
            let (manifest, used) = build(&up, &parts)?;
            let used: Vec<PartStamp> = parts.iter().filter(|p| used.contains(&p.part_number)).map(PartStamp::of).collect();
            let (bucket, key, upload_id, garbage_due_ms) = (bucket.into(), key.into(), upload_id.into(), self.garbage_due());
            // An unconditional completion keeps the command older gateways of a group can apply.
            let cmd = match expect {
                Expect::Any => Command::CompleteUpload { bucket, key, upload_id, used, manifest, garbage_due_ms },
                _ => Command::CompleteUploadIf { bucket, key, upload_id, used, manifest, garbage_due_ms, expect },
            };
            match self.submit(&cmd) {
                Ok(applied) => return Ok(applied.replaced()),
                Err(MetaError::PartsChanged { .. }) if attempt < COMPLETE_ATTEMPTS => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// [`RocksMeta::put_object`] of an object with `tags` (none: a plain `PutObject`).
    pub fn put_object_tagged(&self, bucket: &str, key: &str, manifest: &Manifest, expect: Expect, tags: &[(String, String)]) -> MetaResult<Option<Manifest>> {
        if tags.is_empty() {
            return self.put_object(bucket, key, manifest, expect);
        }
        let cmd = Command::PutObjectTagged {
            bucket: bucket.into(),
            key: key.into(),
            manifest: manifest.clone(),
            expect,
            garbage_due_ms: self.garbage_due(),
            tags: tags.to_vec(),
        };
        Ok(self.submit(&cmd)?.replaced())
    }

    /// Replace the tags of `bucket/key`, which must be at `version_id` (else `VersionConflict`).
    pub fn put_object_tags(&self, bucket: &str, key: &str, version_id: u128, tags: &[(String, String)]) -> MetaResult<()> {
        self.submit(&Command::PutObjectTags { bucket: bucket.into(), key: key.into(), version_id, tags: tags.to_vec() }).map(drop)
    }

    /// [`RocksMeta::create_upload`] whose object will carry `tags` (none: a plain `CreateUpload`).
    pub fn create_upload_tagged(&self, up: &UploadRecord, tags: &[(String, String)]) -> MetaResult<()> {
        if tags.is_empty() {
            return self.create_upload(up);
        }
        self.submit(&Command::CreateUploadTagged { upload: up.clone(), tags: tags.to_vec() }).map(drop)
    }

    /// Replace a bucket's tags (none: delete them).
    pub fn put_bucket_tags(&self, bucket: &str, tags: &[(String, String)]) -> MetaResult<()> {
        self.submit(&Command::PutBucketTags { bucket: bucket.into(), tags: tags.to_vec() }).map(drop)
    }

    /// Replace a bucket's CORS rules (none: delete the configuration).
    pub fn put_bucket_cors(&self, bucket: &str, rules: &[crate::CorsRule]) -> MetaResult<()> {
        self.submit(&Command::PutBucketCors { bucket: bucket.into(), rules: rules.to_vec() }).map(drop)
    }

    /// Delete a version the lifecycle expires, if it is still as `expect` says (else
    /// `VersionConflict`) and no object lock protects it (else `ObjectLocked`).
    pub fn expire_version(&self, bucket: &str, key: &str, version: VersionRef, expect: crate::ExpiryExpect) -> MetaResult<VersionDeleted> {
        let cmd = Command::ExpireVersion { bucket: bucket.into(), key: key.into(), version, expect, garbage_due_ms: self.garbage_due(), now_ms: now_ms() };
        Ok(self.submit(&cmd)?.deleted())
    }

    /// Set the master key of server-side encryption unless one is set (read it back with
    /// `master_key`: another gateway's may have won).
    pub fn put_master_key(&self, key: &[u8; 32]) -> MetaResult<()> {
        self.submit(&Command::PutMasterKey { key: *key }).map(drop)
    }

    /// Set the cluster's secrets unless they are set (read them back with
    /// `local_cluster_secrets`: another gateway's may have won).
    pub fn put_cluster_secrets(&self, secrets: &crate::ClusterSecrets) -> MetaResult<()> {
        self.submit(&Command::PutClusterSecrets { secrets: secrets.clone() }).map(drop)
    }

    /// Set a bucket's default encryption algorithm (empty: delete it).
    pub fn put_bucket_encryption(&self, bucket: &str, algorithm: &str) -> MetaResult<()> {
        self.submit(&Command::PutBucketEncryption { bucket: bucket.into(), algorithm: algorithm.into() }).map(drop)
    }

    /// Replace a bucket's lifecycle rules (none: delete the configuration).
    pub fn put_bucket_lifecycle(&self, bucket: &str, rules: &[crate::LifecycleRule]) -> MetaResult<()> {
        self.submit(&Command::PutBucketLifecycle { bucket: bucket.into(), rules: rules.to_vec() }).map(drop)
    }

    /// Replace a bucket's policy document (empty: delete it).
    pub fn put_bucket_policy(&self, bucket: &str, policy: &str) -> MetaResult<()> {
        self.submit(&Command::PutBucketPolicy { bucket: bucket.into(), policy: policy.into() }).map(drop)
    }

    /// Replace a bucket's public-access block (`None`: delete it).
    pub fn put_public_access_block(&self, bucket: &str, block: Option<&crate::PublicAccessBlock>) -> MetaResult<()> {
        self.submit(&Command::PutPublicAccessBlock { bucket: bucket.into(), block: block.copied() }).map(drop)
    }

    /// Replace a bucket's object ownership setting (empty: delete it).
    pub fn put_bucket_ownership(&self, bucket: &str, ownership: &str) -> MetaResult<()> {
        self.submit(&Command::PutBucketOwnership { bucket: bucket.into(), ownership: ownership.into() }).map(drop)
    }

    /// Replace a bucket's ACL (empty: back to the default).
    pub fn put_bucket_acl(&self, bucket: &str, acl: &str) -> MetaResult<()> {
        self.submit(&Command::PutBucketAcl { bucket: bucket.into(), acl: acl.into() }).map(drop)
    }

    /// Replace one version's ACL in place (empty: none) if it is still `expect`;
    /// `VersionConflict` when the key has no such version, or its ACL changed.
    pub fn put_version_acl(&self, bucket: &str, key: &str, version_id: u128, acl: &str, expect: &str) -> MetaResult<()> {
        self.submit(&Command::PutVersionAcl { bucket: bucket.into(), key: key.into(), version_id, acl: acl.into(), expect: expect.into() }).map(drop)
    }

    /// Create or replace an access key.
    pub fn put_access_key(&self, access_key: &str, rec: &AccessKeyRecord) -> MetaResult<()> {
        self.submit(&Command::PutKey { access_key: access_key.into(), record: rec.clone() }).map(drop)
    }

    /// Store a join token that admits nodes for `ttl_ms` from now, `uses` times (`None`: any
    /// number); `id` is the BLAKE3 hash of its secret.
    pub fn add_join_token(&self, id: &str, ttl_ms: i64, uses: Option<u32>) -> MetaResult<JoinTokenRecord> {
        self.add_join_token_at(id, now_ms(), ttl_ms, uses)
    }

    /// [`Self::add_join_token`] as if it were `now_ms`.
    pub fn add_join_token_at(&self, id: &str, now_ms: i64, ttl_ms: i64, uses: Option<u32>) -> MetaResult<JoinTokenRecord> {
        let record = JoinTokenRecord { created_ms: now_ms, expires_ms: now_ms.saturating_add(ttl_ms), uses_left: uses, used: 0 };
        self.submit(&Command::AddJoinToken { id: id.into(), record: record.clone(), now_ms })?;
        Ok(record)
    }

    /// Store a join token like [`Self::add_join_token`] that admits only a node named `node`,
    /// even one the cluster already has (a re-admission).
    pub fn add_node_join_token(&self, id: &str, ttl_ms: i64, uses: Option<u32>, node: &str) -> MetaResult<JoinTokenRecord> {
        self.add_node_join_token_at(id, now_ms(), ttl_ms, uses, node)
    }

    /// [`Self::add_node_join_token`] as if it were `now_ms`.
    pub fn add_node_join_token_at(&self, id: &str, now_ms: i64, ttl_ms: i64, uses: Option<u32>, node: &str) -> MetaResult<JoinTokenRecord> {
        let record = JoinTokenRecord { created_ms: now_ms, expires_ms: now_ms.saturating_add(ttl_ms), uses_left: uses, used: 0 };
        self.submit(&Command::AddNodeJoinToken { id: id.into(), record: record.clone(), node: node.into(), now_ms })?;
        Ok(record)
    }

    /// Count a join that the token `id` admitted, of `node` with public key `key` (its BLAKE3);
    /// the same join again counts nothing more (refused: `JoinTokenRefused`).
    pub fn use_join_token(&self, id: &str, node: &str, key: &[u8; 32]) -> MetaResult<()> {
        self.use_join_token_at(id, node, key, now_ms())
    }

    /// [`Self::use_join_token`] as if it were `now_ms`.
    pub fn use_join_token_at(&self, id: &str, node: &str, key: &[u8; 32], now_ms: i64) -> MetaResult<()> {
        self.submit(&Command::UseJoinTokenBy { id: id.into(), node: node.into(), key: *key, now_ms }).map(drop)
    }

    /// Revoke every join token.
    pub fn revoke_join_tokens(&self) -> MetaResult<()> {
        self.submit(&Command::RevokeJoinTokens).map(drop)
    }

    /// Delete an access key (never the last admin key).
    pub fn delete_access_key(&self, access_key: &str) -> MetaResult<()> {
        self.submit(&Command::DeleteKey { access_key: access_key.into() }).map(drop)
    }

    /// Replace the registered disks.
    pub fn put_disks(&self, disks: &[DiskRecord]) -> MetaResult<()> {
        self.submit(&Command::PutDisks { disks: disks.to_vec() }).map(drop)
    }

    /// Replace the node and disk registries in one commit.
    pub fn put_cluster(&self, nodes: &[NodeRecord], disks: &[DiskRecord]) -> MetaResult<()> {
        self.submit(&Command::PutCluster { nodes: nodes.to_vec(), disks: disks.to_vec() }).map(drop)
    }

    /// Count a change of the cluster map its records do not show; answers the new epoch.
    pub fn map_changed(&self) -> MetaResult<u64> {
        match self.submit(&Command::MapChanged)? {
            Applied::Epoch(e) => Ok(e),
            other => Err(MetaError::NotCommitted { command: "map_changed", detail: format!("the log answered {other:?}, not the new epoch") }),
        }
    }

    /// Record that shards of `segment` are about to be written (before writing
    /// them); adds to an open intent of the same segment (a re-placed shard).
    pub fn add_intent(&self, segment: SegmentId, shards: Vec<(u8, DiskId)>) -> MetaResult<()> {
        self.submit(&Command::AddIntent { segment, shards, started_ms: now_ms() }).map(drop)
    }

    /// Store the bytes of inline segment `segment` (a small object's, kept with its
    /// metadata) with a write intent, before the commit that references it.
    pub fn put_inline(&self, segment: SegmentId, data: Vec<u8>) -> MetaResult<()> {
        let hash = kintsugi_erasure::chunk_hash(&data);
        self.submit(&Command::PutInline { segment, data, hash, started_ms: now_ms() }).map(drop)
    }

    /// Turn intents into garbage due now (the write failed or was abandoned).
    pub fn intents_to_garbage(&self, segments: &[SegmentId]) -> MetaResult<()> {
        self.submit(&Command::IntentsToGarbage { segments: segments.to_vec() }).map(drop)
    }

    /// Give up `intents` (as they were read) that no writer will finish: each that is still
    /// exactly so becomes garbage due now; one a writer has added to since is left alone.
    pub fn give_up_intents(&self, intents: Vec<(SegmentId, IntentRecord)>) -> MetaResult<()> {
        self.submit(&Command::GiveUpIntents { intents }).map(drop)
    }

    /// Forget a garbage entry once its shards are deleted.
    pub fn remove_garbage(&self, segment: SegmentId) -> MetaResult<()> {
        self.submit(&Command::RemoveGarbage { segment }).map(drop)
    }

    /// Take `shards` (deleted, or no longer this entry's) out of a segment's garbage entry;
    /// shards queued since they were read stay queued.
    pub fn remove_garbage_shards(&self, segment: SegmentId, shards: Vec<(u8, DiskId)>) -> MetaResult<()> {
        self.submit(&Command::RemoveGarbageShards { segment, shards }).map(drop)
    }

    /// Replace the drain records.
    pub fn put_drains(&self, drains: &[DrainRecord]) -> MetaResult<()> {
        self.submit(&Command::PutDrains { drains: drains.to_vec() }).map(drop)
    }

    /// Record the running rebalance (`None`: it ended).
    pub fn put_rebalance_record(&self, rec: Option<&RebalanceRecord>) -> MetaResult<()> {
        self.submit(&Command::PutRebalance { record: rec.cloned() }).map(drop)
    }

    /// Remove `disks` (and the nodes named in `nodes`) from the cluster map in
    /// one commit: registry, node records, drain records, and queued garbage
    /// and intents on those disks (their files went with the disk). Refused
    /// while any of the disks still holds a committed shard.
    pub fn retire_disks(&self, disks: &[DiskId], nodes: &[String]) -> MetaResult<Vec<DiskRecord>> {
        Ok(self.submit(&Command::RetireDisks { disks: disks.to_vec(), nodes: nodes.to_vec() })?.retired())
    }

    /// Commit shard moves of one segment atomically: each move applies only
    /// if the owner still references the segment and names `from` for that
    /// shard; applied moves re-point the index, queue the old copy as garbage
    /// and clear the new copy's write intent. Returns the moves applied (the
    /// new copies of the others are the caller's garbage).
    pub fn move_shards(&self, owner: &ShardOwner, segment: SegmentId, moves: &[ShardMove]) -> MetaResult<Vec<ShardMove>> {
        let cmd = Command::MoveShards { owner: owner.clone(), segment, moves: moves.to_vec(), garbage_due_ms: self.garbage_due() };
        Ok(self.submit(&cmd)?.moved())
    }
}
