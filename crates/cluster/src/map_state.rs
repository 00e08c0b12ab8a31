//! The cluster map as a value: the storage nodes, their failure-domain numbers, addresses,
//! zones and states, their disks, and the disks retired from the map.
//!
//! Pure: no I/O and no clock. Every change takes the moment it happens and answers what it
//! changed; `map.rs` carries the answer out (the metadata records, the links the data path
//! reads node states from, the store's disks). So the rules of the map — when a node is down
//! or lost, which disk a node may claim, which id a new disk gets, what the leader records —
//! are tested here without processes or timers.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kintsugi_meta::{DiskId, DiskRecord, NodeRecord};
use serde::Serialize;

/// State of a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    /// Heartbeats arrive.
    Up,
    /// Silent for longer than `down_after`.
    Down,
    /// Silent for longer than `lost_after`.
    Lost,
}

impl std::fmt::Display for NodeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NodeState::Up => "up",
            NodeState::Down => "down",
            NodeState::Lost => "lost",
        })
    }
}

/// One node in status reports.
#[derive(Clone, Debug, Serialize)]
pub struct NodeReport {
    /// Name.
    pub name: String,
    /// Address of its shard service.
    pub addr: String,
    /// Zone label (a failure domain above the node), if the node has one.
    pub zone: Option<String>,
    /// up, down or lost.
    pub state: NodeState,
    /// Milliseconds since its last heartbeat (since gateway start if none yet).
    pub last_heartbeat_ms: u64,
    /// Its disk ids.
    pub disks: Vec<u32>,
    /// Requests the node refused since it started (members asking for gateway-only requests,
    /// peers without a certificate), as its last report said.
    pub requests_refused: u64,
}

/// A node in the map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapNode {
    /// Failure-domain number (unique per node; the leader hands them out).
    pub number: u32,
    /// Where it serves shard requests, if its last report named an address that resolved.
    pub addr: Option<SocketAddr>,
    /// Zone label, if its reports carry one.
    pub zone: Option<String>,
    /// Its last report (or when the map took it in, until it reports).
    pub last_seen: Instant,
    /// Up, down or lost.
    pub state: NodeState,
    /// Its disks: (id, uuid), in order of registration.
    pub disks: Vec<(DiskId, u128)>,
    /// Requests it refused since it started, as its last report said.
    pub refused: u64,
}

impl MapNode {
    /// A node taken into the map at `now`: up, with a grace period from then, no zone yet.
    fn new(number: u32, addr: Option<SocketAddr>, now: Instant, disks: Vec<(DiskId, u128)>) -> Self {
        Self { number, addr, zone: None, last_seen: now, state: NodeState::Up, disks, refused: 0 }
    }
}

/// Who a disk a node reports belongs to, as far as the map knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiskClaim {
    /// The reporting node's own disk, with this id.
    Own(DiskId),
    /// Removed by an admin: never taken in again (a wiped directory comes back with a new uuid).
    Retired,
    /// Another node in the map serves it (a copied disk directory): refused.
    OtherNode(String),
    /// Not in the map: the disk registry decides (`MapState::disk_id`).
    Unknown,
}

/// What a report changed in its node's entry (beyond the time it was seen).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BeatChanges {
    /// The node named a new address.
    pub addr: Option<SocketAddr>,
    /// The node's zone changed: its new number (`None`: no zone).
    pub zone: Option<Option<u32>>,
    /// The node was down or lost and is up again: what it was.
    pub came_up: Option<NodeState>,
}

/// A node whose state changed at a tick.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    /// Node name.
    pub name: String,
    /// State before.
    pub from: NodeState,
    /// State now.
    pub to: NodeState,
    /// How long it had been silent.
    pub silent: Duration,
}

/// What `MapState::reconcile` took out of the map.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Disks the records say are retired, which this map still had.
    pub disks: Vec<DiskRecord>,
    /// Nodes dropped with them (emptied by the leader, or revoked).
    pub nodes: Vec<String>,
}

/// The map's value. See the module documentation.
#[derive(Clone, Debug, Default)]
pub struct MapState {
    nodes: BTreeMap<String, MapNode>,
    /// Zone label -> number, in order of first appearance.
    zones: Vec<String>,
    /// Disks removed from the map: (id, uuid). Their uuids are not registered again, their ids
    /// not reused.
    retired: Vec<(DiskId, u128)>,
}

/// The state a node silent for `silent` is in.
pub fn state_after(silent: Duration, down_after: Duration, lost_after: Duration) -> NodeState {
    if silent >= lost_after {
        NodeState::Lost
    } else if silent >= down_after {
        NodeState::Down
    } else {
        NodeState::Up
    }
}

impl MapState {
    /// The map as the records hold it, at a start at `now`: every node is up with a grace
    /// period from `now` (until it reports), with the registered disks its record names.
    pub fn from_records(nodes: &[NodeRecord], disks: &[DiskRecord], retired: &[DiskRecord], now: Instant) -> Self {
        let mut state = Self { retired: retired.iter().map(|r| (r.id, r.uuid)).collect(), ..Self::default() };
        for n in nodes {
            let disks = n.disks.iter().filter_map(|id| disks.iter().find(|d| d.id == *id)).map(|d| (d.id, d.uuid)).collect();
            state.nodes.insert(n.name.clone(), MapNode::new(n.number, n.addr.parse().ok(), now, disks));
        }
        state
    }

    /// The node named `name`.
    pub fn node(&self, name: &str) -> Option<&MapNode> {
        self.nodes.get(name)
    }

    /// Every node, by name.
    pub fn nodes(&self) -> impl Iterator<Item = (&String, &MapNode)> {
        self.nodes.iter()
    }

    /// The failure-domain number the leader gives a node new to the map.
    pub fn next_number(&self) -> u32 {
        self.nodes.values().map(|n| n.number).max().unwrap_or(0) + 1
    }

    /// Take node `name` in, numbered `number`, up with a grace period from `now` and no disks
    /// yet. A node already in the map is left as it is; answers whether it was new.
    pub fn admit(&mut self, name: &str, number: u32, addr: Option<SocketAddr>, now: Instant) -> bool {
        if self.nodes.contains_key(name) {
            return false;
        }
        self.nodes.insert(name.to_owned(), MapNode::new(number, addr, now, Vec::new()));
        true
    }

    /// The number of zone label `z` (placement compares numbers), given at its first sight.
    pub fn zone_number(&mut self, z: &str) -> u32 {
        let i = match self.zones.iter().position(|x| x == z) {
            Some(i) => i,
            None => {
                self.zones.push(z.to_owned());
                self.zones.len() - 1
            }
        };
        u32::try_from(i).unwrap_or(u32::MAX)
    }

    /// A report from node `name` at `now`: it is up, seen now, at `addr` (if that resolved),
    /// in zone `zone`, having refused `refused` requests (if it said). Answers what changed;
    /// a node not in the map changes nothing.
    pub fn beat(&mut self, name: &str, now: Instant, addr: Option<SocketAddr>, zone: Option<&str>, refused: Option<u64>) -> BeatChanges {
        let mut changes = BeatChanges::default();
        let zone_number = match zone {
            Some(z) if self.nodes.get(name).is_some_and(|n| n.zone.as_deref() != Some(z)) => Some(self.zone_number(z)),
            _ => None,
        };
        let Some(node) = self.nodes.get_mut(name) else { return changes };
        if let Some(a) = addr {
            if node.addr != Some(a) {
                node.addr = Some(a);
                changes.addr = Some(a);
            }
        }
        node.last_seen = now;
        if let Some(r) = refused {
            node.refused = r;
        }
        if node.zone.as_deref() != zone {
            node.zone = zone.map(str::to_owned);
            changes.zone = Some(zone_number);
        }
        if node.state != NodeState::Up {
            changes.came_up = Some(node.state);
            node.state = NodeState::Up;
        }
        changes
    }

    /// Whose is the disk `uuid` that node `name` reports.
    pub fn claim(&self, name: &str, uuid: u128) -> DiskClaim {
        if let Some((id, _)) = self.nodes.get(name).and_then(|n| n.disks.iter().find(|(_, u)| *u == uuid)) {
            return DiskClaim::Own(*id);
        }
        if self.is_retired(uuid) {
            return DiskClaim::Retired;
        }
        match self.nodes.iter().find(|(n, node)| n.as_str() != name && node.disks.iter().any(|(_, u)| *u == uuid)) {
            Some((owner, _)) => DiskClaim::OtherNode(owner.clone()),
            None => DiskClaim::Unknown,
        }
    }

    /// True if disk `uuid` was removed from the map.
    pub fn is_retired(&self, uuid: u128) -> bool {
        self.retired.iter().any(|(_, u)| *u == uuid)
    }

    /// The id of disk `uuid`, new to the map, by the disk registry `registry`: its registered
    /// id, or — only if `leader` — a new one, added to `registry` (above every id registered
    /// or retired: ids are never reused). `None`: not registered and not the leader (the
    /// leader registers it; it is taken in once it has).
    pub fn disk_id(&self, registry: &mut Vec<DiskRecord>, uuid: u128, node: &str, path: &str, leader: bool) -> Option<DiskId> {
        if let Some(rec) = registry.iter().find(|d| d.uuid == uuid) {
            return Some(rec.id);
        }
        if !leader {
            return None;
        }
        let retired_max = self.retired.iter().map(|(id, _)| *id).max().unwrap_or(0);
        let id = registry.iter().map(|d| d.id).max().unwrap_or(0).max(retired_max) + 1;
        registry.push(DiskRecord { id, uuid, path: format!("{node}:{path}") });
        Some(id)
    }

    /// Disk `id` (`uuid`) is node `name`'s from now on.
    pub fn add_disk(&mut self, name: &str, id: DiskId, uuid: u128) {
        if let Some(n) = self.nodes.get_mut(name) {
            n.disks.push((id, uuid));
        }
    }

    /// Node `name`'s disks its latest report did not name (`reported`: the uuids it did).
    pub fn unreported(&self, name: &str, reported: &[u128]) -> Vec<DiskId> {
        self.nodes.get(name).map_or_else(Vec::new, |n| n.disks.iter().filter(|(_, u)| !reported.contains(u)).map(|(id, _)| *id).collect())
    }

    /// The node records the leader writes: every node with its number, address and disks.
    pub fn records(&self) -> Vec<NodeRecord> {
        self.nodes
            .iter()
            .map(|(name, n)| NodeRecord {
                name: name.clone(),
                number: n.number,
                addr: n.addr.map(|a| a.to_string()).unwrap_or_default(),
                disks: n.disks.iter().map(|(id, _)| *id).collect(),
            })
            .collect()
    }

    /// Re-evaluate every node's state from the age of its last report at `now`.
    pub fn tick(&mut self, now: Instant, down_after: Duration, lost_after: Duration) -> Vec<Transition> {
        let mut changed = Vec::new();
        for (name, n) in &mut self.nodes {
            let silent = now.saturating_duration_since(n.last_seen);
            let to = state_after(silent, down_after, lost_after);
            if to != n.state {
                changed.push(Transition { name: name.clone(), from: n.state, to, silent });
                n.state = to;
            }
        }
        changed
    }

    /// Drop `disks` (retired in the records) and, if given, node `node` from the map.
    pub fn forget(&mut self, disks: &[DiskRecord], node: Option<&str>) {
        for n in self.nodes.values_mut() {
            n.disks.retain(|(id, _)| !disks.iter().any(|r| r.id == *id));
        }
        if let Some(name) = node {
            self.nodes.remove(name);
        }
        self.retire(disks);
    }

    fn retire(&mut self, disks: &[DiskRecord]) {
        for r in disks {
            if !self.retired.iter().any(|(_, u)| *u == r.uuid) {
                self.retired.push((r.id, r.uuid));
            }
        }
    }

    /// Bring the map in line with the records the leader wrote: drop the disks `retired`
    /// names, and the nodes left with none that `records` no longer holds, and every node
    /// `revoked` names. How a gateway that is not the leader learns of removals.
    pub fn reconcile(&mut self, retired: &[DiskRecord], records: &[NodeRecord], revoked: impl Fn(&str) -> bool) -> Reconciled {
        let mut out = Reconciled::default();
        for (name, n) in &mut self.nodes {
            let had = n.disks.len();
            n.disks.retain(|(_, uuid)| match retired.iter().find(|r| r.uuid == *uuid) {
                Some(r) => {
                    out.disks.push(r.clone());
                    false
                }
                None => true,
            });
            if (had > 0 && n.disks.is_empty() && !records.iter().any(|r| &r.name == name)) || revoked(name) {
                out.nodes.push(name.clone());
            }
        }
        for name in &out.nodes {
            self.nodes.remove(name);
        }
        self.retire(&out.disks);
        out
    }

    /// The nodes for status reports, with their silence measured at `now`.
    pub fn report(&self, now: Instant) -> Vec<NodeReport> {
        self.nodes
            .iter()
            .map(|(name, n)| NodeReport {
                name: name.clone(),
                addr: n.addr.map(|a| a.to_string()).unwrap_or_default(),
                zone: n.zone.clone(),
                state: n.state,
                last_heartbeat_ms: u64::try_from(now.saturating_duration_since(n.last_seen).as_millis()).unwrap_or(u64::MAX),
                disks: n.disks.iter().map(|(id, _)| *id).collect(),
                requests_refused: n.refused,
            })
            .collect()
    }
}

#[cfg(test)]
#[path = "map_state_tests.rs"]
mod tests;
