//! Streamed exports: the whole store written to, and read back from, a file record by record,
//! so a snapshot of any size costs a buffer of memory, not a copy of the store.
//!
//! A gateway group's snapshots are these files (`crates/raft/src/state_machine.rs`): the
//! leader writes one from a RocksDB snapshot ([`RocksMeta::export_to`]), Raft sends it in
//! chunks, and a follower that receives one checks it whole ([`check_export_file`]) before it
//! replaces its store with it ([`RocksMeta::import_file`]).
//!
//! **Format (version 2, docs/formats.md §2.7).** The byte `02`, then items, each a tag byte:
//! `01` family (u32 LE length, the column family's name: the records after it are that
//! family's), `02` record (u32 LE key length, key, u32 LE value length, value; keys strictly
//! ascending within a family), `00` end (u64 LE number of records), then the 32-byte BLAKE3
//! hash of every byte before it. Nothing may follow. Version 1 (one postcard value, read whole)
//! is still imported: a snapshot an older gateway sent or left on disk.
//!
//! **Crash safety of an import.** An import cannot be one write batch (that would hold the
//! whole store in memory), so it is made redoable instead: after the file is checked and
//! synced, one synced batch removes the stamp and records a marker naming the file and the
//! stamp to write; then the families are cleared and the records written in batches of a few
//! MiB; the last batch writes the stamp and removes the marker, synced. A store opened with
//! the marker present finishes the import from the file before anything reads it
//! ([`RocksMeta::open`]), so a crash leaves the old store's stamp-less ruins only until the
//! next start. An export or checkpoint waits for a running import to finish (they share a lock)
//! and refuses a store whose import failed midway, so neither copies a half-imported store.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use rocksdb::{IteratorMode, ReadOptions, WriteBatch, WriteOptions};
use serde::{Deserialize, Serialize};

use crate::error::{MetaError, MetaResult};
use crate::store::{RocksMeta, ALL_CFS, CF_SYSTEM};

/// The streamed export's version byte (version 1 is the postcard export of `replica.rs`).
pub const STREAM_VERSION: u8 = 2;
const TAG_END: u8 = 0;
const TAG_FAMILY: u8 = 1;
const TAG_RECORD: u8 = 2;
/// System-family key of an unfinished import's marker.
pub(crate) const KEY_IMPORTING: &[u8] = b"importing-snapshot";
/// An import writes its records in batches of about this many bytes.
const IMPORT_BATCH_BYTES: usize = 4 << 20;
/// The longest key and value a streamed export may hold (far above any record the store makes:
/// keys are names, the largest values manifests of objects of many segments). A reader never
/// allocates more for one record, whatever lengths an untrusted file claims.
const MAX_KEY: u64 = 64 << 10;
const MAX_VALUE: u64 = 256 << 20;

/// What [`RocksMeta::export_to`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportSummary {
    /// The stamp of the store at the export's point (left out of the records), if any.
    pub stamp: Option<Vec<u8>>,
    /// Records written.
    pub records: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// The marker of an unfinished import (system family, [`KEY_IMPORTING`]).
#[derive(Serialize, Deserialize)]
struct ImportMarker {
    /// The snapshot file: relative to the directory holding the store's own directory when it
    /// lies inside it, else absolute (and always absolute in markers of older gateways).
    file: String,
    stamp: Vec<u8>,
}

/// The refusal to copy a store whose import failed midway (a restart finishes it).
pub(crate) fn half_imported() -> MetaError {
    MetaError::NotCommitted {
        command: "copy of the store",
        detail: "a snapshot import failed midway; restart this gateway to finish it before copying its metadata".into(),
    }
}

fn corrupt(detail: impl Into<String>) -> MetaError {
    MetaError::Corrupt { what: "export", detail: detail.into() }
}

fn file_err<'a>(path: &'a Path, what: &'static str) -> impl Fn(std::io::Error) -> MetaError + 'a {
    move |source| MetaError::File { path: path.display().to_string(), what, source }
}

/// A writer that hashes and counts what passes through it.
struct Hashing<W> {
    inner: W,
    hash: blake3::Hasher,
    bytes: u64,
}

impl<W: Write> Hashing<W> {
    fn put(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.hash.update(b);
        self.bytes += b.len() as u64;
        self.inner.write_all(b)
    }

    fn put_len(&mut self, len: usize) -> std::io::Result<()> {
        let len = u32::try_from(len).map_err(|_| std::io::Error::other("a key or value over 4 GiB cannot be exported"))?;
        self.put(&len.to_le_bytes())
    }
}

impl RocksMeta {
    /// Write every record of the store at one consistent point (a RocksDB snapshot) to `out`
    /// in the streamed format, the stamp left out and returned. Memory: one record at a time.
    pub fn export_to(&self, out: impl Write) -> MetaResult<ExportSummary> {
        let snap = {
            let _no_import = self.import_lock.lock();
            if self.importing() {
                return Err(half_imported());
            }
            self.db().snapshot()
        };
        let io = |e: std::io::Error| MetaError::File { path: "(export)".into(), what: "writing an export", source: e };
        let mut w = Hashing { inner: out, hash: blake3::Hasher::new(), bytes: 0 };
        w.put(&[STREAM_VERSION]).map_err(io)?;
        let (mut stamp, mut records) = (None, 0u64);
        for name in ALL_CFS {
            let mut ro = ReadOptions::default();
            ro.set_snapshot(&snap);
            let mut named = false;
            for item in self.db().iterator_cf_opt(self.cf(name)?, ro, IteratorMode::Start) {
                let (k, v) = item.map_err(MetaError::db("export"))?;
                if name == CF_SYSTEM && &*k == crate::replica::KEY_STAMP {
                    stamp = Some(v.to_vec());
                    continue;
                }
                if !named {
                    // A family without records is left out (the importer clears every family).
                    w.put(&[TAG_FAMILY]).map_err(io)?;
                    w.put_len(name.len()).map_err(io)?;
                    w.put(name.as_bytes()).map_err(io)?;
                    named = true;
                }
                if k.len() as u64 > MAX_KEY || v.len() as u64 > MAX_VALUE {
                    return Err(MetaError::Encode { detail: format!("a record of {name} with a {}-byte key and a {}-byte value is beyond what a snapshot may hold", k.len(), v.len()) });
                }
                w.put(&[TAG_RECORD]).map_err(io)?;
                w.put_len(k.len()).map_err(io)?;
                w.put(&k).map_err(io)?;
                w.put_len(v.len()).map_err(io)?;
                w.put(&v).map_err(io)?;
                records += 1;
            }
        }
        w.put(&[TAG_END]).map_err(io)?;
        w.put(&records.to_le_bytes()).map_err(io)?;
        let hash = *w.hash.finalize().as_bytes();
        w.inner.write_all(&hash).map_err(io)?;
        w.inner.flush().map_err(io)?;
        Ok(ExportSummary { stamp, records, bytes: w.bytes + 32 })
    }

    /// Write an export to the file `path` (created or truncated), synced before it returns.
    pub fn export_file(&self, path: &Path) -> MetaResult<ExportSummary> {
        let f = File::create(path).map_err(file_err(path, "creating a snapshot file"))?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        let summary = self.export_to(&mut w)?;
        let f = w.into_inner().map_err(|e| file_err(path, "writing a snapshot file")(e.into_error()))?;
        f.sync_all().map_err(file_err(path, "syncing a snapshot file"))?;
        Ok(summary)
    }

    /// Replace every record of the store with those of the export in the file `path` (either
    /// version), and write `stamp`. The file is checked whole first: one that is damaged,
    /// truncated or of an unknown version changes nothing. The file must stay where it is
    /// until the import returns; after a crash during the import, [`RocksMeta::open`] reads
    /// it again to finish.
    pub fn import_file(&self, path: &Path, stamp: &[u8]) -> MetaResult<()> {
        self.import_file_upto(path, stamp, true, None)
    }

    /// [`RocksMeta::import_file`] of a file the caller has checked whole with
    /// [`check_export_file`] (and kept since): it is read once more, not twice. Should it have
    /// changed since, the import fails at its end (the hash) and stays unfinished: the store
    /// refuses to open until the file is good or the gateway rejoins.
    pub fn import_checked_file(&self, path: &Path, stamp: &[u8]) -> MetaResult<()> {
        self.import_file_upto(path, stamp, false, None)
    }

    /// [`RocksMeta::import_file`] (checking the file first if `check`), stopping (as a crash
    /// would) after `stop_after` records when that is given (tests).
    pub(crate) fn import_file_upto(&self, path: &Path, stamp: &[u8], check: bool, stop_after: Option<u64>) -> MetaResult<()> {
        let _one = self.import_lock.lock();
        if first_byte(path)? != STREAM_VERSION {
            let bytes = std::fs::read(path).map_err(file_err(path, "reading a snapshot file"))?;
            return self.import(&bytes, stamp);
        }
        if check {
            check_export_file(path)?;
        }
        let path = path.canonicalize().map_err(file_err(path, "finding a snapshot file"))?;
        // Named relative to the directory that holds the store when it is inside it (a
        // gateway's snapshots are), so the whole directory may move before a restart finishes.
        let home = self.path().parent().and_then(|h| h.canonicalize().ok());
        let named = home.as_ref().and_then(|h| path.strip_prefix(h).ok()).unwrap_or(&path);
        let marker = ImportMarker { file: named.to_string_lossy().into_owned(), stamp: stamp.to_vec() };
        let mut b = WriteBatch::default();
        b.put_cf(self.cf(CF_SYSTEM)?, KEY_IMPORTING, crate::types::encode(&marker)?);
        b.delete_cf(self.cf(CF_SYSTEM)?, crate::replica::KEY_STAMP);
        self.raw_write(b, true)?;
        self.redo_import(&path, stamp, stop_after)
    }

    /// `read`, unless a snapshot import ran during any of it: then `NotCommitted` (S3 503). For
    /// the reads that pass no read barrier and decide access or protection (a bucket's policy,
    /// public-access block, ownership, object lock, encryption, the bucket and key records):
    /// mid-import such a record may be missing, and a missing Deny or lock must not let a request
    /// through. A generation count (odd while an import runs) is taken before and after the
    /// read, so a read that overlaps an import's start or end refuses too.
    pub(crate) fn guarded<T>(&self, read: impl FnOnce() -> MetaResult<T>) -> MetaResult<T> {
        use std::sync::atomic::{fence, Ordering};
        let refused = || MetaError::NotCommitted {
            command: "local read",
            detail: "this gateway is installing a metadata snapshot from the group's leader; try again in a moment".into(),
        };
        let before = self.import_generation.load(Ordering::Acquire);
        if before % 2 == 1 {
            return Err(refused());
        }
        let value = read()?;
        fence(Ordering::Acquire);
        if self.import_generation.load(Ordering::Relaxed) != before {
            return Err(refused());
        }
        Ok(value)
    }

    /// Whether a snapshot import is running or was left unfinished by this process: its marker
    /// (naming its file) is in the store, so that file must stay.
    pub fn importing(&self) -> bool {
        self.import_generation.load(std::sync::atomic::Ordering::Acquire) % 2 == 1
    }

    /// Finish an import a crash interrupted (see the module docs); nothing to do without a
    /// marker. Called when the store opens.
    pub(crate) fn finish_interrupted_import(&self) -> MetaResult<()> {
        let Some(bytes) = self.get_raw(CF_SYSTEM, KEY_IMPORTING)? else { return Ok(()) };
        let marker: ImportMarker = crate::types::decode("import marker", &bytes)?;
        let named = PathBuf::from(&marker.file);
        let path = match self.path().parent() {
            Some(home) if named.is_relative() => home.join(named),
            _ => named,
        };
        tracing::warn!(file = %path.display(), "finishing a metadata snapshot import that a crash interrupted");
        check_export_file(&path).map_err(|e| MetaError::Corrupt {
            what: "interrupted snapshot import",
            detail: format!(
                "the store was being replaced by the snapshot {} when the process stopped, and that file cannot be read again ({e}); \
                 this gateway's metadata cannot be used: move its --meta directory away and join the group again",
                path.display()
            ),
        })?;
        let _one = self.import_lock.lock();
        self.redo_import(&path, &marker.stamp, None)
    }

    /// Clear every family (the marker kept), write the file's records, then the stamp with the
    /// marker removed (synced). Runs again whole after a crash.
    fn redo_import(&self, path: &Path, stamp: &[u8], stop_after: Option<u64>) -> MetaResult<()> {
        use std::sync::atomic::Ordering;
        if !self.importing() {
            self.import_generation.fetch_add(1, Ordering::AcqRel);
        }
        let whole = self.redo_import_inner(path, stamp, stop_after)?;
        // An import that failed or stopped leaves its marker: the store is whole again only after
        // the next start finishes it, so the guarded reads keep refusing until then.
        if whole {
            self.import_generation.fetch_add(1, Ordering::AcqRel);
        }
        Ok(())
    }

    /// Whether the import ran whole (`false`: stopped after `stop_after` records).
    fn redo_import_inner(&self, path: &Path, stamp: &[u8], stop_after: Option<u64>) -> MetaResult<bool> {
        let mut clear = WriteBatch::default();
        for name in ALL_CFS {
            let cf = self.cf(name)?;
            if name == CF_SYSTEM {
                for item in self.db().iterator_cf(cf, IteratorMode::Start) {
                    let (k, _) = item.map_err(MetaError::db("import"))?;
                    if &*k != KEY_IMPORTING {
                        clear.delete_cf(cf, k);
                    }
                }
            } else if let Some(item) = self.db().iterator_cf(cf, IteratorMode::End).next() {
                let (last, _) = item.map_err(MetaError::db("import"))?;
                let mut end = last.to_vec();
                end.push(0);
                clear.delete_range_cf(cf, &[][..], end.as_slice());
            }
        }
        self.raw_write(clear, false)?;
        let mut batch = WriteBatch::default();
        let (f, len) = open_file(path)?;
        let mut reader = Reader::new(f, len)?;
        let mut family: Option<&'static str> = None;
        let mut written = 0u64;
        while let Some(item) = reader.next_item()? {
            if stop_after.is_some_and(|n| written >= n) {
                return self.raw_write(batch, false).map(|()| false);
            }
            match item {
                Item::Family(name) => family = Some(known_family(&name)?),
                Item::Record(k, v) => {
                    let name = family.ok_or_else(|| corrupt("a record before any family"))?;
                    if name == CF_SYSTEM && (k == KEY_IMPORTING || k == crate::replica::KEY_STAMP) {
                        continue;
                    }
                    batch.put_cf(self.cf(name)?, k, v);
                    written += 1;
                    if batch.size_in_bytes() >= IMPORT_BATCH_BYTES {
                        self.raw_write(std::mem::take(&mut batch), false)?;
                    }
                }
            }
        }
        batch.put_cf(self.cf(CF_SYSTEM)?, crate::replica::KEY_STAMP, stamp);
        batch.delete_cf(self.cf(CF_SYSTEM)?, KEY_IMPORTING);
        self.raw_write(batch, true)?;
        self.load_domains()?;
        Ok(true)
    }

    /// A write batch as it is (no stamp added): the import's own batches.
    fn raw_write(&self, batch: WriteBatch, sync: bool) -> MetaResult<()> {
        let mut wo = WriteOptions::default();
        wo.set_sync(sync);
        self.db().write_opt(batch, &wo).map_err(MetaError::db("import"))
    }
}

fn known_family(name: &str) -> MetaResult<&'static str> {
    ALL_CFS.iter().copied().find(|n| *n == name).ok_or_else(|| corrupt(format!("unknown column family {name:?}")))
}

fn first_byte(path: &Path) -> MetaResult<u8> {
    let mut b = [0u8; 1];
    File::open(path).and_then(|mut f| f.read_exact(&mut b)).map_err(file_err(path, "reading a snapshot file"))?;
    Ok(b[0])
}

/// Check an export file whole without changing anything ([`check_export`]; a version-1 export
/// is decoded whole).
pub fn check_export_file(path: &Path) -> MetaResult<()> {
    if first_byte(path)? != STREAM_VERSION {
        let bytes = std::fs::read(path).map_err(file_err(path, "reading a snapshot file"))?;
        return crate::replica::decode_export(&bytes).map(|_| ());
    }
    let (f, len) = open_file(path)?;
    check_export(f, len)
}

/// Check a streamed export of `len` bytes read from `r`: version, item tags, lengths, known
/// families each named once, ascending keys, the record count and the hash, and nothing after
/// it. Untrusted bytes (a snapshot another gateway sent): errors, never a panic; memory bounded
/// by the largest record, which cannot be larger than `len`.
pub fn check_export(r: impl Read, len: u64) -> MetaResult<()> {
    let mut reader = Reader::new(r, len)?;
    let mut seen: Vec<&'static str> = Vec::new();
    let mut last: Option<Vec<u8>> = None;
    while let Some(item) = reader.next_item()? {
        match item {
            Item::Family(name) => {
                let name = known_family(&name)?;
                if seen.contains(&name) {
                    return Err(corrupt(format!("column family {name:?} appears twice")));
                }
                seen.push(name);
                last = None;
            }
            Item::Record(k, _) => {
                if seen.is_empty() {
                    return Err(corrupt("a record before any family"));
                }
                if last.as_ref().is_some_and(|l| *l >= k) {
                    return Err(corrupt("keys out of order"));
                }
                last = Some(k);
            }
        }
    }
    Ok(())
}

fn open_file(path: &Path) -> MetaResult<(BufReader<File>, u64)> {
    let f = File::open(path).map_err(file_err(path, "opening a snapshot file"))?;
    let len = f.metadata().map_err(file_err(path, "reading a snapshot file"))?.len();
    Ok((BufReader::with_capacity(1 << 20, f), len))
}

enum Item {
    Family(String),
    Record(Vec<u8>, Vec<u8>),
}

/// Reads a streamed export item by item, checking the count and hash at its end.
struct Reader<R> {
    inner: R,
    hash: blake3::Hasher,
    left: u64,
    records: u64,
    done: bool,
}

impl<R: Read> Reader<R> {
    fn new(inner: R, len: u64) -> MetaResult<Self> {
        let mut r = Self { inner, hash: blake3::Hasher::new(), left: len, records: 0, done: false };
        let v = r.take(1)?;
        if v[0] != STREAM_VERSION {
            return Err(corrupt(format!("format version {} is not a streamed export ({STREAM_VERSION})", v[0])));
        }
        Ok(r)
    }

    /// `n` bytes, hashed; never more than the file holds (so a length cannot make us allocate
    /// more than the file's size).
    fn take(&mut self, n: u64) -> MetaResult<Vec<u8>> {
        if n > self.left {
            return Err(corrupt(format!("truncated: {n} bytes announced, {} left", self.left)));
        }
        let n = usize::try_from(n).map_err(|_| corrupt("a length beyond this machine"))?;
        let mut buf = vec![0u8; n];
        self.inner.read_exact(&mut buf).map_err(|e| corrupt(format!("reading: {e}")))?;
        self.left -= n as u64;
        self.hash.update(&buf);
        Ok(buf)
    }

    fn take_len(&mut self) -> MetaResult<u64> {
        let b = self.take(4)?;
        Ok(u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
    }

    fn next_item(&mut self) -> MetaResult<Option<Item>> {
        if self.done {
            return Ok(None);
        }
        let tag = self.take(1)?[0];
        match tag {
            TAG_FAMILY => {
                let n = self.take_len()?;
                if n > 256 {
                    return Err(corrupt(format!("a family name of {n} bytes")));
                }
                let name = String::from_utf8(self.take(n)?).map_err(|_| corrupt("a family name that is not UTF-8"))?;
                Ok(Some(Item::Family(name)))
            }
            TAG_RECORD => {
                let n = self.take_len()?;
                if n > MAX_KEY {
                    return Err(corrupt(format!("a key of {n} bytes (at most {MAX_KEY})")));
                }
                let k = self.take(n)?;
                let n = self.take_len()?;
                if n > MAX_VALUE {
                    return Err(corrupt(format!("a value of {n} bytes (at most {MAX_VALUE})")));
                }
                let v = self.take(n)?;
                self.records += 1;
                Ok(Some(Item::Record(k, v)))
            }
            TAG_END => {
                let c = self.take(8)?;
                let count = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
                if count != self.records {
                    return Err(corrupt(format!("{} records, the end says {count}", self.records)));
                }
                let want = *self.hash.finalize().as_bytes();
                let mut got = [0u8; 32];
                if self.left != 32 {
                    return Err(corrupt(format!("{} bytes after the end, 32 expected (the hash)", self.left)));
                }
                self.inner.read_exact(&mut got).map_err(|e| corrupt(format!("reading the hash: {e}")))?;
                if got != want {
                    return Err(corrupt("the hash does not match the contents (damaged in transit or on disk)"));
                }
                self.done = true;
                Ok(None)
            }
            t => Err(corrupt(format!("unknown item tag {t}"))),
        }
    }
}

#[cfg(test)]
#[path = "export_tests.rs"]
mod tests;
