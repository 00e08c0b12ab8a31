//! QUIC endpoints with mutual TLS under the cluster CA, the request loop on
//! the serving side, calls and joins on the client side.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::{NetError, NetResult};
use crate::pki::{self, common_name, ClusterCa, NodeIdentity, CLUSTER_SERVER_NAME};
use crate::token::{secrets_equal, JoinToken};
use crate::protocol::{codes, JoinRequest, Joined, WireError, WireRequest, WireResponse, DEFAULT_ALPN};
use crate::limits::{Gate, ServerLimits};
use crate::wire;

/// Transport tuning, shared by both ends.
#[derive(Clone, Debug)]
pub struct TransportTuning {
    /// Upper bound for path-MTU discovery (bytes of UDP payload). Loopback
    /// reaches it; a 1500-byte network stays at what it can carry.
    pub mtu_upper_bound: u16,
    /// Idle connections are closed after this long.
    pub idle_timeout: Duration,
    /// Keep-alive pings so idle connections survive NAT and stay warm.
    pub keep_alive: Duration,
    /// The longest we ask the peer to delay an ACK (QUIC ACK-frequency extension). The
    /// default 25 ms stalls a sender that waits for the ACK of a burst's odd last packet.
    pub max_ack_delay: Duration,
    /// Congestion window of a new connection, bytes (cluster links are LAN or loopback).
    pub initial_window: u64,
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
            initial_window: 256 * 1024,
            limits: ServerLimits::default(),
        }
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls(e: impl std::fmt::Display) -> NetError {
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
    tc.ack_frequency_config(Some(ack));
    let mut cubic = quinn::congestion::CubicConfig::default();
    cubic.initial_window(t.initial_window);
    tc.congestion_controller_factory(Arc::new(cubic));
    Ok(Arc::new(tc))
}

/// A UDP socket bound to `addr` as a QUIC endpoint whose datagrams may grow
/// to the tuning's MTU bound (the peer learns it from the transport parameters).
fn endpoint(addr: SocketAddr, server: Option<quinn::ServerConfig>, t: &TransportTuning) -> NetResult<quinn::Endpoint> {
    let mut ec = quinn::EndpointConfig::default();
    ec.max_udp_payload_size(t.mtu_upper_bound.max(1200)).map_err(tls)?;
    let socket = std::net::UdpSocket::bind(addr)?;
    let runtime = quinn::default_runtime().ok_or_else(|| NetError::Tls { detail: "no async runtime for QUIC".into() })?;
    Ok(quinn::Endpoint::new(ec, server, socket, runtime)?)
}

fn roots(ca_der: &[u8]) -> NetResult<Arc<RootCertStore>> {
    let mut r = RootCertStore::empty();
    r.add(CertificateDer::from(ca_der.to_vec())).map_err(tls)?;
    Ok(Arc::new(r))
}

fn chain_and_key(id: &NodeIdentity) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    (
        vec![CertificateDer::from(id.cert_der.clone()), CertificateDer::from(id.ca_der.clone())],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(id.key_der.clone())),
    )
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
    let mut vb = rustls::server::WebPkiClientVerifier::builder_with_provider(roots(&id.ca_der)?, provider());
    if allow_join {
        vb = vb.allow_unauthenticated();
    }
    let verifier = vb.build().map_err(tls)?;
    let (chain, key) = chain_and_key(id);
    let mut sc = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(tls)?;
    sc.alpn_protocols = alpns.iter().map(|a| a.to_vec()).collect();
    let mut cfg = quinn::ServerConfig::with_crypto(Arc::new(QuicServerConfig::try_from(sc).map_err(tls)?));
    cfg.transport_config(transport_config(t)?);
    Ok(cfg)
}

/// Client side for members: verify the peer against the cluster CA, present `id`.
pub fn client_config(id: &NodeIdentity, t: &TransportTuning) -> NetResult<quinn::ClientConfig> {
    client_config_for(id, t, DEFAULT_ALPN)
}

/// [`client_config`] speaking the protocol with ALPN `alpn`.
fn client_config_for(id: &NodeIdentity, t: &TransportTuning, alpn: &[u8]) -> NetResult<quinn::ClientConfig> {
    let (chain, key) = chain_and_key(id);
    let cc = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls)?
        .with_root_certificates(roots(&id.ca_der)?)
        .with_client_auth_cert(chain, key)
        .map_err(tls)?;
    quic_client(cc, t, alpn)
}

/// Our ALPN and transport tuning on a rustls client config, as a QUIC client config.
fn quic_client(mut cc: rustls::ClientConfig, t: &TransportTuning, alpn: &[u8]) -> NetResult<quinn::ClientConfig> {
    cc.alpn_protocols = vec![alpn.to_vec()];
    let mut cfg = quinn::ClientConfig::new(Arc::new(QuicClientConfig::try_from(cc).map_err(tls)?));
    cfg.transport_config(transport_config(t)?);
    Ok(cfg)
}

/// Verifies a server whose chain contains the CA with the pinned fingerprint,
/// by ordinary WebPKI verification with that CA as the only root.
#[derive(Debug)]
struct PinnedCa {
    fingerprint: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let ca = intermediates
            .iter()
            .find(|c| pki::fingerprint(c) == self.fingerprint)
            .ok_or_else(|| rustls::Error::General("the gateway's certificate is not from the cluster CA the join token pins".into()))?;
        let mut r = RootCertStore::empty();
        r.add(ca.clone().into_owned()).map_err(|e| rustls::Error::General(e.to_string()))?;
        let v = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(r), self.provider.clone())
            .build()
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        v.verify_server_cert(end_entity, &[], server_name, ocsp, now)
    }

    fn verify_tls12_signature(&self, m: &[u8], c: &CertificateDer<'_>, d: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(&self, m: &[u8], c: &CertificateDer<'_>, d: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

pub(crate) fn join_client_config(token: &JoinToken, t: &TransportTuning, alpn: &[u8]) -> NetResult<quinn::ClientConfig> {
    let v = PinnedCa { fingerprint: token.ca_fingerprint.clone(), provider: provider() };
    let cc = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(v))
        .with_no_client_auth();
    quic_client(cc, t, alpn)
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
}

/// Whether a node name already belongs to a member of the cluster.
pub type NameTaken = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Decides which join secrets admit a node, when that is more than one fixed secret: join
/// tokens that expire, count their uses and can be revoked (the gateway's, kept in its
/// replicated metadata).
#[async_trait::async_trait]
pub trait Admission: Send + Sync {
    /// Whether `secret` admits a join now. Records nothing: it runs before the request's
    /// name is checked, so that a peer without a valid secret learns nothing of the names.
    async fn check(&self, secret: &str) -> Result<(), WireError>;
    /// Record that `secret` admitted `node_name` (one use of a token with a use count); refused
    /// when it no longer admits (used up or revoked meanwhile).
    async fn consume(&self, secret: &str, node_name: &str) -> Result<(), WireError>;
}

/// Signs certificates for nodes that present the join secret.
pub struct JoinAuthority {
    /// The cluster CA.
    pub ca: Arc<ClusterCa>,
    /// The secret in join tokens (unused when `admission` is set).
    pub secret: String,
    /// Join tokens with their own secrets, lifetimes and use counts, instead of `secret`.
    pub admission: Option<Arc<dyn Admission>>,
    /// Names already taken: a join under one of them is refused (two processes under one
    /// name would be one node to the cluster map). `None` admits every name.
    pub name_taken: Option<NameTaken>,
    /// Issue every certificate under this name, whatever name the request gives (which is
    /// then only logged): gateways all present `gateway` to the nodes. `None`: the
    /// requested name, checked.
    pub issue_as: Option<String>,
}

impl JoinAuthority {
    /// Answer a join request: a signed certificate, or the error that says why not.
    pub async fn answer(&self, req: &JoinRequest) -> Result<Joined, WireError> {
        let node_name = req.node_name.as_str();
        match &self.admission {
            Some(a) => {
                if let Err(e) = a.check(&req.secret).await {
                    tracing::warn!(node_name, error = %e.message, "join refused");
                    return Err(e);
                }
            }
            None if !secrets_equal(&req.secret, &self.secret) => {
                tracing::warn!(node_name, "join refused: wrong secret");
                return Err(WireError::new(codes::BAD_JOIN_SECRET, "the join secret is wrong; get a fresh token with `kintsugi admin join-token`"));
            }
            None => {}
        }
        if let Some(cn) = &self.issue_as {
            return match self.ca.sign_csr(&req.csr_der, cn) {
                Ok(cert_der) => {
                    tracing::info!(requested = node_name, name = cn, "joined: certificate issued");
                    Ok(Joined { cert_der, ca_der: self.ca.cert_der().to_vec() })
                }
                Err(e) => Err(WireError::new(codes::BAD_CSR, e.to_string())),
            };
        }
        if node_name == "gateway" {
            return Err(WireError::new(codes::BAD_NODE_NAME, "the name `gateway` is reserved; pick another --name"));
        }
        if node_name.is_empty() || node_name.len() > 64 || !node_name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(WireError::new(codes::BAD_NODE_NAME, "node names are 1-64 letters, digits, - or _"));
        }
        if self.name_taken.as_ref().is_some_and(|taken| taken(node_name)) {
            tracing::warn!(node_name, "join refused: the name belongs to a member already");
            return Err(WireError::new(
                codes::NODE_NAME_TAKEN,
                format!(
                    "a node named {node_name:?} is already a member of this cluster; start this node with its own \
                     --name NAME (and its own --state DIR; the default name is the host name). If this is that node \
                     re-joining after losing its --state directory, remove the old one first \
                     (`kintsugi admin node remove {node_name}`)"
                ),
            ));
        }
        // Signed before a use is recorded, so a request that cannot be signed (a malformed
        // CSR) spends nothing of a token; the certificate is handed out only once it has.
        let cert_der = self.ca.sign_csr(&req.csr_der, node_name).map_err(|e| WireError::new(codes::BAD_CSR, e.to_string()))?;
        if let Some(a) = &self.admission {
            a.consume(&req.secret, node_name).await.inspect_err(|e| tracing::warn!(node_name, error = %e.message, "join refused"))?;
        }
        tracing::info!(node_name, "node joined: certificate issued");
        Ok(Joined { cert_der, ca_der: self.ca.cert_der().to_vec() })
    }
}

/// One protocol an endpoint serves: its ALPN, and its handler behind the request loop.
#[derive(Clone)]
pub struct Service {
    alpn: &'static [u8],
    serve: Arc<dyn Fn(Peer, Duration, quinn::SendStream, quinn::RecvStream) -> StreamFuture + Send + Sync>,
}

type StreamFuture = std::pin::Pin<Box<dyn std::future::Future<Output = NetResult<()>> + Send>>;

impl Service {
    /// Serve protocol `R` with `handler`; joins (variant 0) are answered by `join`, or refused
    /// when there is none.
    pub fn new<R: WireRequest>(handler: Arc<dyn Handler<R>>, join: Option<Arc<JoinAuthority>>) -> Self {
        Self {
            alpn: R::ALPN,
            serve: Arc::new(move |peer, first_frame, send, recv| Box::pin(serve_stream::<R>(peer, handler.clone(), join.clone(), first_frame, send, recv))),
        }
    }

    /// Like [`Service::new`], with a join authority that arrives later (a gateway joining a
    /// group serves before it holds the CA); joins are refused until it is set.
    pub fn with_late_join<R: WireRequest>(handler: Arc<dyn Handler<R>>, join: Arc<std::sync::OnceLock<Arc<JoinAuthority>>>) -> Self {
        Self {
            alpn: R::ALPN,
            serve: Arc::new(move |peer, first_frame, send, recv| Box::pin(serve_stream::<R>(peer, handler.clone(), join.get().cloned(), first_frame, send, recv))),
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
}

impl Server {
    /// Bind `addr` (port 0 picks one).
    pub fn bind(addr: SocketAddr, cfg: quinn::ServerConfig, t: &TransportTuning) -> NetResult<Self> {
        Ok(Self { endpoint: endpoint(addr, Some(cfg), t)?, gate: Gate::new(t.limits.clone()) })
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
            // Over the cap a connection is refused before its handshake costs anything.
            let Some(place) = self.gate.connection() else {
                tracing::debug!(peer = %incoming.remote_address(), "QUIC connection refused: too many open");
                incoming.refuse();
                continue;
            };
            let (services, gate) = (services.clone(), self.gate.clone());
            tokio::spawn(async move {
                let _place = place;
                let conn = match incoming.await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::debug!(error = %e, "QUIC handshake failed");
                        return;
                    }
                };
                let peer = peer_of(&conn);
                // A peer without a certificate may only join: few at once, at a bounded rate.
                let _joining = match peer {
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
                let anonymous = _joining.is_some();
                let streams = async {
                    loop {
                        let (send, recv) = match conn.accept_bi().await {
                            Ok(s) => s,
                            Err(_) => return,
                        };
                        let fut = (service.serve)(peer.clone(), gate.first_frame(), send, recv);
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
    first_frame: Duration,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
) -> NetResult<()> {
    let answer = |e: WireError| R::Response::error(e);
    let read = tokio::time::timeout(first_frame, wire::read_frame(&mut recv)).await;
    let read = read.unwrap_or_else(|_| Err(NetError::BadFrame { detail: format!("no request frame within {first_frame:?}") }));
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
        Self::with_alpn(id, t, DEFAULT_ALPN)
    }

    /// A client presenting `id`, speaking protocol `R`.
    pub fn for_protocol<R: WireRequest>(id: &NodeIdentity, t: &TransportTuning) -> NetResult<Self> {
        Self::with_alpn(id, t, R::ALPN)
    }

    fn with_alpn(id: &NodeIdentity, t: &TransportTuning, alpn: &[u8]) -> NetResult<Self> {
        let mut endpoint = endpoint(SocketAddr::from(([0, 0, 0, 0], 0)), None, t)?;
        let cfg = client_config_for(id, t, alpn)?;
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

/// Join a cluster: make a key and CSR, present the token's secret to the
/// gateway (verified by the pinned CA), and return the new identity. `R` is the protocol the
/// gateway serves (its variant 0 carries the join).
pub async fn join<R: WireRequest>(token: &JoinToken, node_name: &str, t: &TransportTuning) -> NetResult<NodeIdentity> {
    let addr: SocketAddr = tokio::net::lookup_host(&token.gateway)
        .await?
        .next()
        .ok_or_else(|| NetError::Connect { addr: token.gateway.clone(), detail: "address does not resolve".into() })?;
    let endpoint = endpoint(SocketAddr::from(([0, 0, 0, 0], 0)), None, t)?;
    let conn = endpoint
        .connect_with(join_client_config(token, t, R::ALPN)?, addr, CLUSTER_SERVER_NAME)
        .map_err(|e| NetError::Connect { addr: addr.to_string(), detail: e.to_string() })?
        .await
        .map_err(|e| NetError::Connect { addr: addr.to_string(), detail: e.to_string() })?;
    let (key_der, csr_der) = pki::new_key_and_csr(node_name)?;
    let req = R::join(JoinRequest { secret: token.secret.clone(), node_name: node_name.to_owned(), csr_der });
    let (resp, _) = call(&conn, &req, None, Duration::from_secs(30)).await?;
    conn.close(0u32.into(), b"joined");
    match check(resp)?.into_joined() {
        Ok(Joined { cert_der, ca_der }) => {
            if pki::fingerprint(&ca_der) != token.ca_fingerprint {
                return Err(NetError::Pki { what: "joining", detail: "the gateway sent a CA that is not the one the token pins".into() });
            }
            Ok(NodeIdentity { name: node_name.to_owned(), cert_der, key_der, ca_der })
        }
        Err(other) => Err(NetError::BadFrame { detail: format!("unexpected answer to Join: {other:?}") }),
    }
}
