//! Body records of the shard protocol and the mapping of disk errors to wire
//! codes and back. Byte layouts (all integers little-endian):
//!
//! ```text
//! PutShard body:  { [u32 len][32-byte BLAKE3][len bytes] }*  [u32 0xFFFF_FFFF][u64 segment length]
//! GetShard body:  { [u8 0][u32 len][len bytes] }*  and, on a failure midway, [u8 1][Error frame]
//! ReadShard body: [u8 2][u32 n][n × 32-byte chunk hash], then the GetShard body
//! ```

use kintsugi_disk::DiskError;
use kintsugi_net::NetError;

use crate::error::ShardError;
use crate::proto::{ErrorCode, Response};

/// Marks the end of a PutShard body.
pub(crate) const END_OF_SHARD: u32 = u32::MAX;
/// Largest chunk a record may carry (the codec's chunk-size limit).
pub(crate) const MAX_CHUNK: u32 = 16 * 1024 * 1024;

/// Stable wire code of a disk error.
pub fn disk_error_code(e: &DiskError) -> ErrorCode {
    match e {
        DiskError::Missing { .. } => ErrorCode::ShardMissing,
        DiskError::Corrupt { .. } => ErrorCode::ShardCorrupt,
        DiskError::DiskGone { .. } | DiskError::DiskFailed { .. } => ErrorCode::DiskFailed,
        DiskError::Io { .. } => ErrorCode::DiskIo,
        DiskError::Full { .. } => ErrorCode::DiskFull,
        DiskError::Invalid { .. } => ErrorCode::Invalid,
        DiskError::InUse { .. } => ErrorCode::DiskInUse,
    }
}

/// Rebuild the error of a node's `Error` answer, naming the gateway's disk id: the node's disk
/// errors keep their kind; any other code (the transport's, a node that cannot serve now)
/// makes the disk unreachable.
pub fn shard_error_from_remote(disk: u32, node: &str, segment: u128, index: u8, code: &ErrorCode, message: String) -> ShardError {
    let shard = kintsugi_disk::Disk::shard_name(segment, index);
    ShardError::Disk(match code {
        ErrorCode::ShardMissing => DiskError::Missing { disk, shard },
        ErrorCode::ShardCorrupt => DiskError::Corrupt { disk, shard, detail: message },
        ErrorCode::DiskFailed | ErrorCode::UnknownDisk => DiskError::DiskGone { disk, path: format!("{node}:").into(), detail: message },
        ErrorCode::DiskFull => DiskError::Full { disk, path: format!("{node}:{shard}").into() },
        ErrorCode::DiskIo => DiskError::Io { disk, path: format!("{node}:{shard}").into(), source: std::io::Error::other(message) },
        ErrorCode::Invalid | ErrorCode::BadFrame | ErrorCode::DiskInUse => DiskError::Invalid { detail: format!("node {node}: {message}") },
        _ => return ShardError::Unreachable { disk, node: node.to_owned(), detail: format!("{code}: {message}") },
    })
}

/// The `Error` answer for a disk error.
pub(crate) fn error_response(e: &DiskError) -> Response {
    Response::error(disk_error_code(e), e.to_string())
}

/// The `Error` answer for a shard error on a node's own disk (the other kinds cannot happen
/// there, but are answered with codes that read back as an unreachable disk).
pub(crate) fn shard_error_response(e: &ShardError) -> Response {
    match e {
        ShardError::Disk(d) => error_response(d),
        ShardError::Unreachable { .. } => Response::error(ErrorCode::Unreachable, e.to_string()),
        ShardError::Protocol { .. } | ShardError::JobFailed { .. } | ShardError::NotOnANode { .. } => Response::error(ErrorCode::Internal, e.to_string()),
    }
}

/// A transport failure as seen from one disk.
pub(crate) fn unreachable(disk: u32, node: &str, e: &NetError) -> ShardError {
    match e {
        NetError::Remote { code, message } => ShardError::Unreachable { disk, node: node.to_owned(), detail: format!("{code}: {message}") },
        other => ShardError::Unreachable { disk, node: node.to_owned(), detail: other.to_string() },
    }
}

/// Encode the head of one PutShard chunk record.
pub(crate) fn put_record_head(len: u32, hash: &[u8; 32]) -> [u8; 36] {
    let mut h = [0u8; 36];
    h[..4].copy_from_slice(&len.to_le_bytes());
    h[4..].copy_from_slice(hash);
    h
}

/// Encode the end of a PutShard body.
pub(crate) fn put_record_end(segment_len: u64) -> [u8; 12] {
    let mut h = [0u8; 12];
    h[..4].copy_from_slice(&END_OF_SHARD.to_le_bytes());
    h[4..].copy_from_slice(&segment_len.to_le_bytes());
    h
}

/// Marks the chunk hash table at the head of a ReadShard body.
pub(crate) const TABLE_RECORD: u8 = 2;
/// Most entries a chunk hash table may have (a 64 MiB segment of 64-byte chunks at k = 1).
pub(crate) const MAX_TABLE: u32 = 1 << 20;

/// Encode a ReadShard body's chunk hash table record.
pub(crate) fn table_record(table: &[kintsugi_erasure::ChunkHash]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + 32 * table.len());
    out.push(TABLE_RECORD);
    out.extend_from_slice(&u32::try_from(table.len()).unwrap_or(u32::MAX).to_le_bytes());
    for h in table {
        out.extend_from_slice(h);
    }
    out
}

/// Encode the head of one GetShard chunk record.
pub(crate) fn get_record_head(len: u32) -> [u8; 5] {
    let mut h = [0u8; 5];
    h[1..].copy_from_slice(&len.to_le_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_disk_error_survives_the_wire_as_the_same_kind() {
        let errs = [
            DiskError::Missing { disk: 3, shard: "x".into() },
            DiskError::Corrupt { disk: 3, shard: "x".into(), detail: "bad".into() },
            DiskError::DiskFailed { disk: 3 },
            DiskError::Io { disk: 3, path: "p".into(), source: std::io::Error::other("eio") },
            DiskError::Invalid { detail: "d".into() },
        ];
        for e in errs {
            let Response::Error { code, message } = error_response(&e) else { panic!("not an error") };
            let back = shard_error_from_remote(9, "n1", 1, 2, &code, message);
            let Some(d) = back.disk() else { panic!("{e} came back as {back}") };
            assert_eq!(disk_error_code(d), disk_error_code(&e), "{e}");
            assert_eq!(back.is_disk_failure(), e.is_disk_failure(), "{e}");
        }
        let timeout = shard_error_from_remote(9, "n1", 1, 2, &ErrorCode::from("Timeout"), String::new());
        assert!(matches!(timeout, ShardError::Unreachable { .. }) && timeout.is_disk_failure(), "{timeout}");
    }
}
