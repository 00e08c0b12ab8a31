//! The metadata seam against a real RocksDB: every mutation is a command, and a
//! log of commands rebuilds the store byte for byte.

use crate::*;

fn open() -> (tempfile::TempDir, RocksMeta) {
    let dir = tempfile::tempdir().expect("tempdir");
    // A garbage delay, so garbage due times depend on the clock at stamping.
    let meta = RocksMeta::open(dir.path(), 60_000).expect("open");
    (dir, meta)
}

pub(crate) fn seg(id: SegmentId, disks: &[DiskId]) -> SegmentMeta {
    SegmentMeta { id, len: 1000, shards: disks.iter().map(|d| ShardLoc { disk: *d, hash: [u8::try_from(*d).unwrap_or(0); 32] }).collect() }
}

pub(crate) fn coding() -> Coding {
    Coding { codec: 1, k: 2, m: 1, chunk_size: 65536 }
}

pub(crate) fn manifest(version: u128, segs: Vec<SegmentMeta>) -> Manifest {
    Manifest {
        version_id: version,
        size: 1000 * segs.len() as u64,
        etag: format!("etag{version}"),
        modified_ms: 7,
        content_type: None,
        headers: vec![],
        user_meta: vec![],
        parts: 0,
        coding: coding(),
        segments: segs,
    }
}

fn part(number: u32, s: SegmentMeta) -> PartRecord {
    PartRecord { part_number: number, size: s.len, etag: format!("p{number}-{}", s.id), modified_ms: 3, coding: coding(), segments: vec![s], checksum: None }
}

fn upload(id: &str, key: &str) -> UploadRecord {
    UploadRecord { upload_id: id.into(), bucket: "b".into(), key: key.into(), created_ms: 5, content_type: None, headers: vec![], user_meta: vec![] }
}

/// Every kind of mutation, through the public functions callers use.
fn workload(meta: &RocksMeta) {
    let nodes = vec![
        NodeRecord { name: "n1".into(), number: 1, addr: "127.0.0.1:1".into(), disks: vec![1, 2] },
        NodeRecord { name: "n2".into(), number: 2, addr: "127.0.0.1:2".into(), disks: vec![3, 4] },
        NodeRecord { name: "n3".into(), number: 3, addr: "127.0.0.1:3".into(), disks: vec![5] },
    ];
    let disks: Vec<DiskRecord> = (1..=5).map(|id| DiskRecord { id, uuid: u128::from(id) * 11, path: format!("/d{id}") }).collect();
    meta.put_disks(&disks[..4]).expect("disks");
    meta.put_cluster(&nodes, &disks).expect("cluster");
    assert_eq!(meta.map_changed().expect("map changed"), 2, "put_cluster was the first change, this the second");
    meta.put_access_key("AK", &AccessKeyRecord { secret: "s".into(), created_ms: 1, name: "root".into(), admin: true }).expect("key");
    meta.put_access_key("AK2", &AccessKeyRecord { secret: "t".into(), created_ms: 2, name: "team".into(), admin: false }).expect("key");
    meta.put_access_key("AK3", &AccessKeyRecord { secret: "u".into(), created_ms: 3, name: "gone".into(), admin: false }).expect("key");
    meta.delete_access_key("AK3").expect("delete key");
    meta.create_bucket("b").expect("bucket");
    meta.create_owned_bucket("gone", "AK2").expect("bucket");
    meta.add_join_token_at("t1", 5, 1_000, Some(2)).expect("token");
    meta.use_join_token_at("t1", "n1", &[1; 32], 6).expect("use");
    meta.revoke_join_tokens().expect("revoke");
    meta.add_join_token_at("t2", 7, 1_000, None).expect("token");
    meta.add_node_join_token_at("t3", 8, 1_000, Some(1), "n7").expect("node token");
    meta.use_join_token_at("t2", "n2", &[2; 32], 9).expect("use");
    meta.add_intent(10, vec![(0, 1), (1, 3), (2, 5)]).expect("intent");
    meta.put_object("b", "k", &manifest(1, vec![seg(10, &[1, 3, 5])]), Expect::Version(None)).expect("put");
    meta.add_intent(11, vec![(0, 2), (1, 4), (2, 5)]).expect("intent");
    meta.put_object("b", "k", &manifest(2, vec![seg(11, &[2, 4, 5])]), Expect::Any).expect("overwrite");
    meta.put_object("b", "other", &manifest(3, vec![seg(12, &[1, 4, 5]), seg(13, &[2, 3, 5])]), Expect::Any).expect("put");
    meta.add_intent(14, vec![(0, 1)]).expect("intent");
    meta.intents_to_garbage(&[14]).expect("abandon");
    // The sweep gives up one intent as it read it, and not one a writer added to since.
    meta.add_intent(15, vec![(0, 2)]).expect("intent");
    meta.add_intent(16, vec![(1, 3)]).expect("intent");
    let read: Vec<_> = meta.list_intents().expect("intents").into_iter().filter(|(s, _)| *s == 15 || *s == 16).collect();
    meta.add_intent(16, vec![(2, 4)]).expect("added to");
    meta.give_up_intents(read).expect("give up");
    // Multipart: two parts, part 1 uploaded twice, part 3 left out of the completion.
    meta.create_upload(&upload("u1", "mp")).expect("upload");
    meta.put_part("b", "mp", "u1", &part(1, seg(20, &[1, 3, 5]))).expect("part");
    meta.put_part("b", "mp", "u1", &part(1, seg(21, &[2, 4, 5]))).expect("part again");
    let sum = Some(crate::PartChecksum { algorithm: "sha256".into(), value: "c3VtIG9mIHBhcnQgdHdv".into() });
    meta.put_part("b", "mp", "u1", &PartRecord { checksum: sum, ..part(2, seg(22, &[1, 4, 5])) }).expect("part with a checksum");
    meta.put_part("b", "mp", "u1", &part(3, seg(23, &[2, 3, 5]))).expect("part");
    meta.complete_upload::<MetaError>("b", "mp", "u1", |_, parts| {
        let segs = parts.iter().filter(|p| p.part_number < 3).flat_map(|p| p.segments.clone()).collect();
        Ok((Manifest { parts: 2, ..manifest(4, segs) }, vec![1, 2]))
    })
    .expect("complete");
    meta.create_upload(&upload("u2", "ab")).expect("upload");
    meta.put_part("b", "ab", "u2", &part(1, seg(24, &[1, 3, 5]))).expect("part");
    meta.abort_upload("b", "ab", "u2").expect("abort");
    // Tags: a tagged PUT retagged, a tagged upload completed (its tags move to the object), a
    // tagged upload aborted, a bucket's tags set, and the tags of a bucket that goes.
    let t = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
    meta.put_object_tagged("b", "tagged", &manifest(5, vec![]), Expect::Any, &t("a", "1")).expect("tagged put");
    meta.put_object_tags("b", "tagged", 5, &t("a", "2")).expect("retag");
    meta.create_upload_tagged(&upload("u6", "tagged-mp"), &t("m", "p")).expect("tagged upload");
    meta.put_part("b", "tagged-mp", "u6", &part(1, seg(29, &[1, 3, 5]))).expect("part");
    meta.complete_upload::<MetaError>("b", "tagged-mp", "u6", |_, parts| Ok((manifest(6, parts.iter().flat_map(|p| p.segments.clone()).collect()), vec![1])))
        .expect("complete tagged");
    meta.create_upload_tagged(&upload("u7", "tagged-ab"), &t("x", "y")).expect("tagged upload");
    meta.abort_upload("b", "tagged-ab", "u7").expect("abort tagged");
    meta.put_bucket_tags("b", &t("team", "x")).expect("bucket tags");
    meta.put_bucket_tags("gone", &t("team", "y")).expect("bucket tags");
    let rule = CorsRule { allowed_origins: vec!["*".into()], allowed_methods: vec!["GET".into()], max_age_seconds: Some(5), ..CorsRule::default() };
    meta.put_bucket_cors("b", std::slice::from_ref(&rule)).expect("cors");
    meta.put_bucket_cors("gone", &[rule]).expect("cors");
    let lc = LifecycleRule {
        id: "old".into(),
        enabled: true,
        filter: RuleFilter::And { prefix: Some("logs/".into()), tags: vec![("t".into(), "1".into())], size_greater: Some(1), size_less: None },
        expiration: Some(Expiration { at: Some(ExpireAt::Days(3)), expired_markers: false }),
        noncurrent: Some(NoncurrentExpiration { days: 1, keep: Some(2) }),
        abort_upload_days: None,
    };
    meta.put_bucket_lifecycle("b", std::slice::from_ref(&lc)).expect("lifecycle");
    meta.put_bucket_lifecycle("gone", &[lc]).expect("lifecycle");
    meta.put_master_key(&[9; 32]).expect("master key");
    meta.put_master_key(&[8; 32]).expect("a second master key writes nothing");
    meta.put_bucket_encryption("b", "AES256").expect("default encryption");
    meta.put_bucket_encryption("gone", "AES256").expect("default encryption");
    // A small object kept inline, and one overwritten (its bytes wait for GC).
    meta.put_inline(60, b"small".to_vec()).expect("inline bytes");
    meta.put_object("b", "small", &manifest(60, vec![SegmentMeta { id: 60, len: 5, shards: vec![] }]), Expect::Any).expect("inline object");
    meta.put_inline(61, b"smaller".to_vec()).expect("inline bytes");
    meta.put_object("b", "small", &manifest(61, vec![SegmentMeta { id: 61, len: 7, shards: vec![] }]), Expect::Any).expect("inline overwrite");
    meta.put_bucket_policy("b", r#"{"Statement":[]}"#).expect("policy");
    meta.put_bucket_policy("gone", r#"{"Statement":[]}"#).expect("policy");
    meta.put_public_access_block("b", Some(&PublicAccessBlock { block_public_acls: true, ..PublicAccessBlock::default() })).expect("block");
    meta.put_public_access_block("gone", Some(&PublicAccessBlock::default())).expect("block");
    meta.put_bucket_ownership("b", "BucketOwnerEnforced").expect("ownership");
    meta.put_bucket_ownership("gone", "ObjectWriter").expect("ownership");
    meta.put_bucket_acl("b", "bucket acl").expect("bucket ACL");
    meta.put_bucket_acl("gone", "bucket acl").expect("bucket ACL");
    // Versions: overwrites archived, a move of an archived version's shard, a delete marker, a
    // version deleted for good, a suspended write, and the versioning of a bucket that goes.
    meta.put_bucket_versioning("b", Versioning::Enabled).expect("versioning");
    meta.put_object("b", "v", &manifest(40, vec![seg(40, &[1, 2, 3])]), Expect::Any).expect("v1");
    meta.put_object("b", "v", &manifest(41, vec![seg(41, &[1, 2, 3])]), Expect::Any).expect("v2");
    let archived = ShardOwner::Version { bucket: "b".into(), key: "v".into(), version_id: 40 };
    assert_eq!(meta.move_shards(&archived, 40, &[ShardMove { index: 0, from: 1, to: 4 }]).expect("move archived").len(), 1);
    assert!(meta.delete_object("b", "v", Expect::Any).expect("marker").marker);
    meta.put_version_tags("b", "v", 40, &t("old", "1")).expect("tag an archived version");
    meta.put_version_acl("b", "v", 40, "acl of an archived version", "").expect("archived version ACL");
    meta.put_version_acl("b", "v", 41, "acl of the current version", "").expect("current version ACL");
    meta.delete_version("b", "v", VersionRef::Id(41), false).expect("delete version");
    // The lifecycle expires a noncurrent version.
    meta.put_object("b", "ev", &manifest(43, vec![seg(43, &[1, 2, 3])]), Expect::Any).expect("ev1");
    meta.put_object("b", "ev", &manifest(44, vec![seg(44, &[1, 2, 3])]), Expect::Any).expect("ev2");
    let at = manifest(43, vec![]).modified_ms;
    meta.expire_version("b", "ev", VersionRef::Id(43), ExpiryExpect::Noncurrent { modified_ms: at, newer: 0 }).expect("expired by the lifecycle");
    meta.put_bucket_versioning("b", Versioning::Suspended).expect("suspend");
    meta.put_object("b", "v", &manifest(42, vec![seg(42, &[2, 3, 4])]), Expect::Any).expect("null version");
    meta.put_bucket_versioning("gone", Versioning::Enabled).expect("versioning");
    // Object lock: a bucket with it from the start, a default retention, a legal hold, a
    // version whose deletion is refused, then let through by a bypass, and a locked upload.
    meta.create_locked_bucket("lk", "AK2").expect("locked bucket");
    meta.put_bucket_lock("lk", &BucketLock { default: Some((LockMode::Governance, RetentionPeriod::Days(1))) }).expect("default retention");
    let now = now_ms();
    meta.put_object("lk", "o", &Manifest { modified_ms: now, ..manifest(60, vec![seg(60, &[1, 2, 3])]) }, Expect::Any).expect("retained by default");
    let held = VersionLock { retention: None, legal_hold: true };
    meta.put_object_locked("lk", "o", &Manifest { modified_ms: now, ..manifest(61, vec![seg(61, &[1, 2, 3])]) }, Expect::Any, &[], Some(&held)).expect("held");
    assert!(matches!(meta.delete_version("lk", "o", VersionRef::Id(61), true), Err(MetaError::ObjectLocked { .. })), "a legal hold outlasts any bypass");
    meta.put_version_lock("lk", "o", 61, Some(None), Some(false), true).expect("hold off, default retention lifted");
    assert!(matches!(meta.delete_version("lk", "o", VersionRef::Id(60), false), Err(MetaError::ObjectLocked { .. })));
    meta.delete_version("lk", "o", VersionRef::Id(60), true).expect("bypassed");
    meta.create_upload_locked(&UploadRecord { bucket: "lk".into(), ..upload("u9", "mp") }, &[], Some(&held)).expect("locked upload");
    meta.put_object_locked("lk", "kept", &manifest(62, vec![seg(62, &[1, 2, 3])]), Expect::Any, &[], Some(&held)).expect("a held version stays");
    meta.create_upload(&UploadRecord { bucket: "gone".into(), ..upload("u3", "x") }).expect("upload");
    meta.put_part("gone", "x", "u3", &part(1, seg(25, &[2, 4, 5]))).expect("part");
    meta.delete_bucket("gone").expect("delete bucket with an open upload");
    // Repair moves a shard; a stale move does not apply.
    let owner = ShardOwner::Object { bucket: "b".into(), key: "other".into() };
    meta.add_intent(12, vec![(0, 2)]).expect("intent");
    let applied = meta.move_shards(&owner, 12, &[ShardMove { index: 0, from: 1, to: 2 }, ShardMove { index: 1, from: 9, to: 3 }]).expect("move");
    assert_eq!(applied.len(), 1);
    meta.delete_object("b", "k", Expect::Any).expect("delete");
    meta.put_drains(&[DrainRecord { disk: 1, state: DiskLifecycle::Draining, started_ms: 9, shards_at_start: 2, bytes_at_start: 1000 }]).expect("drain");
    meta.put_rebalance_record(Some(&RebalanceRecord { tolerance_pct: 5.0, bandwidth: 0, started_ms: 9 })).expect("rebalance");
    meta.put_rebalance_record(None).expect("rebalance ended");
    // Disk 4 still holds shards; disk 6 was never used: retire a fresh node's disk.
    meta.put_cluster(&[nodes.clone(), vec![NodeRecord { name: "n4".into(), number: 4, addr: "127.0.0.1:4".into(), disks: vec![6] }]].concat(), &[disks.clone(), vec![DiskRecord { id: 6, uuid: 66, path: "/d6".into() }]].concat())
        .expect("cluster");
    assert!(matches!(meta.retire_disks(&[4], &[]), Err(MetaError::DiskInUse { .. })));
    let gone = meta.retire_disks(&[6], &["n4".into()]).expect("retire");
    assert_eq!(gone.len(), 1);
    let due = meta.due_garbage(i64::MAX, 100).expect("garbage");
    assert!(!due.is_empty());
    meta.remove_garbage(due[0].0).expect("remove garbage");
}

/// A command log as a replicated one looks to the gateway that proposes: every command is
/// appended in its encoded form (whether its precondition will hold or not) and then applied,
/// decoded from those bytes, to the store.
struct Recording {
    store: std::sync::Weak<RocksMeta>,
    log: parking_lot::Mutex<Vec<(Vec<u8>, bool)>>,
}

impl CommandLog for Recording {
    fn submit(&self, cmd: &Command) -> MetaResult<Applied> {
        let bytes = cmd.encode()?;
        let store = self.store.upgrade().ok_or_else(|| MetaError::NotCommitted { command: cmd.name(), detail: "store closed".into() })?;
        let applied = store.apply(&Command::decode(&bytes)?);
        self.log.lock().push((bytes, applied.is_ok()));
        applied
    }
    fn read_barrier(&self) -> MetaResult<()> {
        Ok(())
    }
}

#[test]
fn a_log_of_commands_rebuilds_the_store_byte_for_byte() {
    let (_a_dir, a) = open();
    let a = std::sync::Arc::new(a);
    let rec = std::sync::Arc::new(Recording { store: std::sync::Arc::downgrade(&a), log: parking_lot::Mutex::new(Vec::new()) });
    assert!(a.set_log(rec.clone()).is_ok());
    assert!(a.set_log(rec.clone()).is_err(), "a second log is refused");
    // Every mutation goes through the log: one that bypassed it would be missing from the
    // replay below, and the stores would differ.
    workload(&a);
    let log = std::mem::take(&mut *rec.log.lock());
    assert!(log.len() > 30, "the workload made {} commands", log.len());
    assert!(log.iter().any(|(_, ok)| !ok), "the workload has a refused command too");
    // A replica applies the log later: any clock read inside apply would show.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let (_b_dir, b) = open();
    for (i, (bytes, ok)) in log.iter().enumerate() {
        let outcome = b.apply(&Command::decode(bytes).expect("decode"));
        assert_eq!(outcome.is_ok(), *ok, "command {i} had another outcome on the replica: {outcome:?}");
    }
    let (da, db) = (a.dump_for_test().expect("dump a"), b.dump_for_test().expect("dump b"));
    assert!(da.len() > 20, "the workload wrote {} records", da.len());
    for (x, y) in da.iter().zip(&db) {
        assert_eq!(x, y, "first record that differs");
    }
    assert_eq!(da.len(), db.len());
    // The derived state agrees too.
    assert_eq!(a.shortfall_counts().expect("a"), b.shortfall_counts().expect("b"));
    assert_eq!(a.domain_of(3), b.domain_of(3));
}

/// A log that commits nothing, as a gateway without a majority sees it.
struct NoMajority;

impl CommandLog for NoMajority {
    fn submit(&self, cmd: &Command) -> MetaResult<Applied> {
        Err(MetaError::NotCommitted { command: cmd.name(), detail: "no majority of gateways reachable".into() })
    }
    fn read_barrier(&self) -> MetaResult<()> {
        Err(MetaError::NotCommitted { command: "read", detail: "no majority of gateways reachable".into() })
    }
}

#[test]
fn without_a_commit_no_mutation_writes_anything() {
    let (_d, meta) = open();
    meta.create_bucket("b").expect("bucket");
    meta.put_object("b", "k", &manifest(1, vec![seg(1, &[1, 2, 3])]), Expect::Any).expect("put");
    meta.create_upload(&upload("u1", "mp")).expect("upload");
    meta.put_part("b", "mp", "u1", &part(1, seg(2, &[1, 2, 3]))).expect("part");
    let before = meta.dump_for_test().expect("dump");
    assert!(meta.set_log(std::sync::Arc::new(NoMajority)).is_ok());
    let refused = |what: &str, r: MetaResult<()>| {
        assert!(matches!(r, Err(MetaError::NotCommitted { .. })), "{what} did not go through the log: {r:?}");
    };
    let owner = ShardOwner::Object { bucket: "b".into(), key: "k".into() };
    refused("create_bucket", meta.create_bucket("c"));
    refused("put_object", meta.put_object("b", "k2", &manifest(2, vec![]), Expect::Any).map(drop));
    refused("delete_object", meta.delete_object("b", "k", Expect::Any).map(drop));
    refused("create_upload", meta.create_upload(&upload("u2", "x")));
    refused("put_part", meta.put_part("b", "mp", "u1", &part(2, seg(3, &[1, 2, 3]))));
    refused("abort_upload", meta.abort_upload("b", "mp", "u1"));
    refused("complete_upload", meta.complete_upload::<MetaError>("b", "mp", "u1", |_, p| Ok((manifest(3, p[0].segments.clone()), vec![1]))).map(drop));
    refused("put_access_key", meta.put_access_key("AK2", &AccessKeyRecord { secret: "s".into(), created_ms: 1, name: "x".into(), admin: false }));
    refused("put_disks", meta.put_disks(&[DiskRecord { id: 9, uuid: 9, path: "/d9".into() }]));
    refused("put_cluster", meta.put_cluster(&[], &[]));
    refused("map_changed", meta.map_changed().map(drop));
    refused("add_intent", meta.add_intent(40, vec![(0, 1)]));
    refused("intents_to_garbage", meta.intents_to_garbage(&[40]));
    refused("give_up_intents", meta.give_up_intents(vec![(40, IntentRecord { started_ms: 1, shards: vec![(0, 1)] })]));
    refused("remove_garbage", meta.remove_garbage(1));
    refused("put_drains", meta.put_drains(&[]));
    refused("put_rebalance_record", meta.put_rebalance_record(None));
    refused("retire_disks", meta.retire_disks(&[9], &[]).map(drop));
    refused("move_shards", meta.move_shards(&owner, 1, &[ShardMove { index: 0, from: 1, to: 4 }]).map(drop));
    refused("delete_bucket", meta.delete_bucket("b"));
    refused("put_bucket_versioning", meta.put_bucket_versioning("b", Versioning::Enabled));
    refused("delete_version", meta.delete_version("b", "k", VersionRef::Null, false).map(drop));
    refused("put_bucket_lock", meta.put_bucket_lock("b", &BucketLock::default()));
    refused("put_version_lock", meta.put_version_lock("b", "k", 1, None, Some(true), false));
    refused("create_locked_bucket", meta.create_locked_bucket("new", ""));
    assert_eq!(meta.dump_for_test().expect("dump"), before, "a mutation wrote without a commit");
}

/// A log whose read barrier counts its calls and cannot confirm a read, as a gateway cut
/// off from the majority sees it.
struct CutOff {
    barriers: std::sync::atomic::AtomicUsize,
}

impl CommandLog for CutOff {
    fn submit(&self, cmd: &Command) -> MetaResult<Applied> {
        Err(MetaError::NotCommitted { command: cmd.name(), detail: "cut off".into() })
    }
    fn read_barrier(&self) -> MetaResult<()> {
        self.barriers.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Err(MetaError::NotCommitted { command: "read", detail: "cut off".into() })
    }
}

#[test]
fn every_client_read_passes_the_read_barrier_and_state_machine_reads_do_not() {
    let (_d, meta) = open();
    meta.create_bucket("b").expect("bucket");
    let m = manifest(1, vec![seg(1, &[1, 2, 3])]);
    meta.put_object("b", "k", &m, Expect::Any).expect("put");
    meta.create_upload(&upload("u1", "mp")).expect("upload");
    meta.put_part("b", "mp", "u1", &part(1, seg(2, &[1, 2, 3]))).expect("part");
    meta.put_access_key("AK", &AccessKeyRecord { secret: "s".into(), created_ms: 1, name: "x".into(), admin: false }).expect("key");
    // Before a log is set, client reads answer from the store itself.
    assert_eq!(MetaRead::object(&meta, "b", "k").expect("read"), Some(m.clone()));
    let log = std::sync::Arc::new(CutOff { barriers: std::sync::atomic::AtomicUsize::new(0) });
    assert!(meta.set_log(log.clone()).is_ok());
    let calls = || log.barriers.load(std::sync::atomic::Ordering::SeqCst);
    let mut expected = 0;
    let mut barred = |what: &str, r: MetaResult<()>| {
        expected += 1;
        assert!(matches!(r, Err(MetaError::NotCommitted { .. })), "{what} answered without the read barrier: {r:?}");
        assert_eq!(calls(), expected, "{what} passed the barrier {} times", calls() + 1 - expected);
    };
    barred("bucket", meta.bucket("b").map(drop));
    barred("list_buckets", meta.list_buckets().map(drop));
    barred("object", meta.object("b", "k").map(drop));
    barred("list_objects", meta.list_objects("b", &ListQuery { max: 10, ..Default::default() }).map(drop));
    barred("upload", meta.upload("b", "mp", "u1").map(drop));
    barred("list_parts", meta.list_parts("u1", 0, 10).map(drop));
    barred("list_uploads", meta.list_uploads("b", "", None, None, 10).map(drop));
    barred("access_key", meta.access_key("AK").map(drop));
    barred("list_access_keys", meta.list_access_keys().map(drop));
    barred("join_token", meta.join_token("t").map(drop));
    barred("bucket_versioning", meta.bucket_versioning("b").map(drop));
    barred("object_version", meta.object_version("b", "k", None).map(drop));
    barred("bucket_lifecycle", meta.bucket_lifecycle("b").map(drop));
    barred("bucket_encryption", meta.bucket_encryption("b").map(drop));
    barred("master_key", meta.master_key().map(drop));
    barred("list_versions", meta.list_versions("b", &VersionQuery { max: 10, ..Default::default() }).map(drop));
    // Workers and the state machine read the local state: no barrier, and they still see it.
    assert_eq!(meta.local_object("b", "k").expect("local read"), Some(m));
    meta.apply(&Command::CreateBucket { bucket: "c".into(), created_ms: 5 }).expect("the state machine applies");
    meta.apply(&Command::DeleteBucket { bucket: "c".into(), garbage_due_ms: 5 }).expect("the state machine applies");
    assert_eq!(calls(), expected, "applying a command passed the read barrier");
}

#[test]
fn the_map_epoch_grows_with_every_map_change_and_survives_a_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = |disks: Vec<DiskId>| NodeRecord { name: "n1".into(), number: 1, addr: "127.0.0.1:1".into(), disks };
    let disk = |id: DiskId| DiskRecord { id, uuid: u128::from(id), path: format!("/d{id}") };
    {
        let meta = RocksMeta::open(dir.path(), 0).expect("open");
        assert_eq!(meta.map_epoch().expect("epoch"), 0, "a new store has no map yet");
        meta.put_cluster(&[node(vec![1, 2])], &[disk(1), disk(2)]).expect("register");
        assert_eq!(meta.map_epoch().expect("epoch"), 1);
        assert_eq!(meta.map_changed().expect("state change"), 2);
        meta.retire_disks(&[2], &[]).expect("retire");
        assert_eq!(meta.map_epoch().expect("epoch"), 3, "removing a disk is a change");
        assert!(meta.retire_disks(&[1, 9], &[]).is_ok());
        assert_eq!(meta.map_epoch().expect("epoch"), 4);
    }
    let meta = RocksMeta::open(dir.path(), 0).expect("reopen");
    assert_eq!(meta.map_epoch().expect("epoch"), 4, "the epoch went back on reopen");
    assert_eq!(meta.map_changed().expect("restart"), 5);
}

#[test]
fn a_failed_precondition_writes_nothing() {
    let (_d, meta) = open();
    meta.create_bucket("b").expect("bucket");
    meta.put_object("b", "k", &manifest(1, vec![seg(1, &[1, 2, 3])]), Expect::Any).expect("put");
    let before = meta.dump_for_test().expect("dump");
    let refused = [
        Command::CreateBucket { bucket: "b".into(), created_ms: 1 },
        Command::PutObject { bucket: "b".into(), key: "k".into(), manifest: manifest(2, vec![seg(2, &[1, 2, 3])]), expect: Expect::Version(Some(9)), garbage_due_ms: 0 },
        Command::PutObject { bucket: "nope".into(), key: "k".into(), manifest: manifest(2, vec![]), expect: Expect::Any, garbage_due_ms: 0 },
        Command::DeleteObject { bucket: "b".into(), key: "k".into(), expect: Expect::Version(None), garbage_due_ms: 0 },
        Command::DeleteBucket { bucket: "b".into(), garbage_due_ms: 0 },
        Command::PutPart { bucket: "b".into(), key: "k".into(), upload_id: "none".into(), part: part(1, seg(3, &[1, 2, 3])).as_v1().expect("no checksum"), garbage_due_ms: 0 },
        Command::PutPartWithChecksum { bucket: "b".into(), key: "k".into(), upload_id: "none".into(), part: part(1, seg(3, &[1, 2, 3])), garbage_due_ms: 0 },
        Command::RetireDisks { disks: vec![1], nodes: vec![] },
    ];
    for cmd in &refused {
        assert!(meta.apply(cmd).is_err(), "{} should be refused", cmd.name());
        assert_eq!(meta.dump_for_test().expect("dump"), before, "{} wrote something", cmd.name());
    }
}

#[test]
fn a_completion_built_from_a_part_replaced_meanwhile_is_refused_then_rebuilt() {
    let (_d, meta) = open();
    meta.create_bucket("b").expect("bucket");
    meta.create_upload(&upload("u", "k")).expect("upload");
    meta.put_part("b", "k", "u", &part(1, seg(1, &[1, 2, 3]))).expect("part");
    let stale = vec![PartStamp::of(&part(1, seg(1, &[1, 2, 3])))];
    meta.put_part("b", "k", "u", &part(1, seg(2, &[1, 2, 3]))).expect("part replaced");
    // The command itself: built from the old part, it must not commit (its segment is garbage now).
    let before = meta.dump_for_test().expect("dump");
    let cmd = Command::CompleteUpload { bucket: "b".into(), key: "k".into(), upload_id: "u".into(), used: stale, manifest: manifest(1, vec![seg(1, &[1, 2, 3])]), garbage_due_ms: 0 };
    assert!(matches!(meta.apply(&cmd), Err(MetaError::PartsChanged { part: 1, .. })));
    assert_eq!(meta.dump_for_test().expect("dump"), before);
    // Through the wrapper: a part replaced while the manifest is built makes it build again.
    let mut builds = 0;
    meta.complete_upload::<MetaError>("b", "k", "u", |_, parts| {
        builds += 1;
        if builds == 1 {
            meta.put_part("b", "k", "u", &part(1, seg(3, &[1, 2, 3])))?;
        }
        Ok((manifest(1, parts.iter().flat_map(|p| p.segments.clone()).collect()), vec![1]))
    })
    .expect("complete");
    assert_eq!(builds, 2);
    let m = meta.object("b", "k").expect("get").expect("object");
    assert_eq!(m.segments.iter().map(|s| s.id).collect::<Vec<_>>(), vec![3], "the object holds the part stored last");
    let garbage: Vec<SegmentId> = meta.due_garbage(i64::MAX, 10).expect("garbage").into_iter().map(|(s, _)| s).collect();
    assert_eq!(garbage, vec![1, 2], "the replaced parts are garbage, the used one is not");
}

#[test]
fn a_conditional_completion_commits_only_over_the_version_it_expects_and_keeps_the_upload_otherwise() {
    let (_d, meta) = open();
    meta.create_bucket("b").expect("bucket");
    meta.put_object("b", "k", &manifest(5, vec![seg(9, &[1, 2, 3])]), Expect::Any).expect("object");
    meta.create_upload(&upload("u", "k")).expect("upload");
    meta.put_part("b", "k", "u", &part(1, seg(1, &[1, 2, 3]))).expect("part");
    let build = |_: &UploadRecord, parts: &[PartRecord]| -> MetaResult<(Manifest, Vec<u32>)> {
        Ok((manifest(6, parts.iter().flat_map(|p| p.segments.clone()).collect()), vec![1]))
    };
    // If-None-Match: * over an existing key, and If-Match of another version: refused, nothing written.
    let before = meta.dump_for_test().expect("dump");
    for expect in [Expect::Version(None), Expect::Version(Some(4))] {
        let r = meta.complete_upload_if("b", "k", "u", expect, build);
        assert!(matches!(r, Err(MetaError::VersionConflict { .. })), "{expect:?}: {r:?}");
        assert_eq!(meta.dump_for_test().expect("dump"), before, "{expect:?} wrote something");
    }
    // The upload is still there, and completes over the version it names.
    let replaced = meta.complete_upload_if("b", "k", "u", Expect::Version(Some(5)), build).expect("complete");
    assert_eq!(replaced.map(|m| m.version_id), Some(5));
    assert_eq!(meta.object("b", "k").expect("get").map(|m| m.version_id), Some(6));
    // The command as a log carries it: variant 25, appended.
    let cmd = Command::CompleteUploadIf {
        bucket: "b".into(),
        key: "k".into(),
        upload_id: "u".into(),
        used: vec![],
        manifest: manifest(1, vec![]),
        garbage_due_ms: 0,
        expect: Expect::Version(None),
    };
    let bytes = cmd.encode().expect("encode");
    assert_eq!(&bytes[..2], &[1, 25]);
    assert_eq!(Command::decode(&bytes).expect("decode"), cmd);
}

#[test]
fn commands_are_the_bytes_docs_formats_md_gives_and_bad_bytes_are_typed_errors() {
    // Format-version byte 1, postcard: variant index as a varint, then the fields.
    assert_eq!(Command::CreateBucket { bucket: "b".into(), created_ms: 5 }.encode().expect("encode"), vec![1, 0, 1, b'b', 10]);
    assert_eq!(Command::RemoveGarbage { segment: 1 }.encode().expect("encode"), vec![1, 13, 1]);
    // The numbers docs/formats.md §2.6 gives the newest commands.
    let number = |c: Command| c.encode().expect("encode")[1];
    assert_eq!(number(Command::CreateLockedBucket { bucket: "b".into(), created_ms: 1, owner: String::new() }), 46);
    assert_eq!(number(Command::PutBucketLifecycle { bucket: "b".into(), rules: vec![] }), 47);
    let expect = ExpiryExpect::LoneMarker;
    assert_eq!(number(Command::ExpireVersion { bucket: "b".into(), key: "k".into(), version: VersionRef::Null, expect, garbage_due_ms: 0, now_ms: 0 }), 48);
    assert_eq!(number(Command::PutMasterKey { key: [0; 32] }), 49);
    assert_eq!(number(Command::PutBucketEncryption { bucket: "b".into(), algorithm: String::new() }), 50);
    assert_eq!(number(Command::PutInline { segment: 1, data: vec![], hash: [0; 32], started_ms: 0 }), 51);
    let (tags, lock) = (vec![], None);
    let put = Command::PutObjectInline { bucket: "b".into(), key: "k".into(), manifest: manifest(1, vec![]), expect: Expect::Any, garbage_due_ms: 0, tags, lock, segment: 1, data: vec![7], hash: [0; 32] };
    assert_eq!(number(put), 52);
    assert_eq!(number(Command::GiveUpIntents { intents: vec![] }), 56);
    let secrets = crate::ClusterSecrets { ca_cert_pem: String::new(), ca_key_pem: String::new(), node_secret: String::new(), gateway_secret: String::new() };
    assert_eq!(number(Command::PutClusterSecrets { secrets }), 57);
    let cmd = Command::PutObject { bucket: "b".into(), key: "k/é".into(), manifest: manifest(1, vec![seg(5, &[1, 2, 3])]), expect: Expect::Version(Some(4)), garbage_due_ms: 77 };
    let bytes = cmd.encode().expect("encode");
    assert_eq!(Command::decode(&bytes).expect("decode"), cmd);
    for bad in [&[][..], &[2, 0, 1, b'b', 10][..], &bytes[..bytes.len() - 1], &[1, 200][..]] {
        assert!(matches!(Command::decode(bad), Err(MetaError::BadCommand { .. })), "{bad:?}");
    }
    // One command and nothing else: a trailing byte is refused, and the error counts them.
    for (bad, extra) in [(vec![1, 13, 1, 0], 1), ([&bytes[..], &[0, 0][..]].concat(), 2)] {
        match Command::decode(&bad) {
            Err(MetaError::BadCommand { detail }) => assert_eq!(detail, format!("{extra} trailing bytes after the record")),
            other => panic!("{bad:?} decoded as {other:?}"),
        }
    }
}

#[test]
fn every_command_and_record_decodes_whole_and_none_with_a_byte_more() {
    let (_dir, meta) = open();
    let meta = std::sync::Arc::new(meta);
    let rec = std::sync::Arc::new(Recording { store: std::sync::Arc::downgrade(&meta), log: parking_lot::Mutex::new(Vec::new()) });
    assert!(meta.set_log(rec.clone()).is_ok());
    workload(&meta);
    // Leave an intent and an upload with a part open, and a rebalance running, so every kind
    // of record is stored.
    meta.add_intent(27, vec![(0, 2), (1, 4)]).expect("intent");
    meta.create_upload(&upload("u4", "open")).expect("upload");
    meta.put_part("b", "open", "u4", &part(1, seg(26, &[1, 3, 5]))).expect("part");
    let sum = Some(crate::PartChecksum { algorithm: "crc32".into(), value: "AAAAAA==".into() });
    meta.put_part("b", "open", "u4", &PartRecord { checksum: sum, ..part(2, seg(90, &[2, 4, 5])) }).expect("a part of the newer shape");
    meta.put_rebalance_record(Some(&RebalanceRecord { tolerance_pct: 5.0, bandwidth: 0, started_ms: 9 })).expect("rebalance");
    meta.create_upload_tagged(&upload("u8", "tagged-open"), &[("o".into(), "p".into())]).expect("tagged upload");
    let log = std::mem::take(&mut *rec.log.lock());
    for (bytes, _) in &log {
        let cmd = Command::decode(bytes).expect("a logged command decodes");
        let longer = [&bytes[..], &[0][..]].concat();
        assert!(matches!(Command::decode(&longer), Err(MetaError::BadCommand { .. })), "{} with a byte more decoded", cmd.name());
    }
    use crate::store::{CF_BUCKETS, CF_DISK_SHARDS, CF_GARBAGE, CF_INLINE, CF_INTENTS, CF_KEYS, CF_LEDGER, CF_OBJECTS, CF_PARTS, CF_SYSTEM, CF_UPLOADS, CF_VERSIONS};
    use crate::types::decode;
    fn whole<T: serde::de::DeserializeOwned>(what: &'static str, v: &[u8]) -> MetaResult<()> {
        decode::<T>(what, v).map(|_| ())
    }
    let read = |cf: &str, k: &[u8], v: &[u8]| -> MetaResult<()> {
        match (cf, k) {
            (CF_BUCKETS, _) => whole::<BucketRecord>("bucket", v),
            (CF_OBJECTS, _) => whole::<Manifest>("manifest", v),
            (CF_UPLOADS, _) => whole::<UploadRecord>("upload", v),
            (CF_PARTS, _) => crate::types::decode_part(v).map(drop),
            (CF_DISK_SHARDS, _) => whole::<ShardOwner>("shard owner", v),
            (CF_INTENTS, _) => whole::<IntentRecord>("intent", v),
            (CF_GARBAGE, _) => whole::<GarbageRecord>("garbage", v),
            (CF_INLINE, _) => whole::<crate::types::InlineRecord>("inline segment", v),
            (CF_KEYS, _) => whole::<AccessKeyRecord>("access key", v),
            (CF_SYSTEM, b"disks" | b"retired-disks") => whole::<Vec<DiskRecord>>("disks", v),
            (CF_SYSTEM, b"nodes") => whole::<Vec<NodeRecord>>("nodes", v),
            (CF_SYSTEM, b"removed-nodes") => whole::<Vec<String>>("removed nodes", v),
            (CF_SYSTEM, b"drains") => whole::<Vec<DrainRecord>>("drains", v),
            (CF_SYSTEM, b"rebalance") => whole::<RebalanceRecord>("rebalance", v),
            (CF_SYSTEM, b"map-epoch") => whole::<u64>("map epoch", v),
            (CF_SYSTEM, k) if k.starts_with(b"join-token/") => whole::<JoinTokenRecord>("join token", v),
            (CF_SYSTEM, k) if k.starts_with(b"join-token-node/") => whole::<String>("join token's node", v),
            (CF_SYSTEM, k) if k.starts_with(b"join-token-use/") => whole::<String>("join token's use", v),
            (CF_SYSTEM, k) if k.starts_with(b"object-tags/") => whole::<ObjectTagsRecord>("object tags", v),
            (CF_SYSTEM, k) if k.starts_with(b"upload-tags/") || k.starts_with(b"bucket-tags/") => whole::<TagSet>("tags", v),
            (CF_SYSTEM, k) if k.starts_with(b"bucket-cors/") => whole::<Vec<CorsRule>>("cors", v),
            (CF_SYSTEM, b"sse-master-key") => whole::<[u8; 32]>("master key", v),
            (CF_SYSTEM, k) if k.starts_with(b"bucket-encryption/") => whole::<String>("bucket encryption", v),
            (CF_SYSTEM, k) if k.starts_with(b"bucket-lifecycle/") => whole::<Vec<LifecycleRule>>("lifecycle", v),
            (CF_SYSTEM, k) if k.starts_with(b"bucket-policy/") => whole::<String>("policy", v),
            (CF_SYSTEM, k) if k.starts_with(b"bucket-public-access-block/") => whole::<PublicAccessBlock>("public access block", v),
            (CF_SYSTEM, k) if k.starts_with(b"bucket-ownership/") => whole::<String>("ownership", v),
            (CF_SYSTEM, k) if k.starts_with(b"bucket-acl/") => whole::<String>("bucket ACL", v),
            (CF_SYSTEM, k) if k.starts_with(b"bucket-versioning/") => whole::<Versioning>("versioning", v),
            (CF_SYSTEM, k) if k.starts_with(b"object-lock-config/") => whole::<BucketLock>("object lock configuration", v),
            (CF_SYSTEM, k) if k.starts_with(b"object-lock/") || k.starts_with(b"upload-lock/") => whole::<VersionLock>("version lock", v),
            (CF_VERSIONS, k) if crate::versions::is_entry_key(k) => whole::<StoredVersion>("stored version", v),
            (CF_VERSIONS, _) => whole::<crate::versions::KeyHead>("version head", v),
            _ => panic!("a record this test does not know: {cf} {}", k.escape_ascii()),
        }
    };
    let mut kinds = std::collections::BTreeSet::new();
    for (cf, k, v) in meta.dump_for_test().expect("dump") {
        if cf == CF_LEDGER {
            continue; // counters, not records: see ledger_tests.rs
        }
        read(cf, &k, &v).unwrap_or_else(|e| panic!("{cf} {}: {e}", k.escape_ascii()));
        let mut longer = v.clone();
        longer.push(0);
        match read(cf, &k, &longer) {
            Err(MetaError::Corrupt { detail, .. }) => assert_eq!(detail, "1 trailing bytes after the record"),
            other => panic!("{cf} {} with a byte more read as {other:?}", k.escape_ascii()),
        }
        kinds.insert(match cf {
            CF_SYSTEM => String::from_utf8_lossy(&k).split('/').next().unwrap_or_default().to_owned(),
            CF_VERSIONS if crate::versions::is_entry_key(&k) => "versions: archive".into(),
            CF_VERSIONS => "versions: head".into(),
            _ => cf.to_string(),
        });
    }
    assert_eq!(kinds.len(), 36, "every kind of record was checked: {kinds:?}");
}

#[test]
fn giving_up_intents_takes_only_those_still_as_they_were_read() {
    let (_d, meta) = open();
    meta.add_intent(1, vec![(0, 1), (1, 2)]).expect("intent 1");
    meta.add_intent(2, vec![(0, 3)]).expect("intent 2");
    meta.add_intent(3, vec![(0, 5), (1, 6), (2, 7)]).expect("intent 3");
    let read = meta.list_intents().expect("intents");
    // Since the read: a writer adds to 2's intent, and 3's writer commits (its intent goes).
    meta.add_intent(2, vec![(1, 4)]).expect("added to 2");
    meta.create_bucket("b").expect("bucket");
    meta.put_object("b", "k", &manifest(1, vec![seg(3, &[5, 6, 7])]), Expect::Any).expect("3 commits");
    meta.give_up_intents(read).expect("give up");
    let left = meta.list_intents().expect("intents");
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].0, 2, "the intent a writer added to is left alone");
    assert!(left[0].1.shards.contains(&(0, 3)) && left[0].1.shards.contains(&(1, 4)));
    let garbage = meta.due_garbage(i64::MAX, 10).expect("garbage");
    let one = garbage.iter().find(|(s, _)| *s == 1).expect("1's shards are garbage");
    assert_eq!(one.1.shards, vec![(0, 1), (1, 2)]);
    assert!(!garbage.iter().any(|(s, _)| *s == 2), "nothing of 2 is garbage");
    assert!(!garbage.iter().any(|(s, _)| *s == 3), "nothing of committed 3 is garbage");
    for (i, d) in [(0u8, 5u32), (1, 6), (2, 7)] {
        assert_eq!(meta.shard_file_use(d, 3, i).expect("use"), ShardFileUse::Indexed, "3's shards stay indexed");
    }
}
