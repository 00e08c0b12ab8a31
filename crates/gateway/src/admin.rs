//! The admin API: HTTP + JSON under `/kintsugi-admin/v1/...`, authenticated
//! with the same SigV4 access keys as S3 (s3s verifies the signature before a
//! custom route runs). The bucket name `kintsugi-admin` is reserved for it.
//!
//! Endpoints:
//! - `GET /kintsugi-admin/v1/object?bucket=B&key=K[&verify=full]`: the
//!   erasure layout of an object and the health of every shard.
//! - `GET /kintsugi-admin/v1/status`: nodes, disks, EC scheme, counters.
//! - `GET /kintsugi-admin/v1/disks`: every disk with its state and committed shards and bytes.
//! - `GET /kintsugi-admin/v1/keys`, `POST .../key/create`, `POST .../key/delete`: access keys (`admin_keys.rs`).
//! - `POST /kintsugi-admin/v1/join-token[?ttl=SECS&uses=N|?revoke_all=1]`: a new token storage nodes join with, or
//!   revoke them all (cluster mode; `join_tokens.rs`).
//! - `GET /kintsugi-admin/v1/repair[?recount=1]`: the redundancy ledger and background repair's
//!   progress (with a full recount to check the ledger against).
//! - `POST /kintsugi-admin/v1/drain?disk=N|node=NAME[&force=1|&cancel=1]`: start (or cancel)
//!   draining a disk or every disk of a node; `GET` the same: its progress.
//! - `POST /kintsugi-admin/v1/disk/remove?disk=N`, `POST /kintsugi-admin/v1/node/remove?node=NAME`:
//!   take a decommissioned (or dead and rebuilt) disk, or a stopped node, out of the cluster map.
//! - `POST /kintsugi-admin/v1/disk/add?node=NAME&path=DIR`: a running node opens one more disk.
//! - `POST /kintsugi-admin/v1/rebalance[?tolerance=PCT&bandwidth=MIB|&cancel=1]`: start (or stop)
//!   evening out disk usage; `GET` its progress.
//! - `POST /kintsugi-admin/v1/scrub[?disk=N]`: verify every shard (of one disk) now, repair
//!   what is bad, answer with the pass's report.
//! - `GET /kintsugi-admin/v1/meta/backup`: a consistent copy of the metadata, taken while
//!   serving, as a tar archive (`backup.rs`).

use std::collections::HashMap;
use std::sync::Arc;

use hyper::http::Extensions;
use hyper::{HeaderMap, Method, Uri};
use kintsugi_disk::DiskError;
use kintsugi_storage::ShardError;
use s3s::route::S3Route;
use s3s::{s3_error, Body, S3Request, S3Response, S3Result};
use serde::Serialize;

use kintsugi_cluster::{lifecycle, ClusterMap, Store};
use kintsugi_meta::MetaRead;

use crate::admin_util::{json_response, query_param};
use crate::error::s3_err;
use crate::Gateway;

/// Path prefix of the admin API (also a reserved bucket name).
pub const ADMIN_BUCKET: &str = "kintsugi-admin";
const PREFIX: &str = "/kintsugi-admin/v1/";

/// Admin changes only the group's leader makes (its workers carry them out); another gateway
/// forwards them to the leader (`forward.rs`).
const LEADER_ONLY: [&str; 7] = ["drain", "disk/remove", "node/remove", "disk/add", "rebalance", "scrub", "meta/rebuild"];
/// Reports of the leader's work (progress, rates, what repair rebuilt): another gateway
/// forwards them to the leader too.
const LEADER_REPORTS: [&str; 3] = ["drain", "rebalance", "repair"];

/// Health of one shard as seen now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ShardHealth {
    /// Header and hash table verify (and, with `verify=full`, every chunk).
    Ok,
    /// The file is not on its disk.
    Missing,
    /// The file fails BLAKE3 verification.
    Corrupt,
    /// The disk holding it is failed or gone.
    DiskFailed,
    /// An I/O error other than the above.
    IoError,
    /// Stored nowhere: the PUT could not place it (its failure domain was down); repair will.
    NotPlaced,
}

/// One shard in the layout report.
#[derive(Debug, Clone, Serialize)]
pub struct ShardReport {
    /// Shard index (0..k data, k..k+m parity).
    pub index: u8,
    /// Node holding the disk ("local" in the embedded store).
    pub node: String,
    /// Disk id.
    pub disk: u32,
    /// Health now.
    pub health: ShardHealth,
    /// Why it is not ok.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// One segment in the layout report.
#[derive(Debug, Clone, Serialize)]
pub struct SegmentReport {
    /// Segment number in the object.
    pub index: usize,
    /// Segment id (hex): names the shard files.
    pub id: String,
    /// Bytes of object data.
    pub len: u64,
    /// Shards that are ok.
    pub healthy: usize,
    /// How many failure domains (nodes; disks in the embedded store) may fail at once with the
    /// segment still readable, counting its healthy shards by domain; null below k.
    pub domain_losses_survived: Option<usize>,
    /// On a cluster whose nodes all carry `--zone` labels: how many zones may fail at once with
    /// the segment still readable (zones are spread over as evenly as placement can; the
    /// redundancy promise and the ledger count nodes). Absent without zone labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone_losses_survived: Option<Option<usize>>,
    /// Every shard (none for an inline segment).
    pub shards: Vec<ShardReport>,
    /// An inline segment (a small object kept with the metadata, as durable as it): "ok" when
    /// its bytes are there and match their hash, else what is wrong. Absent for a segment
    /// stored as shards.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inline: Option<String>,
}

/// `GET /kintsugi-admin/v1/object` answer.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectReport {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// ETag.
    pub etag: String,
    /// Manifest version (hex).
    pub version_id: String,
    /// Codec name.
    pub codec: String,
    /// Data shards.
    pub k: u8,
    /// Parity shards.
    pub m: u8,
    /// Chunk size.
    pub chunk_size: u32,
    /// Segments.
    pub segments: Vec<SegmentReport>,
}

/// One disk in the status report.
#[derive(Debug, Clone, Serialize)]
pub struct DiskReport {
    /// Disk id.
    pub id: u32,
    /// Node ("local" in the embedded store).
    pub node: String,
    /// Directory.
    pub path: String,
    /// "ok", "full" (no room above the disk reserve: no new shards), "draining",
    /// "decommissioned", "failed" or "unreachable" (its node is down or lost).
    pub state: String,
    /// File-system capacity in bytes (0 when unknown).
    pub capacity: u64,
    /// Free bytes (0 when unknown).
    pub free: u64,
    /// Committed shards on it (only in `GET /disks`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shards: Option<u64>,
    /// Their data bytes (only in `GET /disks`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard_bytes: Option<u64>,
}

/// `GET /kintsugi-admin/v1/status` answer.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// Mode: "embedded" or "cluster".
    pub mode: String,
    /// EC scheme, e.g. "4+2".
    pub ec: String,
    /// Cluster-map epoch (0 in the embedded store).
    pub epoch: u64,
    /// Storage nodes (empty in the embedded store).
    pub nodes: Vec<kintsugi_cluster::NodeReport>,
    /// Disks.
    pub disks: Vec<DiskReport>,
    /// Segments waiting for garbage collection.
    pub garbage_pending: u64,
    /// Segments being written: write intents neither committed nor given up yet (one left by
    /// a gateway that stopped mid-write is given up by the intent sweep).
    pub writes_open: u64,
    /// Every segment survives the loss of any m failure domains (see `/repair` for the details).
    pub full_redundancy: bool,
    /// Shards stored nowhere: written while their failure domain was down; repair places them.
    pub shards_not_placed: u64,
    /// Failure domains in service (nodes; disks in the embedded store).
    pub failure_domains: usize,
    /// Fewer failure domains than k+m: redundancy cannot be full.
    pub too_few_domains: bool,
    /// Segments the last repair pass found with shards on lost disks, not repaired yet.
    pub repair_backlog: u64,
    /// The redundancy ledger: committed segments and bytes by failure-domain losses survived.
    pub ledger: kintsugi_cluster::ledger::Ledger,
    /// The background workers: passes run and failed, time busy, the last error.
    pub workers: Vec<kintsugi_cluster::WorkerReport>,
    /// What the lifecycle worker did since this gateway started (it runs on the group's leader).
    pub lifecycle: kintsugi_cluster::expire::LifecycleReport,
    /// The metadata group of gateways (absent in the embedded store).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupReport>,
}

/// The metadata group as one gateway reports it.
#[derive(Clone, Debug, Serialize)]
pub struct GroupReport {
    /// The gateway that answered.
    pub this: String,
    /// Whether the group has a leader that a majority follows: metadata can be written.
    pub quorum: bool,
    /// The leader's name.
    pub leader: Option<String>,
    /// Current Raft term.
    pub term: u64,
    /// Last log index the leader applied.
    pub applied: Option<u64>,
    /// Every gateway: name, addresses, role, the log index the leader knows it holds, its lag.
    pub gateways: Vec<kintsugi_raft::GatewayStatus>,
    /// Why the group cannot be shown in full, when it cannot (no quorum: say so plainly).
    pub problem: Option<String>,
}

/// The group report of `admin`'s gateway (asks the leader).
pub async fn group_report(admin: &crate::GroupAdmin) -> GroupReport {
    let name = admin.group.name().to_owned();
    match admin.group.status().await {
        Ok(s) => GroupReport { this: name, quorum: s.quorum, leader: s.leader, term: s.term, applied: s.applied, gateways: s.gateways, problem: None },
        Err(e) => GroupReport {
            this: name,
            quorum: false,
            leader: None,
            term: 0,
            applied: None,
            gateways: Vec::new(),
            problem: Some(format!("no quorum: metadata cannot be written or read consistently until a majority of gateways is up ({e})")),
        },
    }
}

/// Zone losses a segment's healthy shards survive, when every disk of the cluster is on a
/// zone-labelled node (`None` otherwise; `Some(None)` when it is not readable now).
fn zone_losses_survived(store: &Store, shards: &[ShardReport], k: usize) -> Option<Option<usize>> {
    if store.all_disks().iter().any(|d| d.zone().is_none()) {
        return None;
    }
    let mut per_zone: HashMap<u32, usize> = HashMap::new();
    for s in shards.iter().filter(|s| s.health == ShardHealth::Ok) {
        *per_zone.entry(store.disk(s.disk).ok()?.zone()?).or_default() += 1;
    }
    let counts: Vec<usize> = per_zone.into_values().collect();
    Some(kintsugi_placement::domain_losses_survived(&counts, k))
}

fn classify(e: &ShardError) -> ShardHealth {
    match e {
        ShardError::Disk(DiskError::Missing { .. }) => ShardHealth::Missing,
        ShardError::Disk(DiskError::Corrupt { .. }) => ShardHealth::Corrupt,
        ShardError::Disk(DiskError::DiskGone { .. } | DiskError::DiskFailed { .. }) | ShardError::Unreachable { .. } => ShardHealth::DiskFailed,
        ShardError::Disk(DiskError::Io { .. } | DiskError::Full { .. } | DiskError::Invalid { .. } | DiskError::InUse { .. })
        | ShardError::Protocol { .. }
        | ShardError::JobFailed { .. }
        | ShardError::NotOnANode { .. } => ShardHealth::IoError,
    }
}

/// Build the layout report of an object, checking every shard.
pub async fn object_report(store: &Arc<Store>, bucket: &str, key: &str, full: bool) -> Result<Option<ObjectReport>, crate::GatewayError> {
    let (b, k) = (bucket.to_owned(), key.to_owned());
    let Some(man) = store.meta_call(move |m| m.object(&b, &k)).await? else { return Ok(None) };
    let coded = store.coded(&man.coding)?;
    let mut segments = Vec::with_capacity(man.segments.len());
    for (si, seg) in man.segments.iter().enumerate() {
        if seg.is_inline() {
            let (id, len) = (seg.id, seg.len);
            let state = match store.meta_call(move |m| m.inline_data(id)).await {
                Ok(Some(d)) if d.len() as u64 == len => "ok".to_owned(),
                Ok(Some(d)) => format!("{} bytes kept, {len} expected", d.len()),
                Ok(None) => "its bytes are missing from the metadata".to_owned(),
                Err(e) => e.to_string(),
            };
            let report = SegmentReport { index: si, id: format!("{:032x}", seg.id), len, healthy: 0, domain_losses_survived: None, zone_losses_survived: None, shards: Vec::new(), inline: Some(state) };
            segments.push(report);
            continue;
        }
        let checks = seg.shards.iter().enumerate().map(|(i, loc)| {
            let idx = u8::try_from(i).unwrap_or(u8::MAX);
            async move {
                let (node, checked) = match store.disk(loc.disk) {
                    Err(_) if loc.disk == kintsugi_meta::NO_DISK => {
                        ("-".to_owned(), Err((ShardHealth::NotPlaced, "not placed: no failure domain could take it when it was written; repair places it".to_owned())))
                    }
                    Err(e) => ("?".to_owned(), Err((ShardHealth::DiskFailed, e.to_string()))),
                    Ok(d) => {
                        let info = d.info();
                        if info.reachable {
                            (info.node, d.check(seg.id, idx, loc.hash, full).await.map(|_| ()).map_err(|e| (classify(&e), e.to_string())))
                        } else {
                            // The cluster map has its node down: report that instead of waiting out a connect deadline.
                            let why = format!("node {} is down or lost", info.node);
                            (info.node, Err((ShardHealth::DiskFailed, why)))
                        }
                    }
                };
                let (health, detail) = match checked {
                    Ok(()) => (ShardHealth::Ok, None),
                    Err((h, s)) => (h, Some(s)),
                };
                ShardReport { index: idx, node, disk: loc.disk, health, detail }
            }
        });
        let shards: Vec<ShardReport> = futures::future::join_all(checks).await;
        let healthy = shards.iter().filter(|s| s.health == ShardHealth::Ok).count();
        let mut per_domain: HashMap<u32, usize> = HashMap::new();
        for s in shards.iter().filter(|s| s.health == ShardHealth::Ok) {
            if let Ok(d) = store.disk(s.disk) {
                *per_domain.entry(d.failure_domain()).or_default() += 1;
            }
        }
        let counts: Vec<usize> = per_domain.into_values().collect();
        let k = usize::from(man.coding.k);
        let domain_losses_survived = kintsugi_placement::domain_losses_survived(&counts, k);
        let zone_losses_survived = zone_losses_survived(store, &shards, k);
        segments.push(SegmentReport { index: si, id: format!("{:032x}", seg.id), len: seg.len, healthy, domain_losses_survived, zone_losses_survived, shards, inline: None });
    }
    Ok(Some(ObjectReport {
        bucket: bucket.into(),
        key: key.into(),
        size: man.size,
        etag: man.etag.clone(),
        version_id: format!("{:032x}", man.version_id),
        codec: format!("{:?}", coded.codec.id()),
        k: man.coding.k,
        m: man.coding.m,
        chunk_size: man.coding.chunk_size,
        segments,
    }))
}

/// Every disk with its state (no shard counts).
fn disk_reports(store: &Store) -> Vec<DiskReport> {
    store
        .all_disks()
        .iter()
        .map(|d| {
            let i = d.info();
            let state = if !i.reachable {
                "unreachable"
            } else if i.failed {
                "failed"
            } else {
                match store.drains.read().get(&i.id).map(|r| r.state) {
                    Some(kintsugi_meta::DiskLifecycle::Draining) => "draining",
                    Some(kintsugi_meta::DiskLifecycle::Decommissioned) => "decommissioned",
                    // At its reserve, or it just refused a write for want of space.
                    None if !store.space.takes_shards(&i) => "full",
                    None => "ok",
                }
            };
            DiskReport { id: i.id, node: i.node, path: i.path, state: state.into(), capacity: i.capacity, free: i.free, shards: None, shard_bytes: None }
        })
        .collect()
}

/// Build the status report.
pub async fn status_report(gw: &Gateway) -> Result<StatusReport, crate::GatewayError> {
    let store = gw.store();
    let disks = disk_reports(store);
    let repair = gw.workers.repair_report(false).await?;
    let (epoch, nodes) = match &gw.map {
        Some(c) => (c.epoch(), c.report().await),
        None => (0, Vec::new()),
    };
    Ok(StatusReport {
        // A gateway with a cluster map serves storage nodes; without one, disks of its own.
        mode: if gw.map.is_some() { "cluster" } else { "embedded" }.into(),
        ec: store.layout.scheme.to_string(),
        epoch,
        nodes,
        disks,
        garbage_pending: store.meta_call(|m| m.garbage_count()).await?,
        writes_open: store.meta_call(|m| m.intent_count()).await?,
        full_redundancy: repair.full_redundancy,
        shards_not_placed: repair.shards_not_placed,
        failure_domains: repair.failure_domains,
        too_few_domains: repair.too_few_domains,
        repair_backlog: repair.queued.saturating_sub(repair.done_in_pass),
        ledger: repair.ledger,
        workers: gw.workers.reports(),
        lifecycle: gw.workers.lifecycle_report(),
        group: match &gw.group {
            Some(g) => Some(group_report(g).await),
            None => None,
        },
    })
}

/// The s3s custom route serving the admin API.
pub struct AdminRoute {
    gw: Arc<Gateway>,
    store: Arc<Store>,
}

impl AdminRoute {
    /// Serve the admin API of `gw`.
    pub fn new(gw: Arc<Gateway>) -> Self {
        Self { store: gw.store().clone(), gw }
    }

    fn group(&self) -> S3Result<&crate::GroupAdmin> {
        self.gw.group.as_ref().ok_or_else(|| s3_error!(NotImplemented, "this is an embedded server: it has no group of gateways; start `kintsugi gateway` for a cluster"))
    }

    fn map(&self) -> Option<&Arc<ClusterMap>> {
        self.gw.map.as_ref()
    }
}



fn disk_param(store: &Store, uri: &Uri) -> S3Result<u32> {
    let disk = query_param(uri, "disk")
        .ok_or_else(|| s3_error!(InvalidArgument, "missing disk= (see `kintsugi admin disk list`)"))?
        .parse::<u32>()
        .map_err(|_| s3_error!(InvalidArgument, "disk= must be a disk id (see `kintsugi admin disk list`)"))?;
    store.disk(disk).map_err(|_| s3_error!(InvalidArgument, "no disk {disk} (see `kintsugi admin disk list`)"))?;
    Ok(disk)
}


#[async_trait::async_trait]
impl S3Route for AdminRoute {
    fn is_match(&self, _method: &Method, uri: &Uri, _headers: &HeaderMap, ext: &mut Extensions) -> bool {
        // Path-style only: under a bucket's host name the path is an object key.
        ext.get::<crate::vhost::VirtualHosted>().is_none()
            && (uri.path().starts_with(PREFIX) || uri.path() == "/kintsugi-admin" || uri.path() == "/kintsugi-admin/")
    }

    async fn check_access(&self, req: &mut S3Request<Body>) -> S3Result<()> {
        crate::admin_keys::require_admin(&self.store, req).await
    }

    async fn call(&self, mut req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        let path = req.uri.path().to_owned();
        let op = path.strip_prefix(PREFIX).unwrap_or("");
        let leaders = (req.method == Method::POST && LEADER_ONLY.contains(&op)) || (req.method == Method::GET && LEADER_REPORTS.contains(&op));
        if leaders && !self.store.leadership.is_leader() {
            // Only the leader runs it: forward it there, once.
            let leader = match &self.gw.group {
                Some(g) => group_report(g).await.gateways.into_iter().find(|x| x.role == kintsugi_raft::Role::Leader).map(|x| x.node),
                None => None,
            };
            let Some(leader) = leader.filter(|_| !req.headers.contains_key(crate::forward::FORWARDED)) else {
                return Err(s3_error!(
                    ServiceUnavailable,
                    "this gateway is not the leader of the metadata group, which runs drains, removals, rebalances and scrubs, and there is none now (no quorum, or an election); retry shortly"
                ));
            };
            let body = req.input.store_all_limited(1 << 20).await.map_err(|e| s3_error!(InvalidRequest, "reading the request body: {e}"))?;
            let addr = crate::forward::leader_address(&leader.s3, &leader.cluster);
            let tls = match self.gw.group.as_ref().and_then(|g| g.tls.as_ref()) {
                Some(t) => Some(t.forward_client().map_err(|e| s3_error!(ServiceUnavailable, "this gateway is not the leader ({}) and cannot forward to it: {e}", leader.name))?),
                None => None,
            };
            let a = crate::forward::forward(&addr, tls.as_ref(), &req.method, &req.uri, &req.headers, body)
                .await
                .map_err(|e| s3_error!(ServiceUnavailable, "this gateway is not the leader ({}) and forwarding to it failed: {e}", leader.name))?;
            let mut resp = S3Response::new(Body::from(a.body));
            resp.status = Some(a.status);
            if let Some(ct) = a.headers.get(hyper::header::CONTENT_TYPE) {
                resp.headers.insert(hyper::header::CONTENT_TYPE, ct.clone());
            }
            return Ok(resp);
        }
        match (req.method.clone(), op) {
            (Method::GET, "object") => {
                let bucket = query_param(&req.uri, "bucket").ok_or_else(|| s3_error!(InvalidArgument, "missing bucket="))?;
                let key = query_param(&req.uri, "key").ok_or_else(|| s3_error!(InvalidArgument, "missing key="))?;
                let full = query_param(&req.uri, "verify").as_deref() == Some("full");
                let rep = object_report(&self.store, &bucket, &key, full).await.map_err(s3_err)?;
                match rep {
                    Some(r) => json_response(&r),
                    None => Err(s3_error!(NoSuchKey, "no object {key} in bucket {bucket}")),
                }
            }
            (Method::GET, "status") => {
                let rep = status_report(&self.gw).await.map_err(s3_err)?;
                json_response(&rep)
            }
            (Method::GET, "disks") => {
                let mut disks = disk_reports(&self.store);
                for d in &mut disks {
                    let (n, b) = kintsugi_cluster::drain::disk_usage(&self.store, d.id).await.map_err(s3_err)?;
                    d.shards = Some(n);
                    d.shard_bytes = Some(b);
                }
                json_response(&serde_json::json!({ "disks": disks }))
            }
            (Method::GET, "repair") => {
                let recount = query_param(&req.uri, "recount").as_deref() == Some("1");
                let rep = self.gw.workers.repair_report(recount).await.map_err(s3_err)?;
                json_response(&rep)
            }
            (Method::POST, "drain") | (Method::GET, "drain") => {
                let post = req.method == Method::POST;
                let cancel = query_param(&req.uri, "cancel").as_deref() == Some("1");
                let force = query_param(&req.uri, "force").as_deref() == Some("1");
                if let Some(node) = query_param(&req.uri, "node") {
                    let disks = self.store.node_disks(&node);
                    if disks.is_empty() {
                        return Err(s3_error!(InvalidArgument, "no node {node} with disks (see `kintsugi admin status`)"));
                    }
                    if post && cancel {
                        kintsugi_cluster::drain::cancel_drain(&self.store, &disks).await.map_err(s3_err)?;
                    } else if post {
                        kintsugi_cluster::drain::start_drain(&self.store, &format!("node {node}"), &disks, force).await.map_err(s3_err)?;
                    }
                    return json_response(&kintsugi_cluster::drain::node_drain_report(&self.store, &node).await.map_err(s3_err)?);
                }
                let disk = disk_param(&self.store, &req.uri)?;
                if post && cancel {
                    kintsugi_cluster::drain::cancel_drain(&self.store, &[disk]).await.map_err(s3_err)?;
                } else if post {
                    kintsugi_cluster::drain::start_drain(&self.store, &format!("disk {disk}"), &[disk], force).await.map_err(s3_err)?;
                }
                json_response(&kintsugi_cluster::drain::drain_report(&self.store, disk).await.map_err(s3_err)?)
            }
            (Method::POST, "disk/remove") => {
                let disk = disk_param(&self.store, &req.uri)?;
                json_response(&lifecycle::remove_disks(&self.store, self.map(), &[disk]).await.map_err(s3_err)?)
            }
            (Method::POST, "node/remove") => {
                let node = query_param(&req.uri, "node").ok_or_else(|| s3_error!(InvalidArgument, "missing node= (see `kintsugi admin status`)"))?;
                json_response(&lifecycle::remove_node(&self.store, self.map(), &node).await.map_err(s3_err)?)
            }
            (Method::POST, "disk/add") => {
                let node = query_param(&req.uri, "node").ok_or_else(|| s3_error!(InvalidArgument, "missing node= (see `kintsugi admin status`)"))?;
                let path = query_param(&req.uri, "path").ok_or_else(|| s3_error!(InvalidArgument, "missing path= (an absolute directory on the node)"))?;
                json_response(&lifecycle::add_disk(&self.store, self.map(), &node, &path).await.map_err(s3_err)?)
            }
            (Method::POST, "rebalance") => {
                if query_param(&req.uri, "cancel").as_deref() == Some("1") {
                    self.gw.workers.rebalance.cancel();
                    return json_response(&self.gw.workers.rebalance.report());
                }
                let tolerance = match query_param(&req.uri, "tolerance") {
                    Some(t) => t.parse::<f64>().map_err(|_| s3_error!(InvalidArgument, "tolerance= must be a percentage, e.g. 10"))?,
                    None => kintsugi_cluster::rebalance::DEFAULT_TOLERANCE_PCT,
                };
                let bandwidth = match query_param(&req.uri, "bandwidth") {
                    Some(b) => Some(b.parse::<u64>().map_err(|_| s3_error!(InvalidArgument, "bandwidth= must be whole MiB/s (0: no cap)"))? << 20),
                    None => None,
                };
                json_response(&self.gw.workers.start_rebalance(tolerance, bandwidth).await.map_err(s3_err)?)
            }
            (Method::GET, "rebalance") => json_response(&self.gw.workers.rebalance.report()),
            (Method::POST, "scrub") => {
                let disk = match query_param(&req.uri, "disk") {
                    Some(d) => Some(d.parse::<u32>().map_err(|_| s3_error!(InvalidArgument, "disk= must be a disk id (see `kintsugi admin disk list`)"))?),
                    None => None,
                };
                if let Some(d) = disk {
                    self.store.disk(d).map_err(|_| s3_error!(InvalidArgument, "no disk {d} (see `kintsugi admin disk list`)"))?;
                }
                // An admin's explicit scrub runs at full speed.
                let rep = self.gw.workers.scrub_now(disk).await.map_err(s3_err)?;
                json_response(&rep)
            }
            (Method::GET, "meta/backup") => {
                let mut rx = crate::backup::backup_stream(self.gw.store(), &self.gw.backup).await.map_err(s3_err)?;
                let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
                let mut resp = S3Response::new(Body::from(s3s::dto::StreamingBlob::wrap(stream)));
                resp.headers.insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/x-tar"));
                Ok(resp)
            }
            (Method::POST, "meta/rebuild") => json_response(&crate::recover::rebuild_metadata(&self.store).await.map_err(s3_err)?),
            (Method::GET, "gateways") => json_response(&group_report(self.group()?).await),
            (Method::GET | Method::POST, "gateway/join-token") => {
                self.group()?;
                crate::join_tokens::call_gateway(&self.store, self.gw.join.as_ref(), &req.uri).await
            }
            (Method::POST, "gateway/remove") => {
                let name = query_param(&req.uri, "name").ok_or_else(|| s3_error!(InvalidArgument, "missing name= (see `kintsugi admin gateway list`)"))?;
                let group = self.group()?;
                group.group.remove_gateway(&name).await.map_err(|e| match e {
                    kintsugi_net::NetError::Remote { code, message } if code == kintsugi_raft::proto::codes::NO_SUCH_GATEWAY => s3_error!(InvalidArgument, "{message}"),
                    kintsugi_net::NetError::Remote { code, message } if code == kintsugi_raft::proto::codes::RAFT => s3_error!(InvalidRequest, "{message}"),
                    other => s3_error!(ServiceUnavailable, "removing gateway {name}: {other}"),
                })?;
                json_response(&group_report(group).await)
            }
            (m, op) if crate::join_tokens::handles(&m, op) => crate::join_tokens::call(&self.store, self.gw.join.as_ref(), &m, &req.uri).await,
            (m, op) if crate::admin_keys::handles(&m, op) => crate::admin_keys::call(&self.store, &m, op, &req.uri).await,
            _ => Err(s3_error!(NotImplemented, "unknown admin API call {} {path}", req.method)),
        }
    }
}
