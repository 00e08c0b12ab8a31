//! The smallest protocol the transport can carry: join, ping and a byte sink. The transport's
//! own tests and its throughput benchmark (`benches/quic.rs`) speak it; real traffic speaks the
//! shard protocol (`kintsugi_storage::proto`).

use serde::{Deserialize, Serialize};

use crate::protocol::{JoinRequest, Joined};

/// A probe request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProbeRequest {
    /// Ask for a certificate.
    Join(JoinRequest),
    /// Liveness check.
    Ping,
    /// Receive `len` raw bytes and answer with their BLAKE3.
    Sink {
        /// Body bytes that follow.
        len: u64,
    },
}

/// A probe answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProbeResponse {
    /// Join accepted.
    Joined(Joined),
    /// Answer to Ping.
    Pong {
        /// Responder's name.
        node: String,
    },
    /// Answer to Sink.
    Sunk {
        /// Bytes received.
        len: u64,
        /// Their BLAKE3.
        hash: [u8; 32],
    },
    /// Refused or failed.
    Error {
        /// Stable code.
        code: String,
        /// What happened.
        message: String,
    },
}

crate::wire_protocol!(ProbeRequest, ProbeResponse);
