//! One disk: a directory holding shard files and its identity file.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use kintsugi_erasure::{chunk_hash, shard_hash, ChunkHash};
use serde::{Deserialize, Serialize};

use crate::error::{DiskError, DiskResult};
use crate::header::{ShardHeader, HEADER_LEN};

/// Name of the identity file at the root of every disk directory.
pub const IDENTITY_FILE: &str = "kintsugi-disk.json";
/// Version of the identity file this build writes and reads.
pub const IDENTITY_FORMAT: u32 = 1;
const SHARDS_DIR: &str = "shards";
const TMP_DIR: &str = "tmp";

/// Contents of the identity file: proves a directory is the disk we registered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskIdentity {
    /// Identity file format version.
    pub format: u32,
    /// Cluster-wide disk id.
    pub disk_id: u32,
    /// Random identity (hex) — a replaced, empty directory gets a new one.
    pub disk_uuid: String,
}

/// A disk directory owned by this process.
#[derive(Debug)]
pub struct Disk {
    id: u32,
    root: PathBuf,
    uuid: u128,
    failed: AtomicBool,
    /// The directory's lock while the disk is usable (released when it fails, so an emptied
    /// directory can be added again as a new disk by this same process).
    lock: Mutex<Option<DirLock>>,
}

/// An exclusive advisory lock (`flock`) on a directory, held while the value lives. A second
/// process (or a second open in this one) that asks for it is refused at once, so two
/// processes never write beside each other in one disk, state or metadata directory.
#[derive(Debug)]
pub struct DirLock {
    _dir: File,
}

impl DirLock {
    /// Lock `dir` (which must exist). [`DiskError::InUse`] when another holder has it.
    pub fn acquire(dir: &Path) -> DiskResult<Self> {
        let f = File::open(dir).map_err(io_err(0, dir))?;
        match f.try_lock() {
            Ok(()) => Ok(Self { _dir: f }),
            Err(fs::TryLockError::WouldBlock) => Err(DiskError::InUse { path: dir.to_path_buf() }),
            Err(fs::TryLockError::Error(e)) => Err(io_err(0, dir)(e)),
        }
    }
}

fn io_err(disk: u32, path: &Path) -> impl FnOnce(std::io::Error) -> DiskError + '_ {
    move |source| DiskError::Io { disk, path: path.to_path_buf(), source }
}

/// Capacity and free bytes (for an unprivileged process) of the file system holding `path`
/// (0, 0 when it cannot be read).
pub fn fs_space(path: &Path) -> (u64, u64) {
    match rustix::fs::statvfs(path) {
        Ok(s) => (s.f_blocks.saturating_mul(s.f_frsize), s.f_bavail.saturating_mul(s.f_frsize)),
        Err(_) => (0, 0),
    }
}

/// fsync a directory so a rename or create inside it is durable.
pub fn sync_dir(path: &Path) -> std::io::Result<()> {
    File::open(path)?.sync_all()
}

impl DiskIdentity {
    /// The disk's uuid (stored as 32 hex digits).
    pub fn uuid(&self, root: &Path) -> DiskResult<u128> {
        u128::from_str_radix(&self.disk_uuid, 16).map_err(|e| DiskError::Corrupt {
            disk: self.disk_id,
            shard: IDENTITY_FILE.into(),
            detail: format!("{}: bad disk uuid {:?}: {e}", root.join(IDENTITY_FILE).display(), self.disk_uuid),
        })
    }
}

/// What a directory is, to a process about to use it as a disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirState {
    /// A formatted disk: its id and uuid, from its identity file.
    Formatted {
        /// Disk id written at format time.
        id: u32,
        /// Its random identity.
        uuid: u128,
    },
    /// Empty or missing: it may become a new disk.
    Empty,
}

impl Disk {
    /// What `root` is as a disk: formatted (with its identity), or empty/missing. A directory
    /// that is neither, or whose identity file is unreadable, is refused with a message that
    /// says what to give instead. The one rule every opener (embedded server, disk add, storage
    /// node) applies before [`Disk::open`] or [`Disk::format_new`].
    pub fn inspect(root: &Path) -> DiskResult<DirState> {
        if let Some(ident) = Self::read_identity(root)? {
            return Ok(DirState::Formatted { id: ident.disk_id, uuid: ident.uuid(root)? });
        }
        let empty = match fs::read_dir(root) {
            Ok(mut entries) => entries.next().is_none(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(e) => return Err(io_err(0, root)(e)),
        };
        if !empty {
            return Err(DiskError::Invalid {
                detail: format!("{} is not empty and not a Kintsugi disk; a new disk must be an empty or missing directory", root.display()),
            });
        }
        Ok(DirState::Empty)
    }

    /// Format an empty or missing directory as new disk `id` with a fresh random uuid (a
    /// replaced disk is a new disk, never the old one with its data lost) and open it.
    pub fn format_new(root: &Path, id: u32) -> DiskResult<Self> {
        if Self::inspect(root)? != DirState::Empty {
            return Err(DiskError::Invalid { detail: format!("{} is already a Kintsugi disk; it is not formatted again", root.display()) });
        }
        let uuid: u128 = rand::random();
        Self::format(root, id, uuid)?;
        tracing::info!(disk = id, path = %root.display(), "formatted new disk");
        Self::open(root, id, uuid)
    }

    /// Read a directory's identity file, if any; one of another format version is refused.
    pub fn read_identity(root: &Path) -> DiskResult<Option<DiskIdentity>> {
        let p = root.join(IDENTITY_FILE);
        match fs::read(&p) {
            Ok(bytes) => {
                let ident: DiskIdentity = serde_json::from_slice(&bytes).map_err(|e| DiskError::Corrupt {
                    disk: 0,
                    shard: IDENTITY_FILE.into(),
                    detail: format!("{}: {e}", p.display()),
                })?;
                if ident.format != IDENTITY_FORMAT {
                    return Err(DiskError::Invalid {
                        detail: format!(
                            "{} has identity format {}, and this build reads format {IDENTITY_FORMAT}: the disk was written by another Kintsugi version; open it with that version",
                            p.display(),
                            ident.format
                        ),
                    });
                }
                Ok(Some(ident))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(0, &p)(e)),
        }
    }

    /// Initialise an empty directory as disk `id`: layout dirs and identity file, all fsync'd.
    pub fn format(root: &Path, id: u32, uuid: u128) -> DiskResult<()> {
        let e = |p: &Path| {
            let path = p.to_path_buf();
            move |source| DiskError::Io { disk: id, path, source }
        };
        fs::create_dir_all(root).map_err(e(root))?;
        let shards = root.join(SHARDS_DIR);
        fs::create_dir_all(&shards).map_err(e(&shards))?;
        for b in 0..=255u8 {
            let d = shards.join(format!("{b:02x}"));
            fs::create_dir_all(&d).map_err(e(&d))?;
        }
        sync_dir(&shards).map_err(e(&shards))?;
        let tmp = root.join(TMP_DIR);
        fs::create_dir_all(&tmp).map_err(e(&tmp))?;
        let ident = DiskIdentity { format: IDENTITY_FORMAT, disk_id: id, disk_uuid: format!("{uuid:032x}") };
        let body = serde_json::to_vec_pretty(&ident).map_err(|err| DiskError::Invalid { detail: err.to_string() })?;
        let tmp_ident = tmp.join(format!("{IDENTITY_FILE}.tmp"));
        {
            let mut f = File::create(&tmp_ident).map_err(e(&tmp_ident))?;
            f.write_all(&body).map_err(e(&tmp_ident))?;
            f.sync_all().map_err(e(&tmp_ident))?;
        }
        let final_ident = root.join(IDENTITY_FILE);
        fs::rename(&tmp_ident, &final_ident).map_err(e(&final_ident))?;
        sync_dir(root).map_err(e(root))?;
        Ok(())
    }

    /// Attach to a formatted disk directory and lock it. Fails only with
    /// [`DiskError::InUse`] when another process (or another open here) has the
    /// directory: a missing or foreign directory just makes the disk start out failed.
    pub fn open(root: &Path, id: u32, uuid: u128) -> DiskResult<Self> {
        let lock = match DirLock::acquire(root) {
            Ok(l) => Some(l),
            Err(e @ DiskError::InUse { .. }) => return Err(e),
            Err(_) => None, // missing or unreadable: check() below marks the disk failed
        };
        let d = Disk { id, root: root.to_path_buf(), uuid, failed: AtomicBool::new(false), lock: Mutex::new(lock) };
        d.check();
        Ok(d)
    }

    fn dir_lock(&self) -> std::sync::MutexGuard<'_, Option<DirLock>> {
        self.lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Disk id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Random identity written at format time.
    pub fn uuid(&self) -> u128 {
        self.uuid
    }

    /// Capacity and free bytes of the file system holding the disk (0, 0 when unreadable).
    pub fn space(&self) -> (u64, u64) {
        fs_space(&self.root)
    }

    /// Disk root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// True when the disk is marked failed.
    pub fn is_failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    /// Re-check the identity file; marks the disk failed or healthy and returns health.
    pub fn check(&self) -> bool {
        let healthy = match Self::read_identity(&self.root) {
            Ok(Some(ident)) => ident.disk_id == self.id && ident.uuid(&self.root).ok() == Some(self.uuid),
            _ => false,
        } && self.root.join(SHARDS_DIR).is_dir()
            && self.root.join(TMP_DIR).is_dir();
        let healthy = healthy && {
            let mut lock = self.dir_lock();
            if lock.is_none() {
                match DirLock::acquire(&self.root) {
                    Ok(l) => *lock = Some(l),
                    Err(e) => tracing::error!(disk = self.id, path = %self.root.display(), error = %e, "cannot lock the disk directory"),
                }
            }
            lock.is_some()
        };
        if !healthy {
            self.dir_lock().take();
        }
        let was_failed = self.failed.swap(!healthy, Ordering::Relaxed);
        if was_failed == healthy {
            if healthy {
                tracing::info!(disk = self.id, path = %self.root.display(), "disk is healthy again");
            } else {
                tracing::error!(disk = self.id, path = %self.root.display(), "disk failed: identity file missing or foreign; no new shards go here");
            }
        }
        healthy
    }

    /// Mark the disk failed after an error that affects the whole disk.
    pub fn mark_failed(&self, why: &str) {
        if !self.failed.swap(true, Ordering::Relaxed) {
            tracing::error!(disk = self.id, path = %self.root.display(), why, "disk marked failed");
        }
        self.dir_lock().take();
    }

    fn ensure_usable(&self) -> DiskResult<()> {
        if self.is_failed() {
            return Err(DiskError::DiskFailed { disk: self.id });
        }
        Ok(())
    }

    /// File name of a shard: `<segment id hex>-<index hex>.shard`.
    pub fn shard_name(segment: u128, index: u8) -> String {
        format!("{segment:032x}-{index:02x}.shard")
    }

    fn shard_dir(&self, segment: u128) -> PathBuf {
        let fan = u8::try_from(segment >> 120).unwrap_or(0);
        self.root.join(SHARDS_DIR).join(format!("{fan:02x}"))
    }

    /// Path of a shard file (for tools and tests; keys never appear in it).
    pub fn shard_path(&self, segment: u128, index: u8) -> PathBuf {
        self.shard_dir(segment).join(Self::shard_name(segment, index))
    }

    /// Turn an I/O error into a disk-level failure when the disk itself is gone.
    fn classify(&self, path: &Path, err: std::io::Error, shard: Option<String>) -> DiskError {
        let root_ok = self.root.join(IDENTITY_FILE).is_file();
        if !root_ok {
            self.mark_failed("identity file unreadable after an I/O error");
            return DiskError::DiskGone {
                disk: self.id,
                path: self.root.clone(),
                detail: format!("{}: {err}", path.display()),
            };
        }
        match (err.kind(), shard) {
            (std::io::ErrorKind::NotFound, Some(shard)) => DiskError::Missing { disk: self.id, shard },
            _ => DiskError::io(self.id, path, err),
        }
    }

    /// Start writing a shard under a temporary name.
    pub fn create_shard(&self, header: ShardHeader) -> DiskResult<ShardWriter> {
        self.ensure_usable()?;
        let name = Self::shard_name(header.segment_id, header.index);
        let tmp_path = self.root.join(TMP_DIR).join(format!("{name}.{:016x}.tmp", rand::random::<u64>()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp_path)
            .map_err(|e| self.classify(&tmp_path, e, None))?;
        // The fixed part is written again when finished; the label, right after it, is final.
        let mut start = vec![0u8; HEADER_LEN as usize];
        start.extend_from_slice(&header.label);
        file.write_all_at(&start, 0).map_err(|e| self.classify(&tmp_path, e, None))?;
        Ok(ShardWriter {
            data_start: header.encoded_len(),
            disk: self.id,
            root: self.root.clone(),
            file,
            final_dir: self.shard_dir(header.segment_id),
            final_path: self.shard_path(header.segment_id, header.index),
            tmp_path,
            header,
            hashes: Vec::new(),
            data_len: 0,
            done: false,
        })
    }

    /// Open a shard for reading and verify its header and hash table, and — if
    /// given — that the hash table matches the manifest's shard hash.
    pub fn open_shard(&self, segment: u128, index: u8, expected: Option<&[u8; 32]>) -> DiskResult<ShardReader> {
        self.ensure_usable()?;
        let name = Self::shard_name(segment, index);
        let path = self.shard_path(segment, index);
        let file = File::open(&path).map_err(|e| self.classify(&path, e, Some(name.clone())))?;
        let corrupt = |detail: String| DiskError::Corrupt { disk: self.id, shard: name.clone(), detail };
        let size = file.metadata().map_err(|e| self.classify(&path, e, Some(name.clone())))?.len();
        let mut hb = [0u8; HEADER_LEN as usize];
        if size < HEADER_LEN {
            return Err(corrupt(format!("file is {size} bytes, shorter than its header")));
        }
        file.read_exact_at(&mut hb, 0).map_err(|e| self.classify(&path, e, Some(name.clone())))?;
        let label_len = ShardHeader::label_len(&hb).map_err(|e| corrupt(e.to_string()))?;
        let header = if label_len == 0 {
            ShardHeader::decode(&hb)
        } else {
            if size < HEADER_LEN + label_len as u64 {
                return Err(corrupt(format!("file is {size} bytes, shorter than its header and label")));
            }
            let mut whole = vec![0u8; HEADER_LEN as usize + label_len];
            file.read_exact_at(&mut whole, 0).map_err(|e| self.classify(&path, e, Some(name.clone())))?;
            ShardHeader::decode(&whole)
        }
        .map_err(|e| corrupt(e.to_string()))?;
        if header.segment_id != segment || header.index != index {
            return Err(corrupt("header names another shard".into()));
        }
        let data_start = header.encoded_len();
        let table_len = u64::from(header.chunks) * 32;
        let want = data_start.checked_add(header.data_len).and_then(|v| v.checked_add(table_len));
        if want != Some(size) {
            return Err(corrupt(format!("file is {size} bytes, header implies {want:?}")));
        }
        let mut table = vec![0u8; usize::try_from(table_len).map_err(|_| corrupt("hash table too large".into()))?];
        file.read_exact_at(&mut table, data_start + header.data_len)
            .map_err(|e| self.classify(&path, e, Some(name.clone())))?;
        let hashes: Vec<ChunkHash> = table
            .chunks_exact(32)
            .map(|c| {
                let mut h = [0u8; 32];
                h.copy_from_slice(c);
                h
            })
            .collect();
        if let Some(exp) = expected {
            if &shard_hash(&hashes) != exp {
                return Err(corrupt("chunk hash table does not match the manifest".into()));
            }
        }
        Ok(ShardReader { disk: self.id, name, path, file, header, hashes, data_start })
    }

    /// Delete a shard file (and fsync the directory). Returns false if it was not there.
    pub fn delete_shard(&self, segment: u128, index: u8) -> DiskResult<bool> {
        self.ensure_usable()?;
        let path = self.shard_path(segment, index);
        match fs::remove_file(&path) {
            Ok(()) => {
                let dir = self.shard_dir(segment);
                sync_dir(&dir).map_err(|e| self.classify(&dir, e, None))?;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && self.root.join(IDENTITY_FILE).is_file() => Ok(false),
            Err(e) => Err(self.classify(&path, e, None)),
        }
    }

    /// The shards on this disk after `after` (segment, index), in order, at most `limit`:
    /// for walking a disk page by page (metadata rebuild). Files whose names are not shard
    /// names are skipped.
    pub fn list_shards(&self, after: Option<(u128, u8)>, limit: usize) -> DiskResult<Vec<(u128, u8)>> {
        self.ensure_usable()?;
        let root = self.root.join(SHARDS_DIR);
        let first_fan = after.map_or(0, |(seg, _)| u8::try_from(seg >> 120).unwrap_or(0));
        let mut out = Vec::new();
        for fan in first_fan..=u8::MAX {
            let dir = root.join(format!("{fan:02x}"));
            let entries = match fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(self.classify(&dir, e, None)),
            };
            let mut found = Vec::new();
            for entry in entries {
                let entry = entry.map_err(|e| self.classify(&dir, e, None))?;
                if let Some(id) = entry.file_name().to_str().and_then(parse_shard_name) {
                    if after.is_none_or(|a| id > a) {
                        found.push(id);
                    }
                }
            }
            found.sort_unstable();
            for id in found {
                if out.len() == limit {
                    return Ok(out);
                }
                out.push(id);
            }
        }
        Ok(out)
    }

    /// Remove leftover temporary files (from a crash). Returns how many.
    pub fn clean_tmp(&self) -> DiskResult<usize> {
        self.ensure_usable()?;
        let tmp = self.root.join(TMP_DIR);
        let mut n = 0;
        for entry in fs::read_dir(&tmp).map_err(|e| self.classify(&tmp, e, None))? {
            let entry = entry.map_err(|e| self.classify(&tmp, e, None))?;
            if entry.file_name().to_string_lossy().ends_with(".tmp") {
                fs::remove_file(entry.path()).map_err(|e| self.classify(&tmp, e, None))?;
                n += 1;
            }
        }
        Ok(n)
    }
}

/// `<segment:032x>-<index:02x>.shard` back to its segment and index.
fn parse_shard_name(name: &str) -> Option<(u128, u8)> {
    let stem = name.strip_suffix(".shard")?;
    let (seg, idx) = stem.split_once('-')?;
    if seg.len() != 32 || idx.len() != 2 {
        return None;
    }
    Some((u128::from_str_radix(seg, 16).ok()?, u8::from_str_radix(idx, 16).ok()?))
}

/// A shard being written. Dropped without [`ShardWriter::finish`], its temp file is removed.
#[derive(Debug)]
pub struct ShardWriter {
    disk: u32,
    root: PathBuf,
    file: File,
    final_dir: PathBuf,
    final_path: PathBuf,
    tmp_path: PathBuf,
    header: ShardHeader,
    /// Where chunk data starts: after the header and its label.
    data_start: u64,
    hashes: Vec<ChunkHash>,
    data_len: u64,
    done: bool,
}

impl ShardWriter {
    fn fail(&self, path: &Path, source: std::io::Error) -> DiskError {
        if !self.root.join(IDENTITY_FILE).is_file() {
            return DiskError::DiskGone { disk: self.disk, path: self.root.clone(), detail: source.to_string() };
        }
        DiskError::io(self.disk, path, source)
    }

    /// Append one chunk and its BLAKE3 hash (computed by the caller, off this thread if it likes).
    pub fn append(&mut self, chunk: &[u8], hash: ChunkHash) -> DiskResult<()> {
        self.file
            .write_all_at(chunk, self.data_start + self.data_len)
            .map_err(|e| self.fail(&self.tmp_path.clone(), e))?;
        self.data_len += chunk.len() as u64;
        self.hashes.push(hash);
        Ok(())
    }

    /// Write the hash table and header, fsync, rename into place and fsync the
    /// directory. Only after this returns is the shard durable. Returns the shard hash.
    pub fn finish(mut self, segment_len: u64) -> DiskResult<[u8; 32]> {
        let mut table = Vec::with_capacity(self.hashes.len() * 32);
        for h in &self.hashes {
            table.extend_from_slice(h);
        }
        let tmp = self.tmp_path.clone();
        self.file
            .write_all_at(&table, self.data_start + self.data_len)
            .map_err(|e| self.fail(&tmp, e))?;
        self.header.segment_len = segment_len;
        self.header.data_len = self.data_len;
        self.header.chunks = u32::try_from(self.hashes.len()).map_err(|_| DiskError::Invalid {
            detail: "more than 2^32 chunks in one shard".into(),
        })?;
        self.file.write_all_at(&self.header.encode_fixed(), 0).map_err(|e| self.fail(&tmp, e))?;
        self.file.sync_all().map_err(|e| self.fail(&tmp, e))?;
        fs::rename(&self.tmp_path, &self.final_path).map_err(|e| self.fail(&tmp, e))?;
        self.done = true;
        let dir = self.final_dir.clone();
        sync_dir(&dir).map_err(|e| self.fail(&dir, e))?;
        Ok(shard_hash(&self.hashes))
    }
}

impl Drop for ShardWriter {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.tmp_path);
        }
    }
}

/// An open, header-verified shard.
#[derive(Debug)]
pub struct ShardReader {
    disk: u32,
    name: String,
    path: PathBuf,
    file: File,
    header: ShardHeader,
    hashes: Vec<ChunkHash>,
    data_start: u64,
}

/// Read `len` bytes at `at` into a new buffer that is never zeroed first (`pread` into its
/// spare capacity): a chunk read costs the copy from the page cache, not a memset as well.
fn read_fresh_at(file: &File, len: usize, at: u64) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(len);
    while buf.len() < len {
        let before = buf.len();
        match rustix::io::pread(file, rustix::buffer::spare_capacity(&mut buf), at + before as u64) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    buf.truncate(len); // the allocation may have held more than asked
    Ok(buf)
}

impl ShardReader {
    /// The verified header.
    pub fn header(&self) -> &ShardHeader {
        &self.header
    }

    /// Disk id.
    pub fn disk(&self) -> u32 {
        self.disk
    }

    /// Read chunk `index` (at `offset` within the chunk data, `len` bytes) and verify its BLAKE3.
    pub fn read_chunk(&self, index: u64, offset: u64, len: u32) -> DiskResult<Vec<u8>> {
        let corrupt = |detail: String| DiskError::Corrupt { disk: self.disk, shard: self.name.clone(), detail };
        let idx = usize::try_from(index).map_err(|_| DiskError::Invalid { detail: "chunk index".into() })?;
        let Some(expected) = self.hashes.get(idx) else {
            return Err(corrupt(format!("chunk {index} past the {} chunks in the file", self.hashes.len())));
        };
        if offset + u64::from(len) > self.header.data_len {
            return Err(corrupt(format!("chunk {index} ({offset}+{len}) past the shard data")));
        }
        let buf = read_fresh_at(&self.file, len as usize, self.data_start + offset).map_err(|source| DiskError::Io {
            disk: self.disk,
            path: self.path.clone(),
            source,
        })?;
        if &chunk_hash(&buf) != expected {
            return Err(corrupt(format!("chunk {index} fails its BLAKE3 check")));
        }
        Ok(buf)
    }

    /// The chunk hashes from the file's table.
    pub fn chunk_hashes(&self) -> &[ChunkHash] {
        &self.hashes
    }
}
