//! Shard placement: which k+m disks hold the shards of a segment, and the
//! pure planning beside it: rebalance shares and targets ([`balance`]),
//! repair order, rebuild plans and domain spreading ([`repair`]).
//! Pure: no I/O, no clock, deterministic for a given seed and candidate set.
//!
//! Weighted rendezvous (highest-random-weight) hashing: every usable disk gets
//! a score `-weight / ln(u)` with `u` uniform in (0,1) derived from BLAKE3 of
//! (seed, disk id); a disk wins with probability proportional to its weight,
//! and adding or removing a disk only moves the segments that disk wins or
//! loses. Among the scored disks, shards go first to distinct nodes, then to
//! the least-used zone, so a node (and, when zones are labelled, a zone) is a
//! failure domain whenever there are enough of them.
//!
//! ```
//! use kintsugi_placement::{place, Candidate};
//! let disks: Vec<Candidate> = (1..=8).map(|d| Candidate { disk: d, node: d, zone: None, weight: 100 }).collect();
//! let chosen = place(b"segment-1", &disks, 6).unwrap();
//! assert_eq!(chosen.len(), 6);
//! assert_eq!(chosen, place(b"segment-1", &disks, 6).unwrap()); // deterministic
//! ```
#![deny(unsafe_code)]

pub mod balance;
#[cfg(test)]
mod props;
pub mod repair;

/// A disk that may receive a shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Disk id.
    pub disk: u32,
    /// Node the disk belongs to (failure domain).
    pub node: u32,
    /// Optional zone label (higher failure domain).
    pub zone: Option<u32>,
    /// Relative weight (e.g. free bytes); 0 means "never choose".
    pub weight: u64,
}

/// Why no placement could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    /// Fewer usable disks than shards to place.
    #[error("only {usable} usable disks (non-zero weight), {need} needed; add disks or lower k+m")]
    NotEnoughDisks {
        /// Disks with non-zero weight.
        usable: usize,
        /// Shards to place.
        need: usize,
    },
    /// The same disk id appears twice.
    #[error("disk {disk} is listed twice among the candidates")]
    DuplicateDisk {
        /// The id.
        disk: u32,
    },
}

/// Rendezvous score of a disk for a seed: higher wins.
pub fn score(seed: &[u8], c: &Candidate) -> f64 {
    let mut h = blake3::Hasher::new();
    h.update(seed);
    h.update(&c.disk.to_le_bytes());
    let out = h.finalize();
    let b = out.as_bytes();
    let x = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
    // u in (0, 1): 53 random bits, never 0 or 1.
    let u = ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    -(c.weight as f64) / u.ln()
}

/// The most shards of one segment that one failure domain (node) may hold, for `need` shards
/// in a cluster of `domains` failure domains *in service* (up or down, not lost or retired).
///
/// One whenever there are at least `need` domains: a node that is merely down then costs the
/// segment its one shard (recorded as not placed, for repair to complete), and never makes
/// another node hold two. Only a cluster with fewer domains than `need` by configuration
/// shares them, as evenly as possible. 0 when there is no domain.
pub fn domain_cap(need: usize, domains: usize) -> usize {
    if domains == 0 {
        return 0;
    }
    need.div_ceil(domains)
}

/// What one failure domain already holds of a segment (for [`place_around`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held {
    /// Node (failure domain).
    pub node: u32,
    /// Its zone, if labelled.
    pub zone: Option<u32>,
}

/// Choose up to `need` more disks for a segment whose other shards sit in `held`: never a
/// candidate disk twice, never more than `cap` shards (held ones included) in one node,
/// least-used node first, then least-used zone, then the best rendezvous score. Returns fewer
/// than `need` (even none) when the candidates run out under those rules.
pub fn place_around(seed: &[u8], candidates: &[Candidate], need: usize, cap: usize, held: &[Held]) -> Result<Vec<u32>, PlacementError> {
    choose(seed, candidates, need, Some(cap), held)
}

/// Choose `need` distinct disks for the segment identified by `seed`, in
/// shard order. Distinct nodes first; when there are fewer nodes than `need`,
/// a node holds several shards (on distinct disks), as evenly as possible.
pub fn place(seed: &[u8], candidates: &[Candidate], need: usize) -> Result<Vec<u32>, PlacementError> {
    let usable = candidates.iter().filter(|c| c.weight > 0).count();
    if usable < need && !has_duplicate(candidates) {
        return Err(PlacementError::NotEnoughDisks { usable, need });
    }
    choose(seed, candidates, need, None, &[])
}

fn has_duplicate(candidates: &[Candidate]) -> bool {
    candidates.iter().enumerate().any(|(i, c)| candidates[..i].iter().any(|o| o.disk == c.disk))
}

fn choose(seed: &[u8], candidates: &[Candidate], need: usize, cap: Option<usize>, held: &[Held]) -> Result<Vec<u32>, PlacementError> {
    let mut scored: Vec<(f64, &Candidate)> = Vec::with_capacity(candidates.len());
    for (i, c) in candidates.iter().enumerate() {
        if candidates[..i].iter().any(|o| o.disk == c.disk) {
            return Err(PlacementError::DuplicateDisk { disk: c.disk });
        }
        if c.weight > 0 {
            scored.push((score(seed, c), c));
        }
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.disk.cmp(&b.1.disk)));
    let mut chosen: Vec<&Candidate> = Vec::with_capacity(need);
    let mut taken = vec![false; scored.len()];
    let uses = |chosen: &[&Candidate], f: &dyn Fn(u32, Option<u32>) -> bool| {
        chosen.iter().filter(|c| f(c.node, c.zone)).count() + held.iter().filter(|h| f(h.node, h.zone)).count()
    };
    while chosen.len() < need {
        // Least-used node first, then least-used zone, then the best score
        // (scored is sorted, so the first minimum found is the best score).
        let mut best: Option<(usize, (usize, usize))> = None;
        for (i, (_, c)) in scored.iter().enumerate() {
            if taken[i] {
                continue;
            }
            let node_uses = uses(&chosen, &|n, _| n == c.node);
            if cap.is_some_and(|cap| node_uses >= cap) {
                continue;
            }
            let zone_uses = match c.zone {
                Some(z) => uses(&chosen, &|_, oz| oz == Some(z)),
                None => 0,
            };
            let key = (node_uses, zone_uses);
            if best.is_none_or(|(_, k)| key < k) {
                best = Some((i, key));
                if key == (0, 0) {
                    break;
                }
            }
        }
        let Some((i, _)) = best else { break };
        taken[i] = true;
        chosen.push(scored[i].1);
    }
    Ok(chosen.into_iter().map(|c| c.disk).collect())
}

/// How many failure-domain losses a segment survives: shards per domain in `per_domain`
/// (any order), `k` of them needed. The worst case loses the fullest domains first. `None`
/// when the segment has fewer than `k` shards already.
pub fn domain_losses_survived(per_domain: &[usize], k: usize) -> Option<usize> {
    let mut counts = per_domain.to_vec();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let mut left: usize = counts.iter().sum();
    if left < k {
        return None;
    }
    let mut lost = 0;
    for c in counts {
        if left - c < k {
            break;
        }
        left -= c;
        lost += 1;
    }
    Some(lost)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    fn seed(i: u64) -> [u8; 8] {
        i.to_le_bytes()
    }

    #[test]
    fn distinct_disks_and_nodes() {
        // 8 nodes × 2 disks: 6 shards always on 6 distinct nodes.
        let c: Vec<Candidate> =
            (0..16).map(|d| Candidate { disk: d, node: d / 2, zone: None, weight: 10 }).collect();
        for i in 0..2000 {
            let p = place(&seed(i), &c, 6).expect("place");
            let nodes: HashSet<u32> = p.iter().map(|d| d / 2).collect();
            assert_eq!(nodes.len(), 6);
            assert_eq!(p.iter().collect::<HashSet<_>>().len(), 6);
        }
        // 3 nodes × 4 disks, 6 shards: exactly 2 per node.
        let c: Vec<Candidate> = (0..12).map(|d| Candidate { disk: d, node: d / 4, zone: None, weight: 10 }).collect();
        for i in 0..500 {
            let p = place(&seed(i), &c, 6).expect("place");
            let mut per: HashMap<u32, usize> = HashMap::new();
            for d in p {
                *per.entry(d / 4).or_default() += 1;
            }
            assert!(per.values().all(|&n| n == 2), "{per:?}");
        }
    }

    #[test]
    fn zones_are_spread() {
        // 3 zones × 3 nodes, 6 shards: 2 per zone.
        let c: Vec<Candidate> = (0..9).map(|d| Candidate { disk: d, node: d, zone: Some(d % 3), weight: 10 }).collect();
        for i in 0..500 {
            let p = place(&seed(i), &c, 6).expect("place");
            for z in 0..3 {
                assert_eq!(p.iter().filter(|d| *d % 3 == z).count(), 2);
            }
        }
    }

    #[test]
    fn errors() {
        let c: Vec<Candidate> = (0..5).map(|d| Candidate { disk: d, node: d, zone: None, weight: 1 }).collect();
        assert_eq!(place(b"x", &c, 6), Err(PlacementError::NotEnoughDisks { usable: 5, need: 6 }));
        let mut c2 = c.clone();
        c2.push(Candidate { disk: 9, node: 9, zone: None, weight: 0 });
        assert!(matches!(place(b"x", &c2, 6), Err(PlacementError::NotEnoughDisks { usable: 5, .. })));
        c2.push(c[0]);
        assert_eq!(place(b"x", &c2, 2), Err(PlacementError::DuplicateDisk { disk: 0 }));
    }

    #[test]
    fn capped_placement_never_doubles_a_domain_while_nodes_are_down() {
        // 6 nodes × 2 disks, 2 nodes down (not candidates): cap 1 places 4 shards on 4 nodes.
        let c: Vec<Candidate> = (0..12).filter(|d| d / 2 != 1 && d / 2 != 4).map(|d| Candidate { disk: d, node: d / 2, zone: None, weight: 10 }).collect();
        for i in 0..500 {
            let p = place_around(&seed(i), &c, 6, domain_cap(6, 6), &[]).expect("place");
            assert_eq!(p.len(), 4, "one shard per live node, the rest not placed");
            let nodes: HashSet<u32> = p.iter().map(|d| d / 2).collect();
            assert_eq!(nodes.len(), 4);
        }
        // Fewer nodes than shards by configuration (3 nodes × 4 disks): 2 per node, 6 disks.
        let c: Vec<Candidate> = (0..12).map(|d| Candidate { disk: d, node: d / 4, zone: None, weight: 10 }).collect();
        for i in 0..500 {
            let p = place_around(&seed(i), &c, 6, domain_cap(6, 3), &[]).expect("place");
            assert_eq!(p.iter().collect::<HashSet<_>>().len(), 6, "never one disk twice");
            for n in 0..3 {
                assert_eq!(p.iter().filter(|d| *d / 4 == n).count(), 2);
            }
        }
        // Repair around held shards: the new ones go to nodes the segment does not use.
        let c: Vec<Candidate> = (0..8).map(|d| Candidate { disk: d, node: d, zone: None, weight: 10 }).collect();
        let held: Vec<Held> = [0u32, 1, 2, 3].iter().map(|&n| Held { node: n, zone: None }).collect();
        let healthy_disks: Vec<Candidate> = c.iter().copied().filter(|x| x.disk > 3).collect();
        for i in 0..200 {
            let p = place_around(&seed(i), &healthy_disks, 2, 1, &held).expect("place");
            assert_eq!(p.len(), 2);
            assert!(p.iter().all(|d| *d > 3));
        }
        // No fresh node: nothing rather than a second shard on a held node.
        let only_held: Vec<Candidate> = (10..14).map(|d| Candidate { disk: d, node: d - 10, zone: None, weight: 10 }).collect();
        assert!(place_around(b"x", &only_held, 2, 1, &held).expect("place").is_empty());
        assert_eq!(domain_cap(6, 0), 0);
        assert_eq!(domain_cap(6, 7), 1);
        assert_eq!(domain_cap(6, 4), 2);
    }

    #[test]
    fn losses_survived_count_the_fullest_domains_first() {
        assert_eq!(domain_losses_survived(&[1, 1, 1, 1, 1, 1], 4), Some(2));
        // The issue's layout: 6 shards on 4 disks, two of them holding 2 each.
        assert_eq!(domain_losses_survived(&[2, 2, 1, 1], 4), Some(1));
        assert_eq!(domain_losses_survived(&[2, 2, 2], 4), Some(1));
        assert_eq!(domain_losses_survived(&[1, 1, 1, 1, 1], 4), Some(1));
        assert_eq!(domain_losses_survived(&[1, 1, 1, 1], 4), Some(0));
        assert_eq!(domain_losses_survived(&[1, 1, 1], 4), None);
        assert_eq!(domain_losses_survived(&[3, 3], 4), Some(0));
    }

    /// Over 100k segments, each disk's shard count is within 5% of its weight share.
    #[test]
    fn balance_follows_weight() {
        let weights = [100u64, 100, 200, 200, 300, 300, 400, 400, 500, 500, 600, 600];
        let c: Vec<Candidate> =
            weights.iter().enumerate().map(|(d, &w)| Candidate { disk: d as u32, node: d as u32, zone: None, weight: w }).collect();
        let mut counts = vec![0u64; c.len()];
        let n = 100_000u64;
        for i in 0..n {
            for d in place(&seed(i), &c, 1).expect("place") {
                counts[d as usize] += 1;
            }
        }
        let total_w: u64 = weights.iter().sum();
        for (d, &cnt) in counts.iter().enumerate() {
            let expect = n as f64 * weights[d] as f64 / total_w as f64;
            let dev = (cnt as f64 - expect).abs() / expect;
            assert!(dev < 0.05, "disk {d}: {cnt} shards, expected {expect:.0} ({:.1}% off)", dev * 100.0);
        }
        // With k+m = 6 of 12 equal disks, each holds 1/2 of the segments within 2%.
        let c: Vec<Candidate> = (0..12).map(|d| Candidate { disk: d, node: d, zone: None, weight: 7 }).collect();
        let mut counts = vec![0u64; 12];
        for i in 0..n {
            for d in place(&seed(i), &c, 6).expect("place") {
                counts[d as usize] += 1;
            }
        }
        for &cnt in &counts {
            let dev = (cnt as f64 - n as f64 / 2.0).abs() / (n as f64 / 2.0);
            assert!(dev < 0.02, "{counts:?}");
        }
    }

    /// Adding a disk only moves segments onto it; removing one only moves its own.
    #[test]
    fn minimal_movement() {
        let base: Vec<Candidate> = (0..10).map(|d| Candidate { disk: d, node: d, zone: None, weight: 10 }).collect();
        let mut grown = base.clone();
        grown.push(Candidate { disk: 10, node: 10, zone: None, weight: 10 });
        let n = 20_000u64;
        let mut moved = 0;
        for i in 0..n {
            let a: HashSet<u32> = place(&seed(i), &base, 6).expect("place").into_iter().collect();
            let b: HashSet<u32> = place(&seed(i), &grown, 6).expect("place").into_iter().collect();
            if a != b {
                assert!(b.contains(&10), "segment {i} moved without the new disk");
                assert_eq!(a.difference(&b).count(), 1, "more than one shard moved");
                moved += 1;
            }
            let shrunk: Vec<Candidate> = base.iter().copied().filter(|c| c.disk != 3).collect();
            let s: HashSet<u32> = place(&seed(i), &shrunk, 6).expect("place").into_iter().collect();
            if a != s {
                assert!(a.contains(&3), "segment {i} moved though the removed disk did not hold it");
                assert_eq!(a.difference(&s).count(), 1);
            }
        }
        // The new disk should win about 6/11 of segments.
        let share = moved as f64 / n as f64;
        assert!((share - 6.0 / 11.0).abs() < 0.02, "moved share {share}");
    }
}
