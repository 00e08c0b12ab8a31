//! `kintsugi bench`: PUT, GET and mixed throughput phases against any S3
//! endpoint, verifying every byte read back, with latency percentiles and one
//! JSON line for machines.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use clap::Args;
use futures::StreamExt;
use kintsugi_client::{Body, PutOptions, S3Client};
use parking_lot::Mutex;
use serde::Serialize;

use crate::clientconf::{self, ConnArgs};
use crate::units;

/// Flags of `kintsugi bench`.
#[derive(Debug, Args)]
#[command(after_long_help = clientconf::CONN_HELP)]
pub struct BenchArgs {
    #[command(flatten)]
    conn: ConnArgs,
    /// Object size, e.g. 4KiB, 1MiB, 64MiB.
    #[arg(long, default_value = "1MiB")]
    size: String,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Length of each phase, e.g. 10s, 1m (ignored with --count).
    #[arg(long, default_value = "10s")]
    duration: String,
    /// Operations per phase instead of a duration.
    #[arg(long)]
    count: Option<u64>,
    /// Phases to run, in order: put, get, mixed.
    #[arg(long, value_delimiter = ',', default_value = "put,get")]
    phases: Vec<Phase>,
    /// GET:PUT ratio of the mixed phase, e.g. 70:30.
    #[arg(long, default_value = "70:30")]
    mix: String,
    /// Bucket to use (created if missing). Default: a new kintsugi-bench-XXXX bucket.
    #[arg(long)]
    bucket: Option<String>,
    /// Keep the objects and bucket afterwards.
    #[arg(long)]
    keep: bool,
    /// Print only the JSON line.
    #[arg(long)]
    json: bool,
}

/// A benchmark phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum Phase {
    /// Upload new objects.
    Put,
    /// Download and verify objects written before.
    Get,
    /// GETs and PUTs in the --mix ratio.
    Mixed,
}

/// Results of one phase.
#[derive(Debug, Serialize)]
struct PhaseResult {
    phase: Phase,
    ops: u64,
    bytes: u64,
    seconds: f64,
    mib_per_s: f64,
    ops_per_s: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    errors: u64,
    verify_failures: u64,
}

#[derive(Debug, Serialize)]
struct Report<'a> {
    endpoint: &'a str,
    size: u64,
    concurrency: usize,
    phases: Vec<PhaseResult>,
}

/// The source of object contents: a random buffer; object `i` is the slice
/// starting at a key-dependent offset, so any byte read back can be checked.
struct Payload {
    buf: Bytes,
    size: usize,
}

impl Payload {
    const SPREAD: usize = 4093;

    fn new(size: usize) -> Self {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ size as u64;
        let mut v = Vec::with_capacity(size + Self::SPREAD);
        while v.len() < size + Self::SPREAD {
            // xorshift64*: fast, not compressible, deterministic.
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            v.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
        }
        v.truncate(size + Self::SPREAD);
        Self { buf: Bytes::from(v), size }
    }

    fn for_object(&self, id: u64) -> Bytes {
        let off = (id.wrapping_mul(2_654_435_761) % Self::SPREAD as u64) as usize;
        self.buf.slice(off..off + self.size)
    }
}

fn key_of(id: u64) -> String {
    format!("bench/{id:010}")
}

struct Shared {
    client: S3Client,
    bucket: String,
    payload: Payload,
    next_id: AtomicU64,
    /// Objects written and acknowledged (ids below this are readable, in write order).
    written: Mutex<Vec<u64>>,
    ops_started: AtomicU64,
    stop: AtomicBool,
    first_errors: Mutex<Vec<String>>,
}

#[derive(Default)]
struct WorkerStats {
    lat_us: Vec<u64>,
    ops: u64,
    bytes: u64,
    errors: u64,
    verify_failures: u64,
}

impl Shared {
    fn note_error(&self, e: String) {
        let mut f = self.first_errors.lock();
        if f.len() < 5 {
            f.push(e);
        }
    }

    async fn do_put(&self, st: &mut WorkerStats) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = self.payload.for_object(id);
        let t = Instant::now();
        let len = body.len() as u64;
        match self.client.put_object(&self.bucket, &key_of(id), Body::Bytes(body), &PutOptions::default()).await {
            Ok(_) => {
                st.lat_us.push(t.elapsed().as_micros() as u64);
                st.ops += 1;
                st.bytes += len;
                self.written.lock().push(id);
            }
            Err(e) => {
                st.errors += 1;
                self.note_error(format!("PUT {}: {e}", key_of(id)));
            }
        }
    }

    async fn do_get(&self, st: &mut WorkerStats, n: u64) {
        let id = {
            let w = self.written.lock();
            if w.is_empty() {
                return;
            }
            w[(n.wrapping_mul(0x9e37_79b9) as usize) % w.len()]
        };
        let expect = self.payload.for_object(id);
        let t = Instant::now();
        let res = async {
            let obj = self.client.get_object(&self.bucket, &key_of(id), None).await?;
            let mut stream = Box::pin(obj.into_stream());
            let mut off = 0usize;
            let mut ok = true;
            while let Some(chunk) = stream.next().await {
                let c = chunk?;
                let end = off + c.len();
                if end > expect.len() || expect[off..end] != c[..] {
                    ok = false;
                }
                off = end;
            }
            Ok::<_, kintsugi_client::ClientError>((off, ok && off == expect.len()))
        }
        .await;
        match res {
            Ok((n, true)) => {
                st.lat_us.push(t.elapsed().as_micros() as u64);
                st.ops += 1;
                st.bytes += n as u64;
            }
            Ok((n, false)) => {
                st.verify_failures += 1;
                self.note_error(format!("GET {}: {n} bytes read do not match what was written", key_of(id)));
            }
            Err(e) => {
                st.errors += 1;
                self.note_error(format!("GET {}: {e}", key_of(id)));
            }
        }
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)] as f64 / 1000.0
}

async fn run_phase(sh: &Arc<Shared>, phase: Phase, concurrency: usize, limit: Limit, get_pct: u64) -> PhaseResult {
    sh.stop.store(false, Ordering::Relaxed);
    sh.ops_started.store(0, Ordering::Relaxed);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let sh = sh.clone();
        tasks.push(tokio::spawn(async move {
            let mut st = WorkerStats::default();
            loop {
                if sh.stop.load(Ordering::Relaxed) {
                    break;
                }
                let n = sh.ops_started.fetch_add(1, Ordering::Relaxed);
                match limit {
                    Limit::Count(c) if n >= c => break,
                    Limit::Time(d) if start.elapsed() >= d => break,
                    _ => {}
                }
                let is_get = match phase {
                    Phase::Put => false,
                    Phase::Get => true,
                    Phase::Mixed => (n.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) % 100 < get_pct,
                };
                if is_get {
                    sh.do_get(&mut st, n).await;
                } else {
                    sh.do_put(&mut st).await;
                }
            }
            st
        }));
    }
    let mut all = WorkerStats::default();
    for t in tasks {
        if let Ok(st) = t.await {
            all.lat_us.extend(st.lat_us);
            all.ops += st.ops;
            all.bytes += st.bytes;
            all.errors += st.errors;
            all.verify_failures += st.verify_failures;
        }
    }
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    all.lat_us.sort_unstable();
    PhaseResult {
        phase,
        ops: all.ops,
        bytes: all.bytes,
        seconds: secs,
        mib_per_s: all.bytes as f64 / (1024.0 * 1024.0) / secs,
        ops_per_s: all.ops as f64 / secs,
        p50_ms: percentile(&all.lat_us, 0.50),
        p90_ms: percentile(&all.lat_us, 0.90),
        p99_ms: percentile(&all.lat_us, 0.99),
        max_ms: percentile(&all.lat_us, 1.0),
        errors: all.errors,
        verify_failures: all.verify_failures,
    }
}

#[derive(Clone, Copy, Debug)]
enum Limit {
    Count(u64),
    Time(Duration),
}

/// Run `kintsugi bench`.
pub fn run(a: BenchArgs) -> Result<()> {
    let size = units::parse_size(&a.size)?;
    let size_us = usize::try_from(size).context("--size too large for this machine")?;
    if a.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    let limit = match a.count {
        Some(c) => Limit::Count(c),
        None => Limit::Time(units::parse_duration(&a.duration)?),
    };
    let (g, p) = a.mix.split_once(':').context("--mix must look like 70:30 (GET:PUT)")?;
    let (g, p): (u64, u64) = (g.trim().parse().context("--mix GET share")?, p.trim().parse().context("--mix PUT share")?);
    if g + p == 0 {
        bail!("--mix must not be 0:0");
    }
    let get_pct = g * 100 / (g + p);
    let conn = clientconf::resolve(&a.conn)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    rt.block_on(async move {
        let client = conn.client()?;
        let bucket = a.bucket.clone().unwrap_or_else(|| format!("kintsugi-bench-{:08x}", rand::random::<u32>()));
        match client.create_bucket(&bucket).await {
            Ok(()) => {}
            Err(e) if matches!(e.code(), Some("BucketAlreadyOwnedByYou") | Some("BucketAlreadyExists")) => {}
            Err(e) => return Err(anyhow::Error::new(e).context(format!("creating bucket {bucket} ({})", conn.source))),
        }
        let sh = Arc::new(Shared {
            client,
            bucket: bucket.clone(),
            payload: Payload::new(size_us),
            next_id: AtomicU64::new(0),
            written: Mutex::new(Vec::new()),
            ops_started: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            first_errors: Mutex::new(Vec::new()),
        });
        let mut results = Vec::new();
        for phase in &a.phases {
            if *phase != Phase::Put && sh.written.lock().is_empty() {
                // Prefill so GETs have something to read.
                let n = (a.concurrency as u64 * 4).max(16);
                run_phase(&sh, Phase::Put, a.concurrency, Limit::Count(n), 0).await;
            }
            let r = run_phase(&sh, *phase, a.concurrency, limit, get_pct).await;
            if !a.json {
                print_phase(&r);
            }
            results.push(r);
        }
        if !a.keep {
            let ids: Vec<u64> = sh.written.lock().clone();
            let cl = sh.client.clone();
            let b = bucket.clone();
            futures::stream::iter(ids)
                .for_each_concurrent(16, |id| {
                    let cl = cl.clone();
                    let b = b.clone();
                    async move {
                        let _ = cl.delete_object(&b, &key_of(id)).await;
                    }
                })
                .await;
            if a.bucket.is_none() {
                let _ = sh.client.delete_bucket(&bucket).await;
            }
        }
        for e in sh.first_errors.lock().iter() {
            eprintln!("error: {e}");
        }
        let report = Report { endpoint: &conn.endpoint, size, concurrency: a.concurrency, phases: results };
        println!("{}", serde_json::to_string(&report)?);
        let failed: u64 = report.phases.iter().map(|p| p.errors + p.verify_failures).sum();
        if failed > 0 {
            bail!("{failed} operations failed or returned wrong bytes (see the errors above)");
        }
        Ok(())
    })
}

fn print_phase(r: &PhaseResult) {
    let name = match r.phase {
        Phase::Put => "PUT",
        Phase::Get => "GET",
        Phase::Mixed => "MIXED",
    };
    println!(
        "{name:<6} {:>10.1} MiB/s {:>9.1} ops/s  p50 {:>8.2} ms  p90 {:>8.2} ms  p99 {:>8.2} ms  max {:>8.2} ms  ops {:>7}  errors {}  verify-failures {}",
        r.mib_per_s, r.ops_per_s, r.p50_ms, r.p90_ms, r.p99_ms, r.max_ms, r.ops, r.errors, r.verify_failures
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_slices_differ_and_are_stable() {
        let p = Payload::new(1000);
        assert_eq!(p.for_object(1).len(), 1000);
        assert_ne!(p.for_object(1), p.for_object(2));
        assert_eq!(p.for_object(7), p.for_object(7));
    }

    #[test]
    fn percentiles() {
        let v: Vec<u64> = (1..=100).map(|i| i * 1000).collect();
        assert_eq!(percentile(&v, 0.5), 51.0);
        assert_eq!(percentile(&v, 1.0), 100.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
