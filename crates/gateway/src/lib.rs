//! The Kintsugi S3 front end: the S3 API over HTTP (via `s3s`, SigV4 against the access
//! keys in the metadata store), the PUT and GET pipelines that turn objects into
//! erasure-coded, BLAKE3-verified shards and back, the admin API and `/metrics`.
//!
//! Everything below the pipelines — the store context, the cluster map, the segment reader,
//! rebuilds, the ledger and the background workers — is `kintsugi-cluster`. [`serve`] runs
//! the HTTP front over a [`Gateway`].
#![deny(unsafe_code)]

mod access;
mod acl;
mod admin;
mod admin_keys;
mod admin_util;
mod backup;
mod body;
mod cors;
mod error;
mod forward;
mod get;
mod http;
mod join_tokens;
mod overload;
mod policy;
mod put;
mod recover;
mod request_id;
mod s3;
mod sse;
mod sse_io;
mod sigv2_date;
mod vhost;
pub mod tls;
#[cfg(test)]
mod move_gc_tests;
#[cfg(test)]
mod reads_tests;
#[cfg(test)]
mod sweep_tests;

use std::sync::Arc;

use kintsugi_cluster::{ClusterMap, Store, Workers};

pub use access::Principal;
pub use backup::{BackupEnd, BackupKind, BackupManifest, BackupSource, BACKUP_END, BACKUP_FORMAT, BACKUP_MANIFEST};
pub use admin::{group_report, object_report, status_report, AdminRoute, GroupReport, ObjectReport, ShardHealth, StatusReport, ADMIN_BUCKET};
pub use error::{GatewayError, GwResult};
pub use get::read_range;
pub use http::{serve, HttpLimits};
pub use admin_util::query_value as admin_query_value;
pub use policy::probe as policy_probe;
pub use join_tokens::{JoinMint, MintedToken, TokenAdmission, DEFAULT_TTL as DEFAULT_JOIN_TOKEN_TTL};
pub use put::{write_body, Owner, Written};
pub use recover::{rebuild_metadata, RebuildReport};
pub use s3::KintsugiS3;
pub use vhost::Domains;

/// What one gateway's HTTP front serves: the store, its background workers, and — in a
/// cluster — the cluster map and the join token storage nodes present (a secret, served to
/// admins only).
#[derive(Debug)]
pub struct Gateway {
    /// The background workers (and through them, the store).
    pub workers: Arc<Workers>,
    /// The cluster map (`None` in the embedded store).
    pub map: Option<Arc<ClusterMap>>,
    /// What the join tokens it makes for storage nodes hold (`None` in the embedded store).
    pub join: Option<JoinMint>,
    /// Where its metadata lives, for `kintsugi admin meta backup`.
    pub backup: BackupSource,
    /// Its metadata group (`None` in the embedded store).
    pub group: Option<GroupAdmin>,
}

/// A gateway's metadata group, as the admin API serves it.
#[derive(Clone)]
pub struct GroupAdmin {
    /// This gateway's replica.
    pub group: Arc<kintsugi_raft::MetaGroup>,
    /// The S3 endpoint's TLS identity when it speaks HTTPS (`None`: HTTP). Admin requests are
    /// then forwarded to the leader over HTTPS, trusting what [`tls::TlsServer::forward_client`] names.
    pub tls: Option<Arc<tls::TlsServer>>,
}

impl std::fmt::Debug for GroupAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupAdmin").field("id", &self.group.id()).finish_non_exhaustive()
    }
}

impl Gateway {
    /// The shared store context.
    pub fn store(&self) -> &Arc<Store> {
        self.workers.store()
    }
}
