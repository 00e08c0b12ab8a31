//! A gateway's snapshot files, in `<meta>/raft-snapshots/`:
//!
//! - `*.snap`: snapshots, each a streamed export of the store (docs/formats.md §2.7); only the
//!   current one is kept (a leader sends it to gateways that lag behind its purged log);
//! - `current`: which one is current, `01` + postcard of (openraft `SnapshotMeta`, file name),
//!   replaced by temp file, fsync, rename, directory fsync;
//! - `pending`: a snapshot received whole and checked, handed to openraft to install, not yet
//!   imported (same form as `current`). openraft purges the log behind a snapshot as soon as
//!   it decides to install it, before the store has imported it: if the process stops in
//!   between, the next start finishes the install from this file (`StateMachine::recover`);
//! - `*.part`: a snapshot being built or received; removed at start (a stop interrupted it).
//!
//! A snapshot is never held in memory: it is built into a file, sent by openraft in chunks
//! read from that file, received into a file chunk by chunk. The current snapshot only moves
//! forward: a build that finishes after a newer snapshot was installed is dropped.
//!
//! A gateway from before this layout kept its snapshot whole in `<meta>/raft-snapshot`
//! (`01` + postcard of (`SnapshotMeta`, a version-1 export)); it is moved here on start.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use openraft::{AnyError, Snapshot};

use crate::state_machine::{err, Meta};
use crate::{decode, encode, TypeConfig};

const CURRENT: &str = "current";
const PENDING: &str = "pending";

/// The snapshot files of one gateway.
pub(crate) struct Snapshots {
    dir: PathBuf,
    current: Mutex<Option<(Meta, PathBuf)>>,
}

fn sync_dir(dir: &Path) -> Result<(), AnyError> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| AnyError::error(format!("syncing {}: {e}", dir.display())))
}

fn io<'a>(what: &str, path: &'a Path) -> impl Fn(std::io::Error) -> AnyError + 'a {
    let what = what.to_owned();
    move |e| AnyError::error(format!("{what} {}: {e}", path.display()))
}

impl Snapshots {
    /// The snapshots of the gateway whose `--meta` directory is `meta_dir`.
    pub(crate) fn open(meta_dir: &Path) -> Result<Self, AnyError> {
        let dir = meta_dir.join("raft-snapshots");
        if !dir.is_dir() {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir).map_err(io("creating", &dir))?;
        }
        let mut current = load_record(&dir, CURRENT)?;
        if current.is_none() {
            current = move_legacy(meta_dir, &dir)?;
        }
        let pending = load_record(&dir, PENDING)?;
        for entry in std::fs::read_dir(&dir).map_err(io("listing", &dir))? {
            let path = entry.map_err(io("listing", &dir))?.path();
            let keep = path.file_name().is_some_and(|n| n == CURRENT || n == PENDING) || [&current, &pending].iter().any(|r| r.as_ref().is_some_and(|(_, p)| *p == path));
            if !keep {
                std::fs::remove_file(&path).map_err(io("removing", &path))?;
            }
        }
        Ok(Self { dir, current: Mutex::new(current) })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Option<(Meta, PathBuf)>>, AnyError> {
        self.current.lock().map_err(|_| poisoned())
    }

    fn fresh(&self, prefix: &str) -> PathBuf {
        self.dir.join(format!("{prefix}-{:016x}.part", rand::random::<u64>()))
    }

    /// Where to build a snapshot.
    pub(crate) fn build_path(&self) -> PathBuf {
        self.fresh("build")
    }

    /// A new file to receive a snapshot into (the receiver removes it if the transfer is
    /// dropped; a stop leaves it to the next start, which removes every part file).
    pub(crate) async fn receive_file(&self) -> Result<(PathBuf, tokio::fs::File), AnyError> {
        let path = self.fresh("recv");
        let f = tokio::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path).await.map_err(io("creating", &path))?;
        Ok((path, f))
    }

    /// Record `file` (a checked snapshot file of this directory) as the snapshot about to be
    /// installed, durably: from here on a stop is finished by the next start.
    pub(crate) fn set_pending(&self, meta: &Meta, file: &Path) -> Result<(), AnyError> {
        write_record(&self.dir, PENDING, meta, file)
    }

    /// The snapshot about to be installed, if one is recorded.
    pub(crate) fn pending(&self) -> Result<Option<(Meta, PathBuf)>, AnyError> {
        load_record(&self.dir, PENDING)
    }

    /// Forget the pending snapshot if it is `file` (whatever it is if `None`: also a record
    /// that is unreadable or names a missing file), and remove its file unless it is the current
    /// snapshot's.
    pub(crate) fn clear_pending(&self, file: Option<&Path>) -> Result<(), AnyError> {
        let cur = self.lock()?;
        let path = self.dir.join(PENDING);
        if !path.exists() {
            return Ok(());
        }
        let pending = load_record(&self.dir, PENDING)?.map(|(_, p)| p);
        if let Some(f) = file {
            if pending.as_deref() != Some(f) {
                return Ok(());
            }
        }
        std::fs::remove_file(&path).map_err(io("removing", &path))?;
        sync_dir(&self.dir)?;
        if let Some(p) = pending {
            if cur.as_ref().is_none_or(|(_, c)| *c != p) {
                std::fs::remove_file(&p).ok();
            }
        }
        Ok(())
    }

    /// A snapshot built or received (synced) at `part` becomes a snapshot file.
    pub(crate) fn finish(&self, part: &Path) -> Result<PathBuf, AnyError> {
        let file = part.with_extension("snap");
        std::fs::rename(part, &file).map_err(io("renaming", part))?;
        sync_dir(&self.dir)?;
        Ok(file)
    }

    /// Make `file` (a snapshot file of this directory) the current snapshot, unless a newer one
    /// already is (then `file` is removed). The one it replaces is removed.
    pub(crate) fn set_current(&self, meta: &Meta, file: &Path) -> Result<(), AnyError> {
        let mut cur = self.lock()?;
        if cur.as_ref().is_some_and(|(m, _)| m.last_log_id > meta.last_log_id) {
            if load_record(&self.dir, PENDING)?.is_none_or(|(_, p)| p != file) {
                std::fs::remove_file(file).ok();
            }
            return Ok(());
        }
        let pending = load_record(&self.dir, PENDING)?.map(|(_, p)| p);
        write_record(&self.dir, CURRENT, meta, file)?;
        if let Some((_, old)) = cur.replace((meta.clone(), file.to_path_buf())) {
            if old != file && pending.as_ref() != Some(&old) {
                std::fs::remove_file(&old).ok();
            }
        }
        Ok(())
    }

    /// How far the current snapshot reaches (`None`: there is none).
    pub(crate) fn current_log_id(&self) -> Result<Option<openraft::LogId<u64>>, AnyError> {
        Ok(self.lock()?.as_ref().and_then(|(m, _)| m.last_log_id))
    }

    /// The current snapshot, its data an open file read from the start.
    pub(crate) async fn open_current(&self) -> Result<Option<Snapshot<TypeConfig>>, AnyError> {
        // Twice: a newer snapshot may replace (and remove) the file between the look and the open.
        for _ in 0..2 {
            let Some((meta, path)) = self.lock()?.clone() else {
                return Ok(None);
            };
            match tokio::fs::File::open(&path).await {
                Ok(f) => return Ok(Some(Snapshot { meta, snapshot: Box::new(f) })),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io("opening", &path)(e)),
            }
        }
        Err(AnyError::error("the current snapshot kept being replaced while it was opened"))
    }
}

fn poisoned() -> AnyError {
    AnyError::error("the snapshot list's lock was poisoned")
}

/// Record `file` (in `dir`) under `record` (`current` or `pending`): temp file, fsync, rename,
/// directory fsync.
fn write_record(dir: &Path, record: &str, meta: &Meta, file: &Path) -> Result<(), AnyError> {
    let name = file.file_name().and_then(|n| n.to_str()).ok_or_else(|| AnyError::error(format!("{} is not a snapshot file", file.display())))?;
    let bytes = encode(&(meta, name)).map_err(err)?;
    let path = dir.join(record);
    let tmp = dir.join(format!("{record}.tmp"));
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(io("writing", &path))?;
    sync_dir(dir)
}

/// The snapshot `dir/<record>` names (`current` or `pending`), if it and its file exist.
fn load_record(dir: &Path, record: &str) -> Result<Option<(Meta, PathBuf)>, AnyError> {
    let path = dir.join(record);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("reading", &path)(e)),
    };
    let (meta, name): (Meta, String) = match decode(&bytes) {
        Ok(x) => x,
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "a snapshot record is unreadable; it is ignored");
            return Ok(None);
        }
    };
    if name.contains('/') || !name.ends_with(".snap") {
        return Err(AnyError::error(format!("{} names {name:?}, which is not a snapshot file", path.display())));
    }
    let file = dir.join(name);
    if !file.is_file() {
        tracing::warn!(file = %file.display(), record, "the file a snapshot record names is missing; the record is ignored");
        return Ok(None);
    }
    Ok(Some((meta, file)))
}

/// Move the snapshot of a gateway from before `raft-snapshots/` into it (its data, a
/// version-1 export, is served and imported as it is).
fn move_legacy(meta_dir: &Path, dir: &Path) -> Result<Option<(Meta, PathBuf)>, AnyError> {
    let legacy = meta_dir.join("raft-snapshot");
    let bytes = match std::fs::read(&legacy) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("reading", &legacy)(e)),
    };
    let (meta, data): (Meta, Vec<u8>) = decode(&bytes).map_err(|e| AnyError::error(format!("{}: {e}", legacy.display())))?;
    drop(bytes);
    let file = dir.join(format!("legacy-{:016x}.snap", rand::random::<u64>()));
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&file)?;
        f.write_all(&data)?;
        f.sync_all()
    };
    write().map_err(io("writing", &file))?;
    write_record(dir, CURRENT, &meta, &file)?;
    std::fs::remove_file(&legacy).map_err(io("removing", &legacy))?;
    sync_dir(meta_dir)?;
    tracing::info!(snapshot = %meta, "moved the metadata snapshot into raft-snapshots/");
    Ok(Some((meta, file)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::{CommittedLeaderId, LogId, StoredMembership};

    /// A finished snapshot file holding `name`, as a build leaves it.
    fn snapshot_file(s: &Snapshots, name: &str) -> PathBuf {
        let p = s.build_path();
        std::fs::write(&p, name).expect("write");
        s.finish(&p).expect("finished")
    }

    fn meta_at(index: u64) -> Meta {
        Meta { last_log_id: Some(LogId::new(CommittedLeaderId::new(1, 0), index)), last_membership: StoredMembership::default(), snapshot_id: format!("s{index}") }
    }

    #[test]
    fn a_snapshot_left_by_an_older_gateway_is_moved_into_the_directory_and_served() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = b"\x01an old export, served as it is".to_vec();
        std::fs::write(dir.path().join("raft-snapshot"), encode(&(meta_at(7), &data)).expect("encode")).expect("write");
        let s = Snapshots::open(dir.path()).expect("open");
        assert!(!dir.path().join("raft-snapshot").exists(), "the old file is gone");
        let (meta, file) = s.current.lock().expect("lock").clone().expect("a current snapshot");
        assert_eq!(meta, meta_at(7));
        assert_eq!(std::fs::read(&file).expect("read"), data);
        // And it stays current across a restart.
        drop(s);
        let s = Snapshots::open(dir.path()).expect("reopen");
        assert_eq!(s.current.lock().expect("lock").clone().map(|(m, _)| m), Some(meta_at(7)));
    }

    /// The two guards the install's crash safety rests on: making a snapshot current never
    /// removes the pending snapshot's file, and clearing the pending record never removes the
    /// current snapshot's file. A record naming a missing file is cleared too.
    #[test]
    fn the_pending_and_current_snapshots_never_remove_each_others_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Snapshots::open(dir.path()).expect("open");
        let make = |name: &str| snapshot_file(&s, name);
        let (a, b) = (make("a"), make("b"));
        s.set_current(&meta_at(5), &a).expect("current a");
        s.set_pending(&meta_at(9), &a).expect("a pending too");
        s.set_current(&meta_at(7), &b).expect("current b");
        assert!(a.exists(), "replacing the current snapshot kept the pending one's file");
        s.set_current(&meta_at(6), &a).expect("older than current: dropped");
        assert!(a.exists(), "an older snapshot that is pending keeps its file");
        s.set_pending(&meta_at(7), &b).expect("b pending");
        s.clear_pending(Some(&a)).expect("not the pending one: nothing");
        assert_eq!(s.pending().expect("read").map(|(_, p)| p), Some(b.clone()));
        s.clear_pending(Some(&b)).expect("clear");
        assert!(b.exists(), "clearing the pending record kept the current snapshot's file");
        assert_eq!(s.pending().expect("read"), None);
        // A pending record whose file is gone (load_record ignores it) is still cleared.
        s.set_pending(&meta_at(9), &a).expect("a pending");
        std::fs::remove_file(&a).expect("remove");
        s.clear_pending(None).expect("clear");
        assert!(!dir.path().join("raft-snapshots/pending").exists());
        // A pending snapshot survives a restart; it is not current, nor a leftover.
        let c = make("c");
        s.set_pending(&meta_at(11), &c).expect("c pending");
        drop(s);
        let s = Snapshots::open(dir.path()).expect("reopen");
        assert_eq!(s.pending().expect("read"), Some((meta_at(11), c.clone())));
        assert!(c.exists() && b.exists());
    }

    #[test]
    fn the_current_snapshot_only_moves_forward_and_leftovers_are_removed_at_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Snapshots::open(dir.path()).expect("open");
        let make = |name: &str| snapshot_file(&s, name);
        let (ten, five) = (make("ten"), make("five"));
        s.set_current(&meta_at(10), &ten).expect("set");
        s.set_current(&meta_at(5), &five).expect("an older one is dropped");
        assert!(!five.exists(), "the older snapshot's file is removed");
        assert_eq!(s.current.lock().expect("lock").clone().map(|(m, _)| m), Some(meta_at(10)));
        let twelve = make("twelve");
        s.set_current(&meta_at(12), &twelve).expect("set");
        assert!(!ten.exists(), "the replaced snapshot's file is removed");
        // A stop in the middle of a build leaves a part file; the next start removes it.
        std::fs::write(s.build_path(), b"half").expect("write");
        drop(s);
        let s = Snapshots::open(dir.path()).expect("reopen");
        let mut names: Vec<_> = std::fs::read_dir(dir.path().join("raft-snapshots")).expect("dir").map(|e| e.expect("entry").path()).collect();
        names.sort();
        assert_eq!(names, vec![dir.path().join("raft-snapshots/current"), twelve.clone()].into_iter().collect::<std::collections::BTreeSet<_>>().into_iter().collect::<Vec<_>>());
        assert_eq!(s.current.lock().expect("lock").clone(), Some((meta_at(12), twelve)));
    }
}
