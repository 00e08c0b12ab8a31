//! The lifecycle worker: each pass reads every bucket's lifecycle rules and carries out what
//! they decide (pure code in `kintsugi_meta`, `expiry.rs`): current versions expired (deleted,
//! or hidden under a delete marker where the bucket has versioning), noncurrent versions and
//! lone delete markers deleted for good, unfinished multipart uploads aborted. Every action is
//! one metadata command with a compare — the current version must still be the one the pass
//! saw, a noncurrent version must still be noncurrent and written when it was — so a version
//! written since the pass looked is never expired. Their shards become garbage, which GC
//! deletes. A version object lock protects is left alone (counted as held).
//!
//! The pass reads the metadata only (no shard is read), in pages, so its memory stays bounded
//! by a page and by the versions of one key.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kintsugi_meta::{
    lifecycle_aborts_upload, lifecycle_decide, lifecycle_scan_prefix, now_ms, Expect, Expire, ExpiryExpect, FoundVersion, KeyVersion, LifecycleRule, MetaError, MetaRead, VersionEntry,
    VersionQuery, VersionRef,
};
use serde::Serialize;

use crate::error::{ClusterError, ClusterResult};
use crate::store::Store;

/// Versions (or uploads) read per metadata call.
const PAGE: usize = 1000;

/// The lifecycle worker's tunables.
#[derive(Clone, Copy, Debug)]
pub struct LifecycleConfig {
    /// Time between passes.
    pub interval: Duration,
    /// The length of a day for rules' `Days` (a day; tests shorten it).
    pub day: Duration,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        Self { interval: Duration::from_secs(600), day: Duration::from_secs(86_400) }
    }
}

impl LifecycleConfig {
    /// The day in milliseconds (at least 1), as the worker and `x-amz-expiration` count it.
    pub fn day_ms(&self) -> i64 {
        i64::try_from(self.day.as_millis()).unwrap_or(kintsugi_meta::DAY_MS).max(1)
    }
}

/// What the lifecycle worker has done since the process started.
#[derive(Debug, Default)]
pub struct LifecycleStats {
    scanned: AtomicU64,
    current: AtomicU64,
    noncurrent: AtomicU64,
    markers: AtomicU64,
    uploads: AtomicU64,
    held: AtomicU64,
    buckets: AtomicU64,
    last_pass_ms: AtomicI64,
}

/// The lifecycle worker's figures, as `admin status --json` shows them.
#[derive(Debug, Clone, Serialize)]
pub struct LifecycleReport {
    /// Buckets with lifecycle rules at the last pass.
    pub buckets: u64,
    /// Versions (and delete markers) the passes looked at.
    pub scanned_versions: u64,
    /// Current versions expired (deleted, or put under a delete marker).
    pub expired_current: u64,
    /// Noncurrent versions deleted.
    pub expired_noncurrent: u64,
    /// Lone delete markers removed.
    pub delete_markers_removed: u64,
    /// Unfinished multipart uploads aborted.
    pub uploads_aborted: u64,
    /// Versions due that object lock kept.
    pub held_by_lock: u64,
    /// When the last pass ended, ms since the epoch (0: none yet).
    pub last_pass_ms: i64,
    /// The length of a lifecycle day, in seconds (86400 but in tests).
    pub day_s: f64,
}

impl LifecycleStats {
    /// The figures, with the day length they count in.
    pub fn report(&self, config: &LifecycleConfig) -> LifecycleReport {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        LifecycleReport {
            buckets: get(&self.buckets),
            scanned_versions: get(&self.scanned),
            expired_current: get(&self.current),
            expired_noncurrent: get(&self.noncurrent),
            delete_markers_removed: get(&self.markers),
            uploads_aborted: get(&self.uploads),
            held_by_lock: get(&self.held),
            last_pass_ms: self.last_pass_ms.load(Ordering::Relaxed),
            day_s: config.day.as_secs_f64(),
        }
    }

    /// The figures in Prometheus text format (part of `/metrics`).
    pub fn render_metrics(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut s = String::new();
        let _ = writeln!(s, "# HELP kintsugi_lifecycle_expired_total Versions and uploads the lifecycle worker expired, by what it did.\n# TYPE kintsugi_lifecycle_expired_total counter");
        for (action, c) in [("current", &self.current), ("noncurrent", &self.noncurrent), ("delete_marker", &self.markers), ("upload", &self.uploads)] {
            let _ = writeln!(s, "kintsugi_lifecycle_expired_total{{action=\"{action}\"}} {}", get(c));
        }
        crate::metrics::counter(&mut s, "kintsugi_lifecycle_scanned_versions_total", "Versions and delete markers the lifecycle worker looked at.", &self.scanned);
        crate::metrics::counter(&mut s, "kintsugi_lifecycle_held_by_lock_total", "Versions due for expiry that object lock kept.", &self.held);
        let _ = writeln!(s, "# HELP kintsugi_lifecycle_buckets Buckets with lifecycle rules at the last pass.\n# TYPE kintsugi_lifecycle_buckets gauge\nkintsugi_lifecycle_buckets {}", get(&self.buckets));
        let last = self.last_pass_ms.load(Ordering::Relaxed) as f64 / 1000.0;
        let _ = writeln!(
            s,
            "# HELP kintsugi_lifecycle_last_pass_timestamp_seconds When the last lifecycle pass ended (0: none yet).\n# TYPE kintsugi_lifecycle_last_pass_timestamp_seconds gauge\nkintsugi_lifecycle_last_pass_timestamp_seconds {last:.3}"
        );
        s
    }

    fn count(&self, action: &Expire) {
        let c = match action {
            Expire::Current { .. } => &self.current,
            Expire::Noncurrent(_) => &self.noncurrent,
            Expire::Marker(_) => &self.markers,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// One lifecycle pass over every bucket with rules.
pub async fn lifecycle_pass(store: &Arc<Store>, stats: &LifecycleStats, config: &LifecycleConfig) -> ClusterResult<()> {
    let configs = store.meta_call(|m| m.local_lifecycle_configs()).await?;
    stats.buckets.store(configs.len() as u64, Ordering::Relaxed);
    let day_ms = config.day_ms();
    // A bucket that fails is retried next pass; the others are not held up by it.
    let mut first_error = None;
    for (bucket, rules) in configs {
        let rules = Arc::new(rules);
        let outcome = async {
            if let Some(prefix) = lifecycle_scan_prefix(&rules) {
                expire_versions(store, stats, &bucket, &rules, prefix, day_ms).await?;
            }
            if rules.iter().any(|r| r.enabled && r.abort_upload_days.is_some()) {
                abort_uploads(store, stats, &bucket, &rules, day_ms).await?;
            }
            Ok::<_, ClusterError>(())
        };
        match outcome.await {
            // Deleted while the pass ran: nothing left to expire.
            Ok(()) | Err(ClusterError::Meta(MetaError::NoSuchBucket { .. })) => {}
            Err(e) => {
                tracing::warn!(bucket, error = %e, "lifecycle pass over a bucket failed; retried next pass");
                first_error.get_or_insert(e);
            }
        }
    }
    stats.last_pass_ms.store(now_ms(), Ordering::Relaxed);
    first_error.map_or(Ok(()), Err)
}

/// Groups listed versions by key across pages. A listing that lost its place in a key (the
/// version it was to resume after was deleted) lists the key again from its newest version:
/// what was gathered of that key is dropped then, so no version is counted twice.
#[derive(Debug, Default)]
struct Gather {
    key: Option<String>,
    versions: Vec<VersionEntry>,
}

impl Gather {
    /// Take the next listed entry; returns a key all of whose versions are read.
    fn push(&mut self, e: VersionEntry) -> Option<(String, Vec<VersionEntry>)> {
        if self.key.as_deref() == Some(e.key.as_str()) {
            if e.latest {
                self.versions.clear();
            }
            self.versions.push(e);
            return None;
        }
        let done = self.finish();
        self.key = Some(e.key.clone());
        self.versions.push(e);
        done
    }

    /// The key being gathered, once the listing has ended.
    fn finish(&mut self) -> Option<(String, Vec<VersionEntry>)> {
        self.key.take().map(|k| (k, std::mem::take(&mut self.versions)))
    }
}

/// Expire the versions of one bucket's keys under `prefix`, page by page; a key's versions
/// are decided together once all of them are read.
async fn expire_versions(store: &Arc<Store>, stats: &LifecycleStats, bucket: &str, rules: &Arc<Vec<LifecycleRule>>, prefix: String, day_ms: i64) -> ClusterResult<()> {
    let want_tags = rules.iter().any(|r| r.enabled && r.filter.has_tags());
    let mut q = VersionQuery { prefix, delimiter: None, key_marker: None, version_marker: None, max: PAGE };
    let mut gather = Gather::default();
    loop {
        let (b, query) = (bucket.to_owned(), q.clone());
        let page = store.meta_call(move |m| m.list_versions(&b, &query)).await?;
        stats.scanned.fetch_add(page.entries.len() as u64, Ordering::Relaxed);
        for e in page.entries {
            if let Some((k, versions)) = gather.push(e) {
                expire_key(store, stats, bucket, &k, versions, rules, want_tags, day_ms).await?;
            }
        }
        if !page.truncated {
            break;
        }
        q.key_marker = page.next_key_marker;
        q.version_marker = page.next_version_marker;
        if q.key_marker.is_none() {
            break;
        }
    }
    if let Some((k, versions)) = gather.finish() {
        expire_key(store, stats, bucket, &k, versions, rules, want_tags, day_ms).await?;
    }
    Ok(())
}

/// Decide one key's versions (newest first) and carry the decisions out.
#[allow(clippy::too_many_arguments)]
async fn expire_key(store: &Arc<Store>, stats: &LifecycleStats, bucket: &str, key: &str, listed: Vec<VersionEntry>, rules: &Arc<Vec<LifecycleRule>>, want_tags: bool, day_ms: i64) -> ClusterResult<()> {
    let mut versions: Vec<KeyVersion> = listed
        .iter()
        .map(|e| KeyVersion { vref: e.vref, marker: e.object.is_none(), modified_ms: e.modified_ms, size: e.object.as_ref().map_or(0, |o| o.size), tags: Vec::new() })
        .collect();
    if want_tags {
        let (b, k, refs): (String, String, Vec<VersionRef>) = (bucket.to_owned(), key.to_owned(), versions.iter().filter(|v| !v.marker).map(|v| v.vref).collect());
        let tags = store
            .meta_call(move |m| {
                refs.into_iter()
                    .map(|r| match m.object_version(&b, &k, Some(r))? {
                        Some(FoundVersion::Object { tags, .. }) => Ok((r, tags)),
                        _ => Ok((r, Vec::new())),
                    })
                    .collect::<Result<Vec<_>, MetaError>>()
            })
            .await?;
        for v in &mut versions {
            if let Some((_, t)) = tags.iter().find(|(r, _)| *r == v.vref) {
                v.tags = t.clone();
            }
        }
    }
    let actions = lifecycle_decide(rules, key, &versions, now_ms(), day_ms);
    for action in actions {
        let (b, k, a) = (bucket.to_owned(), key.to_owned(), action.clone());
        let expect = match &action {
            Expire::Noncurrent(r) => {
                // Where it stands: after the latest version and `i - 1` newer noncurrent ones.
                let i = versions.iter().position(|v| v.vref == *r).unwrap_or(0);
                let newer = u32::try_from(i.saturating_sub(1)).unwrap_or(u32::MAX);
                ExpiryExpect::Noncurrent { modified_ms: versions.get(i).map_or(0, |v| v.modified_ms), newer }
            }
            _ => ExpiryExpect::LoneMarker,
        };
        let seen = listed.first().cloned();
        let done = store
            .meta_call(move |m| match a {
                Expire::Current { modified_ms } => {
                    // Only the version the pass saw (its id, time and ETag): a newer write is
                    // not expired.
                    let Some(cur) = m.object(&b, &k)? else { return Ok(false) };
                    let same = seen.is_some_and(|s| {
                        let id_matches = match s.vref {
                            VersionRef::Id(id) => id == cur.version_id,
                            VersionRef::Null => true,
                        };
                        id_matches && s.object.is_some_and(|o| o.etag == cur.etag && o.size == cur.size)
                    });
                    if cur.modified_ms != modified_ms || !same {
                        return Ok(false);
                    }
                    m.delete_object(&b, &k, Expect::Version(Some(cur.version_id))).map(|_| true)
                }
                Expire::Noncurrent(r) | Expire::Marker(r) => m.expire_version(&b, &k, r, expect).map(|d| d.vref.is_some()),
            })
            .await;
        match done {
            Ok(true) => {
                stats.count(&action);
                tracing::debug!(bucket, key, action = action.kind(), "lifecycle expired a version");
            }
            Ok(false) | Err(ClusterError::Meta(MetaError::VersionConflict { .. })) => {}
            Err(ClusterError::Meta(MetaError::ObjectLocked { .. })) => {
                stats.held.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Abort the bucket's unfinished multipart uploads the rules say are due.
async fn abort_uploads(store: &Arc<Store>, stats: &LifecycleStats, bucket: &str, rules: &Arc<Vec<LifecycleRule>>, day_ms: i64) -> ClusterResult<()> {
    let mut marker: Option<(String, String)> = None;
    loop {
        let (b, m0) = (bucket.to_owned(), marker.clone());
        let (uploads, truncated) = store.meta_call(move |m| m.list_uploads(&b, "", m0.as_ref().map(|x| x.0.as_str()), m0.as_ref().map(|x| x.1.as_str()), PAGE)).await?;
        let now = now_ms();
        for up in &uploads {
            if !lifecycle_aborts_upload(rules, &up.key, up.created_ms, now, day_ms) {
                continue;
            }
            let (b, k, u) = (bucket.to_owned(), up.key.clone(), up.upload_id.clone());
            match store.meta_call(move |m| m.abort_upload(&b, &k, &u)).await {
                Ok(()) => {
                    stats.uploads.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(bucket, key = %up.key, upload = %up.upload_id, "lifecycle aborted an unfinished upload");
                }
                // Completed or aborted meanwhile.
                Err(ClusterError::Meta(MetaError::NoSuchUpload { .. })) => {}
                Err(e) => return Err(e),
            }
        }
        match uploads.last() {
            Some(last) if truncated => marker = Some((last.key.clone(), last.upload_id.clone())),
            _ => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, id: u128, latest: bool) -> VersionEntry {
        VersionEntry { key: key.into(), vref: VersionRef::Id(id), latest, object: None, modified_ms: 0 }
    }

    fn ids(v: &[VersionEntry]) -> Vec<u128> {
        v.iter()
            .map(|e| match e.vref {
                VersionRef::Id(i) => i,
                VersionRef::Null => 0,
            })
            .collect()
    }

    #[test]
    fn versions_are_gathered_by_key_and_a_restarted_key_is_not_counted_twice() {
        let mut g = Gather::default();
        assert!(g.push(entry("a", 5, true)).is_none());
        assert!(g.push(entry("a", 4, false)).is_none());
        // The next page lost its place in `a` and lists it again from the newest.
        assert!(g.push(entry("a", 5, true)).is_none());
        assert!(g.push(entry("a", 3, false)).is_none());
        let (k, v) = g.push(entry("b", 9, true)).expect("a is done");
        assert_eq!((k.as_str(), ids(&v)), ("a", vec![5, 3]));
        let (k, v) = g.finish().expect("b");
        assert_eq!((k.as_str(), ids(&v)), ("b", vec![9]));
        assert!(g.finish().is_none());
    }
}
