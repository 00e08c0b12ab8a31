//! Reading a shard's chunks back from the page cache, as a GET, a repair source or a scrub
//! does: `ShardReader::read_chunk` (pread into a fresh buffer, BLAKE3 check) beside the same
//! read into a buffer zeroed first, the way it was done before (the same run's reference).
//! Run: `cargo bench -p kintsugi-disk --bench read`.

use std::os::unix::fs::FileExt;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kintsugi_disk::{Disk, ShardHeader};

const CHUNK: u32 = 256 << 10;
const CHUNKS: u64 = 64;

fn read(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    Disk::format(dir.path(), 1, 0xabc).expect("format");
    let disk = Disk::open(dir.path(), 1, 0xabc).expect("open");
    let header = ShardHeader { codec: 1, k: 4, m: 2, index: 0, chunk_size: CHUNK, segment_no: 0, segment_id: 7, owner_id: 1, ..Default::default() };
    let mut w = disk.create_shard(header).expect("create");
    for i in 0..CHUNKS {
        let chunk = vec![i as u8; CHUNK as usize];
        w.append(&chunk, kintsugi_erasure::chunk_hash(&chunk)).expect("append");
    }
    let hash = w.finish(CHUNKS * u64::from(CHUNK) * 4).expect("finish");
    let reader = disk.open_shard(7, 0, Some(&hash)).expect("open shard");
    let file = std::fs::File::open(disk.shard_path(7, 0)).expect("open file");
    let data_start = reader.header().encoded_len();
    let mut g = c.benchmark_group("shard_read_16MiB_256KiB_chunks");
    g.throughput(Throughput::Bytes(CHUNKS * u64::from(CHUNK)));
    g.bench_function("read_chunk", |b| {
        b.iter(|| {
            for i in 0..CHUNKS {
                let chunk = reader.read_chunk(i, i * u64::from(CHUNK), CHUNK).expect("read");
                assert_eq!(chunk.len(), CHUNK as usize);
            }
        })
    });
    g.bench_function("zeroed_buffer_reference", |b| {
        b.iter(|| {
            for i in 0..CHUNKS {
                let mut buf = vec![0u8; CHUNK as usize];
                file.read_exact_at(&mut buf, data_start + i * u64::from(CHUNK)).expect("read");
                assert_eq!(&kintsugi_erasure::chunk_hash(&buf), &reader.chunk_hashes()[i as usize]);
            }
        })
    });
    g.finish();
}

criterion_group!(benches, read);
criterion_main!(benches);
