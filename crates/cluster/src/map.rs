//! The cluster map: storage nodes, their disks and states, fed by heartbeats.
//! A node silent for `down_after` is `down` (no new shards, read last); after
//! `lost_after` it is `lost`. Nodes and disks are registered in RocksDB so a
//! restarted gateway knows every shard's disk before the first heartbeat. The map's epoch
//! grows with every change and is stored beside the node records, so it never goes back.
//!
//! The map itself is a value, [`MapState`] (`map_state.rs`, pure); this file carries its
//! changes out: the records the leader writes, the epoch, the links the data path reads node
//! states from, and the store's disks.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kintsugi_meta::{DiskRecord, MetaResult, RocksMeta};
use kintsugi_net::{Client, Handler, NetResult, Revoked};
use kintsugi_storage::{DiskReport, ErrorCode, NodeLink, RemoteShards, Request, Response, ShardStore, COUNTER_REFUSED};
use tokio::sync::Mutex;

use crate::error::{ClusterError, ClusterResult};
use crate::map_state::{DiskClaim, MapState, NodeReport, NodeState};
use crate::metrics::Metrics;
use crate::store::Store;

/// Grace periods and deadlines of the cluster map.
#[derive(Clone, Copy, Debug)]
pub struct ClusterConfig {
    /// Silence after which a node is down.
    pub down_after: Duration,
    /// Silence after which a node is lost.
    pub lost_after: Duration,
    /// Deadline of each step of a shard request.
    pub request_deadline: Duration,
}

/// How often a gateway that is not the leader compares its map with the records.
const RECONCILE_EVERY: Duration = Duration::from_secs(1);

/// The I/O side of a node in the map: its link, and its disks as the store holds them.
struct Handles {
    link: Arc<NodeLink>,
    disks: Vec<Arc<RemoteShards>>,
}

/// The map's value and, for each of its nodes, the handles that carry it out.
struct Inner {
    state: MapState,
    handles: BTreeMap<String, Handles>,
}

/// The gateway's view of its storage nodes.
pub struct ClusterMap {
    client: Client,
    cfg: ClusterConfig,
    inner: Mutex<Inner>,
    /// Names of removed nodes: their certificates are refused (the gateway's QUIC endpoint
    /// shares this set) and the names never admitted again.
    revoked: Revoked,
    /// The persisted epoch as last committed (see `kintsugi_meta`'s `cluster_map.rs`).
    epoch: AtomicU64,
    meta: Arc<RocksMeta>,
    /// Only the leader writes the map's records; other gateways keep their own view of who
    /// is up and take disk ids and node numbers from the records the leader wrote.
    lead: crate::store::Leadership,
}

impl std::fmt::Debug for ClusterMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterMap").field("epoch", &self.epoch()).finish()
    }
}

impl ClusterMap {
    /// Load the registered nodes and disks into `store`; `client` carries the gateway's
    /// certificate. A start is a change of the map (every node gets a fresh grace period), so
    /// it advances the persisted epoch: nodes never see it go back. `revoked` is filled with
    /// the removed nodes' names, and grows with every removal.
    pub async fn load(store: &Arc<Store>, client: Client, cfg: ClusterConfig, revoked: Revoked) -> ClusterResult<Arc<Self>> {
        let (nodes, disks, retired, removed) = store.meta_call(|m| Ok((m.nodes()?, m.disks()?, m.retired_disks()?, m.removed_nodes()?))).await?;
        revoked.extend(removed);
        let epoch = match store.meta_call(|m| m.map_changed()).await {
            Ok(e) => e,
            Err(e) => {
                // A gateway of a group without quorum still starts (and serves what it can).
                tracing::warn!(error = %e, "could not advance the cluster-map epoch at start");
                store.meta_call(|m| m.map_epoch()).await?
            }
        };
        // Until a node reports, it gets the grace period from now.
        let state = MapState::from_records(&nodes, &disks, &retired, Instant::now());
        let mut handles = BTreeMap::new();
        for (name, n) in state.nodes() {
            let link = Arc::new(NodeLink::new(name, n.number, n.addr, client.clone(), cfg.request_deadline));
            let mut ds = Vec::new();
            for (id, uuid) in &n.disks {
                let path = disks.iter().find(|d| d.id == *id).map_or("", |rec| rec.path.split_once(':').map_or(rec.path.as_str(), |(_, p)| p));
                let r = Arc::new(RemoteShards::new(*id, *uuid, path, link.clone()));
                store.add_disk(r.clone());
                ds.push(r);
            }
            handles.insert(name.clone(), Handles { link, disks: ds });
        }
        Ok(Arc::new(Self {
            client,
            cfg,
            inner: Mutex::new(Inner { state, handles }),
            revoked,
            epoch: AtomicU64::new(epoch),
            meta: store.meta.clone(),
            lead: store.leadership.clone(),
        }))
    }

    /// Cluster-map epoch: grows on every membership or state change, and is stored, so it
    /// never goes back (not across gateway restarts either).
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Relaxed)
    }

    /// Commit a change of the map (`f`: a metadata command that advances the epoch, or a read
    /// of it after one) and take the epoch it answers. A change that cannot be committed
    /// leaves the epoch where it was, with a warning: the next change advances it.
    async fn commit_epoch(&self, f: impl FnOnce(&RocksMeta) -> MetaResult<u64> + Send + 'static) {
        let meta = self.meta.clone();
        match tokio::task::spawn_blocking(move || f(&meta)).await {
            Ok(Ok(e)) => {
                self.epoch.fetch_max(e, Ordering::Relaxed);
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "the cluster-map epoch was not advanced"),
            Err(e) => tracing::warn!(error = %e, "the cluster-map epoch task failed"),
        }
    }

    /// The configuration.
    pub fn config(&self) -> ClusterConfig {
        self.cfg
    }

    /// Apply a heartbeat from node `name` (in zone `zone`, if labelled).
    pub async fn heartbeat(&self, store: &Arc<Store>, name: &str, listen: &str, zone: Option<&str>, reports: &[DiskReport], counters: &[(String, u64)]) -> ClusterResult<u64> {
        let addr = match tokio::net::lookup_host(listen).await.ok().and_then(|mut a| a.next()) {
            Some(a) => Some(a),
            None => {
                tracing::warn!(node = name, listen, "node reported an address that does not resolve");
                None
            }
        };
        if self.revoked.contains(name) {
            // The transport refuses its certificate already; never let it back into the map.
            return Err(ClusterError::Refused(format!("node {name} was removed from the cluster; its certificate is revoked")));
        }
        let leader = self.lead.is_leader();
        let mut inner = self.inner.lock().await;
        let Inner { state, handles } = &mut *inner;
        let now = Instant::now();
        let mut changed = false; // the records change
        let mut state_changed = false; // only what the records do not show
        if state.node(name).is_none() {
            let number = if leader {
                state.next_number()
            } else {
                // Not the leader: the node's number is the one the leader recorded; a node the
                // leader has not recorded yet is taken in once it has.
                match store.meta_call(|m| m.nodes()).await?.into_iter().find(|n| n.name == name) {
                    Some(rec) => rec.number,
                    None => return Ok(self.epoch()),
                }
            };
            state.admit(name, number, addr, now);
            let link = Arc::new(NodeLink::new(name, number, addr, self.client.clone(), self.cfg.request_deadline));
            handles.insert(name.to_owned(), Handles { link, disks: Vec::new() });
            tracing::info!(node = name, listen, "storage node joined the cluster map");
            changed = true;
        }
        let Some(h) = handles.get_mut(name) else { return Ok(self.epoch()) };
        let refused = counters.iter().find(|(c, _)| c == COUNTER_REFUSED).map(|(_, n)| *n);
        let beat = state.beat(name, now, addr, zone, refused);
        if let Some(a) = beat.addr {
            h.link.set_addr(a);
            changed = true;
        }
        if let Some(number) = beat.zone {
            tracing::info!(node = name, zone, "node zone label set");
            h.link.set_zone(number);
            state_changed = true;
        }
        if let Some(was) = beat.came_up {
            tracing::info!(node = name, %was, "storage node is up");
            h.link.set_up(true);
            h.link.set_lost(false);
            state_changed = true;
        }
        // The disk registry is read only when a disk is new to this node (not on every heartbeat).
        let mut registry: Option<Vec<DiskRecord>> = None;
        for r in reports {
            match state.claim(name, r.uuid) {
                DiskClaim::Own(id) => {
                    if let Some(d) = h.disks.iter().find(|d| d.id() == id) {
                        d.update(r);
                    }
                    continue;
                }
                DiskClaim::Retired => continue, // removed by an admin; a wiped directory comes back with a new uuid
                // Disks other nodes serve: a node may report only its own (a copied or stolen
                // disk directory carries another node's identity; taking it over would send
                // that disk's reads and writes to the wrong process).
                DiskClaim::OtherNode(owner) => {
                    Metrics::inc(&store.metrics.disk_claims_refused);
                    tracing::warn!(
                        node = name, disk = %format!("{:032x}", r.uuid), path = r.path, owner,
                        "heartbeat names a disk another node serves; not registered (a copied disk directory? If the disk really moved, remove the old node first: `kintsugi admin node remove {owner}`)"
                    );
                    continue;
                }
                DiskClaim::Unknown => {}
            }
            if registry.is_none() {
                registry = Some(store.meta_call(|m| m.disks()).await?);
            }
            let Some(registry) = registry.as_mut() else { continue };
            // Registered, and no node in the map serves it now; or new (only the leader
            // registers it; the others take it in once it has).
            let Some(id) = state.disk_id(registry, r.uuid, name, &r.path, leader) else { continue };
            let d = Arc::new(RemoteShards::new(id, r.uuid, &r.path, h.link.clone()));
            d.update(r);
            store.add_disk(d.clone());
            h.disks.push(d);
            state.add_disk(name, id, r.uuid);
            tracing::info!(node = name, disk = id, path = r.path, "disk registered");
            changed = true;
        }
        let reported: Vec<u128> = reports.iter().map(|r| r.uuid).collect();
        for id in state.unreported(name, &reported) {
            if let Some(d) = h.disks.iter().find(|d| d.id() == id) {
                d.set_failed(); // the node no longer has it (removed or replaced by an empty dir)
            }
        }
        if !leader {
            return Ok(self.epoch()); // the leader writes the records and advances the epoch
        }
        if changed {
            let registry = match registry {
                Some(r) => r,
                None => store.meta_call(|m| m.disks()).await?,
            };
            let records = state.records();
            let epoch = store.meta_call(move |m| m.put_cluster(&records, &registry).and_then(|()| m.map_epoch())).await?;
            self.epoch.fetch_max(epoch, Ordering::Relaxed);
        } else if state_changed {
            self.commit_epoch(RocksMeta::map_changed).await;
        }
        Ok(self.epoch())
    }

    /// The names of removed nodes, whose certificates are refused (shared with the endpoint).
    pub fn revoked(&self) -> &Revoked {
        &self.revoked
    }

    /// State of node `name`, if it is in the map.
    pub async fn node_state(&self, name: &str) -> Option<NodeState> {
        self.inner.lock().await.state.node(name).map(|n| n.state)
    }

    /// Drop `disks` (already retired in the metadata store) and, if given, node `node` from the map.
    pub async fn forget(&self, disks: &[DiskRecord], node: Option<&str>) {
        let mut inner = self.inner.lock().await;
        inner.state.forget(disks, node);
        for h in inner.handles.values_mut() {
            h.disks.retain(|d| !disks.iter().any(|r| r.id == d.id()));
        }
        if let Some(name) = node {
            inner.handles.remove(name);
            if !self.revoked.extend([name.to_owned()]).is_empty() {
                tracing::warn!(node = name, "the node's certificate is revoked: no member serves it any more");
            }
        }
        self.commit_epoch(RocksMeta::map_epoch).await; // retire_disks advanced it
    }

    /// Ask node `name` to open directory `path` as a new disk; answers its uuid.
    pub async fn add_disk(&self, name: &str, path: &str) -> ClusterResult<u128> {
        let link = {
            let inner = self.inner.lock().await;
            match (inner.state.node(name), inner.handles.get(name)) {
                (Some(n), Some(h)) if n.state == NodeState::Up => h.link.clone(),
                (Some(n), _) => return Err(ClusterError::Refused(format!("node {name} is {}; a disk can be added only to a node that is up", n.state))),
                (None, _) => return Err(ClusterError::InvalidArgument(format!("no node {name} in the cluster map (see `kintsugi admin status`)"))),
            }
        };
        match link.call(&Request::AddDisk { path: path.to_owned() }).await {
            Ok(Response::DiskAdded { uuid }) if self.inner.lock().await.state.is_retired(uuid) => Err(ClusterError::Refused(format!(
                "{path} on node {name} holds a disk that was removed from the cluster; to reuse it, empty the directory, restart the node and add it again"
            ))),
            Ok(Response::DiskAdded { uuid }) => Ok(uuid),
            Ok(other) => Err(ClusterError::Internal(format!("node {name} answered AddDisk with {other:?}"))),
            Err(kintsugi_net::NetError::Remote { message, .. }) => Err(ClusterError::Refused(message)),
            Err(e) => Err(ClusterError::Internal(format!("asking node {name} to add {path}: {e}"))),
        }
    }

    /// Re-evaluate node states from heartbeat ages (called periodically).
    pub async fn tick(&self) {
        let mut inner = self.inner.lock().await;
        let transitions = inner.state.tick(Instant::now(), self.cfg.down_after, self.cfg.lost_after);
        for t in &transitions {
            tracing::warn!(node = t.name, from = %t.from, to = %t.to, silent_ms = t.silent.as_millis() as u64, "storage node state changed");
            if let Some(h) = inner.handles.get(&t.name) {
                h.link.set_up(t.to == NodeState::Up);
                h.link.set_lost(t.to == NodeState::Lost);
            }
        }
        if !transitions.is_empty() && self.lead.is_leader() {
            self.commit_epoch(RocksMeta::map_changed).await;
        }
    }

    /// Nodes for status reports.
    pub async fn report(&self) -> Vec<NodeReport> {
        self.inner.lock().await.state.report(Instant::now())
    }

    /// The nodes' own counters in Prometheus text format (for `/metrics`).
    pub async fn render_metrics(&self) -> String {
        use std::fmt::Write;
        let inner = self.inner.lock().await;
        let mut s = String::from(
            "# HELP kintsugi_node_requests_refused_total Requests a storage node refused (a member asking for what only the gateway may do, or a peer without a certificate), as its last report said.\n# TYPE kintsugi_node_requests_refused_total counter\n",
        );
        for (name, n) in inner.state.nodes() {
            let _ = writeln!(s, "kintsugi_node_requests_refused_total{{node=\"{name}\"}} {}", n.refused);
        }
        s
    }

    /// Run `tick` every `every` until the task is dropped.
    pub fn spawn_monitor(self: &Arc<Self>, store: Arc<Store>, every: Duration) {
        let me = self.clone();
        tokio::spawn(async move {
            let mut last_reconcile = Instant::now();
            let mut last_removals = Instant::now();
            loop {
                tokio::time::sleep(every).await;
                me.tick().await;
                // Removals reach every gateway's endpoint, whatever its role now (a follower
                // that becomes leader must not have missed one).
                if last_removals.elapsed() >= RECONCILE_EVERY {
                    last_removals = Instant::now();
                    if let Ok(removed) = store.meta_call(|m| m.removed_nodes()).await {
                        for name in me.revoked.extend(removed) {
                            tracing::warn!(node = name, "the node was removed; its certificate is revoked");
                        }
                    }
                }
                // Disks and nodes the leader removed leave the other gateways' maps here (the
                // leader forgets them as it removes them).
                if !me.lead.is_leader() && last_reconcile.elapsed() >= RECONCILE_EVERY {
                    last_reconcile = Instant::now();
                    if let Err(e) = me.reconcile(&store).await {
                        tracing::debug!(error = %e, "could not compare the cluster map with the records");
                    }
                }
            }
        });
    }

    /// Drop from this gateway's map (and store) the disks the records say are retired, and
    /// the nodes removed with them: how a gateway that is not the leader learns of an
    /// `admin disk remove` or `admin node remove`. Answers how many disks it dropped.
    pub async fn reconcile(&self, store: &Arc<Store>) -> ClusterResult<usize> {
        // Removed names reach `revoked` in the monitor loop just before this (on every gateway).
        let (retired, records) = store.meta_call(|m| Ok((m.retired_disks()?, m.nodes()?))).await?;
        let mut inner = self.inner.lock().await;
        let revoked = &self.revoked;
        let out = inner.state.reconcile(&retired, &records, |n| revoked.contains(n));
        for h in inner.handles.values_mut() {
            h.disks.retain(|d| !out.disks.iter().any(|r| r.uuid == d.uuid()));
        }
        for name in &out.nodes {
            inner.handles.remove(name);
            tracing::warn!(node = name, "storage node removed from the cluster map (by the leader)");
        }
        drop(inner);
        for d in &out.disks {
            store.remove_disk(d.id);
            tracing::warn!(disk = d.id, "disk removed from the cluster map (by the leader)");
        }
        if !out.disks.is_empty() || !out.nodes.is_empty() {
            self.commit_epoch(RocksMeta::map_epoch).await;
        }
        Ok(out.disks.len())
    }
}

/// The cluster addresses of every gateway of the group, for nodes' heartbeats.
pub type GatewayList = Arc<dyn Fn() -> Vec<String> + Send + Sync>;

/// The gateway's QUIC service: heartbeats from members (joins are answered by the transport).
pub struct ClusterService {
    /// The store whose disks the map feeds.
    pub store: Arc<Store>,
    /// The map.
    pub map: Arc<ClusterMap>,
    /// The gateways nodes should report to (`None`: this one alone).
    pub gateways: Option<GatewayList>,
    /// Signs nodes' certificate renewals (`None`: renewals are refused `NotSupported`).
    pub authority: Option<Arc<kintsugi_net::JoinAuthority>>,
}

#[async_trait::async_trait]
impl Handler<Request> for ClusterService {
    async fn handle(&self, peer: &str, req: Request, _recv: quinn::RecvStream, mut send: quinn::SendStream) -> NetResult<()> {
        let resp = match req {
            Request::Heartbeat { listen, zone, disks } if peer != "gateway" => self.heartbeat(peer, &listen, zone.as_deref(), &disks, &[]).await,
            Request::NodeReport { listen, zone, disks, counters } if peer != "gateway" => self.heartbeat(peer, &listen, zone.as_deref(), &disks, &counters).await,
            Request::Beat { listen, zone, disks, counters } if peer != "gateway" => match self.heartbeat(peer, &listen, zone.as_deref(), &disks, &counters).await {
                Response::HeartbeatAck { epoch } => Response::BeatAck { epoch, gateways: self.gateways.as_ref().map(|g| g()).unwrap_or_default() },
                other => other,
            },
            Request::Ping => Response::Pong { node: "gateway".into() },
            Request::RemovedNodes => Response::RemovedNodes { names: self.map.revoked().names() },
            Request::RenewCert { csr_der } if peer != "gateway" => match &self.authority {
                Some(a) => a.renew(peer, &csr_der).map_or_else(
                    |e| {
                        tracing::warn!(peer, error = %e.message, "certificate renewal refused");
                        Response::error(ErrorCode::from(e.code), e.message)
                    },
                    Response::Renewed,
                ),
                None => Response::error(ErrorCode::NotSupported, "this gateway does not sign certificates"),
            },
            other => {
                Metrics::inc(&self.store.metrics.cluster_requests_refused);
                tracing::warn!(peer, request = other.name(), "request refused: the gateway serves joins, node reports and pings");
                Response::error(ErrorCode::NotSupported, "the gateway serves Join, Beat, NodeReport, Heartbeat, RemovedNodes, RenewCert and Ping")
            }
        };
        kintsugi_net::write_frame(&mut send, &resp).await?;
        let _ = send.finish();
        Ok(())
    }

    fn refused_anonymous(&self) {
        Metrics::inc(&self.store.metrics.cluster_requests_refused);
    }
}

impl ClusterService {
    async fn heartbeat(&self, peer: &str, listen: &str, zone: Option<&str>, disks: &[DiskReport], counters: &[(String, u64)]) -> Response {
        match self.map.heartbeat(&self.store, peer, listen, zone, disks, counters).await {
            Ok(epoch) => Response::HeartbeatAck { epoch },
            Err(e) => Response::error(ErrorCode::Internal, e.to_string()),
        }
    }
}
