//! A storage node's heartbeats: a report every interval to *every* gateway of the cluster,
//! so that each gateway knows which nodes are up and one gateway's death makes no node look
//! down. The node starts from the gateway of its join token (or the list it kept); gateways
//! answer a `Beat` with the gateways of their group (`BeatAck`), and the node follows that
//! list — a heartbeat loop per gateway — and keeps it in its state directory so a restart
//! reaches them all.
//!
//! Older gateways do not read `Beat`: the node falls back to `NodeReport`, and to the plain
//! `Heartbeat` before that.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kintsugi_net::{Client, NetError, NetResult};
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
}

/// Read the gateway list a node kept (one `host:port` per line; a node from before gateway
/// groups wrote one address).
pub fn read_gateways(file: &std::path::Path) -> std::io::Result<Vec<String>> {
    Ok(std::fs::read_to_string(file)?.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect())
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
            let text: String = list.iter().map(|g| format!("{g}\n")).collect();
            if let Err(e) = crate::node::write_durably(f, text.as_bytes()) {
                tracing::warn!(file = %f.display(), error = %e, "could not keep the gateway list");
            }
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

/// Heartbeats to one gateway, every interval (and at once when a disk is added).
async fn beat(hb: Heartbeats, gateway: String, lists: mpsc::Sender<Vec<String>>) {
    let mut conn: Option<quinn::Connection> = None;
    let mut failing = false;
    let mut form = Form::Beat;
    let mut added = hb.disks.subscribe();
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
                if let Response::BeatAck { gateways, .. } = resp {
                    if !gateways.is_empty() {
                        let _ = lists.send(gateways).await;
                    }
                }
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
