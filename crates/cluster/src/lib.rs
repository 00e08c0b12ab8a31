//! The cluster side of a Kintsugi gateway: everything between the S3 front end and the
//! shards on disks and storage nodes, and nothing of S3 or HTTP.
//!
//! - [`Store`]: the shared context — metadata, disks (local or remote), codec, placement,
//!   the data path's counters and the read-repair queue.
//! - [`ClusterMap`]: storage nodes, their disks and states (up, down, lost), from heartbeats.
//!   The map itself is a value, [`MapState`] (pure: its rules tested without timers or
//!   processes); `ClusterMap` carries its changes out to the records, links and store.
//! - Segment I/O: [`stripe_reader`] (the storage crate's `StripeReader` over a manifest's disks:
//!   k shard streams, parity on errors, hedged slow reads) and the rebuilds that use it (`rebuild`), the shard-move transaction and the verified shard copy (`moves`).
//! - The redundancy ledger (`ledger`) and every background worker ([`Workers`]): repair of
//!   lost disks and the spread pass (`heal`, `spread`), read-repair, scrub, drain, rebalance,
//!   garbage collection, the disk monitor, the lifecycle worker that carries out buckets'
//!   lifecycle rules (`expire`: metadata commands only, decided by pure code in
//!   `kintsugi_meta`), the sweep of write intents no gateway will finish (`sweep`, over the
//!   registry of this process's open writes, `writes`); disk and node add/remove (`lifecycle`).
//!
//! Modules form a stack (no import circles): `error`, `metrics`, `writes`, `map_state` → `store` → `map`, `read` →
//! `rebuild` → `moves` → the workers → `workers`, which runs each as a [`Worker`] (`worker`:
//! the one shape — wait for work, do it — and the runner that keeps every worker's status).
//! The workers' planning (repair order, rebuild plans, rebalance shares and targets, domain
//! spreading) is pure code in `kintsugi_placement`.
#![deny(unsafe_code)]

mod cancel;
pub mod claims;
mod moves;
pub mod drain;
pub mod expire;
mod error;
mod gc;
pub mod heal;
pub mod ledger;
pub mod lifecycle;
mod limiter;
mod map;
mod map_state;
mod metrics;
mod read;
mod read_repair;
pub mod rebalance;
pub mod recover;
mod rebuild;
pub mod scrub;
pub mod space;
mod spread;
mod store;
pub mod sweep;
mod worker;
mod workers;
pub mod writes;

pub use cancel::{cancel_pair, CancelSource, CancelToken};
pub use error::{ClusterError, ClusterResult};
pub use gc::gc_pass;
pub use limiter::Limiter;
pub use moves::{copy_shard, MoveTxn};
pub use map::{ClusterConfig, ClusterMap, ClusterService, GatewayList};
pub use map_state::{state_after, BeatChanges, DiskClaim, MapNode, MapState, NodeReport, NodeState, Reconciled, Transition};
pub use metrics::Metrics;
pub use read::{read_stripe, read_stripe_pieces, stripe_reader};
pub use read_repair::repair_segment;
pub use rebuild::{rebuild_onto, replace_shards, Rebuilt};
pub use space::{DiskReserve, Space};
pub use store::{distinct_domains, serving_request, Coded, Leadership, RepairRequest, Store, StoreConfig, DEFAULT_INLINE_MAX, DEFAULT_SEGMENT_SIZE};
pub use worker::{Worker, WorkerReport};
pub use workers::{WorkerConfig, Workers};
pub use writes::{OpenWrites, OtherWriters, WriteHold};
