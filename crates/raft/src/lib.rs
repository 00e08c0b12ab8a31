//! Kintsugi's replicated metadata: the gateways' metadata command log
//! ([`kintsugi_meta::CommandLog`]) replicated with Raft by the `openraft` crate.
//!
//! - **Log** ([`log_store`]): Raft's log and vote in a RocksDB of their own (`<meta>/raft`),
//!   every append synced before Raft is told it is durable.
//! - **State machine** ([`state_machine`]): the metadata store itself. Each committed
//!   [`kintsugi_meta::Command`] is applied with [`kintsugi_meta::RocksMeta::apply_stamped`],
//!   which records the entry's log id in the same write batch, so no command is applied twice
//!   after a crash. Snapshots are streamed exports kept as files ([`kintsugi_meta::RocksMeta::export_file`]; `snapshots.rs`), never held in memory.
//! - **Network** ([`network`], [`proto`]): Raft's messages over the cluster's QUIC + mutual
//!   TLS transport, on the gateway's `--cluster-listen` endpoint under their own ALPN
//!   (`kintsugi-raft/1`). Only peers whose certificate says `gateway` are served.
//! - **Group** ([`group`]): [`MetaGroup`] is the `CommandLog` a gateway's store submits to:
//!   a write is acknowledged once a majority has committed it and this gateway has applied
//!   it; a follower forwards writes to the leader. Reads pass a read barrier: the leader
//!   confirms its leadership with a majority (read index), a follower asks the leader for
//!   that index and waits until it has applied it — so every read sees every write
//!   acknowledged before it began, on any gateway. Reads that arrive while a confirmation
//!   runs share the next one (`group/rounds.rs`).
//!
//! Pure Raft logic is openraft's; this crate only stores, carries and applies.
#![deny(unsafe_code)]

use serde::{Deserialize, Serialize};

pub mod group;
pub mod log_store;
pub mod network;
pub mod proto;
mod snapshots;
pub mod state_machine;

#[cfg(test)]
mod tests;

pub use group::{GatewayStatus, GroupConfig, GroupStatus, MetaGroup, Role, Secrets, VoteCheck};
pub use proto::{RaftRequest, RaftResponse, ALPN};

/// A gateway as the group's membership records it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayNode {
    /// The gateway's name (unique in the group).
    pub name: String,
    /// Where its cluster service (QUIC) is reached, `host:port`.
    pub cluster: String,
    /// Where its S3 endpoint is reached, `host:port`.
    pub s3: String,
}

impl std::fmt::Display for GatewayNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (cluster {}, s3 {})", self.name, self.cluster, self.s3)
    }
}

openraft::declare_raft_types!(
    /// openraft's types for the metadata group.
    pub TypeConfig:
        D = kintsugi_meta::Command,
        R = kintsugi_meta::Outcome,
        NodeId = u64,
        Node = GatewayNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = tokio::fs::File,
        AsyncRuntime = openraft::TokioRuntime,
);

/// A Raft instance of the metadata group.
pub type Raft = openraft::Raft<TypeConfig>;

/// Errors of the group outside Raft's own.
#[derive(Debug, thiserror::Error)]
pub enum RaftGroupError {
    /// The log database could not be opened or used.
    #[error("raft log store in {path}: {detail}. Check that the --meta directory is writable and not used by another kintsugi process")]
    LogStore {
        /// Its directory.
        path: String,
        /// What failed.
        detail: String,
    },
    /// openraft refused to start or to change membership.
    #[error("metadata group: {0}")]
    Raft(String),
    /// The transport failed.
    #[error(transparent)]
    Net(#[from] kintsugi_net::NetError),
    /// The metadata store failed.
    #[error(transparent)]
    Meta(#[from] kintsugi_meta::MetaError),
}

/// Encode with a version byte, then postcard.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    let mut out = vec![1u8];
    out.extend(postcard::to_allocvec(value).map_err(|e| e.to_string())?);
    Ok(out)
}

/// Decode [`encode`]'s bytes (untrusted: an error, never a panic; trailing bytes refused).
pub(crate) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    match bytes.split_first() {
        Some((1, rest)) => {
            let (v, tail) = postcard::take_from_bytes(rest).map_err(|e| e.to_string())?;
            if tail.is_empty() {
                Ok(v)
            } else {
                Err(format!("{} trailing bytes", tail.len()))
            }
        }
        Some((v, _)) => Err(format!("format version {v} is not one this build reads (1)")),
        None => Err("empty".into()),
    }
}
