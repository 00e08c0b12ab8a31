//! Capacity changes by an admin: a disk added to a running node, and disks or
//! nodes removed from the cluster map once nothing committed is on them
//! (drained to `decommissioned`, or dead and rebuilt elsewhere by repair).
//! A removed disk's uuid is never registered again; if its directory is wiped
//! and reused, the node formats it with a new uuid and it joins as a new disk.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kintsugi_meta::{DiskId, DiskLifecycle};
use serde::Serialize;

use crate::cluster::{ClusterMap, NodeState};
use crate::error::{GatewayError, GwResult};
use crate::store::Store;

/// Answer of `POST /kintsugi-admin/v1/disk/remove` and `/node/remove`.
#[derive(Debug, Clone, Serialize)]
pub struct RemoveReport {
    /// The node removed, if a whole node was.
    pub node: Option<String>,
    /// Disk ids removed from the cluster map.
    pub disks: Vec<DiskId>,
}

/// Answer of `POST /kintsugi-admin/v1/disk/add`.
#[derive(Debug, Clone, Serialize)]
pub struct AddReport {
    /// Node.
    pub node: String,
    /// Directory on the node.
    pub path: String,
    /// Cluster-wide disk id it was registered with.
    pub disk: DiskId,
    /// Its uuid (hex).
    pub uuid: String,
}

fn cluster(store: &Store, what: &str) -> GwResult<Arc<ClusterMap>> {
    store.cluster.get().cloned().ok_or_else(|| {
        GatewayError::Refused(format!(
            "this is an embedded server: {what} applies to a cluster. Here, stop the server and start it with the --data directories you want (a decommissioned disk holds no shard)"
        ))
    })
}

/// Why `disk` may not leave the map yet, if it may not.
fn blocker(store: &Store, disk: DiskId) -> GwResult<Option<String>> {
    let d = store.disk(disk).map_err(|_| GatewayError::InvalidArgument(format!("no disk {disk} (see `kintsugi admin disk list`)")))?;
    let decommissioned = store.drains.read().get(&disk).is_some_and(|r| r.state == DiskLifecycle::Decommissioned);
    Ok(if decommissioned || d.lost() {
        None
    } else if store.out_of_service(disk) {
        Some(format!("disk {disk} is still draining; wait for it to be decommissioned (`kintsugi admin disk drain {disk} --wait`)"))
    } else {
        Some(format!("disk {disk} is in service; drain it first (`kintsugi admin disk drain {disk} --wait`)"))
    })
}

/// Remove decommissioned or dead, empty disks from the cluster map.
pub async fn remove_disks(store: &Arc<Store>, disks: &[DiskId]) -> GwResult<RemoveReport> {
    let map = cluster(store, "removing a disk")?;
    for d in disks {
        if let Some(why) = blocker(store, *d)? {
            return Err(GatewayError::Refused(why));
        }
    }
    let ids = disks.to_vec();
    let gone = store.meta_call(move |m| m.retire_disks(&ids, &[])).await?;
    for d in disks {
        store.remove_disk(*d);
    }
    map.forget(&gone, None).await;
    tracing::warn!(?disks, "disks removed from the cluster map");
    Ok(RemoveReport { node: None, disks: disks.to_vec() })
}

/// Remove a stopped node whose disks are all decommissioned (or dead and rebuilt elsewhere).
pub async fn remove_node(store: &Arc<Store>, node: &str) -> GwResult<RemoveReport> {
    let map = cluster(store, "removing a node")?;
    match map.node_state(node).await {
        None => return Err(GatewayError::InvalidArgument(format!("no node {node} in the cluster map (see `kintsugi admin status`)"))),
        Some(NodeState::Up) => {
            return Err(GatewayError::Refused(format!(
                "node {node} is up; stop its `kintsugi storage` process first (drain it before: `kintsugi admin node drain {node} --wait`)"
            )))
        }
        Some(_) => {}
    }
    let disks = store.node_disks(node);
    for d in &disks {
        if let Some(why) = blocker(store, *d)? {
            return Err(GatewayError::Refused(format!("node {node} cannot be removed: {why}")));
        }
    }
    let (ids, names) = (disks.clone(), vec![node.to_owned()]);
    let gone = store.meta_call(move |m| m.retire_disks(&ids, &names)).await?;
    for d in &disks {
        store.remove_disk(*d);
    }
    map.forget(&gone, Some(node)).await;
    tracing::warn!(node, ?disks, "node removed from the cluster map");
    Ok(RemoveReport { node: Some(node.to_owned()), disks })
}

/// Ask `node` to open `path` as a new disk and wait until the gateway has
/// registered it: it takes new writes from then on.
pub async fn add_disk(store: &Arc<Store>, node: &str, path: &str) -> GwResult<AddReport> {
    let map = cluster(store, "adding a disk to a running node")?;
    let uuid = map.add_disk(node, path).await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(d) = store.all_disks().iter().find(|d| d.info().node == node && d.info().path == path && d.usable()) {
            return Ok(AddReport { node: node.to_owned(), path: path.to_owned(), disk: d.id(), uuid: format!("{uuid:032x}") });
        }
        if Instant::now() >= deadline {
            return Err(GatewayError::Internal(format!(
                "node {node} opened {path} (uuid {uuid:032x}) but its heartbeat has not registered it within 10 s; check `kintsugi admin disk list` shortly"
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
