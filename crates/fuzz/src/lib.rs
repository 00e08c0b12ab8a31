//! The fuzz targets: every decoder of bytes that come from the network or the disk, each a
//! function of the raw input that must return (an error is fine) and never panic, and that
//! checks what a decoder promises — whatever decodes, encodes back to bytes that decode to
//! the same value.
//!
//! `fuzz/` (cargo-fuzz, `make fuzz`) drives them under libFuzzer; this crate's tests
//! smoke-run them on stable as part of `make test`: valid encodings, thousands of mutations
//! of them (bit flips, truncations, splices, length fields set to extremes) and random bytes.

use kintsugi_disk::ShardHeader;
use kintsugi_meta::keys;
use kintsugi_net::{decode_frame, encode_frame, JoinToken};

/// A frame body as `decode_frame` gets it (after the 4-byte length prefix): the shard
/// protocol's requests and answers, the metadata group's, and the probe protocol's.
pub fn wire_frame(data: &[u8]) {
    if let Ok(r) = decode_frame::<kintsugi_storage::Request>(data) {
        round_trip_frame(&r);
    }
    if let Ok(r) = decode_frame::<kintsugi_storage::Response>(data) {
        round_trip_frame(&r);
    }
    let _ = decode_frame::<kintsugi_raft::RaftRequest>(data);
    let _ = decode_frame::<kintsugi_raft::RaftResponse>(data);
    if let Ok(r) = decode_frame::<kintsugi_net::probe::ProbeRequest>(data) {
        round_trip_frame(&r);
    }
}

/// What decoded encodes again (within the frame cap) to a frame that decodes to the same.
fn round_trip_frame<T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(v: &T) {
    let Ok(frame) = encode_frame(v) else { return }; // larger than a frame once re-encoded
    let again: T = decode_frame(&frame[4..]).expect("a frame we encoded decodes");
    assert_eq!(&again, v, "a decoded frame does not survive encoding");
}

/// A node join token as a user pastes it.
pub fn join_token(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(t) = JoinToken::parse(text) {
        let again = JoinToken::parse(&t.encode()).expect("a token we encoded parses");
        assert_eq!(again.encode(), t.encode());
    }
}

/// A shard file's header and label, as read from a disk (or sent by a node).
pub fn shard_header(data: &[u8]) {
    if let Ok(h) = ShardHeader::decode(data) {
        assert_eq!(ShardHeader::decode(&h.encode()).expect("a header we encoded decodes"), h);
    }
    let _ = ShardHeader::label_len(data);
    if let Ok(l) = kintsugi_meta::ShardLabel::decode(data) {
        if let Ok(bytes) = l.encode() {
            assert_eq!(kintsugi_meta::ShardLabel::decode(&bytes).expect("a label we encoded decodes"), l);
        }
    }
}

/// A metadata record or replicated command, as read from RocksDB or the Raft log.
pub fn meta_record(data: &[u8]) {
    use kintsugi_meta::{decode_record, encode_record};
    // Compared as bytes, not values: a float field may hold NaN, which equals nothing.
    fn again<T: serde::Serialize + serde::de::DeserializeOwned>(what: &'static str, data: &[u8]) {
        if let Ok(v) = decode_record::<T>(what, data) {
            let bytes = encode_record(&v).expect("a decoded record encodes");
            let again = decode_record::<T>(what, &bytes).expect("a record we encoded decodes");
            assert_eq!(encode_record(&again).expect("encodes"), bytes, "{what} does not survive encoding");
        }
    }
    again::<kintsugi_meta::Manifest>("manifest", data);
    again::<kintsugi_meta::PartRecord>("part", data);
    again::<kintsugi_meta::UploadRecord>("upload", data);
    again::<kintsugi_meta::BucketRecord>("bucket", data);
    again::<kintsugi_meta::AccessKeyRecord>("access key", data);
    again::<kintsugi_meta::GarbageRecord>("garbage", data);
    again::<kintsugi_meta::IntentRecord>("intent", data);
    again::<kintsugi_meta::DiskRecord>("disk", data);
    again::<kintsugi_meta::NodeRecord>("node", data);
    again::<kintsugi_meta::DrainRecord>("drain", data);
    if let Ok(c) = kintsugi_meta::Command::decode(data) {
        let bytes = c.encode().expect("a decoded command encodes");
        let again = kintsugi_meta::Command::decode(&bytes).expect("a command we encoded decodes");
        assert_eq!(again.encode().expect("encodes"), bytes, "a command does not survive encoding");
    }
}

/// A RocksDB key: what parses names exactly the key it came from.
pub fn meta_key(data: &[u8]) {
    if let Some((disk, segment, index)) = keys::parse_disk_shard_key(data) {
        assert_eq!(&keys::disk_shard_key(disk, segment, index)[..], data);
    }
    if let Some((bucket, key)) = keys::parse_object_key(data) {
        assert_eq!(keys::object_key(&bucket, key.as_bytes()), data);
    }
    if let Some((upload, part)) = keys::parse_part_key(data) {
        assert_eq!(keys::part_key(&upload, part), data);
    }
    if let Some(segment) = keys::parse_segment_key(data) {
        assert_eq!(&keys::segment_key(segment)[..], data);
    }
}

/// An S3 answer's XML body, as the client reads it from an endpoint.
pub fn client_xml(data: &[u8]) {
    if let Ok(n) = kintsugi_client::xml::parse("fuzz", data) {
        let _ = n.text_of("Key");
    }
}

/// A metadata snapshot (an export) as a gateway receives it from the group's leader. Version 1:
/// what decodes encodes to bytes that decode to the same (not always the same bytes: postcard
/// reads an over-long varint too). Version 2 (streamed): the check reads it without panicking.
pub fn meta_export(data: &[u8]) {
    let _ = kintsugi_meta::check_export(data, data.len() as u64);
    if let Ok(families) = kintsugi_meta::decode_export(data) {
        let bytes = kintsugi_meta::encode_export(&families).expect("a decoded export encodes");
        assert_eq!(kintsugi_meta::decode_export(&bytes).expect("an export we encoded decodes"), families, "an export does not survive encoding");
    }
}

/// A redundancy ledger counter's value, as read from RocksDB: either shape decodes to a pair
/// that encodes (in the current shape) to a value decoding to the same pair.
pub fn ledger_value(data: &[u8]) {
    if let Ok((a, b)) = kintsugi_meta::decode_ledger_value(data) {
        let again = kintsugi_meta::decode_ledger_value(&kintsugi_meta::encode_ledger_value(a, b)).expect("a value we encoded decodes");
        assert_eq!(again, (a, b));
    }
}

/// An admin API request's query string (`/kintsugi-admin/v1/...?bucket=..&key=..`): every
/// parameter the routes read decodes to some text, and a value written percent-encoded
/// decodes to itself.
pub fn admin_query(data: &[u8]) {
    let Ok(q) = std::str::from_utf8(data) else { return };
    for name in ["bucket", "key", "node", "disk", "path", "ttl", "uses", "name", "access_key", "tolerance", "bandwidth", ""] {
        let _ = kintsugi_gateway::admin_query_value(q, name);
    }
    let encoded: String = q.bytes().map(|b| format!("%{b:02X}")).collect();
    assert_eq!(kintsugi_gateway::admin_query_value(&format!("a=1&v={encoded}"), "v").as_deref(), Some(q), "a percent-encoded value does not decode to itself");
}

/// The bodies of the shard protocol's streams after their first frame: a PutShard's as a node
/// reads it, a ReadShard's (the chunk hash table, then chunk records) as a gateway or a node
/// pulling for a rebuild reads it, and a bare GetShard record stream. Every record read
/// consumed exactly the bytes its encoder writes for it.
pub fn shard_body(data: &[u8]) {
    use kintsugi_storage::records::{put_record_end, put_record_head, read_put_record, read_table, table_record, PutRecord, MAX_CHUNK};
    // A PutShard body under a shard chunk size of `b << 8` when the input starts `ff b`.
    let (cap, body) = match data {
        [0xff, b, body @ ..] => (u32::from(*b) << 8, body),
        _ => (MAX_CHUNK, data),
    };
    let mut rest = body;
    loop {
        let before = rest;
        match now(read_put_record(&mut rest, cap)) {
            Ok(PutRecord::Chunk { hash, bytes }) => {
                let len = u32::try_from(bytes.len()).expect("a chunk record is at most MAX_CHUNK bytes");
                assert!(len <= cap, "a {len}-byte chunk read under a cap of {cap}");
                let again = [&put_record_head(len, &hash)[..], &bytes].concat();
                assert_eq!(again, before[..before.len() - rest.len()], "a PutShard chunk record does not survive encoding");
            }
            Ok(PutRecord::End { segment_len }) => {
                assert_eq!(put_record_end(segment_len)[..], before[..before.len() - rest.len()], "a PutShard end record does not survive encoding");
                break;
            }
            Err(_) => break,
        }
    }
    let mut rest = data;
    if let Ok(table) = now(read_table(&mut rest)) {
        assert_eq!(table_record(&table)[..], data[..data.len() - rest.len()], "a chunk hash table does not survive encoding");
        get_records(rest);
    }
    get_records(data);
}

/// Read GetShard records until the first failure or error record.
fn get_records(mut rest: &[u8]) {
    use kintsugi_storage::records::{get_record_head, read_get_record, GetRecord};
    loop {
        let before = rest;
        match now(read_get_record(&mut rest)) {
            Ok(GetRecord::Chunk(bytes)) => {
                let len = u32::try_from(bytes.len()).expect("a chunk record is at most MAX_CHUNK bytes");
                let again = [&get_record_head(len)[..], &bytes].concat();
                assert_eq!(again, before[..before.len() - rest.len()], "a GetShard chunk record does not survive encoding");
            }
            Ok(GetRecord::Failed(answer)) => {
                round_trip_frame(&answer);
                break;
            }
            Err(_) => break,
        }
    }
}

/// Run a decoder over bytes in memory: a slice never makes a reader wait, so one poll finishes it.
fn now<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("a decoder waited for bytes that were all in memory"),
    }
}

/// A fuzz target: takes any bytes, returns or panics.
pub type Target = fn(&[u8]);

/// Every target, by the name `fuzz/fuzz_targets/<name>.rs` and `make fuzz` use.
/// A bucket policy document as PutBucketPolicy receives it (its first line is also read as a
/// query string, for the condition keys): parsing refuses or accepts, never panics, and a
/// document that parsed decides requests.
pub fn bucket_policy(data: &[u8]) {
    let Ok(doc) = std::str::from_utf8(data) else { return };
    let query = doc.lines().next().unwrap_or_default();
    let _ = kintsugi_gateway::policy_probe(doc, query);
}

pub const TARGETS: &[(&str, Target)] = &[
    ("wire_frame", wire_frame),
    ("join_token", join_token),
    ("shard_header", shard_header),
    ("meta_record", meta_record),
    ("meta_key", meta_key),
    ("client_xml", client_xml),
    ("meta_export", meta_export),
    ("ledger_value", ledger_value),
    ("admin_query", admin_query),
    ("shard_body", shard_body),
    ("bucket_policy", bucket_policy),
];

#[cfg(test)]
mod smoke;
