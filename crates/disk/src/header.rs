//! The shard file format, byte by byte (all integers little-endian):
//!
//! ```text
//! offset  size  field
//! 0       8     magic "KSGSHARD"
//! 8       2     format version (1, or 2 when a label follows the header)
//! 10      1     codec id
//! 11      1     k
//! 12      1     m
//! 13      1     shard index (0..k data, k..k+m parity)
//! 14      2     reserved, zero
//! 16      4     chunk size (full chunks)
//! 20      4     segment number within its owner (object or multipart part)
//! 24      16    segment id (u128) — also the file name
//! 40      16    owner id (u128): object version id or multipart upload id
//! 56      8     segment length (bytes of object data in the segment)
//! 64      8     shard data length (bytes of chunk data in this file)
//! 72      4     chunk count
//! 76      4     owner part number (0 for a plain PUT)
//! 80      4     label length (version 2; zero in version 1)
//! 84      12    first 12 bytes of the label's BLAKE3 (version 2; zero in version 1)
//! 96      32    BLAKE3 of bytes 0..96
//! 128     L     label: opaque bytes the writer attaches (version 2 only)
//! 128+L   ...   chunk data, chunk after chunk (shard data length bytes)
//! ...     32*n  BLAKE3 of each chunk, in order
//! ```
//! The header carries the segment's place in its owner (owner, segment, index, codec, k+m);
//! the label carries the rest of the owner's identity (for objects: bucket, key, attributes;
//! the layer above gives it its meaning), so metadata can be rebuilt from disks if it is ever
//! lost. The same bytes (header, then label) travel on the wire.

use std::sync::Arc;

/// Size of the fixed header.
pub const HEADER_LEN: u64 = 128;
const MAGIC: &[u8; 8] = b"KSGSHARD";
const FORMAT_VERSION: u16 = 1;
/// The version of a header followed by a label.
const LABELLED_VERSION: u16 = 2;
/// The longest label a header may carry.
pub const MAX_LABEL: usize = 16 * 1024;

/// Why bytes are not a valid shard header (they come from disk files and from the network).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Fewer than [`HEADER_LEN`] bytes.
    #[error("header truncated to {len} bytes (a shard header is 128)")]
    Truncated {
        /// Bytes given.
        len: usize,
    },
    /// The first 8 bytes are not `KSGSHARD`: not a shard file.
    #[error("bad magic: not a Kintsugi shard header")]
    BadMagic,
    /// The BLAKE3 of bytes 0..96 does not match: the header was damaged.
    #[error("header checksum mismatch: the header is damaged")]
    Checksum,
    /// Written by a newer version of Kintsugi.
    #[error("unknown shard format version {version} (this build reads versions 1 and 2; upgrade Kintsugi)")]
    UnknownVersion {
        /// The version found.
        version: u16,
    },
    /// The header names a label longer than [`MAX_LABEL`], or longer than the bytes given.
    #[error("the shard label is {len} bytes but {have} follow the header (at most {MAX_LABEL})")]
    LabelLength {
        /// Label length the header names.
        len: u64,
        /// Bytes after the header.
        have: u64,
    },
    /// The label does not hash to what the header says: it was damaged.
    #[error("shard label checksum mismatch: the label is damaged")]
    LabelChecksum,
}

/// Decoded shard header.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShardHeader {
    /// Codec id.
    pub codec: u8,
    /// Data shards.
    pub k: u8,
    /// Parity shards.
    pub m: u8,
    /// This shard's index.
    pub index: u8,
    /// Full chunk size.
    pub chunk_size: u32,
    /// Segment number within the owner.
    pub segment_no: u32,
    /// Segment id.
    pub segment_id: u128,
    /// Owner id (object version or upload id).
    pub owner_id: u128,
    /// Multipart part number, 0 for a plain PUT.
    pub part_number: u32,
    /// Segment length in bytes (filled in when the shard is finished).
    pub segment_len: u64,
    /// Bytes of chunk data (filled in when finished).
    pub data_len: u64,
    /// Number of chunks (filled in when finished).
    pub chunks: u32,
    /// Opaque bytes naming the owner (written after the header; empty = none, version 1).
    pub label: Arc<[u8]>,
}

impl ShardHeader {
    /// Serialize: the fixed 128 bytes, then the label.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(HEADER_LEN as usize + self.label.len());
        v.extend_from_slice(&self.encode_fixed());
        v.extend_from_slice(&self.label);
        v
    }

    /// Bytes of the header and its label: where chunk data starts in a shard file.
    pub fn encoded_len(&self) -> u64 {
        HEADER_LEN + self.label.len() as u64
    }

    /// The fixed 128 bytes alone (version 2 when there is a label; its length and hash in
    /// bytes 80..96).
    pub fn encode_fixed(&self) -> [u8; HEADER_LEN as usize] {
        let mut b = [0u8; HEADER_LEN as usize];
        b[0..8].copy_from_slice(MAGIC);
        let version = if self.label.is_empty() { FORMAT_VERSION } else { LABELLED_VERSION };
        b[8..10].copy_from_slice(&version.to_le_bytes());
        b[10] = self.codec;
        b[11] = self.k;
        b[12] = self.m;
        b[13] = self.index;
        b[16..20].copy_from_slice(&self.chunk_size.to_le_bytes());
        b[20..24].copy_from_slice(&self.segment_no.to_le_bytes());
        b[24..40].copy_from_slice(&self.segment_id.to_le_bytes());
        b[40..56].copy_from_slice(&self.owner_id.to_le_bytes());
        b[56..64].copy_from_slice(&self.segment_len.to_le_bytes());
        b[64..72].copy_from_slice(&self.data_len.to_le_bytes());
        b[72..76].copy_from_slice(&self.chunks.to_le_bytes());
        b[76..80].copy_from_slice(&self.part_number.to_le_bytes());
        if !self.label.is_empty() {
            let len = u32::try_from(self.label.len()).unwrap_or(u32::MAX);
            b[80..84].copy_from_slice(&len.to_le_bytes());
            b[84..96].copy_from_slice(&blake3::hash(&self.label).as_bytes()[..12]);
        }
        let h = blake3::hash(&b[..96]);
        b[96..128].copy_from_slice(h.as_bytes());
        b
    }

    /// The coding the header names.
    pub fn coding(&self) -> kintsugi_erasure::Coding {
        kintsugi_erasure::Coding { codec: self.codec, k: self.k, m: self.m, chunk_size: self.chunk_size }
    }

    /// Label length a verified fixed header names (0 for version 1), before the label is read.
    pub fn label_len(fixed: &[u8]) -> Result<usize, HeaderError> {
        Self::decode_fixed(fixed).map(|(_, len)| len)
    }

    /// Parse and verify a header and the label that follows it (`b` may be longer).
    pub fn decode(b: &[u8]) -> Result<Self, HeaderError> {
        let (mut h, len) = Self::decode_fixed(b)?;
        let have = b.len() as u64 - HEADER_LEN;
        if len as u64 > have {
            return Err(HeaderError::LabelLength { len: len as u64, have });
        }
        if len > 0 {
            let label = &b[HEADER_LEN as usize..HEADER_LEN as usize + len];
            if blake3::hash(label).as_bytes()[..12] != b[84..96] {
                return Err(HeaderError::LabelChecksum);
            }
            h.label = Arc::from(label);
        }
        Ok(h)
    }

    /// The fixed part and the label length it names (the label itself not read).
    fn decode_fixed(b: &[u8]) -> Result<(Self, usize), HeaderError> {
        if b.len() < HEADER_LEN as usize {
            return Err(HeaderError::Truncated { len: b.len() });
        }
        if &b[0..8] != MAGIC {
            return Err(HeaderError::BadMagic);
        }
        if blake3::hash(&b[..96]).as_bytes() != &b[96..128] {
            return Err(HeaderError::Checksum);
        }
        let version = u16::from_le_bytes([b[8], b[9]]);
        if version != FORMAT_VERSION && version != LABELLED_VERSION {
            return Err(HeaderError::UnknownVersion { version });
        }
        let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let u64_at = |o: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[o..o + 8]);
            u64::from_le_bytes(a)
        };
        let u128_at = |o: usize| {
            let mut a = [0u8; 16];
            a.copy_from_slice(&b[o..o + 16]);
            u128::from_le_bytes(a)
        };
        let label_len = if version == LABELLED_VERSION { u32_at(80) as usize } else { 0 };
        if label_len > MAX_LABEL || (version == LABELLED_VERSION && label_len == 0) {
            return Err(HeaderError::LabelLength { len: label_len as u64, have: (b.len() as u64).saturating_sub(HEADER_LEN) });
        }
        let h = Self {
            codec: b[10],
            k: b[11],
            m: b[12],
            index: b[13],
            chunk_size: u32_at(16),
            segment_no: u32_at(20),
            segment_id: u128_at(24),
            owner_id: u128_at(40),
            segment_len: u64_at(56),
            data_len: u64_at(64),
            chunks: u32_at(72),
            part_number: u32_at(76),
            label: Arc::from(&[][..]),
        };
        Ok((h, label_len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_flipped_byte_is_caught() {
        let h = ShardHeader {
            codec: 1,
            k: 4,
            m: 2,
            index: 5,
            chunk_size: 262144,
            segment_no: 3,
            segment_id: 0xdead_beef,
            owner_id: 42,
            part_number: 7,
            segment_len: 1 << 26,
            data_len: 1 << 24,
            chunks: 64,
            label: Arc::from(&[][..]),
        };
        let b = h.encode_fixed();
        assert_eq!(ShardHeader::decode(&b), Ok(h));
        for i in 0..b.len() {
            let mut c = b;
            c[i] ^= 0x10;
            assert!(ShardHeader::decode(&c).is_err(), "flip at {i} not detected");
        }
        assert_eq!(ShardHeader::decode(&b[..100]), Err(HeaderError::Truncated { len: 100 }));
        let mut c = b;
        c[0] = b'X';
        assert_eq!(ShardHeader::decode(&c), Err(HeaderError::BadMagic));
        // A newer format version with a valid checksum is named as such, not as damage.
        let mut c = b;
        c[8] = 3;
        let sum = blake3::hash(&c[..96]);
        c[96..128].copy_from_slice(sum.as_bytes());
        assert_eq!(ShardHeader::decode(&c), Err(HeaderError::UnknownVersion { version: 3 }));
    }

    #[test]
    fn a_label_round_trips_and_damage_to_it_is_caught() {
        let h = ShardHeader { codec: 1, k: 2, m: 1, index: 2, chunk_size: 64, segment_id: 9, owner_id: 3, label: Arc::from(&b"bucket/key"[..]), ..Default::default() };
        let b = h.encode();
        assert_eq!(b.len(), 138);
        assert_eq!(h.encoded_len(), 138);
        assert_eq!(u16::from_le_bytes([b[8], b[9]]), 2, "a labelled header is version 2");
        assert_eq!(b[80..84], 10u32.to_le_bytes());
        assert_eq!(ShardHeader::label_len(&b[..128]), Ok(10));
        assert_eq!(ShardHeader::decode(&b), Ok(h.clone()));
        // Longer input (the chunk data after it) is ignored.
        let mut longer = b.clone();
        longer.extend_from_slice(&[7; 40]);
        assert_eq!(ShardHeader::decode(&longer), Ok(h));
        for i in 0..b.len() {
            let mut c = b.clone();
            c[i] ^= 0x01;
            assert!(ShardHeader::decode(&c).is_err(), "flip at {i} not detected");
        }
        assert_eq!(ShardHeader::decode(&b[..135]), Err(HeaderError::LabelLength { len: 10, have: 7 }));
    }

    #[test]
    fn the_header_bytes_are_those_docs_formats_md_gives() {
        // Shards written by every earlier version must keep decoding: these offsets are the
        // on-disk format (docs/formats.md §1.5), not an implementation detail.
        let h = ShardHeader {
            codec: 1,
            k: 4,
            m: 2,
            index: 5,
            chunk_size: 0x0004_0000,
            segment_no: 3,
            segment_id: 0x0102,
            owner_id: 0x0304,
            part_number: 7,
            segment_len: 0x0506,
            data_len: 0x0708,
            chunks: 9,
            label: Arc::from(&[][..]),
        };
        let b = h.encode();
        assert_eq!(b[..16], [0x4b, 0x53, 0x47, 0x53, 0x48, 0x41, 0x52, 0x44, 0x01, 0x00, 0x01, 0x04, 0x02, 0x05, 0x00, 0x00]);
        assert_eq!(b[16..20], 0x0004_0000u32.to_le_bytes());
        assert_eq!(b[20..24], 3u32.to_le_bytes());
        assert_eq!(b[24..40], 0x0102u128.to_le_bytes());
        assert_eq!(b[40..56], 0x0304u128.to_le_bytes());
        assert_eq!(b[56..64], 0x0506u64.to_le_bytes());
        assert_eq!(b[64..72], 0x0708u64.to_le_bytes());
        assert_eq!(b[72..76], 9u32.to_le_bytes());
        assert_eq!(b[76..80], 7u32.to_le_bytes());
        assert_eq!(b[80..96], [0u8; 16]);
        assert_eq!(b[96..128], *blake3::hash(&b[..96]).as_bytes());
    }
}
