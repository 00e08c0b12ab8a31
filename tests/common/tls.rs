//! Certificates for the HTTPS tests, made with rcgen as an operator would make them with
//! openssl: a self-signed one, or a leaf signed by a private CA.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// The names every test certificate is valid for: how the tests reach a server.
const NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// Files of one server certificate.
#[derive(Clone, Debug)]
pub struct CertFiles {
    /// The chain the server presents (leaf first; the CA after it when CA-signed).
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
    /// What a client trusts to reach it: the CA, or the certificate itself when self-signed.
    pub trust: PathBuf,
}

impl CertFiles {
    /// `--tls-cert FILE --tls-key FILE`.
    pub fn flags(&self) -> Vec<String> {
        vec!["--tls-cert".into(), self.cert.display().to_string(), "--tls-key".into(), self.key.display().to_string()]
    }
}

/// A self-signed certificate for localhost / 127.0.0.1 in `dir`, files named after `tag`.
pub fn self_signed(dir: &Path, tag: &str) -> CertFiles {
    fs::create_dir_all(dir).expect("cert dir");
    let c = rcgen::generate_simple_self_signed(NAMES.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()).expect("rcgen self-signed");
    let (cert, key) = (dir.join(format!("{tag}.crt")), dir.join(format!("{tag}.key")));
    fs::write(&cert, c.cert.pem()).expect("write cert");
    fs::write(&key, c.signing_key.serialize_pem()).expect("write key");
    CertFiles { trust: cert.clone(), cert, key }
}

/// A private CA named `tag` and a server certificate it signed; the server's chain file holds
/// the leaf and then the CA.
pub fn ca_signed(dir: &Path, tag: &str) -> CertFiles {
    fs::create_dir_all(dir).expect("cert dir");
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    ca.distinguished_name.push(DnType::CommonName, format!("kintsugi test CA {tag}"));
    let ca_cert = ca.self_signed(&ca_key).expect("CA cert");
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate().expect("leaf key");
    let mut leaf = CertificateParams::new(NAMES.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()).expect("leaf params");
    leaf.distinguished_name.push(DnType::CommonName, "localhost");
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).expect("leaf cert");
    let (cert, key, trust) = (dir.join(format!("{tag}.crt")), dir.join(format!("{tag}.key")), dir.join(format!("{tag}-ca.crt")));
    fs::write(&cert, format!("{}{}", leaf_cert.pem(), ca_cert.pem())).expect("write chain");
    fs::write(&key, leaf_key.serialize_pem()).expect("write key");
    fs::write(&trust, ca_cert.pem()).expect("write CA");
    CertFiles { cert, key, trust }
}

/// Replace `dst`'s contents with `src`'s as an operator renewing a certificate would:
/// a new file renamed over the old one.
pub fn replace(src: &Path, dst: &Path) {
    let tmp = dst.with_extension("new");
    fs::copy(src, &tmp).expect("copy renewed file");
    fs::rename(&tmp, dst).expect("rename renewed file into place");
}
