//! The admin API's access keys, and the rule that only admin keys may call the admin API:
//!
//! - `GET /kintsugi-admin/v1/keys`: every key — id, name, whether it is an admin key, when it
//!   was made. Never a secret.
//! - `POST /kintsugi-admin/v1/key/create?name=NAME[&admin=1]`: a new key; the answer is the
//!   only place its secret is ever shown.
//! - `POST /kintsugi-admin/v1/key/delete?access_key=AK`: the key stops working at once on this
//!   gateway, and on every other as soon as it applies the deletion. The last admin key
//!   cannot be deleted. Buckets the key owned stay, and belong to the admin keys to manage.

use std::sync::Arc;

use hyper::{Method, Uri};
use rand::Rng;
use s3s::{s3_error, Body, S3Request, S3Response, S3Result};
use serde::Serialize;

use kintsugi_cluster::Store;
use kintsugi_meta::{now_ms, AccessKeyRecord, MetaRead};

use crate::admin_util::{json_response, query_param, rfc3339};
use crate::error::s3_err;

/// Refuse an admin API request not signed by an admin key.
pub(crate) async fn require_admin(store: &Arc<Store>, req: &S3Request<Body>) -> S3Result<()> {
    let p = crate::access::principal_of(store, req).await?;
    if p.admin {
        return Ok(());
    }
    Err(s3_error!(
        AccessDenied,
        "access key {} is not an admin key: only admin keys may use the admin API (an admin creates one with `kintsugi admin key create --name NAME --admin`)",
        p.access_key
    ))
}

/// One key as listed (no secret).
#[derive(Debug, Serialize)]
struct KeyInfo {
    access_key: String,
    name: String,
    admin: bool,
    created_ms: i64,
    /// `created_ms` as RFC 3339 (UTC).
    created: String,
}


/// A key just made: the one answer that carries its secret.
#[derive(Debug, Serialize)]
struct NewKey {
    access_key: String,
    secret_key: String,
    name: String,
    admin: bool,
    created_ms: i64,
}

/// Access key ids: 20 characters, as AWS's; secrets: 40, from the thread's CSPRNG.
fn random_string(len: usize, alphabet: &[u8]) -> String {
    let mut rng = rand::rng();
    (0..len).map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())])).collect()
}

/// Whether `method op` is one of this module's routes.
pub(crate) fn handles(method: &Method, op: &str) -> bool {
    matches!((method, op), (&Method::GET, "keys") | (&Method::POST, "key/create" | "key/delete"))
}

/// Serve one of this module's routes.
pub(crate) async fn call(store: &Arc<Store>, method: &Method, op: &str, uri: &Uri) -> S3Result<S3Response<Body>> {
    match (method, op) {
        (&Method::GET, "keys") => {
            let keys = store.meta_call(|m| m.list_access_keys()).await.map_err(s3_err)?;
            let keys: Vec<KeyInfo> =
                keys.into_iter().map(|(access_key, r)| KeyInfo { access_key, name: r.name, admin: r.admin, created_ms: r.created_ms, created: rfc3339(r.created_ms) }).collect();
            json_response(&serde_json::json!({ "keys": keys }))
        }
        (&Method::POST, "key/create") => {
            let name = query_param(uri, "name").filter(|n| !n.trim().is_empty()).ok_or_else(|| s3_error!(InvalidArgument, "missing name= (a label for the key, e.g. the team or application using it)"))?;
            if name.len() > 128 || name.chars().any(char::is_control) {
                return Err(s3_error!(InvalidArgument, "a key's name is at most 128 characters, none of them control characters"));
            }
            let admin = query_param(uri, "admin").as_deref() == Some("1");
            let rec = AccessKeyRecord { secret: random_string(40, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"), created_ms: now_ms(), name, admin };
            let r = rec.clone();
            let access_key = store
                .meta_call(move |m| {
                    // 36^20 ids make a collision all but impossible; check anyway rather than replace a key.
                    loop {
                        let ak = random_string(20, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
                        if m.access_key(&ak)?.is_none() {
                            m.put_access_key(&ak, &r)?;
                            return Ok(ak);
                        }
                    }
                })
                .await
                .map_err(s3_err)?;
            tracing::info!(access_key = %access_key, name = %rec.name, admin = rec.admin, "access key created");
            json_response(&NewKey { access_key, secret_key: rec.secret, name: rec.name, admin: rec.admin, created_ms: rec.created_ms })
        }
        (&Method::POST, "key/delete") => {
            let ak = query_param(uri, "access_key").ok_or_else(|| s3_error!(InvalidArgument, "missing access_key= (see `kintsugi admin key list`)"))?;
            let a = ak.clone();
            store.meta_call(move |m| m.delete_access_key(&a)).await.map_err(s3_err)?;
            tracing::info!(access_key = %ak, "access key deleted");
            json_response(&serde_json::json!({ "deleted": ak }))
        }
        _ => Err(s3_error!(NotImplemented, "unknown admin API call {method} {op}")),
    }
}
