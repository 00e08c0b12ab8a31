//! The cluster map's persisted part: the storage nodes (with the disk registry) and the
//! map's epoch, a counter that grows by one with every change of the map — a node or disk
//! registered or removed, and, through [`crate::Command::MapChanged`], changes the records do
//! not show (node states, zone labels, a gateway restart). Being stored, the epoch never goes
//! back when a gateway restarts; being changed only by commands, it is the same on every
//! replica of the metadata.

use rocksdb::WriteBatch;

use crate::error::MetaResult;
use crate::store::{RocksMeta, CF_SYSTEM, KEY_DISKS, KEY_MAP_EPOCH, KEY_NODES};
use crate::types::{encode, DiskRecord, NodeRecord};

impl RocksMeta {
    /// The storage nodes of the cluster map.
    pub fn nodes(&self) -> MetaResult<Vec<NodeRecord>> {
        Ok(self.get(CF_SYSTEM, "nodes", KEY_NODES)?.unwrap_or_default())
    }

    /// The cluster-map epoch (0 before the map's first change).
    pub fn map_epoch(&self) -> MetaResult<u64> {
        Ok(self.get(CF_SYSTEM, "map epoch", KEY_MAP_EPOCH)?.unwrap_or(0))
    }

    /// Put the next epoch into `b`; the caller holds `epoch_lock` until `b` is written.
    pub(crate) fn batch_next_epoch(&self, b: &mut WriteBatch) -> MetaResult<u64> {
        let next = self.map_epoch()?.saturating_add(1);
        b.put_cf(self.cf(CF_SYSTEM)?, KEY_MAP_EPOCH, encode(&next)?);
        Ok(next)
    }

    pub(crate) fn apply_put_cluster(&self, nodes: &[NodeRecord], disks: &[DiskRecord]) -> MetaResult<()> {
        let _e = self.epoch_lock.lock();
        let mut b = WriteBatch::default();
        b.put_cf(self.cf(CF_SYSTEM)?, KEY_NODES, encode(&nodes.to_vec())?);
        b.put_cf(self.cf(CF_SYSTEM)?, KEY_DISKS, encode(&disks.to_vec())?);
        self.batch_next_epoch(&mut b)?;
        self.write(b)?;
        self.domains.add_nodes(nodes);
        Ok(())
    }

    pub(crate) fn apply_map_changed(&self) -> MetaResult<u64> {
        let _e = self.epoch_lock.lock();
        let mut b = WriteBatch::default();
        let next = self.batch_next_epoch(&mut b)?;
        self.write(b)?;
        Ok(next)
    }
}
