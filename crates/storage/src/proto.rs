//! The shard protocol: every message between gateways and storage nodes. Each travels in a
//! `kintsugi_net` frame (`[u32 length][u8 wire version 1][postcard]`); the raw bodies some of
//! them announce are laid out in `records.rs`. Byte for byte in `docs/formats.md` §3.
//!
//! Variant numbers are the wire format: never reorder or remove a variant, only append.
//! These messages lived in `kintsugi_net::wire` before the transport became generic; their
//! bytes did not change (pinned by this module's tests), so nodes and gateways of both
//! versions read each other.

use serde::{Deserialize, Serialize};

use kintsugi_net::{JoinRequest, Joined};

/// A request to a node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Ask the gateway for a certificate (the only request allowed without one; the transport
    /// answers it, handlers never see it).
    Join(JoinRequest),
    /// Liveness check.
    Ping,
    /// Receive `len` raw bytes and answer with their BLAKE3. Kept so the variants after it keep
    /// their numbers; gateways and nodes answer it `NotSupported` (the transport's own check
    /// and benchmark speak `kintsugi_net::probe`).
    Sink {
        /// Body bytes that follow.
        len: u64,
    },
    /// Write a shard. Body: chunk records `[u32 len][32-byte BLAKE3][len bytes]`,
    /// ended by `[u32 0xFFFF_FFFF][u64 segment length]`. Answer: `ShardPut`.
    PutShard {
        /// Disk uuid on the node.
        disk: u128,
        /// The 128-byte shard header (`kintsugi_disk::ShardHeader::encode`).
        header: Vec<u8>,
    },
    /// Read and verify `count` chunks of a shard from chunk `first`. Answer:
    /// `ShardData`, then per chunk `[u8 0][u32 len][bytes]`, or `[u8 1]` and
    /// an `Error` frame when the shard turns out unreadable midway.
    GetShard(ShardRead),
    /// Verify a shard's header and hash table (and every chunk when `full`). Answer: `ShardChecked`.
    CheckShard {
        /// Disk uuid on the node.
        disk: u128,
        /// Segment id.
        segment: u128,
        /// Shard index.
        index: u8,
        /// Shard hash the manifest expects.
        expected: [u8; 32],
        /// Read and verify every chunk too.
        full: bool,
    },
    /// Delete a shard (idempotent). Answer: `ShardDeleted`.
    DeleteShard {
        /// Disk uuid on the node.
        disk: u128,
        /// Segment id.
        segment: u128,
        /// Shard index.
        index: u8,
    },
    /// Gateway to node: rebuild one shard onto a disk of this node by reading k of
    /// `sources` (from this node's disks or straight from other nodes), decoding,
    /// and keeping the result only if it hashes to `expected`. Answer: `ShardRebuilt`.
    RebuildShard {
        /// Target disk uuid on this node.
        disk: u128,
        /// Header of the shard to write (its index is the one rebuilt).
        header: Vec<u8>,
        /// Coding: codec id, k, m, chunk size (postcard: the same bytes as the tuple it was).
        coding: kintsugi_erasure::Coding,
        /// Segment length in bytes.
        segment_len: u64,
        /// Shard hash the manifest names for the rebuilt shard.
        expected: [u8; 32],
        /// Healthy shards to read from (at least k).
        sources: Vec<ShardSource>,
    },
    /// Gateway to node: open (formatting it when empty) one more disk directory
    /// while running, and keep it across restarts. Answer: `DiskAdded`.
    AddDisk {
        /// Absolute directory on the node.
        path: String,
    },
    /// A storage node's periodic report to the gateway. Answer: `HeartbeatAck`.
    Heartbeat {
        /// Address the node serves shard requests on.
        listen: String,
        /// Failure-domain label above the node, if any.
        zone: Option<String>,
        /// The node's disks.
        disks: Vec<DiskReport>,
    },
    /// A storage node's periodic report with its counters (nodes since the wire permissions;
    /// a gateway still accepts the plain `Heartbeat` of older nodes). Answer: `HeartbeatAck`.
    NodeReport {
        /// Address the node serves shard requests on.
        listen: String,
        /// Failure-domain label above the node, if any.
        zone: Option<String>,
        /// The node's disks.
        disks: Vec<DiskReport>,
        /// Named counters since the node started (e.g. [`COUNTER_REFUSED`]); names a gateway
        /// does not know are ignored, so a node can add counters without a new message.
        counters: Vec<(String, u64)>,
    },
    /// Like `GetShard`, for a reader that verifies what it gets: the answer `ShardData` is
    /// followed first by the shard's whole chunk hash table, `[u8 2][u32 n][n × 32 bytes]`
    /// (which must hash to `expected`), then by the same chunk records, each of which must
    /// hash to its entry in the table. The gateway reads with it, so a node that sends wrong
    /// bytes is caught whatever it claims.
    ReadShard(ShardRead),
    /// A storage node's periodic report to each gateway (nodes since gateway groups; a
    /// gateway still accepts `NodeReport` and `Heartbeat` of older nodes). Answer: `BeatAck`.
    Beat {
        /// Address the node serves shard requests on.
        listen: String,
        /// Failure-domain label above the node, if any.
        zone: Option<String>,
        /// The node's disks.
        disks: Vec<DiskReport>,
        /// Named counters since the node started, as in `NodeReport`.
        counters: Vec<(String, u64)>,
    },
    /// Gateway to node: the verified shards of a disk after `after` (segment, index), in order,
    /// as many as fit one frame and at most `limit`, each with its header and label (for
    /// rebuilding metadata from the shards). Answer: `ShardList`; an empty list is the end.
    ListShards {
        /// Disk uuid on the node.
        disk: u128,
        /// The last shard of the previous page.
        after: Option<(u128, u8)>,
        /// Most shards to answer.
        limit: u32,
    },
    /// Node to gateway: the names of the nodes removed from the cluster, whose certificates
    /// every member refuses. Answer: `RemovedNodes` (older gateways: `BadFrame`).
    RemovedNodes,
    /// Node to gateway: sign this certificate signing request under the node's own name (the
    /// one its current, still valid certificate carries) — certificates expire and nodes
    /// renew them while they run. Answer: `Renewed`.
    RenewCert {
        /// PKCS#10 DER of a fresh key.
        csr_der: Vec<u8>,
    },
    /// Gateway to node: let node `reader` read shard `index` of `segment` on `disk` for
    /// `ttl_ms` (capped at an hour) — the source side of a `RebuildShard` the gateway is about
    /// to order `reader`'s node. Other members' reads are served only under a grant. Answer:
    /// `Granted` (nodes before read grants: `BadFrame`, and they serve every member's reads).
    GrantRead {
        /// The node that will read.
        reader: String,
        /// Disk uuid on this node.
        disk: u128,
        /// Segment id.
        segment: u128,
        /// Shard index.
        index: u8,
        /// How long the grant lasts, ms.
        ttl_ms: u64,
    },
}

/// Which chunks of which shard `GetShard` and `ReadShard` ask for. A newtype variant of this
/// struct encodes exactly as the struct variant with these fields it replaced (postcard: the
/// variant index, then the fields in order), so the frames did not change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRead {
    /// Disk uuid on the node.
    pub disk: u128,
    /// Segment id.
    pub segment: u128,
    /// Shard index.
    pub index: u8,
    /// Shard hash the manifest expects.
    pub expected: [u8; 32],
    /// First chunk (= stripe) index.
    pub first: u64,
    /// Number of chunks.
    pub count: u64,
}

/// [`Request::NodeReport`] counter: requests the node refused (a member asking for what only
/// the gateway may do, or a peer without a certificate).
pub const COUNTER_REFUSED: &str = "requests_refused";

impl Request {
    /// The message's name, for logs and refusals.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Join(_) => "Join",
            Request::Ping => "Ping",
            Request::Sink { .. } => "Sink",
            Request::PutShard { .. } => "PutShard",
            Request::GetShard(_) => "GetShard",
            Request::CheckShard { .. } => "CheckShard",
            Request::DeleteShard { .. } => "DeleteShard",
            Request::RebuildShard { .. } => "RebuildShard",
            Request::AddDisk { .. } => "AddDisk",
            Request::Heartbeat { .. } => "Heartbeat",
            Request::NodeReport { .. } => "NodeReport",
            Request::ReadShard(_) => "ReadShard",
            Request::Beat { .. } => "Beat",
            Request::ListShards { .. } => "ListShards",
            Request::RemovedNodes => "RemovedNodes",
            Request::RenewCert { .. } => "RenewCert",
            Request::GrantRead { .. } => "GrantRead",
        }
    }
}

/// Where a healthy shard of a segment can be read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardSource {
    /// Node name (its certificate's common name).
    pub node: String,
    /// Address of its shard service.
    pub addr: String,
    /// Disk uuid on that node.
    pub disk: u128,
    /// Shard index.
    pub index: u8,
    /// Shard hash the manifest names.
    pub hash: [u8; 32],
}

/// One disk as its node reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskReport {
    /// Random identity written when the node formatted the disk.
    pub uuid: u128,
    /// Directory on the node (informational).
    pub path: String,
    /// File-system capacity in bytes.
    pub capacity: u64,
    /// Free bytes.
    pub free: u64,
    /// The node found the disk missing, replaced or failing.
    pub failed: bool,
}

/// An answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// Join accepted: the signed certificate and the CA certificate.
    Joined(Joined),
    /// Answer to Ping.
    Pong {
        /// Responder's node name.
        node: String,
    },
    /// Answer to Sink (never sent now; kept so the variants after it keep their numbers).
    Sunk {
        /// Bytes received.
        len: u64,
        /// Their BLAKE3.
        hash: [u8; 32],
    },
    /// A shard is durable on the node: its hash over the chunk hashes it verified.
    ShardPut {
        /// `kintsugi_erasure::shard_hash` of the written chunks.
        hash: [u8; 32],
    },
    /// Chunk records follow (see `Request::GetShard`).
    ShardData,
    /// The shard verified.
    ShardChecked {
        /// Its 128-byte header.
        header: Vec<u8>,
    },
    /// Answer to DeleteShard.
    ShardDeleted {
        /// The file existed.
        existed: bool,
    },
    /// A shard was rebuilt, verified and made durable.
    ShardRebuilt {
        /// Chunk bytes read from the sources.
        bytes_read: u64,
    },
    /// The node serves the new disk (reported in its next heartbeat, sent at once).
    DiskAdded {
        /// The disk's uuid.
        uuid: u128,
    },
    /// The gateway registered a heartbeat.
    HeartbeatAck {
        /// Cluster-map epoch.
        epoch: u64,
    },
    /// Refused or failed.
    Error {
        /// Stable code (a string on the wire).
        code: ErrorCode,
        /// What happened and what to do.
        message: String,
    },
    /// The gateway registered a `Beat`.
    BeatAck {
        /// Cluster-map epoch.
        epoch: u64,
        /// The cluster addresses of every gateway of the group (empty: keep the list).
        gateways: Vec<String>,
    },
    /// Answer to `ListShards`.
    ShardList {
        /// Shards that verified, in order.
        shards: Vec<ListedShard>,
        /// The last shard looked at (the next page starts after it; a damaged shard is
        /// skipped, not listed), `None` at the end of the disk.
        last: Option<(u128, u8)>,
    },
    /// Answer to `RemovedNodes`.
    RemovedNodes {
        /// Every node name removed from the cluster (never admitted again).
        names: Vec<String>,
    },
    /// Answer to `RenewCert`: the new certificate and the CA certificate.
    Renewed(Joined),
    /// Answer to `GrantRead`: the grant holds.
    Granted,
}

/// One shard of a `ShardList`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedShard {
    /// Its header and label (`kintsugi_disk::ShardHeader::encode`).
    pub header: Vec<u8>,
    /// Its shard hash (`kintsugi_erasure::shard_hash` of its chunk hash table).
    pub hash: [u8; 32],
}

kintsugi_net::wire_protocol!(Request, Response);

impl Response {
    /// An error answer.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        Response::Error { code, message: message.into() }
    }
}

/// The stable codes of error answers. On the wire a code is its name as a string, so a peer
/// that knows a code this build does not still reads it (as [`ErrorCode::Other`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// The frame could not be read (the transport's, or a shard body that broke off).
    BadFrame,
    /// A peer without a certificate asked for more than a join.
    Unauthenticated,
    /// A join reached an endpoint that does not sign certificates.
    NotAGateway,
    /// The join secret is wrong.
    BadJoinSecret,
    /// The node name is reserved or malformed.
    BadNodeName,
    /// A member already has that node name.
    NodeNameTaken,
    /// The certificate signing request could not be signed.
    BadCsr,
    /// The shard file is not on the disk.
    ShardMissing,
    /// The shard failed its verification.
    ShardCorrupt,
    /// The disk is gone or failing.
    DiskFailed,
    /// An I/O error on the disk.
    DiskIo,
    /// The disk's file system has no space left.
    DiskFull,
    /// The request or shard is invalid.
    Invalid,
    /// The disk is in use by another process.
    DiskInUse,
    /// The node has no disk with that uuid.
    UnknownDisk,
    /// The directory cannot become a disk of the node.
    InvalidDisk,
    /// Only the gateway may ask for that.
    Forbidden,
    /// The receiver does not serve that request.
    NotSupported,
    /// A node-side rebuild or copy stored nothing.
    RebuildFailed,
    /// The node could not reach the disk's node.
    Unreachable,
    /// Something went wrong inside the receiver.
    Internal,
    /// The peer's certificate is revoked: it was removed from the cluster.
    Revoked,
    /// A code this build does not know.
    Other(String),
}

impl ErrorCode {
    const NAMED: [(ErrorCode, &'static str); 22] = [
        (ErrorCode::BadFrame, kintsugi_net::codes::BAD_FRAME),
        (ErrorCode::Unauthenticated, kintsugi_net::codes::UNAUTHENTICATED),
        (ErrorCode::NotAGateway, kintsugi_net::codes::NOT_A_GATEWAY),
        (ErrorCode::BadJoinSecret, kintsugi_net::codes::BAD_JOIN_SECRET),
        (ErrorCode::BadNodeName, kintsugi_net::codes::BAD_NODE_NAME),
        (ErrorCode::NodeNameTaken, kintsugi_net::codes::NODE_NAME_TAKEN),
        (ErrorCode::BadCsr, kintsugi_net::codes::BAD_CSR),
        (ErrorCode::ShardMissing, "ShardMissing"),
        (ErrorCode::ShardCorrupt, "ShardCorrupt"),
        (ErrorCode::DiskFailed, "DiskFailed"),
        (ErrorCode::DiskIo, "DiskIo"),
        (ErrorCode::DiskFull, "DiskFull"),
        (ErrorCode::Invalid, "Invalid"),
        (ErrorCode::DiskInUse, "DiskInUse"),
        (ErrorCode::UnknownDisk, "UnknownDisk"),
        (ErrorCode::InvalidDisk, "InvalidDisk"),
        (ErrorCode::Forbidden, "Forbidden"),
        (ErrorCode::NotSupported, "NotSupported"),
        (ErrorCode::RebuildFailed, "RebuildFailed"),
        (ErrorCode::Unreachable, "Unreachable"),
        (ErrorCode::Internal, "Internal"),
        (ErrorCode::Revoked, kintsugi_net::codes::REVOKED),
    ];

    /// The code's name, as it travels.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::Other(s) => s,
            known => Self::NAMED.iter().find(|(c, _)| c == known).map_or("Internal", |(_, s)| s),
        }
    }
}

impl From<String> for ErrorCode {
    fn from(s: String) -> Self {
        Self::NAMED.iter().find(|(_, name)| *name == s).map_or(ErrorCode::Other(s), |(c, _)| c.clone())
    }
}

impl From<&str> for ErrorCode {
    fn from(s: &str) -> Self {
        ErrorCode::from(s.to_owned())
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(ErrorCode::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kintsugi_net::{decode_frame, encode_frame, frame_len, WIRE_V1};

    #[test]
    fn frames_are_the_bytes_docs_formats_md_gives() {
        // [u32 LE length][u8 wire version][postcard message] (docs/formats.md §3.2): nodes and
        // gateways of different versions read each other only while these bytes hold.
        assert_eq!(encode_frame(&Request::Ping).expect("encode"), [0x02, 0x00, 0x00, 0x00, 0x01, 0x01]);
        assert_eq!(encode_frame(&Response::ShardDeleted { existed: true }).expect("encode"), [0x03, 0x00, 0x00, 0x00, 0x01, 0x06, 0x01]);
        let back: Response = decode_frame(&[0x01, 0x06, 0x01]).expect("decode");
        assert!(matches!(back, Response::ShardDeleted { existed: true }));
        assert_eq!(frame_len([0x03, 0x00, 0x00, 0x00]).expect("length"), 3);
        // Appended variants take the next numbers: request 14, answer 13.
        assert_eq!(encode_frame(&Request::RemovedNodes).expect("encode"), [0x02, 0x00, 0x00, 0x00, 0x01, 14]);
        let removed = Response::RemovedNodes { names: vec!["n1".into()] };
        assert_eq!(encode_frame(&removed).expect("encode"), [0x06, 0x00, 0x00, 0x00, 0x01, 13, 1, 2, b'n', b'1']);
        assert_eq!(encode_frame(&Request::RenewCert { csr_der: vec![7] }).expect("encode"), [0x04, 0x00, 0x00, 0x00, 0x01, 15, 1, 7]);
        let renewed = Response::Renewed(Joined { cert_der: vec![1], ca_der: vec![2] });
        assert_eq!(encode_frame(&renewed).expect("encode"), [0x06, 0x00, 0x00, 0x00, 0x01, 14, 1, 1, 1, 2]);
        let grant = Request::GrantRead { reader: "n2".into(), disk: 1, segment: 2, index: 3, ttl_ms: 4 };
        assert_eq!(encode_frame(&grant).expect("encode"), [0x09, 0x00, 0x00, 0x00, 0x01, 16, 2, b'n', b'2', 1, 2, 3, 4]);
        assert_eq!(encode_frame(&Response::Granted).expect("encode"), [0x02, 0x00, 0x00, 0x00, 0x01, 15]);
    }

    #[test]
    fn messages_kept_their_bytes_when_they_moved_out_of_the_transport() {
        // Before the move, Join and Joined were struct variants and error codes were strings.
        // postcard: the variant index, then the fields in order.
        let join = JoinRequest { secret: "s3cr3t".into(), node_name: "n1".into(), csr_der: vec![1, 2, 3] };
        let old = postcard::to_allocvec(&(0u8, &join.secret, &join.node_name, &join.csr_der)).expect("encode");
        assert_eq!(postcard::to_allocvec(&Request::Join(join.clone())).expect("encode"), old);
        let back: Request = postcard::from_bytes(&old).expect("decode");
        assert_eq!(back, Request::Join(join));
        let joined = Joined { cert_der: vec![4, 5], ca_der: vec![6] };
        let old = postcard::to_allocvec(&(0u8, &joined.cert_der, &joined.ca_der)).expect("encode");
        assert_eq!(postcard::to_allocvec(&Response::Joined(joined)).expect("encode"), old);
        for (code, name) in [(ErrorCode::Forbidden, "Forbidden"), (ErrorCode::BadFrame, "BadFrame"), (ErrorCode::Other("Later".into()), "Later")] {
            let old = postcard::to_allocvec(&(10u8, name, "why")).expect("encode");
            assert_eq!(postcard::to_allocvec(&Response::error(code.clone(), "why")).expect("encode"), old, "{name}");
            let back: Response = postcard::from_bytes(&old).expect("decode");
            assert_eq!(back, Response::error(code, "why"));
        }
    }

    #[test]
    fn every_named_code_reads_back_as_itself() {
        for (code, name) in ErrorCode::NAMED {
            assert_eq!(code.as_str(), name);
            assert_eq!(ErrorCode::from(name), code);
        }
        assert_eq!(ErrorCode::from("SomethingNew"), ErrorCode::Other("SomethingNew".into()));
    }

    #[test]
    fn coding_on_the_wire_is_the_bytes_of_the_tuple_it_replaced() {
        // RebuildShard carried `(codec, k, m, chunk_size)` before `Coding`; nodes and gateways of
        // both versions must read each other's requests.
        let c = kintsugi_erasure::Coding { codec: 1, k: 4, m: 2, chunk_size: 65536 };
        let new = postcard::to_allocvec(&c).expect("encode");
        assert_eq!(new, postcard::to_allocvec(&(1u8, 4u8, 2u8, 65536u32)).expect("encode"));
        let back: kintsugi_erasure::Coding = postcard::from_bytes(&new).expect("decode");
        assert_eq!(back, c);
    }

    #[test]
    fn shard_reads_encode_as_the_struct_variants_they_replaced() {
        let r = ShardRead { disk: 7 << 100, segment: 0xabcd, index: 3, expected: [9; 32], first: 300, count: 2 };
        let fields = (r.disk, r.segment, r.index, r.expected, r.first, r.count);
        for (variant, req) in [(4u8, Request::GetShard(r)), (11u8, Request::ReadShard(r))] {
            let old = postcard::to_allocvec(&(variant, fields)).expect("encode");
            assert_eq!(postcard::to_allocvec(&req).expect("encode"), old, "{}", req.name());
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut x: u64 = 0x1234_5678;
        for len in 0..2000usize {
            let mut b = Vec::with_capacity(len % 97);
            for _ in 0..len % 97 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b.push(x as u8);
            }
            if let Some(first) = b.first_mut() {
                *first = WIRE_V1;
            }
            let _ = decode_frame::<Request>(&b);
            let _ = decode_frame::<Response>(&b);
        }
    }
}
