//! Capacity changes by an admin: a disk added to a running node (or to the
//! embedded store), and disks or nodes removed from the cluster map once nothing committed is on them
//! (drained to `decommissioned`, or dead and rebuilt elsewhere by repair).
//! A removed disk's uuid is never registered again; if its directory is wiped
//! and reused, the node formats it with a new uuid and it joins as a new disk.

use std::sync::Arc;
use std::time::{Duration, Instant};

use std::path::PathBuf;

use kintsugi_disk::{DirState, Disk, DiskError};
use kintsugi_meta::{DiskId, DiskLifecycle, DiskRecord};
use kintsugi_storage::LocalShards;
use serde::Serialize;

use crate::map::ClusterMap;
use crate::map_state::NodeState;
use crate::error::{ClusterError, ClusterResult};
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

fn cluster<'a>(map: Option<&'a Arc<ClusterMap>>, what: &str) -> ClusterResult<&'a Arc<ClusterMap>> {
    map.ok_or_else(|| {
        ClusterError::Refused(format!(
            "this is an embedded server: {what} applies to a cluster. Here, stop the server and start it with the --data directories you want (a decommissioned disk holds no shard)"
        ))
    })
}

/// Embedded store: format an empty directory as a new disk, register it and use it at once.
/// A registered disk whose directory was swapped for an empty one is failed; its directory
/// is taken as a new disk (with a new id) and the old one can then be removed.
async fn add_local_disk(store: &Arc<Store>, node: &str, path: &str) -> ClusterResult<AddReport> {
    if node != "local" {
        return Err(ClusterError::InvalidArgument(format!("this is an embedded server: its only node is \"local\", not {node}")));
    }
    let dir = PathBuf::from(path);
    if !dir.is_absolute() {
        return Err(ClusterError::InvalidArgument(format!("{path} is not an absolute path")));
    }
    let in_use: Vec<(DiskId, bool)> = store.all_disks().iter().filter(|d| d.info().path == path).map(|d| (d.id(), d.usable())).collect();
    if let Some((id, _)) = in_use.iter().find(|(_, ok)| *ok) {
        return Err(ClusterError::Refused(format!("{path} is already disk {id}")));
    }
    let p = path.to_owned();
    let (id, uuid, disk) = store
        .meta_call_with(move |m| {
            let refuse = |why: String| Err(ClusterError::Refused(format!("{p}: {why}")));
            let meta_dir = m.path().to_path_buf();
            if meta_dir.starts_with(&dir) || dir.starts_with(&meta_dir) {
                return refuse(format!("overlaps the metadata directory {}", meta_dir.display()));
            }
            let state = match Disk::inspect(&dir) {
                Ok(s) => s,
                Err(DiskError::Invalid { detail }) => return Err(ClusterError::Refused(detail)),
                Err(e) => return Err(ClusterError::Disk(e)),
            };
            if let DirState::Formatted { uuid, .. } = state {
                if let Some(r) = m.disks()?.iter().find(|r| r.uuid == uuid) {
                    return refuse(format!("is already disk {}", r.id));
                }
                return refuse("holds a Kintsugi disk (one removed from this store, or another store's); empty the directory to use it".into());
            }
            let mut records = m.disks()?;
            let retired = m.retired_disks()?;
            let id = records.iter().chain(retired.iter()).map(|r| r.id).max().unwrap_or(0) + 1;
            let disk = Disk::format_new(&dir, id).map_err(ClusterError::Disk)?;
            let uuid = disk.uuid();
            // A failed disk registered at this path keeps its record (its shards are rebuilt
            // elsewhere; `admin disk remove` drops it); the new one is listed first for the path.
            records.insert(0, DiskRecord { id, uuid, path: p.clone() });
            m.put_disks(&records)?;
            Ok((id, uuid, disk))
        })
        .await?;
    let disk = Arc::new(disk);
    store.add_disk(Arc::new(LocalShards::new(disk, "local", id)));
    tracing::warn!(disk = id, path, "disk added while running; it takes new shards now");
    Ok(AddReport { node: "local".into(), path: path.to_owned(), disk: id, uuid: format!("{uuid:032x}") })
}

/// Why `disk` may not leave the map yet, if it may not.
fn blocker(store: &Store, disk: DiskId) -> ClusterResult<Option<String>> {
    let d = store.disk(disk).map_err(|_| ClusterError::InvalidArgument(format!("no disk {disk} (see `kintsugi admin disk list`)")))?;
    let decommissioned = store.drains.read().get(&disk).is_some_and(|r| r.state == DiskLifecycle::Decommissioned);
    Ok(if decommissioned || d.lost() {
        None
    } else if store.out_of_service(disk) {
        Some(format!("disk {disk} is still draining; wait for it to be decommissioned (`kintsugi admin disk drain {disk} --wait`)"))
    } else {
        Some(format!("disk {disk} is in service; drain it first (`kintsugi admin disk drain {disk} --wait`)"))
    })
}

/// Remove decommissioned or dead, empty disks from the cluster map (or the embedded store's registry).
pub async fn remove_disks(store: &Arc<Store>, map: Option<&Arc<ClusterMap>>, disks: &[DiskId]) -> ClusterResult<RemoveReport> {
    for d in disks {
        if let Some(why) = blocker(store, *d)? {
            return Err(ClusterError::Refused(why));
        }
    }
    let ids = disks.to_vec();
    let gone = store.meta_call(move |m| m.retire_disks(&ids, &[])).await?;
    for d in disks {
        store.remove_disk(*d);
    }
    if let Some(map) = map {
        map.forget(&gone, None).await;
    }
    tracing::warn!(?disks, "disks removed from the cluster map");
    Ok(RemoveReport { node: None, disks: disks.to_vec() })
}

/// Remove a stopped node whose disks are all decommissioned (or dead and rebuilt elsewhere).
pub async fn remove_node(store: &Arc<Store>, map: Option<&Arc<ClusterMap>>, node: &str) -> ClusterResult<RemoveReport> {
    let map = cluster(map, "removing a node")?;
    match map.node_state(node).await {
        None => return Err(ClusterError::InvalidArgument(format!("no node {node} in the cluster map (see `kintsugi admin status`)"))),
        Some(NodeState::Up) => {
            return Err(ClusterError::Refused(format!(
                "node {node} is up; stop its `kintsugi storage` process first (drain it before: `kintsugi admin node drain {node} --wait`)"
            )))
        }
        Some(_) => {}
    }
    let disks = store.node_disks(node);
    for d in &disks {
        if let Some(why) = blocker(store, *d)? {
            return Err(ClusterError::Refused(format!("node {node} cannot be removed: {why}")));
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
/// registered it: it takes new writes from then on. In the embedded store the
/// disk is formatted and registered here (`node` must be "local").
pub async fn add_disk(store: &Arc<Store>, map: Option<&Arc<ClusterMap>>, node: &str, path: &str) -> ClusterResult<AddReport> {
    let Some(map) = map else { return add_local_disk(store, node, path).await };
    let uuid = map.add_disk(node, path).await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(d) = store.all_disks().iter().find(|d| d.info().node == node && d.info().path == path && d.usable()) {
            return Ok(AddReport { node: node.to_owned(), path: path.to_owned(), disk: d.id(), uuid: format!("{uuid:032x}") });
        }
        if Instant::now() >= deadline {
            return Err(ClusterError::Internal(format!(
                "node {node} opened {path} (uuid {uuid:032x}) but its heartbeat has not registered it within 10 s; check `kintsugi admin disk list` shortly"
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
