//! Kintsugi's metadata store: buckets, object manifests, multipart uploads,
//! access keys, the disk registry, the disk → shards index, write intents and
//! garbage, all in RocksDB column families.
//!
//! Every mutation is one [`Command`] applied by [`RocksMeta::apply`]: its
//! precondition is checked and its writes made in one atomic write batch,
//! synced to RocksDB's WAL before it returns; object commits can
//! compare-and-swap on the manifest version. `apply` is deterministic, so a
//! log of commands is the store's whole history. Client reads go through [`MetaRead`],
//! whose every read first passes the log's read barrier.
//! Object keys are opaque bytes in RocksDB keys — never file paths.
//!
//! ```
//! use kintsugi_meta::{RocksMeta, Expect, Manifest, Coding, MetaRead};
//! let dir = tempfile::tempdir().unwrap();
//! let meta = RocksMeta::open(dir.path(), 0).unwrap();
//! meta.create_bucket("photos").unwrap();
//! let m = Manifest { version_id: 1, size: 0, etag: "d41d8cd98f00b204e9800998ecf8427e".into(),
//!     modified_ms: 0, content_type: None, headers: vec![], user_meta: vec![], parts: 0,
//!     coding: Coding { codec: 1, k: 4, m: 2, chunk_size: 262144 }, segments: vec![] };
//! assert!(meta.put_object("photos", "a.jpg", &m, Expect::Version(None)).unwrap().is_none());
//! assert_eq!(meta.object("photos", "a.jpg").unwrap(), Some(m));
//! ```
#![deny(unsafe_code)]

mod acl;
mod cluster_map;
mod cluster_secrets;
mod apply;
mod command;
mod command_name;
mod controls;
mod cors;
mod domains;
mod encryption;
mod error;
mod expiry;
mod export;
mod expiry_config;
mod garbage;
mod inline;
pub mod keys;
mod join_tokens;
mod label;
mod ledger;
mod lifecycle;
mod lock;
mod retention;
mod list;
mod mutate;
mod policy;
mod principals;
mod read;
mod relocate;
mod replica;
mod store;
mod tags;
mod types;
mod uploads;
mod versions;
mod versions_apply;
mod versions_list;

pub use acl::{acl_of as acl_header, ACL_HEADER};
pub use apply::{Applied, CommandLog};
pub use cluster_secrets::ClusterSecrets;
pub use command::{Command, PartStamp};
pub use controls::PublicAccessBlock;
pub use cors::CorsRule;
pub use error::{MetaError, MetaResult};
pub use expiry::{abort_upload as lifecycle_aborts_upload, decide as lifecycle_decide, expires_at as lifecycle_expires_at, midnight_after, scan_prefix as lifecycle_scan_prefix, Expiration, Expire, ExpireAt, KeyVersion, LifecycleRule, NoncurrentExpiration, RuleFilter, DAY_MS};
pub use ledger::{decode_ledger_value, encode_ledger_value, shard_bytes, Recount, Shortfalls, Totals};
pub use join_tokens::JoinTokenRecord;
pub use label::{ShardLabel, LABEL_BUDGET};
pub use list::{ListEntry, ListPage, ListQuery};
pub use retention::{rfc3339, BucketLock, LockMode, Retention, RetentionPeriod, VersionLock};
pub use read::{reads_as_of, MetaRead};
pub use relocate::{IndexedShard, OwnedSegment, ShardFileUse, ShardMove};
pub use export::{check_export, check_export_file, ExportSummary};
pub use replica::{decode_export, encode_export, Family as ExportFamily, Outcome, Refusal};
pub use store::{now_ms, Expect, RocksMeta};
pub use tags::{ObjectTagsRecord, TagSet};
pub use versions::{ExpiryExpect, FoundVersion, StoredVersion, VersionDeleted, VersionRef, Versioning};
pub use versions_list::{ListedObject, VersionEntry, VersionPage, VersionQuery};
pub use types::{decode as decode_record, encode as encode_record};
pub use types::{
    AccessKeyRecord, AccessKeyRecordV1, BucketRecord, Coding, DiskId, DiskLifecycle, DiskRecord, DrainRecord, GarbageRecord, InlineRecord, IntentRecord, Manifest, NodeRecord, PartChecksum, PartRecord, PartRecordV1, RebalanceRecord,
    SegmentId, SegmentMeta, ShardLoc, ShardOwner, UploadRecord, NO_DISK,
};

#[cfg(test)]
mod tests;
#[cfg(test)]
mod command_tests;
#[cfg(test)]
mod ledger_tests;
#[cfg(test)]
mod versions_tests;
