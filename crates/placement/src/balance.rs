//! Rebalance planning: what share of the committed shard bytes each disk in
//! service should hold, and which disk takes a shard moved off a fuller one.
//! Pure: the cluster crate gathers disks and usage and runs the moves.

use std::collections::HashMap;

/// A disk in service, as rebalance weighs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Weighted {
    /// Disk id.
    pub disk: u32,
    /// Failure domain: a node in a cluster, the disk itself in the embedded store.
    pub domain: u32,
    /// Zone label, if any.
    pub zone: Option<u32>,
    /// Capacity (any unit, the same for all disks).
    pub weight: u64,
}

/// One disk's share of the committed shard bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Share {
    /// The disk.
    pub disk: Weighted,
    /// Committed shard bytes on it now.
    pub bytes: u64,
    /// The bytes it should hold.
    pub target_bytes: u64,
    /// (bytes − target) / target, in percent (0 for a target under one byte).
    pub deviation_pct: f64,
}

impl Share {
    /// Bytes over target bytes after adding `delta` (may be negative).
    fn fill_after(&self, delta: i128) -> f64 {
        let b = (i128::from(self.bytes) + delta).max(0) as f64;
        b / self.target_bytes.max(1) as f64
    }
}

/// The share of every disk in `disks` given the bytes each holds (`usage`; absent means 0),
/// for segments of `width` = k+m shards.
///
/// A failure domain holds at most one shard of each segment (while there are at least `width`
/// domains; an even part of the segment when there are fewer, see [`crate::domain_cap`]), so
/// it can hold at most that part of all shard bytes: domain shares are filled by capacity up to that cap (water-filling, the
/// rest going to the other domains), then split among the domain's disks by capacity. These
/// are the shares placement allows, so they can be reached. A disk of weight 0 is given
/// weight 1 together with every other disk (capacity unknown: equal shares).
pub fn shares(disks: &[Weighted], usage: &HashMap<u32, u64>, width: usize) -> Vec<Share> {
    let unknown = disks.iter().any(|d| d.weight == 0);
    let weight = |d: &Weighted| if unknown { 1 } else { d.weight };
    let total: u64 = disks.iter().map(|e| usage.get(&e.disk).copied().unwrap_or(0)).sum();
    let mut domains: Vec<(u32, f64)> = Vec::new();
    for e in disks {
        match domains.iter_mut().find(|(x, _)| *x == e.domain) {
            Some(d) => d.1 += weight(e) as f64,
            None => domains.push((e.domain, weight(e) as f64)),
        }
    }
    // The most of each segment one domain may hold (see `domain_cap`): one shard while there
    // are at least `width` domains, an even part of the segment when there are fewer.
    let per_segment = crate::domain_cap(width.max(1), domains.len()).max(1);
    let cap = total as f64 * per_segment as f64 / width.max(1) as f64;
    let mut share: HashMap<u32, f64> = HashMap::new();
    let mut left = total as f64;
    loop {
        let open: Vec<(u32, f64)> = domains.iter().copied().filter(|(d, _)| !share.contains_key(d)).collect();
        let open_weight: f64 = open.iter().map(|(_, w)| *w).sum();
        if open.is_empty() || open_weight <= 0.0 {
            break;
        }
        let over: Vec<u32> = open.iter().filter(|(_, w)| left * w / open_weight > cap).map(|(d, _)| *d).collect();
        if over.is_empty() {
            for (d, w) in open {
                share.insert(d, left * w / open_weight);
            }
            break;
        }
        for d in over {
            share.insert(d, cap);
            left -= cap;
        }
    }
    disks
        .iter()
        .map(|e| {
            let bytes = usage.get(&e.disk).copied().unwrap_or(0);
            let domain_w = domains.iter().find(|(d, _)| *d == e.domain).map_or(1.0, |(_, x)| *x);
            let target = share.get(&e.domain).copied().unwrap_or(0.0) * (weight(e) as f64) / domain_w.max(1.0);
            let deviation_pct = if target < 1.0 { 0.0 } else { (bytes as f64 - target) / target * 100.0 };
            Share { disk: *e, bytes, target_bytes: target.round() as u64, deviation_pct }
        })
        .collect()
}

/// The largest |deviation| among `shares`, percent.
pub fn max_deviation(shares: &[Share]) -> f64 {
    shares.iter().map(|d| d.deviation_pct.abs()).fold(0.0, f64::max)
}

/// Where one of a segment's other shards sits (for [`pick_target`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Holder {
    /// Its disk.
    pub disk: u32,
    /// The disk's failure domain, when the disk is known.
    pub domain: Option<u32>,
    /// The disk's zone, if labelled.
    pub zone: Option<u32>,
}

/// A target for a shard of `size` bytes moved off `src` (a disk among `shares`), whose
/// segment's other shards sit on `others`: the disk with the lowest fill (bytes over target)
/// that
/// - is not `src` and holds no shard of the segment,
/// - is in a failure domain holding fewer than `cap` other shards of the segment (the
///   domain cap, [`crate::domain_cap`]: 1 whenever there are at least k+m domains),
/// - is in a zone holding no more of the segment's other shards than `src`'s zone, and
/// - stays no fuller, relative to its target, than `src` will be after the move (so every
///   move lowers the spread of fills, and a rebalance ends).
///
/// `None` when no disk qualifies.
pub fn pick_target(shares: &[Share], src: u32, size: u64, others: &[Holder], cap: usize) -> Option<u32> {
    let src_share = shares.iter().find(|d| d.disk.disk == src)?;
    let zone_count = |z: Option<u32>| z.map_or(0, |z| others.iter().filter(|h| h.zone == Some(z)).count());
    let src_zone_load = zone_count(src_share.disk.zone);
    let size = i128::from(size);
    let after_s = src_share.fill_after(-size);
    let mut best: Option<(f64, u32)> = None;
    for t in shares {
        let d = t.disk;
        if d.disk == src || others.iter().any(|h| h.disk == d.disk) {
            continue;
        }
        if others.iter().filter(|h| h.domain == Some(d.domain)).count() >= cap || zone_count(d.zone) > src_zone_load {
            continue;
        }
        if t.fill_after(size) > after_s {
            continue;
        }
        let fill = t.fill_after(0);
        if best.is_none_or(|(f, _)| fill < f) {
            best = Some((fill, d.disk));
        }
    }
    best.map(|(_, d)| d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn disks(layout: &[usize]) -> Vec<Weighted> {
        let mut out = Vec::new();
        for (n, count) in layout.iter().enumerate() {
            for _ in 0..*count {
                out.push(Weighted { disk: out.len() as u32 + 1, domain: n as u32, zone: None, weight: 100 });
            }
        }
        out
    }

    fn target(sh: &[Share], disk: u32) -> u64 {
        sh.iter().find(|s| s.disk.disk == disk).map_or(0, |s| s.target_bytes)
    }

    #[test]
    fn shares_follow_capacity_but_no_node_gets_more_than_one_shard_per_segment() {
        // 7 nodes, n1 and n2 with a second (empty) disk, 4+2: by capacity n1 would get 2/9 of the
        // bytes, but it can hold only 1/6; the rest is spread over the others.
        let d = disks(&[2, 2, 1, 1, 1, 1, 1]);
        let used: HashMap<u32, u64> = d.iter().map(|e| (e.disk, if e.disk == 2 || e.disk == 4 { 0 } else { 6000 })).collect();
        let total = 7 * 6000u64;
        let sh = shares(&d, &used, 6);
        assert_eq!(target(&sh, 1) + target(&sh, 2), total / 6);
        assert_eq!(target(&sh, 1), target(&sh, 2));
        assert_eq!(target(&sh, 5), total * 2 / 15);
        assert_eq!(sh.iter().map(|s| s.target_bytes).sum::<u64>(), total);
        assert!((sh[1].deviation_pct + 100.0).abs() < 1e-9, "the empty disk is 100% under its share");
        assert!(max_deviation(&sh) >= 100.0);
    }

    #[test]
    fn equal_disks_on_enough_nodes_get_equal_shares() {
        let d = disks(&[1; 8]);
        let used: HashMap<u32, u64> = d.iter().map(|e| (e.disk, 800)).collect();
        let sh = shares(&d, &used, 6);
        assert!(sh.iter().all(|s| s.target_bytes == 800 && s.deviation_pct == 0.0));
        assert_eq!(max_deviation(&sh), 0.0);
    }

    #[test]
    fn in_the_embedded_store_each_disk_is_its_own_domain() {
        // Six local disks plus two new ones, each its own failure domain.
        let d: Vec<Weighted> = (1..=8).map(|i| Weighted { disk: i, domain: i, zone: None, weight: 100 }).collect();
        let used: HashMap<u32, u64> = d.iter().map(|e| (e.disk, if e.disk > 6 { 0 } else { 8000 })).collect();
        let sh = shares(&d, &used, 6);
        assert!(sh.iter().all(|s| s.target_bytes == 6000), "{sh:?}");
    }

    #[test]
    fn fewer_nodes_than_shards_share_the_whole_total() {
        // 3 nodes × 2 disks, 4+2: each node holds 2 shards of every segment, so a third of the
        // bytes; the targets add up to everything stored, and equal disks are balanced.
        let d = disks(&[2, 2, 2]);
        let used: HashMap<u32, u64> = d.iter().map(|e| (e.disk, 1000)).collect();
        let sh = shares(&d, &used, 6);
        assert_eq!(sh.iter().map(|s| s.target_bytes).sum::<u64>(), 6000, "{sh:?}");
        assert_eq!(max_deviation(&sh), 0.0, "{sh:?}");
    }

    #[test]
    fn unknown_capacity_means_equal_weights() {
        let mut d = disks(&[1; 6]);
        d[0].weight = 0;
        d[1].weight = 1_000_000;
        let used: HashMap<u32, u64> = d.iter().map(|e| (e.disk, 600)).collect();
        assert!(shares(&d, &used, 6).iter().all(|s| s.target_bytes == 600));
    }

    #[test]
    fn a_target_breaks_no_placement_rule() {
        // 8 nodes, one disk each; the segment's other shards on disks 2..=6 (nodes 1..=5).
        let d = disks(&[1; 8]);
        let mut used: HashMap<u32, u64> = d.iter().map(|e| (e.disk, 1000)).collect();
        used.insert(1, 4000); // the source, far over its share
        used.insert(7, 0);
        used.insert(8, 100);
        let sh = shares(&d, &used, 6);
        let others: Vec<Holder> = (2..=6).map(|disk| Holder { disk, domain: Some(disk - 1), zone: None }).collect();
        assert_eq!(pick_target(&sh, 1, 500, &others, 1), Some(7), "the emptiest free domain");
        // Disk 7's node now holds another shard of the segment: disk 8 instead.
        let mut crowded = others.clone();
        crowded.push(Holder { disk: 99, domain: Some(6), zone: None });
        assert_eq!(pick_target(&sh, 1, 500, &crowded, 1), Some(8));
        // A move that would leave the target fuller than the source is no move.
        assert_eq!(pick_target(&sh, 1, 3900, &others, 1), None);
        // With fewer nodes than shards (cap 2), a domain holding one other shard may take it.
        assert_eq!(pick_target(&sh, 1, 500, &crowded, 2), Some(7));
        // An unknown source gives nothing.
        assert_eq!(pick_target(&sh, 42, 1, &others, 1), None);
    }

    #[test]
    fn a_target_never_crowds_a_zone_more_than_the_source_zone() {
        // Zones: disks 1..=4 in zone 0, 5..=8 in zone 1. Source disk 1 (zone 0); others hold
        // one shard in zone 0 and two in zone 1: zone 1 is more loaded, so only zone 0 qualifies.
        let mut d = disks(&[1; 8]);
        for w in &mut d {
            w.zone = Some(u32::from(w.disk > 4));
        }
        let mut used: HashMap<u32, u64> = d.iter().map(|e| (e.disk, 1000)).collect();
        used.insert(1, 5000);
        used.insert(8, 0); // emptiest, but in the busier zone
        used.insert(3, 200);
        let sh = shares(&d, &used, 6);
        let others = [
            Holder { disk: 2, domain: Some(1), zone: Some(0) },
            Holder { disk: 5, domain: Some(4), zone: Some(1) },
            Holder { disk: 6, domain: Some(5), zone: Some(1) },
        ];
        assert_eq!(pick_target(&sh, 1, 500, &others, 1), Some(3));
    }

    fn arb_disks() -> impl Strategy<Value = Vec<Weighted>> {
        prop::collection::vec((0u32..8, prop::option::of(0u32..3), 0u64..1000), 1..20).prop_map(|v| {
            v.into_iter()
                .enumerate()
                .map(|(i, (domain, zone, weight))| Weighted { disk: i as u32 + 1, domain, zone, weight })
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Targets add up to the total (up to rounding); no domain's target passes the part of
        /// the total its domain cap allows (1/width while there are at least `width` domains);
        /// within a domain, targets follow
        /// capacity; the largest deviation is the largest of the disks'.
        #[test]
        fn shares_add_up_and_respect_the_domain_cap(
            d in arb_disks(),
            usage in prop::collection::vec(0u64..1_000_000, 20),
            width in 1usize..10,
        ) {
            let used: HashMap<u32, u64> = d.iter().map(|e| (e.disk, usage[e.disk as usize - 1])).collect();
            let total: u64 = used.values().sum();
            let sh = shares(&d, &used, width);
            prop_assert_eq!(sh.len(), d.len());
            let sum: u64 = sh.iter().map(|s| s.target_bytes).sum();
            prop_assert!(sum.abs_diff(total) <= d.len() as u64, "targets {} vs total {}", sum, total);
            let mut domains: Vec<u32> = d.iter().map(|e| e.domain).collect();
            domains.sort_unstable();
            domains.dedup();
            let part = crate::domain_cap(width, domains.len()) as f64 / width as f64;
            for dom in &domains {
                let t: u64 = sh.iter().filter(|s| s.disk.domain == *dom).map(|s| s.target_bytes).sum();
                prop_assert!(t as f64 <= total as f64 * part + d.len() as f64, "domain {} gets {} of {}", dom, t, total);
            }
            let unknown = d.iter().any(|e| e.weight == 0);
            for a in &sh {
                for b in sh.iter().filter(|b| b.disk.domain == a.disk.domain) {
                    let (wa, wb) = if unknown { (1, 1) } else { (a.disk.weight, b.disk.weight) };
                    // target_a / w_a == target_b / w_b, up to rounding of each target.
                    let lhs = a.target_bytes as f64 * wb as f64;
                    let rhs = b.target_bytes as f64 * wa as f64;
                    prop_assert!((lhs - rhs).abs() <= (wa + wb) as f64, "{:?} vs {:?}", a, b);
                }
            }
            let m = max_deviation(&sh);
            prop_assert!(sh.iter().all(|s| s.deviation_pct.abs() <= m));
        }

        /// Whatever the disks, usage and segment, a picked target keeps every placement rule
        /// and ends no fuller than the source.
        #[test]
        fn a_picked_target_keeps_every_rule(
            d in arb_disks(),
            usage in prop::collection::vec(0u64..1_000_000, 20),
            width in 1usize..10,
            src_pick in 0usize..20,
            held in prop::collection::vec(0usize..20, 0..8),
            size in 1u64..200_000,
        ) {
            let used: HashMap<u32, u64> = d.iter().map(|e| (e.disk, usage[e.disk as usize - 1])).collect();
            let sh = shares(&d, &used, width);
            let src = d[src_pick % d.len()];
            let others: Vec<Holder> = held
                .iter()
                .map(|i| d[i % d.len()])
                .filter(|w| w.disk != src.disk)
                .map(|w| Holder { disk: w.disk, domain: Some(w.domain), zone: w.zone })
                .collect();
            let cap = crate::domain_cap(width, 8);
            if let Some(t) = pick_target(&sh, src.disk, size, &others, cap) {
                let ts = sh.iter().find(|s| s.disk.disk == t).copied();
                prop_assert!(ts.is_some(), "target {} is not a disk in service", t);
                let Some(ts) = ts else { return Ok(()) };
                let ss = sh.iter().find(|s| s.disk.disk == src.disk).copied().expect("source share");
                prop_assert_ne!(t, src.disk);
                prop_assert!(others.iter().all(|h| h.disk != t));
                prop_assert!(others.iter().filter(|h| h.domain == Some(ts.disk.domain)).count() < cap);
                let zone_load = |z: Option<u32>| z.map_or(0, |z| others.iter().filter(|h| h.zone == Some(z)).count());
                prop_assert!(zone_load(ts.disk.zone) <= zone_load(src.zone));
                prop_assert!(ts.fill_after(i128::from(size)) <= ss.fill_after(-i128::from(size)));
            }
        }
    }
}
