//! The intent sweep against real writes (real RocksDB, real disk directories, the real PUT
//! pipeline and GC pass): a write still held is kept, one nobody holds any more is given up
//! and its files deleted, and while another gateway cannot say what it writes nothing is
//! given up. The other gateways are stood in for here; `tests/gateways.rs` asks real ones.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use kintsugi_cluster::sweep::sweep_pass;
use kintsugi_cluster::{gc_pass, OtherWriters, Store};
use kintsugi_meta::Expect;

use crate::move_gc_tests::{manifest_of, store_with};
use crate::put::{write_body, Owner, Written};

async fn write(store: &Arc<Store>, seed: u32) -> Written {
    let body: Vec<u8> = (0..40_000u32).map(|i| (i.wrapping_add(seed).wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let stream = futures::stream::iter(vec![Ok::<_, std::io::Error>(Bytes::from(body))]);
    let w = write_body(store, stream, Owner { id: u128::from(seed), part_number: 0, label: Arc::from(Vec::new()) }, None).await.expect("put");
    assert!(w.inline.is_none() && !w.segments[0].shards.is_empty(), "the body must be written as shards");
    w
}

fn shard_files(dir: &Path) -> usize {
    (1..=4)
        .map(|d| {
            let shards = dir.join(format!("disk{d}")).join("shards");
            std::fs::read_dir(&shards).map_or(0, |sub| sub.flatten().map(|s| std::fs::read_dir(s.path()).map_or(0, Iterator::count)).sum())
        })
        .sum()
}

fn open_intents(store: &Store) -> Vec<u128> {
    store.meta.list_intents().expect("intents").into_iter().map(|(s, _)| s).collect()
}

/// What the stand-in for the other gateways answers.
enum Others {
    Claim(Vec<u128>),
    Silent,
}

struct StandIn(Mutex<Others>);

#[async_trait::async_trait]
impl OtherWriters for StandIn {
    async fn claimed(&self, segments: &[u128]) -> Result<Vec<u128>, String> {
        match &*self.0.lock().expect("stand-in") {
            Others::Claim(c) => Ok(segments.iter().copied().filter(|s| c.contains(s)).collect()),
            Others::Silent => Err("gateway gw2: no answer".into()),
        }
    }
}

#[tokio::test]
async fn the_sweep_gives_up_only_intents_no_gateway_writes() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = store_with(dir.path(), |c| c.write_linger = Duration::ZERO);
    store.meta.create_bucket("b").expect("bucket");

    // One write held (in flight), one let go of (its writer gone): each has an intent and
    // three shard files.
    let live = write(&store, 1).await;
    let dead = write(&store, 2).await;
    let (live_seg, dead_seg) = (live.segments[0].id, dead.segments[0].id);
    drop(dead);
    assert_eq!(shard_files(dir.path()), 6);
    let mut intents = open_intents(&store);
    intents.sort_unstable();
    let mut want = vec![live_seg, dead_seg];
    want.sort_unstable();
    assert_eq!(intents, want);

    // Younger than the sweep's margin: nothing is given up.
    assert_eq!(sweep_pass(&store, Duration::from_secs(3600)).await.expect("sweep"), 0);
    // Older: the let-go write's intent is given up, the held one kept; GC deletes its files.
    assert_eq!(sweep_pass(&store, Duration::ZERO).await.expect("sweep"), 1);
    assert_eq!(open_intents(&store), vec![live_seg]);
    gc_pass(&store).await.expect("gc");
    assert_eq!(shard_files(dir.path()), 3, "the dead write's shard files are deleted, the live one's kept");

    // The held write commits as if nothing happened, and reads back.
    let manifest = manifest_of(&store, &live);
    store.meta.put_object("b", "k", &manifest, Expect::Any).expect("commit");
    drop(live);
    assert!(open_intents(&store).is_empty());
    assert_eq!(sweep_pass(&store, Duration::ZERO).await.expect("sweep"), 0);
    gc_pass(&store).await.expect("gc");
    assert_eq!(shard_files(dir.path()), 3);

    // With other gateways: what one of them claims is kept; when one cannot answer, nothing
    // is given up (it may be writing).
    let others = Arc::new(StandIn(Mutex::new(Others::Silent)));
    store.writes.set_others(others.clone());
    let theirs = write(&store, 3).await;
    let nobodys = write(&store, 4).await;
    let (theirs_seg, nobodys_seg) = (theirs.segments[0].id, nobodys.segments[0].id);
    drop(theirs);
    drop(nobodys);
    assert_eq!(sweep_pass(&store, Duration::ZERO).await.expect("sweep"), 0);
    assert_eq!(open_intents(&store).len(), 2, "an intent was given up while a gateway did not answer");
    assert_eq!(store.metrics.sweeps_undecided.load(std::sync::atomic::Ordering::Relaxed), 1);
    *others.0.lock().expect("stand-in") = Others::Claim(vec![theirs_seg]);
    assert_eq!(sweep_pass(&store, Duration::ZERO).await.expect("sweep"), 1);
    assert_eq!(open_intents(&store), vec![theirs_seg]);
    assert!(!open_intents(&store).contains(&nobodys_seg));
    assert_eq!(store.metrics.intents_swept.load(std::sync::atomic::Ordering::Relaxed), 2);
}
