//! The gateways' protocol (ALPN `kintsugi-raft/1`), beside the shard protocol on the same
//! QUIC endpoint. A request is one frame (see `docs/formats.md` §3) and, for the variants
//! that say so, a body: the bytes after the frame up to the end of the stream. Raft's own
//! messages travel in bodies, as openraft's serde types in postcard behind a version byte,
//! because they outgrow a frame (a batch of entries, a snapshot chunk).

use kintsugi_net::{JoinRequest, Joined};
use serde::{Deserialize, Serialize};

/// The ALPN of the gateways' protocol.
pub const ALPN: &[u8] = b"kintsugi-raft/1";

/// Largest body a gateway reads (a batch of log entries or a snapshot chunk).
pub const MAX_BODY: usize = 256 * 1024 * 1024;

/// A request between gateways (or from a gateway joining the group).
#[derive(Debug, Serialize, Deserialize)]
pub enum RaftRequest {
    /// A gateway asks for its certificate with the gateway join token's secret (the only
    /// request allowed without one; the transport answers it).
    Join(JoinRequest),
    /// openraft's AppendEntries to whoever answers at the address; body: the request. Sent by
    /// gateways older than [`RaftRequest::AppendTo`], and to them.
    Append,
    /// openraft's Vote, unaddressed (as `Append`); body: the request.
    Vote,
    /// openraft's InstallSnapshot (one chunk), unaddressed (as `Append`); body: the request.
    Snapshot,
    /// Commit a metadata command (a follower forwarding a write to the leader); body: the
    /// command ([`kintsugi_meta::Command::encode`]).
    Submit,
    /// The leader's read index: the log index every read must wait for.
    ReadIndex,
    /// A gateway that has its certificate asks to become a member of the group.
    Enrol {
        /// Its Raft id.
        id: u64,
        /// Its name.
        name: String,
        /// Its cluster address (`host:port`).
        cluster: String,
        /// Its S3 address (`host:port`).
        s3: String,
    },
    /// Remove the gateway named `name` from the group.
    Remove {
        /// Its name.
        name: String,
    },
    /// The group as the leader sees it.
    Status,
    /// Which of these segments' write intents the answering gateway still writes (asked by
    /// the leader's intent sweep); body: the segment ids (`Vec<u128>`, postcard).
    OpenWrites,
    /// openraft's AppendEntries for the gateway whose Raft id is `target`; body: the request.
    /// A gateway answers only those addressed to its own id (`NotThisGateway` otherwise): a
    /// gateway that lost its `--meta` and came back at the same address with a new id must
    /// not take the log, the snapshots or the votes meant for the member it was.
    AppendTo {
        /// The Raft id the message is for.
        target: u64,
    },
    /// openraft's Vote for the gateway whose Raft id is `target`; body: the request.
    VoteTo {
        /// The Raft id the message is for.
        target: u64,
    },
    /// openraft's InstallSnapshot (one chunk) for the gateway whose Raft id is `target`;
    /// body: the request.
    SnapshotTo {
        /// The Raft id the message is for.
        target: u64,
    },
}

/// An answer between gateways.
#[derive(Debug, Serialize, Deserialize)]
pub enum RaftResponse {
    /// Join accepted: the gateway certificate and the CA certificate.
    Joined(Joined),
    /// An error: a code ([`codes`]) and what to do.
    Error {
        /// Stable code.
        code: String,
        /// What happened.
        message: String,
    },
    /// openraft's answer; body: `Result<answer, RaftError>`.
    Raft,
    /// A submitted command was committed and applied; body: its
    /// [`kintsugi_meta::Outcome`].
    Submitted,
    /// The leader's read index.
    ReadIndex {
        /// Log index to wait for (`None`: nothing committed yet).
        index: Option<u64>,
    },
    /// A gateway became a voting member; the group's secrets follow in the body.
    Enrolled,
    /// Done.
    Done,
    /// The group's status; body: a [`crate::GroupStatus`].
    Status,
    /// The segments asked about that this gateway still writes; body: `Vec<u128>`, postcard.
    OpenWrites,
}

kintsugi_net::wire_protocol!(RaftRequest, RaftResponse, alpn = ALPN);

/// Error codes of the gateways' protocol.
pub mod codes {
    /// The answering gateway is not the leader; the message names the leader when known.
    pub const NOT_LEADER: &str = "NotLeader";
    /// The group has no leader (no quorum); retry later. Nothing was proposed.
    pub const NO_LEADER: &str = "NoLeader";
    /// The command was proposed but no majority committed it in time: it may still commit,
    /// so it must not be submitted again as if it had not been.
    pub const NOT_COMMITTED: &str = "NotCommitted";
    /// The caller is not a gateway of this cluster.
    pub const FORBIDDEN: &str = "Forbidden";
    /// The request or its body could not be decoded.
    pub const BAD_REQUEST: &str = "BadRequest";
    /// Raft refused (membership change in progress, storage failure …).
    pub const RAFT: &str = "Raft";
    /// A gateway with that name is already a member.
    pub const NAME_TAKEN: &str = "GatewayNameTaken";
    /// No gateway has that name.
    pub const NO_SUCH_GATEWAY: &str = "NoSuchGateway";
    /// The gateway is starting and cannot answer this yet; ask again later.
    pub const NOT_READY: &str = "NotReady";
    /// A Raft message addressed to another Raft id than the answering gateway's: the member
    /// it was meant for is gone from that address (it lost its `--meta`, or moved).
    pub const NOT_THIS_GATEWAY: &str = "NotThisGateway";
}
