//! The whole in-memory PUT pipeline: segment → stripes → RS encode + BLAKE3 per
//! chunk, plus MD5 of the body for the S3 ETag, and the GET side (verify BLAKE3
//! of the k data chunks and copy them out). These are the CPU ceilings the
//! embedded server's PUT and GET throughput is compared with in BENCHMARKS.md:
//! one object on one thread, and (`*_all_cores_N`) one object per core at once,
//! as concurrent requests run, counting the bytes of all of them.
//!
//! Every variant runs on threads it starts, as the server's work runs on its
//! runtime's threads, never on the main thread: there glibc's allocator hands
//! the stripes' buffers back to the kernel and faults them in again on every
//! object, which made the one-core PUT about 1.4× slower than on any other
//! thread (measured: 392 against 545 MiB/s in one run). GET copies into a
//! buffer kept across iterations (a fresh 64 MiB one is faulted in on any
//! thread); the server streams and never builds one.
//! Run: `cargo bench --bench pipeline`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kintsugi_erasure::{chunk_hash, codec_for, encode_stripe, CodecId, Layout, Scheme, DEFAULT_CHUNK_SIZE};
use md5::{Digest, Md5};
use std::hint::black_box;
use std::sync::Mutex;

const OBJECT: usize = 64 * 1024 * 1024;

/// Run `f(i)` once on each of `threads` new threads at once (`i`: the thread's number).
fn on_threads(threads: usize, f: impl Fn(usize) + Sync) {
    std::thread::scope(|s| {
        for i in 0..threads {
            let f = &f;
            s.spawn(move || f(i));
        }
    });
}

fn pipeline(c: &mut Criterion) {
    let scheme = Scheme::new(4, 2).expect("scheme");
    let layout = Layout::new(scheme, DEFAULT_CHUNK_SIZE).expect("layout");
    let codec = codec_for(CodecId::ReedSolomonGf8, scheme).expect("codec");
    let body: Vec<u8> = (0..OBJECT).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let len = body.len() as u64;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    let encode = |with_md5: bool| {
        if with_md5 {
            black_box(Md5::digest(&body));
        }
        for s in 0..layout.stripe_count(len) {
            let geom = layout.stripe(len, s).expect("geom");
            let piece = &body[geom.data_offset as usize..(geom.data_offset + geom.data_len) as usize];
            black_box(encode_stripe(codec.as_ref(), piece, geom.chunk_len).expect("encode"));
        }
    };
    // GET: verify each data chunk's BLAKE3 and copy it out (no decode while healthy).
    let stripes: Vec<_> = (0..layout.stripe_count(len))
        .map(|s| {
            let geom = layout.stripe(len, s).expect("geom");
            let piece = &body[geom.data_offset as usize..(geom.data_offset + geom.data_len) as usize];
            encode_stripe(codec.as_ref(), piece, geom.chunk_len).expect("encode")
        })
        .collect();
    let outs: Vec<Mutex<Vec<u8>>> = (0..cores).map(|_| Mutex::new(Vec::with_capacity(OBJECT))).collect();
    let verify = |i: usize| {
        let mut out = outs[i].lock().unwrap_or_else(|p| p.into_inner());
        out.clear();
        for st in &stripes {
            for (c, h) in st.chunks.iter().zip(&st.hashes).take(4) {
                assert_eq!(&chunk_hash(c), h);
                out.extend_from_slice(c);
            }
        }
        black_box(out.len());
    };

    let mut g = c.benchmark_group("pipeline_64MiB_4+2");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(len));
    g.bench_function("put_rs_blake3_md5", |b| b.iter(|| on_threads(1, |_| encode(true))));
    g.bench_function("put_rs_blake3_no_md5", |b| b.iter(|| on_threads(1, |_| encode(false))));
    g.bench_function("get_verify_blake3", |b| b.iter(|| on_threads(1, verify)));
    g.throughput(Throughput::Bytes(len * cores as u64));
    g.bench_function(format!("put_rs_blake3_md5_all_cores_{cores}"), |b| b.iter(|| on_threads(cores, |_| encode(true))));
    g.bench_function(format!("get_verify_blake3_all_cores_{cores}"), |b| b.iter(|| on_threads(cores, verify)));
    g.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
