//! Tests against a real RocksDB in a temp dir.

use crate::*;

/// A store in a new temp dir, with no garbage delay (the other modules' tests use it too).
pub(crate) fn open() -> (tempfile::TempDir, RocksMeta) {
    let dir = tempfile::tempdir().expect("tempdir");
    let meta = RocksMeta::open(dir.path(), 0).expect("open");
    (dir, meta)
}

pub(crate) fn manifest(version: u128, segs: &[(u128, &[u32])]) -> Manifest {
    Manifest {
        version_id: version,
        size: 5,
        etag: format!("etag{version}"),
        modified_ms: 1,
        content_type: None,
        headers: vec![],
        user_meta: vec![],
        parts: 0,
        coding: Coding { codec: 1, k: 4, m: 2, chunk_size: 262144 },
        segments: segs
            .iter()
            .map(|(id, disks)| SegmentMeta {
                id: *id,
                len: 5,
                shards: disks.iter().map(|d| ShardLoc { disk: *d, hash: [0; 32] }).collect(),
            })
            .collect(),
    }
}

#[test]
fn overwrite_moves_old_segments_to_garbage_and_index() {
    let (_d, meta) = open();
    meta.create_bucket("b").expect("bucket");
    meta.add_intent(10, vec![(0, 1), (1, 2)]).expect("intent");
    meta.put_object("b", "k", &manifest(1, &[(10, &[1, 2])]), Expect::Any).expect("put");
    assert!(meta.list_intents().expect("intents").is_empty(), "commit clears the intent");
    assert_eq!(meta.shards_on_disk(1, None, 10).expect("idx"), vec![(10, 0)]);
    let old = meta.put_object("b", "k", &manifest(2, &[(11, &[2, 1])]), Expect::Any).expect("put2");
    assert_eq!(old.map(|m| m.version_id), Some(1));
    assert_eq!(meta.shards_on_disk(1, None, 10).expect("idx"), vec![(11, 1)]);
    let g = meta.due_garbage(now_ms(), 10).expect("garbage");
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].0, 10);
    assert_eq!(g[0].1.shards, vec![(0, 1), (1, 2)]);
    meta.remove_garbage(10).expect("rm");
    assert_eq!(meta.garbage_count().expect("count"), 0);
}

#[test]
fn compare_and_swap_refuses_stale_version() {
    let (_d, meta) = open();
    meta.create_bucket("b").expect("bucket");
    meta.put_object("b", "k", &manifest(1, &[]), Expect::Version(None)).expect("create");
    let err = meta.put_object("b", "k", &manifest(2, &[]), Expect::Version(None));
    assert!(matches!(err, Err(MetaError::VersionConflict { .. })));
    meta.put_object("b", "k", &manifest(3, &[]), Expect::Version(Some(1))).expect("cas");
    assert_eq!(meta.object("b", "k").expect("get").map(|m| m.version_id), Some(3));
}

#[test]
fn bucket_lifecycle() {
    let (_d, meta) = open();
    assert!(matches!(
        meta.put_object("nope", "k", &manifest(1, &[]), Expect::Any),
        Err(MetaError::NoSuchBucket { .. })
    ));
    meta.create_bucket("b").expect("bucket");
    assert!(matches!(meta.create_bucket("b"), Err(MetaError::BucketExists { .. })));
    meta.put_object("b", "k", &manifest(1, &[]), Expect::Any).expect("put");
    assert!(matches!(meta.delete_bucket("b"), Err(MetaError::BucketNotEmpty { .. })));
    meta.delete_object("b", "k", Expect::Any).expect("del");
    meta.delete_bucket("b").expect("delete bucket");
    assert!(meta.list_buckets().expect("list").is_empty());
}

#[test]
fn listing_with_delimiter_and_pagination() {
    let (_d, meta) = open();
    meta.create_bucket("b").expect("bucket");
    meta.create_bucket("b2").expect("bucket");
    let keys = ["a/1", "a/2", "a/b/3", "b", "c/1", "c/2", "d", "\u{0}x", "zz"];
    for k in keys {
        meta.put_object("b", k, &manifest(1, &[]), Expect::Any).expect("put");
    }
    meta.put_object("b2", "a/9", &manifest(1, &[]), Expect::Any).expect("put other bucket");
    let all = meta.list_objects("b", &ListQuery { max: 100, ..Default::default() }).expect("list");
    let mut sorted: Vec<&str> = keys.to_vec();
    sorted.sort();
    assert_eq!(all.entries.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(), sorted);
    assert!(!all.truncated);

    let q = ListQuery { delimiter: Some("/".into()), max: 100, ..Default::default() };
    let p = meta.list_objects("b", &q).expect("list");
    assert_eq!(p.common_prefixes, vec!["a/", "c/"]);
    assert_eq!(p.entries.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(), vec!["\u{0}x", "b", "d", "zz"]);

    // Page through with max 2 and make sure the union equals the full listing.
    let mut seen = Vec::new();
    let mut resume = None;
    loop {
        let q = ListQuery { delimiter: Some("/".into()), max: 2, resume: resume.clone(), ..Default::default() };
        let p = meta.list_objects("b", &q).expect("page");
        seen.extend(p.entries.iter().map(|e| e.key.clone()));
        seen.extend(p.common_prefixes.iter().cloned());
        if !p.truncated {
            break;
        }
        resume = p.resume;
    }
    seen.sort();
    assert_eq!(seen, vec!["\u{0}x", "a/", "b", "c/", "d", "zz"]);

    let p = meta
        .list_objects("b", &ListQuery { prefix: "a/".into(), delimiter: Some("/".into()), max: 10, ..Default::default() })
        .expect("prefix");
    assert_eq!(p.common_prefixes, vec!["a/b/"]);
    assert_eq!(p.entries.len(), 2);
    let p = meta
        .list_objects("b", &ListQuery { start_after: Some("c/1".into()), max: 10, ..Default::default() })
        .expect("start after");
    assert_eq!(p.entries.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(), vec!["c/2", "d", "zz"]);
}

#[test]
fn multipart_complete_keeps_used_parts_and_collects_the_rest() {
    let (_d, meta) = open();
    meta.create_bucket("b").expect("bucket");
    let up = UploadRecord {
        upload_id: "u1".into(),
        bucket: "b".into(),
        key: "k".into(),
        created_ms: 0,
        content_type: None,
        headers: vec![],
        user_meta: vec![],
    };
    meta.create_upload(&up).expect("create");
    for (n, seg) in [(1u32, 100u128), (2, 200), (3, 300)] {
        let part = PartRecord {
            part_number: n,
            size: 5,
            etag: format!("e{n}"),
            modified_ms: 0,
            coding: Coding { codec: 1, k: 4, m: 2, chunk_size: 262144 },
            segments: manifest(0, &[(seg, &[1])]).segments,
            checksum: None,
        };
        meta.put_part("b", "k", "u1", &part).expect("part");
    }
    assert_eq!(meta.list_parts("u1", 1, 10).expect("parts").len(), 2);
    let (uploads, _) = meta.list_uploads("b", "", None, None, 10).expect("uploads");
    assert_eq!(uploads.len(), 1);
    meta.complete_upload::<MetaError>("b", "k", "u1", |_, parts| {
        assert_eq!(parts.len(), 3);
        let mut m = manifest(9, &[]);
        m.segments = parts[0].segments.iter().chain(parts[2].segments.iter()).cloned().collect();
        Ok((m, vec![1, 3]))
    })
    .expect("complete");
    let garbage: Vec<u128> = meta.due_garbage(now_ms(), 10).expect("g").into_iter().map(|g| g.0).collect();
    assert_eq!(garbage, vec![200]);
    assert!(matches!(meta.upload("b", "k", "u1"), Err(MetaError::NoSuchUpload { .. })));
    assert_eq!(meta.object("b", "k").expect("obj").map(|m| m.segments.len()), Some(2));
}

#[test]
fn data_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let meta = RocksMeta::open(dir.path(), 0).expect("open");
        meta.create_bucket("b").expect("bucket");
        meta.put_object("b", "k", &manifest(4, &[(1, &[1])]), Expect::Any).expect("put");
        meta.add_intent(77, vec![(0, 3)]).expect("intent");
    }
    let meta = RocksMeta::open(dir.path(), 0).expect("reopen");
    assert_eq!(meta.object("b", "k").expect("get").map(|m| m.version_id), Some(4));
    let intents = meta.list_intents().expect("intents");
    assert_eq!(intents.len(), 1);
    meta.intents_to_garbage(&[77]).expect("to garbage");
    assert!(meta.list_intents().expect("intents").is_empty());
    assert_eq!(meta.due_garbage(now_ms(), 10).expect("g").len(), 1);
}

#[test]
fn index_entries_name_their_owner_through_multipart_completion() {
    let (_d, meta) = open();
    meta.create_bucket("b").expect("bucket");
    meta.put_object("b", "obj", &manifest(1, &[(10, &[1, 2])]), Expect::Any).expect("put");
    let obj = ShardOwner::Object { bucket: "b".into(), key: "obj".into() };
    let on1 = meta.indexed_shards(1, None, 10).expect("idx");
    assert_eq!(on1, vec![IndexedShard { segment: 10, index: 0, owner: Some(obj.clone()) }]);
    let up = UploadRecord { upload_id: "u9".into(), bucket: "b".into(), key: "mp".into(), created_ms: 0, content_type: None, headers: vec![], user_meta: vec![] };
    meta.create_upload(&up).expect("upload");
    let part = PartRecord { part_number: 3, size: 5, etag: "e".into(), modified_ms: 0, coding: manifest(0, &[]).coding, segments: manifest(0, &[(20, &[1])]).segments, checksum: None };
    meta.put_part("b", "mp", "u9", &part).expect("part");
    let part_owner = ShardOwner::Part { bucket: "b".into(), key: "mp".into(), upload_id: "u9".into(), part: 3 };
    assert_eq!(meta.indexed_shards(1, Some((10, 0)), 10).expect("idx")[0].owner, Some(part_owner.clone()));
    assert_eq!(meta.find_owner(20).expect("scan"), Some(part_owner.clone()));
    assert_eq!(meta.owned_segment(&part_owner, 20).expect("seg").map(|s| s.segment.id), Some(20));
    meta.complete_upload::<MetaError>("b", "mp", "u9", |_, parts| {
        let mut m = manifest(5, &[]);
        m.segments = parts[0].segments.clone();
        Ok((m, vec![3]))
    })
    .expect("complete");
    let mp = ShardOwner::Object { bucket: "b".into(), key: "mp".into() };
    assert_eq!(meta.indexed_shards(1, Some((10, 0)), 10).expect("idx")[0].owner, Some(mp.clone()));
    assert_eq!(meta.find_owner(20).expect("scan"), Some(mp));
    assert_eq!(meta.find_owner(999).expect("scan"), None);
}

#[test]
fn a_copy_an_intent_names_becomes_garbage_when_its_segment_is_referenced_without_it() {
    // A move of a part's shard 0 to disk 9 is under way (its intent names the copy) when the
    // upload completes: the completed object references the part's shard on disk 1, and the
    // copy on disk 9 must not be left an orphan that nothing would ever collect.
    let (_d, meta) = open();
    meta.create_bucket("b").expect("bucket");
    let up = UploadRecord { upload_id: "u1".into(), bucket: "b".into(), key: "mp".into(), created_ms: 0, content_type: None, headers: vec![], user_meta: vec![] };
    meta.create_upload(&up).expect("upload");
    let part = PartRecord { part_number: 1, size: 5, etag: "e".into(), modified_ms: 0, coding: manifest(0, &[]).coding, segments: manifest(0, &[(30, &[1, 2])]).segments, checksum: None };
    meta.put_part("b", "mp", "u1", &part).expect("part");
    meta.add_intent(30, vec![(0, 9)]).expect("the move's intent");
    meta.complete_upload::<MetaError>("b", "mp", "u1", |_, parts| {
        let mut m = manifest(5, &[]);
        m.segments = parts[0].segments.clone();
        Ok((m, vec![1]))
    })
    .expect("complete");
    assert!(meta.list_intents().expect("intents").is_empty());
    let g = meta.due_garbage(now_ms(), 10).expect("garbage");
    assert_eq!(g.iter().map(|(s, r)| (*s, r.shards.clone())).collect::<Vec<_>>(), vec![(30, vec![(0, 9)])], "the move's copy is garbage");
    assert_eq!(meta.shard_file_use(9, 30, 0).expect("use"), ShardFileUse::Free);
    assert_eq!(meta.shard_file_use(1, 30, 0).expect("use"), ShardFileUse::Indexed);
    // A plain write: the intent names exactly what the record references, and nothing is garbage.
    meta.add_intent(31, vec![(0, 1), (1, 2)]).expect("intent");
    assert_eq!(meta.shard_file_use(2, 31, 1).expect("use"), ShardFileUse::Intended);
    meta.put_object("b", "k", &manifest(1, &[(31, &[1, 2])]), Expect::Any).expect("put");
    assert_eq!(meta.due_garbage(now_ms(), 10).expect("garbage").len(), 1);
}

#[test]
fn gc_takes_out_only_the_shards_it_dealt_with_and_keeps_those_queued_meanwhile() {
    let (_d, meta) = open();
    meta.add_intent(40, vec![(0, 1)]).expect("intent");
    meta.intents_to_garbage(&[40]).expect("garbage");
    let read_by_gc = meta.due_garbage(now_ms(), 10).expect("due");
    assert_eq!(read_by_gc[0].1.shards, vec![(0, 1)]);
    // While GC deletes (0, 1), another copy of the segment is given up and queued.
    meta.add_intent(40, vec![(1, 2)]).expect("intent");
    meta.intents_to_garbage(&[40]).expect("garbage");
    meta.remove_garbage_shards(40, vec![(0, 1)]).expect("remove");
    let left = meta.due_garbage(now_ms(), 10).expect("due");
    assert_eq!(left.iter().map(|(s, r)| (*s, r.shards.clone())).collect::<Vec<_>>(), vec![(40, vec![(1, 2)])], "the copy queued meanwhile stays queued");
    meta.remove_garbage_shards(40, vec![(1, 2)]).expect("remove");
    assert_eq!(meta.garbage_count().expect("count"), 0, "an emptied entry is deleted");
    meta.remove_garbage_shards(40, vec![(1, 2)]).expect("removing from no entry is nothing");
}

#[test]
fn due_garbage_pages_past_entries_that_stay_queued() {
    let (_d, meta) = open();
    meta.create_bucket("b").expect("bucket");
    for seg in 1..=5u128 {
        meta.add_intent(seg, vec![(0, 1)]).expect("intent");
    }
    meta.intents_to_garbage(&[1, 2, 3, 4, 5]).expect("garbage");
    let first = meta.due_garbage_after(now_ms(), None, 2).expect("page");
    assert_eq!(first.iter().map(|g| g.0).collect::<Vec<_>>(), vec![1, 2]);
    let next = meta.due_garbage_after(now_ms(), Some(2), 2).expect("page");
    assert_eq!(next.iter().map(|g| g.0).collect::<Vec<_>>(), vec![3, 4]);
    let last = meta.due_garbage_after(now_ms(), Some(4), 2).expect("page");
    assert_eq!(last.iter().map(|g| g.0).collect::<Vec<_>>(), vec![5]);
    assert!(meta.due_garbage_after(now_ms(), Some(5), 2).expect("page").is_empty());
}

#[test]
fn moving_a_shard_is_a_compare_and_swap_that_keeps_index_and_garbage_exact() {
    let (_d, meta) = open();
    meta.create_bucket("b").expect("bucket");
    meta.put_object("b", "k", &manifest(1, &[(10, &[1, 2, 3])]), Expect::Any).expect("put");
    let owner = ShardOwner::Object { bucket: "b".into(), key: "k".into() };
    meta.add_intent(10, vec![(1, 7)]).expect("intent");
    // Shard 1 moves from disk 2 to disk 7; a stale move (shard 2 is not on disk 9) is refused.
    let applied = meta
        .move_shards(&owner, 10, &[ShardMove { index: 1, from: 2, to: 7 }, ShardMove { index: 2, from: 9, to: 8 }])
        .expect("move");
    assert_eq!(applied, vec![ShardMove { index: 1, from: 2, to: 7 }]);
    let m = meta.object("b", "k").expect("get").expect("object");
    assert_eq!(m.version_id, 1, "a move is not a new object version");
    assert_eq!(m.segments[0].shards.iter().map(|s| s.disk).collect::<Vec<_>>(), vec![1, 7, 3]);
    assert!(meta.shards_on_disk(2, None, 10).expect("idx").is_empty());
    assert_eq!(meta.shards_on_disk(7, None, 10).expect("idx"), vec![(10, 1)]);
    assert!(meta.is_indexed(7, 10, 1).expect("idx") && !meta.is_indexed(2, 10, 1).expect("idx"));
    assert!(meta.list_intents().expect("intents").is_empty(), "the new copy is referenced now");
    let g = meta.due_garbage(now_ms(), 10).expect("garbage");
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].1.shards, vec![(1, 2)], "only the old copy is garbage");
    // Deleting the object merges its shards into the same segment's garbage entry.
    meta.delete_object("b", "k", Expect::Any).expect("delete");
    let g = meta.due_garbage(now_ms(), 10).expect("garbage");
    assert_eq!(g.len(), 1);
    let mut shards = g[0].1.shards.clone();
    shards.sort_unstable();
    assert_eq!(shards, vec![(0, 1), (1, 2), (1, 7), (2, 3)]);
    // Moving a shard of a segment nobody references any more does nothing.
    assert!(meta.move_shards(&owner, 10, &[ShardMove { index: 0, from: 1, to: 5 }]).expect("move").is_empty());
    assert_eq!(meta.count_indexed(5).expect("count"), 0);
}

#[test]
fn retiring_a_disk_needs_it_empty_and_forgets_its_garbage_and_drain() {
    let (_d, meta) = open();
    meta.create_bucket("b").expect("bucket");
    let disks = vec![
        DiskRecord { id: 1, uuid: 11, path: "n1:/a".into() },
        DiskRecord { id: 2, uuid: 22, path: "n2:/b".into() },
        DiskRecord { id: 3, uuid: 33, path: "n2:/c".into() },
    ];
    let nodes = vec![
        NodeRecord { name: "n1".into(), number: 1, addr: String::new(), disks: vec![1] },
        NodeRecord { name: "n2".into(), number: 2, addr: String::new(), disks: vec![2, 3] },
    ];
    meta.put_cluster(&nodes, &disks).expect("cluster");
    meta.put_object("b", "k", &manifest(1, &[(10, &[1, 2])]), Expect::Any).expect("put");
    // A 5-byte segment in 4+2: every shard holds 2 bytes (the stripe is padded to 4 chunks of 2).
    assert_eq!(meta.disk_usage(2).expect("usage"), (1, 2));
    assert_eq!(meta.disk_usage(3).expect("usage"), (0, 0));
    let drain = DrainRecord { disk: 2, state: DiskLifecycle::Decommissioned, started_ms: 1, shards_at_start: 1, bytes_at_start: 2 };
    meta.put_drains(&[drain]).expect("drains");
    let err = meta.retire_disks(&[2], &[]).expect_err("disk 2 holds a shard");
    assert!(matches!(err, MetaError::DiskInUse { disk: 2, shards: 1 }), "{err}");
    // Shard 1 moves to disk 3; the old copy on 2 is queued as garbage, with an intent still naming disk 2.
    let owner = ShardOwner::Object { bucket: "b".into(), key: "k".into() };
    meta.move_shards(&owner, 10, &[ShardMove { index: 1, from: 2, to: 3 }]).expect("move");
    meta.add_intent(99, vec![(0, 2), (1, 1)]).expect("intent");
    assert_eq!((meta.disk_usage(2).expect("usage"), meta.disk_usage(3).expect("usage")), ((0, 0), (1, 2)), "the move moved the counters");
    let gone = meta.retire_disks(&[2], &[]).expect("retire");
    assert_eq!(gone.iter().map(|d| d.uuid).collect::<Vec<_>>(), vec![22]);
    assert_eq!(meta.disks().expect("disks").iter().map(|d| d.id).collect::<Vec<_>>(), vec![1, 3]);
    assert_eq!(meta.nodes().expect("nodes")[1].disks, vec![3]);
    assert!(meta.drains().expect("drains").is_empty());
    assert_eq!(meta.retired_disks().expect("retired").len(), 1);
    assert_eq!(meta.garbage_count().expect("garbage"), 0, "the old copy went with the disk");
    assert_eq!(meta.list_intents().expect("intents")[0].1.shards, vec![(1, 1)]);
    // Removing a node drops its record.
    assert!(meta.removed_nodes().expect("removed").is_empty(), "removing disks removes no node");
    meta.retire_disks(&[], &["n1".to_owned()]).expect("node");
    assert_eq!(meta.nodes().expect("nodes").len(), 1);
    // Its name is remembered (once), so that it is never admitted again.
    meta.retire_disks(&[], &["n1".to_owned()]).expect("again");
    assert_eq!(meta.removed_nodes().expect("removed"), vec!["n1".to_owned()]);
}

#[test]
fn drain_records_written_before_byte_counts_still_load() {
    let (_d, meta) = open();
    #[derive(serde::Serialize)]
    struct Old {
        disk: u32,
        state: DiskLifecycle,
        started_ms: i64,
        shards_at_start: u64,
    }
    let raw = crate::types::encode(&vec![Old { disk: 4, state: DiskLifecycle::Draining, started_ms: 7, shards_at_start: 9 }]).expect("encode");
    meta.put_raw_for_test(crate::store::CF_SYSTEM, b"drains", &raw).expect("put");
    let d = meta.drains().expect("drains");
    assert_eq!(d, vec![DrainRecord { disk: 4, state: DiskLifecycle::Draining, started_ms: 7, shards_at_start: 9, bytes_at_start: 0 }]);
}

#[test]
fn the_ledger_follows_every_commit_and_matches_a_recount() {
    let dir = tempfile::tempdir().expect("tempdir");
    let meta = RocksMeta::open(dir.path(), 0).expect("open");
    let all = |_: DiskId| true;
    let check = |meta: &RocksMeta, segments: u64, bytes: u64| {
        let t = meta.committed_totals().expect("ledger");
        assert_eq!(t, Totals { segments, bytes });
        let r = meta.recount(&all, 0).expect("recount");
        assert_eq!(r.totals, t, "ledger and recount disagree");
        assert_eq!(r.shards, r.index_entries, "manifests and index disagree");
        assert!(r.disk_counters_match, "per-disk counters and recount disagree: {:?} vs {:?}", meta.disk_usages(), r.disks);
        assert!(r.shortfall_counters_match, "shortfall counters and recount disagree: {:?}", meta.shortfall_counts());
    };
    meta.create_bucket("b").expect("bucket");
    check(&meta, 0, 0);
    meta.put_object("b", "k", &manifest(1, &[(10, &[1, 2]), (11, &[2, 3])]), Expect::Any).expect("put");
    check(&meta, 2, 10);
    meta.put_object("b", "k", &manifest(2, &[(12, &[1, 2])]), Expect::Any).expect("overwrite");
    check(&meta, 1, 5);
    let up = UploadRecord { upload_id: "u".into(), bucket: "b".into(), key: "m".into(), created_ms: 0, content_type: None, headers: vec![], user_meta: vec![] };
    meta.create_upload(&up).expect("upload");
    for (n, seg) in [(1u32, 20u128), (2, 21), (2, 22)] {
        let part = PartRecord { part_number: n, size: 5, etag: format!("e{n}"), modified_ms: 0, coding: manifest(0, &[]).coding, segments: manifest(0, &[(seg, &[4])]).segments, checksum: None };
        meta.put_part("b", "m", "u", &part).expect("part");
    }
    check(&meta, 3, 15); // part 2 was uploaded twice: its first segment is garbage
    meta.complete_upload::<MetaError>("b", "m", "u", |_, parts| {
        let mut m = manifest(7, &[]);
        m.segments = parts[0].segments.clone();
        Ok((m, vec![1]))
    })
    .expect("complete");
    check(&meta, 2, 10);
    meta.delete_object("b", "k", Expect::Any).expect("delete");
    check(&meta, 1, 5);
    // A shard move keeps the per-disk counters exact.
    let owner = ShardOwner::Object { bucket: "b".into(), key: "m".into() };
    assert_eq!(meta.move_shards(&owner, 20, &[ShardMove { index: 0, from: 4, to: 9 }]).expect("move").len(), 1);
    assert_eq!(meta.disk_usage(9).expect("usage"), (1, 2));
    check(&meta, 1, 5);
    let r = meta.recount(&|d| d != 9, 0).expect("recount");
    assert_eq!(r.by_missing.get(&1), Some(&Totals { segments: 1, bytes: 5 }));
    assert_eq!(meta.move_shards(&owner, 20, &[ShardMove { index: 0, from: 9, to: 4 }]).expect("move back").len(), 1);
    // A counter that drifted (here: decremented behind the ledger's back) fails the recount.
    let mut b = rocksdb::WriteBatch::default();
    meta.batch_count_move(&mut b, 4, 77, 2).expect("drift");
    meta.write(b).expect("write");
    assert!(!meta.recount(&all, 0).expect("recount").disk_counters_match, "a drifted counter must not pass the recount");
    let mut b = rocksdb::WriteBatch::default();
    meta.batch_count_move(&mut b, 77, 4, 2).expect("undo");
    meta.write(b).expect("write");
    check(&meta, 1, 5);
    // Shards on an unusable disk show in the recount by number missing.
    let r = meta.recount(&|d| d != 4, 0).expect("recount");
    assert_eq!(r.by_missing.get(&1), Some(&Totals { segments: 1, bytes: 5 }));
    assert_eq!(r.unrecoverable, Totals::default());
    drop(meta);
    // A store from before the ledger gets one from a recount at open.
    let meta = RocksMeta::open(dir.path(), 0).expect("reopen");
    meta.reset_ledger_for_test().expect("reset");
    drop(meta);
    let meta = RocksMeta::open(dir.path(), 0).expect("reopen");
    check(&meta, 1, 5);
}

#[test]
fn shards_stored_nowhere_are_indexed_under_no_disk_and_repaired_by_a_move() {
    let (_d, meta) = open();
    meta.create_bucket("b").expect("bucket");
    // Written while two domains were down: shards 4 and 5 were not placed.
    meta.put_object("b", "k", &manifest(1, &[(30, &[1, 2, 3, 4, NO_DISK, NO_DISK])]), Expect::Any).expect("put");
    let mut indexed = Vec::new();
    meta.visit_indexed(NO_DISK, |e| {
        indexed.push((e.segment, e.index));
        Ok(())
    })
    .expect("index");
    indexed.sort_unstable();
    assert_eq!(indexed, vec![(30, 4), (30, 5)], "the unplaced shards are indexed under NO_DISK");
    // NO_DISK is never usable: the recount counts the segment 2 shards short.
    let r = meta.recount(&|d| d != NO_DISK, 1).expect("recount");
    assert_eq!(r.by_missing.get(&2), Some(&Totals { segments: 1, bytes: 5 }));
    assert!(r.over_domain_cap.is_empty() && r.sharing_a_disk == 0, "unplaced shards crowd no domain");
    assert!(r.disk_counters_match && r.shards == r.index_entries);
    // Repair's move from NO_DISK places one; the index and counters follow.
    let owner = ShardOwner::Object { bucket: "b".into(), key: "k".into() };
    assert_eq!(meta.move_shards(&owner, 30, &[ShardMove { index: 4, from: NO_DISK, to: 5 }]).expect("move").len(), 1);
    let r = meta.recount(&|d| d != NO_DISK, 1).expect("recount");
    assert_eq!(r.by_missing.get(&1), Some(&Totals { segments: 1, bytes: 5 }));
    assert!(r.disk_counters_match && r.shards == r.index_entries);
    // Two shards in one failure domain (disks 1 and 2 on node 100) are over a cap of one.
    meta.note_domain(1, 100);
    meta.note_domain(2, 100);
    let r = meta.recount(&|d| d != NO_DISK, 1).expect("recount");
    assert_eq!(r.over_domain_cap, vec![30]);
    assert_eq!(meta.segments_over_domain_cap(1).expect("scan"), vec![30]);
    assert!(meta.segments_over_domain_cap(2).expect("scan").is_empty());
}

#[test]
fn segments_placed_short_of_m_domain_losses_are_counted_until_spread() {
    let dir = tempfile::tempdir().expect("tempdir");
    let meta = RocksMeta::open(dir.path(), 0).expect("open");
    meta.create_bucket("b").expect("bucket");
    let short = |meta: &RocksMeta| meta.shortfall_counts().expect("counters");
    let agrees = |meta: &RocksMeta| {
        let r = meta.recount(&|d| d != NO_DISK, 1).expect("recount");
        assert!(r.shortfall_counters_match, "counters {:?} vs scan", meta.shortfall_counts());
        r
    };
    // Nodes 1 (disks 1, 2) and 2 (disks 3, 4); disks 5..8 are their own domains.
    meta.put_cluster(
        &[
            NodeRecord { name: "n1".into(), number: 1001, addr: String::new(), disks: vec![1, 2] },
            NodeRecord { name: "n2".into(), number: 1002, addr: String::new(), disks: vec![3, 4] },
        ],
        &[],
    )
    .expect("cluster");
    meta.put_object("b", "spread", &manifest(1, &[(40, &[1, 3, 5, 6, 7, 8])]), Expect::Any).expect("put");
    assert!(short(&meta).is_empty(), "one shard per domain falls short of nothing");
    // As the old placement did while nodes were down: two shards on disk 5 (and node 1 twice).
    meta.put_object("b", "crowded", &manifest(2, &[(41, &[1, 2, 5, 5, 7, 8])]), Expect::Any).expect("put");
    // Written while two domains were down: two shards not placed.
    meta.put_object("b", "partial", &manifest(3, &[(42, &[1, 3, 5, 6, NO_DISK, NO_DISK])]), Expect::Any).expect("put");
    // The crowded one survives one domain loss (shortfall 1), the partial one none (2).
    let one = Some(&Totals { segments: 1, bytes: 5 });
    let s = short(&meta);
    assert_eq!((s.get(&(2, 1)), s.get(&(2, 2))), (one, one), "{s:?}");
    let r = agrees(&meta);
    assert_eq!(r.sharing_a_disk, 1);
    assert_eq!(r.over_domain_cap, vec![41]);
    assert_eq!(r.by_shortfall, s, "with every disk usable, what they survive now is what their placement does");
    // Disk 3 unusable: the spread segment survives one loss fewer, the partial one no read.
    let r = meta.recount(&|d| d != NO_DISK && d != 3, 1).expect("recount");
    assert_eq!((r.by_shortfall.get(&(2, 1)), r.by_shortfall.get(&(2, 2)), r.by_shortfall.get(&(2, 3))), (Some(&Totals { segments: 2, bytes: 10 }), None, one));
    // Spreading one crowding shard: node 1 still holds two.
    let crowded = ShardOwner::Object { bucket: "b".into(), key: "crowded".into() };
    assert_eq!(meta.move_shards(&crowded, 41, &[ShardMove { index: 3, from: 5, to: 6 }]).expect("move").len(), 1);
    assert_eq!(short(&meta).get(&(2, 1)), one);
    agrees(&meta);
    assert_eq!(meta.move_shards(&crowded, 41, &[ShardMove { index: 1, from: 2, to: 3 }]).expect("move").len(), 1);
    assert_eq!(short(&meta).get(&(2, 1)), None, "spread out");
    agrees(&meta);
    // Placing the missing shards; deleting drops what is left.
    let partial = ShardOwner::Object { bucket: "b".into(), key: "partial".into() };
    assert_eq!(meta.move_shards(&partial, 42, &[ShardMove { index: 4, from: NO_DISK, to: 7 }]).expect("move").len(), 1);
    assert_eq!(short(&meta).get(&(2, 1)), one);
    meta.delete_object("b", "partial", Expect::Any).expect("delete");
    assert!(short(&meta).is_empty(), "{:?}", short(&meta));
    agrees(&meta);
    // A store from before the counters gets them from a recount at open, node domains included.
    meta.put_object("b", "crowded", &manifest(4, &[(43, &[1, 2, 3, 4, 5, 6])]), Expect::Any).expect("put");
    meta.reset_ledger_for_test().expect("reset");
    drop(meta);
    let meta = RocksMeta::open(dir.path(), 0).expect("reopen");
    assert_eq!(short(&meta).get(&(2, 1)), one, "two nodes with two shards each: survives one node loss");
    agrees(&meta);
}

#[test]
fn records_are_the_bytes_docs_formats_md_gives() {
    // [u8 format version 1][postcard of the record] (docs/formats.md §2.1): an older store
    // opens and reads only while these bytes hold.
    let g = crate::types::GarbageRecord { due_ms: 0, shards: vec![(1, 2)] };
    assert_eq!(crate::types::encode(&g).expect("encode"), [0x01, 0x00, 0x01, 0x01, 0x02]);
    let back: crate::types::GarbageRecord = crate::types::decode("garbage", &[0x01, 0x00, 0x01, 0x01, 0x02]).expect("decode");
    assert_eq!(back.shards, vec![(1, 2)]);
    assert!(crate::types::decode::<crate::types::GarbageRecord>("garbage", &[0x02, 0x00, 0x01, 0x01, 0x02]).is_err(), "an unknown version is refused");
}
