//! Joining a cluster, the node's side: make a key and a certificate signing request, and
//! present them with a join token's secret to a gateway verified by the CA the token pins.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::{NetError, NetResult};
use crate::pki::{self, provider, NodeIdentity, CLUSTER_SERVER_NAME};
use crate::protocol::{JoinRequest, Joined, WireRequest, WireResponse};
use crate::token::JoinToken;
use crate::transport::{call, check, endpoint, quic_client, tls, TransportTuning};

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

/// Join a cluster: make a key and CSR, present the token's secret to the
/// gateway (verified by the pinned CA), and return the new identity. `R` is the protocol the
/// gateway serves (its variant 0 carries the join).
pub async fn join<R: WireRequest>(token: &JoinToken, node_name: &str, t: &TransportTuning) -> NetResult<NodeIdentity> {
    join_with_key::<R>(token, node_name, pki::new_key()?, t).await
}

/// [`join`] with the private key `key_der` (PKCS#8 DER). Retry a join whose answer was lost
/// with the same key: the gateway answers the same token, name and key again without
/// spending another of the token's uses.
pub async fn join_with_key<R: WireRequest>(token: &JoinToken, node_name: &str, key_der: Vec<u8>, t: &TransportTuning) -> NetResult<NodeIdentity> {
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
    let csr_der = pki::csr_for_key(&key_der, node_name)?;
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
