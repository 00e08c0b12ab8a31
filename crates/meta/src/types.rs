//! Records kept in the metadata store, and their versioned binary encoding.
//!
//! Every record is stored as one format-version byte followed by the
//! `postcard` encoding of the record. A new format gets a new version byte
//! and a migration in [`decode`]; old bytes stay readable.

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::error::{MetaError, MetaResult};

/// Identifier of a disk in the cluster map.
pub type DiskId = u32;

/// The disk id of a shard that is stored nowhere: the PUT that made its segment could not place
/// it (its failure domain was down) or could not write it. Real disks are numbered from 1. The
/// disk → shards index files such shards under this id, so the ledger counts their segments at
/// risk and repair rebuilds them, exactly as for shards on a lost disk.
pub const NO_DISK: DiskId = 0;
/// Globally unique id of a segment (random 128 bits); names its shard files.
pub type SegmentId = u128;

/// Where one shard of a segment lives and what it must hash to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardLoc {
    /// Disk holding the shard.
    pub disk: DiskId,
    /// BLAKE3 over the shard's chunk hashes (see `kintsugi_erasure::shard_hash`).
    pub hash: [u8; 32],
}

/// One segment of an object: `shards[i]` is shard index `i` (0..k data, k..k+m parity).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentMeta {
    /// Unique segment id.
    pub id: SegmentId,
    /// Bytes of object data in the segment.
    pub len: u64,
    /// k+m shard locations, by shard index; none for an inline segment, whose bytes are kept
    /// with the metadata (see [`SegmentMeta::is_inline`]).
    pub shards: Vec<ShardLoc>,
}

impl SegmentMeta {
    /// An inline segment: a small object's bytes, kept in the metadata store (an
    /// [`InlineRecord`] under the segment's id) instead of as shards on disks. It has no shards,
    /// so repair, scrub, drain and rebalance never see it; it is as durable as the metadata.
    pub fn is_inline(&self) -> bool {
        self.shards.is_empty()
    }
}

/// The bytes of an inline segment and their BLAKE3 hash (checked on every read).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InlineRecord {
    /// BLAKE3 of `data`.
    pub hash: [u8; 32],
    /// The segment's bytes.
    pub data: Vec<u8>,
}

/// How segments were encoded (one type with the shard header and the wire).
pub use kintsugi_erasure::Coding;

/// The manifest: metadata record of one object version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Random id of this version; changes on every overwrite (CAS token).
    pub version_id: u128,
    /// Object size in bytes.
    pub size: u64,
    /// S3 ETag without quotes.
    pub etag: String,
    /// Last-modified time, milliseconds since the Unix epoch.
    pub modified_ms: i64,
    /// Content-Type.
    pub content_type: Option<String>,
    /// Other standard headers kept verbatim (cache-control, content-disposition, ...).
    pub headers: Vec<(String, String)>,
    /// User metadata (`x-amz-meta-*`, without the prefix).
    pub user_meta: Vec<(String, String)>,
    /// Number of multipart parts (0 for a single PUT).
    pub parts: u32,
    /// Erasure coding of every segment.
    pub coding: Coding,
    /// Segments in object order.
    pub segments: Vec<SegmentMeta>,
}

/// A bucket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketRecord {
    /// Creation time, ms since epoch.
    pub created_ms: i64,
    /// The access key that created it and owns it; empty for a bucket created before buckets
    /// had owners (or by the store itself, as a metadata rebuild does): such a bucket belongs
    /// to the admin keys.
    pub owner: String,
}

/// A bucket as stored before buckets had owners (read as owned by the admin keys).
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct BucketRecordV1 {
    pub created_ms: i64,
}

/// An in-progress multipart upload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    /// Upload id (hex).
    pub upload_id: String,
    /// Target bucket.
    pub bucket: String,
    /// Target key.
    pub key: String,
    /// Initiation time, ms since epoch.
    pub created_ms: i64,
    /// Content-Type for the final object.
    pub content_type: Option<String>,
    /// Standard headers for the final object.
    pub headers: Vec<(String, String)>,
    /// User metadata for the final object.
    pub user_meta: Vec<(String, String)>,
}

/// One uploaded part of a multipart upload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRecord {
    /// Part number (1..=10000).
    pub part_number: u32,
    /// Size in bytes.
    pub size: u64,
    /// Hex MD5 of the part.
    pub etag: String,
    /// Upload time, ms since epoch.
    pub modified_ms: i64,
    /// Coding of the part's segments.
    pub coding: Coding,
    /// The part's segments.
    pub segments: Vec<SegmentMeta>,
    /// The part's additional checksum, kept when its upload names an algorithm (its
    /// composite or full-object checksum is computed from them at completion).
    pub checksum: Option<PartChecksum>,
}

/// A part's additional checksum (S3's `x-amz-checksum-<algorithm>`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartChecksum {
    /// Lower-case algorithm name: `crc32`, `crc32c`, `sha1`, `sha256` or `crc64nvme`.
    pub algorithm: String,
    /// The checksum, base64 as S3 spells it.
    pub value: String,
}

/// A part as stored before parts kept checksums (and as command 5 still carries it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRecordV1 {
    /// Part number (1..=10000).
    pub part_number: u32,
    /// Size in bytes.
    pub size: u64,
    /// Hex MD5 of the part.
    pub etag: String,
    /// Upload time, ms since epoch.
    pub modified_ms: i64,
    /// Coding of the part's segments.
    pub coding: Coding,
    /// The part's segments.
    pub segments: Vec<SegmentMeta>,
}

impl From<PartRecordV1> for PartRecord {
    fn from(v: PartRecordV1) -> Self {
        Self { part_number: v.part_number, size: v.size, etag: v.etag, modified_ms: v.modified_ms, coding: v.coding, segments: v.segments, checksum: None }
    }
}

impl PartRecord {
    /// The part in the older shape, when it has no checksum to lose.
    pub fn as_v1(&self) -> Option<PartRecordV1> {
        self.checksum.is_none().then(|| PartRecordV1 {
            part_number: self.part_number,
            size: self.size,
            etag: self.etag.clone(),
            modified_ms: self.modified_ms,
            coding: self.coding,
            segments: self.segments.clone(),
        })
    }
}

/// A stored part as a completion read it: the compare of `CompleteUpload`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartStamp {
    /// Part number.
    pub number: u32,
    /// The part's ETag.
    pub etag: String,
    /// Its segments' ids (a re-uploaded part has new ones).
    pub segments: Vec<SegmentId>,
}

impl PartStamp {
    /// The stamp of a stored part.
    pub fn of(p: &PartRecord) -> Self {
        Self { number: p.part_number, etag: p.etag.clone(), segments: p.segments.iter().map(|s| s.id).collect() }
    }
}

/// A part as stored: in the older shape when it has no checksum, so a gateway of an older
/// version (a follower installing a snapshot, a downgrade) still reads it.
pub(crate) fn encode_part(p: &PartRecord) -> MetaResult<Vec<u8>> {
    match p.as_v1() {
        Some(v1) => encode(&v1),
        None => encode(p),
    }
}

/// A stored part of either shape. The two differ by one trailing field and a record with
/// trailing bytes is refused, so neither is read as the other; a part without a checksum is
/// only ever the older shape ([`encode_part`]), so one byte more is refused for both.
pub(crate) fn decode_part(bytes: &[u8]) -> MetaResult<PartRecord> {
    // Every part, of either shape, begins with the older shape's fields: bytes that do not
    // hold them are damaged; bytes that hold more are the newer shape, or damage.
    let (older, extra) = decode_prefix::<PartRecordV1>("part", bytes)?;
    if extra == 0 {
        return Ok(older.into());
    }
    match decode::<PartRecord>("part", bytes)? {
        p if p.checksum.is_some() => Ok(p),
        // The older shape and a stray byte.
        _ => Err(trailing("part", extra)),
    }
}

/// What references a segment, stored as the value of its disk → shards index
/// entries so repair and drain find the record to update without a scan.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ShardOwner {
    /// A committed object.
    Object {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
    },
    /// A part of a multipart upload not completed yet.
    Part {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// Upload id.
        upload_id: String,
        /// Part number.
        part: u32,
    },
    /// A version of an object that is not its current one (see `versions.rs`).
    Version {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// The version's manifest id (`Manifest::version_id`).
        version_id: u128,
    },
}

impl ShardOwner {
    /// Bucket and key of the object (or the upload's object).
    pub fn object(&self) -> (&str, &str) {
        match self {
            ShardOwner::Object { bucket, key } | ShardOwner::Part { bucket, key, .. } | ShardOwner::Version { bucket, key, .. } => (bucket, key),
        }
    }
}

/// Shards being written that no manifest references yet. If the writer dies,
/// these are garbage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentRecord {
    /// When the write started, ms since epoch.
    pub started_ms: i64,
    /// (shard index, disk) pairs being written.
    pub shards: Vec<(u8, DiskId)>,
}

/// Shards no manifest references any more, to delete after `due_ms`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GarbageRecord {
    /// Earliest deletion time, ms since epoch (a safety delay for in-flight reads).
    pub due_ms: i64,
    /// (shard index, disk) pairs to delete.
    pub shards: Vec<(u8, DiskId)>,
}

/// A registered disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskRecord {
    /// Cluster-wide disk id.
    pub id: DiskId,
    /// Random identity written into the disk's identity file.
    pub uuid: u128,
    /// Where the disk was last seen (informational).
    pub path: String,
}

/// A storage node in the cluster map.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// Node name (its certificate's common name).
    pub name: String,
    /// Failure-domain number (unique per node).
    pub number: u32,
    /// Last address it serves shard requests on.
    pub addr: String,
    /// Its disks.
    pub disks: Vec<DiskId>,
}

/// Lifecycle state of a disk that an admin takes out of service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DiskLifecycle {
    /// No new shards; its shards are being copied elsewhere.
    Draining,
    /// Empty: no committed shard is on it; it can be pulled.
    Decommissioned,
}

/// A disk's lifecycle record (absent for disks in service).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainRecord {
    /// Disk id.
    pub disk: DiskId,
    /// Its state.
    pub state: DiskLifecycle,
    /// When the drain started, ms since epoch.
    pub started_ms: i64,
    /// Shards on it when the drain started (for progress).
    pub shards_at_start: u64,
    /// Shard bytes on it when the drain started (for progress).
    pub bytes_at_start: u64,
}

/// A rebalance an admin started and that has not ended (resumed after a gateway restart).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RebalanceRecord {
    /// Tolerance, percent of each disk's share.
    pub tolerance_pct: f64,
    /// Bandwidth cap, bytes per second (0: none).
    pub bandwidth: u64,
    /// When it was first started, ms since epoch.
    pub started_ms: i64,
}

/// A drain record as stored before drains counted bytes (decoded, never written).
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct DrainRecordV1 {
    pub disk: DiskId,
    pub state: DiskLifecycle,
    pub started_ms: i64,
    pub shards_at_start: u64,
}

/// An S3 access key: a principal of its own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKeyRecord {
    /// Secret key.
    pub secret: String,
    /// Creation time, ms since epoch.
    pub created_ms: i64,
    /// Human label.
    pub name: String,
    /// An admin key may use the admin API and every bucket; any other key only the buckets
    /// it owns.
    pub admin: bool,
}

/// An access key as stored (and carried by `Command::PutAccessKey`) before keys had roles.
/// Every such key was a server's root key, so it reads as an admin key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKeyRecordV1 {
    /// Secret key.
    pub secret: String,
    /// Creation time, ms since epoch.
    pub created_ms: i64,
    /// Human label.
    pub name: String,
}

impl From<AccessKeyRecordV1> for AccessKeyRecord {
    fn from(v: AccessKeyRecordV1) -> Self {
        Self { secret: v.secret, created_ms: v.created_ms, name: v.name, admin: true }
    }
}

/// Current format version byte of every record.
const FORMAT_V1: u8 = 1;

/// Encode a record with its format-version byte.
pub fn encode<T: Serialize>(value: &T) -> MetaResult<Vec<u8>> {
    postcard::to_extend(value, vec![FORMAT_V1]).map_err(|e| MetaError::Encode { detail: e.to_string() })
}

/// Decode a record written by [`encode`]: the whole value, so a record followed by bytes it
/// does not account for (damage, or a shape this version does not know) is refused rather
/// than read as its prefix.
pub fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> MetaResult<T> {
    match decode_prefix(what, bytes)? {
        (value, 0) => Ok(value),
        (_, extra) => Err(trailing(what, extra)),
    }
}

/// A record written by [`encode`] at the start of `bytes`, and how many bytes follow it.
fn decode_prefix<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> MetaResult<(T, usize)> {
    match bytes.split_first() {
        Some((&FORMAT_V1, rest)) => {
            let (value, extra) = postcard::take_from_bytes(rest).map_err(|e| MetaError::Corrupt { what, detail: e.to_string() })?;
            Ok((value, extra.len()))
        }
        Some((v, _)) => Err(MetaError::Corrupt {
            what,
            detail: format!("unknown format version {v}"),
        }),
        None => Err(MetaError::Corrupt {
            what,
            detail: "empty record".into(),
        }),
    }
}

/// The refusal of a record followed by `extra` bytes it does not account for.
fn trailing(what: &'static str, extra: usize) -> MetaError {
    MetaError::Corrupt { what, detail: format!("{extra} trailing bytes after the record") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trip_and_version_byte() {
        let m = Manifest {
            version_id: 7,
            size: 10,
            etag: "abc".into(),
            modified_ms: 1,
            content_type: Some("text/plain".into()),
            headers: vec![],
            user_meta: vec![("a".into(), "b".into())],
            parts: 0,
            coding: Coding { codec: 1, k: 4, m: 2, chunk_size: 262144 },
            segments: vec![SegmentMeta {
                id: 9,
                len: 10,
                shards: vec![ShardLoc { disk: 1, hash: [3; 32] }],
            }],
        };
        let bytes = encode(&m).expect("encode");
        assert_eq!(bytes[0], FORMAT_V1);
        let back: Manifest = decode("manifest", &bytes).expect("decode");
        assert_eq!(back, m);
        let mut bad = bytes.clone();
        bad[0] = 99;
        assert!(decode::<Manifest>("manifest", &bad).is_err());
        assert!(decode::<Manifest>("manifest", &bytes[..bytes.len() / 2]).is_err());
        assert!(decode::<Manifest>("manifest", &[]).is_err());
    }

    #[test]
    fn a_record_followed_by_bytes_it_does_not_account_for_is_refused() {
        let g = GarbageRecord { due_ms: 0, shards: vec![(1, 2)] };
        let bytes = encode(&g).expect("encode");
        assert_eq!(decode::<GarbageRecord>("garbage", &bytes).expect("decode"), g);
        for extra in [&[0u8][..], &[1, 2, 3][..]] {
            let mut longer = bytes.clone();
            longer.extend_from_slice(extra);
            match decode::<GarbageRecord>("garbage", &longer) {
                Err(MetaError::Corrupt { what: "garbage", detail }) => assert_eq!(detail, format!("{} trailing bytes after the record", extra.len())),
                other => panic!("{} extra bytes: {other:?}", extra.len()),
            }
        }
    }

    #[test]
    fn a_part_of_either_shape_reads_and_damage_is_refused() {
        let old = PartRecordV1 { part_number: 2, size: 9, etag: "e".into(), modified_ms: 4, coding: Coding { codec: 1, k: 2, m: 1, chunk_size: 64 }, segments: vec![] };
        let read = decode_part(&encode(&old).expect("encode")).expect("a part stored before checksums");
        assert_eq!(read, PartRecord::from(old.clone()));
        assert_eq!(read.checksum, None);
        let new = PartRecord { checksum: Some(PartChecksum { algorithm: "crc32".into(), value: "AAAAAA==".into() }), ..read };
        let bytes = encode(&new).expect("encode");
        assert_eq!(decode_part(&bytes).expect("a part with a checksum"), new);
        assert_eq!(new.as_v1(), None, "a checksum is never dropped into the older shape");
        assert_eq!(encode_part(&new).expect("encode"), bytes, "a part with a checksum is stored in the new shape");
        let plain = PartRecord { checksum: None, ..new };
        assert_eq!(plain.as_v1(), Some(old.clone()));
        // Without a checksum, the older shape: an older gateway's strict decoder reads it.
        let stored = encode_part(&plain).expect("encode");
        assert_eq!(decode::<PartRecordV1>("part", &stored).expect("read as an older version would"), old);
        assert_eq!(decode_part(&stored).expect("read back"), plain);
        for cut in [1, bytes.len() - 1] {
            assert!(matches!(decode_part(&bytes[..cut]), Err(MetaError::Corrupt { what: "part", .. })), "cut at {cut}");
        }
    }
}
