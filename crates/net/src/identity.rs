//! A member's credentials as its endpoints present them, renewable while they run: every TLS
//! handshake (server and client side) asks for the current certificate, so replacing it
//! takes effect on the next connection without rebuilding any endpoint. Connections already
//! open keep the certificate they were made with (TLS checks validity at the handshake).

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::client::ResolvesClientCert;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::SignatureScheme;

use crate::error::{NetError, NetResult};
use crate::pki::{common_name, NodeIdentity};

/// A certificate's validity: (not before, not after), as times.
pub fn validity(cert_der: &[u8]) -> Option<(SystemTime, SystemTime)> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der).ok()?;
    let at = |ts: i64| match u64::try_from(ts) {
        Ok(s) => UNIX_EPOCH.checked_add(Duration::from_secs(s)),
        Err(_) => UNIX_EPOCH.checked_sub(Duration::from_secs(ts.unsigned_abs())),
    };
    Some((at(cert.validity().not_before.timestamp())?, at(cert.validity().not_after.timestamp())?))
}

/// Whether a certificate valid over `(from, until)` should be renewed at `now`: when less
/// than a third of its lifetime is left, or when its lifetime is longer than ten years (a
/// certificate from before certificates expired, valid until the year 4096).
pub fn renewal_due(from: SystemTime, until: SystemTime, now: SystemTime) -> bool {
    const TEN_YEARS: Duration = Duration::from_secs(10 * 365 * 86_400);
    let lifetime = until.duration_since(from).unwrap_or_default();
    if lifetime > TEN_YEARS {
        return true;
    }
    match until.duration_since(now) {
        Ok(left) => left < lifetime / 3,
        Err(_) => true, // expired already
    }
}

/// Whether `id`'s certificate carries the public key of its private key.
fn key_matches(id: &NodeIdentity) -> bool {
    use rcgen::PublicKeyData;
    let Ok(key) = rcgen::KeyPair::try_from(id.key_der.as_slice()) else { return false };
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(&id.cert_der) else { return false };
    cert.public_key().raw == key.subject_public_key_info().as_slice()
}

struct Current {
    id: NodeIdentity,
    key: Arc<CertifiedKey>,
}

/// The identity an endpoint presents; clones share it, and [`LiveIdentity::replace`] renews
/// it for all of them.
#[derive(Clone)]
pub struct LiveIdentity(Arc<RwLock<Current>>);

impl std::fmt::Debug for LiveIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LiveIdentity({:?})", self.current())
    }
}

fn certified(id: &NodeIdentity) -> NetResult<Arc<CertifiedKey>> {
    let chain = vec![CertificateDer::from(id.cert_der.clone()), CertificateDer::from(id.ca_der.clone())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(id.key_der.clone()));
    let signing = crate::pki::provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| NetError::Tls { detail: format!("loading the key of {}: {e}", id.name) })?;
    Ok(Arc::new(CertifiedKey::new(chain, signing)))
}

impl LiveIdentity {
    /// Present `id`.
    pub fn new(id: NodeIdentity) -> NetResult<Self> {
        let key = certified(&id)?;
        Ok(Self(Arc::new(RwLock::new(Current { id, key }))))
    }

    /// The identity presented now.
    pub fn current(&self) -> NodeIdentity {
        self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner).id.clone()
    }

    fn key(&self) -> Arc<CertifiedKey> {
        self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner).key.clone()
    }

    /// Present `id` from the next handshake on. It must be the same member under the same
    /// CA (a renewal), named in its certificate.
    pub fn replace(&self, id: NodeIdentity) -> NetResult<()> {
        self.check(&id)?;
        let key = certified(&id)?;
        *self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Current { id, key };
        Ok(())
    }

    /// Whether `id` may replace the identity presented now: the same member (its certificate
    /// names the same common name — a gateway's says `gateway`, whatever name it joined
    /// under) under the same CA, for its own key.
    pub fn check(&self, id: &NodeIdentity) -> NetResult<()> {
        let old = self.current();
        let bad = |detail: String| NetError::Pki { what: "renewing the certificate", detail };
        let member = common_name(&old.cert_der).unwrap_or(old.name);
        if common_name(&id.cert_der).as_deref() != Some(member.as_str()) {
            return Err(bad(format!("the new certificate does not name {member}")));
        }
        if id.ca_der != old.ca_der {
            return Err(bad("the new certificate comes with another cluster CA".into()));
        }
        if !key_matches(id) {
            return Err(bad("the new certificate is not for this member's new key".into()));
        }
        Ok(())
    }

    /// When the certificate presented now stops being valid.
    pub fn expires(&self) -> Option<SystemTime> {
        validity(&self.current().cert_der).map(|(_, until)| until)
    }

    /// Whether the certificate presented now should be renewed ([`renewal_due`]).
    pub fn renewal_due(&self) -> bool {
        validity(&self.current().cert_der).is_none_or(|(from, until)| renewal_due(from, until, SystemTime::now()))
    }
}

impl std::fmt::Debug for Current {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.id.fmt(f)
    }
}

impl ResolvesServerCert for LiveIdentity {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.key())
    }
}

impl ResolvesClientCert for LiveIdentity {
    fn resolve(&self, _root_hint_subjects: &[&[u8]], _sigschemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.key())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_is_due_in_the_last_third_of_a_lifetime_and_for_centuries_long_certificates() {
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let day = Duration::from_secs(86_400);
        assert!(!renewal_due(t0, t0 + 30 * day, t0 + day));
        assert!(!renewal_due(t0, t0 + 30 * day, t0 + 19 * day));
        assert!(renewal_due(t0, t0 + 30 * day, t0 + 21 * day));
        assert!(renewal_due(t0, t0 + 30 * day, t0 + 31 * day), "expired");
        assert!(renewal_due(t0, t0 + 800_000 * day, t0 + day), "valid until the year 4096");
    }

    #[test]
    fn a_replacement_must_be_the_same_member_under_the_same_ca() {
        let ca = crate::ClusterCa::generate("t").expect("ca");
        let live = LiveIdentity::new(ca.issue("n1").expect("n1")).expect("live");
        let (from, until) = validity(&live.current().cert_der).expect("validity");
        assert!(until.duration_since(from).expect("ordered") <= crate::pki::NODE_CERT_VALIDITY + Duration::from_secs(3600));
        assert!(!live.renewal_due(), "a new certificate is not due");
        let mut mismatched = ca.issue("n1").expect("renewed");
        mismatched.key_der = ca.issue("n1").expect("another key").key_der;
        assert!(live.replace(mismatched).is_err(), "a certificate for another key");
        let renewed = ca.issue("n1").expect("renewed");
        live.replace(renewed.clone()).expect("same member");
        assert_eq!(live.current().cert_der, renewed.cert_der);
        assert!(live.replace(ca.issue("n2").expect("n2")).is_err(), "another member's certificate");
        let other = crate::ClusterCa::generate("other").expect("ca");
        assert!(live.replace(other.issue("n1").expect("n1")).is_err(), "another CA");
        assert_eq!(live.current().cert_der, renewed.cert_der);
        // A gateway that joined under its own name holds a certificate that says `gateway`;
        // the one it re-issues itself (named `gateway`) replaces it.
        let mut joined = ca.issue("gateway").expect("gateway");
        joined.name = "gw2".into();
        let gw = LiveIdentity::new(joined).expect("live");
        gw.replace(ca.issue("gateway").expect("re-issued")).expect("a gateway renews its own certificate");
    }
}
