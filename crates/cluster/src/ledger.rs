//! The redundancy ledger: committed segments and bytes by how many failure-domain
//! losses they survive now, shown as healthy shards in distinct domains (k+m: any m
//! domains may go; k+m-1; …; k: none may; below k: unreadable now). With one shard per
//! domain that is the count of healthy shards; a segment with two shards in one domain
//! (or a shard not placed) sits a row lower even when every shard is healthy.
//!
//! Totals and the placement shortfall counters (segments whose placement itself survives
//! fewer than m losses) come from the metadata store's ledger, updated in the same commit
//! as every write, delete and shard move; the damaged segments from the disk → shards
//! index of the disks that are unusable now (lost, failed, or on a down node) and of
//! `NO_DISK`, which is exact because every commit, repair and drain updates the index
//! atomically. `recount` rebuilds the same table (and every disk's shard and byte counts,
//! and the shortfall counters) from a full scan of the manifests to prove it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kintsugi_meta::{Coding, DiskId, SegmentId, SegmentMeta, ShardOwner, Totals, NO_DISK};
use serde::Serialize;

use crate::error::ClusterResult;
use crate::store::Store;

/// One row: segments that survive the loss of `shards - k` failure domains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LedgerRow {
    /// "k+m", "k+m-1", …, "k", or "below k".
    pub healthy: String,
    /// Healthy shards per segment in distinct failure domains (k-1 stands for every count below k).
    pub shards: u32,
    /// Segments.
    pub segments: u64,
    /// Object bytes in them.
    pub bytes: u64,
}

/// The ledger.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ledger {
    /// Committed segments (objects and uploaded parts).
    pub segments: u64,
    /// Object bytes in them.
    pub bytes: u64,
    /// By failure-domain losses survived (as healthy shards in distinct domains), from k+m down to below k.
    pub rows: Vec<LedgerRow>,
    /// Shard bytes still to rebuild (shards on unusable disks).
    pub shard_bytes_missing: u64,
    /// Small objects kept with the metadata (inline segments): not in the segments above;
    /// they have no shards and are as durable as the metadata.
    pub inline_segments: u64,
    /// Object bytes in them.
    pub inline_bytes: u64,
}

impl Ledger {
    /// True when every segment survives the loss of any m failure domains.
    pub fn full(&self) -> bool {
        self.rows.iter().all(|r| r.segments == 0 || r.healthy == "k+m")
    }
}

/// A full recount beside the ledger.
#[derive(Debug, Clone, Serialize)]
pub struct RecountReport {
    /// The table rebuilt from a scan of every manifest and part.
    pub ledger: Ledger,
    /// Shards the manifests name.
    pub shards: u64,
    /// Entries in the disk → shards index.
    pub index_entries: u64,
    /// The per-disk counters (shards and bytes on each disk) agree with the scan.
    pub disk_counters_match: bool,
    /// The placement shortfall counters (segments whose placement survives fewer than m
    /// domain losses) agree with the scan.
    pub shortfall_counters_match: bool,
    /// The ledger, the per-disk counters, the recount and the index all agree.
    pub matches: bool,
    /// Segments with more shards in one failure domain than the cluster's domains call for
    /// (one whenever there are k+m domains): they survive fewer domain losses than their
    /// shard count says, and the ledger shows them a row lower. Repair spreads them out.
    pub segments_over_domain_cap: u64,
    /// Segments with two shards on one disk (never made by this version; older ones are spread).
    pub segments_sharing_a_disk: u64,
}

/// The row (0 = k+m … m+1 = below k) of a segment coded with `cm` parity shards that falls
/// `shortfall` domain losses short of surviving `cm`, in a store coding with `m`: a segment
/// with fewer parity shards than the store's sits as many rows lower.
fn row_index(m: u8, cm: u8, shortfall: u8) -> u8 {
    if shortfall == 0 {
        0
    } else {
        shortfall.saturating_add(m.saturating_sub(cm)).min(m + 1)
    }
}

/// The rows from segments by row index; `total` fills row 0 with the rest.
fn rows(k: u8, m: u8, by_row: &BTreeMap<u8, Totals>, total: Totals) -> Vec<LedgerRow> {
    let mut out: Vec<LedgerRow> = (0..=m)
        .map(|miss| LedgerRow {
            healthy: if miss == 0 { "k+m".to_owned() } else { format!("k+m-{miss}") },
            shards: u32::from(k + m - miss),
            segments: 0,
            bytes: 0,
        })
        .collect();
    if let Some(last) = out.last_mut() {
        last.healthy = "k".into();
    }
    out.push(LedgerRow { healthy: "below k".into(), shards: u32::from(k).saturating_sub(1), segments: 0, bytes: 0 });
    let (mut segs, mut bytes) = (0u64, 0u64);
    for (i, t) in by_row {
        if let Some(r) = out.get_mut(usize::from((*i).min(m + 1))) {
            r.segments += t.segments;
            r.bytes += t.bytes;
            segs += t.segments;
            bytes += t.bytes;
        }
    }
    if let Some(r) = out.first_mut() {
        r.segments += total.segments.saturating_sub(segs);
        r.bytes += total.bytes.saturating_sub(bytes);
    }
    out
}

/// Segments by row from segments by (coding m, shortfall).
fn by_row(m: u8, by_shortfall: &kintsugi_meta::Shortfalls) -> BTreeMap<u8, Totals> {
    let mut out: BTreeMap<u8, Totals> = BTreeMap::new();
    for ((cm, sf), t) in by_shortfall {
        let e = out.entry(row_index(m, *cm, *sf)).or_default();
        e.segments += t.segments;
        e.bytes += t.bytes;
    }
    out
}

/// What the disk → shards index of the disks unusable now says, in one walk.
#[derive(Debug, Clone)]
pub(crate) struct Damage {
    /// The ledger.
    pub ledger: Ledger,
    /// Committed shards on each unusable disk.
    pub shards_on: HashMap<DiskId, u64>,
    /// Damaged segments by the exact number of their shards on unusable disks.
    pub by_missing: BTreeMap<u8, u64>,
}

/// Walk the index of the unusable disks once: the ledger, and what repair's report needs.
pub(crate) async fn damage(store: &Arc<Store>) -> ClusterResult<Damage> {
    // Unusable now: failed and unreachable disks, and NO_DISK (shards no PUT could place).
    let (usable, bad): (Vec<DiskId>, Vec<DiskId>) = {
        let (u, b): (Vec<_>, Vec<_>) = store.all_disks().into_iter().partition(|d| d.usable());
        (u.iter().map(|d| d.id()).collect(), b.iter().map(|d| d.id()).chain([NO_DISK]).collect())
    };
    let (k, m) = (store.layout.scheme.k, store.layout.scheme.m);
    store
        .meta_call_with(move |meta| {
            let totals = meta.committed_totals()?;
            let inline = meta.inline_totals()?;
            // Damaged segments (with a shard on a disk in `bad`) with their coding, by id.
            let mut owners: HashMap<ShardOwner, Vec<(Coding, SegmentMeta)>> = HashMap::new();
            let mut dmg: HashMap<SegmentId, (Coding, SegmentMeta)> = HashMap::new();
            let mut shards_on: HashMap<DiskId, u64> = HashMap::new();
            for disk in &bad {
                meta.visit_indexed(*disk, |e| {
                    *shards_on.entry(*disk).or_default() += 1;
                    if dmg.contains_key(&e.segment) {
                        return Ok(());
                    }
                    let found = match &e.owner {
                        Some(o) => {
                            if !owners.contains_key(o) {
                                owners.insert(o.clone(), meta.owner_segments(o)?.unwrap_or_default());
                            }
                            owners.get(o).and_then(|v| v.iter().find(|(_, s)| s.id == e.segment).cloned())
                        }
                        None => meta.resolve_segment(e.segment, None)?.map(|(_, s)| (s.coding, s.segment)),
                    };
                    if let Some(f) = found {
                        dmg.insert(e.segment, f);
                    }
                    Ok(())
                })?;
            }
            // Undamaged segments whose placement falls short (crowded or partly placed) come
            // from the counters; damaged ones are counted by what they survive now.
            let mut short = meta.shortfall_counts()?;
            let mut by_missing: BTreeMap<u8, u64> = BTreeMap::new();
            let mut now: kintsugi_meta::Shortfalls = BTreeMap::new();
            let mut shard_bytes_missing = 0u64;
            let usable_now = |d: DiskId| usable.contains(&d);
            for (c, s) in dmg.values() {
                let miss = s.shards.iter().filter(|l| !usable.contains(&l.disk)).count();
                shard_bytes_missing += miss as u64 * kintsugi_meta::shard_bytes(c, s.len);
                *by_missing.entry(u8::try_from(miss).unwrap_or(u8::MAX)).or_default() += 1;
                let placed = meta.placement_shortfall(c, s);
                if let Some(t) = short.get_mut(&(c.m, placed)) {
                    t.segments = t.segments.saturating_sub(1);
                    t.bytes = t.bytes.saturating_sub(s.len);
                }
                let e = now.entry((c.m, meta.shortfall(c, s, &usable_now))).or_default();
                e.segments += 1;
                e.bytes += s.len;
            }
            for (key, t) in short {
                let e = now.entry(key).or_default();
                e.segments += t.segments;
                e.bytes += t.bytes;
            }
            let ledger = Ledger {
                segments: totals.segments,
                bytes: totals.bytes,
                rows: rows(k, m, &by_row(m, &now), totals),
                shard_bytes_missing,
                inline_segments: inline.segments,
                inline_bytes: inline.bytes,
            };
            Ok(Damage { ledger, shards_on, by_missing })
        })
        .await
}

fn usable_set(store: &Store) -> Vec<DiskId> {
    store.all_disks().iter().filter(|d| d.usable()).map(|d| d.id()).collect()
}

/// Recount from a full scan and compare with `ledger`.
pub async fn recount(store: &Arc<Store>, ledger: &Ledger) -> ClusterResult<RecountReport> {
    let usable = usable_set(store);
    let (k, m) = (store.layout.scheme.k, store.layout.scheme.m);
    let cap = store.domain_cap();
    let r = store.meta_call(move |meta| meta.recount(&|d| usable.contains(&d), cap)).await?;
    // The recount counts segments; the shard bytes still to rebuild are the ledger's figure.
    let rows = rows(k, m, &by_row(m, &r.by_shortfall), r.totals);
    let counted = Ledger {
        segments: r.totals.segments,
        bytes: r.totals.bytes,
        rows,
        shard_bytes_missing: ledger.shard_bytes_missing,
        inline_segments: r.inline.segments,
        inline_bytes: r.inline.bytes,
    };
    let matches = counted.segments == ledger.segments
        && counted.bytes == ledger.bytes
        && counted.rows == ledger.rows
        && r.shards == r.index_entries
        && r.disk_counters_match
        && r.shortfall_counters_match
        && counted.inline_segments == ledger.inline_segments
        && counted.inline_bytes == ledger.inline_bytes
        && r.inline_counter_matches;
    if !matches {
        tracing::error!(?counted, ?ledger, shards = r.shards, index = r.index_entries, "redundancy ledger and full recount disagree");
    }
    Ok(RecountReport {
        ledger: counted,
        shards: r.shards,
        index_entries: r.index_entries,
        disk_counters_match: r.disk_counters_match,
        shortfall_counters_match: r.shortfall_counters_match,
        matches,
        segments_over_domain_cap: r.over_domain_cap.len() as u64,
        segments_sharing_a_disk: r.sharing_a_disk,
    })
}

/// The ledger in Prometheus text format (appended to `/metrics`).
pub async fn render_metrics(store: &Arc<Store>) -> String {
    use std::fmt::Write;
    let Ok(d) = damage(store).await else { return String::new() };
    let not_placed = d.shards_on.get(&NO_DISK).copied().unwrap_or(0);
    let l = d.ledger;
    let mut s = String::new();
    let _ = writeln!(s, "# HELP kintsugi_segments Committed segments by failure-domain losses survived, as healthy shards in distinct domains (k+m is full redundancy).\n# TYPE kintsugi_segments gauge");
    for r in &l.rows {
        let _ = writeln!(s, "kintsugi_segments{{healthy=\"{}\",shards=\"{}\"}} {}", r.healthy, r.shards, r.segments);
    }
    let _ = writeln!(s, "# HELP kintsugi_segment_bytes Object bytes of committed segments by failure-domain losses survived.\n# TYPE kintsugi_segment_bytes gauge");
    for r in &l.rows {
        let _ = writeln!(s, "kintsugi_segment_bytes{{healthy=\"{}\",shards=\"{}\"}} {}", r.healthy, r.shards, r.bytes);
    }
    let _ = writeln!(s, "# HELP kintsugi_shard_bytes_missing Shard bytes on unusable disks, still to rebuild.\n# TYPE kintsugi_shard_bytes_missing gauge\nkintsugi_shard_bytes_missing {}", l.shard_bytes_missing);
    let _ = writeln!(s, "# HELP kintsugi_shards_not_placed Shards stored nowhere: written while their failure domain was down, placed by repair.\n# TYPE kintsugi_shards_not_placed gauge\nkintsugi_shards_not_placed {not_placed}");
    let _ = writeln!(
        s,
        "# HELP kintsugi_inline_objects Small objects kept with the metadata (inline segments), as durable as it; not in kintsugi_segments.\n# TYPE kintsugi_inline_objects gauge\nkintsugi_inline_objects {}\n# HELP kintsugi_inline_bytes Their object bytes.\n# TYPE kintsugi_inline_bytes gauge\nkintsugi_inline_bytes {}",
        l.inline_segments, l.inline_bytes
    );
    let domains = store.domains_in_service();
    let full = l.full() && domains >= store.total_shards();
    let _ = writeln!(s, "# HELP kintsugi_failure_domains Failure domains in service (nodes; disks in the embedded store).\n# TYPE kintsugi_failure_domains gauge\nkintsugi_failure_domains {domains}");
    let _ = writeln!(
        s,
        "# HELP kintsugi_full_redundancy 1 when every committed segment survives the loss of any m failure domains (k+m healthy shards, none unplaced, no two in one domain) and the cluster has k+m failure domains.\n# TYPE kintsugi_full_redundancy gauge\nkintsugi_full_redundancy {}",
        u8::from(full)
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_run_from_full_to_below_k() {
        let mut by = BTreeMap::new();
        by.insert(1, Totals { segments: 2, bytes: 20 });
        by.insert(3, Totals { segments: 2, bytes: 10 });
        let r = rows(4, 2, &by, Totals { segments: 14, bytes: 130 });
        let names: Vec<&str> = r.iter().map(|r| r.healthy.as_str()).collect();
        assert_eq!(names, ["k+m", "k+m-1", "k", "below k"]);
        assert_eq!(r.iter().map(|r| r.shards).collect::<Vec<_>>(), [6, 5, 4, 3]);
        assert_eq!(r.iter().map(|r| r.segments).collect::<Vec<_>>(), [10, 2, 0, 2]);
        assert_eq!(r[0].bytes, 100);
        let l = Ledger { segments: 14, bytes: 130, rows: r, shard_bytes_missing: 0, inline_segments: 0, inline_bytes: 0 };
        assert!(!l.full());
    }

    #[test]
    fn segments_with_fewer_parity_shards_sit_lower() {
        assert_eq!(row_index(2, 2, 0), 0);
        assert_eq!(row_index(2, 2, 1), 1);
        assert_eq!(row_index(2, 2, 3), 3, "unreadable: below k");
        assert_eq!(row_index(2, 1, 1), 2);
        assert_eq!(row_index(2, 1, 2), 3);
        assert_eq!(row_index(2, 4, 1), 1);
        let mut s = kintsugi_meta::Shortfalls::new();
        s.insert((2, 1), Totals { segments: 3, bytes: 30 });
        s.insert((1, 1), Totals { segments: 1, bytes: 5 });
        let b = by_row(2, &s);
        assert_eq!(b.get(&1), Some(&Totals { segments: 3, bytes: 30 }));
        assert_eq!(b.get(&2), Some(&Totals { segments: 1, bytes: 5 }));
    }
}
