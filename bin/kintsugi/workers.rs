//! Flags of the background workers (repair, drain, scrub) and of the S3 endpoint's
//! connections, shared by `kintsugi server` and `kintsugi gateway`.

use std::time::Duration;

use clap::Args;
use kintsugi_cluster::WorkerConfig;

/// Background repair and scrub tunables.
#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// Segments background repair rebuilds (and shards a drain moves) at once.
    #[arg(long, value_name = "N", env = "KINTSUGI_REPAIR_CONCURRENCY", default_value_t = 2)]
    repair_concurrency: usize,
    /// Cap on background repair's rebuilt data (and on drains), MiB/s (0: no cap).
    #[arg(long, value_name = "MIB_PER_S", env = "KINTSUGI_REPAIR_BANDWIDTH", default_value_t = 0)]
    repair_bandwidth: u64,
    /// Time between background repair passes (each finds every segment with a shard on a lost disk).
    #[arg(long, value_name = "DURATION", env = "KINTSUGI_REPAIR_INTERVAL", default_value = "5", value_parser = crate::cluster::secs)]
    repair_interval: Duration,
    /// Time between background scrub passes that re-verify every shard (0: only `kintsugi admin scrub`).
    #[arg(long, value_name = "DURATION", env = "KINTSUGI_SCRUB_INTERVAL", default_value = "86400", value_parser = crate::cluster::secs)]
    scrub_interval: Duration,
    /// Cap on background scrubbing, MiB/s of shard data verified (0: no cap).
    #[arg(long, value_name = "MIB_PER_S", env = "KINTSUGI_SCRUB_BANDWIDTH", default_value_t = 64)]
    scrub_bandwidth: u64,
}

/// Limits of the S3 endpoint's connections.
#[derive(Debug, Clone, Args)]
pub struct HttpArgs {
    /// Longest a client may take to send a request's headers, and longest an idle keep-alive
    /// connection stays open; a slower client is disconnected (so slow or stalled clients cannot
    /// hold connections open forever). 0: no limit.
    #[arg(long, value_name = "DURATION", env = "KINTSUGI_HEADER_TIMEOUT", default_value = "30s", value_parser = crate::cluster::secs)]
    pub header_timeout: Duration,
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
        WorkerConfig { repair, scrub, gc_interval: Duration::from_secs(1) }
    }
}
