//! Moving shards of a live segment from one disk to another (repair, and
//! later drain): find a disk's shards with their owners through the
//! disk → shards index, read the owning segment, and commit a move atomically
//! with a compare-and-swap on the shard's current disk.

use rocksdb::WriteBatch;

use crate::error::MetaResult;
use crate::keys;
use crate::store::{RocksMeta, CF_DISK_SHARDS, CF_INTENTS, CF_OBJECTS, CF_PARTS};
use crate::types::{decode, decode_part, encode, Coding, DiskId, IntentRecord, Manifest, PartRecord, SegmentId, SegmentMeta, ShardOwner};

/// One entry of the disk → shards index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexedShard {
    /// Segment id.
    pub segment: SegmentId,
    /// Shard index.
    pub index: u8,
    /// What references the segment (`None` for entries written before owners were recorded).
    pub owner: Option<ShardOwner>,
}

/// Move shard `index` of a segment from disk `from` to disk `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ShardMove {
    /// Shard index.
    pub index: u8,
    /// Disk the manifest must name now (the compare of the compare-and-swap).
    pub from: DiskId,
    /// Disk that holds the new, verified copy.
    pub to: DiskId,
}

/// A segment as its owner currently records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedSegment {
    /// Coding of the owning object or part.
    pub coding: Coding,
    /// The segment.
    pub segment: SegmentMeta,
}

impl RocksMeta {
    /// Shards indexed on `disk` with their owners, after `after`, at most `max`.
    pub fn indexed_shards(&self, disk: DiskId, after: Option<(SegmentId, u8)>, max: usize) -> MetaResult<Vec<IndexedShard>> {
        let prefix = disk.to_be_bytes();
        let start = match after {
            Some((s, i)) => {
                let mut k = keys::disk_shard_key(disk, s, i).to_vec();
                k.push(0);
                k
            }
            None => prefix.to_vec(),
        };
        let mut out = Vec::new();
        self.scan_prefix(CF_DISK_SHARDS, &prefix, &start, |k, v| {
            if let Some(e) = indexed_entry(k, v)? {
                out.push(e);
            }
            Ok(out.len() < max)
        })?;
        Ok(out)
    }

    /// Number of shards indexed on `disk`.
    pub fn count_indexed(&self, disk: DiskId) -> MetaResult<u64> {
        let prefix = disk.to_be_bytes();
        let mut n = 0u64;
        self.scan_prefix(CF_DISK_SHARDS, &prefix, &prefix, |_, _| {
            n += 1;
            Ok(true)
        })?;
        Ok(n)
    }

    /// True when a committed object or part references shard `index` of `segment` on `disk`.
    pub fn is_indexed(&self, disk: DiskId, segment: SegmentId, index: u8) -> MetaResult<bool> {
        Ok(self.get_raw(CF_DISK_SHARDS, &keys::disk_shard_key(disk, segment, index))?.is_some())
    }

    /// Who holds shard `index` of `segment` on `disk`: a committed record (the index names it),
    /// an open write intent (a copy being written there that has not committed yet), or nothing.
    /// Garbage collection deletes only a file that nothing holds.
    pub fn shard_file_use(&self, disk: DiskId, segment: SegmentId, index: u8) -> MetaResult<ShardFileUse> {
        if self.is_indexed(disk, segment, index)? {
            return Ok(ShardFileUse::Indexed);
        }
        let intent = self.get::<IntentRecord>(CF_INTENTS, "intent", &keys::segment_key(segment))?;
        Ok(if intent.is_some_and(|i| i.shards.contains(&(index, disk))) { ShardFileUse::Intended } else { ShardFileUse::Free })
    }

    /// The owner of a segment for index entries that predate owner values (and for callers
    /// that know only the segment, as spreading): a full scan of objects, archived versions
    /// and parts.
    pub fn find_owner(&self, segment: SegmentId) -> MetaResult<Option<ShardOwner>> {
        let mut found = None;
        self.scan_prefix(CF_OBJECTS, &[], &[], |k, v| {
            let m: Manifest = decode("manifest", v)?;
            if m.segments.iter().any(|s| s.id == segment) {
                found = keys::parse_object_key(k).map(|(bucket, key)| ShardOwner::Object { bucket, key });
                return Ok(false);
            }
            Ok(true)
        })?;
        if found.is_some() {
            return Ok(found);
        }
        if let Some(archived) = self.find_archived_owner(segment)? {
            return Ok(Some(archived));
        }
        let mut part: Option<(String, u32)> = None;
        self.scan_prefix(CF_PARTS, &[], &[], |k, v| {
            let p: PartRecord = decode_part(v)?;
            if p.segments.iter().any(|s| s.id == segment) {
                part = keys::parse_part_key(k);
                return Ok(false);
            }
            Ok(true)
        })?;
        let Some((upload_id, part)) = part else { return Ok(None) };
        let up = self.find_upload(&upload_id)?;
        Ok(up.map(|u| ShardOwner::Part { bucket: u.bucket, key: u.key, upload_id, part }))
    }

    /// Visit every entry of the disk → shards index on `disk`, in key order (one iterator,
    /// no paging: for walks done inside one metadata call).
    pub fn visit_indexed(&self, disk: DiskId, mut f: impl FnMut(IndexedShard) -> MetaResult<()>) -> MetaResult<()> {
        let prefix = disk.to_be_bytes();
        self.scan_prefix(CF_DISK_SHARDS, &prefix, &prefix, |k, v| {
            if let Some(e) = indexed_entry(k, v)? {
                f(e)?;
            }
            Ok(true)
        })
    }

    /// Every segment `owner` references now, with its coding (`None` when the owner is gone).
    pub fn owner_segments(&self, owner: &ShardOwner) -> MetaResult<Option<Vec<(Coding, SegmentMeta)>>> {
        Ok(self.load_owner(owner)?.map(|r| {
            let coding = r.coding();
            r.segments().iter().map(|s| (coding, s.clone())).collect()
        }))
    }

    /// The segment `segment` as `owner` records it now; `None` when the owner no longer references it.
    pub fn owned_segment(&self, owner: &ShardOwner, segment: SegmentId) -> MetaResult<Option<OwnedSegment>> {
        Ok(self.load_owner(owner)?.and_then(|r| {
            let coding = r.coding();
            r.segments().iter().find(|s| s.id == segment).map(|s| OwnedSegment { coding, segment: s.clone() })
        }))
    }

    /// The owner (`owner`, or found by a scan for legacy entries without one) and the segment as it
    /// records it now; `None` when nothing references the segment any more.
    pub fn resolve_segment(&self, segment: SegmentId, owner: Option<ShardOwner>) -> MetaResult<Option<(ShardOwner, OwnedSegment)>> {
        let owner = match owner {
            Some(o) => o,
            None => match self.find_owner(segment)? {
                Some(o) => o,
                None => return Ok(None),
            },
        };
        Ok(self.owned_segment(&owner, segment)?.map(|s| (owner, s)))
    }

    fn load_owner(&self, owner: &ShardOwner) -> MetaResult<Option<OwnerRecord>> {
        Ok(match owner {
            ShardOwner::Object { bucket, key } => {
                self.get::<Manifest>(CF_OBJECTS, "manifest", &keys::object_key(bucket, key.as_bytes()))?.map(OwnerRecord::Object)
            }
            ShardOwner::Part { upload_id, part, .. } => self.get_part(&keys::part_key(upload_id, *part))?.map(OwnerRecord::Part),
            ShardOwner::Version { bucket, key, version_id } => self.archived_version(bucket, key, *version_id)?.map(|(k, m)| OwnerRecord::Version(k, m)),
        })
    }

    pub(crate) fn apply_move_shards(&self, owner: &ShardOwner, segment: SegmentId, moves: &[ShardMove], garbage_due_ms: i64) -> MetaResult<Vec<ShardMove>> {
        let (bucket, key) = owner.object();
        let _b = self.bucket_lock.read();
        let _k = self.key_lock(bucket, key).lock();
        let Some(mut rec) = self.load_owner(owner)? else { return Ok(Vec::new()) };
        let coding = rec.coding();
        let Some(seg) = rec.segments_mut().iter_mut().find(|s| s.id == segment) else { return Ok(Vec::new()) };
        let before = seg.clone();
        let mut applied = Vec::new();
        for mv in moves {
            let Some(loc) = seg.shards.get_mut(usize::from(mv.index)) else { continue };
            if loc.disk == mv.from && mv.to != mv.from {
                loc.disk = mv.to;
                applied.push(*mv);
            }
        }
        let shard_bytes = crate::ledger::shard_bytes(&coding, seg.len);
        if applied.is_empty() {
            return Ok(applied);
        }
        let mut b = WriteBatch::default();
        self.batch_count_reshape(&mut b, &coding, &before, seg)?;
        match (&rec, owner) {
            (OwnerRecord::Object(m), ShardOwner::Object { bucket, key }) => b.put_cf(self.cf(CF_OBJECTS)?, keys::object_key(bucket, key.as_bytes()), encode(m)?),
            (OwnerRecord::Part(p), ShardOwner::Part { upload_id, part, .. }) => b.put_cf(self.cf(CF_PARTS)?, keys::part_key(upload_id, *part), crate::types::encode_part(p)?),
            (OwnerRecord::Version(k, m), ShardOwner::Version { .. }) => self.batch_rewrite_archived(&mut b, k, m)?,
            _ => return Ok(Vec::new()),
        }
        let idx = self.cf(CF_DISK_SHARDS)?;
        let value = encode(owner)?;
        for mv in &applied {
            b.delete_cf(idx, keys::disk_shard_key(mv.from, segment, mv.index));
            b.put_cf(idx, keys::disk_shard_key(mv.to, segment, mv.index), &value);
            self.batch_count_move(&mut b, mv.from, mv.to, shard_bytes)?;
        }
        self.batch_add_garbage(&mut b, segment, applied.iter().map(|m| (m.index, m.from)).collect(), garbage_due_ms)?;
        let ik = keys::segment_key(segment);
        if let Some(mut intent) = self.get::<IntentRecord>(CF_INTENTS, "intent", &ik)? {
            intent.shards.retain(|s| !applied.iter().any(|m| (m.index, m.to) == *s));
            if intent.shards.is_empty() {
                b.delete_cf(self.cf(CF_INTENTS)?, ik);
            } else {
                b.put_cf(self.cf(CF_INTENTS)?, ik, encode(&intent)?);
            }
        }
        self.write(b)?;
        Ok(applied)
    }
}

/// One index entry from its key and value (`None` for a key of another shape).
fn indexed_entry(k: &[u8], v: &[u8]) -> MetaResult<Option<IndexedShard>> {
    let Some((_, segment, index)) = keys::parse_disk_shard_key(k) else { return Ok(None) };
    let owner = if v.is_empty() { None } else { Some(decode("shard owner", v)?) };
    Ok(Some(IndexedShard { segment, index, owner }))
}

enum OwnerRecord {
    Object(Manifest),
    Part(PartRecord),
    /// An archived version: its key in the `versions` family and its manifest.
    Version(Vec<u8>, Manifest),
}

impl OwnerRecord {
    fn coding(&self) -> Coding {
        match self {
            OwnerRecord::Object(m) | OwnerRecord::Version(_, m) => m.coding,
            OwnerRecord::Part(p) => p.coding,
        }
    }

    fn segments(&self) -> &[SegmentMeta] {
        match self {
            OwnerRecord::Object(m) | OwnerRecord::Version(_, m) => &m.segments,
            OwnerRecord::Part(p) => &p.segments,
        }
    }

    fn segments_mut(&mut self) -> &mut Vec<SegmentMeta> {
        match self {
            OwnerRecord::Object(m) | OwnerRecord::Version(_, m) => &mut m.segments,
            OwnerRecord::Part(p) => &mut p.segments,
        }
    }
}

/// What holds a shard file (see [`RocksMeta::shard_file_use`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardFileUse {
    /// A committed object or part references it.
    Indexed,
    /// An open write intent names it: it may still be committed, or given up as garbage.
    Intended,
    /// Nothing: it may be deleted.
    Free,
}
