//! The gateway's side of joining: [`JoinAuthority`] checks a joining node's secret (or a join
//! token's lifetime and uses, through an [`Admission`]) and its name, and signs its
//! certificate; members renew theirs over their mTLS link ([`JoinAuthority::renew`]).

use std::sync::Arc;

use crate::pki::ClusterCa;
use crate::protocol::{codes, JoinRequest, Joined, WireError};
use crate::revoked::Revoked;
use crate::token::secrets_equal;

/// Whether `name` may be a storage node's name: 1-64 letters, digits, `-` or `_` (and not
/// `gateway`, which every gateway's certificate carries).
pub fn valid_node_name(name: &str) -> bool {
    name != "gateway" && !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What a node name is to the cluster now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameUse {
    /// No member has it, and it was never removed.
    Free,
    /// A member has it.
    Member,
    /// A node of that name was removed: never admitted again.
    Removed,
}

/// What a node name is to the cluster (its replicated records, which the endpoint's
/// [`Revoked`] copy may lag behind).
pub type NameTaken = Arc<dyn Fn(&str) -> NameUse + Send + Sync>;

/// Decides which join secrets admit a node, when that is more than one fixed secret: join
/// tokens that expire, count their uses and can be revoked (the gateway's, kept in its
/// replicated metadata).
#[async_trait::async_trait]
pub trait Admission: Send + Sync {
    /// Whether `secret` admits `joiner` now, and the one node name it admits if it is bound to
    /// one (`None`: any free name). A token bound to a name re-admits that name even when a
    /// member has it (an operator's decision: a node whose certificate expired while it was
    /// stopped, or that lost its state directory). A token that admitted this very joiner
    /// (name and key) admits it again, used up or not: its answer was lost. Records nothing:
    /// it runs before the request's name is checked, so that a peer without a valid secret
    /// learns nothing of the names.
    async fn check(&self, secret: &str, joiner: &Joiner<'_>) -> Result<Option<String>, WireError>;
    /// Record that `secret` admitted `joiner` (one use of a token with a use count, none for a
    /// joiner it admitted before); refused when it no longer admits (used up or revoked
    /// meanwhile).
    async fn consume(&self, secret: &str, joiner: &Joiner<'_>) -> Result<(), WireError>;
}

/// Who asks to join: the name the certificate will carry and the key it will certify.
#[derive(Clone, Copy, Debug)]
pub struct Joiner<'a> {
    /// The name asked for (`gateway` for every gateway).
    pub name: &'a str,
    /// BLAKE3 of the CSR's public key ([`crate::csr_key_id`]).
    pub key: [u8; 32],
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
    /// Names of removed nodes: never admitted again (their certificates are revoked).
    pub revoked: Revoked,
    /// Issue every certificate under this name, whatever name the request gives (which is
    /// then only logged): gateways all present `gateway` to the nodes. `None`: the
    /// requested name, checked.
    pub issue_as: Option<String>,
}

impl JoinAuthority {
    /// Answer a join request: a signed certificate, or the error that says why not.
    pub async fn answer(&self, req: &JoinRequest) -> Result<Joined, WireError> {
        let node_name = req.node_name.as_str();
        let key = crate::pki::csr_key_id(&req.csr_der).map_err(|e| WireError::new(codes::BAD_CSR, e.to_string()))?;
        // Every gateway's certificate carries the same name.
        let joiner = Joiner { name: self.issue_as.as_deref().unwrap_or(node_name), key };
        let bound = match &self.admission {
            Some(a) => match a.check(&req.secret, &joiner).await {
                Ok(bound) => bound,
                Err(mut e) => {
                    if let Some(cn) = &self.issue_as {
                        // The token store's hint names the node command.
                        e.message = e.message.replace("kintsugi admin join-token", &format!("kintsugi admin {cn} join-token"));
                    }
                    tracing::warn!(node_name, error = %e.message, "join refused");
                    return Err(e);
                }
            },
            None if !secrets_equal(&req.secret, &self.secret) => {
                tracing::warn!(node_name, "join refused: wrong secret");
                return Err(WireError::new(codes::BAD_JOIN_SECRET, "the join secret is wrong; get a fresh token with `kintsugi admin join-token`"));
            }
            None => None,
        };
        if let Some(cn) = &self.issue_as {
            // With tokens, only one made for this kind of member admits it (a gateway's
            // certificate comes with the cluster's CA key).
            if self.admission.is_some() && bound.as_deref() != Some(cn.as_str()) {
                tracing::warn!(requested = node_name, "join refused: not a token for {cn}s");
                return Err(WireError::new(codes::BAD_JOIN_SECRET, format!("this is not a {cn} join token; print one with `kintsugi admin {cn} join-token`")));
            }
            let cert_der = self.ca.sign_csr(&req.csr_der, cn).map_err(|e| WireError::new(codes::BAD_CSR, e.to_string()))?;
            if let Some(a) = &self.admission {
                if let Err(mut e) = a.consume(&req.secret, &joiner).await {
                    e.message = e.message.replace("kintsugi admin join-token", &format!("kintsugi admin {cn} join-token"));
                    tracing::warn!(requested = node_name, error = %e.message, "join refused");
                    return Err(e);
                }
            }
            tracing::info!(requested = node_name, name = cn, "joined: certificate issued");
            return Ok(Joined { cert_der, ca_der: self.ca.cert_der().to_vec() });
        }
        if let Some(b) = bound.as_deref().filter(|b| *b != node_name) {
            tracing::warn!(node_name, token_for = b, "join refused: the token admits another name");
            let message = if valid_node_name(b) {
                format!("this join token admits only the node named {b:?}; start that node with it (--name {b}), or make a token for {node_name:?}")
            } else {
                format!("this is a {b} join token, not a storage node's; print one with `kintsugi admin join-token`")
            };
            return Err(WireError::new(codes::BAD_JOIN_SECRET, message));
        }
        if node_name == "gateway" {
            return Err(WireError::new(codes::BAD_NODE_NAME, "the name `gateway` is reserved; pick another --name"));
        }
        if !valid_node_name(node_name) {
            return Err(WireError::new(codes::BAD_NODE_NAME, "node names are 1-64 letters, digits, - or _"));
        }
        let name_use = self.name_taken.as_ref().map_or(NameUse::Free, |taken| taken(node_name));
        if self.revoked.contains(node_name) || name_use == NameUse::Removed {
            tracing::warn!(node_name, "join refused: a node of that name was removed from the cluster");
            return Err(WireError::new(
                codes::NODE_NAME_TAKEN,
                format!(
                    "a node named {node_name:?} was removed from this cluster, and the names of removed nodes are never \
                     admitted again (their certificates are revoked); start this node with a new --name NAME"
                ),
            ));
        }
        let readmitted = bound.is_some() && name_use == NameUse::Member;
        if bound.is_none() && name_use == NameUse::Member {
            tracing::warn!(node_name, "join refused: the name belongs to a member already");
            return Err(WireError::new(
                codes::NODE_NAME_TAKEN,
                format!(
                    "a node named {node_name:?} is already a member of this cluster; start this node with its own \
                     --name NAME (and its own --state DIR; the default name is the host name). If this is that node \
                     (its certificate expired while it was stopped, or it lost its --state directory), re-admit it \
                     with a token for its name: `kintsugi admin join-token --node {node_name}`"
                ),
            ));
        }
        // Signed before a use is recorded, so a request that cannot be signed (a malformed
        // CSR) spends nothing of a token; the certificate is handed out only once it has.
        let cert_der = self.ca.sign_csr(&req.csr_der, node_name).map_err(|e| WireError::new(codes::BAD_CSR, e.to_string()))?;
        if let Some(a) = &self.admission {
            a.consume(&req.secret, &joiner).await.inspect_err(|e| tracing::warn!(node_name, error = %e.message, "join refused"))?;
        }
        if readmitted {
            tracing::warn!(node_name, "node re-admitted under its name by a token made for it: certificate issued");
        } else {
            tracing::info!(node_name, "node joined: certificate issued");
        }
        Ok(Joined { cert_der, ca_der: self.ca.cert_der().to_vec() })
    }
}

impl JoinAuthority {
    /// Renew member `peer`'s certificate (it asked over its mTLS link, so its current one is
    /// valid): sign `csr_der` under the same name. Refused for a revoked name and for
    /// gateways (each issues its own).
    pub fn renew(&self, peer: &str, csr_der: &[u8]) -> Result<Joined, WireError> {
        if self.revoked.contains(peer) {
            return Err(WireError::new(codes::REVOKED, format!("{peer} was removed from this cluster; its certificate is not renewed")));
        }
        if self.issue_as.is_some() || peer == "gateway" {
            return Err(WireError::new(codes::BAD_NODE_NAME, "gateways renew their own certificates"));
        }
        let cert_der = self.ca.sign_csr(csr_der, peer).map_err(|e| WireError::new(codes::BAD_CSR, e.to_string()))?;
        tracing::info!(node = peer, "certificate renewed");
        Ok(Joined { cert_der, ca_der: self.ca.cert_der().to_vec() })
    }
}
