//! Codec micro-benchmarks: RS encode and reconstruct per k+m and chunk size,
//! BLAKE3 per chunk, and MD5 (the S3 ETag) as a reference cost per byte.
//! Run: `cargo bench -p kintsugi-erasure --bench codec`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kintsugi_erasure::{chunk_hash, codec_for, encode_stripe, CodecId, Scheme};
use md5::{Digest, Md5};
use std::hint::black_box;

const SCHEMES: [(u8, u8); 3] = [(4, 2), (8, 3), (10, 4)];
const CHUNKS: [u32; 3] = [64 * 1024, 256 * 1024, 1024 * 1024];

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("rs_encode");
    for (k, m) in SCHEMES {
        let scheme = Scheme::new(k, m).expect("scheme");
        let codec = codec_for(CodecId::ReedSolomonGf8, scheme).expect("codec");
        for chunk in CHUNKS {
            let cl = chunk as usize;
            let chunks: Vec<Vec<u8>> = (0..usize::from(k)).map(|i| data(cl + i)[i..].to_vec()).collect();
            let mut parity: Vec<Vec<u8>> = (0..usize::from(m)).map(|_| vec![0u8; cl]).collect();
            g.throughput(Throughput::Bytes((cl * usize::from(k)) as u64));
            g.bench_with_input(BenchmarkId::new(format!("{k}+{m}"), format!("{}KiB", chunk / 1024)), &chunk, |b, _| {
                b.iter(|| {
                    let d: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
                    let mut p: Vec<&mut [u8]> = parity.iter_mut().map(Vec::as_mut_slice).collect();
                    codec.encode(&d, &mut p).expect("encode");
                    black_box(&p);
                })
            });
        }
    }
    g.finish();
}

fn reconstruct(c: &mut Criterion) {
    let mut g = c.benchmark_group("rs_reconstruct_m_data_lost");
    for (k, m) in SCHEMES {
        let scheme = Scheme::new(k, m).expect("scheme");
        let codec = codec_for(CodecId::ReedSolomonGf8, scheme).expect("codec");
        for chunk in CHUNKS {
            let stripe = data(chunk as usize * usize::from(k));
            let enc = encode_stripe(codec.as_ref(), &stripe, chunk).expect("encode");
            g.throughput(Throughput::Bytes(stripe.len() as u64));
            g.bench_with_input(BenchmarkId::new(format!("{k}+{m}"), format!("{}KiB", chunk / 1024)), &chunk, |b, _| {
                b.iter(|| {
                    let mut slots: Vec<Option<Vec<u8>>> = enc.chunks.iter().cloned().map(Some).collect();
                    for s in slots.iter_mut().take(usize::from(m)) {
                        *s = None; // lose m data chunks: the worst case
                    }
                    codec.reconstruct_data(&mut slots).expect("reconstruct");
                    black_box(&slots);
                })
            });
        }
    }
    g.finish();
}

fn hashing(c: &mut Criterion) {
    let mut g = c.benchmark_group("hash");
    for chunk in CHUNKS {
        let d = data(chunk as usize);
        g.throughput(Throughput::Bytes(chunk.into()));
        g.bench_with_input(BenchmarkId::new("blake3_chunk", format!("{}KiB", chunk / 1024)), &chunk, |b, _| {
            b.iter(|| black_box(chunk_hash(&d)))
        });
        g.bench_with_input(BenchmarkId::new("md5", format!("{}KiB", chunk / 1024)), &chunk, |b, _| {
            b.iter(|| black_box(Md5::digest(&d)))
        });
        g.bench_with_input(BenchmarkId::new("memcpy", format!("{}KiB", chunk / 1024)), &chunk, |b, _| {
            b.iter(|| black_box(d.clone()))
        });
    }
    g.finish();
}

criterion_group!(benches, encode, reconstruct, hashing);
criterion_main!(benches);
