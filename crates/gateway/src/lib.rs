//! The Kintsugi gateway: the S3 API over HTTP (via `s3s`), the PUT and GET
//! pipelines that turn objects into erasure-coded, BLAKE3-verified shards on
//! disks, read-repair, garbage collection and the `/metrics` endpoint.
//!
//! One [`Store`] is the shared context of a gateway; [`serve`] runs the HTTP
//! front over it and [`spawn_workers`] the background workers.
#![deny(unsafe_code)]

mod admin;
mod cluster;
mod drain;
mod error;
mod get;
mod heal;
mod http;
mod ledger;
mod lifecycle;
mod metrics;
mod put;
mod rebalance;
mod rebuild;
mod repair;
mod s3;
mod scrub;
mod spread;
mod store;

pub use admin::{object_report, status_report, AdminRoute, ObjectReport, ShardHealth, StatusReport, ADMIN_BUCKET};
pub use cluster::{ClusterConfig, ClusterMap, ClusterService, NodeReport, NodeState};
pub use error::{GatewayError, GwResult};
pub use drain::{cancel_drain, drain_report, start_drain, DrainReport};
pub use get::read_range;
pub use heal::{repair_report, RepairConfig, RepairReport, RepairStats};
pub use http::serve;
pub use metrics::Metrics;
pub use put::{write_body, Owner, Written};
pub use repair::tokio_util_shim::{cancel_pair, CancelSource, CancelToken};
pub use repair::{gc_pass, recover_at_startup, repair_segment, spawn_workers};
pub use s3::KintsugiS3;
pub use scrub::{scrub_pass, ScrubConfig, ScrubReport, ScrubStats};
pub use store::{Coded, RepairRequest, Store, StoreConfig, DEFAULT_SEGMENT_SIZE};
