//! Join tokens for storage nodes: each has its own secret, a lifetime and an optional number
//! of uses, and all can be revoked at once. They live in the replicated metadata (the system
//! column family, under `join-token/<id>`), so any gateway of a group admits a node with a
//! token another gateway printed, and a revocation holds on every gateway. Only the BLAKE3
//! hash of a token's secret is stored (its id): a copy of the metadata admits no node.
//!
//! A token may be bound to one node name (`admin join-token --node NAME`): it admits a join
//! under that name only, and re-admits a node the cluster already has (one whose certificate
//! expired while it was stopped, or that lost its state directory). The name lives beside the
//! record, under `join-token-node/<id>`, written and deleted with it.
//!
//! A join records the joiner's key (`join-token-use/<id>/<key>`: the BLAKE3 of its CSR's public
//! key, hex, and the name it joined as), so the same join asked again (its answer was lost) is
//! admitted again without spending another use.
//!
//! Times come inside the commands (`now_ms`), as everywhere in `apply`: whether a token has
//! expired is decided by the time its use was stamped, the same on every replica.

use rocksdb::WriteBatch;
use serde::{Deserialize, Serialize};

use crate::error::{MetaError, MetaResult};
use crate::store::{RocksMeta, CF_SYSTEM};
use crate::types::{decode, encode};

/// Key prefix of join tokens in the system column family.
pub(crate) const KEY_JOIN_TOKEN: &[u8] = b"join-token/";

/// Key prefix of the node names join tokens are bound to (system column family).
pub(crate) const KEY_JOIN_TOKEN_NODE: &[u8] = b"join-token-node/";

/// Key prefix of the joins a token admitted, by joiner key (system column family).
pub(crate) const KEY_JOIN_TOKEN_USE: &[u8] = b"join-token-use/";

/// One join token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinTokenRecord {
    /// When it was made, ms since the epoch.
    pub created_ms: i64,
    /// When it stops admitting nodes, ms since the epoch.
    pub expires_ms: i64,
    /// Joins it still admits; `None`: any number until it expires.
    pub uses_left: Option<u32>,
    /// Joins it has admitted.
    pub used: u32,
}

impl JoinTokenRecord {
    /// Why it admits no join at `now_ms`, if it does not.
    pub fn refusal(&self, now_ms: i64) -> Option<String> {
        if now_ms >= self.expires_ms {
            return Some(format!("this join token expired {} s ago", (now_ms - self.expires_ms) / 1000));
        }
        if self.uses_left == Some(0) {
            return Some(format!("this join token has been used for all the {} joins it allowed", self.used));
        }
        None
    }
}

fn token_key(id: &str) -> Vec<u8> {
    [KEY_JOIN_TOKEN, id.as_bytes()].concat()
}

fn node_key(id: &str) -> Vec<u8> {
    [KEY_JOIN_TOKEN_NODE, id.as_bytes()].concat()
}

fn uses_prefix(id: &str) -> Vec<u8> {
    [KEY_JOIN_TOKEN_USE, id.as_bytes(), b"/"].concat()
}

fn use_key(id: &str, key: &[u8; 32]) -> Vec<u8> {
    [uses_prefix(id), hex::encode(key).into_bytes()].concat()
}

impl RocksMeta {
    /// Store a new token (bound to node name `node`, if given), and drop every token expired
    /// at `now_ms`.
    pub(crate) fn apply_add_join_token(&self, id: &str, rec: &JoinTokenRecord, node: Option<&str>, now_ms: i64) -> MetaResult<()> {
        let mut b = WriteBatch::default();
        for (old, r) in self.local_join_tokens()? {
            if now_ms >= r.expires_ms {
                self.delete_token(&mut b, &old)?;
            }
        }
        b.put_cf(self.cf(CF_SYSTEM)?, token_key(id), encode(rec)?);
        if let Some(n) = node {
            b.put_cf(self.cf(CF_SYSTEM)?, node_key(id), encode(&n)?);
        }
        self.write(b)
    }

    /// Count one use of a token, admitting `node` (whose public key is `key`, when the command
    /// carries it). Precondition: it exists, has not expired at `now_ms`, has a use left and
    /// admits that name — or it admitted this very key under this name before (a join retried
    /// after its answer was lost), which counts no other use.
    pub(crate) fn apply_use_join_token(&self, id: &str, node: &str, key: Option<&[u8; 32]>, now_ms: i64) -> MetaResult<()> {
        let Some(mut rec) = self.local_join_token(id)? else {
            return Err(MetaError::JoinTokenRefused { reason: "this join token is unknown or was revoked".into() });
        };
        if now_ms >= rec.expires_ms {
            return Err(MetaError::JoinTokenRefused { reason: rec.refusal(now_ms).unwrap_or_default() });
        }
        if let Some(k) = key {
            match self.local_join_token_use(id, k)? {
                Some(n) if n == node => return Ok(()),
                Some(n) => return Err(MetaError::JoinTokenRefused { reason: format!("this key joined with this token as {n:?}, not {node:?}") }),
                None => {}
            }
        }
        if let Some(reason) = rec.refusal(now_ms) {
            return Err(MetaError::JoinTokenRefused { reason });
        }
        if let Some(bound) = self.local_join_token_node(id)? {
            if bound != node {
                return Err(MetaError::JoinTokenRefused { reason: format!("this join token admits only the node named {bound:?}") });
            }
        }
        rec.used = rec.used.saturating_add(1);
        rec.uses_left = rec.uses_left.map(|n| n - 1);
        let mut b = WriteBatch::default();
        b.put_cf(self.cf(CF_SYSTEM)?, token_key(id), encode(&rec)?);
        if let Some(k) = key {
            b.put_cf(self.cf(CF_SYSTEM)?, use_key(id, k), encode(&node)?);
        }
        self.write(b)
    }

    /// Delete token `id`, its name and its recorded joins, in `b`.
    fn delete_token(&self, b: &mut WriteBatch, id: &str) -> MetaResult<()> {
        b.delete_cf(self.cf(CF_SYSTEM)?, token_key(id));
        b.delete_cf(self.cf(CF_SYSTEM)?, node_key(id));
        let prefix = uses_prefix(id);
        let mut uses = Vec::new();
        self.scan_prefix(CF_SYSTEM, &prefix, &prefix, |k, _| {
            uses.push(k.to_vec());
            Ok(true)
        })?;
        for k in uses {
            b.delete_cf(self.cf(CF_SYSTEM)?, k);
        }
        Ok(())
    }

    /// The name token `id` admitted the joiner with public key `key` (its BLAKE3) as, in this
    /// replica's own state (see [`Self::local_join_token_node`]).
    pub fn local_join_token_use(&self, id: &str, key: &[u8; 32]) -> MetaResult<Option<String>> {
        self.get(CF_SYSTEM, "join token's use", &use_key(id, key))
    }

    /// Delete every token.
    pub(crate) fn apply_revoke_join_tokens(&self) -> MetaResult<()> {
        let mut b = WriteBatch::default();
        for (id, _) in self.local_join_tokens()? {
            self.delete_token(&mut b, &id)?;
        }
        self.write(b)
    }

    /// The node name token `id` is bound to, in this replica's own state (`None`: any name, or
    /// no such token). Written with the token and never changed, so read after
    /// `MetaRead::join_token` it is as current as that read.
    pub fn local_join_token_node(&self, id: &str) -> MetaResult<Option<String>> {
        self.get(CF_SYSTEM, "join token's node", &node_key(id))
    }

    /// A token in this replica's own state (see `MetaRead::join_token`).
    pub fn local_join_token(&self, id: &str) -> MetaResult<Option<JoinTokenRecord>> {
        self.get(CF_SYSTEM, "join token", &token_key(id))
    }

    /// Every token in this replica's own state, by id.
    pub fn local_join_tokens(&self) -> MetaResult<Vec<(String, JoinTokenRecord)>> {
        let mut out = Vec::new();
        self.scan_prefix(CF_SYSTEM, KEY_JOIN_TOKEN, KEY_JOIN_TOKEN, |k, v| {
            let id = String::from_utf8_lossy(&k[KEY_JOIN_TOKEN.len()..]).into_owned();
            out.push((id, decode("join token", v)?));
            Ok(true)
        })?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::open;
    use crate::MetaRead;

    fn refused(r: MetaResult<()>) -> String {
        match r {
            Err(MetaError::JoinTokenRefused { reason }) => reason,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_token_admits_until_it_expires_or_its_uses_run_out_or_it_is_revoked() {
        let (_d, meta) = open();
        meta.add_join_token_at("once", 1_000, 60_000, Some(1)).expect("add");
        meta.add_join_token_at("hour", 1_000, 3_600_000, None).expect("add");
        meta.use_join_token_at("once", "n1", &[228; 32], 2_000).expect("first use");
        assert!(refused(meta.use_join_token_at("once", "n2", &[229; 32], 3_000)).contains("used for all the 1 joins"));
        meta.use_join_token_at("hour", "n1", &[228; 32], 2_000).expect("use");
        meta.use_join_token_at("hour", "n2", &[229; 32], 3_000).expect("use");
        assert_eq!(meta.join_token("hour").expect("read").map(|r| r.used), Some(2));
        assert!(refused(meta.use_join_token_at("hour", "n3", &[230; 32], 3_601_000)).contains("expired"));
        assert!(refused(meta.use_join_token_at("nope", "n3", &[230; 32], 3_000)).contains("unknown"));
        meta.revoke_join_tokens().expect("revoke");
        assert!(meta.local_join_tokens().expect("list").is_empty());
        assert!(refused(meta.use_join_token_at("hour", "n3", &[230; 32], 3_000)).contains("unknown or was revoked"));
    }

    #[test]
    fn a_token_bound_to_a_name_admits_that_name_only_and_goes_with_its_token() {
        let (_d, meta) = open();
        meta.add_node_join_token_at("n7", 1_000, 60_000, Some(2), "n7").expect("add");
        assert_eq!(meta.local_join_token_node("n7").expect("read").as_deref(), Some("n7"));
        assert!(refused(meta.use_join_token_at("n7", "n8", &[235; 32], 2_000)).contains("only the node named \"n7\""));
        assert_eq!(meta.join_token("n7").expect("read").map(|r| r.used), Some(0), "a refused use counts nothing");
        meta.use_join_token_at("n7", "n7", &[234; 32], 2_000).expect("the bound name is admitted");
        // Expired tokens are dropped with their names, and so are revoked ones.
        meta.add_join_token_at("other", 61_000, 1_000, None).expect("add");
        assert_eq!(meta.local_join_token_node("n7").expect("read"), None);
        meta.add_node_join_token_at("n9", 70_000, 60_000, None, "n9").expect("add");
        meta.revoke_join_tokens().expect("revoke");
        assert_eq!(meta.local_join_token_node("n9").expect("read"), None);
    }

    #[test]
    fn the_same_join_asked_again_is_admitted_without_spending_another_use() {
        let (_d, meta) = open();
        meta.add_join_token_at("once", 1_000, 60_000, Some(1)).expect("add");
        meta.use_join_token_at("once", "n1", &[1; 32], 2_000).expect("first use");
        // Its answer was lost: the same name with the same key again.
        meta.use_join_token_at("once", "n1", &[1; 32], 3_000).expect("the same join again");
        assert_eq!(meta.join_token("once").expect("read").map(|r| (r.used, r.uses_left)), Some((1, Some(0))), "a repeat counts no use");
        assert_eq!(meta.local_join_token_use("once", &[1; 32]).expect("read").as_deref(), Some("n1"));
        // Another key, or the same key under another name, is another join.
        assert!(refused(meta.use_join_token_at("once", "n1", &[2; 32], 3_000)).contains("used for all the 1 joins"));
        assert!(refused(meta.use_join_token_at("once", "n2", &[1; 32], 3_000)).contains("as \"n1\""));
        // An expired token admits no repeat, and its joins go with it.
        assert!(refused(meta.use_join_token_at("once", "n1", &[1; 32], 61_000)).contains("expired"));
        meta.add_join_token_at("new", 62_000, 1_000, None).expect("add");
        assert_eq!(meta.local_join_token_use("once", &[1; 32]).expect("read"), None);
        meta.use_join_token_at("new", "n3", &[3; 32], 62_500).expect("use");
        meta.revoke_join_tokens().expect("revoke");
        assert_eq!(meta.local_join_token_use("new", &[3; 32]).expect("read"), None);
    }

    #[test]
    fn a_use_without_a_key_from_an_older_gateway_still_applies() {
        let (_d, meta) = open();
        meta.add_join_token_at("once", 1_000, 60_000, Some(1)).expect("add");
        meta.apply(&crate::Command::UseJoinToken { id: "once".into(), node: "n1".into(), now_ms: 2_000 }).expect("an older gateway's use");
        assert_eq!(meta.join_token("once").expect("read").map(|r| r.used), Some(1));
        let again = meta.apply(&crate::Command::UseJoinToken { id: "once".into(), node: "n1".into(), now_ms: 3_000 });
        assert!(matches!(again, Err(MetaError::JoinTokenRefused { .. })), "without a key no join is a repeat: {again:?}");
    }

    #[test]
    fn adding_a_token_drops_the_expired_ones() {
        let (_d, meta) = open();
        meta.add_join_token_at("old", 0, 10, None).expect("add");
        meta.add_join_token_at("live", 0, 1_000_000, None).expect("add");
        meta.add_join_token_at("new", 100, 1_000, None).expect("add");
        let ids: Vec<String> = meta.local_join_tokens().expect("list").into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, vec!["live".to_owned(), "new".to_owned()]);
    }
}
