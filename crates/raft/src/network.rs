//! Raft's messages between gateways over the cluster transport: one QUIC connection per
//! peer, reused, re-made after it fails; one stream per message.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kintsugi_net::{Client, NetError, NetResult};
use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest, VoteResponse};

use crate::proto::{RaftRequest, RaftResponse, MAX_BODY};
use crate::{decode, encode, GatewayNode, TypeConfig};

/// Connections to the other gateways.
#[derive(Clone)]
pub struct Network {
    client: Client,
    conns: Arc<std::sync::Mutex<HashMap<String, quinn::Connection>>>,
    /// Gateways older than addressed Raft messages (they answered one `BadFrame`): the
    /// connection to each that answered so. Known per connection, not per address: a process
    /// started again at that address (a new connection) is asked with addressed ones again.
    /// (The connection itself is kept, not its `stable_id`, which a later one could reuse.)
    older: Arc<std::sync::Mutex<HashMap<String, quinn::Connection>>>,
}

/// Forgets a gateway's connection when the call using it does not finish well — also when
/// the call is dropped (openraft times its calls out by dropping them): a peer that was
/// killed and restarted never closes the old connection, which would otherwise be reused
/// until QUIC's idle timeout.
struct Forget<'a> {
    net: &'a Network,
    addr: &'a str,
    armed: bool,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        if self.armed {
            if let Ok(mut conns) = self.net.conns.lock() {
                conns.remove(self.addr);
            }
            // A mark is for the connection just forgotten: it goes too (and lets it close).
            if let Ok(mut older) = self.net.older.lock() {
                older.remove(self.addr);
            }
        }
    }
}

impl Network {
    /// Gateways reached with `client` (which speaks [`RaftRequest`]).
    pub fn new(client: Client) -> Self {
        Self { client, conns: Arc::default(), older: Arc::default() }
    }

    /// The connection to `addr` over which the gateway is known to be older than addressed
    /// Raft messages, if it is still the cached one (and open).
    fn older_connection(&self, addr: &str) -> Option<quinn::Connection> {
        let cached = self.conns.lock().ok().and_then(|c| c.get(addr).map(quinn::Connection::stable_id));
        let mut older = self.older.lock().ok()?;
        let marked = older.get(addr)?;
        if cached == Some(marked.stable_id()) && marked.close_reason().is_none() {
            return Some(marked.clone());
        }
        // Another connection now, or none: whoever answers there is asked afresh (and the
        // marked connection is let go).
        older.remove(addr);
        None
    }

    /// The gateway that answered over `conn` could not decode an addressed message.
    fn mark_older(&self, addr: &str, conn: &quinn::Connection) {
        if let Ok(mut o) = self.older.lock() {
            if o.insert(addr.to_owned(), conn.clone()).is_none_or(|old| old.stable_id() != conn.stable_id()) {
                tracing::info!(gateway = addr, "a gateway of an older version: sending it unaddressed Raft messages over this connection");
            }
        }
    }

    async fn connection(&self, addr: &str) -> NetResult<quinn::Connection> {
        let cached = self.conns.lock().ok().and_then(|c| c.get(addr).cloned());
        if let Some(c) = cached.filter(|c| c.close_reason().is_none()) {
            return Ok(c);
        }
        let sock: SocketAddr = tokio::net::lookup_host(addr)
            .await?
            .next()
            .ok_or_else(|| NetError::Connect { addr: addr.to_owned(), detail: "address does not resolve".into() })?;
        let c = self.client.connect(sock).await?;
        if let Ok(mut conns) = self.conns.lock() {
            conns.insert(addr.to_owned(), c.clone());
        }
        Ok(c)
    }

    /// Send `req` and `body` to the gateway at `addr`; the answer (an error answer becomes
    /// [`NetError::Remote`]) and its body.
    pub async fn call(&self, addr: &str, req: &RaftRequest, body: &[u8], timeout: Duration) -> NetResult<(RaftResponse, Vec<u8>)> {
        self.call_over(addr, None, req, body, timeout).await.0
    }

    /// As [`Network::call`], over `over` if given (else the cached connection, or a new one);
    /// also answers the connection used, if one was.
    async fn call_over(
        &self,
        addr: &str,
        over: Option<&quinn::Connection>,
        req: &RaftRequest,
        body: &[u8],
        timeout: Duration,
    ) -> (NetResult<(RaftResponse, Vec<u8>)>, Option<quinn::Connection>) {
        let mut guard = Forget { net: self, addr, armed: true };
        let mut used = None;
        let answer = async {
            let conn = match over {
                Some(c) => c.clone(),
                None => self.connection(addr).await?,
            };
            used = Some(conn.clone());
            let body = if body.is_empty() { None } else { Some(body) };
            let (resp, mut recv) = kintsugi_net::call(&conn, req, body, timeout).await?;
            let rest = recv.read_to_end(MAX_BODY).await.map_err(|e| NetError::Connection { detail: e.to_string() })?;
            Ok((resp, rest))
        };
        let out: NetResult<(RaftResponse, Vec<u8>)> =
            tokio::time::timeout(timeout, answer).await.unwrap_or(Err(NetError::Timeout { ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX) }));
        // The connection carried an answer (even an error answer): keep it.
        guard.armed = out.is_err();
        (out.and_then(|(resp, rest)| Ok((kintsugi_net::check(resp)?, rest))), used)
    }
}

/// Write an answer and its body on a stream, then finish it.
pub(crate) async fn answer(mut send: quinn::SendStream, resp: &RaftResponse, body: &[u8]) -> NetResult<()> {
    kintsugi_net::write_frame(&mut send, resp).await?;
    if !body.is_empty() {
        send.write_all(body).await.map_err(|e| NetError::Connection { detail: e.to_string() })?;
    }
    let _ = send.finish();
    Ok(())
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerLink;

    async fn new_client(&mut self, target: u64, node: &GatewayNode) -> PeerLink {
        PeerLink { net: self.clone(), target, addr: node.cluster.clone() }
    }
}

/// Raft's link to one gateway.
pub struct PeerLink {
    net: Network,
    target: u64,
    addr: String,
}

/// The three kinds of Raft message.
#[derive(Clone, Copy)]
enum Kind {
    Append,
    Vote,
    Snapshot,
}

impl PeerLink {
    fn request(&self, kind: Kind, unaddressed: bool) -> RaftRequest {
        let target = self.target;
        match (kind, unaddressed) {
            (Kind::Append, false) => RaftRequest::AppendTo { target },
            (Kind::Vote, false) => RaftRequest::VoteTo { target },
            (Kind::Snapshot, false) => RaftRequest::SnapshotTo { target },
            (Kind::Append, true) => RaftRequest::Append,
            (Kind::Vote, true) => RaftRequest::Vote,
            (Kind::Snapshot, true) => RaftRequest::Snapshot,
        }
    }

    async fn raft_call<Req, Resp, E>(&self, kind: Kind, rpc: &Req, option: &RPCOption) -> Result<Resp, RPCError<u64, GatewayNode, RaftError<u64, E>>>
    where
        Req: serde::Serialize,
        Resp: serde::de::DeserializeOwned,
        E: std::error::Error + serde::de::DeserializeOwned,
    {
        let body = encode(rpc).map_err(|e| RPCError::Network(NetworkError::new(&kintsugi_net::NetError::BadFrame { detail: e })))?;
        let timeout = option.hard_ttl();
        let older = self.net.older_connection(&self.addr);
        let (mut answer, used) = self.net.call_over(&self.addr, older.as_ref(), &self.request(kind, older.is_some()), &body, timeout).await;
        // A gateway from before addressed messages cannot decode them (not a frame that came
        // too late, which is BadFrame too): send it the old ones, over the connection that
        // answered so only. (A snapshot chunk too large for the stream's window fails to send
        // instead: the next heartbeat learns it.)
        let undecodable = |e: &NetError| matches!(e, NetError::Remote { code, message } if code == kintsugi_net::codes::BAD_FRAME && !message.contains(kintsugi_net::NO_REQUEST_FRAME));
        if let (None, Some(conn)) = (&older, used) {
            if answer.as_ref().err().is_some_and(undecodable) {
                self.net.mark_older(&self.addr, &conn);
                answer = self.net.call_over(&self.addr, Some(&conn), &self.request(kind, true), &body, timeout).await.0;
            }
        }
        match answer {
            Ok((RaftResponse::Raft, bytes)) => match decode::<Result<Resp, RaftError<u64, E>>>(&bytes) {
                Ok(Ok(r)) => Ok(r),
                Ok(Err(e)) => Err(RPCError::RemoteError(RemoteError::new(self.target, e))),
                Err(e) => Err(RPCError::Network(NetworkError::new(&NetError::BadFrame { detail: e }))),
            },
            Ok((other, _)) => Err(RPCError::Network(NetworkError::new(&NetError::BadFrame { detail: format!("unexpected answer {other:?}") }))),
            // Also a gateway that answers for another Raft id (`NotThisGateway`): the member
            // this link is for is not there.
            Err(e) => Err(RPCError::Unreachable(Unreachable::new(&e))),
        }
    }
}

impl RaftNetwork<TypeConfig> for PeerLink {
    async fn append_entries(&mut self, rpc: AppendEntriesRequest<TypeConfig>, option: RPCOption) -> Result<AppendEntriesResponse<u64>, RPCError<u64, GatewayNode, RaftError<u64>>> {
        self.raft_call(Kind::Append, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<u64>, RPCError<u64, GatewayNode, RaftError<u64, InstallSnapshotError>>> {
        self.raft_call(Kind::Snapshot, &rpc, &option).await
    }

    async fn vote(&mut self, rpc: VoteRequest<u64>, option: RPCOption) -> Result<VoteResponse<u64>, RPCError<u64, GatewayNode, RaftError<u64>>> {
        self.raft_call(Kind::Vote, &rpc, &option).await
    }
}
