//! Wire frames. One bidirectional QUIC stream per request: a request frame,
//! then (optionally) raw body bytes; the answer is a response frame, then
//! raw body bytes. Byte layout of a frame:
//!
//! ```text
//! offset  size  field
//! 0       4     frame length n, u32 little-endian (1 ..= MAX_FRAME)
//! 4       1     wire format version (1)
//! 5       n-1   postcard encoding of the message
//! ```
//! Body lengths travel inside the message, so a reader always knows how
//! many raw bytes follow and a truncated body is detected.

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::error::{NetError, NetResult};

/// Largest frame accepted (a frame carries headers, never bulk data).
pub const MAX_FRAME: usize = 64 * 1024;
/// Current wire format version.
pub const WIRE_V1: u8 = 1;

/// A request to a node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Ask the gateway for a certificate (the only request allowed without one).
    Join {
        /// Secret from the join token.
        secret: String,
        /// Name the node asks for.
        node_name: String,
        /// PKCS#10 certificate signing request (DER).
        csr_der: Vec<u8>,
    },
    /// Liveness check.
    Ping,
    /// Receive `len` raw bytes and answer with their BLAKE3 (transport check and benchmark).
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
            Request::Join { .. } => "Join",
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
    Joined {
        /// Node certificate (DER).
        cert_der: Vec<u8>,
        /// CA certificate (DER).
        ca_der: Vec<u8>,
    },
    /// Answer to Ping.
    Pong {
        /// Responder's node name.
        node: String,
    },
    /// Answer to Sink.
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
        /// Stable code (e.g. `Unauthenticated`, `BadJoinSecret`).
        code: String,
        /// What happened and what to do.
        message: String,
    },
}

/// Encode a message as one frame.
pub fn encode_frame<T: Serialize>(msg: &T) -> NetResult<Vec<u8>> {
    let mut body = vec![WIRE_V1];
    body = postcard::to_extend(msg, body).map_err(|e| NetError::BadFrame { detail: format!("encoding: {e}") })?;
    if body.len() > MAX_FRAME {
        return Err(NetError::BadFrame { detail: format!("frame of {} bytes exceeds {MAX_FRAME}", body.len()) });
    }
    let len = u32::try_from(body.len()).map_err(|_| NetError::BadFrame { detail: "frame too large".into() })?;
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Check a frame's length prefix; returns the number of bytes that follow.
pub fn frame_len(prefix: [u8; 4]) -> NetResult<usize> {
    let n = u32::from_le_bytes(prefix) as usize;
    if n == 0 || n > MAX_FRAME {
        return Err(NetError::BadFrame { detail: format!("frame length {n} outside 1..={MAX_FRAME}") });
    }
    Ok(n)
}

/// Decode the bytes after the length prefix.
pub fn decode_frame<T: DeserializeOwned>(body: &[u8]) -> NetResult<T> {
    match body.split_first() {
        Some((&WIRE_V1, rest)) => {
            let (msg, extra) = postcard::take_from_bytes(rest).map_err(|e| NetError::BadFrame { detail: format!("decoding: {e}") })?;
            if !extra.is_empty() {
                return Err(NetError::BadFrame { detail: format!("{} trailing bytes after the message", extra.len()) });
            }
            Ok(msg)
        }
        Some((v, _)) => Err(NetError::BadFrame { detail: format!("unknown wire version {v}; upgrade this node") }),
        None => Err(NetError::BadFrame { detail: "empty frame".into() }),
    }
}

/// Read one frame from a QUIC stream.
pub async fn read_frame<T: DeserializeOwned>(recv: &mut quinn::RecvStream) -> NetResult<T> {
    let mut prefix = [0u8; 4];
    recv.read_exact(&mut prefix).await.map_err(|e| NetError::BadFrame { detail: format!("reading frame length: {e}") })?;
    let n = frame_len(prefix)?;
    let mut body = vec![0u8; n];
    recv.read_exact(&mut body).await.map_err(|e| NetError::BadFrame { detail: format!("frame truncated: {e}") })?;
    decode_frame(&body)
}

/// Write one frame to a QUIC stream.
pub async fn write_frame<T: Serialize>(send: &mut quinn::SendStream, msg: &T) -> NetResult<()> {
    let f = encode_frame(msg)?;
    send.write_all(&f).await.map_err(|e| NetError::Connection { detail: format!("writing frame: {e}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_bad_frames_are_errors() {
        let req = Request::Join { secret: "s".into(), node_name: "n1".into(), csr_der: vec![1, 2, 3] };
        let f = encode_frame(&req).expect("encode");
        let n = frame_len([f[0], f[1], f[2], f[3]]).expect("len");
        assert_eq!(n, f.len() - 4);
        assert_eq!(decode_frame::<Request>(&f[4..]).expect("decode"), req);
        // Truncated at every length: never a wrong message, never a panic.
        for cut in 0..f.len() - 4 {
            assert!(decode_frame::<Request>(&f[4..4 + cut]).is_err(), "cut {cut}");
        }
        let mut bad = f[4..].to_vec();
        bad[0] = 9;
        assert!(matches!(decode_frame::<Request>(&bad), Err(NetError::BadFrame { .. })));
        let mut extra = f[4..].to_vec();
        extra.push(0);
        assert!(decode_frame::<Request>(&extra).is_err());
        assert!(frame_len([0, 0, 0, 0]).is_err());
        assert!(frame_len(u32::try_from(MAX_FRAME + 1).expect("n").to_le_bytes()).is_err());
        let huge = Request::Join { secret: String::new(), node_name: String::new(), csr_der: vec![0; MAX_FRAME] };
        assert!(encode_frame(&huge).is_err());
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
