//! The segment I/O layer on real disk directories: the reader reads around missing, corrupt
//! and slow shards, and the rebuild loop keeps a shard only when it is the manifest's.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use kintsugi_disk::{Disk, ShardHeader};
use kintsugi_erasure::{encode_stripe, shard_hash, Codec, ChunkHash, Layout, ReedSolomonCodec, Scheme};

use crate::segment::{rebuild_stripes, ReadCounters, RebuildOutcome, RebuildTarget, ShardSlot, StripeReader};
use crate::shards::{ChunkRx, DiskInfo, ShardStore, ShardWrite};
use crate::{LocalShards, ShardResult};

const SEGMENT: u128 = 0x5e6;
const CHUNK: u32 = 4096;

struct Segment {
    _dirs: Vec<tempfile::TempDir>,
    disks: Vec<Arc<Disk>>,
    layout: Layout,
    codec: Arc<dyn Codec>,
    data: Vec<u8>,
    hashes: Vec<ChunkHash>,
}

fn header(index: u8) -> ShardHeader {
    ShardHeader {
        codec: 1,
        k: 4,
        m: 2,
        index,
        chunk_size: CHUNK,
        segment_no: 0,
        segment_id: SEGMENT,
        owner_id: 1,
        part_number: 0,
        segment_len: 0,
        data_len: 0,
        chunks: 0,
        label: std::sync::Arc::from(&[][..]),
    }
}

/// A 4+2 segment of five and a bit stripes, one shard per disk, plus two empty disks.
async fn segment() -> Segment {
    let dirs: Vec<tempfile::TempDir> = (0..8).map(|_| tempfile::tempdir().expect("tmp")).collect();
    let disks: Vec<Arc<Disk>> = dirs.iter().enumerate().map(|(i, d)| Arc::new(Disk::format_new(&d.path().join("d"), i as u32 + 1).expect("format"))).collect();
    let layout = Layout::new(Scheme::new(4, 2).expect("scheme"), CHUNK).expect("layout");
    let codec: Arc<dyn Codec> = Arc::new(ReedSolomonCodec::new(layout.scheme).expect("codec"));
    let data: Vec<u8> = (0..5 * 4 * CHUNK + 777).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let len = data.len() as u64;
    let mut writers: Vec<ShardWrite> = (0..6).map(|i| LocalShards::new(disks[i].clone(), "local", 0).write(header(i as u8))).collect();
    let mut tables: Vec<Vec<ChunkHash>> = vec![Vec::new(); 6];
    for s in 0..layout.stripe_count(len) {
        let g = layout.stripe(len, s).expect("stripe");
        let bytes = &data[g.data_offset as usize..(g.data_offset + g.data_len) as usize];
        let e = encode_stripe(codec.as_ref(), bytes, g.chunk_len).expect("encode");
        for (i, (c, h)) in e.chunks.into_iter().zip(e.hashes).enumerate() {
            tables[i].push(h);
            writers[i].append(c, h).await.expect("append");
        }
    }
    let hashes: Vec<ChunkHash> = tables.iter().map(|t| shard_hash(t)).collect();
    for (w, h) in writers.into_iter().zip(&hashes) {
        w.finish(len, *h).await.expect("durable");
    }
    Segment { _dirs: dirs, disks, layout, codec, data, hashes }
}

impl Segment {
    fn slots(&self, stores: Vec<Arc<dyn ShardStore>>) -> Vec<ShardSlot> {
        stores.into_iter().zip(&self.hashes).map(|(s, h)| ShardSlot { store: Some(s), hash: *h }).collect()
    }

    fn local(&self) -> Vec<Arc<dyn ShardStore>> {
        self.disks[..6].iter().map(|d| Arc::new(LocalShards::new(d.clone(), "local", 0)) as Arc<dyn ShardStore>).collect()
    }

    async fn read_all(&self, reader: &mut StripeReader<'_>) -> Vec<u8> {
        let len = self.data.len() as u64;
        let mut out = Vec::new();
        for s in 0..self.layout.stripe_count(len) {
            out.extend(reader.read_stripe(&self.layout, &self.codec, len, s).await.expect("stripe"));
        }
        out
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reader_reads_around_a_missing_and_a_corrupt_data_shard() {
    let seg = segment().await;
    let stripes = seg.layout.stripe_count(seg.data.len() as u64);
    let counters = ReadCounters::default();
    let mut clean = StripeReader::new(SEGMENT, seg.slots(seg.local()), 4, 0..stripes, &[], Duration::from_secs(5), &counters);
    assert_eq!(seg.read_all(&mut clean).await, seg.data);
    assert!(!clean.damaged);
    assert_eq!(counters.degraded_reads.load(Ordering::Relaxed), 0, "no decode while the data shards are healthy");

    std::fs::remove_file(seg.disks[0].shard_path(SEGMENT, 0)).expect("remove shard 0");
    let p = seg.disks[2].shard_path(SEGMENT, 2);
    let mut bytes = std::fs::read(&p).expect("shard 2");
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&p, bytes).expect("corrupt shard 2");
    let counters = ReadCounters::default();
    let mut reader = StripeReader::new(SEGMENT, seg.slots(seg.local()), 4, 0..stripes, &[], Duration::from_secs(5), &counters);
    assert_eq!(seg.read_all(&mut reader).await, seg.data, "wrong bytes with two shards damaged");
    assert!(reader.damaged && reader.bad[0] && reader.bad[2], "{:?}", reader.bad);
    assert_eq!(counters.shard_missing.load(Ordering::Relaxed), 1);
    assert_eq!(counters.shard_corrupt.load(Ordering::Relaxed), 1);
    assert!(counters.degraded_reads.load(Ordering::Relaxed) > 0);

    // A third shard gone: fewer than k from the corrupt chunk on; stripes before it are exact,
    // then an error, never wrong bytes.
    std::fs::remove_file(seg.disks[1].shard_path(SEGMENT, 1)).expect("remove shard 1");
    let counters = ReadCounters::default();
    let mut reader = StripeReader::new(SEGMENT, seg.slots(seg.local()), 4, 0..stripes, &[], Duration::from_secs(5), &counters);
    let (len, mut out) = (seg.data.len() as u64, Vec::new());
    let err = loop {
        match reader.read_stripe(&seg.layout, &seg.codec, len, out.len() as u64 / (4 * u64::from(CHUNK))).await {
            Ok(b) => out.extend(b),
            Err(e) => break e,
        }
        assert!(out.len() < seg.data.len(), "read a whole segment of which three shards of six are damaged");
    };
    assert!(matches!(err, crate::SegmentError::TooFewShards { have: 3, need: 4 }), "{err:?}");
    assert!(seg.data.starts_with(&out), "wrong bytes before the error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_shards_are_rebuilt_exactly_and_a_wrong_one_is_never_kept() {
    let seg = segment().await;
    let len = seg.data.len() as u64;
    let stripes = seg.layout.stripe_count(len);
    let original = std::fs::read(seg.disks[1].shard_path(SEGMENT, 1)).expect("shard 1");
    for i in [1u8, 4] {
        std::fs::remove_file(seg.disks[usize::from(i)].shard_path(SEGMENT, i)).expect("remove");
    }
    let counters = ReadCounters::default();
    let mut reader = StripeReader::new(SEGMENT, seg.slots(seg.local()), 4, 0..stripes, &[1, 4], Duration::from_secs(5), &counters);
    let target = |i: u8, disk: usize| RebuildTarget::new(usize::from(i), LocalShards::new(seg.disks[disk].clone(), "local", 0).write(header(i)));
    let mut targets = [target(1, 6), target(4, 7)];
    let read = rebuild_stripes(&mut reader, &seg.codec, stripes, &mut targets).await.expect("rebuild");
    assert!(read > 0);
    let [t1, t4] = targets;
    t1.finish(len, seg.hashes[1]).await.expect("shard 1 kept");
    // Shard 4 claimed with another shard's hash: rebuilt bytes that are not the manifest's are not kept.
    assert!(matches!(t4.finish(len, seg.hashes[5]).await, Err(RebuildOutcome::HashMismatch)));
    assert_eq!(std::fs::read(seg.disks[6].shard_path(SEGMENT, 1)).expect("rebuilt shard 1"), original, "the rebuilt file differs from the original");
    assert!(!seg.disks[7].shard_path(SEGMENT, 4).exists(), "a shard that failed its hash was left on disk");
}

/// A disk whose every read starts `delay` late.
#[derive(Debug)]
struct Slow {
    inner: LocalShards,
    delay: Duration,
}

#[async_trait::async_trait]
impl ShardStore for Slow {
    fn id(&self) -> u32 {
        self.inner.id()
    }
    fn failure_domain(&self) -> u32 {
        self.inner.failure_domain()
    }
    fn info(&self) -> DiskInfo {
        self.inner.info()
    }
    fn write(&self, header: ShardHeader) -> ShardWrite {
        self.inner.write(header)
    }
    fn read(&self, segment: u128, index: u8, expected: [u8; 32], first: u64, count: u64) -> ChunkRx {
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let (inner, delay) = (self.inner.clone(), self.delay);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let mut rx = inner.read(segment, index, expected, first, count);
            while let Some(item) = rx.recv().await {
                if tx.send(item).await.is_err() {
                    return;
                }
            }
        });
        rx
    }
    async fn check(&self, segment: u128, index: u8, expected: [u8; 32], full: bool) -> ShardResult<ShardHeader> {
        self.inner.check(segment, index, expected, full).await
    }
    async fn delete(&self, segment: u128, index: u8) -> ShardResult<bool> {
        self.inner.delete(segment, index).await
    }

    async fn list(&self, after: Option<(u128, u8)>, limit: usize) -> ShardResult<crate::ShardPage> {
        self.inner.list(after, limit).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_shard_gets_a_parity_read_beside_it() {
    let seg = segment().await;
    let stripes = seg.layout.stripe_count(seg.data.len() as u64);
    let mut stores = seg.local();
    stores[3] = Arc::new(Slow { inner: LocalShards::new(seg.disks[3].clone(), "local", 0), delay: Duration::from_secs(30) });
    let counters = ReadCounters::default();
    let mut reader = StripeReader::new(SEGMENT, seg.slots(stores), 4, 0..stripes, &[], Duration::from_millis(100), &counters);
    let started = std::time::Instant::now();
    assert_eq!(seg.read_all(&mut reader).await, seg.data);
    assert!(started.elapsed() < Duration::from_secs(20), "the reader waited for the slow shard");
    assert!(counters.hedged_reads.load(Ordering::Relaxed) >= 1);
    assert!(!reader.damaged, "slow is not damaged");
}

/// A disk whose node the map holds down: never answers a read.
#[derive(Debug)]
struct Down(LocalShards);

#[async_trait::async_trait]
impl ShardStore for Down {
    fn id(&self) -> u32 {
        self.0.id()
    }
    fn failure_domain(&self) -> u32 {
        self.0.failure_domain()
    }
    fn info(&self) -> DiskInfo {
        DiskInfo { reachable: false, ..self.0.info() }
    }
    fn write(&self, header: ShardHeader) -> ShardWrite {
        self.0.write(header)
    }
    fn read(&self, _segment: u128, _index: u8, _expected: [u8; 32], _first: u64, _count: u64) -> ChunkRx {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3600)).await; // a stopped process: silence
            drop(tx);
        });
        rx
    }
    async fn check(&self, segment: u128, index: u8, expected: [u8; 32], full: bool) -> ShardResult<ShardHeader> {
        self.0.check(segment, index, expected, full).await
    }
    async fn delete(&self, segment: u128, index: u8) -> ShardResult<bool> {
        self.0.delete(segment, index).await
    }
    async fn list(&self, after: Option<(u128, u8)>, limit: usize) -> ShardResult<crate::ShardPage> {
        self.0.list(after, limit).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_fewer_than_k_shards_on_nodes_that_are_up_a_read_fails_at_once() {
    let seg = segment().await;
    let stripes = seg.layout.stripe_count(seg.data.len() as u64);
    let down = |i: usize, s: &mut Vec<Arc<dyn ShardStore>>| s[i] = Arc::new(Down(LocalShards::new(seg.disks[i].clone(), "local", 0)));
    // Two of six down (= m): read around them, never waiting on their silence.
    let mut stores = seg.local();
    down(0, &mut stores);
    down(4, &mut stores);
    let counters = ReadCounters::default();
    let mut reader = StripeReader::new(SEGMENT, seg.slots(stores), 4, 0..stripes, &[], Duration::from_secs(3600), &counters);
    let read = tokio::time::timeout(Duration::from_secs(60), seg.read_all(&mut reader)).await;
    assert_eq!(read.expect("a read waited on a node that is down"), seg.data);
    // Three down: no read can succeed, and none waits (before, the reader waited for the
    // down nodes' streams until their deadlines).
    let mut stores = seg.local();
    for i in [0, 2, 5] {
        down(i, &mut stores);
    }
    let mut reader = StripeReader::new(SEGMENT, seg.slots(stores), 4, 0..stripes, &[], Duration::from_secs(3600), &counters);
    let r = tokio::time::timeout(Duration::from_secs(60), reader.read_stripe(&seg.layout, &seg.codec, seg.data.len() as u64, 0)).await;
    assert!(matches!(r, Ok(Err(crate::SegmentError::TooFewShards { have: 3, need: 4 }))), "{r:?}");
}
