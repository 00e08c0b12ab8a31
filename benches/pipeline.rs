//! The whole in-memory PUT pipeline on one core: segment → stripes → RS
//! encode + BLAKE3 per chunk, plus MD5 of the body for the S3 ETag, and the
//! GET side (verify BLAKE3 of the k data chunks and reassemble). This is the
//! CPU ceiling the embedded server's PUT and GET throughput is compared with
//! in BENCHMARKS.md. Run: `cargo bench --bench pipeline`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kintsugi_erasure::{chunk_hash, codec_for, encode_stripe, CodecId, Layout, Scheme, DEFAULT_CHUNK_SIZE};
use md5::{Digest, Md5};
use std::hint::black_box;

const OBJECT: usize = 64 * 1024 * 1024;

fn pipeline(c: &mut Criterion) {
    let scheme = Scheme::new(4, 2).expect("scheme");
    let layout = Layout::new(scheme, DEFAULT_CHUNK_SIZE).expect("layout");
    let codec = codec_for(CodecId::ReedSolomonGf8, scheme).expect("codec");
    let body: Vec<u8> = (0..OBJECT).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let len = body.len() as u64;
    let mut g = c.benchmark_group("pipeline_64MiB_4+2");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(len));
    g.bench_function("put_rs_blake3_md5", |b| {
        b.iter(|| {
            let mut md5 = Md5::new();
            md5.update(&body);
            for s in 0..layout.stripe_count(len) {
                let geom = layout.stripe(len, s).expect("geom");
                let piece = &body[geom.data_offset as usize..(geom.data_offset + geom.data_len) as usize];
                black_box(encode_stripe(codec.as_ref(), piece, geom.chunk_len).expect("encode"));
            }
            black_box(md5.finalize())
        })
    });
    g.bench_function("put_rs_blake3_no_md5", |b| {
        b.iter(|| {
            for s in 0..layout.stripe_count(len) {
                let geom = layout.stripe(len, s).expect("geom");
                let piece = &body[geom.data_offset as usize..(geom.data_offset + geom.data_len) as usize];
                black_box(encode_stripe(codec.as_ref(), piece, geom.chunk_len).expect("encode"));
            }
        })
    });
    // GET: verify each data chunk's BLAKE3 and copy it out (no decode while healthy).
    let stripes: Vec<_> = (0..layout.stripe_count(len))
        .map(|s| {
            let geom = layout.stripe(len, s).expect("geom");
            let piece = &body[geom.data_offset as usize..(geom.data_offset + geom.data_len) as usize];
            encode_stripe(codec.as_ref(), piece, geom.chunk_len).expect("encode")
        })
        .collect();
    g.bench_function("get_verify_blake3", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(OBJECT);
            for st in &stripes {
                for (c, h) in st.chunks.iter().zip(&st.hashes).take(4) {
                    assert_eq!(&chunk_hash(c), h);
                    out.extend_from_slice(c);
                }
            }
            black_box(out)
        })
    });
    g.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
