//! Metadata backups: `GET /kintsugi-admin/v1/meta/backup` streams a consistent copy of this
//! gateway's metadata — a RocksDB checkpoint taken while serving, and in a cluster the CA and
//! join secret beside it — as a tar archive, which `kintsugi admin meta backup DIR` unpacks and
//! `--restore DIR` starts a new store from. Memory stays bounded: the archive is written on a
//! blocking thread into a small channel that the HTTP body drains.
//!
//! Archive layout (format 1; docs/formats.md §4.6):
//! - `kintsugi-backup.json`: a [`BackupManifest`] (format, kind, time, the files that follow);
//! - `db/…`: the checkpoint's files;
//! - `cluster/…`: a gateway's `ca.pem`, `ca.key` and `join-secret` (none in the embedded store);
//! - `kintsugi-backup-end.json`: a [`BackupEnd`] with the count and bytes of the files above,
//!   last, so a reader tells a whole archive from one cut short.

use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::error::GwResult;
use kintsugi_cluster::{ClusterError, Store};

/// Name of the manifest, the archive's first entry.
pub const BACKUP_MANIFEST: &str = "kintsugi-backup.json";
/// Name of the end record, the archive's last entry.
pub const BACKUP_END: &str = "kintsugi-backup-end.json";
/// The archive format this build writes and reads.
pub const BACKUP_FORMAT: u32 = 1;

/// What a backup is of, and so where `--restore` puts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupKind {
    /// `kintsugi server`: the database is the `--meta` directory itself.
    Embedded,
    /// `kintsugi gateway`: the database is `--meta`/db, the cluster secrets `--meta`/cluster.
    Gateway,
}

/// The first entry of an archive.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BackupManifest {
    /// Archive format ([`BACKUP_FORMAT`]).
    pub format: u32,
    /// Embedded store or gateway.
    pub kind: BackupKind,
    /// When the checkpoint was taken, ms since the Unix epoch.
    pub created_ms: i64,
    /// The files that follow, as archive paths (`db/…`, `cluster/…`).
    pub files: Vec<String>,
}

/// The last entry of an archive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupEnd {
    /// Files between the manifest and this record.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// Where a gateway's metadata lives, for its backups.
#[derive(Clone, Debug)]
pub struct BackupSource {
    /// Embedded store or gateway.
    pub kind: BackupKind,
    /// The cluster secrets directory (`--meta`/cluster), in a gateway.
    pub secrets: Option<PathBuf>,
}

/// A `Write` that hands full blocks to the HTTP body (blocking: called on a blocking thread).
struct ChannelWriter {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

const BLOCK: usize = 256 * 1024;

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let block = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(BLOCK)));
        self.tx.blocking_send(Ok(block)).map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client stopped reading the backup"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= BLOCK {
            self.send()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// Removes the checkpoint directory however the backup ends.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            tracing::warn!(path = %self.0.display(), error = %e, "could not remove a backup checkpoint; delete it by hand");
        }
    }
}

/// Take a checkpoint now and stream it as an archive. The checkpoint is taken before this
/// returns (so an error there is the request's answer); the archive streams afterwards.
pub async fn backup_stream(store: &Store, src: &BackupSource) -> GwResult<mpsc::Receiver<Result<Bytes, std::io::Error>>> {
    let db = store.meta.path().to_path_buf();
    let name = db.file_name().map_or_else(|| "meta".into(), |n| n.to_string_lossy().into_owned());
    // Beside the database, on its file system (RocksDB hard-links the table files), in a
    // directory only the owner may enter: the checkpoint holds every secret the store does.
    let dir = db.with_file_name(format!(".{name}.backup-{:016x}", rand::random::<u64>()));
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().mode(0o700).create(&dir).map_err(|e| ClusterError::Internal(format!("creating {}: {e}", dir.display())))?;
    }
    let guard = TempDir(dir);
    let cp = guard.0.join("checkpoint");
    let meta = store.meta.clone();
    let at = cp.clone();
    tokio::task::spawn_blocking(move || meta.checkpoint(&at)).await.map_err(ClusterError::from)?.map_err(ClusterError::from)?;
    let (tx, rx) = mpsc::channel(4);
    let (kind, secrets) = (src.kind, src.secrets.clone());
    tokio::task::spawn_blocking(move || {
        let err_tx = tx.clone();
        let mut w = ChannelWriter { tx, buf: Vec::with_capacity(BLOCK) };
        if let Err(e) = write_archive(&cp, secrets.as_deref(), kind, &mut w) {
            tracing::warn!(error = %e, "metadata backup stopped");
            let _ = err_tx.blocking_send(Err(e));
        }
        drop(guard);
    });
    Ok(rx)
}

/// The files of the checkpoint in `db` and of `secrets`, as (archive path, file).
fn backup_files(db: &Path, secrets: Option<&Path>) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let mut add_dir = |dir: &Path, prefix: &str| -> std::io::Result<()> {
        let mut names: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<Vec<_>, _>>()?;
        names.sort_by_key(std::fs::DirEntry::file_name);
        for e in names {
            if e.file_type()?.is_file() {
                out.push((format!("{prefix}/{}", e.file_name().to_string_lossy()), e.path()));
            }
        }
        Ok(())
    };
    add_dir(db, "db")?;
    if let Some(s) = secrets {
        add_dir(s, "cluster")?;
    }
    Ok(out)
}

fn write_archive(db: &Path, secrets: Option<&Path>, kind: BackupKind, w: &mut ChannelWriter) -> std::io::Result<()> {
    let files = backup_files(db, secrets)?;
    let manifest = BackupManifest { format: BACKUP_FORMAT, kind, created_ms: kintsugi_meta::now_ms(), files: files.iter().map(|(n, _)| n.clone()).collect() };
    let mut tar = tar::Builder::new(w);
    append_json(&mut tar, BACKUP_MANIFEST, &manifest)?;
    let mut bytes = 0u64;
    for (name, path) in &files {
        let mut f = std::fs::File::open(path)?;
        bytes += f.metadata()?.len();
        tar.append_file(name, &mut f)?;
    }
    append_json(&mut tar, BACKUP_END, &BackupEnd { files: files.len() as u64, bytes })?;
    let w = tar.into_inner()?;
    w.flush()
}

fn append_json<W: Write, T: Serialize>(tar: &mut tar::Builder<W>, name: &str, v: &T) -> std::io::Result<()> {
    let body = serde_json::to_vec_pretty(v).map_err(std::io::Error::other)?;
    let mut h = tar::Header::new_gnu();
    h.set_size(body.len() as u64);
    h.set_mode(0o600);
    h.set_mtime(u64::try_from(kintsugi_meta::now_ms() / 1000).unwrap_or(0));
    h.set_cksum();
    tar.append_data(&mut h, name, body.as_slice())
}
