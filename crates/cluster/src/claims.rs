//! Shard files a move is about to write, which garbage collection must leave alone meanwhile.
//!
//! A shard file is named by (disk, segment, index) alone, so a move of shard `i` of a segment
//! back onto a disk that held it before writes the very file an older garbage entry names.
//! Until the move commits, the index does not name the new copy either: GC would delete it,
//! and the commit would then record a shard that is not there. A move claims the files it
//! writes before recording its intents and holds them until it has committed or aborted; GC
//! deletes a file only while it holds the claim itself, so the two never overlap in this
//! process (the leader, which runs both), and it skips a file an open intent names, for a
//! writer elsewhere.

use std::collections::HashSet;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Notify;

use kintsugi_meta::{DiskId, SegmentId};

/// One shard file: (disk, segment, shard index).
pub type ShardFile = (DiskId, SegmentId, u8);

/// The shard files claimed now.
#[derive(Debug, Default)]
pub struct ShardClaims {
    held: Mutex<HashSet<ShardFile>>,
    freed: Notify,
}

impl ShardClaims {
    /// Claim `files`, waiting while any of them is claimed by someone else (GC's claims last
    /// one delete). Released when the answer is dropped.
    pub async fn claim(self: &Arc<Self>, files: Vec<ShardFile>) -> Claim {
        loop {
            // Registered before the check, so a release between the check and the wait wakes it.
            let freed = self.freed.notified();
            {
                let mut held = self.held.lock();
                if files.iter().all(|f| !held.contains(f)) {
                    held.extend(files.iter().copied());
                    return Claim { claims: self.clone(), files };
                }
            }
            freed.await;
        }
    }

    /// Claim `file` if no one holds it.
    pub fn try_claim(self: &Arc<Self>, file: ShardFile) -> Option<Claim> {
        let mut held = self.held.lock();
        held.insert(file).then(|| Claim { claims: self.clone(), files: vec![file] })
    }
}

/// Files held until this is dropped.
#[derive(Debug)]
pub struct Claim {
    claims: Arc<ShardClaims>,
    files: Vec<ShardFile>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        {
            let mut held = self.claims.held.lock();
            for f in &self.files {
                held.remove(f);
            }
        }
        self.claims.freed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_claimed_file_is_not_claimed_twice_and_a_waiting_claim_gets_it_when_released() {
        let c = Arc::new(ShardClaims::default());
        let gc = c.try_claim((1, 7, 0)).expect("free");
        assert!(c.try_claim((1, 7, 0)).is_none(), "held by GC");
        assert!(c.try_claim((2, 7, 0)).is_some(), "another disk's file is another file");
        let c2 = c.clone();
        let mover = tokio::spawn(async move { c2.claim(vec![(3, 7, 0), (1, 7, 0)]).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!mover.is_finished(), "the move must wait for GC's delete");
        assert!(c.try_claim((3, 7, 0)).is_some(), "a waiting claim holds nothing");
        drop(gc);
        let held = tokio::time::timeout(Duration::from_secs(5), mover).await.expect("released in time").expect("task");
        assert!(c.try_claim((1, 7, 0)).is_none() && c.try_claim((3, 7, 0)).is_none(), "the move holds both");
        drop(held);
        assert!(c.try_claim((1, 7, 0)).is_some(), "released on drop");
    }
}
