//! Asking the other gateways which write intents they still write, for the intent sweep
//! (`kintsugi_cluster::sweep`): the leader asks every member, voters and learners, and each
//! answers from its own registry of open writes (set with [`MetaGroup::set_open_writes`]).

use std::sync::Arc;

use kintsugi_net::NetError;

use super::{refuse, MetaGroup};
use crate::proto::{codes, RaftRequest, RaftResponse};
use crate::{decode, encode};

/// Of the segments asked about, those this gateway still writes (`None`: it cannot tell, as
/// while it stops).
pub type OpenWritesFn = Arc<dyn Fn(&[u128]) -> Option<Vec<u128>> + Send + Sync>;

impl MetaGroup {
    /// Answer other gateways' `OpenWrites` requests with `f` from now on (set once). Until it
    /// is set they are refused, so no intent is given up while this gateway is starting.
    pub fn set_open_writes(&self, f: OpenWritesFn) {
        let _ = self.open_writes.set(f);
    }

    /// Of `segments`, those some other member of the group still writes. An error naming the
    /// gateway when any member does not answer (down, cut off, or an older version that does
    /// not know the request): then nobody may give any of them up.
    pub async fn others_writing(&self, segments: &[u128]) -> Result<Vec<u128>, String> {
        let body = encode(&segments.to_vec())?;
        let others: Vec<_> = self.members().into_iter().filter(|n| n.name != self.me.name).collect();
        let mut asks = tokio::task::JoinSet::new();
        for n in others {
            let (net, body, timeout) = (self.net.clone(), body.clone(), self.timeout);
            asks.spawn(async move {
                let answer = match net.call(&n.cluster, &RaftRequest::OpenWrites, &body, timeout).await {
                    Ok((RaftResponse::OpenWrites, b)) => decode::<Vec<u128>>(&b),
                    Ok((other, _)) => Err(format!("answered {other:?}")),
                    Err(NetError::Remote { code, message }) => Err(format!("{code}: {message}")),
                    Err(e) => Err(e.to_string()),
                };
                answer.map_err(|e| format!("gateway {} ({}): {e}", n.name, n.cluster))
            });
        }
        let mut claimed = Vec::new();
        while let Some(answer) = asks.join_next().await {
            claimed.extend(answer.map_err(|e| format!("asking a gateway failed: {e}"))??);
        }
        Ok(claimed)
    }

    /// Serve an `OpenWrites` request.
    pub(super) fn answer_open_writes(&self, body: &[u8]) -> (RaftResponse, Vec<u8>) {
        let Some(f) = self.open_writes.get() else {
            return (refuse(codes::NOT_READY, "this gateway is starting; it cannot say yet which writes it has open"), Vec::new());
        };
        let asked: Vec<u128> = match decode(body) {
            Ok(a) => a,
            Err(e) => return (refuse(codes::BAD_REQUEST, e), Vec::new()),
        };
        let Some(claimed) = f(&asked) else {
            return (refuse(codes::NOT_READY, "this gateway cannot say now which writes it has open"), Vec::new());
        };
        match encode(&claimed) {
            Ok(b) => (RaftResponse::OpenWrites, b),
            Err(e) => (refuse(codes::RAFT, e), Vec::new()),
        }
    }
}
