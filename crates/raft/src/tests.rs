//! Metadata groups of real replicas in one process: real RocksDB stores and Raft logs in
//! temporary directories, Raft's messages over real QUIC + mutual TLS on loopback.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kintsugi_meta::{Coding, Expect, Manifest, MetaError, MetaRead, RocksMeta};
use kintsugi_net::{server_config_for, Client, ClusterCa, JoinAuthority, JoinToken, Revoked, Server, TransportTuning};

use crate::group::enrol;
use crate::*;

struct Replica {
    _dir: tempfile::TempDir,
    meta: Arc<RocksMeta>,
    group: Arc<MetaGroup>,
    node: GatewayNode,
    client: Client,
    endpoint: quinn::Endpoint,
}

impl Replica {
    async fn kill(&self) {
        self.endpoint.close(0u32.into(), b"killed");
        self.group.shutdown().await;
    }
}

fn secrets(ca: &ClusterCa) -> Secrets {
    let (c, k) = ca.to_pem();
    Secrets { ca_cert_pem: c, ca_key_pem: k, node_secret: JoinToken::random_secret(), gateway_secret: JoinToken::random_secret() }
}

async fn replica(ca: &Arc<ClusterCa>, s: &Secrets, name: &str, snapshot_every: u64) -> Replica {
    replica_in(tempfile::tempdir().expect("tempdir"), ca, s, name, snapshot_every).await.expect("group")
}

/// A replica whose `--meta` directory is `dir`.
async fn replica_in(dir: tempfile::TempDir, ca: &Arc<ClusterCa>, s: &Secrets, name: &str, snapshot_every: u64) -> Result<Replica, RaftGroupError> {
    let meta = open_store(&dir);
    replica_on(dir, meta, ca, s, name, snapshot_every).await
}

/// The metadata store of a replica whose `--meta` directory is `dir`.
fn open_store(dir: &tempfile::TempDir) -> Arc<RocksMeta> {
    Arc::new(RocksMeta::open(&dir.path().join("db"), 0).expect("meta"))
}

/// A replica over a store already open in `dir` (which may hold a log and snapshots too).
async fn replica_in_with(dir: tempfile::TempDir, meta: Arc<RocksMeta>, ca: &Arc<ClusterCa>, s: &Secrets, name: &str) -> Result<Replica, RaftGroupError> {
    replica_on(dir, meta, ca, s, name, 10_000).await
}

async fn replica_on(dir: tempfile::TempDir, meta: Arc<RocksMeta>, ca: &Arc<ClusterCa>, s: &Secrets, name: &str, snapshot_every: u64) -> Result<Replica, RaftGroupError> {
    replica_at(dir, meta, ca, s, name, snapshot_every, "127.0.0.1:0", None).await
}

/// [`replica_on`], its cluster address bound at `at` (waiting for a port a replica just
/// killed there lets go of).
///
/// With `older`, it answers as a gateway from before addressed Raft messages would (see
/// [`older`]), counting in `older` the unaddressed ones it serves.
#[allow(clippy::too_many_arguments)]
async fn replica_at(
    dir: tempfile::TempDir,
    meta: Arc<RocksMeta>,
    ca: &Arc<ClusterCa>,
    s: &Secrets,
    name: &str,
    snapshot_every: u64,
    at: &str,
    older: Option<Arc<std::sync::atomic::AtomicUsize>>,
) -> Result<Replica, RaftGroupError> {
    let t = TransportTuning::default();
    let id = ca.issue("gateway").expect("identity");
    let deadline = Instant::now() + Duration::from_secs(10);
    let server = loop {
        match Server::bind(at.parse().expect("addr"), server_config_for(&id, true, &t, &[ALPN]).expect("config"), &t) {
            Ok(s) => break s,
            Err(e) if Instant::now() > deadline => panic!("binding {at}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    let node = GatewayNode { name: name.into(), cluster: server.local_addr().expect("addr").to_string(), s3: "127.0.0.1:1".into() };
    let client = Client::for_protocol::<RaftRequest>(&id, &t).expect("client");
    let mut cfg = GroupConfig::new(rand::random(), node.clone());
    cfg.heartbeat = Duration::from_millis(100);
    cfg.election = (Duration::from_millis(500), Duration::from_millis(1000));
    cfg.request_timeout = Duration::from_secs(5);
    cfg.snapshot_every = snapshot_every;
    // Small chunks, so a snapshot travels in many of them.
    cfg.snapshot_chunk = 4096;
    let group = MetaGroup::start(dir.path(), &meta, client.clone(), Some(s.clone()), cfg).await?;
    let join = Arc::new(JoinAuthority { ca: ca.clone(), secret: s.gateway_secret.clone(), admission: None, name_taken: None, revoked: Revoked::new(), issue_as: Some("gateway".into()) });
    let endpoint = server.endpoint();
    let service = match older {
        None => group.service(join),
        Some(count) => kintsugi_net::Service::new::<older::Request>(Arc::new(older::Gateway { inner: group.handler(), count }), Some(join)),
    };
    tokio::spawn(server.serve_all(vec![service]));
    Ok(Replica { _dir: dir, meta, group, node, client, endpoint })
}

/// A group of `n`: the first forms it, the others enrol through it.
async fn group_of(n: usize, snapshot_every: u64) -> Vec<Replica> {
    group_under(&Arc::new(ClusterCa::generate("test").expect("ca")), n, snapshot_every).await
}

/// [`group_of`] under the cluster CA `ca`.
async fn group_under(ca: &Arc<ClusterCa>, n: usize, snapshot_every: u64) -> Vec<Replica> {
    let s = secrets(ca);
    let mut out = Vec::new();
    for i in 0..n {
        let r = replica(ca, &s, &format!("gw{i}"), snapshot_every).await;
        if i == 0 {
            r.group.initialize_alone().await.expect("init");
            r.group.raft().wait(Some(Duration::from_secs(10))).current_leader(r.group.id(), "leader").await.expect("leader");
        } else {
            let got = enrol(r.client.clone(), &out.first().map(|f: &Replica| f.node.cluster.clone()).expect("first"), r.group.id(), &r.node, Duration::from_secs(60)).await.expect("enrol");
            assert_eq!(got, s, "an enrolled gateway receives the group's secrets");
        }
        out.push(r);
    }
    out
}

fn manifest(version: u128) -> Manifest {
    Manifest {
        version_id: version,
        size: 0,
        etag: format!("e{version}"),
        modified_ms: 1,
        content_type: None,
        headers: vec![],
        user_meta: vec![],
        parts: 0,
        coding: Coding { codec: 1, k: 4, m: 2, chunk_size: 262_144 },
        segments: vec![],
    }
}

/// Run a blocking store call as the gateway does (off the async executor).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("join")
}

fn put(meta: &Arc<RocksMeta>, key: &str, v: u128) -> impl FnOnce() -> Result<Option<Manifest>, MetaError> + Send + 'static {
    let (meta, key) = (meta.clone(), key.to_owned());
    move || meta.put_object("b", &key, &manifest(v), Expect::Any)
}

fn get(meta: &Arc<RocksMeta>, key: &str) -> impl FnOnce() -> Result<Option<Manifest>, MetaError> + Send + 'static {
    let (meta, key) = (meta.clone(), key.to_owned());
    move || meta.object("b", &key)
}

fn leader_of(rs: &[Replica]) -> Option<usize> {
    rs.iter().position(|r| r.group.is_leader())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_through_any_gateway_are_read_on_every_gateway_and_survive_the_leaders_death() {
    let rs = group_of(3, 10_000).await;
    let m1 = rs[1].meta.clone();
    blocking(move || m1.create_bucket("b")).await.expect("bucket through a follower");
    // A refusal travels back from the leader as the same typed error.
    let m2 = rs[2].meta.clone();
    assert!(matches!(blocking(move || m2.create_bucket("b")).await, Err(MetaError::BucketExists { .. })));
    for (i, r) in rs.iter().enumerate() {
        blocking(put(&r.meta, &format!("k{i}"), i as u128 + 1)).await.expect("put");
    }
    // Linearizable: every gateway reads every acknowledged write at once.
    for r in &rs {
        for i in 0..3 {
            assert_eq!(blocking(get(&r.meta, &format!("k{i}"))).await.expect("get"), Some(manifest(i as u128 + 1)), "{} reads k{i}", r.node.name);
        }
    }
    let status = rs[1].group.status().await.expect("status");
    assert_eq!(status.gateways.len(), 3);
    assert_eq!(status.gateways.iter().filter(|g| g.role == Role::Leader).count(), 1);

    let dead = leader_of(&rs).expect("a leader");
    rs[dead].kill().await;
    let alive: Vec<&Replica> = rs.iter().enumerate().filter(|(i, _)| *i != dead).map(|(_, r)| r).collect();
    let started = Instant::now();
    // A write forwarded to the dying leader over a connection its death cuts may or may not
    // have committed: it answers NotCommitted (S3 503), and a client sends it again, as here
    // (the write is idempotent). Any other error, or no success within 20 s, fails.
    loop {
        match blocking(put(&alive[0].meta, "after", 99)).await {
            Ok(_) => break,
            Err(MetaError::NotCommitted { detail, .. }) if started.elapsed() < Duration::from_secs(20) => {
                eprintln!("a write after the leader's death is retried: {detail}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("a write after the leader died: {e:?}"),
        }
    }
    eprintln!("first write after the leader's death took {:?}", started.elapsed());
    for r in &alive {
        assert_eq!(blocking(get(&r.meta, "after")).await.expect("get"), Some(manifest(99)));
        for i in 0..3 {
            assert_eq!(blocking(get(&r.meta, &format!("k{i}"))).await.expect("get"), Some(manifest(i as u128 + 1)));
        }
    }
    assert!(leader_of(&rs).is_some_and(|l| l != dead));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_a_majority_a_write_fails_in_bounded_time_and_is_not_applied() {
    let rs = group_of(3, 10_000).await;
    let m = rs[0].meta.clone();
    blocking(move || m.create_bucket("b")).await.expect("bucket");
    rs[1].kill().await;
    rs[2].kill().await;
    let started = Instant::now();
    let r = blocking(put(&rs[0].meta, "lost", 5)).await;
    assert!(matches!(r, Err(MetaError::NotCommitted { .. })), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
    // Nothing was applied on the survivor, and it refuses linearizable reads.
    assert_eq!(rs[0].meta.local_object("b", "lost").expect("local read"), None);
    assert!(matches!(blocking(get(&rs[0].meta, "lost")).await, Err(MetaError::NotCommitted { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gateway_that_joins_late_catches_up_from_a_snapshot_and_the_log() {
    let ca = Arc::new(ClusterCa::generate("test").expect("ca"));
    let s = secrets(&ca);
    let first = replica(&ca, &s, "first", 20).await;
    first.group.initialize_alone().await.expect("init");
    first.group.raft().wait(Some(Duration::from_secs(10))).current_leader(first.group.id(), "leader").await.expect("leader");
    let m = first.meta.clone();
    blocking(move || m.create_bucket("b")).await.expect("bucket");
    for v in 1..=120u128 {
        blocking(put(&first.meta, &format!("k{}", v % 40), v)).await.expect("put");
    }
    // The log behind the last snapshot is gone: the newcomer needs the snapshot.
    let purged = first.group.raft().metrics().borrow().purged;
    assert!(purged.is_some(), "the leader purged its log behind a snapshot");

    let late = replica(&ca, &s, "late", 20).await;
    enrol(late.client.clone(), &first.node.cluster, late.group.id(), &late.node, Duration::from_secs(60)).await.expect("enrol");
    blocking(put(&late.meta, "from-late", 1000)).await.expect("a write through the newcomer");
    let applied = first.group.raft().metrics().borrow().last_applied.map(|l| l.index);
    late.group.raft().wait(Some(Duration::from_secs(10))).applied_index_at_least(applied, "caught up").await.expect("caught up");
    let (a, _) = first.meta.export().expect("export");
    let (b, _) = late.meta.export().expect("export");
    assert!(a == b, "the newcomer's store is the leader's, record for record");
    assert_eq!(blocking(get(&late.meta, "k7")).await.expect("get"), Some(manifest(87)));
    // Snapshots are files: the current one and the file naming it, nothing half-written.
    for r in [&first, &late] {
        // (A build running now may add a part file; one that just finished has its file
        // beside the one it replaces for a moment, so the listing is taken until it settles.)
        let list = || -> Vec<String> {
            std::fs::read_dir(r._dir.path().join("raft-snapshots"))
                .expect("dir")
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .filter(|n| !(n.starts_with("build-") && n.ends_with(".part")))
                .collect()
        };
        let mut names = list();
        for _ in 0..50 {
            if names.len() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            names = list();
        }
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names.iter().any(|n| n == "current"), "{names:?}");
        assert!(names.iter().any(|n| n.ends_with(".snap")), "{names:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_gateways_may_speak_to_the_group() {
    let ca = Arc::new(ClusterCa::generate("test").expect("ca"));
    let rs = group_under(&ca, 1, 10_000).await;
    // A storage node's certificate under the same CA.
    let ca_node = ca.issue("node-1").expect("node identity");
    let t = TransportTuning::default();
    let client = Client::for_protocol::<RaftRequest>(&ca_node, &t).expect("client");
    let me = GatewayNode { name: "intruder".into(), cluster: "127.0.0.1:9".into(), s3: "127.0.0.1:9".into() };
    let err = enrol(client, &rs[0].node.cluster, 7, &me, Duration::from_secs(10)).await.expect_err("a node may not enrol");
    assert!(err.to_string().contains(proto::codes::FORBIDDEN), "{err}");
    assert_eq!(rs[0].group.status().await.expect("status").gateways.len(), 1);
}

/// After a crash while a snapshot was installed, the log may be purged past the current
/// snapshot; openraft needs one that reaches that far, so one is built at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_older_than_the_purged_log_is_replaced_at_start() {
    use openraft::{CommittedLeaderId, LogId, StoredMembership};
    let dir = tempfile::tempdir().expect("tempdir");
    let meta = open_store(&dir);
    let at = |i: u64| Some(LogId::new(CommittedLeaderId::new(1, 0), i));
    // The store has applied entry 10 (as after a finished import of a snapshot at 10).
    let stamp = encode(&(at(10), StoredMembership::<u64, GatewayNode>::default())).expect("stamp");
    meta.record_stamp(&stamp).expect("stamp");
    let mut sm = state_machine::StateMachine::new(meta.clone(), dir.path()).expect("state machine");
    sm.recover(None).await.expect("nothing purged");
    assert!(!dir.path().join("raft-snapshots/current").exists(), "no snapshot is built when none is needed");
    sm.recover(at(10)).await.expect("purged to 10");
    let mut sm = state_machine::StateMachine::new(meta, dir.path()).expect("state machine again");
    use openraft::storage::RaftStateMachine;
    let snap = sm.get_current_snapshot().await.expect("read").expect("a snapshot now");
    assert_eq!(snap.meta.last_log_id, at(10));
    // Reaching far enough already: nothing more is built.
    sm.recover(at(9)).await.expect("purged to 9");
    assert_eq!(std::fs::read_dir(dir.path().join("raft-snapshots")).expect("dir").count(), 2, "current and one snapshot");
    // Purged past what the store applied (an install that never began): no snapshot can cover
    // it, and the start is refused with what to do.
    let e = sm.recover(at(12)).await.expect_err("purged past the store");
    assert!(e.to_string().contains("join the group again"), "{e}");
}

/// A snapshot whose file fails its check is refused before openraft hears of it: the leader is
/// told to send it again, nothing is purged, the store is untouched and keeps following the log.
/// (openraft's own receiver handed such a file to the install, which purged the log up to the
/// snapshot first: the follower was left unable to start.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_damaged_snapshot_is_refused_before_the_log_is_purged() {
    use openraft::error::InstallSnapshotError;
    use openraft::raft::InstallSnapshotRequest;
    use openraft::{LogId, SnapshotMeta};
    let rs = group_of(2, 10_000).await;
    let m = rs[0].meta.clone();
    blocking(move || m.create_bucket("b")).await.expect("bucket");
    blocking(put(&rs[0].meta, "k", 1)).await.expect("put");
    let follower = &rs[1];
    let files = || -> std::collections::BTreeSet<String> {
        std::fs::read_dir(follower._dir.path().join("raft-snapshots"))
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| !(n.starts_with("build-") && n.ends_with(".part")))
            .collect()
    };
    let files_before = files();
    let before = follower.group.raft().metrics().borrow().clone();
    let leader_id = *before.vote.leader_id();
    let far = LogId::new(openraft::CommittedLeaderId::new(leader_id.term, leader_id.node_id), 1_000_000);
    let meta = SnapshotMeta { last_log_id: Some(far), last_membership: Default::default(), snapshot_id: "damaged".into() };
    for (i, data) in [b"\x02not an export at all".to_vec(), Vec::new(), b"\x01".to_vec()].into_iter().enumerate() {
        let req = InstallSnapshotRequest { vote: before.vote, meta: meta.clone(), offset: 0, data, done: true };
        match (i, follower.group.receive_snapshot(req).await) {
            (0 | 1, Err(openraft::error::RaftError::APIError(InstallSnapshotError::SnapshotMismatch(_)))) => {}
            // The third failure of one snapshot ends the transfer instead of asking for it again.
            (2, Err(openraft::error::RaftError::Fatal(e))) => assert!(e.to_string().contains("failed its check 3 times"), "{e}"),
            (i, other) => panic!("attempt {i}: a damaged snapshot must be refused (sent again twice, then for good), got {other:?}"),
        }
    }
    // From then on it is refused at its first chunk, before anything is written.
    let req = InstallSnapshotRequest { vote: before.vote, meta: meta.clone(), offset: 0, data: vec![7; 4096], done: false };
    match follower.group.receive_snapshot(req).await {
        Err(openraft::error::RaftError::Fatal(e)) => assert!(e.to_string().contains("before any byte was written"), "{e}"),
        other => panic!("a snapshot refused for good must be refused at its first chunk, got {other:?}"),
    }
    let after = follower.group.raft().metrics().borrow().clone();
    assert_eq!(after.purged, before.purged, "nothing purged for the refused snapshot");
    assert!(after.last_applied < Some(far), "the refused snapshot was not installed");
    // The follower still follows the log.
    blocking(put(&rs[0].meta, "k2", 2)).await.expect("put");
    let applied = rs[0].group.raft().metrics().borrow().last_applied.map(|l| l.index);
    follower.group.raft().wait(Some(Duration::from_secs(10))).applied_index_at_least(applied, "follows").await.expect("follows the log");
    assert_eq!(blocking(get(&follower.meta, "k2")).await.expect("get"), Some(manifest(2)));
    assert_eq!(files(), files_before, "no file of the refused snapshot is left");
}

/// A stop after openraft purged the log for a received snapshot and before the store imported
/// it: the next start finishes the install from the pending file. (Before the pending record,
/// such a gateway refused to start and had to rejoin.) A pending snapshot the log was not purged
/// for is dropped: the log still holds what the store lacks.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_install_a_stop_interrupted_is_finished_at_start() {
    use openraft::storage::RaftLogStorage;
    use openraft::{CommittedLeaderId, LogId, SnapshotMeta, StoredMembership};
    let at = |i: u64| Some(LogId::new(CommittedLeaderId::new(1, 0), i));
    let stamp = |i: u64| encode(&(at(i), StoredMembership::<u64, GatewayNode>::default())).expect("stamp");
    // The leader's store at entry 10, exported as it sends it.
    let src_dir = tempfile::tempdir().expect("tempdir");
    let src = Arc::new(RocksMeta::open(&src_dir.path().join("db"), 0).expect("meta"));
    src.create_bucket("b").expect("bucket");
    blocking(put(&src, "from-snapshot", 10)).await.expect("put");
    src.record_stamp(&stamp(10)).expect("stamp");
    let exported = src_dir.path().join("export");
    src.export_file(&exported).expect("export");
    let snap_meta = SnapshotMeta { last_log_id: at(10), last_membership: StoredMembership::default(), snapshot_id: "at-10".into() };

    // "imported": the stop came after the import finished (its marker finished by the store's
    // open), before the snapshot was made current: it is made current, not built again.
    for case in ["purged", "not purged", "imported"] {
        let purged_for_it = case != "not purged";
        // The follower: its store applied entry 5; the snapshot received, checked and pending.
        let dir = tempfile::tempdir().expect("tempdir");
        let meta = Arc::new(RocksMeta::open(&dir.path().join("db"), 0).expect("meta"));
        meta.create_bucket("old").expect("bucket");
        meta.record_stamp(&stamp(5)).expect("stamp");
        let mut log = log_store::LogStore::open(&dir.path().join("raft")).expect("log");
        if purged_for_it {
            log.purge(at(10).expect("id")).await.expect("purge");
        }
        drop(log);
        let sm = state_machine::StateMachine::new(meta.clone(), dir.path()).expect("state machine");
        let snapshots = sm.snapshots();
        let part = snapshots.build_path();
        std::fs::copy(&exported, &part).expect("copy");
        let file = snapshots.finish(&part).expect("finish");
        snapshots.set_pending(&snap_meta, &file).expect("pending");
        if case == "imported" {
            meta.import_checked_file(&file, &stamp(10)).expect("import");
        }
        drop((sm, snapshots));
        drop(meta);
        let meta = Arc::new(RocksMeta::open(&dir.path().join("db"), 0).expect("meta again"));
        let ca = Arc::new(ClusterCa::generate("test").expect("ca"));
        let s = secrets(&ca);
        // Start with the store reopened from disk, as after a stop.
        let dir_path = dir.path().to_path_buf();
        let r = replica_in_with(dir, meta, &ca, &s, "restarted").await;
        let r = match r {
            Ok(r) => r,
            Err(e) => panic!("{case}: the gateway must start: {e}"),
        };
        let names: Vec<String> = std::fs::read_dir(dir_path.join("raft-snapshots")).expect("dir").map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect();
        assert!(!names.iter().any(|n| n == "pending"), "the pending record is gone: {names:?}");
        let applied: (Option<LogId<u64>>, StoredMembership<u64, GatewayNode>) = decode(&r.meta.stamp().expect("stamp").expect("a stamp")).expect("decode");
        if purged_for_it {
            assert_eq!(applied.0, at(10), "the store imported the snapshot");
            let (a, _) = src.export().expect("export");
            let (b, _) = r.meta.export().expect("export");
            assert!(a == b, "the store is the snapshot's, record for record");
            assert!(names.iter().any(|n| n == "current"), "{names:?}");
            let current: (openraft::SnapshotMeta<u64, GatewayNode>, String) = decode(&std::fs::read(dir_path.join("raft-snapshots/current")).expect("current")).expect("decode");
            assert_eq!(current.0.snapshot_id, "at-10", "{case}: the received snapshot is current (not a rebuilt one)");
            assert!(file.exists(), "{case}: the current snapshot's file is kept");
        } else {
            assert_eq!(applied.0, at(5), "not purged for it: the store is left to the log");
            assert!(r.meta.local_bucket("old").expect("read").is_some(), "the store is unchanged");
            assert!(!file.exists(), "the dropped snapshot's file is removed: {names:?}");
        }
        r.kill().await;
    }
}

/// A join a stop cut off after the gateway became a learner and before its vote: started
/// again, the gateway binds a new S3 port and enrols again from that address. It must end a
/// voter, not a learner told it was enrolled.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_learner_whose_join_stopped_becomes_a_voter_when_it_enrols_again_from_another_address() {
    let ca = Arc::new(ClusterCa::generate("test").expect("ca"));
    let s = secrets(&ca);
    let first = replica(&ca, &s, "first", 10_000).await;
    first.group.initialize_alone().await.expect("init");
    first.group.raft().wait(Some(Duration::from_secs(10))).current_leader(first.group.id(), "leader").await.expect("leader");
    let late = replica(&ca, &s, "late", 10_000).await;
    // The first half of a join: a learner, caught up.
    first.group.raft().add_learner(late.group.id(), late.node.clone(), true).await.expect("add learner");
    assert!(!late.group.is_voter(), "a learner has no vote");

    let moved = GatewayNode { s3: "127.0.0.1:2".into(), ..late.node.clone() };
    enrol(late.client.clone(), &first.node.cluster, late.group.id(), &moved, Duration::from_secs(60)).await.expect("enrol again");
    let voters = |r: &Replica| r.group.raft().metrics().borrow().membership_config.membership().voter_ids().collect::<Vec<_>>();
    assert!(voters(&first).contains(&late.group.id()), "enrolled, but not a voter: {:?}", voters(&first));
    late.group.raft().wait(Some(Duration::from_secs(10))).metrics(|m| m.membership_config.membership().voter_ids().any(|v| v == late.group.id()), "a voter").await.expect("the gateway sees its vote");
    let addr = first.group.raft().metrics().borrow().membership_config.membership().get_node(&late.group.id()).map(|n| n.s3.clone());
    assert_eq!(addr.as_deref(), Some("127.0.0.1:2"), "the new address is recorded");
}

/// A gateway that lost its `--meta` and is back at its cluster address with a new Raft id
/// takes nothing the leader still sends the member it was: no term, no log, no snapshot, and
/// so no vote cast as that member (whose own vote was lost with its `--meta`). Then it
/// enrols under its name and catches up as the new member.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gateway_back_at_a_members_address_with_a_new_id_takes_nothing_meant_for_the_old_one() {
    let ca = Arc::new(ClusterCa::generate("test").expect("ca"));
    let mut rs = group_under(&ca, 3, 10_000).await;
    let leader = leader_of(&rs).expect("a leader");
    let m = rs[leader].meta.clone();
    blocking(move || m.create_bucket("b")).await.expect("bucket");
    blocking(put(&rs[leader].meta, "before", 1)).await.expect("put");
    let gone = rs.remove(if leader == 2 { 1 } else { 2 });
    let (addr, name, old_id) = (gone.node.cluster.clone(), gone.node.name.clone(), gone.group.id());
    gone.kill().await;
    drop(gone);
    let leader = leader_of(&rs).expect("the leader stays");

    let dir = tempfile::tempdir().expect("tempdir");
    let meta = open_store(&dir);
    let fresh = replica_at(dir, meta, &ca, &secrets(&ca), &name, 10_000, &addr, None).await.expect("a fresh replica at the old address");
    assert_ne!(fresh.group.id(), old_id);
    // The leader goes on sending to the old id (a voter still) at this address: heartbeats
    // every 100 ms, the log, a snapshot. Ten seconds of them.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let seen = fresh.group.raft().metrics().borrow().clone();
    assert_eq!((seen.current_term, seen.last_log_index, seen.snapshot), (0, None, None), "the fresh replica took messages meant for member {old_id}: {seen:?}");
    assert_eq!(blocking(get(&fresh.meta, "before")).await.ok().flatten(), None, "it holds none of the group's metadata");

    // Enrolled under its name from the same address, it replaces the old member and catches up.
    enrol(fresh.client.clone(), &rs[leader].node.cluster, fresh.group.id(), &fresh.node, Duration::from_secs(60)).await.expect("enrol");
    let voters = rs[leader].group.raft().metrics().borrow().membership_config.membership().voter_ids().collect::<Vec<_>>();
    assert!(voters.contains(&fresh.group.id()) && !voters.contains(&old_id), "the new id replaces the old one: {voters:?}");
    assert_eq!(blocking(get(&fresh.meta, "before")).await.expect("read"), Some(manifest(1)), "caught up");
}

/// The gateways' protocol as a gateway from before addressed Raft messages (`AppendTo`, …)
/// decodes it: requests 0–9 only, so the transport answers the others `BadFrame`.
mod older {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use kintsugi_net::{Handler, JoinRequest, Joined, NetResult};
    use serde::{Deserialize, Serialize};

    use crate::RaftRequest;

    #[derive(Debug, Serialize, Deserialize)]
    pub(super) enum Request {
        Join(JoinRequest),
        Append,
        Vote,
        Snapshot,
        Submit,
        ReadIndex,
        Enrol { id: u64, name: String, cluster: String, s3: String },
        Remove { name: String },
        Status,
        OpenWrites,
    }

    /// Its answers as the transport writes them (the handler writes the others).
    #[derive(Debug, Serialize, Deserialize)]
    pub(super) enum Response {
        Joined(Joined),
        Error { code: String, message: String },
    }

    kintsugi_net::wire_protocol!(Request, Response, alpn = crate::ALPN);

    /// Serves what it decodes with this version's handler; counts the unaddressed Raft messages.
    pub(super) struct Gateway {
        pub(super) inner: Arc<dyn Handler<RaftRequest>>,
        pub(super) count: Arc<AtomicUsize>,
    }

    #[async_trait::async_trait]
    impl Handler<Request> for Gateway {
        async fn handle(&self, peer: &str, req: Request, recv: quinn::RecvStream, send: quinn::SendStream) -> NetResult<()> {
            let req = match req {
                Request::Join(j) => RaftRequest::Join(j),
                Request::Append => RaftRequest::Append,
                Request::Vote => RaftRequest::Vote,
                Request::Snapshot => RaftRequest::Snapshot,
                Request::Submit => RaftRequest::Submit,
                Request::ReadIndex => RaftRequest::ReadIndex,
                Request::Enrol { id, name, cluster, s3 } => RaftRequest::Enrol { id, name, cluster, s3 },
                Request::Remove { name } => RaftRequest::Remove { name },
                Request::Status => RaftRequest::Status,
                Request::OpenWrites => RaftRequest::OpenWrites,
            };
            if matches!(req, RaftRequest::Append | RaftRequest::Vote | RaftRequest::Snapshot) {
                self.count.fetch_add(1, Ordering::Relaxed);
            }
            self.inner.handle(peer, req, recv, send).await
        }
    }
}

/// A gateway of an older version, which cannot decode addressed Raft messages, still follows
/// a leader of this version: after its first `BadFrame`, the leader sends it the unaddressed
/// ones over that connection, and the group replicates to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gateway_older_than_addressed_messages_still_follows_the_leader() {
    let ca = Arc::new(ClusterCa::generate("test").expect("ca"));
    let s = secrets(&ca);
    let first = replica(&ca, &s, "first", 10_000).await;
    first.group.initialize_alone().await.expect("init");
    first.group.raft().wait(Some(Duration::from_secs(10))).current_leader(first.group.id(), "leader").await.expect("leader");
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let dir = tempfile::tempdir().expect("tempdir");
    let meta = open_store(&dir);
    let old = replica_at(dir, meta, &ca, &s, "old", 10_000, "127.0.0.1:0", Some(count.clone())).await.expect("an older gateway");
    enrol(old.client.clone(), &first.node.cluster, old.group.id(), &old.node, Duration::from_secs(60)).await.expect("the older gateway enrols");
    let m = first.meta.clone();
    blocking(move || m.create_bucket("b")).await.expect("bucket, committed by both");
    blocking(put(&first.meta, "k", 7)).await.expect("a write the older gateway commits too");
    old.group.raft().wait(Some(Duration::from_secs(10))).applied_index_at_least(first.group.raft().metrics().borrow().last_applied.map(|l| l.index), "caught up").await.expect("the older gateway applies the log");
    assert!(count.load(std::sync::atomic::Ordering::Relaxed) > 0, "the leader sent no unaddressed message");
    assert_eq!(blocking(get(&old.meta, "k")).await.expect("read"), Some(manifest(7)));
}
