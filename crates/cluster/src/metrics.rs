//! The data path's counters (reads, writes, read-repair, GC), exported in Prometheus text
//! format at `/metrics`; each background worker renders its own (see `Workers::render_metrics`).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use kintsugi_storage::ReadCounters;

/// Process-wide counters of one gateway (one instance per `Store`, no globals).
#[derive(Debug, Default)]
pub struct Metrics {
    /// What segment reads found: corrupt and missing shards, hedged and degraded reads.
    pub reads: ReadCounters,
    /// Shards rebuilt in place by read-repair.
    pub shard_repaired: AtomicU64,
    /// Read-repair attempts that failed.
    pub repair_failed: AtomicU64,
    /// Shard files deleted by garbage collection.
    pub gc_deleted: AtomicU64,
    /// Shards replaced onto another disk while their PUT was running.
    pub shards_replaced: AtomicU64,
    /// Shards of committed segments left missing at write quorum (for repair).
    pub shards_pending_repair: AtomicU64,
    /// Shards moved (drain, rebalance, spread) by a storage node copying straight from another.
    pub shards_copied_by_nodes: AtomicU64,
    /// Requests the gateway's cluster port refused (no certificate, or not a request a member may send it).
    pub cluster_requests_refused: AtomicU64,
    /// Disks a node reported that another node serves (refused, not registered).
    pub disk_claims_refused: AtomicU64,
    /// Object bytes written by PUTs and parts.
    pub bytes_written: AtomicU64,
    /// Object bytes returned by GETs.
    pub bytes_read: AtomicU64,
    /// Objects kept with the metadata (inline segments written).
    pub inline_writes: AtomicU64,
    /// Reads of inline segments.
    pub inline_reads: AtomicU64,
    /// Write intents given up by the sweep: no gateway was writing them any more.
    pub intents_swept: AtomicU64,
    /// Sweeps that gave nothing up because some gateway of the group did not answer.
    pub sweeps_undecided: AtomicU64,
}

/// Append one counter in Prometheus text format to `out` (the one shape of every counter on
/// `/metrics`, the workers' included).
pub(crate) fn counter(out: &mut String, name: &str, help: &str, v: &AtomicU64) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", v.load(Ordering::Relaxed));
}

impl Metrics {
    /// Add one to a counter.
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Render in Prometheus text exposition format; `disks_failed`,
    /// `disks_total` and `garbage_pending` are gauges read by the caller.
    pub fn render(&self, disks_failed: usize, disks_total: usize, garbage_pending: u64) -> String {
        let mut s = String::new();
        counter(&mut s, "kintsugi_shard_corrupt_total", "Corrupt shards or chunks detected on read.", &self.reads.shard_corrupt);
        counter(&mut s, "kintsugi_shard_missing_total", "Missing shards or unreadable disks detected on read.", &self.reads.shard_missing);
        counter(&mut s, "kintsugi_shard_repaired_total", "Shards rebuilt in place by read-repair.", &self.shard_repaired);
        counter(&mut s, "kintsugi_repair_failed_total", "Read-repair attempts that failed.", &self.repair_failed);
        counter(&mut s, "kintsugi_gc_shards_deleted_total", "Unreferenced shard files deleted.", &self.gc_deleted);
        counter(&mut s, "kintsugi_degraded_stripe_reads_total", "Stripe reads that needed parity.", &self.reads.degraded_reads);
        counter(&mut s, "kintsugi_shards_replaced_total", "Shards re-placed onto another disk during their PUT.", &self.shards_replaced);
        counter(&mut s, "kintsugi_shards_pending_repair_total", "Shards of committed segments left missing at write quorum.", &self.shards_pending_repair);
        counter(&mut s, "kintsugi_shards_copied_by_nodes_total", "Shards moved by a storage node copying straight from another (not through the gateway).", &self.shards_copied_by_nodes);
        counter(&mut s, "kintsugi_cluster_requests_refused_total", "Requests the gateway's cluster port refused (no certificate, a removed node's revoked certificate, or not a request a member may send).", &self.cluster_requests_refused);
        counter(&mut s, "kintsugi_hedged_reads_total", "Parity reads started because a shard read was slow.", &self.reads.hedged_reads);
        counter(&mut s, "kintsugi_disk_claims_refused_total", "Disks a node reported that another node serves (a copied disk directory): refused, not registered.", &self.disk_claims_refused);
        counter(&mut s, "kintsugi_object_bytes_written_total", "Object bytes written.", &self.bytes_written);
        counter(&mut s, "kintsugi_object_bytes_read_total", "Object bytes returned to clients.", &self.bytes_read);
        counter(&mut s, "kintsugi_inline_writes_total", "Small objects kept with the metadata instead of as shards (inline segments written).", &self.inline_writes);
        counter(&mut s, "kintsugi_inline_reads_total", "Reads of inline segments (small objects kept with the metadata).", &self.inline_reads);
        counter(&mut s, "kintsugi_intents_swept_total", "Write intents given up because no gateway was writing them any more (a gateway killed or restarted mid-write); their shards go to garbage collection.", &self.intents_swept);
        counter(&mut s, "kintsugi_intent_sweeps_undecided_total", "Sweeps of write intents that gave nothing up because a gateway of the group did not answer.", &self.sweeps_undecided);
        let _ = writeln!(s, "# HELP kintsugi_disks_failed Disks currently failed or unreachable.\n# TYPE kintsugi_disks_failed gauge\nkintsugi_disks_failed {disks_failed}");
        let _ = writeln!(s, "# HELP kintsugi_disks Disks configured.\n# TYPE kintsugi_disks gauge\nkintsugi_disks {disks_total}");
        let _ = writeln!(s, "# HELP kintsugi_gc_pending Segments waiting for garbage collection.\n# TYPE kintsugi_gc_pending gauge\nkintsugi_gc_pending {garbage_pending}");
        s
    }
}
