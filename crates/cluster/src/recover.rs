//! Metadata rebuilt from the shards alone (`kintsugi admin meta rebuild`): walk every disk's
//! shard files, read the owner each one's header and label name, and put the objects back
//! together — the last resort when every copy of the metadata is lost.
//!
//! [`walk`] does the I/O (one listing per disk, page by page); [`plan`] is pure: it groups
//! shards into segments, segments into objects (or multipart parts into objects), and picks
//! the newest version of each key. [`read_segment`] reads a segment back whole, so the caller
//! can hash the object (its ETag) and learn the hashes of shards no disk holds any more.

use std::collections::{BTreeMap, HashMap, HashSet};

use kintsugi_disk::ShardHeader;
use kintsugi_erasure::{encode_stripe, shard_hash, ChunkHash, Coding};
use kintsugi_meta::{DiskId, SegmentId, SegmentMeta, ShardLabel, ShardLoc, NO_DISK};
use kintsugi_storage::FoundShard;

use crate::error::{ClusterError, ClusterResult};
use crate::read::{read_stripe, stripe_reader};
use crate::store::Store;

/// Shards asked of a disk per listing.
const PAGE: usize = 512;

/// Every shard found on every usable disk, with the disk it is on. Disks that cannot be
/// listed are named in the second list (their shards count as missing).
pub async fn walk(store: &Store) -> (Vec<(DiskId, FoundShard)>, Vec<String>) {
    let mut found = Vec::new();
    let mut failed = Vec::new();
    for d in store.all_disks() {
        if !d.usable() {
            failed.push(format!("disk {} is not usable", d.id()));
            continue;
        }
        let mut after = None;
        loop {
            match d.list(after, PAGE).await {
                Ok(page) => {
                    found.extend(page.shards.into_iter().map(|s| (d.id(), s)));
                    match page.last {
                        Some(last) => after = Some(last),
                        None => break,
                    }
                }
                Err(e) => {
                    failed.push(format!("disk {}: {e}", d.id()));
                    break;
                }
            }
        }
    }
    (found, failed)
}

/// One object put back together.
#[derive(Clone, Debug, PartialEq)]
pub struct RecoveredObject {
    /// Bucket and key (from the label).
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// The label of its first shard (attributes, start time).
    pub label: ShardLabel,
    /// Version id (a plain PUT's own; `None` for an object made of multipart parts).
    pub version_id: Option<u128>,
    /// Coding of every segment.
    pub coding: Coding,
    /// Parts in order: `(part number, segments)`; one part numbered 0 for a plain PUT.
    pub parts: Vec<(u32, Vec<SegmentMeta>)>,
    /// When its newest part started (ms): the newest version of a key wins.
    pub started_ms: i64,
}

impl RecoveredObject {
    /// Object size.
    pub fn size(&self) -> u64 {
        self.parts.iter().flat_map(|(_, s)| s).map(|s| s.len).sum()
    }

    /// Every segment id.
    pub fn segment_ids(&self) -> Vec<SegmentId> {
        self.parts.iter().flat_map(|(_, s)| s).map(|s| s.id).collect()
    }
}

/// What [`plan`] made of the shards.
#[derive(Debug, Default)]
pub struct Plan {
    /// The newest whole version of each key, sorted by bucket and key.
    pub objects: Vec<RecoveredObject>,
    /// Whole older versions of keys that have a newer one (their shards are garbage).
    pub superseded: Vec<RecoveredObject>,
    /// Owners that could not be put back together, and why.
    pub incomplete: Vec<String>,
    /// Shards without a label (written before labels, or by hand): left alone.
    pub unlabelled: u64,
    /// Shards of segments the metadata already knows: left alone.
    pub known: u64,
}

struct Segment {
    header: ShardHeader,
    shards: BTreeMap<u8, ShardLoc>,
    conflicting: bool,
}

/// Group shards into objects. `known` are segments the metadata store already has (written by
/// a PUT in flight, or indexed): their owners (every segment and part) are skipped.
pub fn plan(found: Vec<(DiskId, FoundShard)>, known: &HashSet<SegmentId>) -> Plan {
    let mut out = Plan::default();
    let mut segments: HashMap<SegmentId, Segment> = HashMap::new();
    // An owner with one known segment is known (an upload whose other parts are in flight).
    let known_owners: HashSet<u128> = found.iter().filter(|(_, f)| known.contains(&f.header.segment_id)).map(|(_, f)| f.header.owner_id).collect();
    for (disk, f) in found {
        if f.header.label.is_empty() {
            out.unlabelled += 1;
            continue;
        }
        if known_owners.contains(&f.header.owner_id) {
            out.known += 1;
            continue;
        }
        let seg = segments.entry(f.header.segment_id).or_insert_with(|| Segment { header: f.header.clone(), shards: BTreeMap::new(), conflicting: false });
        if !same_segment(&seg.header, &f.header) {
            seg.conflicting = true;
        }
        seg.shards.entry(f.header.index).or_insert(ShardLoc { disk, hash: f.hash });
    }
    // Owner (id, part number) → segments by segment number.
    let mut owners: BTreeMap<(u128, u32), BTreeMap<u32, (SegmentId, Segment)>> = BTreeMap::new();
    // Owners with a segment that cannot be read: an upload with such a part is not rebuilt.
    let mut broken: HashSet<u128> = HashSet::new();
    for (id, seg) in segments {
        let h = &seg.header;
        if seg.conflicting {
            broken.insert(h.owner_id);
            out.incomplete.push(format!("segment {id:032x}: its shards disagree on their header"));
            continue;
        }
        if seg.shards.len() < usize::from(h.k) {
            broken.insert(h.owner_id);
            out.incomplete.push(format!("segment {id:032x}: {} of {} shards found, {} needed", seg.shards.len(), usize::from(h.k) + usize::from(h.m), h.k));
            continue;
        }
        owners.entry((h.owner_id, h.part_number)).or_default().insert(h.segment_no, (id, seg));
    }
    // A part or plain object is whole when its segments are 0..n and add up to its declared length.
    let mut candidates: Vec<RecoveredObject> = Vec::new();
    let mut uploads: BTreeMap<u128, Vec<RecoveredObject>> = BTreeMap::new();
    for ((owner, part), segs) in owners {
        let Some((_, (_, first))) = segs.iter().next() else { continue };
        let Ok(label) = ShardLabel::decode(&first.header.label) else {
            out.incomplete.push(format!("owner {owner:032x}: a label that does not decode"));
            continue;
        };
        let coding = first.header.coding();
        let whole = segs.keys().copied().eq(0..segs.len() as u32);
        let mut metas = Vec::with_capacity(segs.len());
        let mut same_coding = true;
        for (_, (id, seg)) in segs {
            same_coding &= seg.header.coding() == coding;
            let n = usize::from(seg.header.k) + usize::from(seg.header.m);
            let shards = (0..n).map(|i| seg.shards.get(&(i as u8)).cloned().unwrap_or(ShardLoc { disk: NO_DISK, hash: [0; 32] })).collect();
            metas.push(SegmentMeta { id, len: seg.header.segment_len, shards });
        }
        let size: u64 = metas.iter().map(|s| s.len).sum();
        let name = format!("{}/{} ({owner:032x}, part {part})", label.bucket, label.key);
        if !whole || !same_coding || label.declared_len.is_some_and(|d| d != size) {
            broken.insert(owner);
            out.incomplete.push(format!("{name}: segments missing ({size} bytes found, {:?} declared)", label.declared_len));
            continue;
        }
        let obj = RecoveredObject {
            bucket: label.bucket.clone(),
            key: label.key.clone(),
            started_ms: label.started_ms,
            label,
            version_id: (part == 0).then_some(owner),
            coding,
            parts: vec![(part, metas)],
        };
        if part == 0 {
            candidates.push(obj);
        } else {
            uploads.entry(owner).or_default().push(obj);
        }
    }
    // An upload's parts make one object, in part-number order (numbers may have gaps, as S3
    // allows); an upload with a part that cannot be read is not rebuilt.
    for (upload, mut parts) in uploads {
        parts.sort_by_key(|p| p.parts[0].0);
        let numbers: Vec<u32> = parts.iter().map(|p| p.parts[0].0).collect();
        let coding_ok = parts.iter().all(|p| p.coding == parts[0].coding);
        if broken.contains(&upload) || !coding_ok {
            out.incomplete.push(format!("upload {upload:032x}: parts {numbers:?} found, and a part is incomplete"));
            continue;
        }
        let mut obj = parts[0].clone();
        obj.started_ms = parts.iter().map(|p| p.started_ms).max().unwrap_or(obj.started_ms);
        obj.parts = parts.into_iter().flat_map(|p| p.parts).collect();
        candidates.push(obj);
    }
    // The newest version of each key wins (start time, then the larger first segment id as a
    // tie-break).
    let first_segment = |o: &RecoveredObject| o.parts.first().and_then(|(_, s)| s.first()).map(|s| s.id);
    candidates.sort_by(|a, b| (&a.bucket, &a.key, b.started_ms, first_segment(b)).cmp(&(&b.bucket, &b.key, a.started_ms, first_segment(a))));
    for c in candidates {
        match out.objects.last() {
            Some(w) if w.bucket == c.bucket && w.key == c.key => out.superseded.push(c),
            _ => out.objects.push(c),
        }
    }
    out
}

/// Two shards' headers name the same segment the same way (index and lengths aside).
fn same_segment(a: &ShardHeader, b: &ShardHeader) -> bool {
    (a.owner_id, a.part_number, a.segment_no, a.coding(), a.segment_len, &a.label) == (b.owner_id, b.part_number, b.segment_no, b.coding(), b.segment_len, &b.label)
}

/// Read segment `seg` whole, stripe by stripe, handing each stripe's data to `sink` in order;
/// the shards no disk holds (`NO_DISK`) get their shard hash from the stripes re-encoded.
pub async fn read_segment(store: &Store, coding: &Coding, seg: &mut SegmentMeta, mut sink: impl FnMut(&[u8])) -> ClusterResult<()> {
    let coded = store.coded(coding)?;
    let stripes = coded.layout.stripe_count(seg.len);
    let missing: Vec<usize> = (0..seg.shards.len()).filter(|&i| seg.shards[i].disk == NO_DISK).collect();
    let mut tables: Vec<Vec<ChunkHash>> = vec![Vec::new(); seg.shards.len()];
    {
        let mut reader = stripe_reader(store, &coded, seg, 0..stripes, &missing);
        for stripe in 0..stripes {
            let data = read_stripe(&mut reader, &coded, seg, stripe, ("(rebuild)", "", 0)).await?;
            sink(&data);
            if !missing.is_empty() {
                let chunk_len = coded.layout.stripe(seg.len, stripe)?.chunk_len;
                let codec = coded.codec.clone();
                let enc = tokio::task::spawn_blocking(move || encode_stripe(codec.as_ref(), &data, chunk_len)).await??;
                for &i in &missing {
                    let h = enc.hashes.get(i).ok_or_else(|| ClusterError::Internal("re-encoded stripe too short".into()))?;
                    tables[i].push(*h);
                }
            }
        }
    }
    for i in missing {
        seg.shards[i].hash = shard_hash(&tables[i]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn shard(owner: u128, part: u32, seg_no: u32, seg: u128, index: u8, len: u64, label: &ShardLabel) -> (DiskId, FoundShard) {
        let header = ShardHeader {
            codec: 1,
            k: 2,
            m: 1,
            index,
            chunk_size: 64,
            segment_no: seg_no,
            segment_id: seg,
            owner_id: owner,
            part_number: part,
            segment_len: len,
            label: Arc::from(label.encode().expect("label")),
            ..Default::default()
        };
        (u32::from(index) + 1, FoundShard { header, hash: [index; 32] })
    }

    fn label(key: &str, started_ms: i64, declared: u64) -> ShardLabel {
        ShardLabel { bucket: "bkt".into(), key: key.into(), started_ms, declared_len: Some(declared), content_type: None, headers: vec![], user_meta: vec![], attrs_dropped: false }
    }

    /// All three shards of a segment.
    fn segment(owner: u128, part: u32, seg_no: u32, seg: u128, len: u64, l: &ShardLabel) -> Vec<(DiskId, FoundShard)> {
        (0..3).map(|i| shard(owner, part, seg_no, seg, i, len, l)).collect()
    }

    #[test]
    fn the_newest_version_of_a_key_wins_and_the_older_one_is_superseded() {
        let old = label("k", 100, 10);
        let new = label("k", 200, 7);
        let mut found = segment(1, 0, 0, 11, 10, &old);
        found.extend(segment(2, 0, 0, 22, 7, &new));
        let p = plan(found, &HashSet::new());
        assert_eq!(p.objects.len(), 1);
        assert_eq!(p.objects[0].version_id, Some(2));
        assert_eq!(p.objects[0].size(), 7);
        assert_eq!(p.superseded.len(), 1);
        assert_eq!(p.superseded[0].version_id, Some(1));
        assert!(p.incomplete.is_empty());
    }

    #[test]
    fn segments_come_in_order_and_a_missing_one_or_shard_count_makes_it_incomplete() {
        let l = label("big", 1, 30);
        let mut found = segment(5, 0, 1, 51, 10, &l);
        found.extend(segment(5, 0, 0, 50, 20, &l));
        let p = plan(found.clone(), &HashSet::new());
        assert_eq!(p.objects[0].parts[0].1.iter().map(|s| s.id).collect::<Vec<_>>(), vec![50, 51]);
        // One shard of three lost: still whole (k = 2), the lost one stored nowhere.
        let fewer: Vec<_> = found.iter().filter(|(_, f)| !(f.header.segment_id == 51 && f.header.index == 2)).cloned().collect();
        let p = plan(fewer, &HashSet::new());
        assert_eq!(p.objects[0].parts[0].1[1].shards[2].disk, NO_DISK);
        // Two lost: the segment cannot be read, so neither can the object.
        let two: Vec<_> = found.iter().filter(|(_, f)| !(f.header.segment_id == 51 && f.header.index > 0)).cloned().collect();
        let p = plan(two, &HashSet::new());
        assert!(p.objects.is_empty());
        assert_eq!(p.incomplete.len(), 2, "{:?}", p.incomplete);
        // The last segment lost whole: the sizes do not add up to what was declared.
        let p = plan(segment(5, 0, 0, 50, 20, &l), &HashSet::new());
        assert!(p.objects.is_empty() && p.incomplete.len() == 1);
    }

    #[test]
    fn an_uploads_parts_make_one_object_and_known_segments_are_left_alone() {
        let l1 = label("mp", 10, 5);
        let l2 = label("mp", 20, 3);
        let mut found = segment(9, 2, 0, 92, 3, &l2);
        found.extend(segment(9, 1, 0, 91, 5, &l1));
        let p = plan(found.clone(), &HashSet::new());
        assert_eq!(p.objects.len(), 1);
        let o = &p.objects[0];
        assert_eq!((o.version_id, o.size(), o.started_ms), (None, 8, 20));
        assert_eq!(o.parts.iter().map(|(n, _)| *n).collect::<Vec<_>>(), vec![1, 2]);
        // Part 1 with too few shards: no object, though part 2 is whole.
        let mut damaged = segment(9, 2, 0, 92, 3, &l2);
        damaged.push(shard(9, 1, 0, 91, 0, 5, &l1));
        let p = plan(damaged, &HashSet::new());
        assert!(p.objects.is_empty() && p.incomplete.len() == 2, "{:?}", p.incomplete);
        // A segment the store knows is not rebuilt.
        let p = plan(found, &HashSet::from([91]));
        assert_eq!(p.known, 6, "both parts of the upload are left alone");
        assert!(p.objects.is_empty());
    }
}
