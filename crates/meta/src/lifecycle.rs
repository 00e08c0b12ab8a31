//! The lifecycle of disks in the metadata store: drain records, disks
//! retired from the cluster map, the running rebalance, and a visitor over
//! every committed segment (for recounts).

use rocksdb::WriteBatch;

use crate::error::{MetaError, MetaResult};
use crate::store::{RocksMeta, CF_GARBAGE, CF_INTENTS, CF_OBJECTS, CF_PARTS, CF_SYSTEM, KEY_DISKS, KEY_DRAINS, KEY_NODES, KEY_REBALANCE, KEY_REMOVED_NODES, KEY_RETIRED};
use crate::types::{decode, decode_part, encode, Coding, DiskId, DiskRecord, DrainRecord, DrainRecordV1, GarbageRecord, IntentRecord, Manifest, NodeRecord, PartRecord, RebalanceRecord, SegmentId, SegmentMeta};

impl RocksMeta {
    /// Disks being drained or decommissioned.
    pub fn drains(&self) -> MetaResult<Vec<DrainRecord>> {
        let Some(raw) = self.get_raw(CF_SYSTEM, KEY_DRAINS)? else { return Ok(Vec::new()) };
        match decode::<Vec<DrainRecord>>("drains", &raw) {
            Ok(v) => Ok(v),
            // Records written before drains counted bytes: progress in bytes starts unknown (0).
            Err(e) => match decode::<Vec<DrainRecordV1>>("drains", &raw) {
                Ok(old) => Ok(old
                    .into_iter()
                    .map(|r| DrainRecord { disk: r.disk, state: r.state, started_ms: r.started_ms, shards_at_start: r.shards_at_start, bytes_at_start: 0 })
                    .collect()),
                Err(_) => Err(e),
            },
        }
    }

    pub(crate) fn apply_put_drains(&self, drains: &[DrainRecord]) -> MetaResult<()> {
        let mut b = WriteBatch::default();
        b.put_cf(self.cf(CF_SYSTEM)?, KEY_DRAINS, encode(&drains.to_vec())?);
        self.write(b)
    }

    /// The rebalance that is running, if any.
    pub fn rebalance_record(&self) -> MetaResult<Option<RebalanceRecord>> {
        self.get(CF_SYSTEM, "rebalance", KEY_REBALANCE)
    }

    pub(crate) fn apply_put_rebalance(&self, rec: Option<&RebalanceRecord>) -> MetaResult<()> {
        let mut b = WriteBatch::default();
        match rec {
            Some(r) => b.put_cf(self.cf(CF_SYSTEM)?, KEY_REBALANCE, encode(r)?),
            None => b.delete_cf(self.cf(CF_SYSTEM)?, KEY_REBALANCE),
        }
        self.write(b)
    }

    /// Disks removed from the cluster map: their uuids are never registered again
    /// and their ids never reused.
    pub fn retired_disks(&self) -> MetaResult<Vec<DiskRecord>> {
        Ok(self.get(CF_SYSTEM, "retired disks", KEY_RETIRED)?.unwrap_or_default())
    }

    /// Names of the storage nodes removed from the cluster (`admin node remove`), in the
    /// order they went: their certificates are refused by every member and the names are
    /// never admitted again. Removals made before this list existed are not in it.
    pub fn removed_nodes(&self) -> MetaResult<Vec<String>> {
        Ok(self.get(CF_SYSTEM, "removed nodes", KEY_REMOVED_NODES)?.unwrap_or_default())
    }

    pub(crate) fn apply_retire_disks(&self, disks: &[DiskId], nodes: &[String]) -> MetaResult<Vec<DiskRecord>> {
        for d in disks {
            let n = self.count_indexed(*d)?;
            if n > 0 {
                return Err(MetaError::DiskInUse { disk: *d, shards: n });
            }
        }
        let _e = self.epoch_lock.lock();
        let mut b = WriteBatch::default();
        let sys = self.cf(CF_SYSTEM)?;
        self.batch_next_epoch(&mut b)?;
        let registry = self.disks()?;
        let (gone, kept): (Vec<DiskRecord>, Vec<DiskRecord>) = registry.into_iter().partition(|r| disks.contains(&r.id));
        let mut retired = self.retired_disks()?;
        retired.extend(gone.iter().cloned());
        let node_recs: Vec<NodeRecord> = self
            .nodes()?
            .into_iter()
            .filter(|n| !nodes.contains(&n.name))
            .map(|mut n| {
                n.disks.retain(|d| !disks.contains(d));
                n
            })
            .collect();
        let drains: Vec<DrainRecord> = self.drains()?.into_iter().filter(|r| !disks.contains(&r.disk)).collect();
        b.put_cf(sys, KEY_DISKS, encode(&kept)?);
        b.put_cf(sys, KEY_NODES, encode(&node_recs)?);
        b.put_cf(sys, KEY_DRAINS, encode(&drains)?);
        b.put_cf(sys, KEY_RETIRED, encode(&retired)?);
        if !nodes.is_empty() {
            let mut removed = self.removed_nodes()?;
            for n in nodes {
                if !removed.contains(n) {
                    removed.push(n.clone());
                }
            }
            b.put_cf(sys, KEY_REMOVED_NODES, encode(&removed)?);
        }
        self.batch_forget_counters(&mut b, disks)?;
        self.batch_forget_disks::<GarbageRecord>(&mut b, CF_GARBAGE, "garbage", disks, |r| &mut r.shards)?;
        self.batch_forget_disks::<IntentRecord>(&mut b, CF_INTENTS, "intent", disks, |r| &mut r.shards)?;
        self.write(b)?;
        Ok(gone)
    }

    /// Drop the (index, disk) pairs on `disks` from every record of `cf`; records left empty go.
    /// A record that names no shard at all (an inline segment's: its bytes are in the
    /// metadata) is not about disks and stays.
    fn batch_forget_disks<R: serde::Serialize + serde::de::DeserializeOwned>(
        &self,
        b: &mut WriteBatch,
        cf: &'static str,
        what: &'static str,
        disks: &[DiskId],
        shards: impl Fn(&mut R) -> &mut Vec<(u8, DiskId)>,
    ) -> MetaResult<()> {
        let handle = self.cf(cf)?;
        self.scan_prefix(cf, &[], &[], |k, v| {
            let mut rec: R = decode(what, v)?;
            let list = shards(&mut rec);
            let before = list.len();
            if before == 0 {
                return Ok(true);
            }
            list.retain(|(_, d)| !disks.contains(d));
            if list.is_empty() {
                b.delete_cf(handle, k);
            } else if list.len() != before {
                b.put_cf(handle, k, encode(&rec)?);
            }
            Ok(true)
        })
    }

    /// Visit every committed segment stored as shards (of objects, their archived versions
    /// and uploaded parts) with its coding: a full scan, for recounts. Inline segments are
    /// not visited.
    pub fn visit_segments(&self, mut f: impl FnMut(&Coding, &SegmentMeta)) -> MetaResult<()> {
        self.visit_all_segments(|c, s| {
            if !s.is_inline() {
                f(c, s);
            }
        })
    }

    /// [`RocksMeta::visit_segments`], inline segments included.
    pub(crate) fn visit_all_segments(&self, mut f: impl FnMut(&Coding, &SegmentMeta)) -> MetaResult<()> {
        self.scan_prefix(CF_OBJECTS, &[], &[], |_, v| {
            let m: Manifest = decode("manifest", v)?;
            for s in &m.segments {
                f(&m.coding, s);
            }
            Ok(true)
        })?;
        self.visit_archived(|m| {
            for s in &m.segments {
                f(&m.coding, s);
            }
        })?;
        self.scan_prefix(CF_PARTS, &[], &[], |_, v| {
            let p: PartRecord = decode_part(v)?;
            for s in &p.segments {
                f(&p.coding, s);
            }
            Ok(true)
        })
    }

    /// Segments (of objects and uploaded parts) with more than `cap` placed shards in one
    /// failure domain.
    pub fn segments_over_domain_cap(&self, cap: usize) -> MetaResult<Vec<SegmentId>> {
        let mut out = Vec::new();
        self.visit_segments(|_, s| {
            if self.per_domain(s, &|_| true).values().any(|n| *n > cap) {
                out.push(s.id);
            }
        })?;
        Ok(out)
    }

}
