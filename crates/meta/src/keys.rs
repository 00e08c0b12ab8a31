//! Byte layout of RocksDB keys. Object keys are opaque bytes here: they are
//! never interpreted as paths. Bucket names are at most 63 bytes, so one
//! length byte prefixes them and no separator can be confused with a key byte.

use crate::types::{DiskId, SegmentId};

/// `[len(bucket)][bucket]` — the prefix of all objects of a bucket.
pub fn bucket_prefix(bucket: &str) -> Vec<u8> {
    let b = bucket.as_bytes();
    let mut out = Vec::with_capacity(1 + b.len());
    // Bucket names are validated to 3..=63 bytes before they get here; clamp defensively.
    out.push(u8::try_from(b.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(b);
    out
}

/// `[len(bucket)][bucket][key]`
pub fn object_key(bucket: &str, key: &[u8]) -> Vec<u8> {
    let mut out = bucket_prefix(bucket);
    out.extend_from_slice(key);
    out
}

/// Byte that sorts after every byte of a UTF-8 string (0xFF never occurs in UTF-8).
pub const AFTER_UTF8: u8 = 0xFF;

/// `[len(bucket)][bucket][key] 0xFF [upload id]`
pub fn upload_key(bucket: &str, key: &str, upload_id: &str) -> Vec<u8> {
    let mut out = object_key(bucket, key.as_bytes());
    out.push(AFTER_UTF8);
    out.extend_from_slice(upload_id.as_bytes());
    out
}

/// `[upload id] 0xFF [part number BE]`
pub fn part_key(upload_id: &str, part: u32) -> Vec<u8> {
    let mut out = part_prefix(upload_id);
    out.extend_from_slice(&part.to_be_bytes());
    out
}

/// `[upload id] 0xFF`
pub fn part_prefix(upload_id: &str) -> Vec<u8> {
    let mut out = upload_id.as_bytes().to_vec();
    out.push(AFTER_UTF8);
    out
}

/// `[disk BE][segment BE][shard index]`
pub fn disk_shard_key(disk: DiskId, segment: SegmentId, index: u8) -> [u8; 21] {
    let mut out = [0u8; 21];
    out[..4].copy_from_slice(&disk.to_be_bytes());
    out[4..20].copy_from_slice(&segment.to_be_bytes());
    out[20] = index;
    out
}

/// Decode a key written by [`disk_shard_key`].
pub fn parse_disk_shard_key(k: &[u8]) -> Option<(DiskId, SegmentId, u8)> {
    if k.len() != 21 {
        return None;
    }
    let disk = DiskId::from_be_bytes(k[..4].try_into().ok()?);
    let seg = SegmentId::from_be_bytes(k[4..20].try_into().ok()?);
    Some((disk, seg, k[20]))
}

/// Decode a key written by [`object_key`] into (bucket, key); `None` when not UTF-8.
pub fn parse_object_key(k: &[u8]) -> Option<(String, String)> {
    let (&len, rest) = k.split_first()?;
    let len = usize::from(len);
    if rest.len() < len {
        return None;
    }
    let bucket = std::str::from_utf8(&rest[..len]).ok()?;
    let key = std::str::from_utf8(&rest[len..]).ok()?;
    Some((bucket.to_owned(), key.to_owned()))
}

/// Decode a key written by [`part_key`] into (upload id, part number).
pub fn parse_part_key(k: &[u8]) -> Option<(String, u32)> {
    if k.len() < 5 || k[k.len() - 5] != AFTER_UTF8 {
        return None;
    }
    let upload = std::str::from_utf8(&k[..k.len() - 5]).ok()?;
    let part = u32::from_be_bytes(k[k.len() - 4..].try_into().ok()?);
    Some((upload.to_owned(), part))
}

/// `[segment BE]`
pub fn segment_key(segment: SegmentId) -> [u8; 16] {
    segment.to_be_bytes()
}

/// Decode a key written by [`segment_key`].
pub fn parse_segment_key(k: &[u8]) -> Option<SegmentId> {
    Some(SegmentId::from_be_bytes(k.try_into().ok()?))
}

/// Smallest key strictly greater than every key that starts with `prefix`,
/// or `None` if there is none (prefix of all 0xFF).
#[cfg(test)]
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_prefix_is_unambiguous() {
        // "ab" + key "c" must differ from "abc" + key "".
        assert_ne!(object_key("ab", b"c"), object_key("abc", b""));
        assert!(object_key("abc", b"zzz") < prefix_end(&bucket_prefix("abc")).expect("end"));
    }

    #[test]
    fn object_and_part_keys_round_trip() {
        assert_eq!(parse_object_key(&object_key("bkt", "a/b\u{e9}".as_bytes())), Some(("bkt".into(), "a/b\u{e9}".into())));
        assert_eq!(parse_object_key(&object_key("bkt", b"")), Some(("bkt".into(), String::new())));
        assert_eq!(parse_object_key(&[9, b'a']), None);
        assert_eq!(parse_part_key(&part_key("u1", 42)), Some(("u1".into(), 42)));
        assert_eq!(parse_part_key(b"u1"), None);
    }

    #[test]
    fn disk_shard_key_round_trip() {
        let k = disk_shard_key(7, u128::MAX - 3, 5);
        assert_eq!(parse_disk_shard_key(&k), Some((7, u128::MAX - 3, 5)));
        assert_eq!(parse_disk_shard_key(&k[..20]), None);
    }

    #[test]
    fn prefix_end_carries() {
        assert_eq!(prefix_end(&[1, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xFF, 0xFF]), None);
    }
}
