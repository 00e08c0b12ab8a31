//! The shard protocol over real QUIC sockets on loopback, against real disk directories.

use std::sync::Arc;
use std::time::Duration;

use kintsugi_disk::{Disk, DiskError, ShardHeader};
use kintsugi_erasure::{chunk_hash, shard_hash};
use kintsugi_net::{server_config, ClusterCa, Server, TransportTuning};

use crate::{open_node_disks, LocalShards, NodeLink, NodeService, RemoteShards, ShardError, ShardResult, ShardStore, WriteError};

struct Node {
    _dirs: Vec<tempfile::TempDir>,
    disks: Vec<Arc<Disk>>,
    remote: Vec<RemoteShards>,
    server: quinn::Endpoint,
    ca: Arc<ClusterCa>,
    counters: Arc<crate::NodeCounters>,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.server.close(0u32.into(), b"test over");
    }
}

async fn node() -> Node {
    let ca = Arc::new(ClusterCa::generate("test").expect("ca"));
    let t = TransportTuning::default();
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().expect("tmp")).collect();
    let paths: Vec<_> = dirs.iter().map(|d| d.path().join("d")).collect();
    let disks = open_node_disks(&paths).expect("format");
    let id = ca.issue("n1").expect("node id");
    let server = Server::bind("127.0.0.1:0".parse().expect("addr"), server_config(&id, false, &t).expect("cfg"), &t).expect("bind");
    let addr = server.local_addr().expect("addr");
    let endpoint = server.endpoint();
    let service = NodeService::new("n1", crate::NodeDisks::new(disks.clone(), None));
    let counters = service.counters();
    tokio::spawn(server.serve::<crate::proto::Request>(Arc::new(service), None));
    let client = kintsugi_net::Client::new(&ca.issue("gateway").expect("gw id"), &t).expect("client");
    let link = Arc::new(NodeLink::new("n1", 1, Some(addr), client, Duration::from_secs(5)));
    let remote = disks.iter().enumerate().map(|(i, d)| RemoteShards::new(10 + i as u32, d.uuid(), "", link.clone())).collect();
    Node { _dirs: dirs, disks, remote, server: endpoint, ca, counters }
}

fn header(segment: u128, index: u8) -> ShardHeader {
    ShardHeader {
        codec: 1,
        k: 2,
        m: 1,
        index,
        chunk_size: 1024,
        segment_no: 0,
        segment_id: segment,
        owner_id: 1,
        part_number: 0,
        segment_len: 0,
        data_len: 0,
        chunks: 0,
        label: std::sync::Arc::from(&[][..]),
    }
}

/// Three stripes of a 2+1 segment of 5000 bytes: chunks of 1024, 1024 and 452.
fn chunks() -> Vec<Vec<u8>> {
    vec![vec![1u8; 1024], vec![2u8; 1024], vec![3u8; 452]]
}

async fn write(store: &dyn ShardStore, segment: u128, index: u8) -> ShardResult<[u8; 32]> {
    let mut w = store.write(header(segment, index));
    let as_disk = |e: WriteError| match e {
        WriteError::Shard(d) => d,
        other => panic!("the writer failed without a disk error: {other}"),
    };
    for c in chunks() {
        let h = chunk_hash(&c);
        w.append(c, h).await.map_err(as_disk)?; // the writer died: its error says why
    }
    w.close(5000).await;
    w.durable().await.map_err(as_disk)
}

async fn read_all(store: &dyn ShardStore, segment: u128, index: u8, expected: [u8; 32], first: u64, count: u64) -> ShardResult<Vec<Vec<u8>>> {
    let mut rx = store.read(segment, index, expected, first, count);
    let mut out = Vec::new();
    while let Some(c) = rx.recv().await {
        out.push(c?);
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_and_local_shards_behave_the_same() {
    let n = node().await;
    let hashes: Vec<_> = chunks().iter().map(|c| chunk_hash(c)).collect();
    let want = shard_hash(&hashes);
    let local = LocalShards::new(n.disks[1].clone(), "local", 1);
    for store in [&n.remote[0] as &dyn ShardStore, &local as &dyn ShardStore] {
        let seg = rand::random::<u128>();
        assert_eq!(write(store, seg, 2).await.expect("write"), want);
        assert_eq!(read_all(store, seg, 2, want, 0, 3).await.expect("read"), chunks());
        assert_eq!(read_all(store, seg, 2, want, 1, 2).await.expect("read"), chunks()[1..].to_vec());
        let h = store.check(seg, 2, want, true).await.expect("check");
        assert_eq!((h.segment_len, h.chunks, h.index), (5000, 3, 2));
        // Wrong expected hash: corrupt, never data.
        let e = read_all(store, seg, 2, [7; 32], 0, 3).await.expect_err("wrong hash");
        assert!(matches!(e, ShardError::Disk(DiskError::Corrupt { .. })), "{e}");
        assert!(store.delete(seg, 2).await.expect("delete"));
        assert!(!store.delete(seg, 2).await.expect("delete again"));
        let e = read_all(store, seg, 2, want, 0, 3).await.expect_err("deleted");
        assert!(matches!(e, ShardError::Disk(DiskError::Missing { .. })), "{e}");
        let e = store.check(seg, 2, want, false).await.expect_err("deleted");
        assert!(matches!(e, ShardError::Disk(DiskError::Missing { .. })), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_hash_chunks_themselves_and_refuse_a_chunk_whose_claimed_hash_is_wrong() {
    let n = node().await;
    let want = shard_hash(&chunks().iter().map(|c| chunk_hash(c)).collect::<Vec<_>>());
    let local = LocalShards::new(n.disks[1].clone(), "local", 1);
    for (store, disk) in [(&n.remote[0] as &dyn ShardStore, &n.disks[0]), (&local as &dyn ShardStore, &n.disks[1])] {
        // The writer computes the hashes: the same shard as with known hashes.
        let seg = rand::random::<u128>();
        let mut w = store.write(header(seg, 0));
        for c in chunks() {
            w.append_hashing(c).await.expect("append");
        }
        assert_eq!(w.finish(5000, want).await.expect("finish"), want);
        assert_eq!(read_all(store, seg, 0, want, 0, 3).await.expect("read"), chunks());
        // A claimed hash that is not the bytes': the write fails as corrupt and stores nothing.
        let seg = rand::random::<u128>();
        let mut w = store.write(header(seg, 1));
        let mut failed = None;
        for (i, c) in chunks().into_iter().enumerate() {
            let claimed = if i == 1 { [7u8; 32] } else { chunk_hash(&c) };
            if let Err(e) = w.append_verified(c, claimed).await {
                failed = Some(e);
                break;
            }
        }
        let e = match failed {
            Some(e) => e,
            None => w.finish(5000, want).await.expect_err("a wrong chunk hash must fail the write"),
        };
        assert!(matches!(e, WriteError::Shard(ShardError::Disk(DiskError::Corrupt { .. }))), "{e}");
        assert!(!disk.shard_path(seg, 1).exists(), "a refused shard was stored");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_byte_on_the_node_is_reported_corrupt_midway() {
    let n = node().await;
    let seg = rand::random::<u128>();
    let want = write(&n.remote[0], seg, 0).await.expect("write");
    let path = n.disks[0].shard_path(seg, 0);
    let mut bytes = std::fs::read(&path).expect("read file");
    bytes[128 + 1024 + 5] ^= 0xff; // inside chunk 1
    std::fs::write(&path, &bytes).expect("corrupt");
    let mut rx = n.remote[0].read(seg, 0, want, 0, 3);
    assert_eq!(rx.recv().await.expect("first").expect("chunk 0 is fine"), chunks()[0]);
    let e = rx.recv().await.expect("second").expect_err("chunk 1 is corrupt");
    assert!(matches!(e, ShardError::Disk(DiskError::Corrupt { .. })), "{e}");
    assert!(rx.recv().await.is_none(), "the stream ends at the error");
    let e = n.remote[0].check(seg, 0, want, true).await.expect_err("full check");
    assert!(matches!(e, ShardError::Disk(DiskError::Corrupt { .. })), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_remote_write_leaves_no_file() {
    let n = node().await;
    let seg = rand::random::<u128>();
    let mut w = n.remote[0].write(header(seg, 1));
    let c = vec![9u8; 1024];
    w.append(c.clone(), chunk_hash(&c)).await.expect("append");
    // Not closed: waiting for durability abandons the write.
    assert!(w.durable().await.is_err());
    // The node cleans up when it processes the reset, a moment after the writer gave up.
    let tmp_files = || std::fs::read_dir(n.disks[0].root().join("tmp")).map(|d| d.count()).unwrap_or(usize::MAX);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tmp_files() != 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!n.disks[0].shard_path(seg, 1).exists());
    assert_eq!(tmp_files(), 0, "temp file left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_sent_since_the_last_report_count_against_a_remote_disks_free_space() {
    let n = node().await;
    let report = |free: u64| crate::proto::DiskReport { uuid: n.disks[0].uuid(), path: String::new(), capacity: 1 << 30, free, failed: false };
    n.remote[0].update(&report(100 << 20));
    assert_eq!(n.remote[0].info().free, 100 << 20);
    // Chunks sent since count against it: placement sees less than the node last reported
    // (else the writes between two heartbeats would run through the disk reserve).
    let mut w = n.remote[0].write(header(rand::random(), 1));
    for c in chunks() {
        let h = chunk_hash(&c);
        w.append(c, h).await.expect("append");
    }
    w.close(5000).await;
    w.durable().await.expect("durable");
    assert_eq!(n.remote[0].info().free, (100 << 20) - 2500);
    // The node's next report counts what it stored; the estimate starts again from it.
    n.remote[0].update(&report(90 << 20));
    assert_eq!(n.remote[0].info().free, 90 << 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_disks_and_strangers_are_refused() {
    let n = node().await;
    let link = n.remote[0].link().clone();
    let ghost = RemoteShards::new(99, 12345, "", link);
    let e = write(&ghost, 1, 0).await.expect_err("unknown disk");
    assert!(e.is_disk_failure(), "{e}");
    // A member of another cluster cannot even connect, so nothing can be written.
    let other = ClusterCa::generate("other").expect("ca");
    let t = TransportTuning::default();
    let client = kintsugi_net::Client::new(&other.issue("gateway").expect("id"), &t).expect("client");
    let addr = n.remote[0].link().addr().expect("addr");
    let stranger = Arc::new(NodeLink::new("n1", 1, Some(addr), client, Duration::from_secs(2)));
    let s = RemoteShards::new(10, n.disks[0].uuid(), "", stranger);
    let seg = rand::random::<u128>();
    let e = write(&s, seg, 0).await.expect_err("stranger");
    assert!(matches!(e, ShardError::Unreachable { .. }), "{e}");
    assert!(!n.disks[0].shard_path(seg, 0).exists());
    // A real member presenting another node's name is not taken for that node.
    let client = kintsugi_net::Client::new(&n.ca.issue("gateway").expect("id"), &t).expect("client");
    let wrong = Arc::new(NodeLink::new("n2", 2, Some(addr), client, Duration::from_secs(2)));
    let e = RemoteShards::new(10, n.disks[0].uuid(), "", wrong).check(seg, 0, [0; 32], false).await.expect_err("wrong name");
    assert!(matches!(e, ShardError::Unreachable { .. }), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_disks_on_storage_nodes_take_node_side_jobs() {
    let n = node().await;
    let local = LocalShards::new(n.disks[0].clone(), "local", 1);
    assert!(local.node_source(0, [1; 32]).is_none(), "a local disk is no source for a node");
    let h = header(7, 0);
    let e = local.rebuild_here(&h, h.coding(), 5000, [0; 32], vec![], Duration::from_secs(2)).await.expect_err("local disk");
    assert!(matches!(e, ShardError::NotOnANode { disk } if disk == n.disks[0].id()), "{e}");
    let src = n.remote[0].node_source(2, [1; 32]).expect("a disk on a node is a source");
    assert_eq!((src.node.as_str(), src.disk, src.index, src.hash), ("n1", n.disks[0].uuid(), 2, [1; 32]));
    // This node cannot reach peers: it refuses the job, which is not a failure of the disk.
    let e = n.remote[1].rebuild_here(&h, h.coding(), 5000, [0; 32], vec![src], Duration::from_secs(5)).await.expect_err("no peers");
    assert!(matches!(e, ShardError::JobFailed { .. }) && !e.is_disk_failure(), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_is_not_the_gateway_reads_only_what_a_gateway_granted_and_never_writes_deletes_checks_rebuilds_or_adds_disks() {
    use std::sync::atomic::Ordering;
    let n = node().await;
    let seg = rand::random::<u128>();
    let want = write(&n.remote[0], seg, 0).await.expect("the gateway writes");
    let path = n.disks[0].shard_path(seg, 0);
    let before = std::fs::read(&path).expect("the shard file");
    // Node n2, a real member of the same cluster, talks to n1 directly.
    let t = TransportTuning::default();
    let addr = n.remote[0].link().addr().expect("addr");
    let client = kintsugi_net::Client::new(&n.ca.issue("n2").expect("id"), &t).expect("client");
    let link = Arc::new(NodeLink::new("n1", 1, Some(addr), client, Duration::from_secs(5)));
    let as_n2 = RemoteShards::new(10, n.disks[0].uuid(), "", link.clone());
    let forbidden = |e: &ShardError| e.to_string().contains("Forbidden");
    // Nodes read each other's shards for the jobs a gateway orders, and only then.
    let e = read_all(&as_n2, seg, 0, want, 0, 3).await.expect_err("a read without a grant");
    assert!(forbidden(&e), "{e}");
    let e = as_n2.grant_read("n2", seg, 0, Duration::from_secs(30)).await.expect_err("a member grants itself a read");
    assert!(forbidden(&e), "{e}");
    n.remote[0].grant_read("n2", seg, 0, Duration::from_secs(30)).await.expect("the gateway grants n2 the read");
    assert_eq!(read_all(&as_n2, seg, 0, want, 0, 3).await.expect("a granted read"), chunks());
    // The grant is n2's, for that shard, for a while.
    let client3 = kintsugi_net::Client::new(&n.ca.issue("n3").expect("id"), &t).expect("client");
    let as_n3 = RemoteShards::new(11, n.disks[0].uuid(), "", Arc::new(NodeLink::new("n1", 1, Some(addr), client3, Duration::from_secs(5))));
    let e = read_all(&as_n3, seg, 0, want, 0, 3).await.expect_err("another member reads under n2's grant");
    assert!(forbidden(&e), "{e}");
    let other = rand::random::<u128>();
    let other_want = write(&n.remote[0], other, 0).await.expect("the gateway writes");
    n.remote[0].grant_read("n2", other, 0, Duration::from_millis(300)).await.expect("a short grant");
    assert_eq!(read_all(&as_n2, other, 0, other_want, 0, 3).await.expect("read while granted"), chunks());
    tokio::time::sleep(Duration::from_millis(400)).await;
    let e = read_all(&as_n2, other, 0, other_want, 0, 3).await.expect_err("a read after the grant ended");
    assert!(forbidden(&e), "{e}");
    let e = as_n2.delete(seg, 0).await.expect_err("a member deletes");
    assert!(forbidden(&e), "{e}");
    let e = as_n2.check(seg, 0, want, true).await.expect_err("a member checks");
    assert!(forbidden(&e), "{e}");
    assert!(write(&as_n2, seg, 0).await.is_err(), "a member overwrote a shard");
    let fresh = rand::random::<u128>();
    assert!(write(&as_n2, fresh, 1).await.is_err(), "a member wrote a shard");
    let h = header(seg, 2);
    let src = n.remote[0].node_source(0, want).expect("source");
    let e = as_n2.rebuild_here(&h, h.coding(), 5000, [0; 32], vec![src], Duration::from_secs(5)).await.expect_err("a member orders a rebuild");
    assert!(forbidden(&e), "{e}");
    let dir = tempfile::tempdir().expect("tmp");
    let resp = link.call(&crate::proto::Request::AddDisk { path: dir.path().join("d").display().to_string() }).await;
    assert!(matches!(&resp, Err(kintsugi_net::NetError::Remote { code, .. }) if code == "Forbidden"), "{resp:?}");
    // Nothing changed on the disk, and every refusal was counted.
    assert_eq!(std::fs::read(&path).expect("the shard file is still there"), before);
    assert!(!n.disks[0].shard_path(fresh, 1).exists() && !n.disks[0].shard_path(seg, 2).exists());
    assert!(!dir.path().join("d").exists(), "a member added a disk");
    assert_eq!(n.counters.refused.load(Ordering::Relaxed), 10, "three reads and a grant, delete, check, two writes, rebuild, add disk");
    assert_eq!(read_all(&n.remote[0], seg, 0, want, 0, 3).await.expect("the gateway reads"), chunks());
    assert!(n.remote[0].delete(seg, 0).await.expect("the gateway deletes"));
}
