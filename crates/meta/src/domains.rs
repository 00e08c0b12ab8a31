//! Failure domains of disks, and what a segment's placement survives in them.
//!
//! A disk's failure domain is its node's number in a cluster (from the node records, or
//! noted by the gateway when it registers the disk, before any shard can go there) and the
//! disk itself in the embedded store. A disk never changes domain, so what a segment's
//! placement survives can be counted at commit and uncounted at delete or move: the ledger
//! keeps, beside its totals, the segments whose placement survives fewer than m domain losses
//! with every placed shard healthy (two shards in one domain, or shards not placed), by how
//! many they fall short. [`RocksMeta::recount`] checks those counters too.

use std::collections::HashMap;

use kintsugi_placement::domain_losses_survived;

use crate::error::MetaResult;
use crate::store::RocksMeta;
use crate::types::{Coding, DiskId, NodeRecord, SegmentMeta, NO_DISK};

/// Disk → failure domain, for the disks of the node records and those noted since.
#[derive(Debug, Default)]
pub(crate) struct Domains(parking_lot::RwLock<HashMap<DiskId, u32>>);

impl Domains {
    fn of(&self, disk: DiskId) -> u32 {
        self.0.read().get(&disk).copied().unwrap_or(disk)
    }

    pub(crate) fn add_nodes(&self, nodes: &[NodeRecord]) {
        let mut map = self.0.write();
        for n in nodes {
            for d in &n.disks {
                map.insert(*d, n.number);
            }
        }
    }
}

/// The shortfall of a segment coded with `c` whose shards sit `per_domain` to a domain.
fn shortfall_of(c: &Coding, per_domain: &HashMap<u32, usize>) -> u8 {
    let counts: Vec<usize> = per_domain.values().copied().collect();
    match domain_losses_survived(&counts, usize::from(c.k)) {
        Some(n) => c.m.saturating_sub(u8::try_from(n).unwrap_or(u8::MAX)),
        None => c.m.saturating_add(1),
    }
}

impl RocksMeta {
    /// Record that `disk` is in failure domain `domain` (a node's number). The gateway calls
    /// this when it registers a disk, before placing anything on it.
    pub fn note_domain(&self, disk: DiskId, domain: u32) {
        self.domains.0.write().insert(disk, domain);
    }

    /// The failure domain of `disk`: its node's number, or the disk itself when it belongs
    /// to no node (the embedded store).
    pub fn domain_of(&self, disk: DiskId) -> u32 {
        self.domains.of(disk)
    }

    /// Load the domains of the disks in the node records.
    pub(crate) fn load_domains(&self) -> MetaResult<()> {
        self.domains.add_nodes(&self.nodes()?);
        Ok(())
    }

    /// Shards of `s` per failure domain, counting placed shards on disks for which `usable` holds.
    pub(crate) fn per_domain(&self, s: &SegmentMeta, usable: &dyn Fn(DiskId) -> bool) -> HashMap<u32, usize> {
        let mut per: HashMap<u32, usize> = HashMap::new();
        for l in s.shards.iter().filter(|l| l.disk != NO_DISK && usable(l.disk)) {
            *per.entry(self.domains.of(l.disk)).or_default() += 1;
        }
        per
    }

    /// How many failure domains segment `s` (coded with `c`) falls short of surviving `c.m`
    /// losses of, counting only placed shards on disks for which `usable` holds: 0 when it
    /// survives any m, `c.m + 1` when it cannot be read now (fewer than k such shards).
    pub fn shortfall(&self, c: &Coding, s: &SegmentMeta, usable: &dyn Fn(DiskId) -> bool) -> u8 {
        shortfall_of(c, &self.per_domain(s, usable))
    }

    /// The shortfall of the placement itself, with every placed shard healthy.
    pub fn placement_shortfall(&self, c: &Coding, s: &SegmentMeta) -> u8 {
        self.shortfall(c, s, &|_| true)
    }

    /// The placement's shards per domain and its shortfall, from one count.
    pub(crate) fn placement(&self, c: &Coding, s: &SegmentMeta) -> (HashMap<u32, usize>, u8) {
        let per = self.per_domain(s, &|_| true);
        let sf = shortfall_of(c, &per);
        (per, sf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ShardLoc;

    fn seg(disks: &[DiskId]) -> SegmentMeta {
        SegmentMeta { id: 1, len: 10, shards: disks.iter().map(|d| ShardLoc { disk: *d, hash: [0; 32] }).collect() }
    }

    #[test]
    fn shortfall_counts_domains_not_shards() {
        let dir = tempfile::tempdir().expect("tempdir");
        let meta = RocksMeta::open(dir.path(), 0).expect("open");
        let c = Coding { codec: 1, k: 4, m: 2, chunk_size: 65536 };
        // The embedded store: every disk is its own domain.
        assert_eq!(meta.placement_shortfall(&c, &seg(&[1, 2, 3, 4, 5, 6])), 0);
        assert_eq!(meta.placement_shortfall(&c, &seg(&[1, 2, 3, 4, 1, 2])), 1, "two disks hold two shards each");
        assert_eq!(meta.placement_shortfall(&c, &seg(&[1, 2, 3, 4, 5, NO_DISK])), 1, "one shard not placed");
        assert_eq!(meta.placement_shortfall(&c, &seg(&[1, 2, 3, 4, NO_DISK, NO_DISK])), 2);
        assert_eq!(meta.shortfall(&c, &seg(&[1, 2, 3, 4, 5, 6]), &|d| d > 3), 3, "three shards left: unreadable now");
        // Disks 1 and 2 on node 7: one node loss costs two shards.
        meta.note_domain(1, 7);
        meta.note_domain(2, 7);
        assert_eq!(meta.domain_of(1), 7);
        assert_eq!(meta.domain_of(3), 3);
        assert_eq!(meta.placement_shortfall(&c, &seg(&[1, 2, 3, 4, 5, 6])), 1);
        assert_eq!(meta.shortfall(&c, &seg(&[1, 2, 3, 4, 5, 6]), &|d| d != 3), 2);
    }
}
