//! Serving the gateways' protocol: Raft's messages, forwarded writes and reads, membership
//! requests — to peers whose certificate says `gateway` only.

use std::sync::Arc;
use std::time::Duration;

use kintsugi_meta::Command;
use kintsugi_net::{codes as net_codes, Handler, NetError, NetResult};
use openraft::error::{ClientWriteError, RaftError};

use super::{refuse, MetaGroup};
use crate::network::answer;
use crate::proto::{codes, RaftRequest, RaftResponse, MAX_BODY};
use crate::{decode, encode, GatewayNode};

impl MetaGroup {
    /// Serve one request of the gateways' protocol.
    pub(super) async fn handle(&self, req: RaftRequest, body: Vec<u8>) -> (RaftResponse, Vec<u8>) {
        let raft_answer = |bytes: Result<Vec<u8>, String>| match bytes {
            Ok(b) => (RaftResponse::Raft, b),
            Err(e) => (refuse(codes::BAD_REQUEST, e), Vec::new()),
        };
        // A message for another Raft id than this gateway's is not taken: see `AppendTo`.
        if let RaftRequest::AppendTo { target } | RaftRequest::VoteTo { target } | RaftRequest::SnapshotTo { target } = req {
            if target != self.id {
                return (
                    refuse(
                        codes::NOT_THIS_GATEWAY,
                        format!("this gateway's Raft id is {}, not {target}: the member {target} is no longer at this address (it lost its metadata, or moved)", self.id),
                    ),
                    Vec::new(),
                );
            }
        }
        match req {
            RaftRequest::Append | RaftRequest::AppendTo { .. } => match decode(&body) {
                Ok(rpc) => raft_answer(encode(&self.raft.append_entries(rpc).await)),
                Err(e) => (refuse(codes::BAD_REQUEST, e), Vec::new()),
            },
            RaftRequest::Vote | RaftRequest::VoteTo { .. } => match decode(&body) {
                Ok(rpc) => raft_answer(encode(&self.raft.vote(rpc).await)),
                Err(e) => (refuse(codes::BAD_REQUEST, e), Vec::new()),
            },
            RaftRequest::Snapshot | RaftRequest::SnapshotTo { .. } => match decode(&body) {
                Ok(rpc) => raft_answer(encode(&self.receive_snapshot(rpc).await)),
                Err(e) => (refuse(codes::BAD_REQUEST, e), Vec::new()),
            },
            RaftRequest::Submit => {
                let cmd = match Command::decode(&body) {
                    Ok(c) => c,
                    Err(e) => return (refuse(codes::BAD_REQUEST, e.to_string()), Vec::new()),
                };
                let Ok(written) = tokio::time::timeout(self.timeout, self.raft.client_write(cmd)).await else {
                    return (refuse(codes::NOT_COMMITTED, format!("no majority of gateways committed it within {:?}; it may still commit", self.timeout)), Vec::new());
                };
                match written {
                    Ok(r) => match encode(&(r.log_id.index, r.data)) {
                        Ok(b) => (RaftResponse::Submitted, b),
                        Err(e) => (refuse(codes::RAFT, e), Vec::new()),
                    },
                    Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => (refuse(codes::NOT_LEADER, "this gateway is not the leader"), Vec::new()),
                    Err(e) => (refuse(codes::RAFT, e.to_string()), Vec::new()),
                }
            }
            RaftRequest::ReadIndex => match self.shared_read_index().await {
                Ok(index) => (RaftResponse::ReadIndex { index }, Vec::new()),
                Err((true, why)) => (refuse(codes::NOT_LEADER, why), Vec::new()),
                Err((false, why)) => (refuse(codes::NO_LEADER, why), Vec::new()),
            },
            RaftRequest::Enrol { id, name, cluster, s3 } => {
                let node = GatewayNode { name, cluster, s3 };
                if !self.is_leader() {
                    return self.to_leader(&RaftRequest::Enrol { id, name: node.name, cluster: node.cluster, s3: node.s3 }, Duration::from_secs(3600)).await;
                }
                let Some(secrets) = self.secrets_for_enrol() else {
                    return (refuse(codes::RAFT, "this gateway does not hold the cluster's secrets"), Vec::new());
                };
                match self.enrol(id, node).await {
                    RaftResponse::Enrolled => match encode(&secrets) {
                        Ok(b) => (RaftResponse::Enrolled, b),
                        Err(e) => (refuse(codes::RAFT, e), Vec::new()),
                    },
                    other => (other, Vec::new()),
                }
            }
            RaftRequest::Remove { name } => {
                if !self.is_leader() {
                    return self.to_leader(&RaftRequest::Remove { name }, self.timeout).await;
                }
                (self.remove(&name).await, Vec::new())
            }
            RaftRequest::Status => match self.status().await {
                Ok(s) => match encode(&s) {
                    Ok(b) => (RaftResponse::Status, b),
                    Err(e) => (refuse(codes::RAFT, e), Vec::new()),
                },
                Err(NetError::Remote { code, message }) => (refuse(&code, message), Vec::new()),
                Err(e) => (refuse(codes::NO_LEADER, e.to_string()), Vec::new()),
            },
            RaftRequest::OpenWrites => self.answer_open_writes(&body),
            RaftRequest::Join(_) => (refuse(net_codes::BAD_FRAME, "joins are answered by the transport"), Vec::new()),
        }
    }

    /// Pass a request on to the leader and its answer back.
    pub(super) async fn to_leader(&self, req: &RaftRequest, timeout: Duration) -> (RaftResponse, Vec<u8>) {
        let Some((_, leader)) = self.leader() else {
            return (refuse(codes::NO_LEADER, "the metadata group has no leader: fewer than a majority of gateways are up"), Vec::new());
        };
        match self.net.call(&leader.cluster, req, &[], timeout).await {
            Ok(x) => x,
            Err(NetError::Remote { code, message }) => (refuse(&code, message), Vec::new()),
            Err(e) => (refuse(codes::NO_LEADER, format!("reaching the leader {}: {e}", leader.name)), Vec::new()),
        }
    }
}

/// The gateways' protocol handler: members presenting a gateway certificate only.
pub(super) struct GroupHandler(pub(super) Arc<MetaGroup>);

/// The common name every gateway's certificate carries.
pub const GATEWAY_NAME: &str = "gateway";

#[async_trait::async_trait]
impl Handler<RaftRequest> for GroupHandler {
    async fn handle(&self, peer: &str, req: RaftRequest, mut recv: quinn::RecvStream, send: quinn::SendStream) -> NetResult<()> {
        if peer != GATEWAY_NAME {
            tracing::warn!(peer, "gateway protocol request refused: the peer is not a gateway");
            return answer(send, &refuse(codes::FORBIDDEN, "only gateways may call the metadata group"), &[]).await;
        }
        let body = recv.read_to_end(MAX_BODY).await.map_err(|e| NetError::Connection { detail: e.to_string() })?;
        let (resp, out) = self.0.handle(req, body).await;
        answer(send, &resp, &out).await
    }
}
