//! HTTPS on the S3 endpoint: the certificate chain and key come from PEM files and are
//! reloaded on demand (the binary does it on SIGHUP) without dropping a connection; and the
//! trust a gateway uses when it forwards an admin request to its group's leader over HTTPS.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// Why a certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or parsed as PEM.
    #[error("cannot read the TLS {what} {path}: {detail}")]
    Read {
        /// "certificate" or "key".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What failed.
        detail: String,
    },
    /// The certificate file has no certificate in it.
    #[error("{path} holds no PEM certificate (-----BEGIN CERTIFICATE-----); give --tls-cert the server's certificate chain, leaf first")]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// rustls refused the pair.
    #[error("the certificate in {cert} and the key in {key} cannot serve TLS: {detail}")]
    Unusable {
        /// Certificate file.
        cert: PathBuf,
        /// Key file.
        key: PathBuf,
        /// rustls' reason.
        detail: String,
    },
}

/// The DNS names and IP addresses a certificate's subjectAltName lists.
fn subject_names(der: &CertificateDer<'_>) -> Option<(Vec<String>, Vec<std::net::IpAddr>)> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    let san = cert.subject_alternative_name().ok()??;
    let (mut dns, mut ips) = (Vec::new(), Vec::new());
    for name in &san.value.general_names {
        match name {
            GeneralName::DNSName(d) => dns.push((*d).to_owned()),
            GeneralName::IPAddress(b) => match b.len() {
                4 => ips.push(std::net::IpAddr::from(<[u8; 4]>::try_from(*b).ok()?)),
                16 => ips.push(std::net::IpAddr::from(<[u8; 16]>::try_from(*b).ok()?)),
                _ => {}
            },
            _ => {}
        }
    }
    Some((dns, ips))
}

/// ring, as the cluster's QUIC uses: one crypto library in the binary.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate in a PEM file, in order.
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let read = |detail: String| TlsError::Read { what: "certificate", path: path.to_owned(), detail };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| read(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| read(e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate { path: path.to_owned() });
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::Read {
        what: "key",
        path: path.to_owned(),
        detail: format!("{e} (expected one PEM private key: PKCS#8, PKCS#1 or SEC1)"),
    })
}

fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certs = read_certs(cert)?;
    let private = read_key(key)?;
    let unusable = |detail: String| TlsError::Unusable { cert: cert.to_owned(), key: key.to_owned(), detail };
    let mut sc = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| unusable(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, private)
        .map_err(|e| unusable(e.to_string()))?;
    // HTTP/1.1 only: the header-read timeout and the 100-continue handling are HTTP/1's.
    sc.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(sc))
}

/// The S3 endpoint's TLS identity. [`TlsServer::reload`] swaps in the files' current
/// contents; connections already open keep the certificate they started with.
#[derive(Debug)]
pub struct TlsServer {
    cert: PathBuf,
    key: PathBuf,
    config: RwLock<Arc<rustls::ServerConfig>>,
}

impl TlsServer {
    /// Load the certificate chain (leaf first) and private key from PEM files.
    pub fn load(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let config = server_config(cert, key)?;
        Ok(Self { cert: cert.to_owned(), key: key.to_owned(), config: RwLock::new(config) })
    }

    /// Read the files again. On an error the previous certificate stays in use.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = server_config(&self.cert, &self.key)?;
        *self.config.write().unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
        Ok(())
    }

    /// An acceptor for the next connection, with the certificate loaded last.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.config.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone())
    }

    /// The certificate file.
    pub fn cert_path(&self) -> &Path {
        &self.cert
    }

    /// The host a client on this machine names to reach this endpoint listening on `ip`: `ip`
    /// itself (loopback for a wildcard) when the certificate covers it, else `localhost` when it
    /// covers that and the address is local, else the certificate's first DNS name — so the
    /// endpoint written into the client profile passes the certificate's name check.
    pub fn endpoint_host(&self, ip: std::net::IpAddr) -> String {
        let local = ip.is_unspecified() || ip.is_loopback();
        let ip = if !ip.is_unspecified() {
            ip
        } else if ip.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        };
        let as_url = |ip: std::net::IpAddr| if ip.is_ipv6() { format!("[{ip}]") } else { ip.to_string() };
        let Some((dns, ips)) = read_certs(&self.cert).ok().and_then(|c| c.first().and_then(|leaf| subject_names(leaf))) else {
            return as_url(ip);
        };
        if ips.contains(&ip) {
            as_url(ip)
        } else if local && dns.iter().any(|d| d.eq_ignore_ascii_case("localhost")) {
            "localhost".to_owned()
        } else {
            // `localhost` names this machine only: no use for an address other machines reach.
            dns.into_iter().find(|d| !d.starts_with('*') && !d.eq_ignore_ascii_case("localhost")).unwrap_or_else(|| as_url(ip))
        }
    }

    /// What a gateway trusts when it forwards to its group's leader over HTTPS: the system's
    /// roots and every certificate in its own `--tls-cert` file (so a group that shares one
    /// certificate, or whose certificates come from a CA included in the chain, needs nothing more).
    pub fn forward_client(&self) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        let own = read_certs(&self.cert)?;
        client_config(&own, true).map_err(|detail| TlsError::Unusable { cert: self.cert.clone(), key: self.key.clone(), detail })
    }
}

/// A client configuration trusting `extra` certificates (each as a trust anchor) and, with
/// `system`, the machine's roots.
pub fn client_config(extra: &[CertificateDer<'static>], system: bool) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    if system {
        // A machine without a system store still trusts `extra`.
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
    }
    for c in extra {
        roots.add(c.clone()).map_err(|e| format!("a certificate cannot be a trust anchor: {e}"))?;
    }
    let cc = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cc))
}

/// The name to verify a peer at `addr` (`host:port`, `[v6]:port`) under.
pub fn server_name(addr: &str) -> Option<ServerName<'static>> {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_host_part() {
        assert_eq!(server_name("gw1:9000"), ServerName::try_from("gw1").ok());
        assert_eq!(server_name("127.0.0.1:9000"), ServerName::try_from("127.0.0.1").ok());
        assert_eq!(server_name("[::1]:9000"), ServerName::try_from("::1").ok());
    }

    fn self_signed(dir: &Path, tag: &str) -> (PathBuf, PathBuf) {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).expect("rcgen");
        let (cert, key) = (dir.join(format!("{tag}.crt")), dir.join(format!("{tag}.key")));
        std::fs::write(&cert, c.cert.pem()).expect("write cert");
        std::fs::write(&key, c.signing_key.serialize_pem()).expect("write key");
        (cert, key)
    }

    #[test]
    fn the_profile_host_is_one_the_certificate_names() {
        let dir = tempfile::tempdir().expect("tmp");
        let pair = |tag: &str, names: Vec<String>| {
            let c = rcgen::generate_simple_self_signed(names).expect("rcgen");
            let (cert, key) = (dir.path().join(format!("{tag}.crt")), dir.path().join(format!("{tag}.key")));
            std::fs::write(&cert, c.cert.pem()).expect("write cert");
            std::fs::write(&key, c.signing_key.serialize_pem()).expect("write key");
            TlsServer::load(&cert, &key).expect("load")
        };
        let any: std::net::IpAddr = "0.0.0.0".parse().expect("ip");
        let lan: std::net::IpAddr = "10.1.2.3".parse().expect("ip");
        let both = pair("both", vec!["localhost".into(), "127.0.0.1".into()]);
        assert_eq!(both.endpoint_host(any), "127.0.0.1");
        assert_eq!(both.endpoint_host(lan), "10.1.2.3", "localhost is no name for a LAN address");
        let public = pair("public", vec!["*.s3.example.com".into(), "s3.example.com".into()]);
        assert_eq!(public.endpoint_host(any), "s3.example.com");
        assert_eq!(public.endpoint_host("::".parse().expect("ip")), "s3.example.com");
        let by_ip = pair("ip", vec!["10.1.2.3".into()]);
        assert_eq!(by_ip.endpoint_host(lan), "10.1.2.3");
        assert_eq!(by_ip.endpoint_host(any), "127.0.0.1", "nothing better to name");
    }

    /// One real TLS handshake over loopback TCP: the server's current certificate against `trust`.
    async fn handshake(server: &TlsServer, trust: Arc<rustls::ClientConfig>) -> Result<(), String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let acceptor = server.acceptor();
        let srv = tokio::spawn(async move {
            let (s, _) = listener.accept().await.expect("accept");
            let _ = acceptor.accept(s).await;
        });
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let name = server_name(&addr.to_string()).expect("name");
        let r = tokio_rustls::TlsConnector::from(trust).connect(name, tcp).await.map(|_| ()).map_err(|e| e.to_string());
        let _ = srv.await;
        r
    }

    #[tokio::test]
    async fn a_gateway_trusts_its_own_certificate_and_a_reload_serves_the_new_one() {
        let dir = tempfile::tempdir().expect("tmp");
        let (cert, key) = self_signed(dir.path(), "live");
        let server = TlsServer::load(&cert, &key).expect("load");
        let first_trust = server.forward_client().expect("trust");
        handshake(&server, first_trust.clone()).await.expect("a self-signed certificate is trusted by its own gateway");
        // Someone else's certificate is not trusted.
        let (other, _) = self_signed(dir.path(), "other");
        let strangers = client_config(&read_certs(&other).expect("other"), false).expect("cfg");
        let e = handshake(&server, strangers).await.expect_err("an unknown certificate must be refused");
        assert!(e.contains("certificate"), "{e}");
        // Renewed files, then a reload: the new certificate is served, the old trust refuses it.
        let (new_cert, new_key) = self_signed(dir.path(), "renewed");
        std::fs::rename(&new_cert, &cert).expect("replace cert");
        std::fs::rename(&new_key, &key).expect("replace key");
        handshake(&server, first_trust.clone()).await.expect("before the reload the old certificate is still served");
        server.reload().expect("reload");
        assert!(handshake(&server, first_trust).await.is_err(), "after the reload the new certificate is served");
        handshake(&server, server.forward_client().expect("trust")).await.expect("new trust");
        // A broken key file leaves the previous pair in service.
        std::fs::write(&key, "garbage").expect("break key");
        let e = server.reload().expect_err("a broken key is refused");
        assert!(e.to_string().contains("key"), "{e}");
        handshake(&server, client_config(&read_certs(&cert).expect("cert"), false).expect("cfg")).await.expect("still serving");
    }

    #[test]
    fn a_file_without_certificates_is_refused_with_its_name() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("cert.pem");
        std::fs::write(&p, "not a certificate\n").expect("write");
        let e = read_certs(&p).expect_err("no certificate");
        assert!(e.to_string().contains("cert.pem"), "{e}");
        let missing = TlsServer::load(&dir.path().join("nope.pem"), &p).expect_err("missing file");
        assert!(missing.to_string().contains("nope.pem"), "{missing}");
    }
}
