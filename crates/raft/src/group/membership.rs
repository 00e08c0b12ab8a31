//! Membership of the group: who is in it (status), joining (enrol) and leaving (remove).

use std::collections::BTreeSet;
use std::time::Duration;

use kintsugi_net::{Client, NetError, NetResult};
use openraft::{ChangeMembers, ServerState};
use serde::{Deserialize, Serialize};

use super::{refuse, MetaGroup, Secrets};
use crate::network::Network;
use crate::proto::{codes, RaftRequest, RaftResponse};
use crate::{decode, GatewayNode};

/// A gateway's role in the group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Orders every write.
    Leader,
    /// A voter following the leader.
    Follower,
    /// Catching up; not yet a voter.
    Learner,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Leader => "leader",
            Role::Follower => "follower",
            Role::Learner => "learner",
        })
    }
}

/// One gateway in [`GroupStatus`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayStatus {
    /// Raft id.
    pub id: u64,
    /// The gateway.
    pub node: GatewayNode,
    /// Its role.
    pub role: Role,
    /// The last log index the leader knows it holds (`None`: nothing yet, or unknown).
    pub matched: Option<u64>,
    /// Entries it is behind the leader.
    pub lag: Option<u64>,
}

/// The group as its leader sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupStatus {
    /// Leader's name.
    pub leader: Option<String>,
    /// Whether a majority acknowledged the leader recently (within two election timeouts):
    /// whether metadata can be written now.
    pub quorum: bool,
    /// Current term.
    pub term: u64,
    /// Last log index the leader has applied.
    pub applied: Option<u64>,
    /// Every gateway, voters and learners.
    pub gateways: Vec<GatewayStatus>,
}

impl MetaGroup {
    /// The group's status: from the leader (asked over the network from a follower).
    pub async fn status(&self) -> NetResult<GroupStatus> {
        if self.is_leader() {
            return Ok(self.local_status());
        }
        match self.to_leader(&RaftRequest::Status, self.timeout).await {
            (RaftResponse::Status, bytes) => decode(&bytes).map_err(|detail| NetError::BadFrame { detail }),
            (resp, _) => {
                let other = kintsugi_net::check(resp)?;
                Err(NetError::BadFrame { detail: format!("unexpected answer {other:?}") })
            }
        }
    }

    pub(super) fn local_status(&self) -> GroupStatus {
        let m = self.raft.metrics();
        let m = m.borrow();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<u64> = membership.voter_ids().collect();
        let last = m.last_log_index;
        let gateways = membership
            .nodes()
            .map(|(id, node)| {
                let role = if Some(*id) == m.current_leader {
                    Role::Leader
                } else if voters.contains(id) {
                    Role::Follower
                } else {
                    Role::Learner
                };
                let matched = if *id == self.id { last } else { m.replication.as_ref().and_then(|r| r.get(id).copied().flatten()).map(|l| l.index) };
                let lag = match (last, matched) {
                    (Some(l), Some(x)) => Some(l.saturating_sub(x)),
                    (Some(l), None) => Some(l),
                    _ => None,
                };
                GatewayStatus { id: *id, node: node.clone(), role, matched, lag }
            })
            .collect();
        let leader = m.current_leader.and_then(|id| membership.get_node(&id)).map(|n| n.name.clone());
        let lease = u64::try_from(self.election_max.as_millis().saturating_mul(2)).unwrap_or(u64::MAX);
        let quorum = m.state == ServerState::Leader && m.millis_since_quorum_ack.is_some_and(|ms| ms <= lease);
        GroupStatus { leader, quorum, term: m.current_term, applied: m.last_applied.map(|l| l.index), gateways }
    }

    /// Make gateway `node` (id `id`) a voting member: a learner first, caught up from a
    /// snapshot and the log, then a voter. Leader only. Idempotent for a member.
    pub(super) async fn enrol(&self, id: u64, node: GatewayNode) -> RaftResponse {
        // A member that restarted at another address (S3 or cluster) updates its entry.
        let moved = {
            let m = self.raft.metrics();
            let m = m.borrow();
            let moved = m.membership_config.membership().get_node(&id).is_some_and(|n| n.name == node.name && *n != node);
            moved
        };
        if moved {
            tracing::info!(gateway = %node, "a member of the metadata group has a new address");
            if let Err(e) = self.raft.change_membership(ChangeMembers::SetNodes(std::collections::BTreeMap::from([(id, node.clone())])), true).await {
                return refuse(codes::RAFT, format!("updating the address of {}: {e}", node.name));
            }
            if self.raft.metrics().borrow().membership_config.membership().voter_ids().any(|v| v == id) {
                return RaftResponse::Enrolled;
            }
            // A learner whose join a stop cut off before its vote, back at another address
            // (a restart binds a new port): its join goes on below, to the vote.
        }
        // The name's old member, and whether it was at the same cluster address.
        let taken = {
            let m = self.raft.metrics();
            let m = m.borrow();
            let taken = m.membership_config.membership().nodes().find(|(i, n)| n.name == node.name && **i != id).map(|(_, n)| n.cluster == node.cluster);
            taken
        };
        match taken {
            Some(false) => {
                return refuse(
                    codes::NAME_TAKEN,
                    format!(
                        "a gateway named {:?} is already a member at another address; start this one with another --name, or remove the old one (`kintsugi admin gateway remove {}`)",
                        node.name, node.name
                    ),
                )
            }
            Some(true) => {
                // The same name from the same address with a new id: that gateway lost its
                // --meta (its Raft id and log with it) and joins again. The old member cannot
                // be running (this one holds its address): it leaves the group first, so no
                // vote is ever cast twice for one voter.
                tracing::warn!(gateway = %node, "a gateway rejoins under its name with a new id (its metadata was lost); replacing its old membership");
                let r = self.remove(&node.name).await;
                if !matches!(r, RaftResponse::Done) {
                    return r;
                }
            }
            None => {}
        }
        tracing::info!(gateway = %node, "adding a gateway to the metadata group as a learner");
        if let Err(e) = self.raft.add_learner(id, node.clone(), true).await {
            return refuse(codes::RAFT, format!("adding {} as a learner: {e}", node.name));
        }
        if let Err(e) = self.raft.change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false).await {
            return refuse(codes::RAFT, format!("making {} a voter: {e}", node.name));
        }
        tracing::info!(gateway = %node, "gateway is a voting member of the metadata group");
        RaftResponse::Enrolled
    }

    pub(super) async fn remove(&self, name: &str) -> RaftResponse {
        let (id, voter, voters) = {
            let m = self.raft.metrics();
            let m = m.borrow();
            let membership = m.membership_config.membership();
            let voters: BTreeSet<u64> = membership.voter_ids().collect();
            let found = membership.nodes().find(|(_, n)| n.name == name).map(|(id, _)| *id);
            match found {
                Some(id) => (id, voters.contains(&id), voters.len()),
                None => return refuse(codes::NO_SUCH_GATEWAY, format!("no gateway named {name:?} is a member; see `kintsugi admin gateway list`")),
            }
        };
        if voter && voters == 1 {
            return refuse(codes::RAFT, format!("{name} is the group's only voter; a group cannot remove its last gateway"));
        }
        let change = if voter { ChangeMembers::RemoveVoters(BTreeSet::from([id])) } else { ChangeMembers::RemoveNodes(BTreeSet::from([id])) };
        match self.raft.change_membership(change, false).await {
            Ok(_) => {
                tracing::info!(gateway = name, "removed a gateway from the metadata group");
                RaftResponse::Done
            }
            Err(e) => refuse(codes::RAFT, format!("removing {name}: {e}")),
        }
    }

    /// Remove gateway `name` from the group (through the leader).
    pub async fn remove_gateway(&self, name: &str) -> NetResult<()> {
        let (resp, _) = if self.is_leader() { (self.remove(name).await, Vec::new()) } else { self.to_leader(&RaftRequest::Remove { name: name.into() }, self.timeout).await };
        match kintsugi_net::check(resp)? {
            RaftResponse::Done => Ok(()),
            other => Err(NetError::BadFrame { detail: format!("unexpected answer {other:?}") }),
        }
    }
}

/// Join a group as gateway `me` (id `id`) through the gateway at `addr`: become a voter and
/// receive the group's secrets. `client` presents the gateway certificate got with the
/// gateway join token. Long: the leader waits until this gateway has caught up.
pub async fn enrol(client: Client, addr: &str, id: u64, me: &GatewayNode, timeout: Duration) -> NetResult<Secrets> {
    let net = Network::new(client);
    let req = RaftRequest::Enrol { id, name: me.name.clone(), cluster: me.cluster.clone(), s3: me.s3.clone() };
    match net.call(addr, &req, &[], timeout).await? {
        (RaftResponse::Enrolled, bytes) => decode(&bytes).map_err(|detail| NetError::BadFrame { detail }),
        (other, _) => Err(NetError::BadFrame { detail: format!("unexpected answer {other:?}") }),
    }
}
