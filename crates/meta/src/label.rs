//! The label written into every shard file after its header: what the header does not say
//! about the object or multipart part the shard belongs to, so `admin meta rebuild` can make
//! the object's manifest again from the shards alone when all metadata is lost
//! (docs/formats.md §1.8). The shard header says the rest: owner id (version id, or upload id
//! for a part), part number, segment number and length, coding.

use serde::{Deserialize, Serialize};

use crate::error::MetaResult;
use crate::types::{decode, encode};

/// The longest label written. Longer attributes are left out of it (bucket and key always
/// stay), so a label fits a shard header on the wire (`kintsugi_disk::MAX_LABEL` is larger).
pub const LABEL_BUDGET: usize = 8 * 1024;

/// Identity of a shard's owner (format: `01` + postcard of this struct).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardLabel {
    /// Bucket name.
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// When the PUT or part upload started, ms since the epoch: of two versions of a key, the
    /// later one wins a rebuild.
    pub started_ms: i64,
    /// The body's length when the client declared it (Content-Length): a rebuild checks the
    /// segments it finds add up to it, so a lost last segment is not taken for a short object.
    pub declared_len: Option<u64>,
    /// Content-Type.
    pub content_type: Option<String>,
    /// Other standard headers kept with the object.
    pub headers: Vec<(String, String)>,
    /// User metadata (without `x-amz-meta-`).
    pub user_meta: Vec<(String, String)>,
    /// The attributes did not fit [`LABEL_BUDGET`] and were left out.
    pub attrs_dropped: bool,
}

impl ShardLabel {
    /// Encode, leaving the attributes out when they make the label longer than [`LABEL_BUDGET`].
    pub fn encode(&self) -> MetaResult<Vec<u8>> {
        let full = encode(self)?;
        if full.len() <= LABEL_BUDGET {
            return Ok(full);
        }
        let slim = ShardLabel { content_type: None, headers: Vec::new(), user_meta: Vec::new(), attrs_dropped: true, ..self.clone() };
        encode(&slim)
    }

    /// Decode a label written by [`ShardLabel::encode`].
    pub fn decode(bytes: &[u8]) -> MetaResult<Self> {
        decode("shard label", bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label() -> ShardLabel {
        ShardLabel {
            bucket: "photos".into(),
            key: "2026/cat.jpg".into(),
            started_ms: 1_780_000_000_000,
            declared_len: Some(12),
            content_type: Some("image/jpeg".into()),
            headers: vec![("cache-control".into(), "no-cache".into())],
            user_meta: vec![("camera".into(), "x100".into())],
            attrs_dropped: false,
        }
    }

    #[test]
    fn a_label_round_trips_and_damage_is_refused() {
        let l = label();
        let b = l.encode().expect("encode");
        assert_eq!(b[0], 1, "format version byte");
        assert_eq!(ShardLabel::decode(&b).expect("decode"), l);
        let mut longer = b.clone();
        longer.push(0);
        assert!(ShardLabel::decode(&longer).is_err(), "trailing bytes are refused");
        assert!(ShardLabel::decode(&b[..b.len() - 1]).is_err(), "a cut label is refused");
    }

    #[test]
    fn attributes_too_long_for_a_label_are_left_out_but_the_name_stays() {
        let mut l = label();
        l.user_meta = vec![("big".into(), "x".repeat(LABEL_BUDGET))];
        let b = l.encode().expect("encode");
        assert!(b.len() <= LABEL_BUDGET);
        let back = ShardLabel::decode(&b).expect("decode");
        assert!(back.attrs_dropped && back.user_meta.is_empty() && back.content_type.is_none());
        assert_eq!((back.bucket.as_str(), back.key.as_str(), back.declared_len), ("photos", "2026/cat.jpg", Some(12)));
    }
}
