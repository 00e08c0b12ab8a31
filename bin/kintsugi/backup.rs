//! Metadata backups from the outside: `kintsugi admin meta backup DIR` downloads the gateway's
//! consistent checkpoint (a tar archive, `kintsugi_gateway::backup`) and unpacks it into DIR,
//! which appears only once it is whole; `kintsugi server|gateway --restore DIR` starts a store
//! from such a directory when its `--meta` holds none.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use http_body_util::BodyExt;
use kintsugi_gateway::{BackupEnd, BackupKind, BackupManifest, BACKUP_END, BACKUP_FORMAT, BACKUP_MANIFEST};

use crate::admin::AdminArgs;
use crate::clientconf;

/// Flags of `kintsugi admin meta backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Directory to write the backup into; it must not exist yet (it appears only once the
    /// backup is complete).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    #[command(flatten)]
    admin: AdminArgs,
}

/// `kintsugi admin meta backup DIR`.
pub fn backup(a: BackupArgs) -> Result<()> {
    if a.dir.exists() {
        bail!("{} exists already; name a new directory for the backup", a.dir.display());
    }
    let parent = match a.dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let name = a.dir.file_name().map_or_else(|| "backup".into(), |n| n.to_string_lossy().into_owned());
    let partial = parent.join(format!(".{name}.partial-{:08x}", rand::random::<u32>()));
    let result = download_and_unpack(&a, &partial);
    let manifest = match result {
        Ok(m) => m,
        Err(e) => {
            let _ = fs::remove_dir_all(&partial);
            return Err(e);
        }
    };
    fs::rename(&partial, &a.dir).with_context(|| format!("moving the backup into {}", a.dir.display()))?;
    sync_dir(&parent)?;
    if a.admin.json {
        println!("{}", serde_json::json!({ "dir": a.dir, "kind": manifest.kind, "created_ms": manifest.created_ms, "files": manifest.files.len() }));
    } else {
        println!("metadata backup written to {} ({} files, {:?} store); restore with `--restore {}`", a.dir.display(), manifest.files.len(), manifest.kind, a.dir.display());
    }
    Ok(())
}

fn download_and_unpack(a: &BackupArgs, partial: &Path) -> Result<BackupManifest> {
    {
        // It holds every access key's secret (and a gateway's CA key): private, like --meta.
        use std::os::unix::fs::DirBuilderExt;
        fs::DirBuilder::new().mode(0o700).create(partial).with_context(|| format!("creating {}", partial.display()))?;
    }
    let archive = partial.join(".download.tar");
    let resolved = clientconf::resolve(&a.admin.conn)?;
    let client = resolved.client()?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")?;
    rt.block_on(async {
        let mut body = client.admin_download("meta/backup", &[]).await.with_context(|| format!("admin API meta/backup at {} ({})", resolved.endpoint, resolved.source))?;
        let mut f = fs::File::create(&archive).with_context(|| format!("creating {}", archive.display()))?;
        while let Some(frame) = body.frame().await {
            let frame = frame.context("the backup download broke off; run the command again")?;
            if let Some(data) = frame.data_ref() {
                f.write_all(data).with_context(|| format!("writing {}", archive.display()))?;
            }
        }
        Ok::<_, anyhow::Error>(())
    })?;
    let manifest = unpack(&archive, partial)?;
    fs::remove_file(&archive).with_context(|| format!("removing {}", archive.display()))?;
    Ok(manifest)
}

/// Unpack the archive into `dir`, accepting only the entries its manifest names, and check
/// it ends with the end record that counts them.
fn unpack(archive: &Path, dir: &Path) -> Result<BackupManifest> {
    let f = fs::File::open(archive).with_context(|| format!("opening {}", archive.display()))?;
    let mut tar = tar::Archive::new(f);
    let mut manifest: Option<BackupManifest> = None;
    let mut end: Option<BackupEnd> = None;
    let (mut files, mut bytes) = (0u64, 0u64);
    for entry in tar.entries().context("reading the backup archive")? {
        let mut entry = entry.context("the backup archive is damaged; run the command again")?;
        let name = entry.path().context("a backup entry's name")?.to_string_lossy().into_owned();
        if end.is_some() {
            bail!("the backup archive has entries after its end record ({name})");
        }
        match (&manifest, name.as_str()) {
            (None, BACKUP_MANIFEST) => {
                let raw = read_small(&mut entry, dir, BACKUP_MANIFEST)?;
                let m: BackupManifest = serde_json::from_slice(&raw).context("the backup's manifest")?;
                if m.format != BACKUP_FORMAT {
                    bail!("the gateway wrote a backup of format {} and this kintsugi reads format {BACKUP_FORMAT}; use the gateway's kintsugi version", m.format);
                }
                manifest = Some(m);
            }
            (None, other) => bail!("the backup archive does not start with its manifest ({other})"),
            (Some(_), BACKUP_END) => end = Some(serde_json::from_slice(&read_small(&mut entry, dir, BACKUP_END)?).context("the backup's end record")?),
            (Some(m), other) if m.files.iter().any(|f| f == other) => {
                bytes += entry.header().size().context("a backup entry's size")?;
                files += 1;
                if !entry.unpack_in(dir).with_context(|| format!("writing {other}"))? {
                    bail!("the backup archive names a path outside its directory: {other}");
                }
            }
            (Some(_), other) => bail!("the backup archive holds {other}, which its manifest does not list"),
        }
    }
    let (Some(manifest), Some(end)) = (manifest, end) else { bail!("the backup archive is cut short (no end record); run the command again") };
    if end != (BackupEnd { files, bytes }) || files != manifest.files.len() as u64 {
        bail!("the backup archive is incomplete: {files} files, {bytes} bytes received; the gateway sent {} files, {} bytes", end.files, end.bytes);
    }
    sync_tree(dir)?;
    Ok(manifest)
}

/// A JSON record of the archive: its bytes (at most 16 MiB), also written to `dir/name`.
fn read_small(entry: &mut impl std::io::Read, dir: &Path, name: &str) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut raw = Vec::new();
    entry.take(16 << 20).read_to_end(&mut raw).with_context(|| format!("reading {name} from the backup archive"))?;
    fs::write(dir.join(name), &raw).with_context(|| format!("writing {name}"))?;
    Ok(raw)
}

/// fsync every file and directory under `dir`, then `dir`.
fn sync_tree(dir: &Path) -> Result<()> {
    for e in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let e = e?;
        if e.file_type()?.is_dir() {
            sync_tree(&e.path())?;
        } else {
            fs::File::open(e.path())?.sync_all().with_context(|| format!("syncing {}", e.path().display()))?;
        }
    }
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)?.sync_all().with_context(|| format!("syncing {}", dir.display()))
}

/// Read a backup directory's manifest and check that it is whole: every file it lists is there,
/// and their count and bytes are those of the end record.
fn checked_manifest(backup: &Path) -> Result<BackupManifest> {
    let read = |name: &str| fs::read(backup.join(name)).with_context(|| format!("reading {} in --restore {}; is it a `kintsugi admin meta backup` directory?", name, backup.display()));
    let m: BackupManifest = serde_json::from_slice(&read(BACKUP_MANIFEST)?).context("the backup's manifest")?;
    if m.format != BACKUP_FORMAT {
        bail!("--restore {}: backup format {} is not {BACKUP_FORMAT}; restore with the kintsugi version that wrote it", backup.display(), m.format);
    }
    let end: BackupEnd = serde_json::from_slice(&read(BACKUP_END)?).context("the backup's end record")?;
    let mut bytes = 0;
    for f in &m.files {
        let p = safe_join(backup, f)?;
        bytes += fs::metadata(&p).with_context(|| format!("--restore {}: {f} is missing; the backup is damaged", backup.display()))?.len();
    }
    if end != (BackupEnd { files: m.files.len() as u64, bytes }) {
        bail!("--restore {}: the files do not add up to the end record ({} files, {bytes} bytes; expected {} and {}); the backup is damaged", backup.display(), m.files.len(), end.files, end.bytes);
    }
    Ok(m)
}

/// `dir/name` for an archive path of the form `db/FILE` or `cluster/FILE`, never anything else.
fn safe_join(dir: &Path, name: &str) -> Result<PathBuf> {
    match name.split_once('/') {
        Some(("db" | "cluster", file)) if !file.is_empty() && !file.contains('/') && file != ".." && file != "." => Ok(dir.join(name)),
        _ => bail!("the backup lists an unexpected file {name:?}"),
    }
}

/// `--restore DIR`: before the store opens, copy a backup into `meta` (the `--meta` directory,
/// already locked), refusing a `meta` that holds a store already.
pub fn restore(backup: &Path, meta: &Path, kind: BackupKind) -> Result<()> {
    let m = checked_manifest(backup)?;
    if m.kind != kind {
        bail!("--restore {}: it is a backup of a {:?} store; restore it with the command that made it (`kintsugi server` for embedded, `kintsugi gateway` for a gateway)", backup.display(), m.kind);
    }
    let (db, secrets) = match kind {
        BackupKind::Embedded => (meta.to_path_buf(), None),
        BackupKind::Gateway => (meta.join("db"), Some(meta.join("cluster"))),
    };
    let holds = |d: &Path| fs::read_dir(d).map(|mut r| r.next().is_some()).unwrap_or(false);
    if db.join("CURRENT").exists() || secrets.as_deref().is_some_and(holds) {
        bail!("--restore: {} already holds metadata; move it away first (restoring never overwrites a store)", meta.display());
    }
    for f in &m.files {
        let src = safe_join(backup, f)?;
        let (dir, file) = match f.split_once('/') {
            Some(("db", file)) => (db.clone(), file),
            Some(("cluster", file)) => match &secrets {
                Some(s) => (s.clone(), file),
                None => bail!("--restore {}: an embedded backup holds cluster secrets; the backup is damaged", backup.display()),
            },
            _ => bail!("the backup lists an unexpected file {f:?}"),
        };
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let dst = dir.join(file);
        fs::copy(&src, &dst).with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
        if secrets.as_deref() == Some(dir.as_path()) {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&dst, fs::Permissions::from_mode(0o600)).with_context(|| format!("making {} private", dst.display()))?;
        }
        fs::File::open(&dst)?.sync_all().with_context(|| format!("syncing {}", dst.display()))?;
    }
    sync_dir(&db)?;
    if let Some(s) = &secrets {
        sync_dir(s)?;
    }
    sync_dir(meta)?;
    tracing::info!(backup = %backup.display(), created_ms = m.created_ms, files = m.files.len(), "metadata restored from a backup");
    println!("Restored metadata from {} into {}", backup.display(), meta.display());
    Ok(())
}
