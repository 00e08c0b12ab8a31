//! Kintsugi's transport between nodes: QUIC (`quinn`) with mutual TLS under
//! a cluster CA made at cluster init (`rcgen`), join tokens that pin that CA,
//! and typed, versioned wire frames. One bidirectional stream per request:
//! a small frame (serde + postcard), then raw bytes with QUIC's backpressure.
//!
//! Generic over the protocol it carries ([`WireRequest`], [`WireResponse`]): it knows only
//! joins and error answers; the shard protocol lives in `kintsugi_storage::proto`. Knows
//! nothing of S3, disks or metadata.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kintsugi_net::NetError> {
//! use kintsugi_net::*;
//! let ca = std::sync::Arc::new(ClusterCa::generate("demo")?);
//! let gw = ca.issue("gateway")?;
//! let t = TransportTuning::default();
//! let server = Server::bind("127.0.0.1:0".parse().unwrap(), server_config(&gw, true, &t)?, &t)?;
//! let token = JoinToken { gateway: server.local_addr()?.to_string(), ca_fingerprint: ca.fingerprint(), secret: JoinToken::random_secret() };
//! let node = join::<probe::ProbeRequest>(&token, "node-1", &t).await?; // needs the server running with a JoinAuthority
//! # Ok(()) }
//! ```
#![deny(unsafe_code)]

mod authority;
mod error;
mod identity;
mod join;
mod limits;
mod pki;
pub mod probe;
mod protocol;
mod revoked;
mod token;
mod transport;
mod wire;

pub use error::{NetError, NetResult};
pub use identity::{renewal_due, validity, LiveIdentity};
pub use limits::ServerLimits;
pub use revoked::Revoked;
pub use pki::{common_name, csr_for_key, csr_key_id, fingerprint, new_key, new_key_and_csr, ClusterCa, NodeIdentity, CLUSTER_SERVER_NAME, NODE_CERT_VALIDITY};
pub use token::{secrets_equal, JoinToken};
pub use authority::{valid_node_name, Admission, JoinAuthority, Joiner, NameTaken, NameUse};
pub use join::{join, join_with_key};
pub use transport::{call, check, client_config, peer_of, server_config, server_config_for, server_config_live, Client, Handler, Peer, Server, Service, TransportTuning};
pub use protocol::{codes, JoinRequest, Joined, WireError, WireRequest, WireResponse, DEFAULT_ALPN, NO_REQUEST_FRAME};
pub use wire::{decode_frame, encode_frame, frame_len, read_frame, write_frame, MAX_FRAME, WIRE_V1};

#[cfg(test)]
mod tests;
