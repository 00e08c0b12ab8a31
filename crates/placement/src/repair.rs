//! Repair planning: which segments first, which shards of a segment to
//! rebuild, and which shard to move out of a crowded failure domain. Pure:
//! the cluster crate reads the metadata and disk states and runs the moves.

/// A shard of a segment as repair sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShardState {
    /// On a disk that can serve it now.
    Healthy,
    /// On a disk that is lost (failed, removed, or unknown), or stored nowhere: rebuild it.
    Lost,
    /// On a disk that exists but cannot serve now (its node is down): wait for it.
    Unavailable,
}

/// What to do for one segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RepairPlan {
    /// No shard is lost.
    Nothing,
    /// Shards are lost but fewer than `k` healthy ones remain to rebuild them from (now).
    Unrecoverable {
        /// Healthy shards.
        healthy: usize,
        /// Shards needed to decode.
        k: usize,
    },
    /// Rebuild these shard indices (ascending) from the healthy ones.
    Rebuild(Vec<usize>),
}

/// The plan for a segment whose shards are in `states` (by index), `k` needed to decode.
pub fn plan_rebuild(states: &[ShardState], k: usize) -> RepairPlan {
    let missing: Vec<usize> = (0..states.len()).filter(|&i| states[i] == ShardState::Lost).collect();
    if missing.is_empty() {
        return RepairPlan::Nothing;
    }
    let healthy = states.iter().filter(|s| **s == ShardState::Healthy).count();
    if healthy < k {
        return RepairPlan::Unrecoverable { healthy, k };
    }
    RepairPlan::Rebuild(missing)
}

/// Put repair jobs in the order they are worked: most shards lost first (those are closest
/// to losing data), then by segment id so a pass is repeatable. `key` gives a job's
/// (shards lost, segment id).
pub fn repair_order<T>(jobs: &mut [T], key: impl Fn(&T) -> (usize, u128)) {
    jobs.sort_by(|a, b| {
        let (la, sa) = key(a);
        let (lb, sb) = key(b);
        lb.cmp(&la).then(sa.cmp(&sb))
    });
}

/// The shard to move out of a crowded failure domain: the last shard (highest index) whose
/// domain holds more than `cap` of the segment's shards. `domains` gives each shard's domain
/// by index, `None` for a shard that is not on a usable disk (it counts for no domain).
pub fn crowding_shard(domains: &[Option<u32>], cap: usize) -> Option<usize> {
    (0..domains.len()).rev().find(|&i| domains[i].is_some_and(|d| domains.iter().filter(|x| **x == Some(d)).count() > cap))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use ShardState::{Healthy, Lost, Unavailable};

    #[test]
    fn plans_for_a_4_plus_2_segment() {
        assert_eq!(plan_rebuild(&[Healthy; 6], 4), RepairPlan::Nothing);
        assert_eq!(plan_rebuild(&[Healthy, Lost, Healthy, Healthy, Lost, Healthy], 4), RepairPlan::Rebuild(vec![1, 4]));
        // A down node's shard is neither rebuilt nor a source.
        assert_eq!(plan_rebuild(&[Healthy, Lost, Healthy, Unavailable, Lost, Healthy], 4), RepairPlan::Unrecoverable { healthy: 3, k: 4 });
        assert_eq!(plan_rebuild(&[Unavailable, Healthy, Healthy, Healthy, Healthy, Healthy], 4), RepairPlan::Nothing);
    }

    #[test]
    fn most_lost_first_then_by_segment() {
        let mut jobs = vec![(7u128, 1usize), (3, 2), (5, 1), (9, 3), (1, 2)];
        repair_order(&mut jobs, |j| (j.1, j.0));
        assert_eq!(jobs, vec![(9, 3), (1, 2), (3, 2), (5, 1), (7, 1)]);
    }

    #[test]
    fn the_last_shard_of_a_crowded_domain_moves() {
        assert_eq!(crowding_shard(&[Some(1), Some(2), Some(3), Some(4), Some(5), Some(6)], 1), None);
        assert_eq!(crowding_shard(&[Some(1), Some(2), Some(1), Some(4), Some(5), Some(6)], 1), Some(2));
        assert_eq!(crowding_shard(&[Some(1), Some(2), Some(1), Some(4), Some(1), Some(6)], 2), Some(4));
        assert_eq!(crowding_shard(&[Some(1), None, None, Some(4)], 1), None, "unusable shards crowd nothing");
    }

    fn arb_state() -> impl Strategy<Value = ShardState> {
        prop_oneof![Just(Healthy), Just(Lost), Just(Unavailable)]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// Every lost shard and only those are rebuilt, and only from at least k healthy ones.
        #[test]
        fn a_plan_rebuilds_exactly_the_lost_shards(states in prop::collection::vec(arb_state(), 1..20), k in 1usize..12) {
            let healthy = states.iter().filter(|s| **s == Healthy).count();
            let lost: Vec<usize> = (0..states.len()).filter(|&i| states[i] == Lost).collect();
            match plan_rebuild(&states, k) {
                RepairPlan::Nothing => prop_assert!(lost.is_empty()),
                RepairPlan::Unrecoverable { healthy: h, k: kk } => {
                    prop_assert!(!lost.is_empty() && h == healthy && kk == k && h < k);
                }
                RepairPlan::Rebuild(m) => prop_assert!(m == lost && healthy >= k),
            }
        }

        /// The shard picked sits in a domain over the cap, none after it does, and nothing is
        /// picked when every domain is within the cap.
        #[test]
        fn the_crowding_shard_is_the_last_one_over_the_cap(domains in prop::collection::vec(prop::option::of(0u32..5), 0..16), cap in 1usize..4) {
            let over = |i: usize| domains[i].is_some_and(|d| domains.iter().filter(|x| **x == Some(d)).count() > cap);
            match crowding_shard(&domains, cap) {
                Some(i) => prop_assert!(over(i) && (i + 1..domains.len()).all(|j| !over(j))),
                None => prop_assert!((0..domains.len()).all(|j| !over(j))),
            }
        }
    }
}
