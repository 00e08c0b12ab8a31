//! How a command crosses processes: its bytes ([`Command::encode`], [`Command::decode`]) and its
//! short name, for logs and metrics.

use crate::command::Command;
use crate::error::{MetaError, MetaResult};
use crate::types::{decode, encode};

impl Command {
    /// A short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Command::CreateBucket { .. } => "create_bucket",
            Command::DeleteBucket { .. } => "delete_bucket",
            Command::PutObject { .. } => "put_object",
            Command::DeleteObject { .. } => "delete_object",
            Command::CreateUpload { .. } => "create_upload",
            Command::PutPart { .. } => "put_part",
            Command::AbortUpload { .. } => "abort_upload",
            Command::CompleteUpload { .. } => "complete_upload",
            Command::PutAccessKey { .. } => "put_access_key",
            Command::PutDisks { .. } => "put_disks",
            Command::PutCluster { .. } => "put_cluster",
            Command::AddIntent { .. } => "add_intent",
            Command::IntentsToGarbage { .. } => "intents_to_garbage",
            Command::RemoveGarbage { .. } => "remove_garbage",
            Command::PutDrains { .. } => "put_drains",
            Command::PutRebalance { .. } => "put_rebalance",
            Command::RetireDisks { .. } => "retire_disks",
            Command::MoveShards { .. } => "move_shards",
            Command::MapChanged => "map_changed",
            Command::CreateOwnedBucket { .. } => "create_owned_bucket",
            Command::PutKey { .. } => "put_key",
            Command::DeleteKey { .. } => "delete_key",
            Command::AddJoinToken { .. } => "add_join_token",
            Command::UseJoinToken { .. } => "use_join_token",
            Command::RevokeJoinTokens => "revoke_join_tokens",
            Command::CompleteUploadIf { .. } => "complete_upload_if",
            Command::PutObjectTagged { .. } => "put_object_tagged",
            Command::PutObjectTags { .. } => "put_object_tags",
            Command::CreateUploadTagged { .. } => "create_upload_tagged",
            Command::PutBucketTags { .. } => "put_bucket_tags",
            Command::PutBucketCors { .. } => "put_bucket_cors",
            Command::RemoveGarbageShards { .. } => "remove_garbage_shards",
            Command::AddNodeJoinToken { .. } => "add_node_join_token",
            Command::UseJoinTokenBy { .. } => "use_join_token_by",
            Command::PutBucketPolicy { .. } => "put_bucket_policy",
            Command::PutPublicAccessBlock { .. } => "put_public_access_block",
            Command::PutBucketOwnership { .. } => "put_bucket_ownership",
            Command::PutBucketVersioning { .. } => "put_bucket_versioning",
            Command::DeleteObjectMarked { .. } => "delete_object_marked",
            Command::DeleteVersion { .. } => "delete_version",
            Command::PutVersionTags { .. } => "put_version_tags",
            Command::DeleteVersionLocked { .. } => "delete_version_locked",
            Command::PutBucketLock { .. } => "put_bucket_lock",
            Command::PutVersionLock { .. } => "put_version_lock",
            Command::PutObjectLocked { .. } => "put_object_locked",
            Command::CreateUploadLocked { .. } => "create_upload_locked",
            Command::CreateLockedBucket { .. } => "create_locked_bucket",
            Command::PutBucketLifecycle { .. } => "put_bucket_lifecycle",
            Command::ExpireVersion { .. } => "expire_version",
            Command::PutMasterKey { .. } => "put_master_key",
            Command::PutBucketEncryption { .. } => "put_bucket_encryption",
            Command::PutInline { .. } => "put_inline",
            Command::PutObjectInline { .. } => "put_object_inline",
            Command::GiveUpIntents { .. } => "give_up_intents",
            Command::PutClusterSecrets { .. } => "put_cluster_secrets",
            Command::PutBucketAcl { .. } => "put_bucket_acl",
            Command::PutVersionAcl { .. } => "put_version_acl",
            Command::PutPartWithChecksum { .. } => "put_part_with_checksum",
        }
    }
}

impl Command {
    /// The command as bytes: the metadata format-version byte, then postcard.
    pub fn encode(&self) -> MetaResult<Vec<u8>> {
        encode(self)
    }

    /// A command from [`Command::encode`]'s bytes (untrusted: a typed error, never a panic).
    /// The bytes must be exactly one command: trailing bytes are refused.
    pub fn decode(bytes: &[u8]) -> MetaResult<Self> {
        decode("command", bytes).map_err(|e| MetaError::BadCommand {
            detail: match e {
                MetaError::Corrupt { detail, .. } => detail,
                other => other.to_string(),
            },
        })
    }
}
