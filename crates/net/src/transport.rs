//! QUIC endpoints with mutual TLS under the cluster CA, the request loop on
//! the serving side, calls and joins on the client side.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;

use crate::error::{NetError, NetResult};
use crate::pki::{common_name, provider, NodeIdentity, CLUSTER_SERVER_NAME};
use crate::authority::JoinAuthority;
use crate::protocol::{codes, WireError, WireRequest, WireResponse, DEFAULT_ALPN};
use crate::identity::LiveIdentity;
use crate::revoked::Revoked;
use crate::limits::{Gate, ServerLimits};
use crate::wire;

/// Transport tuning, shared by both ends.
#[derive(Clone, Debug)]
pub struct TransportTuning {
    /// Upper bound for path-MTU discovery (bytes of UDP payload). Loopback
    /// reaches it; a 1500-byte network stays at what it can carry. Above ~6,550 the kernel
    /// refuses quinn's batched sends (10 datagrams in one GSO send, which must fit 65,507 bytes) and they are lost.
    pub mtu_upper_bound: u16,
    /// Idle connections are closed after this long.
    pub idle_timeout: Duration,
    /// Keep-alive pings so idle connections survive NAT and stay warm.
    pub keep_alive: Duration,
    /// The longest we ask the peer to delay an ACK (QUIC ACK-frequency extension). The
    /// default 25 ms stalls a sender that waits for the ACK of a burst's odd last packet.
    pub max_ack_delay: Duration,
    /// How many ack-eliciting packets we ask the peer to take before it must ACK (QUIC
    /// ACK-frequency extension; 1, quinn's default, ACKs every other packet). A higher value
    /// speeds one bulk stream on loopback but slowed the cluster's GETs, which read k streams
    /// at once (BENCHMARKS.md, "Where the cluster GET spends its CPU"): left at 1.
    pub ack_eliciting_threshold: u32,
    /// Congestion window of a new connection, bytes (cluster links are LAN or loopback).
    pub initial_window: u64,
    /// Size asked of the kernel for each UDP socket's receive and send buffers, bytes. The
    /// kernel's default (208 KiB on Linux) holds under a millisecond of a bulk stream: one
    /// endpoint receiving from several nodes at once drops datagrams whenever its task waits
    /// for a core, and every drop halves a sender's congestion window (BENCHMARKS.md, "UDP
    /// socket buffers"). Linux caps the size at `net.core.rmem_max` / `wmem_max`; a smaller
    /// grant is logged once. A buffer the host already made larger is left as it is; 0 leaves
    /// both at the kernel's default.
    pub socket_buffer: usize,
    /// What a serving endpoint takes on.
    pub limits: ServerLimits,
}

impl Default for TransportTuning {
    fn default() -> Self {
        Self {
            mtu_upper_bound: 4096,
            idle_timeout: Duration::from_secs(10),
            keep_alive: Duration::from_secs(2),
            max_ack_delay: Duration::from_millis(1),
            ack_eliciting_threshold: 1,
            initial_window: 256 * 1024,
            socket_buffer: 4 << 20,
            limits: ServerLimits::default(),
        }
    }
}

pub(crate) fn tls(e: impl std::fmt::Display) -> NetError {
    NetError::Tls { detail: e.to_string() }
}

fn transport_config(t: &TransportTuning) -> NetResult<Arc<quinn::TransportConfig>> {
    let mut tc = quinn::TransportConfig::default();
    let mut mtu = quinn::MtuDiscoveryConfig::default();
    mtu.upper_bound(t.mtu_upper_bound);
    tc.mtu_discovery_config(Some(mtu));
    tc.max_idle_timeout(Some(quinn::IdleTimeout::try_from(t.idle_timeout).map_err(tls)?));
    tc.keep_alive_interval(Some(t.keep_alive));
    let mut ack = quinn::AckFrequencyConfig::default();
    ack.max_ack_delay(Some(t.max_ack_delay));
    ack.ack_eliciting_threshold(quinn::VarInt::from_u32(t.ack_eliciting_threshold));
    tc.ack_frequency_config(Some(ack));
    let mut cubic = quinn::congestion::CubicConfig::default();
    cubic.initial_window(t.initial_window);
    tc.congestion_controller_factory(Arc::new(cubic));
    Ok(Arc::new(tc))
}

/// A UDP socket bound to `addr` as a QUIC endpoint whose datagrams may grow
/// to the tuning's MTU bound (the peer learns it from the transport parameters).
pub(crate) fn endpoint(addr: SocketAddr, server: Option<quinn::ServerConfig>, t: &TransportTuning) -> NetResult<quinn::Endpoint> {
    let mut ec = quinn::EndpointConfig::default();
    ec.max_udp_payload_size(t.mtu_upper_bound.max(1200)).map_err(tls)?;
    let socket = bind_socket(addr, t)?;
    let runtime = quinn::default_runtime().ok_or_else(|| NetError::Tls { detail: "no async runtime for QUIC".into() })?;
    Ok(quinn::Endpoint::new(ec, server, socket, runtime)?)
}

/// The UDP socket of every endpoint: bound to `addr`, its buffers sized by the tuning.
pub(crate) fn bind_socket(addr: SocketAddr, t: &TransportTuning) -> NetResult<std::net::UdpSocket> {
    let socket = std::net::UdpSocket::bind(addr)?;
    size_buffers(&socket, t.socket_buffer);
    Ok(socket)
}

/// A buffer size as the kernel reports it once `bytes` were granted: Linux counts its
/// bookkeeping in and reports twice what was asked (an untouched socket reports its default
/// as it is).
pub(crate) fn as_reported(bytes: usize) -> usize {
    if cfg!(target_os = "linux") {
        bytes.saturating_mul(2)
    } else {
        bytes
    }
}

/// Ask for `bytes` (0: leave the kernel's default) of receive and send buffer on `socket`,
/// never shrinking one a host already made larger. Less is not an error (the endpoint works,
/// slower under load), but is said once per process.
fn size_buffers(socket: &std::net::UdpSocket, bytes: usize) {
    static TOLD: std::sync::Once = std::sync::Once::new();
    if bytes == 0 {
        return;
    }
    // The kernel takes an int.
    let bytes = bytes.min(i32::MAX as usize / 2);
    let sock = socket2::SockRef::from(socket);
    // What asking gives is capped by the kernel (and may be less than a host's default): ask a
    // throwaway socket (unbound) first, and ask `socket` only where that is more than it has.
    // Without one, assume the request is granted whole.
    let domain = socket.local_addr().map_or(socket2::Domain::IPV4, socket2::Domain::for_address);
    let probe = socket2::Socket::new(domain, socket2::Type::DGRAM, None).ok();
    // One buffer (its setter and getter): grown where asking gives more; the size it ends with.
    let grow = |set: fn(&socket2::Socket, usize) -> std::io::Result<()>, get: fn(&socket2::Socket) -> std::io::Result<usize>| {
        let would = probe.as_ref().and_then(|p| set(p, bytes).and_then(|()| get(p)).ok()).unwrap_or(as_reported(bytes));
        if get(&sock).is_ok_and(|n| n < would) {
            let _ = set(&sock, bytes);
        }
        get(&sock).unwrap_or(0)
    };
    let recv = grow(|s, n| s.set_recv_buffer_size(n), |s| s.recv_buffer_size());
    let send = grow(|s, n| s.set_send_buffer_size(n), |s| s.send_buffer_size());
    let want = as_reported(bytes);
    if recv < want || send < want {
        TOLD.call_once(|| {
            tracing::warn!(
                asked = bytes,
                receive = recv,
                send,
                "the kernel granted QUIC sockets smaller UDP buffers than asked (sizes as the kernel reports them); cluster \
                 transfers may drop datagrams and slow down under load. On Linux, raise the limits on the host (containers share \
                 them): `sysctl -w net.core.rmem_max={bytes} net.core.wmem_max={bytes}`"
            )
        });
    }
}

pub(crate) fn roots(ca_der: &[u8]) -> NetResult<Arc<RootCertStore>> {
    let mut r = RootCertStore::empty();
    r.add(CertificateDer::from(ca_der.to_vec())).map_err(tls)?;
    Ok(Arc::new(r))
}

/// Server side: present `id`, require client certificates from the cluster
/// CA — except that, with `allow_join`, a client without a certificate may
/// connect to send `Join` (and nothing else).
pub fn server_config(id: &NodeIdentity, allow_join: bool, t: &TransportTuning) -> NetResult<quinn::ServerConfig> {
    server_config_for(id, allow_join, t, &[DEFAULT_ALPN])
}

/// [`server_config`] for an endpoint serving the protocols with these ALPNs
/// ([`Server::serve_all`]).
pub fn server_config_for(id: &NodeIdentity, allow_join: bool, t: &TransportTuning, alpns: &[&[u8]]) -> NetResult<quinn::ServerConfig> {
    server_config_live(&LiveIdentity::new(id.clone())?, allow_join, t, alpns)
}

/// [`server_config_for`] presenting whatever certificate `live` holds at each handshake
/// (renewed while the endpoint runs).
pub fn server_config_live(live: &LiveIdentity, allow_join: bool, t: &TransportTuning, alpns: &[&[u8]]) -> NetResult<quinn::ServerConfig> {
    let mut vb = rustls::server::WebPkiClientVerifier::builder_with_provider(roots(&live.current().ca_der)?, provider());
    if allow_join {
        vb = vb.allow_unauthenticated();
    }
    let verifier = vb.build().map_err(tls)?;
    let mut sc = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls)?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(live.clone()));
    sc.alpn_protocols = alpns.iter().map(|a| a.to_vec()).collect();
    // No session resumption: a resumed TLS 1.3 session skips the check of the client's
    // certificate, so a certificate that expired (or a key since replaced) could go on
    // resuming. Every connection is a full handshake; members hold few, long-lived ones.
    sc.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    sc.send_tls13_tickets = 0;
    let mut cfg = quinn::ServerConfig::with_crypto(Arc::new(QuicServerConfig::try_from(sc).map_err(tls)?));
    cfg.transport_config(transport_config(t)?);
    Ok(cfg)
}

/// Client side for members: verify the peer against the cluster CA, present `id`.
pub fn client_config(id: &NodeIdentity, t: &TransportTuning) -> NetResult<quinn::ClientConfig> {
    client_config_for(&LiveIdentity::new(id.clone())?, t, DEFAULT_ALPN)
}

/// [`client_config`] speaking the protocol with ALPN `alpn`.
fn client_config_for(live: &LiveIdentity, t: &TransportTuning, alpn: &[u8]) -> NetResult<quinn::ClientConfig> {
    let cc = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls)?
        .with_root_certificates(roots(&live.current().ca_der)?)
        .with_client_cert_resolver(Arc::new(live.clone()));
    quic_client(cc, t, alpn)
}

/// Our ALPN and transport tuning on a rustls client config, as a QUIC client config.
pub(crate) fn quic_client(mut cc: rustls::ClientConfig, t: &TransportTuning, alpn: &[u8]) -> NetResult<quinn::ClientConfig> {
    cc.alpn_protocols = vec![alpn.to_vec()];
    // Full handshakes only (see `server_config_live`), so no 0-RTT either.
    cc.resumption = rustls::client::Resumption::disabled();
    cc.enable_early_data = false;
    let mut cfg = quinn::ClientConfig::new(Arc::new(QuicClientConfig::try_from(cc).map_err(tls)?));
    cfg.transport_config(transport_config(t)?);
    Ok(cfg)
}


/// Who is on the other end of a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Peer {
    /// A cluster member, by its certificate's common name (verified against the CA).
    Member(String),
    /// No client certificate: may only join.
    Anonymous,
}

/// The verified identity of a connection's peer.
pub fn peer_of(conn: &quinn::Connection) -> Peer {
    conn.peer_identity()
        .and_then(|any| any.downcast::<Vec<CertificateDer<'static>>>().ok())
        .and_then(|chain| chain.first().and_then(|c| common_name(c)))
        .map_or(Peer::Anonymous, Peer::Member)
}

/// What a serving node does with a member's request of protocol `R`. `recv` holds the body
/// (if the request has one); the handler writes its answer on `send`.
#[async_trait::async_trait]
pub trait Handler<R: WireRequest>: Send + Sync + 'static {
    /// Serve one request from a member.
    async fn handle(&self, peer: &str, req: R, recv: quinn::RecvStream, send: quinn::SendStream) -> NetResult<()>;

    /// The transport refused a request before it reached [`Handler::handle`] (a peer without
    /// a certificate asking for more than a join); a handler counts these with its own.
    fn refused_anonymous(&self) {}

    /// The transport refused a request from a member whose certificate is revoked (a node
    /// removed from the cluster); counted with the others by default.
    fn refused_revoked(&self, _peer: &str) {
        self.refused_anonymous();
    }
}


/// One protocol an endpoint serves: its ALPN, and its handler behind the request loop.
#[derive(Clone)]
pub struct Service {
    alpn: &'static [u8],
    serve: Arc<dyn Fn(Peer, StreamCtx, quinn::SendStream, quinn::RecvStream) -> StreamFuture + Send + Sync>,
    /// The handler's count of refused requests, for a revoked member's connection.
    refused_revoked: Arc<dyn Fn(&str) + Send + Sync>,
}

type StreamFuture = std::pin::Pin<Box<dyn std::future::Future<Output = NetResult<()>> + Send>>;

/// What a stream's server needs besides the peer: the endpoint's first-frame deadline and
/// the names whose certificates it refuses.
#[derive(Clone)]
struct StreamCtx {
    first_frame: Duration,
    revoked: Revoked,
}

impl Service {
    /// Serve protocol `R` with `handler`; joins (variant 0) are answered by `join`, or refused
    /// when there is none.
    pub fn new<R: WireRequest>(handler: Arc<dyn Handler<R>>, join: Option<Arc<JoinAuthority>>) -> Self {
        let h = handler.clone();
        Self {
            alpn: R::ALPN,
            serve: Arc::new(move |peer, ctx, send, recv| Box::pin(serve_stream::<R>(peer, handler.clone(), join.clone(), ctx, send, recv))),
            refused_revoked: Arc::new(move |peer| h.refused_revoked(peer)),
        }
    }

    /// Like [`Service::new`], with a join authority that arrives later (a gateway joining a
    /// group serves before it holds the CA); joins are refused until it is set.
    pub fn with_late_join<R: WireRequest>(handler: Arc<dyn Handler<R>>, join: Arc<std::sync::OnceLock<Arc<JoinAuthority>>>) -> Self {
        let h = handler.clone();
        Self {
            alpn: R::ALPN,
            serve: Arc::new(move |peer, ctx, send, recv| Box::pin(serve_stream::<R>(peer, handler.clone(), join.get().cloned(), ctx, send, recv))),
            refused_revoked: Arc::new(move |peer| h.refused_revoked(peer)),
        }
    }

    /// The ALPN the protocol is selected by.
    pub fn alpn(&self) -> &'static [u8] {
        self.alpn
    }
}

/// The ALPN a connection negotiated.
fn negotiated_alpn(conn: &quinn::Connection) -> Option<Vec<u8>> {
    conn.handshake_data()?.downcast::<quinn::crypto::rustls::HandshakeData>().ok()?.protocol
}

/// A bound QUIC endpoint serving requests.
pub struct Server {
    endpoint: quinn::Endpoint,
    gate: Arc<Gate>,
    revoked: Revoked,
}

impl Server {
    /// Bind `addr` (port 0 picks one).
    pub fn bind(addr: SocketAddr, cfg: quinn::ServerConfig, t: &TransportTuning) -> NetResult<Self> {
        Ok(Self { endpoint: endpoint(addr, Some(cfg), t)?, gate: Gate::new(t.limits.clone()), revoked: Revoked::new() })
    }

    /// Refuse members whose names `revoked` holds (removed nodes), now and as it grows: their
    /// connections are closed when they open, and each request on one already open is
    /// answered `Revoked`.
    pub fn with_revoked(mut self, revoked: Revoked) -> Self {
        self.revoked = revoked;
        self
    }

    /// The endpoint's limits and their counters (tests).
    #[cfg(test)]
    pub(crate) fn gate(&self) -> Arc<Gate> {
        self.gate.clone()
    }

    /// The bound address.
    pub fn local_addr(&self) -> NetResult<SocketAddr> {
        Ok(self.endpoint.local_addr()?)
    }

    /// Accept connections and serve their streams (requests of protocol `R`) until the
    /// endpoint closes.
    pub async fn serve<R: WireRequest>(self, handler: Arc<dyn Handler<R>>, join: Option<Arc<JoinAuthority>>) {
        self.serve_all(vec![Service::new(handler, join)]).await
    }

    /// Accept connections and serve each with the protocol its ALPN selects (the endpoint's
    /// config must offer those ALPNs: [`server_config_for`]) until the endpoint closes.
    pub async fn serve_all(self, services: Vec<Service>) {
        let services: Arc<[Service]> = services.into();
        while let Some(incoming) = self.endpoint.accept().await {
            // Many handshakes at once (a flood, perhaps from spoofed addresses): a new peer
            // first proves it receives at its address (a Retry costs the server no state).
            if !incoming.remote_address_validated() && self.gate.must_validate() {
                tracing::debug!(peer = %incoming.remote_address(), "QUIC address validation (Retry) asked: many handshakes in progress");
                match incoming.retry() {
                    Ok(()) => self.gate.retry_sent(),
                    Err(e) => e.into_incoming().refuse(),
                }
                continue;
            }
            // Over the cap a connection is refused before its handshake costs anything.
            let Some(place) = self.gate.connection() else {
                tracing::debug!(peer = %incoming.remote_address(), "QUIC connection refused: too many open");
                incoming.refuse();
                continue;
            };
            let handshake = self.gate.handshake();
            let (services, gate, revoked) = (services.clone(), self.gate.clone(), self.revoked.clone());
            tokio::spawn(async move {
                let _place = place;
                // A handshake that does not finish in time gives its place back.
                let conn = match tokio::time::timeout(gate.handshake_deadline(), incoming).await {
                    Ok(Ok(c)) => c,
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "QUIC handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!("QUIC handshake not finished in time; dropped");
                        return;
                    }
                };
                drop(handshake);
                let peer = peer_of(&conn);
                // A peer without a certificate may only join: few at once, at a bounded rate.
                let joining = match peer {
                    Peer::Anonymous => match gate.anonymous() {
                        Some(h) => Some(h),
                        None => {
                            // Debug only: a flood of these must not flood the log as well.
                            tracing::debug!(peer = %conn.remote_address(), "connection without a certificate refused: too many joining, or too fast");
                            conn.close(0u32.into(), b"too many joining nodes; retry later");
                            return;
                        }
                    },
                    Peer::Member(_) => None,
                };
                let alpn = negotiated_alpn(&conn);
                let Some(service) = services.iter().find(|s| Some(s.alpn) == alpn.as_deref()).cloned() else {
                    tracing::debug!(?alpn, "connection for a protocol this endpoint does not serve");
                    conn.close(0u32.into(), b"unknown protocol");
                    return;
                };
                if let Peer::Member(name) = &peer {
                    if revoked.contains(name) {
                        if revoked.warn_due(name) {
                            tracing::warn!(peer = name, addr = %conn.remote_address(), "connection refused: the certificate is revoked (the node was removed from the cluster); further refusals of it are logged once a minute");
                        } else {
                            tracing::debug!(peer = name, addr = %conn.remote_address(), "connection refused: the certificate is revoked");
                        }
                        (service.refused_revoked)(name);
                        conn.close(0u32.into(), b"this node was removed from the cluster");
                        return;
                    }
                }
                let anonymous = joining.is_some();
                let streams = async {
                    loop {
                        let (send, recv) = match conn.accept_bi().await {
                            Ok(s) => s,
                            Err(_) => return,
                        };
                        let ctx = StreamCtx { first_frame: gate.first_frame(), revoked: revoked.clone() };
                        let fut = (service.serve)(peer.clone(), ctx, send, recv);
                        tokio::spawn(async move {
                            if let Err(e) = fut.await {
                                tracing::debug!(error = %e, "request failed");
                            }
                        });
                    }
                };
                if anonymous {
                    // A join takes one exchange: a connection without a certificate is closed
                    // after a while, so joiners cannot keep their places (and lock out real joins).
                    let _ = tokio::time::timeout(gate.anonymous_lifetime(), streams).await;
                    conn.close(0u32.into(), b"join connections are short-lived; join again");
                } else {
                    streams.await;
                }
            });
        }
    }

    /// Close the endpoint.
    pub fn close(&self) {
        self.endpoint.close(0u32.into(), b"shutdown");
    }

    /// A handle that can close the endpoint later.
    pub fn endpoint(&self) -> quinn::Endpoint {
        self.endpoint.clone()
    }
}

async fn serve_stream<R: WireRequest>(
    peer: Peer,
    handler: Arc<dyn Handler<R>>,
    join: Option<Arc<JoinAuthority>>,
    ctx: StreamCtx,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
) -> NetResult<()> {
    let first_frame = ctx.first_frame;
    let answer = |e: WireError| R::Response::error(e);
    let read = tokio::time::timeout(first_frame, wire::read_frame(&mut recv)).await;
    let read = read.unwrap_or_else(|_| Err(NetError::BadFrame { detail: format!("{} {first_frame:?}", crate::protocol::NO_REQUEST_FRAME) }));
    let req: R = match read {
        Ok(r) => r,
        Err(e) => {
            let _ = wire::write_frame(&mut send, &answer(WireError::new(codes::BAD_FRAME, e.to_string()))).await;
            let _ = send.finish();
            return Err(e);
        }
    };
    let req = match req.into_join() {
        Ok(j) => {
            let resp = match &join {
                Some(authority) => authority.answer(&j).await.map_or_else(answer, R::Response::joined),
                None => answer(WireError::new(codes::NOT_A_GATEWAY, "join at the gateway's address")),
            };
            wire::write_frame(&mut send, &resp).await?;
            let _ = send.finish();
            return Ok(());
        }
        Err(req) => req,
    };
    match peer {
        Peer::Anonymous => {
            tracing::warn!("request refused: the peer has no cluster certificate");
            handler.refused_anonymous();
            wire::write_frame(&mut send, &answer(WireError::new(codes::UNAUTHENTICATED, "join the cluster first: only members may call this"))).await?;
            let _ = send.finish();
            Ok(())
        }
        // Removed while its connection was open: every further request is refused.
        Peer::Member(name) if ctx.revoked.contains(&name) => {
            if ctx.revoked.warn_due(&name) {
                tracing::warn!(peer = name, "request refused: the certificate is revoked (the node was removed from the cluster); further refusals of it are logged once a minute");
            } else {
                tracing::debug!(peer = name, "request refused: the certificate is revoked");
            }
            handler.refused_revoked(&name);
            let msg = format!("{name} was removed from this cluster and its certificate is revoked; a new node joins with a new --name and an empty --state");
            wire::write_frame(&mut send, &answer(WireError::new(codes::REVOKED, msg))).await?;
            let _ = send.finish();
            Ok(())
        }
        Peer::Member(name) => handler.handle(&name, req, recv, send).await,
    }
}

/// Client side: one endpoint, connections to peers, request/response calls.
#[derive(Clone, Debug)]
pub struct Client {
    endpoint: quinn::Endpoint,
    cfg: quinn::ClientConfig,
}

impl Client {
    /// A client presenting `id`, speaking the shard protocol.
    pub fn new(id: &NodeIdentity, t: &TransportTuning) -> NetResult<Self> {
        Self::with_alpn(&LiveIdentity::new(id.clone())?, t, DEFAULT_ALPN)
    }

    /// A client presenting `id`, speaking protocol `R`.
    pub fn for_protocol<R: WireRequest>(id: &NodeIdentity, t: &TransportTuning) -> NetResult<Self> {
        Self::with_alpn(&LiveIdentity::new(id.clone())?, t, R::ALPN)
    }

    /// A client presenting whatever certificate `live` holds when it connects (renewed while
    /// it runs), speaking protocol `R`.
    pub fn live<R: WireRequest>(live: &LiveIdentity, t: &TransportTuning) -> NetResult<Self> {
        Self::with_alpn(live, t, R::ALPN)
    }

    fn with_alpn(live: &LiveIdentity, t: &TransportTuning, alpn: &[u8]) -> NetResult<Self> {
        let mut endpoint = endpoint(SocketAddr::from(([0, 0, 0, 0], 0)), None, t)?;
        let cfg = client_config_for(live, t, alpn)?;
        endpoint.set_default_client_config(cfg.clone());
        Ok(Self { endpoint, cfg })
    }

    /// Connect to a member.
    pub async fn connect(&self, addr: SocketAddr) -> NetResult<quinn::Connection> {
        let connecting = self
            .endpoint
            .connect_with(self.cfg.clone(), addr, CLUSTER_SERVER_NAME)
            .map_err(|e| NetError::Connect { addr: addr.to_string(), detail: e.to_string() })?;
        connecting.await.map_err(|e| NetError::Connect { addr: addr.to_string(), detail: e.to_string() })
    }
}

/// Send `req` (and `body`) on a new stream and read the response frame; the
/// response body, if any, is left in the returned stream.
pub async fn call<R: WireRequest>(conn: &quinn::Connection, req: &R, body: Option<&[u8]>, timeout: Duration) -> NetResult<(R::Response, quinn::RecvStream)> {
    let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
    let fut = async {
        let (mut send, mut recv) = conn.open_bi().await.map_err(|e| NetError::Connection { detail: e.to_string() })?;
        wire::write_frame(&mut send, req).await?;
        if let Some(b) = body {
            send.write_all(b).await.map_err(|e| NetError::Connection { detail: e.to_string() })?;
        }
        let _ = send.finish();
        let resp: R::Response = wire::read_frame(&mut recv).await?;
        Ok((resp, recv))
    };
    tokio::time::timeout(timeout, fut).await.map_err(|_| NetError::Timeout { ms })?
}

/// Turn an error answer into `NetError::Remote`.
pub fn check<S: WireResponse>(resp: S) -> NetResult<S> {
    match resp.into_error() {
        Ok(WireError { code, message }) => Err(NetError::Remote { code, message }),
        Err(other) => Ok(other),
    }
}
