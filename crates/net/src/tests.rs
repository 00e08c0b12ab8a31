//! Transport tests over real QUIC sockets on loopback.

use std::sync::Arc;
use std::time::Duration;

use crate::probe::{ProbeRequest as Request, ProbeResponse as Response};
use crate::*;

/// A test handler: Ping → Pong, Sink → BLAKE3 of the body.
struct Echo {
    name: String,
    /// Names of the peers whose requests reached the handler, as the server saw them.
    seen: Seen,
}

#[derive(Default)]
struct Seen(std::sync::Mutex<Vec<String>>);

#[async_trait::async_trait]
impl Handler<Request> for Echo {
    async fn handle(&self, peer: &str, req: Request, mut recv: quinn::RecvStream, mut send: quinn::SendStream) -> NetResult<()> {
        self.seen.0.lock().unwrap_or_else(|p| p.into_inner()).push(peer.to_owned());
        let resp = match req {
            Request::Ping => Response::Pong { node: self.name.clone() },
            Request::Sink { len } => {
                let mut h = blake3::Hasher::new();
                let mut got = 0u64;
                while let Some(chunk) = recv.read_chunk(1 << 20, true).await.map_err(|e| NetError::Connection { detail: e.to_string() })? {
                    got += chunk.bytes.len() as u64;
                    h.update(&chunk.bytes);
                }
                if got != len {
                    Response::Error { code: "ShortBody".into(), message: format!("{got} of {len} bytes") }
                } else {
                    Response::Sunk { len: got, hash: *h.finalize().as_bytes() }
                }
            }
            Request::Join(_) => Response::Error { code: "Unexpected".into(), message: "join reached the handler".into() },
        };
        write_frame(&mut send, &resp).await?;
        let _ = send.finish();
        Ok(())
    }
}

struct Cluster {
    ca: Arc<ClusterCa>,
    token: JoinToken,
    addr: std::net::SocketAddr,
    handler: Arc<Echo>,
    server: quinn::Endpoint,
    /// The server's revoked names (and its join authority's).
    revoked: Revoked,
    /// The server's limits and counters.
    gate: Arc<crate::limits::Gate>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.server.close(0u32.into(), b"test over");
    }
}

async fn cluster() -> Cluster {
    cluster_with(TransportTuning::default()).await
}

async fn cluster_with(t: TransportTuning) -> Cluster {
    let ca = Arc::new(ClusterCa::generate("test").expect("ca"));
    let gw = ca.issue("gateway").expect("gateway identity");
    let revoked = Revoked::new();
    let server = Server::bind("127.0.0.1:0".parse().expect("addr"), server_config(&gw, true, &t).expect("server config"), &t).expect("bind").with_revoked(revoked.clone());
    let addr = server.local_addr().expect("addr");
    let secret = JoinToken::random_secret();
    let token = JoinToken { gateway: addr.to_string(), ca_fingerprint: ca.fingerprint(), secret: secret.clone() };
    let handler = Arc::new(Echo { name: "gateway".into(), seen: Default::default() });
    let join_auth = Arc::new(JoinAuthority { ca: ca.clone(), secret, admission: None, name_taken: None, revoked: revoked.clone(), issue_as: None });
    let ep = server.endpoint();
    let gate = server.gate();
    tokio::spawn(server.serve::<Request>(handler.clone(), Some(join_auth)));
    Cluster { ca, token, addr, handler, server: ep, revoked, gate }
}

#[tokio::test]
async fn join_then_mutual_tls_calls_name_the_peer() {
    let c = cluster().await;
    let t = TransportTuning::default();
    let id = join::<Request>(&c.token, "node-1", &t).await.expect("join");
    assert_eq!(common_name(&id.cert_der).as_deref(), Some("node-1"));
    assert_eq!(fingerprint(&id.ca_der), c.ca.fingerprint());
    let client = Client::new(&id, &t).expect("client");
    let conn = client.connect(c.addr).await.expect("connect");
    let (resp, _) = call(&conn, &Request::Ping, None, Duration::from_secs(5)).await.expect("ping");
    assert_eq!(resp, Response::Pong { node: "gateway".into() });
    assert_eq!(c.handler.seen.0.lock().expect("lock").as_slice(), ["node-1".to_owned()]);

    // A 64 MiB body over one stream arrives intact.
    let body: Vec<u8> = (0..64u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let (resp, _) = call(&conn, &Request::Sink { len: body.len() as u64 }, Some(&body), Duration::from_secs(60)).await.expect("sink");
    assert_eq!(resp, Response::Sunk { len: body.len() as u64, hash: *blake3::hash(&body).as_bytes() });
}

#[tokio::test]
async fn a_removed_members_certificate_is_refused_on_open_and_new_connections_and_its_name_never_joins_again() {
    let c = cluster().await;
    let t = TransportTuning::default();
    let id = join::<Request>(&c.token, "node-1", &t).await.expect("join");
    let client = Client::new(&id, &t).expect("client");
    let conn = client.connect(c.addr).await.expect("connect");
    let (resp, _) = call(&conn, &Request::Ping, None, Duration::from_secs(5)).await.expect("ping");
    assert_eq!(resp, Response::Pong { node: "gateway".into() });

    assert_eq!(c.revoked.extend(["node-1".to_owned()]), vec!["node-1".to_owned()]);
    // On the connection it already had open: every request is answered Revoked.
    match call(&conn, &Request::Ping, None, Duration::from_secs(5)).await {
        Ok((Response::Error { code, message }, _)) => {
            assert_eq!(code, codes::REVOKED);
            assert!(message.contains("node-1 was removed"), "{message}");
        }
        other => panic!("a revoked member's request was answered {other:?}"),
    }
    // A new connection is closed as it opens.
    let refused = async {
        let conn = client.connect(c.addr).await?;
        call(&conn, &Request::Ping, None, Duration::from_secs(5)).await
    }
    .await;
    match refused {
        Err(e) => assert!(e.to_string().contains("removed from the cluster"), "{e}"),
        Ok(answer) => panic!("a new connection of a revoked member was served: {answer:?}"),
    }
    // And a join under that name is refused, with the token's own secret.
    match join::<Request>(&c.token, "node-1", &t).await {
        Err(NetError::Remote { code, message }) => {
            assert_eq!(code, codes::NODE_NAME_TAKEN);
            assert!(message.contains("never admitted again"), "{message}");
        }
        other => panic!("a removed name joined again: {other:?}"),
    }
    // Only the request before the removal reached the handler; other members are served.
    assert_eq!(c.handler.seen.0.lock().expect("lock").as_slice(), ["node-1".to_owned()]);
    let other = Client::new(&join::<Request>(&c.token, "node-2", &t).await.expect("join"), &t).expect("client");
    let conn = other.connect(c.addr).await.expect("connect");
    assert!(call(&conn, &Request::Ping, None, Duration::from_secs(5)).await.is_ok());
}

#[tokio::test]
async fn wrong_secret_gets_no_certificate() {
    let c = cluster().await;
    let bad = JoinToken { secret: JoinToken::random_secret(), ..c.token.clone() };
    match join::<Request>(&bad, "intruder", &TransportTuning::default()).await {
        Err(NetError::Remote { code, .. }) => assert_eq!(code, "BadJoinSecret"),
        other => panic!("expected BadJoinSecret, got {other:?}"),
    }
    assert!(c.handler.seen.0.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn token_pinning_another_ca_does_not_trust_the_gateway() {
    let c = cluster().await;
    let other = ClusterCa::generate("other").expect("ca");
    let pinned_wrong = JoinToken { ca_fingerprint: other.fingerprint(), ..c.token.clone() };
    let r = join::<Request>(&pinned_wrong, "node-x", &TransportTuning::default()).await;
    assert!(matches!(r, Err(NetError::Connect { .. })), "{r:?}");
}

#[tokio::test]
async fn a_peer_from_another_ca_is_refused_at_the_handshake() {
    let c = cluster().await;
    let rogue_ca = ClusterCa::generate("rogue").expect("ca");
    // The rogue trusts our CA (so it could verify us) but holds a certificate of its own CA.
    let mut rogue = rogue_ca.issue("rogue").expect("identity");
    let client = Client::new(&rogue, &TransportTuning::default()).expect("client");
    // It cannot even verify the server (different roots) ...
    assert!(client.connect(c.addr).await.is_err());
    // ... and if it trusts our CA, the server still refuses its certificate.
    rogue.ca_der = c.ca.cert_der().to_vec();
    let client = Client::new(&rogue, &TransportTuning::default()).expect("client");
    let refused = match client.connect(c.addr).await {
        Err(_) => true,
        // TLS 1.3 may finish the client side before the server's verdict arrives; the first call fails then.
        Ok(conn) => call(&conn, &Request::Ping, None, Duration::from_secs(5)).await.is_err(),
    };
    assert!(refused, "a certificate from another CA must be refused");
    assert!(c.handler.seen.0.lock().expect("lock").is_empty(), "no request from a non-member reached the handler");
}

#[tokio::test]
async fn anonymous_clients_may_only_join() {
    let c = cluster().await;
    // Connect like a joining node (pinned CA, no client certificate) but ask for something else.
    let t = TransportTuning::default();
    let endpoint = quinn::Endpoint::client("0.0.0.0:0".parse().expect("addr")).expect("endpoint");
    let cfg = crate::join::join_client_config(&c.token, &t, crate::DEFAULT_ALPN).expect("cfg");
    let conn = endpoint.connect_with(cfg, c.addr, CLUSTER_SERVER_NAME).expect("connect").await.expect("handshake");
    let (resp, _) = call(&conn, &Request::Ping, None, Duration::from_secs(5)).await.expect("call");
    assert!(matches!(check(resp), Err(NetError::Remote { code, .. }) if code == "Unauthenticated"));
    let (resp, _) = call(&conn, &Request::Sink { len: 3 }, Some(b"abc"), Duration::from_secs(5)).await.expect("call");
    assert!(matches!(check(resp), Err(NetError::Remote { code, .. }) if code == "Unauthenticated"));
    assert!(c.handler.seen.0.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn garbage_frames_get_an_error_not_a_crash() {
    let c = cluster().await;
    let t = TransportTuning::default();
    let id = join::<Request>(&c.token, "node-2", &t).await.expect("join");
    let conn = Client::new(&id, &t).expect("client").connect(c.addr).await.expect("connect");
    for junk in [&b"\xff\xff\xff\xff"[..], b"\x05\x00\x00\x00\x09abcd", b"\x02\x00"] {
        let (mut send, mut recv) = conn.open_bi().await.expect("stream");
        send.write_all(junk).await.expect("write");
        let _ = send.finish();
        let resp: Result<Response, _> = read_frame(&mut recv).await;
        assert!(matches!(resp, Ok(Response::Error { ref code, .. }) if code == "BadFrame"), "{junk:?} -> {resp:?}");
    }
    // The connection still works afterwards.
    let (resp, _) = call(&conn, &Request::Ping, None, Duration::from_secs(5)).await.expect("ping");
    assert!(matches!(resp, Response::Pong { .. }));
}

/// A second protocol for the multiplexing test: the probe's messages under another ALPN.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum OtherRequest {
    Join(JoinRequest),
    Ping,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum OtherResponse {
    Joined(Joined),
    Pong { node: String },
    Error { code: String, message: String },
}

crate::wire_protocol!(OtherRequest, OtherResponse, alpn = b"kintsugi-test-other/1");

struct OtherEcho;

#[async_trait::async_trait]
impl Handler<OtherRequest> for OtherEcho {
    async fn handle(&self, peer: &str, _req: OtherRequest, _recv: quinn::RecvStream, mut send: quinn::SendStream) -> NetResult<()> {
        write_frame(&mut send, &OtherResponse::Pong { node: format!("other, to {peer}") }).await?;
        let _ = send.finish();
        Ok(())
    }
}

#[tokio::test]
async fn one_endpoint_serves_two_protocols_by_alpn_with_their_own_join_authorities() {
    let ca = Arc::new(ClusterCa::generate("test").expect("ca"));
    let gw = ca.issue("gateway").expect("gateway identity");
    let t = TransportTuning::default();
    let alpns: [&[u8]; 2] = [DEFAULT_ALPN, b"kintsugi-test-other/1"];
    let server = Server::bind("127.0.0.1:0".parse().expect("addr"), server_config_for(&gw, true, &t, &alpns).expect("config"), &t).expect("bind");
    let addr = server.local_addr().expect("addr");
    let (probe_secret, other_secret) = (JoinToken::random_secret(), JoinToken::random_secret());
    let probe_join = Arc::new(JoinAuthority { ca: ca.clone(), secret: probe_secret.clone(), admission: None, name_taken: None, revoked: Revoked::new(), issue_as: None });
    // The other protocol's joins are answered only once its authority is set, and every
    // certificate it signs says `gateway`.
    let late: Arc<std::sync::OnceLock<Arc<JoinAuthority>>> = Arc::default();
    let echo = Arc::new(Echo { name: "probe".into(), seen: Default::default() });
    let ep = server.endpoint();
    tokio::spawn(server.serve_all(vec![Service::new::<Request>(echo, Some(probe_join)), Service::with_late_join::<OtherRequest>(Arc::new(OtherEcho), late.clone())]));
    let token = |secret: &str| JoinToken { gateway: addr.to_string(), ca_fingerprint: ca.fingerprint(), secret: secret.to_owned() };

    // Each protocol's join goes to its own authority.
    let node = join::<Request>(&token(&probe_secret), "node-1", &t).await.expect("probe join");
    assert_eq!(common_name(&node.cert_der).as_deref(), Some("node-1"));
    assert!(join::<Request>(&token(&other_secret), "node-2", &t).await.is_err(), "the probe protocol refuses the other's secret");
    match join::<OtherRequest>(&token(&other_secret), "gw-2", &t).await {
        Err(NetError::Remote { code, .. }) => assert_eq!(code, codes::NOT_A_GATEWAY, "no authority yet"),
        other => panic!("a join before the authority is set must be refused, got {other:?}"),
    }
    let _ = late.set(Arc::new(JoinAuthority { ca: ca.clone(), secret: other_secret.clone(), admission: None, name_taken: None, revoked: Revoked::new(), issue_as: Some("gateway".into()) }));
    let other_id = join::<OtherRequest>(&token(&other_secret), "gw-2", &t).await.expect("other join");
    assert_eq!(common_name(&other_id.cert_der).as_deref(), Some("gateway"), "issued under the fixed name");

    // Both protocols answer on the one port, each to its own clients.
    let probe_conn = Client::new(&node, &t).expect("client").connect(addr).await.expect("connect");
    let (resp, _) = call(&probe_conn, &Request::Ping, None, Duration::from_secs(5)).await.expect("ping");
    assert_eq!(resp, Response::Pong { node: "probe".into() });
    let other_conn = Client::for_protocol::<OtherRequest>(&other_id, &t).expect("client").connect(addr).await.expect("connect");
    let (resp, _) = call(&other_conn, &OtherRequest::Ping, None, Duration::from_secs(5)).await.expect("ping");
    assert_eq!(resp, OtherResponse::Pong { node: "other, to gateway".into() });
    ep.close(0u32.into(), b"test over");
}

#[tokio::test]
async fn a_stream_that_withholds_its_request_is_cut_off_and_caps_refuse_extra_connections() {
    let limits = ServerLimits { max_connections: 2, max_anonymous: 1, anonymous_per_sec: 100, first_frame: Duration::from_millis(500), ..ServerLimits::default() };
    let c = cluster_with(TransportTuning { limits, ..TransportTuning::default() }).await;
    let t = TransportTuning::default();
    let id = join::<Request>(&c.token, "node-3", &t).await.expect("join");
    let client = Client::new(&id, &t).expect("client");
    // Closed connections give their places back once the close reaches the server: a
    // connection that must be let in is tried until it is (up to 10 s).
    let member = || async {
        let conn = client.connect(c.addr).await?;
        let (resp, _) = call(&conn, &Request::Ping, None, Duration::from_secs(5)).await?;
        assert!(matches!(resp, Response::Pong { .. }));
        Ok::<_, NetError>(conn)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let conn = loop {
        match member().await {
            Ok(c) => break c,
            Err(e) if std::time::Instant::now() < deadline => tracing::debug!(error = %e, "not let in yet"),
            Err(e) => panic!("a member connection was never let in: {e}"),
        }
    };

    // A frame announced (1,000 bytes) and never sent: answered BadFrame after the deadline.
    let started = std::time::Instant::now();
    let (mut send, mut recv) = conn.open_bi().await.expect("stream");
    send.write_all(&1000u32.to_le_bytes()).await.expect("write");
    let resp: Result<Response, _> = tokio::time::timeout(Duration::from_secs(10), read_frame(&mut recv)).await.expect("an answer, not silence");
    assert!(matches!(resp, Ok(Response::Error { ref code, .. }) if code == "BadFrame"), "{resp:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "cut off after {:?}", started.elapsed());

    // Two connections are open (the join's has closed): a third is refused.
    let second = member().await.expect("a second connection is let in");
    assert!(member().await.is_err(), "a third connection over --max-connections 2 was served");
    second.close(0u32.into(), b"done");
    conn.close(0u32.into(), b"done");

    // Without a certificate: one joiner at a time.
    let endpoint = quinn::Endpoint::client("0.0.0.0:0".parse().expect("addr")).expect("endpoint");
    let cfg = crate::join::join_client_config(&c.token, &t, crate::DEFAULT_ALPN).expect("cfg");
    let anonymous = || async {
        let conn = endpoint.connect_with(cfg.clone(), c.addr, CLUSTER_SERVER_NAME).map_err(|e| NetError::Connection { detail: e.to_string() })?.await.map_err(|e| NetError::Connection { detail: e.to_string() })?;
        let (resp, _) = call(&conn, &Request::Ping, None, Duration::from_secs(5)).await?;
        Ok::<_, NetError>((conn, resp))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let (_first, resp) = loop {
        match anonymous().await {
            Ok(x) => break x,
            Err(e) if std::time::Instant::now() < deadline => tracing::debug!(error = %e, "not let in yet"),
            Err(e) => panic!("one joiner was never let in: {e}"),
        }
    };
    assert!(matches!(check(resp), Err(NetError::Remote { code, .. }) if code == "Unauthenticated"));
    assert!(anonymous().await.is_err(), "a second connection without a certificate was served");
}

/// Admits one secret and counts the uses recorded.
struct Counting(std::sync::atomic::AtomicU32);

#[async_trait::async_trait]
impl Admission for Counting {
    async fn check(&self, secret: &str, _joiner: &Joiner<'_>) -> Result<Option<String>, WireError> {
        match secret {
            "good" => Ok(None),
            "for-n7" => Ok(Some("n7".into())),
            "for-n5" => Ok(Some("n5".into())),
            _ => Err(WireError::new(codes::BAD_JOIN_SECRET, "no")),
        }
    }
    async fn consume(&self, _secret: &str, _joiner: &Joiner<'_>) -> Result<(), WireError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn a_join_whose_csr_cannot_be_signed_spends_no_use_of_its_token() {
    let ca = Arc::new(ClusterCa::generate("test").expect("ca"));
    let counting = Arc::new(Counting(std::sync::atomic::AtomicU32::new(0)));
    let auth = JoinAuthority { ca, secret: String::new(), admission: Some(counting.clone()), name_taken: None, revoked: Revoked::new(), issue_as: None };
    let bad = JoinRequest { secret: "good".into(), node_name: "node-9".into(), csr_der: b"not a CSR".to_vec() };
    let e = auth.answer(&bad).await.expect_err("a malformed CSR is refused");
    assert_eq!(e.code, codes::BAD_CSR);
    assert_eq!(counting.0.load(std::sync::atomic::Ordering::SeqCst), 0, "the refused join spent a use");
    let (_key, csr) = new_key_and_csr("node-9").expect("csr");
    let good = JoinRequest { csr_der: csr, ..bad };
    auth.answer(&good).await.expect("a good CSR joins");
    assert_eq!(counting.0.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_token_made_for_a_name_readmits_that_member_and_no_other_name() {
    let ca = Arc::new(ClusterCa::generate("test").expect("ca"));
    let counting = Arc::new(Counting(std::sync::atomic::AtomicU32::new(0)));
    let members: NameTaken = Arc::new(|n: &str| match n {
        "n7" | "n8" => NameUse::Member,
        "n5" => NameUse::Removed, // in the replicated list, not yet in this endpoint's copy
        _ => NameUse::Free,
    });
    let revoked = Revoked::new();
    let auth = JoinAuthority { ca, secret: String::new(), admission: Some(counting.clone()), name_taken: Some(members), revoked: revoked.clone(), issue_as: None };
    let join = |secret: &str, name: &str| {
        let (_key, csr) = new_key_and_csr(name).expect("csr");
        JoinRequest { secret: secret.into(), node_name: name.into(), csr_der: csr }
    };
    let e = auth.answer(&join("good", "n7")).await.expect_err("a member's name with a token for any name");
    assert_eq!(e.code, codes::NODE_NAME_TAKEN);
    assert!(e.message.contains("join-token --node n7"), "{}", e.message);
    let joined = auth.answer(&join("for-n7", "n7")).await.expect("the token made for n7 re-admits n7");
    assert_eq!(crate::pki::common_name(&joined.cert_der).as_deref(), Some("n7"));
    for other in ["n8", "n9"] {
        let e = auth.answer(&join("for-n7", other)).await.expect_err("a token made for n7 admits no other name");
        assert_eq!(e.code, codes::BAD_JOIN_SECRET);
        assert!(e.message.contains("only the node named \"n7\""), "{}", e.message);
    }
    assert_eq!(counting.0.load(std::sync::atomic::Ordering::SeqCst), 1, "only the admitted join spent a use");
    let e = auth.answer(&join("for-n5", "n5")).await.expect_err("a name the replicated list has removed");
    assert_eq!(e.code, codes::NODE_NAME_TAKEN, "{}", e.message);
    revoked.extend(["n7".to_owned()]);
    assert_eq!(auth.answer(&join("for-n7", "n7")).await.expect_err("removed").code, codes::NODE_NAME_TAKEN, "a removed name stays out, whatever the token");
}

#[tokio::test]
async fn when_many_handshakes_are_in_progress_new_peers_validate_their_address_and_are_served() {
    // validate_above 0: every new peer is sent a Retry first, as under a flood.
    let limits = ServerLimits { validate_above: 0, ..ServerLimits::default() };
    let c = cluster_with(TransportTuning { limits, ..TransportTuning::default() }).await;
    let t = TransportTuning::default();
    let id = join::<Request>(&c.token, "node-r", &t).await.expect("a joiner that was sent a Retry joins");
    let client = Client::new(&id, &t).expect("client");
    let conn = client.connect(c.addr).await.expect("a member that was sent a Retry connects");
    let (resp, _) = call(&conn, &Request::Ping, None, Duration::from_secs(5)).await.expect("ping");
    assert_eq!(resp, Response::Pong { node: "gateway".into() });
    assert!(c.gate.retried.load(std::sync::atomic::Ordering::Relaxed) >= 2, "no Retry was sent");
}

/// A client session store that records the resumption tickets a server hands out.
#[derive(Debug, Default)]
struct Tickets(std::sync::Mutex<usize>);

impl rustls::client::ClientSessionStore for Tickets {
    fn set_kx_hint(&self, _: rustls::pki_types::ServerName<'static>, _: rustls::NamedGroup) {}
    fn kx_hint(&self, _: &rustls::pki_types::ServerName<'_>) -> Option<rustls::NamedGroup> {
        None
    }
    fn set_tls12_session(&self, _: rustls::pki_types::ServerName<'static>, _: rustls::client::Tls12ClientSessionValue) {}
    fn tls12_session(&self, _: &rustls::pki_types::ServerName<'_>) -> Option<rustls::client::Tls12ClientSessionValue> {
        None
    }
    fn remove_tls12_session(&self, _: &rustls::pki_types::ServerName<'static>) {}
    fn insert_tls13_ticket(&self, _: rustls::pki_types::ServerName<'static>, _: rustls::client::Tls13ClientSessionValue) {
        *self.0.lock().expect("lock") += 1;
    }
    fn take_tls13_ticket(&self, _: &rustls::pki_types::ServerName<'static>) -> Option<rustls::client::Tls13ClientSessionValue> {
        None
    }
}

#[tokio::test]
async fn members_get_no_session_tickets_so_every_connection_checks_the_certificate_again() {
    // A resumed TLS 1.3 session would skip the client certificate's check (its expiry
    // included): the server must hand out nothing to resume with.
    let c = cluster().await;
    let t = TransportTuning::default();
    let id = join::<Request>(&c.token, "node-t", &t).await.expect("join");
    let tickets = Arc::new(Tickets::default());
    let mut cc = rustls::ClientConfig::builder_with_provider(crate::pki::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("tls 1.3")
        .with_root_certificates(crate::transport::roots(&id.ca_der).expect("roots"))
        .with_client_cert_resolver(Arc::new(LiveIdentity::new(id.clone()).expect("identity")));
    cc.resumption = rustls::client::Resumption::store(tickets.clone());
    cc.alpn_protocols = vec![crate::DEFAULT_ALPN.to_vec()];
    let qc = quinn::ClientConfig::new(Arc::new(quinn::crypto::rustls::QuicClientConfig::try_from(cc).expect("quic client")));
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().expect("addr")).expect("endpoint");
    for _ in 0..2 {
        let conn = endpoint.connect_with(qc.clone(), c.addr, CLUSTER_SERVER_NAME).expect("connect").await.expect("handshake");
        let (resp, _) = call(&conn, &Request::Ping, None, Duration::from_secs(5)).await.expect("ping");
        assert_eq!(resp, Response::Pong { node: "gateway".into() });
        tokio::time::sleep(Duration::from_millis(200)).await;
        conn.close(0u32.into(), b"done");
    }
    assert_eq!(*tickets.0.lock().expect("lock"), 0, "the server handed out session tickets");
}

/// The kernel's default UDP buffer (208 KiB on Linux) made the gateway's socket drop a GET's
/// datagrams (BENCHMARKS.md, "UDP socket buffers"): every endpoint's socket asks for more, and
/// gets as much as the kernel allows; 0 leaves the default.
#[test]
fn quic_sockets_ask_for_the_tuned_buffers() {
    let addr: std::net::SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let sizes = |s: &std::net::UdpSocket| {
        let r = socket2::SockRef::from(s);
        (r.recv_buffer_size().expect("SO_RCVBUF"), r.send_buffer_size().expect("SO_SNDBUF"))
    };
    let untouched = sizes(&std::net::UdpSocket::bind(addr).expect("bind"));
    let off = TransportTuning { socket_buffer: 0, ..TransportTuning::default() };
    assert_eq!(sizes(&crate::transport::bind_socket(addr, &off).expect("bind")), untouched, "0 leaves the kernel's default");
    // Asking for less than the default would shrink it: left alone.
    let small = TransportTuning { socket_buffer: 4096, ..TransportTuning::default() };
    assert_eq!(sizes(&crate::transport::bind_socket(addr, &small).expect("bind")), untouched, "a larger default is kept");
    let t = TransportTuning::default();
    let asked = t.socket_buffer;
    let (recv, send) = sizes(&crate::transport::bind_socket(addr, &t).expect("bind"));
    // Linux caps a request at net.core.{r,w}mem_max (readable in the host's network namespace).
    let cap = |name: &str| std::fs::read_to_string(format!("/proc/sys/net/core/{name}")).ok().and_then(|s| s.trim().parse::<usize>().ok());
    for (what, got, limit, default) in [("receive", recv, cap("rmem_max"), untouched.0), ("send", send, cap("wmem_max"), untouched.1)] {
        assert!(got >= default, "the {what} buffer shrank: {got} < the default {default}");
        match limit {
            Some(limit) => {
                let floor = crate::transport::as_reported(asked.min(limit));
                assert!(got >= floor, "asked {asked} bytes of {what} buffer, the kernel allows {limit}, the socket has {got} (reported)");
            }
            None => eprintln!("the kernel's {what} buffer limit is not readable here; checked only that it did not shrink"),
        }
    }
}
