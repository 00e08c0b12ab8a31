//! Garbage collection against a move that writes a shard back onto a disk an older garbage
//! entry names (issue 17: "GC never deletes a shard that an intent or a running move
//! names"). Real RocksDB, real disk directories, the real PUT pipeline, move and GC pass.

use std::sync::Arc;

use bytes::Bytes;
use kintsugi_cluster::{copy_shard, gc_pass, rebuild_onto, Limiter, MoveTxn, Store, StoreConfig};
use kintsugi_disk::Disk;
use kintsugi_erasure::{codec_for, CodecId, Layout, Scheme};
use kintsugi_meta::{Expect, Manifest, OwnedSegment, RocksMeta, ShardMove, ShardOwner};
use kintsugi_storage::{LocalShards, ShardStore};

use crate::put::{write_body, Owner, Written};

/// An embedded store of four disks, 2+1, garbage due at once.
fn store(dir: &std::path::Path) -> Arc<Store> {
    store_with(dir, |_| {})
}

/// As [`store`], its configuration changed by `f` first.
pub(crate) fn store_with(dir: &std::path::Path, f: impl FnOnce(&mut StoreConfig)) -> Arc<Store> {
    let meta = Arc::new(RocksMeta::open(&dir.join("meta"), 0).expect("open metadata"));
    let disks: Vec<Arc<dyn ShardStore>> = (1..=4)
        .map(|id| {
            let root = dir.join(format!("disk{id}"));
            std::fs::create_dir_all(&root).expect("disk dir");
            let d = Disk::format_new(&root, id).expect("format disk");
            Arc::new(LocalShards::new(Arc::new(d), "local", id)) as Arc<dyn ShardStore>
        })
        .collect();
    let scheme: Scheme = "2+1".parse().expect("scheme");
    let layout = Layout::new(scheme, 4096).expect("layout");
    let codec = codec_for(CodecId::ReedSolomonGf8, scheme).expect("codec");
    let mut cfg = StoreConfig::new(layout);
    f(&mut cfg);
    Store::new(meta, disks, codec, cfg).0
}

/// Version 1 of an object whose body is `written`.
pub(crate) fn manifest_of(store: &Store, written: &Written) -> Manifest {
    Manifest {
        version_id: 1,
        size: written.size,
        etag: hex::encode(written.md5),
        modified_ms: 0,
        content_type: None,
        headers: Vec::new(),
        user_meta: Vec::new(),
        parts: 0,
        coding: store.coding(),
        segments: written.segments.clone(),
    }
}

#[tokio::test]
async fn gc_leaves_alone_a_shard_a_move_is_writing_back_onto_a_disk_garbage_names() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = store(dir.path());
    let body: Vec<u8> = (0..20_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let stream = futures::stream::iter(vec![Ok::<_, std::io::Error>(Bytes::from(body.clone()))]);
    let written = write_body(&store, stream, Owner { id: 1, part_number: 0, label: Arc::from(Vec::new()) }, None).await.expect("put");
    let manifest = manifest_of(&store, &written);
    store.meta.create_bucket("b").expect("bucket");
    store.meta.put_object("b", "k", &manifest, Expect::Any).expect("commit");
    let owner = ShardOwner::Object { bucket: "b".into(), key: "k".into() };
    let mut seg = manifest.segments[0].clone();
    let home = seg.shards[0].disk;
    let spare = (1..=4).find(|d| seg.shards.iter().all(|l| l.disk != *d)).expect("a disk the segment does not use");
    let limiter = Limiter::new(0);

    // Shard 0 moves away: its old file at home is garbage, due now.
    let owned = OwnedSegment { coding: manifest.coding, segment: seg.clone() };
    copy_shard(&store, &owner, &owned, 0, spare, &limiter).await.expect("move away").expect("moved");
    seg.shards[0].disk = spare;

    // And moves back home. The copy lands in the file the garbage entry names, and a GC pass
    // runs before the move commits.
    let coded = store.coded(&manifest.coding).expect("coded");
    let header = store.disk(spare).expect("spare").check(seg.id, 0, seg.shards[0].hash, false).await.expect("moved copy");
    let txn = MoveTxn::begin(&store, &owner, seg.id, vec![ShardMove { index: 0, from: spare, to: home }]).await.expect("begin");
    let r = rebuild_onto(&store, &coded, &seg, header, &[(0, home)]).await.expect("copy back");
    assert_eq!(r.done, vec![(0, home)], "the copy back was written");
    gc_pass(&store).await.expect("gc pass during the move");
    assert_eq!(txn.commit(&[(0, home)]).await.expect("commit").len(), 1, "the move back committed");
    gc_pass(&store).await.expect("gc pass after the move");

    // The committed shard is there and whole; the copy moved off is collected.
    let home_disk = store.disk(home).expect("home");
    home_disk.check(seg.id, 0, seg.shards[0].hash, true).await.expect("GC deleted the shard the move wrote back before it committed");
    assert!(store.disk(spare).expect("spare").check(seg.id, 0, seg.shards[0].hash, false).await.is_err(), "the abandoned copy on the spare disk is collected");
}
