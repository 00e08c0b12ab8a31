//! Join tokens for storage nodes, as a gateway makes, admits and revokes them:
//!
//! - `POST /kintsugi-admin/v1/join-token[?ttl=SECS][&uses=N][&node=NAME]`: a new token, with
//!   its own secret, admitting nodes for `ttl` (default [`DEFAULT_TTL`]) and at most `uses`
//!   times (default: any number until it expires; one with `node`). With `node` it admits
//!   only that name, even when the cluster has a node of that name: a re-admission, for a
//!   node whose certificate expired while it was stopped or that lost its state directory.
//!   `GET` makes one with the defaults (older CLIs).
//! - `POST /kintsugi-admin/v1/join-token?revoke_all=1`: every token stops admitting at once,
//!   on every gateway of the group.
//!
//! - `GET|POST /kintsugi-admin/v1/gateway/join-token[?ttl=SECS][&uses=N]`: a token for a new
//!   gateway of the group, with the same lifetime and use rules, bound to the name `gateway`
//!   (which no storage node may take), so a node token never admits a gateway nor the
//!   reverse. Revoked with the rest.
//!
//! [`TokenAdmission`] is what the node join of the cluster port asks: a token admits a join
//! while it exists, has not expired and has a use left; each join counts one use (a
//! replicated command, so a token of one use admits one node even when two gateways are
//! asked at once). Nodes that joined keep their certificates: a token matters only for a
//! first join.

use std::sync::Arc;
use std::time::Duration;

use hyper::{Method, Uri};
use s3s::{s3_error, Body, S3Response, S3Result};

use kintsugi_cluster::Store;
use kintsugi_meta::{JoinTokenRecord, MetaError, MetaRead};
use kintsugi_net::{codes, JoinToken, Joiner, WireError};

use crate::admin_util::{json_response, query_param, rfc3339};
use crate::error::s3_err;

/// How long a token admits nodes unless its maker says otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);

/// Longest lifetime a token may be given.
pub const MAX_TTL: Duration = Duration::from_secs(365 * 86_400);

/// What a gateway puts into the tokens it makes: where nodes reach it, and the CA they pin.
#[derive(Clone, Debug)]
pub struct JoinMint {
    /// This gateway's cluster address (`host:port`), as nodes reach it.
    pub gateway: String,
    /// The cluster CA's fingerprint.
    pub ca_fingerprint: String,
}

/// A token just made.
#[derive(Debug, serde::Serialize)]
pub struct MintedToken {
    /// The token text (`KSG1-…`): a secret, shown once.
    pub token: String,
    /// When it stops admitting nodes, ms since the epoch.
    pub expires_ms: i64,
    /// `expires_ms` as RFC 3339 (UTC).
    pub expires: String,
    /// Joins it admits; `None`: any number until it expires.
    pub uses: Option<u32>,
    /// The one node name it admits (`None`: any name no member has).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

impl JoinMint {
    /// Make a token admitting nodes for `ttl`, `uses` times (`None`: any number), and only
    /// the node named `node` if given.
    pub async fn mint(&self, store: &Arc<Store>, ttl: Duration, uses: Option<u32>, node: Option<String>) -> Result<MintedToken, crate::GatewayError> {
        let secret = JoinToken::random_secret();
        let id = JoinToken::secret_id(&secret);
        let ttl_ms = i64::try_from(ttl.min(MAX_TTL).as_millis()).unwrap_or(i64::MAX);
        let bound = node.clone();
        let rec: JoinTokenRecord = store
            .meta_call(move |m| match &bound {
                Some(n) => m.add_node_join_token(&id, ttl_ms, uses, n),
                None => m.add_join_token(&id, ttl_ms, uses),
            })
            .await?;
        let token = JoinToken { gateway: self.gateway.clone(), ca_fingerprint: self.ca_fingerprint.clone(), secret }.encode();
        Ok(MintedToken { token, expires_ms: rec.expires_ms, expires: rfc3339(rec.expires_ms), uses, node })
    }
}

impl JoinMint {
    /// Make a token for new gateways of the group: a token bound to the name every gateway's
    /// certificate carries, which no storage node may have, so it admits gateways only.
    pub async fn mint_for_gateways(&self, store: &Arc<Store>, ttl: Duration, uses: Option<u32>) -> Result<MintedToken, crate::GatewayError> {
        self.mint(store, ttl, uses, Some(kintsugi_raft::group::GATEWAY_NAME.to_owned())).await
    }
}

/// The node join's admission by the tokens in the metadata.
pub struct TokenAdmission {
    store: Arc<Store>,
}

impl TokenAdmission {
    /// Admit by the tokens in `store`'s metadata.
    pub fn new(store: Arc<Store>) -> Self {
        Self { store }
    }
}

fn refusal(e: MetaError) -> WireError {
    match e {
        MetaError::JoinTokenRefused { .. } => WireError::new(codes::BAD_JOIN_SECRET, e.to_string()),
        MetaError::NotCommitted { .. } => WireError::new(
            codes::JOIN_UNAVAILABLE,
            format!("the gateways cannot check the token now ({e}): fewer than a majority of them answer; retry when `kintsugi admin status` shows a quorum"),
        ),
        other => WireError::new(codes::JOIN_UNAVAILABLE, format!("checking the join token failed: {other}")),
    }
}

#[async_trait::async_trait]
impl kintsugi_net::Admission for TokenAdmission {
    async fn check(&self, secret: &str, joiner: &Joiner<'_>) -> Result<Option<String>, WireError> {
        let (id, name, key) = (JoinToken::secret_id(secret), joiner.name.to_owned(), joiner.key);
        // The name and the joins are written with or after the token: read after the
        // linearizable read of the token, this replica's copy is as current as that read.
        let found = self.store.meta_call(move |m| Ok((m.join_token(&id)?, m.local_join_token_node(&id)?, m.local_join_token_use(&id, &key)?))).await;
        let (rec, bound, admitted_as) = found.map_err(|e| match e {
            kintsugi_cluster::ClusterError::Meta(m) => refusal(m),
            other => WireError::new(codes::JOIN_UNAVAILABLE, format!("checking the join token failed: {other}")),
        })?;
        let now = kintsugi_meta::now_ms();
        let reason = match rec {
            None => Some("this join token is unknown or was revoked".to_owned()),
            // This very join again (its answer was lost): admitted while the token lives.
            Some(r) if admitted_as.as_deref() == Some(name.as_str()) && now < r.expires_ms => None,
            Some(r) => r.refusal(now),
        };
        match reason {
            Some(reason) => Err(refusal(MetaError::JoinTokenRefused { reason })),
            None => Ok(bound),
        }
    }

    async fn consume(&self, secret: &str, joiner: &Joiner<'_>) -> Result<(), WireError> {
        let (id, name, key) = (JoinToken::secret_id(secret), joiner.name.to_owned(), joiner.key);
        self.store.meta_call(move |m| m.use_join_token(&id, &name, &key)).await.map_err(|e| match e {
            kintsugi_cluster::ClusterError::Meta(m) => refusal(m),
            other => WireError::new(codes::JOIN_UNAVAILABLE, format!("recording the join failed: {other}")),
        })
    }
}

/// Whether `method op` is this module's route.
pub(crate) fn handles(method: &Method, op: &str) -> bool {
    op == "join-token" && (method == Method::GET || method == Method::POST)
}

/// Serve `join-token`.
pub(crate) async fn call(store: &Arc<Store>, mint: Option<&JoinMint>, method: &Method, uri: &Uri) -> S3Result<S3Response<Body>> {
    let Some(mint) = mint else {
        return Err(s3_error!(NotImplemented, "this is an embedded server: it has no cluster to join; start `kintsugi gateway` for a cluster"));
    };
    if method == Method::POST && query_param(uri, "revoke_all").as_deref() == Some("1") {
        let n = store.meta_call(|m| m.local_join_tokens().map(|t| t.len())).await.map_err(s3_err)?;
        store.meta_call(|m| m.revoke_join_tokens()).await.map_err(s3_err)?;
        tracing::warn!(tokens = n, "every join token revoked");
        return json_response(&serde_json::json!({ "revoked": n }));
    }
    let ttl = ttl_param(uri)?;
    let node = query_param(uri, "node");
    if let Some(n) = &node {
        if !kintsugi_net::valid_node_name(n) {
            return Err(s3_error!(InvalidArgument, "node= must be a node name: 1-64 letters, digits, - or _, not `gateway`"));
        }
        let removed = store.meta_call(|m| m.removed_nodes()).await.map_err(s3_err)?;
        if removed.iter().any(|r| r == n) {
            return Err(s3_error!(InvalidArgument, "node {n:?} was removed from this cluster, and removed names are never admitted again; start a new node under a new --name"));
        }
    }
    // A token for one name admits it once unless told otherwise.
    let uses = uses_param(uri)?.or(node.as_ref().map(|_| 1));
    let t = mint.mint(store, ttl, uses, node).await.map_err(s3_err)?;
    tracing::info!(expires = %t.expires, uses = ?t.uses, node = ?t.node, "join token made");
    json_response(&t)
}

/// Serve `gateway/join-token[?ttl=SECS][&uses=N]`: a token for a new gateway of the group,
/// which expires like a node's (a gateway's certificate comes with the cluster's CA key).
pub(crate) async fn call_gateway(store: &Arc<Store>, mint: Option<&JoinMint>, uri: &Uri) -> S3Result<S3Response<Body>> {
    let Some(mint) = mint else {
        return Err(s3_error!(NotImplemented, "this is an embedded server: it has no gateway group; start `kintsugi gateway` for a cluster"));
    };
    let (ttl, uses) = (ttl_param(uri)?, uses_param(uri)?);
    let t = mint.mint_for_gateways(store, ttl, uses).await.map_err(s3_err)?;
    tracing::info!(expires = %t.expires, uses = ?t.uses, "gateway join token made");
    json_response(&t)
}

/// The `ttl=` of a request (seconds), else [`DEFAULT_TTL`]; at most [`MAX_TTL`].
fn ttl_param(uri: &Uri) -> S3Result<Duration> {
    let Some(t) = query_param(uri, "ttl") else { return Ok(DEFAULT_TTL) };
    let secs: f64 = t.parse().ok().filter(|s: &f64| s.is_finite() && *s > 0.0).ok_or_else(|| s3_error!(InvalidArgument, "ttl= must be a positive number of seconds"))?;
    // Compared before it becomes a Duration, which a huge number would overflow.
    if secs > MAX_TTL.as_secs_f64() {
        return Err(s3_error!(InvalidArgument, "a join token lives at most 365 days; give a shorter --ttl"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// The `uses=` of a request, if given: at least 1.
fn uses_param(uri: &Uri) -> S3Result<Option<u32>> {
    match query_param(uri, "uses") {
        Some(u) => Ok(Some(u.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| s3_error!(InvalidArgument, "uses= must be a whole number of joins, at least 1"))?)),
        None => Ok(None),
    }
}
