//! Shard access, local or remote. [`ShardStore`] is the one seam the gateway's
//! PUT, GET, repair and GC paths use: [`LocalShards`] is a disk in this
//! process (the embedded server), [`RemoteShards`] a disk on a storage node
//! reached over QUIC. [`NodeService`] is the storage node's side of that
//! protocol and [`run_heartbeats`] its periodic report to every gateway. [`proto`] is the shard
//! protocol itself (the messages; [`records`] lays out their bodies and reads them), carried in `kintsugi_net`'s
//! generic frames.
//!
//! Knows nothing of S3 or metadata.
#![deny(unsafe_code)]

mod error;
mod grants;
mod heartbeat;
mod local;
mod node;
pub mod proto;
mod rebuild;
pub mod records;
mod remote;
mod segment;
mod shards;

pub use error::{ShardError, ShardResult};
pub use grants::MAX_GRANT;
pub use local::LocalShards;
pub use heartbeat::{read_list, run_heartbeats, Heartbeats, Renewal, SaveIdentity};
pub use node::{disk_reports, open_node_disks, NodeCounters, NodeDisks, NodeService};
pub use proto::{DiskReport, ErrorCode, ListedShard, Request, Response, ShardRead, ShardSource, COUNTER_REFUSED};
pub use records::{disk_error_code, shard_error_from_remote};
pub use remote::{NodeLink, RemoteShards};
pub use segment::{rebuild_stripes, ReadCounters, RebuildOutcome, RebuildTarget, SegmentError, ShardSlot, StripeReader, DEFAULT_HEDGE_AFTER};
pub use shards::{ChunkRx, DiskInfo, FoundShard, ShardPage, ShardStore, ShardWrite, WriteError, LIST_PAGE_BYTES};

#[cfg(test)]
mod segment_tests;
#[cfg(test)]
mod tests;
