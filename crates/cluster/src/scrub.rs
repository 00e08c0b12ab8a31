//! Scrub: re-verify every shard's BLAKE3 where it lives and repair what is bad.
//!
//! A pass walks each usable disk's shards through the disk → shards index and
//! asks the disk to verify the whole shard (header, hash table against the
//! manifest, every chunk); on a storage node that work runs on the node and
//! only the verdict crosses the network. A corrupt or missing shard queues
//! its segment for in-place repair (`repair_segment`: rebuilt from k healthy
//! shards, kept only if it hashes to the manifest's shard hash). Passes run
//! every `--scrub-interval` at a bounded rate, or now with `kintsugi admin scrub`.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kintsugi_disk::DiskError;
use kintsugi_storage::ShardError;
use kintsugi_meta::{DiskId, ShardOwner};
use serde::Serialize;

use crate::error::ClusterResult;
use crate::limiter::Limiter;
use crate::store::{RepairRequest, Store};

/// Tunables of the background scrubber.
#[derive(Clone, Copy, Debug)]
pub struct ScrubConfig {
    /// Pause between background passes; zero turns background scrubbing off.
    pub interval: Duration,
    /// Shard bytes verified per second, 0 for no limit.
    pub bandwidth: u64,
}

impl Default for ScrubConfig {
    fn default() -> Self {
        Self { interval: Duration::ZERO, bandwidth: 64 << 20 }
    }
}

/// Counters of the scrubber since start.
#[derive(Debug, Default)]
pub struct ScrubStats {
    /// Passes finished.
    pub passes: AtomicU64,
    /// Shards verified.
    pub shards_checked: AtomicU64,
    /// Corrupt shards found.
    pub corrupt: AtomicU64,
    /// Missing shards found.
    pub missing: AtomicU64,
    /// Shards rebuilt in place after a scrub found them bad.
    pub repaired: AtomicU64,
}

impl ScrubStats {
    /// The scrubber's counters in Prometheus text format (part of `/metrics`).
    pub fn render_metrics(&self) -> String {
        use crate::metrics::counter;
        let mut s = String::new();
        counter(&mut s, "kintsugi_scrub_passes_total", "Scrub passes finished.", &self.passes);
        counter(&mut s, "kintsugi_scrub_shards_checked_total", "Shards verified by scrub.", &self.shards_checked);
        counter(&mut s, "kintsugi_scrub_corrupt_total", "Corrupt shards found by scrub.", &self.corrupt);
        counter(&mut s, "kintsugi_scrub_missing_total", "Missing shards found by scrub.", &self.missing);
        counter(&mut s, "kintsugi_scrub_repaired_total", "Shards rebuilt in place after scrub found them bad.", &self.repaired);
        s
    }
}

/// What one scrub pass did (`GET /kintsugi-admin/v1/scrub`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScrubReport {
    /// Disks scrubbed.
    pub disks: Vec<DiskId>,
    /// Shards verified.
    pub shards_checked: u64,
    /// Shard bytes verified (approximate: segment length / k per shard).
    pub bytes_checked: u64,
    /// Shards that failed verification.
    pub corrupt: u64,
    /// Shards whose file was not there.
    pub missing: u64,
    /// Shards that could not be checked (I/O error, node unreachable).
    pub unchecked: u64,
    /// Bad shards rebuilt in place.
    pub repaired: u64,
    /// Segments whose repair failed (retried by the next pass or read).
    pub repair_failed: u64,
    /// Wall time of the pass in milliseconds.
    pub elapsed_ms: u64,
}

/// Verify every shard on `only` (or on every usable disk) and repair the bad ones.
pub async fn scrub_pass(store: &Arc<Store>, stats: &ScrubStats, only: Option<DiskId>, limiter: &Limiter) -> ClusterResult<ScrubReport> {
    let started = std::time::Instant::now();
    let disks: Vec<_> = store.all_disks().into_iter().filter(|d| d.usable() && only.is_none_or(|o| o == d.id())).collect();
    let mut rep = ScrubReport { disks: disks.iter().map(|d| d.id()).collect(), ..ScrubReport::default() };
    // Object versions (bucket, key, the version's manifest id or none for the current one,
    // segment) with a bad shard; parts of uncompleted uploads are repaired once completed.
    let mut damaged: BTreeSet<(String, String, Option<u128>, u128)> = BTreeSet::new();
    for disk in disks {
        let id = disk.id();
        let mut after = None;
        loop {
            let page = store.meta_call(move |m| m.indexed_shards(id, after, 256)).await?;
            let Some(last) = page.last() else { break };
            after = Some((last.segment, last.index));
            for e in page {
                let segment = e.segment;
                let Some((owner, owned)) = store.meta_call(move |m| m.resolve_segment(segment, e.owner)).await? else { continue };
                let Some(loc) = owned.segment.shards.get(usize::from(e.index)) else { continue };
                if loc.disk != id {
                    continue; // moved since the index page was read
                }
                let k = u64::from(owned.coding.k.max(1));
                let bytes = owned.segment.len.div_ceil(k);
                limiter.take(bytes).await;
                rep.shards_checked += 1;
                rep.bytes_checked += bytes;
                stats.shards_checked.fetch_add(1, Ordering::Relaxed);
                match disk.check(segment, e.index, loc.hash, true).await {
                    Ok(_) => continue,
                    Err(ShardError::Disk(DiskError::Corrupt { .. })) => {
                        rep.corrupt += 1;
                        stats.corrupt.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(ShardError::Disk(DiskError::Missing { .. })) => {
                        rep.missing += 1;
                        stats.missing.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(err) => {
                        rep.unchecked += 1;
                        tracing::warn!(disk = id, segment = %format!("{segment:032x}"), shard = e.index, error = %err, "scrub could not check a shard");
                        continue;
                    }
                }
                tracing::warn!(disk = id, segment = %format!("{segment:032x}"), shard = e.index, "scrub found a bad shard");
                match owner {
                    ShardOwner::Object { bucket, key } => drop(damaged.insert((bucket, key, None, segment))),
                    ShardOwner::Version { bucket, key, version_id } => drop(damaged.insert((bucket, key, Some(version_id), segment))),
                    ShardOwner::Part { .. } => {}
                }
            }
        }
    }
    for (bucket, key, version, segment) in damaged {
        let (b, k) = (bucket.clone(), key.clone());
        let Some(man) = store
            .meta_call(move |m| match version {
                Some(v) => m.local_manifest_by_id(&b, &k, v),
                None => m.local_object(&b, &k),
            })
            .await?
        else {
            continue;
        };
        let Some(pos) = man.segments.iter().position(|s| s.id == segment) else { continue };
        let req = RepairRequest { bucket, key, version_id: man.version_id, segment: pos };
        match crate::read_repair::repair_segment(store, &req).await {
            Ok(n) => {
                rep.repaired += n as u64;
                stats.repaired.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) => {
                rep.repair_failed += 1;
                tracing::warn!(bucket = req.bucket, key = req.key, error = %e, "repair after scrub failed");
            }
        }
    }
    stats.passes.fetch_add(1, Ordering::Relaxed);
    rep.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    if rep.corrupt + rep.missing > 0 {
        tracing::warn!(corrupt = rep.corrupt, missing = rep.missing, repaired = rep.repaired, "scrub pass found bad shards");
    } else {
        tracing::info!(shards = rep.shards_checked, "scrub pass found every shard intact");
    }
    Ok(rep)
}
