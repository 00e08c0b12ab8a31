//! Body records of the shard protocol and the mapping of disk errors to wire
//! codes and back. Byte layouts (all integers little-endian):
//!
//! ```text
//! PutShard body:  { [u32 len][32-byte BLAKE3][len bytes] }*  [u32 0xFFFF_FFFF][u64 segment length]
//! GetShard body:  { [u8 0][u32 len][len bytes] }*  and, on a failure midway, [u8 1][Error frame]
//! ReadShard body: [u8 2][u32 n][n × 32-byte chunk hash], then the GetShard body
//! ```

use kintsugi_disk::DiskError;
use kintsugi_erasure::ChunkHash;
use kintsugi_net::NetError;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::error::ShardError;
use crate::proto::{ErrorCode, Response};

/// Marks the end of a PutShard body.
pub const END_OF_SHARD: u32 = u32::MAX;
/// Largest chunk a record may carry (the codec's chunk-size limit).
pub const MAX_CHUNK: u32 = 16 * 1024 * 1024;
/// Bytes of a chunk record allocated before they arrive; the rest grows as they do.
const PREALLOC: usize = 1 << 20;

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
pub fn put_record_head(len: u32, hash: &[u8; 32]) -> [u8; 36] {
    let mut h = [0u8; 36];
    h[..4].copy_from_slice(&len.to_le_bytes());
    h[4..].copy_from_slice(hash);
    h
}

/// Encode the end of a PutShard body.
pub fn put_record_end(segment_len: u64) -> [u8; 12] {
    let mut h = [0u8; 12];
    h[..4].copy_from_slice(&END_OF_SHARD.to_le_bytes());
    h[4..].copy_from_slice(&segment_len.to_le_bytes());
    h
}

/// Marks the chunk hash table at the head of a ReadShard body.
pub const TABLE_RECORD: u8 = 2;
/// Most entries a chunk hash table may have (a 64 MiB segment of 64-byte chunks at k = 1).
pub const MAX_TABLE: u32 = 1 << 20;

/// Encode a ReadShard body's chunk hash table record.
pub fn table_record(table: &[kintsugi_erasure::ChunkHash]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + 32 * table.len());
    out.push(TABLE_RECORD);
    out.extend_from_slice(&u32::try_from(table.len()).unwrap_or(u32::MAX).to_le_bytes());
    for h in table {
        out.extend_from_slice(h);
    }
    out
}

/// Encode the head of one GetShard chunk record.
pub fn get_record_head(len: u32) -> [u8; 5] {
    let mut h = [0u8; 5];
    h[1..].copy_from_slice(&len.to_le_bytes());
    h
}

/// Marks a GetShard record that carries the sender's error frame instead of a chunk.
pub const FAILED_RECORD: u8 = 1;

/// Why a body record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The stream ended or failed inside a record (the transport's fault, or the sender's).
    #[error("shard body cut short: {0}")]
    Cut(String),
    /// The bytes are not a record of this body.
    #[error("malformed shard body: {0}")]
    Malformed(String),
}

/// One record of a PutShard body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutRecord {
    /// A chunk and the BLAKE3 its sender claims for it (the receiver checks it).
    Chunk { hash: ChunkHash, bytes: Vec<u8> },
    /// The end of the body and the segment's length.
    End { segment_len: u64 },
}

/// One record of a GetShard (or ReadShard, after its table) body.
#[derive(Debug, Clone, PartialEq)]
pub enum GetRecord {
    /// A chunk, unverified: the reader checks it against the manifest's table.
    Chunk(Vec<u8>),
    /// The sender failed midway; its answer says why (an `Error`, if the sender is well-behaved).
    Failed(crate::proto::Response),
}

fn cut(e: &std::io::Error) -> RecordError {
    RecordError::Cut(e.to_string())
}

/// Read `len` bytes, allocating at most [`PREALLOC`] before they arrive; the buffer doubles as
/// they do, up to exactly `len` (never more: chunks are held in queues).
async fn read_bytes<R: AsyncRead + Unpin>(r: &mut R, len: u32) -> Result<Vec<u8>, RecordError> {
    let len = len as usize;
    let mut buf = Vec::with_capacity(len.min(PREALLOC));
    while buf.len() < len {
        if buf.len() == buf.capacity() {
            buf.reserve_exact((len - buf.len()).min(buf.len().max(PREALLOC)));
        }
        let room = (buf.capacity() - buf.len()).min(len - buf.len());
        let n = (&mut *r).take(room as u64).read_buf(&mut buf).await.map_err(|e| cut(&e))?;
        if n == 0 {
            return Err(RecordError::Cut(format!("a {len}-byte chunk ended after {} bytes", buf.len())));
        }
    }
    Ok(buf)
}

/// Read one PutShard record; chunks longer than `max_chunk` (the shard's chunk size, at most
/// [`MAX_CHUNK`]) are refused before their bytes are read.
pub async fn read_put_record<R: AsyncRead + Unpin>(r: &mut R, max_chunk: u32) -> Result<PutRecord, RecordError> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).await.map_err(|e| cut(&e))?;
    let len = u32::from_le_bytes(len);
    if len == END_OF_SHARD {
        let mut seg = [0u8; 8];
        r.read_exact(&mut seg).await.map_err(|e| cut(&e))?;
        return Ok(PutRecord::End { segment_len: u64::from_le_bytes(seg) });
    }
    let max = max_chunk.min(MAX_CHUNK);
    if len > max {
        return Err(RecordError::Malformed(format!("a chunk record of {len} bytes; this shard's chunks have at most {max}")));
    }
    let mut hash = [0u8; 32];
    r.read_exact(&mut hash).await.map_err(|e| cut(&e))?;
    Ok(PutRecord::Chunk { hash, bytes: read_bytes(r, len).await? })
}

/// Read one GetShard record.
pub async fn read_get_record<R: AsyncRead + Unpin>(r: &mut R) -> Result<GetRecord, RecordError> {
    let mut head = [0u8; 5];
    r.read_exact(&mut head[..1]).await.map_err(|e| cut(&e))?;
    match head[0] {
        0 => {}
        FAILED_RECORD => {
            return kintsugi_net::read_frame(r).await.map(GetRecord::Failed).map_err(|e| match e {
                NetError::Connection { .. } => RecordError::Cut(format!("the sender's error: {e}")),
                other => RecordError::Malformed(format!("the sender's error: {other}")),
            });
        }
        other => return Err(RecordError::Malformed(format!("record type {other} in a shard stream"))),
    }
    r.read_exact(&mut head[1..]).await.map_err(|e| cut(&e))?;
    let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]);
    if len > MAX_CHUNK {
        return Err(RecordError::Malformed(format!("a {len}-byte chunk record")));
    }
    Ok(GetRecord::Chunk(read_bytes(r, len).await?))
}

/// Read a ReadShard body's chunk hash table record. The table grows as its bytes arrive (never
/// allocated from the claimed length alone).
pub async fn read_table<R: AsyncRead + Unpin>(r: &mut R) -> Result<Vec<ChunkHash>, RecordError> {
    let mut head = [0u8; 5];
    r.read_exact(&mut head).await.map_err(|e| cut(&e))?;
    if head[0] != TABLE_RECORD {
        return Err(RecordError::Malformed(format!("a shard stream without its hash table (record type {})", head[0])));
    }
    let n = u32::from_le_bytes([head[1], head[2], head[3], head[4]]);
    if n > MAX_TABLE {
        return Err(RecordError::Malformed(format!("a hash table of {n} entries")));
    }
    let mut table = Vec::new();
    let mut entry = [0u8; 32];
    for _ in 0..n {
        r.read_exact(&mut entry).await.map_err(|e| cut(&e))?;
        table.push(entry);
    }
    Ok(table)
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

    #[tokio::test]
    async fn records_read_back_what_was_written_and_refuse_oversized_or_cut_ones() {
        let body = [&put_record_head(3, &[7; 32])[..], b"abc", &put_record_end(3)].concat();
        let mut r = &body[..];
        assert_eq!(read_put_record(&mut r, 64).await.expect("a chunk"), PutRecord::Chunk { hash: [7; 32], bytes: b"abc".to_vec() });
        assert_eq!(read_put_record(&mut r, 64).await.expect("the end"), PutRecord::End { segment_len: 3 });
        assert!(r.is_empty());
        // Longer than the shard's chunk size: refused from its head, before its bytes are read.
        let mut r = &body[..];
        assert!(matches!(read_put_record(&mut r, 2).await, Err(RecordError::Malformed(_))));
        // A record that claims more bytes than arrive is a cut stream, not a short chunk.
        let short = [&get_record_head(MAX_CHUNK)[..], b"only these"].concat();
        assert!(matches!(read_get_record(&mut &short[..]).await, Err(RecordError::Cut(_))));
        // A chunk longer than the first allocation arrives whole, in a buffer of its length.
        let big: Vec<u8> = (0..3 * PREALLOC + 5).map(|i| i as u8).collect();
        let body = [&get_record_head(u32::try_from(big.len()).expect("small"))[..], &big].concat();
        let GetRecord::Chunk(got) = read_get_record(&mut &body[..]).await.expect("a chunk") else { panic!("not a chunk") };
        assert!(got == big && got.capacity() == big.len(), "{} bytes in a buffer of {}", got.len(), got.capacity());
        let over = get_record_head(MAX_CHUNK + 1);
        assert!(matches!(read_get_record(&mut &over[..]).await, Err(RecordError::Malformed(_))));
        assert!(matches!(read_get_record(&mut &[9u8][..]).await, Err(RecordError::Malformed(_))));
        let table = table_record(&[[1; 32], [2; 32]]);
        assert_eq!(read_table(&mut &table[..]).await.expect("a table"), vec![[1; 32], [2; 32]]);
        assert!(matches!(read_table(&mut &table[..40]).await, Err(RecordError::Cut(_))));
    }
}
