//! Read grants: a storage node serves another node's reads of its shards only for a job a
//! gateway ordered. Before it orders node B to rebuild or copy a shard from sources on node A
//! (`RebuildShard`), the gateway tells A which shards B may read and for how long
//! (`GrantRead`); A keeps the grants in memory and refuses every other read by a member that
//! is not a gateway. A compromised node can read only what the gateway asked it to read,
//! while the job runs.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Longest a grant lasts, whatever the gateway asks (a rebuild job's own deadline is shorter).
pub const MAX_GRANT: Duration = Duration::from_secs(3600);

/// Most grants a node keeps at once; above it, expired ones are dropped, and if none is, the
/// new grant is refused (the gateway then does the job itself).
const MAX_GRANTS: usize = 100_000;

/// (reader node, disk uuid, segment, shard index).
type Key = (String, u128, u128, u8);

/// The grants a node holds.
#[derive(Debug, Default)]
pub(crate) struct Grants {
    until: HashMap<Key, Instant>,
}

impl Grants {
    /// Let `reader` read shard `index` of `segment` on `disk` until `now + ttl` (capped at
    /// [`MAX_GRANT`]); false when the node holds too many grants to take one more.
    pub(crate) fn grant(&mut self, reader: &str, disk: u128, segment: u128, index: u8, ttl: Duration, now: Instant) -> bool {
        if self.until.len() >= MAX_GRANTS {
            self.until.retain(|_, t| *t > now);
            if self.until.len() >= MAX_GRANTS {
                return false;
            }
        }
        let t = now + ttl.min(MAX_GRANT);
        let e = self.until.entry((reader.to_owned(), disk, segment, index)).or_insert(t);
        *e = (*e).max(t);
        true
    }

    /// Whether `reader` may read that shard at `now`.
    pub(crate) fn allows(&self, reader: &str, disk: u128, segment: u128, index: u8, now: Instant) -> bool {
        self.until.get(&(reader.to_owned(), disk, segment, index)).is_some_and(|t| *t > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_names_one_reader_one_shard_and_ends() {
        let now = Instant::now();
        let mut g = Grants::default();
        assert!(!g.allows("n2", 1, 7, 0, now), "no grant, no read");
        assert!(g.grant("n2", 1, 7, 0, Duration::from_secs(10), now));
        assert!(g.allows("n2", 1, 7, 0, now + Duration::from_secs(9)));
        assert!(!g.allows("n2", 1, 7, 0, now + Duration::from_secs(10)), "expired");
        assert!(!g.allows("n3", 1, 7, 0, now), "another reader");
        assert!(!g.allows("n2", 2, 7, 0, now) && !g.allows("n2", 1, 8, 0, now) && !g.allows("n2", 1, 7, 1, now), "another shard");
        assert!(g.grant("n2", 1, 7, 0, Duration::from_secs(100_000), now));
        assert!(g.allows("n2", 1, 7, 0, now + MAX_GRANT - Duration::from_secs(1)));
        assert!(!g.allows("n2", 1, 7, 0, now + MAX_GRANT), "capped at an hour");
    }

    #[test]
    fn a_full_table_drops_expired_grants_and_then_refuses() {
        let now = Instant::now();
        let mut g = Grants::default();
        for i in 0..MAX_GRANTS {
            let seg = u128::try_from(i).expect("small");
            assert!(g.grant("n2", 1, seg, 0, if i == 0 { Duration::from_secs(1) } else { Duration::from_secs(60) }, now));
        }
        let later = now + Duration::from_secs(2);
        assert!(g.grant("n2", 1, u128::MAX, 0, Duration::from_secs(60), later), "the expired grant made room");
        assert!(!g.grant("n2", 1, u128::MAX - 1, 0, Duration::from_secs(60), later), "full of live grants");
        assert!(g.allows("n2", 1, u128::MAX, 0, later));
    }
}
