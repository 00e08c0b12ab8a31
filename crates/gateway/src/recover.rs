//! `kintsugi admin meta rebuild`: make the manifests of objects the metadata store has lost
//! again from the labels their shards carry (`kintsugi_cluster::recover`), reading each object
//! back whole for its ETag. Keys the store has are kept as they are; a rebuilt key's older
//! versions found on the disks become garbage.

use std::collections::HashSet;
use std::sync::Arc;

use kintsugi_cluster::recover::{plan, read_segment, walk, RecoveredObject};
use kintsugi_cluster::Store;
use kintsugi_meta::{now_ms, Expect, Manifest, MetaError, MetaRead, SegmentId, NO_DISK};
use md5::{Digest, Md5};
use serde::Serialize;

use crate::error::{GatewayError, GwResult};

/// What a rebuild did (the admin API's JSON answer).
#[derive(Clone, Debug, Default, Serialize)]
pub struct RebuildReport {
    /// Shard files found on the disks.
    pub shards_found: u64,
    /// Shards of segments the store already knows (left alone).
    pub shards_known: u64,
    /// Shards without a label (written before labels existed): left alone.
    pub shards_unlabelled: u64,
    /// Objects whose manifests were made again.
    pub objects_rebuilt: u64,
    /// Bytes of those objects (each read back whole).
    pub bytes_rebuilt: u64,
    /// Objects found whose key the store already has (kept as stored).
    pub objects_kept: u64,
    /// Older versions of rebuilt keys, handed to garbage collection.
    pub versions_superseded: u64,
    /// Buckets created for rebuilt objects.
    pub buckets_created: Vec<String>,
    /// What could not be rebuilt, and why (disks that could not be listed, owners with
    /// too few shards, objects that did not read back).
    pub problems: Vec<String>,
}

/// Rebuild the manifests of every object whose shards the disks hold and the store does not
/// know. Run it where the store's writes are decided (the group's leader).
pub async fn rebuild_metadata(store: &Arc<Store>) -> GwResult<RebuildReport> {
    let mut report = RebuildReport::default();
    let (found, unlisted) = walk(store).await;
    report.shards_found = found.len() as u64;
    report.problems.extend(unlisted);
    let probe: Vec<(u32, SegmentId, u8)> = found.iter().map(|(d, f)| (*d, f.header.segment_id, f.header.index)).collect();
    let known = store.meta_call(move |m| known_segments(m, &probe)).await?;
    let plan = plan(found, &known);
    report.shards_known = plan.known;
    report.shards_unlabelled = plan.unlabelled;
    report.problems.extend(plan.incomplete);
    let mut made_buckets = HashSet::new();
    for obj in plan.objects {
        let name = format!("{}/{}", obj.bucket, obj.key);
        let (b, k) = (obj.bucket.clone(), obj.key.clone());
        let (bucket_exists, existing) = store.meta_call(move |m| Ok((m.bucket(&b)?.is_some(), m.object(&b, &k)?))).await?;
        if existing.is_some() {
            report.objects_kept += 1;
            continue;
        }
        let manifest = match read_back(store, obj.clone()).await {
            Ok(m) => m,
            Err(e) => {
                report.problems.push(format!("{name}: did not read back: {e}"));
                continue;
            }
        };
        if !bucket_exists && made_buckets.insert(obj.bucket.clone()) {
            let b = obj.bucket.clone();
            match store.meta_call(move |m| m.create_bucket(&b)).await {
                Ok(()) => report.buckets_created.push(obj.bucket.clone()),
                Err(kintsugi_cluster::ClusterError::Meta(MetaError::BucketExists { .. })) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let size = manifest.size;
        let (b, k) = (obj.bucket.clone(), obj.key.clone());
        match store.meta_call(move |m| m.put_object(&b, &k, &manifest, Expect::Version(None))).await {
            Ok(_) => {
                report.objects_rebuilt += 1;
                report.bytes_rebuilt += size;
            }
            Err(kintsugi_cluster::ClusterError::Meta(MetaError::VersionConflict { .. })) => report.objects_kept += 1,
            Err(e) => return Err(e.into()),
        }
    }
    for old in plan.superseded {
        // In a bucket with versioning or object lock an older version may be one S3 must keep
        // (a rebuild cannot tell: labels carry no retention), so its shards stay where they
        // are, unindexed, and the report says so.
        let b = old.bucket.clone();
        if store.meta_call(move |m| Ok(m.local_bucket_versioning(&b)?.is_some() || m.local_bucket_lock(&b)?.is_some())).await? {
            report.problems.push(format!(
                "{}/{}: an older version was found in a bucket with versioning; its shards were left in place (a rebuild restores only the newest version of a key)",
                old.bucket, old.key
            ));
            continue;
        }
        // Old versions' shards become garbage as an overwrite's would: an intent, given up at once.
        report.versions_superseded += 1;
        for (_, segs) in &old.parts {
            for seg in segs {
                let (id, shards): (SegmentId, Vec<(u8, u32)>) = (seg.id, seg.shards.iter().enumerate().filter(|(_, l)| l.disk != NO_DISK).map(|(i, l)| (i as u8, l.disk)).collect());
                store.meta_call(move |m| m.add_intent(id, shards)).await?;
            }
        }
        let ids = old.segment_ids();
        store.meta_call(move |m| m.intents_to_garbage(&ids)).await?;
    }
    tracing::info!(rebuilt = report.objects_rebuilt, kept = report.objects_kept, problems = report.problems.len(), "metadata rebuild finished");
    Ok(report)
}

/// Segments among `probe` the store knows: indexed where found, or with an open intent or
/// pending garbage (a PUT in flight, or shards on their way out).
fn known_segments(m: &kintsugi_meta::RocksMeta, probe: &[(u32, SegmentId, u8)]) -> Result<HashSet<SegmentId>, MetaError> {
    let mut known: HashSet<SegmentId> = m.list_intents()?.into_iter().map(|(s, _)| s).collect();
    known.extend(m.due_garbage(i64::MAX, usize::MAX)?.into_iter().map(|(s, _)| s));
    for &(disk, seg, index) in probe {
        if !known.contains(&seg) && m.is_indexed(disk, seg, index)? {
            known.insert(seg);
        }
    }
    Ok(known)
}

/// Read an object back whole: its ETag (MD5, or the MD5 of the parts' MD5s for a multipart
/// object, as S3 makes them) and the hashes of shards no disk holds; its manifest.
async fn read_back(store: &Arc<Store>, mut obj: RecoveredObject) -> GwResult<Manifest> {
    let multipart = obj.version_id.is_none();
    let mut whole = Md5::new();
    let mut of_parts = Md5::new();
    for (_, segs) in obj.parts.iter_mut() {
        let mut part = Md5::new();
        for seg in segs.iter_mut() {
            read_segment(store, &obj.coding, seg, |data| if multipart { part.update(data) } else { whole.update(data) }).await?;
        }
        of_parts.update(part.finalize());
    }
    let etag = if multipart {
        format!("{}-{}", hex::encode(of_parts.finalize()), obj.parts.len())
    } else {
        hex::encode(whole.finalize())
    };
    let size = obj.size();
    let parts = if multipart { u32::try_from(obj.parts.len()).map_err(|_| GatewayError::Internal("part count".into()))? } else { 0 };
    Ok(Manifest {
        version_id: obj.version_id.unwrap_or_else(rand::random),
        size,
        etag,
        modified_ms: if obj.started_ms > 0 { obj.started_ms } else { now_ms() },
        content_type: obj.label.content_type,
        // A part's label carries its upload's headers: what only the upload needed stays out.
        headers: obj.label.headers.into_iter().filter(|(k, _)| !crate::sse_io::upload_only(k)).collect(),
        user_meta: obj.label.user_meta,
        parts,
        coding: obj.coding,
        segments: obj.parts.into_iter().flat_map(|(_, s)| s).collect(),
    })
}
