//! Shard files on one disk directory: write to a temporary name, fsync, rename,
//! fsync the directory; read back with BLAKE3 verification of the header, the
//! chunk hash table (against the manifest) and every chunk read.
//!
//! File names are built from segment ids only: object keys never become paths.
//!
//! ```
//! use kintsugi_disk::{Disk, ShardHeader};
//! let dir = tempfile::tempdir().unwrap();
//! Disk::format(dir.path(), 1, 0xabc).unwrap();
//! let disk = Disk::open(dir.path(), 1, 0xabc).unwrap();
//! let header = ShardHeader { codec: 1, k: 4, m: 2, index: 0, chunk_size: 64, segment_no: 0,
//!     segment_id: 7, owner_id: 1, ..Default::default() };
//! let mut w = disk.create_shard(header).unwrap();
//! let chunk = vec![1u8; 64];
//! w.append(&chunk, kintsugi_erasure::chunk_hash(&chunk)).unwrap();
//! let shard_hash = w.finish(256).unwrap();
//! let r = disk.open_shard(7, 0, Some(&shard_hash)).unwrap();
//! assert_eq!(r.read_chunk(0, 0, 64).unwrap(), chunk);
//! ```
#![deny(unsafe_code)]

mod disk;
mod error;
mod header;

pub use disk::{fs_space, sync_dir, DirLock, DirState, Disk, DiskIdentity, ShardReader, ShardWriter, IDENTITY_FILE, IDENTITY_FORMAT};
pub use error::{is_out_of_space, DiskError, DiskResult};
pub use header::{HeaderError, ShardHeader, HEADER_LEN, MAX_LABEL};

#[cfg(test)]
mod tests;
