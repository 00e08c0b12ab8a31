//! What the transport needs of a protocol carried over it. The transport itself knows only
//! three things about the messages: how a node asks to join (the one request a peer without
//! a certificate may send), how the answer to a join looks, and how an error answer looks.
//! Everything else — which requests exist, what their bodies are — belongs to the protocol's
//! own crate (the shard protocol: `kintsugi_storage::proto`).
//!
//! A protocol's request enum has its join request as variant 0 (`Join(JoinRequest)`), and its
//! response enum its join answer as variant 0 (`Joined(Joined)`): postcard encodes a newtype
//! variant of a struct exactly as the struct variant with the same fields, so a joining node
//! and a gateway agree on those bytes whatever else each protocol carries.

use std::fmt::Debug;

use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// A node's request for a certificate (the only request allowed without one).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequest {
    /// Secret from the join token.
    pub secret: String,
    /// Name the node asks for.
    pub node_name: String,
    /// PKCS#10 certificate signing request (DER).
    pub csr_der: Vec<u8>,
}

impl Debug for JoinRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("JoinRequest").field("node_name", &self.node_name).field("csr_der", &self.csr_der.len()).finish_non_exhaustive()
    }
}

/// A join accepted: the signed certificate and the CA certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Joined {
    /// Node certificate (DER).
    pub cert_der: Vec<u8>,
    /// CA certificate (DER).
    pub ca_der: Vec<u8>,
}

/// An error answer: a stable code and a message that says what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireError {
    /// Stable code (e.g. `Unauthenticated`, `BadJoinSecret`; a protocol adds its own).
    pub code: String,
    /// What happened and what to do.
    pub message: String,
}

impl WireError {
    /// An error answer with `code` and `message`.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self { code: code.to_owned(), message: message.into() }
    }
}

/// How the transport's `BadFrame` answer begins when no request frame came in time (not a
/// frame it could not decode). Every version has written it so.
pub const NO_REQUEST_FRAME: &str = "no request frame within";

/// The codes the transport itself answers with.
pub mod codes {
    /// A frame could not be read (malformed, truncated, too large, unknown version).
    pub const BAD_FRAME: &str = "BadFrame";
    /// A peer without a cluster certificate asked for more than a join.
    pub const UNAUTHENTICATED: &str = "Unauthenticated";
    /// A join reached an endpoint that does not sign certificates.
    pub const NOT_A_GATEWAY: &str = "NotAGateway";
    /// The join secret is wrong.
    pub const BAD_JOIN_SECRET: &str = "BadJoinSecret";
    /// The join could not be checked now (the gateways have no quorum): retry later.
    pub const JOIN_UNAVAILABLE: &str = "JoinUnavailable";
    /// The node name is reserved or malformed.
    pub const BAD_NODE_NAME: &str = "BadNodeName";
    /// A member of the cluster already has that name.
    pub const NODE_NAME_TAKEN: &str = "NodeNameTaken";
    /// The certificate signing request could not be signed.
    pub const BAD_CSR: &str = "BadCsr";
    /// The peer's certificate is revoked: it was removed from the cluster.
    pub const REVOKED: &str = "Revoked";
}

/// The ALPN of a protocol that names none: the shard protocol's.
pub const DEFAULT_ALPN: &[u8] = b"kintsugi/1";

/// Implement [`WireRequest`] for `$req` and [`WireResponse`] for `$resp`, two enums laid out
/// as the transport expects: `$req::Join(JoinRequest)` and `$resp::Joined(Joined)` as variant 0,
/// and `$resp::Error { code, message }` whose `code` converts from a `String` and displays as
/// the code's name. `alpn = b"..."` names the protocol's ALPN, so that one endpoint can serve
/// several protocols (default: [`DEFAULT_ALPN`]).
#[macro_export]
macro_rules! wire_protocol {
    ($req:ident, $resp:ident) => {
        $crate::wire_protocol!($req, $resp, alpn = $crate::DEFAULT_ALPN);
    };
    ($req:ident, $resp:ident, alpn = $alpn:expr) => {
        impl $crate::WireRequest for $req {
            type Response = $resp;
            const ALPN: &'static [u8] = $alpn;
            fn join(join: $crate::JoinRequest) -> Self {
                $req::Join(join)
            }
            fn into_join(self) -> Result<$crate::JoinRequest, Self> {
                match self {
                    $req::Join(j) => Ok(j),
                    other => Err(other),
                }
            }
        }

        impl $crate::WireResponse for $resp {
            fn joined(joined: $crate::Joined) -> Self {
                $resp::Joined(joined)
            }
            fn into_joined(self) -> Result<$crate::Joined, Self> {
                match self {
                    $resp::Joined(j) => Ok(j),
                    other => Err(other),
                }
            }
            fn error(e: $crate::WireError) -> Self {
                $resp::Error { code: e.code.into(), message: e.message }
            }
            fn into_error(self) -> Result<$crate::WireError, Self> {
                match self {
                    $resp::Error { code, message } => Ok($crate::WireError { code: code.to_string(), message }),
                    other => Err(other),
                }
            }
        }
    };
}

/// A protocol's request type, as the transport sees it.
pub trait WireRequest: Serialize + DeserializeOwned + Debug + Send + Sync + 'static {
    /// The protocol's response type.
    type Response: WireResponse;
    /// The ALPN that selects this protocol on an endpoint serving several.
    const ALPN: &'static [u8];
    /// The request carrying `join` (variant 0).
    fn join(join: JoinRequest) -> Self;
    /// The join request inside, or the request back when it is something else.
    fn into_join(self) -> Result<JoinRequest, Self>;
}

/// A protocol's response type, as the transport sees it.
pub trait WireResponse: Serialize + DeserializeOwned + Debug + Send + Sync + 'static {
    /// The answer carrying `joined` (variant 0).
    fn joined(joined: Joined) -> Self;
    /// The join answer inside, or the response back when it is something else.
    fn into_joined(self) -> Result<Joined, Self>;
    /// An error answer.
    fn error(e: WireError) -> Self;
    /// The error inside, or the response back when it is not an error.
    fn into_error(self) -> Result<WireError, Self>;
}
