//! The cluster's PKI: a CA made at cluster init (rcgen), node certificates
//! issued from certificate signing requests (the node's private key never
//! leaves it), and fingerprints for pinning.

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::CertificateDer;

use crate::error::{NetError, NetResult};

/// How long a member certificate is valid unless the gateway says otherwise
/// ([`ClusterCa::with_validity`]). Members renew theirs over their mTLS link when a third of
/// it is left, so a stopped node keeps a valid certificate for at least ten days.
pub const NODE_CERT_VALIDITY: std::time::Duration = std::time::Duration::from_secs(30 * 86_400);

/// A certificate is valid from this long before it is signed (clocks of members differ).
const CLOCK_SKEW: std::time::Duration = std::time::Duration::from_secs(3600);

/// TLS server name every cluster certificate carries; peers are told apart
/// by their certificate's common name, not by DNS.
pub const CLUSTER_SERVER_NAME: &str = "kintsugi.internal";

fn pki(what: &'static str) -> impl FnOnce(rcgen::Error) -> NetError {
    move |e| NetError::Pki { what, detail: e.to_string() }
}

/// The crypto provider every TLS configuration of the cluster uses.
pub(crate) fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}

/// Hex BLAKE3 of a DER certificate: what a join token pins.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(blake3::hash(der).as_bytes())
}

/// The cluster certificate authority.
pub struct ClusterCa {
    cert_der: Vec<u8>,
    key: KeyPair,
    /// How long the member certificates it signs are valid.
    validity: std::time::Duration,
}

impl std::fmt::Debug for ClusterCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClusterCa({})", self.fingerprint())
    }
}

impl ClusterCa {
    /// A new CA for cluster `name`.
    pub fn generate(name: &str) -> NetResult<Self> {
        let key = KeyPair::generate().map_err(pki("generating the CA key"))?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(pki("building CA parameters"))?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        params.distinguished_name.push(DnType::CommonName, format!("kintsugi cluster CA {name}"));
        let cert = params.self_signed(&key).map_err(pki("self-signing the CA"))?;
        Ok(Self { cert_der: cert.der().to_vec(), key, validity: NODE_CERT_VALIDITY })
    }

    /// Load a CA saved with [`ClusterCa::to_pem`].
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> NetResult<Self> {
        let key = KeyPair::from_pem(key_pem).map_err(pki("reading the CA key"))?;
        let der = pem_to_der(cert_pem)?;
        Ok(Self { cert_der: der, key, validity: NODE_CERT_VALIDITY })
    }

    /// Sign member certificates valid for `validity` (default [`NODE_CERT_VALIDITY`]).
    pub fn with_validity(mut self, validity: std::time::Duration) -> Self {
        self.validity = validity;
        self
    }

    /// How long the member certificates it signs are valid.
    pub fn validity(&self) -> std::time::Duration {
        self.validity
    }

    /// (certificate PEM, private key PEM).
    pub fn to_pem(&self) -> (String, String) {
        (der_to_pem("CERTIFICATE", &self.cert_der), self.key.serialize_pem())
    }

    /// The CA certificate (DER).
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// Its fingerprint.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.cert_der)
    }

    fn node_params(&self, name: &str) -> NetResult<CertificateParams> {
        let mut params = CertificateParams::new(vec![CLUSTER_SERVER_NAME.to_owned()]).map_err(pki("building node parameters"))?;
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - CLOCK_SKEW.min(self.validity);
        params.not_after = now + self.validity;
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        Ok(params)
    }

    /// Sign a node's CSR as `name` (the CSR's own subject and extensions are ignored).
    pub fn sign_csr(&self, csr_der: &[u8], name: &str) -> NetResult<Vec<u8>> {
        let csr = CertificateSigningRequestParams::from_der(&csr_der.to_vec().into()).map_err(pki("reading the node's CSR"))?;
        let issuer = Issuer::from_ca_cert_der(&CertificateDer::from(self.cert_der.clone()), &self.key).map_err(pki("loading the CA"))?;
        let cert = self.node_params(name)?.signed_by(&csr.public_key, &issuer).map_err(pki("signing the node certificate"))?;
        Ok(cert.der().to_vec())
    }

    /// Issue an identity directly (for the gateway itself, or tests).
    pub fn issue(&self, name: &str) -> NetResult<NodeIdentity> {
        let (key_der, csr) = new_key_and_csr(name)?;
        let cert_der = self.sign_csr(&csr, name)?;
        Ok(NodeIdentity { name: name.to_owned(), cert_der, key_der, ca_der: self.cert_der.clone() })
    }
}

/// A member's credentials: its certificate, private key and the cluster CA.
#[derive(Clone)]
pub struct NodeIdentity {
    /// Common name in the certificate (node id).
    pub name: String,
    /// Node certificate (DER).
    pub cert_der: Vec<u8>,
    /// Private key (PKCS#8 DER).
    pub key_der: Vec<u8>,
    /// Cluster CA certificate (DER).
    pub ca_der: Vec<u8>,
}

impl std::fmt::Debug for NodeIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NodeIdentity({}, ca {})", self.name, &fingerprint(&self.ca_der)[..16])
    }
}

impl NodeIdentity {
    /// PEM bundle (certificate, key, CA) for storage on the node's disk.
    pub fn to_pem(&self) -> String {
        format!(
            "# kintsugi node identity: {}\n{}{}{}",
            self.name,
            der_to_pem("CERTIFICATE", &self.cert_der),
            der_to_pem("PRIVATE KEY", &self.key_der),
            der_to_pem("CERTIFICATE", &self.ca_der)
        )
    }

    /// Parse a bundle written by [`NodeIdentity::to_pem`].
    pub fn from_pem(s: &str) -> NetResult<Self> {
        let name = s
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# kintsugi node identity: "))
            .ok_or_else(|| NetError::Pki { what: "reading the identity file", detail: "missing header line".into() })?
            .trim()
            .to_owned();
        let blocks = pem_blocks(s)?;
        let [(_, cert_der), (_, key_der), (_, ca_der)] = <[(String, Vec<u8>); 3]>::try_from(blocks)
            .map_err(|_| NetError::Pki { what: "reading the identity file", detail: "expected certificate, key and CA".into() })?;
        Ok(Self { name, cert_der, key_der, ca_der })
    }
}

/// A fresh key pair and a CSR for `name`: (PKCS#8 key DER, CSR DER).
pub fn new_key_and_csr(name: &str) -> NetResult<(Vec<u8>, Vec<u8>)> {
    let key_der = new_key()?;
    let csr = csr_for_key(&key_der, name)?;
    Ok((key_der, csr))
}

/// A fresh private key (PKCS#8 DER).
pub fn new_key() -> NetResult<Vec<u8>> {
    Ok(KeyPair::generate().map_err(pki("generating a node key"))?.serialize_der())
}

/// A CSR for `name` with the key `key_der` (PKCS#8 DER): a join retried with the same key is
/// recognised as the same join.
pub fn csr_for_key(key_der: &[u8], name: &str) -> NetResult<Vec<u8>> {
    let key = KeyPair::try_from(key_der).map_err(pki("reading the node key"))?;
    let mut params = CertificateParams::new(vec![CLUSTER_SERVER_NAME.to_owned()]).map_err(pki("building CSR parameters"))?;
    params.distinguished_name.push(DnType::CommonName, name);
    let csr = params.serialize_request(&key).map_err(pki("making a CSR"))?;
    Ok(csr.der().to_vec())
}

/// The BLAKE3 hash of a CSR's public key (its SubjectPublicKeyInfo): which key a join is for.
pub fn csr_key_id(csr_der: &[u8]) -> NetResult<[u8; 32]> {
    use rcgen::PublicKeyData;
    let csr = CertificateSigningRequestParams::from_der(&csr_der.to_vec().into()).map_err(pki("reading the node's CSR"))?;
    Ok(*blake3::hash(&csr.public_key.subject_public_key_info()).as_bytes())
}

/// The common name of a DER certificate (a peer's node id).
pub fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?.as_str().ok()?.to_owned();
    Some(cn)
}

fn der_to_pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn pem_blocks(s: &str) -> NetResult<Vec<(String, Vec<u8>)>> {
    use base64::Engine;
    let bad = |d: &str| NetError::Pki { what: "reading PEM", detail: d.to_owned() };
    let mut out = Vec::new();
    let mut cur: Option<(String, String)> = None;
    for line in s.lines() {
        let line = line.trim();
        if let Some(label) = line.strip_prefix("-----BEGIN ").and_then(|l| l.strip_suffix("-----")) {
            cur = Some((label.to_owned(), String::new()));
        } else if line.starts_with("-----END ") {
            let (label, b64) = cur.take().ok_or_else(|| bad("END without BEGIN"))?;
            let der = base64::engine::general_purpose::STANDARD.decode(b64).map_err(|e| bad(&e.to_string()))?;
            out.push((label, der));
        } else if let Some((_, b)) = cur.as_mut() {
            b.push_str(line);
        }
    }
    if cur.is_some() {
        return Err(bad("unterminated PEM block"));
    }
    Ok(out)
}

fn pem_to_der(s: &str) -> NetResult<Vec<u8>> {
    pem_blocks(s)?
        .into_iter()
        .next()
        .map(|(_, d)| d)
        .ok_or_else(|| NetError::Pki { what: "reading PEM", detail: "no PEM block".into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_round_trip_and_identity_bundle() {
        let ca = ClusterCa::generate("test").expect("ca");
        let (c, k) = ca.to_pem();
        let back = ClusterCa::from_pem(&c, &k).expect("reload");
        assert_eq!(back.fingerprint(), ca.fingerprint());
        let id = back.issue("node-7").expect("issue");
        assert_eq!(common_name(&id.cert_der).as_deref(), Some("node-7"));
        let again = NodeIdentity::from_pem(&id.to_pem()).expect("parse bundle");
        assert_eq!((again.name.as_str(), &again.cert_der, &again.key_der, &again.ca_der), ("node-7", &id.cert_der, &id.key_der, &id.ca_der));
        assert!(NodeIdentity::from_pem("garbage").is_err());
        assert!(ca.sign_csr(b"not a csr", "x").is_err());
    }

    #[test]
    fn a_csr_names_its_key_and_only_its_key_holder_can_make_it() {
        let key = new_key().expect("key");
        let (a, b) = (csr_for_key(&key, "n1").expect("csr"), csr_for_key(&key, "n1").expect("csr"));
        assert_eq!(csr_key_id(&a).expect("id"), csr_key_id(&b).expect("id"), "one key, one id");
        let other = csr_for_key(&new_key().expect("key"), "n1").expect("csr");
        assert_ne!(csr_key_id(&a).expect("id"), csr_key_id(&other).expect("id"));
        // Another key's signature over this key's request (the signature is the CSR's last
        // bytes): refused, so a used token's repeat needs the private key of its first join.
        let mut forged = a.clone();
        let n = forged.len();
        forged[n - 8..].copy_from_slice(&other[other.len() - 8..]);
        assert!(csr_key_id(&forged).is_err(), "a CSR whose signature is not its key's was read");
        assert!(ClusterCa::generate("t").expect("ca").sign_csr(&forged, "n1").is_err());
    }
}
