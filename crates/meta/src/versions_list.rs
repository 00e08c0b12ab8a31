//! ListObjectVersions: every version and delete marker of a bucket's keys, in key order and
//! newest first within a key, with prefix, delimiter, key and version markers and paging.
//! The current versions come from the `objects` family and the others from `versions`
//! (see `versions.rs`); the listing walks the two in step, one key at a time.

use crate::error::MetaResult;
use crate::keys;
use crate::list::find;
use crate::store::{RocksMeta, CF_OBJECTS, CF_VERSIONS};
use crate::types::Manifest;
use crate::versions::{current_ref, found, FoundVersion, StoredVersion, VersionRef};

/// What to list.
#[derive(Clone, Debug, Default)]
pub struct VersionQuery {
    /// Only keys starting with this.
    pub prefix: String,
    /// Group keys by the part after `prefix` up to this delimiter.
    pub delimiter: Option<String>,
    /// Start after this key (S3 `key-marker`)...
    pub key_marker: Option<String>,
    /// ...or, with it, after this version of it (S3 `version-id-marker`).
    pub version_marker: Option<VersionRef>,
    /// Maximum number of versions, markers and common prefixes.
    pub max: usize,
}

/// One listed version or delete marker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionEntry {
    /// Object key.
    pub key: String,
    /// S3 version id.
    pub vref: VersionRef,
    /// It is the newest version of its key.
    pub latest: bool,
    /// The version, or `None` for a delete marker.
    pub object: Option<ListedObject>,
    /// Last modified, ms since epoch.
    pub modified_ms: i64,
}

/// What a listing shows of an object version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedObject {
    /// Size in bytes.
    pub size: u64,
    /// ETag without quotes.
    pub etag: String,
    /// Its ACL header ([`crate::ACL_HEADER`]), if it has one: the listing names its owner.
    pub acl: Option<String>,
}

/// A page of versions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VersionPage {
    /// Versions and markers, in key order, newest first within a key.
    pub entries: Vec<VersionEntry>,
    /// Common prefixes (when a delimiter was given), in order.
    pub common_prefixes: Vec<String>,
    /// More results follow.
    pub truncated: bool,
    /// Where the next page starts (S3 `NextKeyMarker`), when truncated.
    pub next_key_marker: Option<String>,
    /// And its version (S3 `NextVersionIdMarker`).
    pub next_version_marker: Option<VersionRef>,
}

impl RocksMeta {
    /// The first key of `cf` at or after `pos` that starts with `prefix`.
    fn first_at(&self, cf: &'static str, prefix: &[u8], pos: &[u8]) -> MetaResult<Option<Vec<u8>>> {
        let mut out = None;
        self.scan_prefix(cf, prefix, pos, |k, _| {
            out = Some(k.to_vec());
            Ok(false)
        })?;
        Ok(out)
    }

    pub(crate) fn local_list_versions(&self, bucket: &str, q: &VersionQuery) -> MetaResult<VersionPage> {
        let bp = keys::bucket_prefix(bucket);
        let full_prefix = keys::object_key(bucket, q.prefix.as_bytes());
        let mut page = VersionPage::default();
        if q.max == 0 {
            return Ok(page);
        }
        let mut pos = full_prefix.clone();
        if let Some(km) = &q.key_marker {
            let mut p = keys::object_key(bucket, km.as_bytes());
            if q.version_marker.is_none() {
                // After every version of the marker's key.
                p.extend_from_slice(&[0, 2]);
            }
            pos = pos.max(p);
        }
        let delim = q.delimiter.as_deref().filter(|d| !d.is_empty());
        let mut count = 0usize;
        // The last key listed, with its version (none: a common prefix).
        let mut last: Option<(String, Option<VersionRef>)> = None;
        loop {
            let obj = self.first_at(CF_OBJECTS, &full_prefix, &pos)?;
            // No versioned key holds U+0000; with one in the prefix only `objects` can match.
            let versioned = if q.prefix.contains('\0') { None } else { self.first_at(CF_VERSIONS, &full_prefix, &pos)? };
            let ver = versioned.map(|k| {
                // Its object key: up to the 0x00 that starts the version suffix.
                let cut = k[bp.len()..].iter().position(|&c| c == 0).map_or(k.len(), |p| bp.len() + p);
                k[..cut].to_vec()
            });
            let next = match (obj, ver) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) | (None, Some(a)) => a,
                (None, None) => break,
            };
            let key_bytes = &next[bp.len()..];
            let key = String::from_utf8_lossy(key_bytes).into_owned();
            let rest = &key_bytes[q.prefix.len().min(key_bytes.len())..];
            if let Some(cut) = delim.and_then(|d| find(rest, d.as_bytes()).map(|p| p + d.len())) {
                let cp_bytes = &key_bytes[..q.prefix.len() + cut];
                let cp = String::from_utf8_lossy(cp_bytes).into_owned();
                let mut after = bp.clone();
                after.extend_from_slice(cp_bytes);
                after.push(keys::AFTER_UTF8);
                pos = after;
                if q.key_marker.as_deref().is_some_and(|km| cp.as_str() <= km) {
                    continue;
                }
                if count == q.max {
                    page.truncated = true;
                    break;
                }
                count += 1;
                last = Some((cp.clone(), None));
                page.common_prefixes.push(cp);
                continue;
            }
            let after = q.version_marker.filter(|_| q.key_marker.as_deref() == Some(key.as_str()));
            // One more than fits tells whether the page is full.
            let versions = self.versions_of(bucket, &key, after, q.max - count + 1)?;
            let mut full = false;
            for e in versions {
                if count == q.max {
                    full = true;
                    break;
                }
                count += 1;
                last = Some((e.key.clone(), Some(e.vref)));
                page.entries.push(e);
            }
            if full {
                page.truncated = true;
                break;
            }
            let mut after = next.clone();
            after.extend_from_slice(&[0, 2]);
            pos = after;
        }
        if page.truncated {
            if let Some((k, v)) = last {
                page.next_key_marker = Some(k);
                page.next_version_marker = v;
            }
        }
        Ok(page)
    }

    /// At most `limit` versions of one key, newest first, after version `after` (when
    /// `after` is no longer there — deleted since the page that named it —, from the newest
    /// again: a version listed twice is better than versions never listed). Read under the
    /// key's lock, so the current version and the archive are seen at one point.
    fn versions_of(&self, bucket: &str, key: &str, after: Option<VersionRef>, limit: usize) -> MetaResult<Vec<VersionEntry>> {
        let _k = self.key_lock(bucket, key).lock();
        let current: Option<Manifest> = self.local_object(bucket, key)?;
        let head = self.key_head(bucket, key)?;
        let newest = current.as_ref().map(|m| VersionEntry {
            key: key.to_owned(),
            vref: current_ref(head.as_ref(), m),
            latest: true,
            object: Some(ListedObject { size: m.size, etag: m.etag.clone(), acl: crate::acl::acl_of(&m.headers) }),
            modified_ms: m.modified_ms,
        });
        for after in [after, None] {
            let mut out = Vec::new();
            let mut skipping = after.is_some();
            let mut take = |e: VersionEntry, out: &mut Vec<VersionEntry>| {
                if skipping {
                    skipping = Some(e.vref) != after;
                } else {
                    out.push(e);
                }
                out.len() < limit
            };
            let mut more = newest.clone().is_none_or(|e| take(e, &mut out));
            if more {
                self.scan_entries(bucket, key, |i, _, e| {
                    more = take(listed(key, &e, current.is_none() && i == 0), &mut out);
                    Ok(more)
                })?;
            }
            if !skipping || after.is_none() {
                return Ok(out);
            }
        }
        Ok(Vec::new())
    }
}

/// How a listing shows an archive entry.
fn listed(key: &str, e: &StoredVersion, latest: bool) -> VersionEntry {
    match e {
        StoredVersion::Object { manifest, .. } => VersionEntry {
            key: key.to_owned(),
            vref: e.vref(),
            latest,
            object: Some(ListedObject { size: manifest.size, etag: manifest.etag.clone(), acl: crate::acl::acl_of(&manifest.headers) }),
            modified_ms: manifest.modified_ms,
        },
        StoredVersion::DeleteMarker { modified_ms, .. } => VersionEntry { key: key.to_owned(), vref: e.vref(), latest, object: None, modified_ms: *modified_ms },
    }
}

impl RocksMeta {
    /// One version of a key (`None`: no such version). Read under the key's lock, so the
    /// current version and the archive are seen at one point.
    pub fn local_object_version(&self, bucket: &str, key: &str, vref: VersionRef) -> MetaResult<Option<FoundVersion>> {
        let _k = self.key_lock(bucket, key).lock();
        let current: Option<Manifest> = self.local_object(bucket, key)?;
        let head = self.key_head(bucket, key)?;
        if let Some(cur) = current.as_ref().filter(|c| current_ref(head.as_ref(), c) == vref) {
            let tags = self.local_object_tags(bucket, key, cur.version_id)?;
            return Ok(Some(FoundVersion::Object { manifest: cur.clone(), tags, vref, current: true }));
        }
        let mut hit = None;
        self.scan_entries(bucket, key, |i, _, e| {
            if e.vref() == vref {
                hit = Some(found(&e, current.is_none() && i == 0));
            }
            Ok(hit.is_none())
        })?;
        Ok(hit)
    }

    /// The key's newest version: its current object, or the delete marker that hides it.
    pub fn local_newest_version(&self, bucket: &str, key: &str) -> MetaResult<Option<FoundVersion>> {
        let _k = self.key_lock(bucket, key).lock();
        if let Some(cur) = self.local_object(bucket, key)? {
            let vref = current_ref(self.key_head(bucket, key)?.as_ref(), &cur);
            let tags = self.local_object_tags(bucket, key, cur.version_id)?;
            return Ok(Some(FoundVersion::Object { manifest: cur, tags, vref, current: true }));
        }
        // Only a bucket that had versioning can hold a marker.
        if self.local_bucket_versioning(bucket)?.is_none() {
            return Ok(None);
        }
        let first = self.first_entries(bucket, key, 1)?;
        Ok(first.first().filter(|(_, e)| matches!(e, StoredVersion::DeleteMarker { .. })).map(|(_, e)| found(e, true)))
    }

    /// One version's manifest by its manifest id (`Manifest::version_id`): the current
    /// version or an archived one (`None`: no version of the key has that id any more).
    pub fn local_manifest_by_id(&self, bucket: &str, key: &str, version_id: u128) -> MetaResult<Option<Manifest>> {
        // Under the key's lock: a version made current between the two reads is not missed.
        let _k = self.key_lock(bucket, key).lock();
        if let Some(cur) = self.local_object(bucket, key)?.filter(|m| m.version_id == version_id) {
            return Ok(Some(cur));
        }
        Ok(self.archived_version(bucket, key, version_id)?.map(|(_, m)| m))
    }

    /// An archived version by its manifest id (the owner of its shards), with its RocksDB key.
    pub(crate) fn archived_version(&self, bucket: &str, key: &str, version_id: u128) -> MetaResult<Option<(Vec<u8>, Manifest)>> {
        Ok(self.archived_entry(bucket, key, version_id)?.and_then(|(k, e)| match e {
            StoredVersion::Object { manifest, .. } => Some((k, manifest)),
            StoredVersion::DeleteMarker { .. } => None,
        }))
    }
}
