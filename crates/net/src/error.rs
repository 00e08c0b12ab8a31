//! Transport errors.

/// What went wrong on the transport between nodes.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// Certificate or key generation, signing or parsing failed.
    #[error("PKI error while {what}: {detail}")]
    Pki {
        /// What was being done.
        what: &'static str,
        /// The library's message.
        detail: String,
    },
    /// TLS configuration could not be built.
    #[error("TLS configuration error: {detail}")]
    Tls {
        /// The library's message.
        detail: String,
    },
    /// A join token could not be parsed.
    #[error("invalid join token: {detail}. Copy it again from the gateway's start-up output or `kintsugi admin join-token`")]
    BadToken {
        /// What was wrong.
        detail: String,
    },
    /// Connecting failed (unreachable, refused, handshake failed, certificate rejected).
    #[error("cannot connect to {addr}: {detail}")]
    Connect {
        /// Peer address.
        addr: String,
        /// Why.
        detail: String,
    },
    /// The connection or stream broke.
    #[error("connection error: {detail}")]
    Connection {
        /// Why.
        detail: String,
    },
    /// A frame was malformed, truncated, too large or of an unknown version.
    #[error("bad frame from peer: {detail}")]
    BadFrame {
        /// What was wrong.
        detail: String,
    },
    /// The request did not finish before its deadline.
    #[error("request timed out after {ms} ms")]
    Timeout {
        /// The deadline that passed.
        ms: u64,
    },
    /// The peer answered with an error.
    #[error("peer refused the request: {code}: {message}")]
    Remote {
        /// Stable error code.
        code: String,
        /// Peer's message.
        message: String,
    },
    /// Local socket error.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Result alias.
pub type NetResult<T> = Result<T, NetError>;
