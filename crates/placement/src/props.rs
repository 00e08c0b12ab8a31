//! Property tests of placement: whatever the candidates, a placement never puts two shards
//! on one disk, never passes the domain cap, places as many shards as the rules allow, and
//! does not depend on the order the candidates come in.

use std::collections::HashMap;

use proptest::prelude::*;

use crate::{domain_cap, domain_losses_survived, place, place_around, Candidate, Held};

/// Up to 24 distinct disks on up to 8 nodes, some in zones, some of weight 0.
fn arb_candidates() -> impl Strategy<Value = Vec<Candidate>> {
    prop::collection::vec((0u32..8, prop::option::of(0u32..3), prop_oneof![Just(0u64), 1u64..1000]), 0..24).prop_map(|v| {
        v.into_iter().enumerate().map(|(i, (node, zone, weight))| Candidate { disk: i as u32, node, zone, weight }).collect()
    })
}

fn per_node(disks: &[u32], candidates: &[Candidate], held: &[Held]) -> HashMap<u32, usize> {
    let mut n: HashMap<u32, usize> = HashMap::new();
    for d in disks {
        let c = candidates.iter().find(|c| c.disk == *d).expect("a chosen disk is a candidate");
        *n.entry(c.node).or_default() += 1;
    }
    for h in held {
        *n.entry(h.node).or_default() += 1;
    }
    n
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// `place`: distinct usable disks, `need` of them when there are enough, on distinct
    /// nodes whenever there are enough nodes, and as evenly spread as the nodes allow.
    #[test]
    fn a_placement_uses_distinct_usable_disks_spread_over_nodes(c in arb_candidates(), need in 1usize..12, seed in any::<u64>()) {
        let usable: Vec<&Candidate> = c.iter().filter(|c| c.weight > 0).collect();
        let Ok(p) = place(&seed.to_le_bytes(), &c, need) else {
            prop_assert!(usable.len() < need);
            return Ok(());
        };
        prop_assert_eq!(p.len(), need);
        let mut seen = p.clone();
        seen.sort_unstable();
        seen.dedup();
        prop_assert_eq!(seen.len(), need, "a disk chosen twice: {:?}", p);
        prop_assert!(p.iter().all(|d| usable.iter().any(|u| u.disk == *d)), "a disk of weight 0 chosen");
        let mut nodes: Vec<u32> = usable.iter().map(|u| u.node).collect();
        nodes.sort_unstable();
        nodes.dedup();
        let counts = per_node(&p, &c, &[]);
        if nodes.len() >= need {
            prop_assert!(counts.values().all(|&n| n == 1), "two shards on one node with {} nodes: {:?}", nodes.len(), counts);
        }
    }

    /// `place_around`: never a disk twice, never more than `cap` shards (held ones included)
    /// on one node, and exactly as many as those rules allow (up to `need`).
    #[test]
    fn placing_around_held_shards_keeps_the_cap_and_places_all_it_may(
        c in arb_candidates(),
        need in 0usize..10,
        cap in 1usize..4,
        held_nodes in prop::collection::vec(0u32..8, 0..6),
        seed in any::<u64>(),
    ) {
        let held: Vec<Held> = held_nodes.iter().map(|&node| Held { node, zone: None }).collect();
        let p = place_around(&seed.to_le_bytes(), &c, need, cap, &held).expect("distinct candidates");
        let mut seen = p.clone();
        seen.sort_unstable();
        seen.dedup();
        prop_assert_eq!(seen.len(), p.len(), "a disk chosen twice: {:?}", p);
        let counts = per_node(&p, &c, &held);
        let chosen_on = |node: u32| p.iter().filter(|d| c.iter().any(|x| x.disk == **d && x.node == node)).count();
        for (node, n) in &counts {
            prop_assert!(*n <= cap || chosen_on(*node) == 0, "node {} holds {} > cap {}", node, n, cap);
        }
        // What the rules allow: per node, its free slots under the cap, at most its usable disks.
        let mut allow = 0usize;
        let mut nodes: Vec<u32> = c.iter().filter(|x| x.weight > 0).map(|x| x.node).collect();
        nodes.sort_unstable();
        nodes.dedup();
        for node in nodes {
            let disks = c.iter().filter(|x| x.weight > 0 && x.node == node).count();
            let held_here = held.iter().filter(|h| h.node == node).count();
            allow += cap.saturating_sub(held_here).min(disks);
        }
        prop_assert_eq!(p.len(), need.min(allow));
    }

    /// The candidates' order does not matter: the same disks come out in the same shard order.
    #[test]
    fn a_placement_does_not_depend_on_candidate_order(c in arb_candidates(), need in 1usize..8, seed in any::<u64>(), rot in 0usize..24) {
        let mut turned = c.clone();
        if !turned.is_empty() {
            let r = rot % turned.len();
            turned.rotate_left(r);
            turned.reverse();
        }
        let s = seed.to_le_bytes();
        prop_assert_eq!(place(&s, &c, need), place(&s, &turned, need));
        prop_assert_eq!(place_around(&s, &c, need, 1, &[]), place_around(&s, &turned, need, 1, &[]));
    }

    /// Domain losses survived, against brute force: the largest L such that losing any L
    /// domains leaves at least k shards.
    #[test]
    fn losses_survived_match_brute_force(per_domain in prop::collection::vec(0usize..4, 0..9), k in 1usize..8) {
        let n = per_domain.len();
        let total: usize = per_domain.iter().sum();
        let brute = (total >= k).then(|| {
            (0..=n)
                .take_while(|&l| {
                    (0u32..(1 << n)).filter(|m| m.count_ones() as usize == l).all(|m| {
                        let lost: usize = (0..n).filter(|i| m & (1 << i) != 0).map(|i| per_domain[i]).sum();
                        total - lost >= k
                    })
                })
                .last()
                .unwrap_or(0)
        });
        prop_assert_eq!(domain_losses_survived(&per_domain, k), brute);
    }

    /// The cap spreads `need` shards over `domains` domains: cap × domains ≥ need, and no
    /// smaller cap would do.
    #[test]
    fn the_domain_cap_is_the_least_that_fits(need in 1usize..20, domains in 1usize..20) {
        let cap = domain_cap(need, domains);
        prop_assert!(cap * domains >= need);
        prop_assert!((cap - 1) * domains < need);
    }
}
