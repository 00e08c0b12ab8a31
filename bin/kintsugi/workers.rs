//! Flags of the background workers (repair, drain, scrub) and of the S3 endpoint's
//! connections, shared by `kintsugi server` and `kintsugi gateway`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use clap::Args;
use kintsugi_cluster::WorkerConfig;
use kintsugi_gateway::tls::TlsServer;

/// Background repair and scrub tunables.
#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// Segments background repair rebuilds (and shards a drain moves) at once.
    #[arg(long, value_name = "N", env = "KINTSUGI_REPAIR_CONCURRENCY", default_value_t = 2)]
    repair_concurrency: usize,
    /// Cap on background repair's rebuilt data (and on drains), MiB/s (0: no cap).
    #[arg(long, value_name = "MIB_PER_S", env = "KINTSUGI_REPAIR_BANDWIDTH", default_value_t = 0)]
    repair_bandwidth: u64,
    /// Time between background repair passes (each finds every segment with a shard on a lost disk);
    /// a disk failing or a node found lost starts a pass within 2 s.
    #[arg(long, value_name = "DURATION", env = "KINTSUGI_REPAIR_INTERVAL", default_value = "5", value_parser = crate::cluster::secs)]
    repair_interval: Duration,
    /// Time between background scrub passes that re-verify every shard (0: only `kintsugi admin scrub`).
    #[arg(long, value_name = "DURATION", env = "KINTSUGI_SCRUB_INTERVAL", default_value = "86400", value_parser = crate::cluster::secs)]
    scrub_interval: Duration,
    /// Cap on background scrubbing, MiB/s of shard data verified (0: no cap).
    #[arg(long, value_name = "MIB_PER_S", env = "KINTSUGI_SCRUB_BANDWIDTH", default_value_t = 64)]
    scrub_bandwidth: u64,
    /// Time between lifecycle passes, which expire objects and abort uploads as buckets'
    /// lifecycle rules say.
    #[arg(long, value_name = "DURATION", env = "KINTSUGI_LIFECYCLE_INTERVAL", default_value = "600", value_parser = crate::cluster::secs)]
    lifecycle_interval: Duration,
    /// The length of the day lifecycle rules count their `Days` in. Only for tests, which
    /// run a rule's days in seconds; leave it at a day otherwise.
    #[arg(long, value_name = "DURATION", env = "KINTSUGI_LIFECYCLE_DAY", default_value = "86400", value_parser = crate::cluster::secs)]
    lifecycle_day: Duration,
    /// Time between sweeps of write intents no gateway will finish (a gateway killed or
    /// restarted mid-write leaves one, with the shards it wrote; the sweep hands them to
    /// garbage collection once every gateway of the group says it does not write them).
    #[arg(long, value_name = "DURATION", env = "KINTSUGI_INTENT_SWEEP_INTERVAL", default_value = "30", value_parser = crate::cluster::secs)]
    intent_sweep_interval: Duration,
    /// Write intents younger than this are never swept (a margin; the gateways' answers decide).
    #[arg(long, value_name = "DURATION", env = "KINTSUGI_INTENT_SWEEP_AGE", default_value = "60", value_parser = crate::cluster::secs)]
    intent_sweep_age: Duration,
}

/// Where bytes go: how full a disk may get, and which objects are kept with the metadata.
#[derive(Debug, Clone, Args)]
pub struct SpaceArgs {
    /// Objects of at most this size (after encryption) are kept with the metadata instead of
    /// as erasure-coded shards: one metadata write instead of k+m shard files, as durable as
    /// the metadata (replicated by a group of gateways; in `admin meta backup`, but not found
    /// by `admin meta rebuild`, which reads shards). Parts of multipart uploads never are.
    /// 0: never; at most 256KiB (every byte goes through the metadata's log, whose messages
    /// carry up to 300 entries each).
    #[arg(long, value_name = "SIZE", env = "KINTSUGI_INLINE_MAX", default_value = "16KiB", value_parser = inline_max)]
    pub inline_max: u64,
    /// Free space every disk keeps back: a disk with less free takes no new shards, and a
    /// write that no disk has room for is refused (507 XKintsugiStorageFull). A size (1GiB,
    /// 512MiB, 0) or a percentage of each disk (5%). The metadata directory's file system
    /// keeps the same reserve: below it new objects are refused too, so deletes still work.
    #[arg(long, value_name = "SIZE|PCT", env = "KINTSUGI_DISK_RESERVE", default_value = "1GiB")]
    pub disk_reserve: kintsugi_cluster::DiskReserve,
}

/// `--inline-max`: a size of at most 256 KiB (a group's log message carries up to 300
/// entries, and must stay below its 256 MiB limit; larger objects read faster as shards).
fn inline_max(s: &str) -> anyhow::Result<u64> {
    let n = crate::units::parse_size(s)?;
    if n > 256 << 10 {
        anyhow::bail!("{s}: at most 256KiB; larger objects are stored as erasure-coded shards, which suits them better");
    }
    Ok(n)
}

/// Limits of the S3 endpoint's connections.
#[derive(Debug, Clone, Args)]
pub struct HttpArgs {
    /// Longest a client may take to send a request's headers, and longest an idle keep-alive
    /// connection stays open; a slower client is disconnected (so slow or stalled clients cannot
    /// hold connections open forever). 0: no limit.
    #[arg(long, value_name = "DURATION", env = "KINTSUGI_HEADER_TIMEOUT", default_value = "30s", value_parser = crate::cluster::secs)]
    pub header_timeout: Duration,
    /// Longest a request body may go without sending a byte while it is read; the request then
    /// fails (400 RequestTimeout) and its connection is closed, so a stalled upload cannot hold
    /// a request slot. 0: no limit.
    #[arg(long, value_name = "DURATION", env = "KINTSUGI_BODY_TIMEOUT", default_value = "60s", value_parser = crate::cluster::secs)]
    pub body_timeout: Duration,
    /// Most S3 connections open at once; one more is answered 503 SlowDown and closed (0: no cap).
    #[arg(long, value_name = "N", env = "KINTSUGI_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,
    /// Most S3 requests worked on at once; one more is answered 503 SlowDown, which S3 clients
    /// retry with back-off (0: no cap). /metrics is always answered.
    #[arg(long, value_name = "N", env = "KINTSUGI_MAX_REQUESTS", default_value_t = 256)]
    pub max_requests: usize,
    /// Serve S3 and the admin API over HTTPS with this certificate chain (PEM, leaf first).
    /// Reloaded, with --tls-key, on SIGHUP; open connections keep the old one.
    #[arg(long, value_name = "FILE", env = "KINTSUGI_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", env = "KINTSUGI_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve buckets virtual-hosted style under this DNS name too: a request to
    /// BUCKET.NAME names BUCKET in its Host, as S3 SDKs address buckets by default. Repeat
    /// (or separate with commas) for several names; point *.NAME at the server in DNS.
    /// Requests to any other host stay path-style.
    #[arg(long = "domain", value_name = "NAME", env = "KINTSUGI_DOMAIN", value_delimiter = ',')]
    pub domains: Vec<String>,
    /// Take SSE-C requests (customer-provided encryption keys) over plain HTTP. S3 takes them
    /// only over HTTPS, and so does Kintsugi by default: a customer key is the only key to its
    /// object, and plain HTTP shows it to anyone on the path. Give this only when a
    /// TLS-terminating proxy stands in front of the server on a network you trust.
    #[arg(long, env = "KINTSUGI_SSE_C_OVER_HTTP")]
    pub sse_c_over_http: bool,
}

/// The S3 endpoint's connection settings, with the TLS files loaded.
#[derive(Debug, Clone)]
pub struct Http {
    /// See [`HttpArgs::header_timeout`].
    pub header_timeout: Duration,
    /// The TLS identity, when serving HTTPS.
    pub tls: Option<Arc<TlsServer>>,
    /// See [`HttpArgs::max_connections`].
    pub max_connections: usize,
    /// See [`HttpArgs::max_requests`].
    pub max_requests: usize,
    /// See [`HttpArgs::body_timeout`].
    pub body_timeout: Duration,
    /// See [`HttpArgs::domains`].
    pub domains: kintsugi_gateway::Domains,
    /// See [`HttpArgs::sse_c_over_http`].
    pub sse_c_over_http: bool,
}

impl HttpArgs {
    /// Load the certificate and key (so a bad pair stops the start at once, with the reason).
    pub fn open(&self) -> Result<Http> {
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(Arc::new(TlsServer::load(cert, key).context("--tls-cert / --tls-key")?)),
            _ => None,
        };
        let domains = kintsugi_gateway::Domains::new(&self.domains).map_err(anyhow::Error::msg)?;
        Ok(Http { header_timeout: self.header_timeout, tls, max_connections: self.max_connections, max_requests: self.max_requests, body_timeout: self.body_timeout, domains, sse_c_over_http: self.sse_c_over_http })
    }
}

impl WorkerArgs {
    /// The workers' tunables.
    pub fn config(&self) -> WorkerConfig {
        let repair = kintsugi_cluster::heal::RepairConfig {
            concurrency: self.repair_concurrency.max(1),
            bandwidth: self.repair_bandwidth.saturating_mul(1 << 20),
            interval: self.repair_interval.max(Duration::from_millis(100)),
        };
        let scrub = kintsugi_cluster::scrub::ScrubConfig { interval: self.scrub_interval, bandwidth: self.scrub_bandwidth.saturating_mul(1 << 20) };
        if self.lifecycle_day != Duration::from_secs(86_400) {
            tracing::warn!(day = ?self.lifecycle_day, "--lifecycle-day is not a day: lifecycle rules expire objects after that many of these \"days\" (a setting for tests)");
        }
        let lifecycle = kintsugi_cluster::expire::LifecycleConfig {
            interval: self.lifecycle_interval.max(Duration::from_millis(100)),
            day: self.lifecycle_day.max(Duration::from_secs(1)),
        };
        let sweep = kintsugi_cluster::sweep::SweepConfig { interval: self.intent_sweep_interval.max(Duration::from_millis(100)), min_age: self.intent_sweep_age };
        WorkerConfig { repair, scrub, gc_interval: Duration::from_secs(1), lifecycle, sweep }
    }
}
