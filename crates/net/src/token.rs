//! Join tokens: `KSG1-` + base64url of `gateway-address|ca-fingerprint|secret`.
//! A token names where to join, pins the cluster CA (so a node never trusts
//! an impostor gateway) and carries the secret the gateway checks before it
//! signs a node certificate.

use base64::Engine;

use crate::error::{NetError, NetResult};

const PREFIX: &str = "KSG1-";

/// What a storage node needs to join a cluster.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinToken {
    /// Gateway QUIC address, `host:port`.
    pub gateway: String,
    /// Hex BLAKE3 fingerprint of the cluster CA certificate.
    pub ca_fingerprint: String,
    /// Join secret.
    pub secret: String,
}

impl std::fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JoinToken({}, ca {}, <secret>)", self.gateway, &self.ca_fingerprint)
    }
}

impl JoinToken {
    /// A random 32-byte secret, hex.
    pub fn random_secret() -> String {
        hex::encode(rand::random::<[u8; 32]>())
    }

    /// What a gateway stores of a token's secret to recognise it: its BLAKE3 hash, hex. The
    /// secret itself is never stored, so a copy of the metadata admits no node.
    pub fn secret_id(secret: &str) -> String {
        blake3::hash(secret.as_bytes()).to_hex().to_string()
    }

    /// The token text.
    pub fn encode(&self) -> String {
        let raw = format!("{}|{}|{}", self.gateway, self.ca_fingerprint, self.secret);
        format!("{PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw))
    }

    /// Parse token text.
    pub fn parse(s: &str) -> NetResult<Self> {
        let bad = |d: &str| NetError::BadToken { detail: d.to_owned() };
        let body = s.trim().strip_prefix(PREFIX).ok_or_else(|| bad("it does not start with KSG1-"))?;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(body).map_err(|_| bad("it is not base64url"))?;
        let raw = String::from_utf8(raw).map_err(|_| bad("it is not UTF-8"))?;
        let mut parts = raw.splitn(3, '|');
        let (Some(gateway), Some(fp), Some(secret)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("it does not have three fields"));
        };
        if gateway.is_empty() || !gateway.contains(':') {
            return Err(bad("the gateway address is not host:port"));
        }
        if fp.len() != 64 || !fp.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("the CA fingerprint is not 64 hex digits"));
        }
        if secret.len() < 16 {
            return Err(bad("the secret is too short"));
        }
        Ok(Self { gateway: gateway.to_owned(), ca_fingerprint: fp.to_ascii_lowercase(), secret: secret.to_owned() })
    }
}

/// Compare secrets in time independent of where they differ.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects() {
        let t = JoinToken { gateway: "127.0.0.1:7000".into(), ca_fingerprint: "ab".repeat(32), secret: JoinToken::random_secret() };
        assert_eq!(JoinToken::parse(&t.encode()).expect("parse"), t);
        assert!(!format!("{t:?}").contains(&t.secret), "Debug must not print the secret");
        for bad in ["", "KSG1-", "KSG2-abc", "KSG1-!!!", &t.encode()[..20]] {
            assert!(JoinToken::parse(bad).is_err(), "{bad:?}");
        }
        let short = JoinToken { secret: "x".into(), ..t.clone() };
        assert!(JoinToken::parse(&short.encode()).is_err());
        assert!(secrets_equal("abc", "abc"));
        assert!(!secrets_equal("abc", "abd"));
        assert!(!secrets_equal("abc", "abcd"));
    }
}
