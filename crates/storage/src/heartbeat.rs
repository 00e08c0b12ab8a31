//! A storage node's heartbeats: a report every interval to *every* gateway of the cluster,
//! so that each gateway knows which nodes are up and one gateway's death makes no node look
//! down. The node starts from the gateway of its join token (or the list it kept); gateways
//! answer a `Beat` with the gateways of their group (`BeatAck`), and the node follows that
//! list — a heartbeat loop per gateway — and keeps it in its state directory so a restart
//! reaches them all.
//!
//! Older gateways do not read `Beat`: the node falls back to `NodeReport`, and to the plain
//! `Heartbeat` before that.
//!
//! When the map epoch a gateway answers changes (a node removal advances it), the node asks
//! for the names of removed nodes (`RemovedNodes`) and refuses their certificates from then on.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kintsugi_net::{Client, Joined, LiveIdentity, NetError, NetResult, NodeIdentity, Revoked};
use tokio::sync::mpsc;

use crate::node::{disk_reports, NodeCounters, NodeDisks};
use crate::proto::{Request, Response};

/// What a node reports, and where it keeps the gateway list.
#[derive(Clone)]
pub struct Heartbeats {
    /// Presents the node's certificate.
    pub client: Client,
    /// The address the node serves shard requests on (as gateways reach it).
    pub listen: String,
    /// Its zone label.
    pub zone: Option<String>,
    /// Its disks.
    pub disks: Arc<NodeDisks>,
    /// Its counters.
    pub counters: Arc<NodeCounters>,
    /// Interval between reports.
    pub every: Duration,
    /// Where the gateway list is kept (one `host:port` per line), if anywhere.
    pub gateways_file: Option<PathBuf>,
    /// Names of removed nodes, shared with the node's endpoint (which refuses them).
    pub revoked: Revoked,
    /// Where the names of removed nodes are kept (one per line), so a restarted node refuses
    /// them before it reaches a gateway.
    pub removed_file: Option<PathBuf>,
    /// Renews the node's certificate when due (`None`: never).
    pub renewal: Option<Arc<Renewal>>,
}

/// Keeps a renewed identity (durably: it is presented only once kept).
pub type SaveIdentity = Arc<dyn Fn(&NodeIdentity) -> std::io::Result<()> + Send + Sync>;

/// Keeps a node's certificate fresh: when a third of its lifetime is left, a heartbeat loop
/// asks its gateway to sign a new key (`RenewCert`) over the link the old certificate still
/// opens, keeps the new identity, then presents it from the next handshake on.
pub struct Renewal {
    live: LiveIdentity,
    save: SaveIdentity,
    running: tokio::sync::Mutex<()>,
}

impl Renewal {
    /// Renew `live`, keeping every new identity with `save` (durably, before it is used).
    pub fn new(live: LiveIdentity, save: SaveIdentity) -> Arc<Self> {
        Arc::new(Self { live, save, running: tokio::sync::Mutex::new(()) })
    }

    /// Renew over `conn` (to a gateway) if due and no other loop is at it.
    async fn renew_if_due(&self, conn: &quinn::Connection) -> NetResult<bool> {
        if !self.live.renewal_due() {
            return Ok(false);
        }
        let Ok(_one) = self.running.try_lock() else { return Ok(false) };
        if !self.live.renewal_due() {
            return Ok(false); // another loop renewed it meanwhile
        }
        let name = self.live.current().name;
        let (key_der, csr_der) = kintsugi_net::new_key_and_csr(&name)?;
        let (resp, _) = kintsugi_net::call(conn, &Request::RenewCert { csr_der }, None, Duration::from_secs(10)).await?;
        let Joined { cert_der, ca_der } = match kintsugi_net::check(resp)? {
            Response::Renewed(j) => j,
            other => return Err(NetError::BadFrame { detail: format!("RenewCert answered with {other:?}") }),
        };
        let id = NodeIdentity { name, cert_der, key_der, ca_der };
        self.live.check(&id)?; // never keep an identity the node could not start with
        let save = self.save.clone();
        let kept = id.clone();
        tokio::task::spawn_blocking(move || save(&kept)).await.map_err(|e| NetError::Connection { detail: e.to_string() })??;
        self.live.replace(id)?;
        Ok(true)
    }
}

/// Read a list a node keeps in its state directory, one entry per line: the gateways
/// (`host:port`; a node from before gateway groups wrote one address) or the removed nodes.
pub fn read_list(file: &std::path::Path) -> std::io::Result<Vec<String>> {
    Ok(std::fs::read_to_string(file)?.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect())
}

/// Keep `list` in `file`, one entry per line, durably ([`read_list`] reads it back); a
/// failure is logged as `what` (the node goes on with the list in memory).
fn write_list(file: &std::path::Path, list: &[String], what: &str) {
    let text: String = list.iter().map(|e| format!("{e}\n")).collect();
    if let Err(e) = crate::node::write_durably(file, text.as_bytes()) {
        tracing::warn!(file = %file.display(), error = %e, "could not keep the {what}");
    }
}

/// Report to every gateway, starting with `gateways`, until the process ends.
pub async fn run_heartbeats(hb: Heartbeats, gateways: Vec<String>) {
    let (tx, mut rx) = mpsc::channel::<Vec<String>>(16);
    let mut loops: BTreeMap<String, tokio::task::JoinHandle<()>> = BTreeMap::new();
    let follow = |list: &[String], loops: &mut BTreeMap<String, tokio::task::JoinHandle<()>>| {
        for g in list {
            if !loops.contains_key(g) {
                tracing::info!(gateway = g, "sending heartbeats to this gateway");
                loops.insert(g.clone(), tokio::spawn(beat(hb.clone(), g.clone(), tx.clone())));
            }
        }
        loops.retain(|g, task| {
            let keep = list.contains(g);
            if !keep {
                tracing::info!(gateway = g, "the gateway left the group; no more heartbeats to it");
                task.abort();
            }
            keep
        });
    };
    follow(&gateways, &mut loops);
    while let Some(mut list) = rx.recv().await {
        list.sort();
        list.dedup();
        if list.is_empty() || list.iter().eq(loops.keys()) {
            continue;
        }
        follow(&list, &mut loops);
        if let Some(f) = &hb.gateways_file {
            write_list(f, &list, "gateway list");
        }
    }
}

/// What a gateway reads: the newest report first, older forms for older gateways.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Form {
    Beat,
    NodeReport,
    Plain,
}

/// Seconds since the Unix epoch, for logs.
fn humantime_secs(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Ask the gateway on `conn` for the removed nodes and refuse them from now on.
async fn ask_removed(hb: &Heartbeats, conn: Option<&quinn::Connection>) -> NetResult<()> {
    let Some(c) = conn else { return Ok(()) };
    let (resp, _) = kintsugi_net::call(c, &Request::RemovedNodes, None, Duration::from_secs(5)).await?;
    match kintsugi_net::check(resp)? {
        Response::RemovedNodes { names } => {
            let new = hb.revoked.extend(names);
            for name in &new {
                tracing::warn!(node = name, "node removed from the cluster: its certificate is refused from now on");
            }
            if let (false, Some(f)) = (new.is_empty(), &hb.removed_file) {
                write_list(f, &hb.revoked.names(), "list of removed nodes");
            }
            Ok(())
        }
        other => Err(NetError::BadFrame { detail: format!("RemovedNodes answered with {other:?}") }),
    }
}

/// Heartbeats to one gateway, every interval (and at once when a disk is added).
async fn beat(hb: Heartbeats, gateway: String, lists: mpsc::Sender<Vec<String>>) {
    let mut conn: Option<quinn::Connection> = None;
    let mut failing = false;
    let mut form = Form::Beat;
    let mut added = hb.disks.subscribe();
    // The epoch whose removals the node has asked for; `None`: not yet (or the gateway is
    // too old to answer, then `asks` is false).
    let mut removals_seen: Option<u64> = None;
    let mut asks = true;
    let mut renews = true; // false: the gateway is too old to sign renewals
    loop {
        let ds = hb.disks.list();
        let reports = tokio::task::spawn_blocking(move || disk_reports(&ds)).await.unwrap_or_default();
        let (listen, zone) = (hb.listen.clone(), hb.zone.clone());
        let req = match form {
            Form::Beat => Request::Beat { listen, zone, disks: reports, counters: hb.counters.named() },
            Form::NodeReport => Request::NodeReport { listen, zone, disks: reports, counters: hb.counters.named() },
            Form::Plain => Request::Heartbeat { listen, zone, disks: reports },
        };
        let result: NetResult<Response> = async {
            let c = match conn.as_ref().filter(|c| c.close_reason().is_none()) {
                Some(c) => c.clone(),
                None => {
                    let addr = tokio::net::lookup_host(&gateway)
                        .await?
                        .next()
                        .ok_or_else(|| NetError::Connect { addr: gateway.clone(), detail: "address does not resolve".into() })?;
                    let c = tokio::time::timeout(Duration::from_secs(3), hb.client.connect(addr))
                        .await
                        .map_err(|_| NetError::Connect { addr: gateway.clone(), detail: "no handshake within 3s".into() })??;
                    conn = Some(c.clone());
                    c
                }
            };
            // A gateway that was killed and restarted never closes the old connection: give up
            // on it after a few intervals (then reconnect) instead of waiting out a long timeout.
            let patience = hb.every.saturating_mul(3).clamp(Duration::from_secs(1), Duration::from_secs(5));
            let (resp, _) = kintsugi_net::call(&c, &req, None, patience).await?;
            kintsugi_net::check(resp)
        }
        .await;
        match result {
            Ok(resp) => {
                if failing {
                    failing = false;
                    tracing::info!(gateway, "heartbeats reach the gateway again");
                }
                let epoch = match resp {
                    Response::BeatAck { gateways, epoch } => {
                        if !gateways.is_empty() {
                            let _ = lists.send(gateways).await;
                        }
                        Some(epoch)
                    }
                    Response::HeartbeatAck { epoch } => Some(epoch),
                    _ => None,
                };
                if let (Some(r), Some(c), true) = (&hb.renewal, conn.as_ref(), renews) {
                    match r.renew_if_due(c).await {
                        Ok(false) => {}
                        Ok(true) => {
                            let until = r.live.expires().map(humantime_secs).unwrap_or_default();
                            tracing::info!(gateway, valid_until_unix = until, "certificate renewed");
                        }
                        Err(NetError::Remote { code, .. }) if code == kintsugi_net::codes::BAD_FRAME => renews = false,
                        Err(e) => tracing::warn!(gateway, error = %e, "could not renew the node's certificate; trying again at the next heartbeat"),
                    }
                }
                if asks && epoch.is_some() && epoch != removals_seen {
                    match ask_removed(&hb, conn.as_ref()).await {
                        Ok(()) => removals_seen = epoch,
                        Err(NetError::Remote { code, .. }) if code == kintsugi_net::codes::BAD_FRAME => asks = false,
                        Err(e) => tracing::debug!(gateway, error = %e, "could not ask for the removed nodes; asking again next time"),
                    }
                }
            }
            Err(NetError::Remote { code, message }) if code == kintsugi_net::codes::REVOKED => {
                conn = None;
                if !failing {
                    tracing::error!(gateway, message, "this node was removed from the cluster: the gateways refuse its certificate. Stop it; to serve again, start a new node with a new --name and an empty --state");
                }
                failing = true;
            }
            Err(NetError::Remote { code, .. }) if code == kintsugi_net::codes::BAD_FRAME && form != Form::Plain => {
                form = if form == Form::Beat { Form::NodeReport } else { Form::Plain };
                tracing::info!(gateway, ?form, "the gateway does not read this report; sending an older form");
                continue;
            }
            Err(e) => {
                conn = None;
                if !failing {
                    tracing::warn!(gateway, error = %e, "heartbeat failed; retrying every interval");
                }
                failing = true;
            }
        }
        tokio::select! {
            () = tokio::time::sleep(hb.every) => {}
            _ = added.changed() => {}
        }
    }
}
