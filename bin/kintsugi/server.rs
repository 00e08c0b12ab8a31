//! `kintsugi server`: the embedded store in one process.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use kintsugi_disk::{DirState, Disk};
use kintsugi_erasure::{codec_for, CodecId, Layout, Scheme, DEFAULT_CHUNK_SIZE};
use kintsugi_cluster::{Store, StoreConfig, Workers};
use kintsugi_gateway::Gateway;
use kintsugi_storage::{LocalShards, ShardStore};
use kintsugi_meta::{now_ms, AccessKeyRecord, DiskRecord, MetaRead, RocksMeta};
use serde::Deserialize;

use crate::clientconf;

/// Flags of `kintsugi server`. Each also reads a `KINTSUGI_*` variable and the
/// `--config` TOML file; flags win over variables, variables over the file.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// A disk directory (repeat once per disk; at least k+m). Default: 6 dirs under ./kintsugi-data.
    #[arg(long = "data", value_name = "DIR", env = "KINTSUGI_DATA", value_delimiter = ',')]
    data: Vec<PathBuf>,
    /// Metadata directory (RocksDB); never inside a disk directory. Default: ./kintsugi-data/meta.
    #[arg(long, value_name = "DIR", env = "KINTSUGI_META")]
    meta: Option<PathBuf>,
    /// Erasure coding as K+M: K data and M parity shards per stripe. Default: 4+2.
    #[arg(long, value_name = "K+M", env = "KINTSUGI_EC")]
    ec: Option<String>,
    /// Address for the S3 endpoint (port 0 picks a free port). Default: 127.0.0.1:9000.
    #[arg(long, value_name = "ADDR", env = "KINTSUGI_LISTEN")]
    listen: Option<SocketAddr>,
    /// Root access key (instead of generating one on first start).
    #[arg(long, env = "KINTSUGI_ACCESS_KEY", requires = "secret_key")]
    access_key: Option<String>,
    /// Root secret key.
    #[arg(long, env = "KINTSUGI_SECRET_KEY", hide_env_values = true, requires = "access_key")]
    secret_key: Option<String>,
    /// Chunk size in bytes (one stripe holds K chunks). Default: 262144.
    #[arg(long, env = "KINTSUGI_CHUNK_SIZE")]
    chunk_size: Option<u32>,
    /// Seconds before shards of overwritten or deleted objects are deleted (lets in-flight reads finish). Default: 300.
    #[arg(long, env = "KINTSUGI_GC_DELAY")]
    gc_delay: Option<u64>,
    /// Start from a metadata backup (`kintsugi admin meta backup DIR`): copied into --meta, which
    /// must hold no metadata yet. Shards written after the backup was taken are not in it.
    #[arg(long, value_name = "DIR")]
    restore: Option<PathBuf>,
    /// Attach --data directories that are Kintsugi disks the metadata does not know (it was
    /// lost), under the disk ids their identity files name; then `kintsugi admin meta rebuild`
    /// makes their objects' manifests again from the shards. Without it such a directory is
    /// refused as another store's.
    #[arg(long)]
    adopt_disks: bool,
    /// TOML file with any of the fields above (data = [..], meta, ec, listen, access_key, secret_key, chunk_size, gc_delay).
    #[arg(long, value_name = "FILE", env = "KINTSUGI_SERVER_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    workers: crate::workers::WorkerArgs,
    #[command(flatten)]
    http: crate::workers::HttpArgs,
    #[command(flatten)]
    space: crate::workers::SpaceArgs,
}

/// The `--config` file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data: Option<Vec<PathBuf>>,
    meta: Option<PathBuf>,
    ec: Option<String>,
    listen: Option<SocketAddr>,
    access_key: Option<String>,
    secret_key: Option<String>,
    chunk_size: Option<u32>,
    gc_delay: Option<u64>,
}

struct Settings {
    restore: Option<PathBuf>,
    adopt_disks: bool,
    data: Vec<PathBuf>,
    meta: PathBuf,
    scheme: Scheme,
    listen: SocketAddr,
    creds: Option<(String, String)>,
    chunk_size: u32,
    gc_delay: u64,
}

fn settings(a: ServerArgs) -> Result<Settings> {
    let file: FileConfig = match &a.config {
        Some(p) => {
            let s = std::fs::read_to_string(p).with_context(|| format!("reading --config {}", p.display()))?;
            toml::from_str(&s).with_context(|| format!("--config {} is not a valid server config", p.display()))?
        }
        None => FileConfig::default(),
    };
    let base = PathBuf::from("kintsugi-data");
    let data = if !a.data.is_empty() {
        a.data
    } else if let Some(d) = file.data {
        d
    } else {
        (1..=6).map(|i| base.join(format!("disk{i}"))).collect()
    };
    let meta = a.meta.or(file.meta).unwrap_or_else(|| base.join("meta"));
    let ec = a.ec.or(file.ec).unwrap_or_else(|| "4+2".into());
    let scheme: Scheme = ec.parse().with_context(|| format!("--ec {ec:?}: expected K+M such as 4+2"))?;
    let creds = match (a.access_key.or(file.access_key), a.secret_key.or(file.secret_key)) {
        (Some(ak), Some(sk)) => Some((ak, sk)),
        (None, None) => None,
        _ => bail!("give both an access key and a secret key, or neither (then they are generated)"),
    };
    Ok(Settings {
        restore: a.restore,
        adopt_disks: a.adopt_disks,
        data,
        meta,
        scheme,
        listen: a.listen.or(file.listen).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9000))),
        creds,
        chunk_size: a.chunk_size.or(file.chunk_size).unwrap_or(DEFAULT_CHUNK_SIZE),
        gc_delay: a.gc_delay.or(file.gc_delay).unwrap_or(300),
    })
}

pub(crate) fn absolute(p: &Path) -> Result<PathBuf> {
    let abs = std::path::absolute(p).with_context(|| format!("resolving {}", p.display()))?;
    Ok(abs.canonicalize().unwrap_or(abs))
}

/// Create `dir` and lock it for as long as the returned guard lives (hold it for the life of
/// the process): a second process on the same directory stops at once with a message that
/// names `flag`, instead of writing beside the first.
/// Create (if needed), make private and lock a metadata or state directory: both hold
/// secrets (access keys, the cluster CA key, a node's identity key), so only the owner may
/// enter them (mode 0700).
pub(crate) fn lock_dir(dir: &Path, what: &str, flag: &str) -> Result<kintsugi_disk::DirLock> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {what} {}", dir.display()))?;
    if let Err(e) = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)) {
        tracing::warn!(path = %dir.display(), error = %e, "could not make the {what} private (mode 0700); other users of this machine may read its secrets");
    }
    match kintsugi_disk::DirLock::acquire(dir) {
        Ok(l) => Ok(l),
        Err(kintsugi_disk::DiskError::InUse { .. }) => bail!(
            "{what} {} is in use by another kintsugi process; give each process on this machine its own {flag}",
            dir.display()
        ),
        Err(e) => Err(e).with_context(|| format!("locking {what} {}", dir.display())),
    }
}

/// Attach every registered disk, register and format new ones. A disk is known by the uuid
/// in its identity file, not by its path: a registered disk found at another path (a moved or
/// re-mounted store, or two mounts swapped) is that disk, and its new path is recorded.
fn attach_disks(meta: &RocksMeta, dirs: &[PathBuf], meta_dir: &Path, adopt: bool) -> Result<Vec<Arc<Disk>>> {
    let mut records = meta.disks().context("reading the disk registry")?;
    // Every directory is looked at before the registry changes, so a start refused for a
    // disk given twice (a copy) records nothing.
    let mut given: Vec<(PathBuf, String, kintsugi_disk::DiskResult<DirState>)> = Vec::new();
    for dir in dirs {
        let abs = absolute(dir)?;
        if meta_dir.starts_with(&abs) {
            bail!("metadata directory {} is inside disk directory {}; disks must hold only shards (losing m of them must lose nothing)", meta_dir.display(), abs.display());
        }
        let path_s = abs.to_string_lossy().into_owned();
        if given.iter().any(|(_, p, _)| *p == path_s) {
            bail!("disk directory {} is given twice", abs.display());
        }
        let state = Disk::inspect(&abs);
        if let Ok(DirState::Formatted { uuid, .. }) = &state {
            let twin = given.iter().find(|(_, _, st)| matches!(st, Ok(DirState::Formatted { uuid: u, .. }) if u == uuid));
            if let Some((_, other, _)) = twin {
                bail!("{} and {other} hold the same disk (uuid {uuid:032x}): one is a copy of the other; give each disk once", abs.display());
            }
        }
        given.push((abs, path_s, state));
    }
    let mut out = Vec::new();
    let seen: Vec<String> = given.iter().map(|(_, p, _)| p.clone()).collect();
    let mut moved = false;
    for (abs, path_s, state) in given {
        let uuid = match &state {
            Ok(DirState::Formatted { uuid, .. }) => Some(*uuid),
            _ => None,
        };
        if let Some(pos) = uuid.and_then(|u| records.iter().position(|r| r.uuid == u)) {
            let rec = &mut records[pos];
            if rec.path != path_s {
                tracing::warn!(disk = rec.id, from = %rec.path, to = %abs.display(), "a registered disk is at a new path; its new path is recorded");
                rec.path = path_s;
                moved = true;
            }
            out.push(Arc::new(Disk::open(&abs, rec.id, rec.uuid).with_context(|| format!("opening disk {}", abs.display()))?));
            continue;
        }
        if let Some(rec) = records.iter().find(|r| r.path == path_s) {
            let d = Disk::open(&abs, rec.id, rec.uuid).with_context(|| format!("opening disk {}", abs.display()))?;
            if d.is_failed() {
                tracing::error!(disk = rec.id, path = %abs.display(), "registered disk is missing or replaced; its shards are read from parity and rebuilt elsewhere. To use an emptied directory here as a new disk: `kintsugi admin disk add --node local PATH`");
            }
            out.push(Arc::new(d));
            continue;
        }
        let state = state.with_context(|| format!("--data {}", abs.display()))?;
        if let DirState::Formatted { uuid, .. } = state {
            let removed = meta.retired_disks().context("reading the retired disks")?.iter().any(|r| r.uuid == uuid);
            if removed {
                tracing::warn!(path = %abs.display(), "this directory holds a disk removed with `kintsugi admin disk remove`; not attaching it (empty it to use it as a new disk)");
                continue;
            }
            if adopt {
                let Some(ident) = Disk::read_identity(&abs).with_context(|| format!("--data {}", abs.display()))? else {
                    bail!("{} has no readable {} file to adopt it by", abs.display(), kintsugi_disk::IDENTITY_FILE);
                };
                let id = ident.disk_id;
                if let Some(other) = records.iter().find(|r| r.id == id) {
                    bail!("{} names disk id {id}, which {} has already; adopt only the disks of one store", abs.display(), other.path);
                }
                let d = Disk::open(&abs, id, uuid).with_context(|| format!("adopting disk {}", abs.display()))?;
                records.push(DiskRecord { id, uuid, path: path_s });
                meta.put_disks(&records).context("saving the disk registry")?;
                tracing::warn!(disk = id, path = %abs.display(), "adopted a disk the metadata did not know; `kintsugi admin meta rebuild` makes its objects' manifests again");
                out.push(Arc::new(d));
                continue;
            }
            bail!(
                "{} already belongs to a Kintsugi store (it has a {} file) that this metadata does not know; give an empty directory, or --adopt-disks if this store's metadata was lost",
                abs.display(),
                kintsugi_disk::IDENTITY_FILE
            );
        }
        let id = records.iter().map(|r| r.id).max().unwrap_or(0) + 1;
        let disk = Disk::format_new(&abs, id).with_context(|| format!("formatting disk {}", abs.display()))?;
        let rec = DiskRecord { id, uuid: disk.uuid(), path: path_s };
        records.push(rec.clone());
        meta.put_disks(&records).context("saving the disk registry")?;
        out.push(Arc::new(disk));
    }
    if moved {
        meta.put_disks(&records).context("saving the disk registry")?;
    }
    for rec in &records {
        if !seen.contains(&rec.path) {
            tracing::warn!(disk = rec.id, path = rec.path, "registered disk not given with --data; attaching it at its registered path");
            out.push(Arc::new(Disk::open(Path::new(&rec.path), rec.id, rec.uuid).with_context(|| format!("opening disk {}", rec.path))?));
        }
    }
    Ok(out)
}

fn random_string(len: usize, alphabet: &[u8]) -> String {
    (0..len).map(|_| char::from(alphabet[rand::random_range(0..alphabet.len())])).collect()
}

/// The root credentials a server starts with.
pub(crate) struct RootKey {
    /// Access key.
    pub ak: String,
    /// The secret when it is new (generated or given now) and goes into the client config.
    pub new_secret: Option<String>,
    /// The secret was generated here (so it is printed once); a given one is never printed.
    pub generated: bool,
}

/// Set the root key from flags, or keep the stored one, or generate one on first start.
pub(crate) fn ensure_credentials(meta: &RocksMeta, creds: Option<(String, String)>) -> Result<RootKey> {
    if let Some((ak, sk)) = creds {
        // Stored as given already (a restart): nothing to write, so a gateway starts even
        // while its group has no majority yet.
        // A gateway joining its group may be installing the group's snapshot right now; its
        // own copy of the keys answers (NotCommitted until then) once the import has ended.
        let started = std::time::Instant::now();
        let stored = loop {
            match meta.local_access_key(&ak) {
                Err(kintsugi_meta::MetaError::NotCommitted { .. }) if started.elapsed() < std::time::Duration::from_secs(600) => {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                other => break other.context("reading access keys")?,
            }
        };
        if !stored.is_some_and(|r| r.secret == sk && r.name == "root" && r.admin) {
            let rec = AccessKeyRecord { secret: sk.clone(), created_ms: now_ms(), name: "root".into(), admin: true };
            meta.put_access_key(&ak, &rec).context("storing the root access key")?;
        }
        return Ok(RootKey { ak, new_secret: Some(sk), generated: false });
    }
    let keys = match meta.list_access_keys() {
        // A gateway whose group has no majority yet starts on its own copy of the keys.
        Err(kintsugi_meta::MetaError::NotCommitted { .. }) => meta.local_list_access_keys(),
        other => other,
    }
    .context("reading access keys")?;
    if let Some((ak, _)) = keys.iter().find(|(_, r)| r.name == "root" && r.admin).or_else(|| keys.iter().find(|(_, r)| r.admin)).or(keys.first()) {
        return Ok(RootKey { ak: ak.clone(), new_secret: None, generated: false });
    }
    let ak = random_string(20, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
    let sk = random_string(40, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789");
    meta.put_access_key(&ak, &AccessKeyRecord { secret: sk.clone(), created_ms: now_ms(), name: "root".into(), admin: true })
        .context("storing the generated access key")?;
    Ok(RootKey { ak, new_secret: Some(sk), generated: true })
}

/// Run the embedded server until SIGTERM or Ctrl-C.
pub fn run(args: ServerArgs) -> Result<()> {
    let workers = args.workers.clone();
    let http = args.http.open()?;
    let disk_reserve = args.space.disk_reserve;
    let inline_max = args.space.inline_max;
    let s = settings(args)?;
    let need = s.scheme.total();
    if s.data.len() < need {
        bail!(
            "EC {} needs at least {need} disk directories (one per shard, so losing {} disks loses nothing); got {}. Add --data DIR flags or lower --ec",
            s.scheme,
            s.scheme.m,
            s.data.len()
        );
    }
    let layout = Layout::new(s.scheme, s.chunk_size).context("invalid --chunk-size")?;
    let _meta_lock = lock_dir(&s.meta, "metadata directory", "--meta DIR and --data DIRs")?;
    let meta_dir = absolute(&s.meta)?;
    if let Some(dir) = &s.restore {
        crate::backup::restore(dir, &meta_dir, kintsugi_gateway::BackupKind::Embedded)?;
    }
    let gc_delay_ms = i64::try_from(s.gc_delay.saturating_mul(1000)).unwrap_or(i64::MAX);
    let meta = Arc::new(RocksMeta::open(&meta_dir, gc_delay_ms).context("opening the metadata store")?);
    let disks = attach_disks(&meta, &s.data, &meta_dir, s.adopt_disks)?;
    let root = ensure_credentials(&meta, s.creds)?;
    let codec = codec_for(CodecId::ReedSolomonGf8, s.scheme).context("creating the codec")?;
    for d in &disks {
        if !d.is_failed() {
            match d.clean_tmp() {
                Ok(0) => {}
                Ok(n) => tracing::info!(disk = d.id(), removed = n, "removed leftover temp files"),
                Err(e) => tracing::warn!(disk = d.id(), error = %e, "could not clean temp dir"),
            }
        }
    }
    let backends: Vec<Arc<dyn ShardStore>> = disks.iter().map(|d| Arc::new(LocalShards::new(d.clone(), "local", d.id())) as Arc<dyn ShardStore>).collect();
    let mut cfg = StoreConfig::new(layout);
    cfg.disk_reserve = disk_reserve;
    cfg.inline_max = inline_max;
    let (store, repair_rx) = Store::new(meta.clone(), backends, codec, cfg);
    let workers = Workers::new(store, workers.config());
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    rt.block_on(async move {
        let listener = bind_s3(s.listen).await?;
        workers.recover_at_startup(true).await.context("recovering interrupted writes")?;
        let banner = format!("Erasure coding {} over {} disks; metadata in {}", s.scheme, workers.store().all_disks().len(), meta_dir.display());
        let backup = kintsugi_gateway::BackupSource { kind: kintsugi_gateway::BackupKind::Embedded, secrets: None };
        let gw = Arc::new(Gateway { workers, map: None, join: None, backup, group: None });
        serve_s3(gw, repair_rx, listener, &http, root, vec![banner], None).await
    })
}

/// Bind the S3 endpoint (before anything is started, so a taken port fails at once).
pub async fn bind_s3(listen: SocketAddr) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}; is another server running there? Use --listen ADDR"))
}

/// What a gateway of a metadata group adds to serving S3.
pub struct GroupHooks {
    /// Run once the S3 service has stopped (closes the cluster endpoint).
    pub on_stop: Box<dyn FnOnce() + Send>,
    /// Resolves, with the reason, if the group's Raft engine stops on a failure.
    pub engine_failure: std::pin::Pin<Box<dyn std::future::Future<Output = String> + Send>>,
}

/// Print how to reach the S3 endpoint, run the workers and serve
/// until SIGTERM or Ctrl-C; then stop the workers and flush metadata.
pub async fn serve_s3(
    gw: Arc<Gateway>,
    repair_rx: tokio::sync::mpsc::Receiver<kintsugi_cluster::RepairRequest>,
    listener: tokio::net::TcpListener,
    http: &crate::workers::Http,
    root: RootKey,
    banner: Vec<String>,
    group: Option<GroupHooks>,
) -> Result<()> {
    let (on_stop, engine_failure) = match group {
        Some(g) => (Some(g.on_stop), Some(g.engine_failure)),
        None => (None, None),
    };
    let addr = listener.local_addr()?;
    // A wildcard address is where we listen, not where a client connects: show loopback.
    // With TLS, the host is one the certificate names, so that the profile's endpoint passes
    // the client's name check.
    let endpoint = match &http.tls {
        Some(tls) => format!("https://{}:{}", tls.endpoint_host(addr.ip()), addr.port()),
        None if addr.ip().is_unspecified() => {
            let lo: std::net::IpAddr = if addr.is_ipv4() { std::net::Ipv4Addr::LOCALHOST.into() } else { std::net::Ipv6Addr::LOCALHOST.into() };
            format!("http://{}", SocketAddr::new(lo, addr.port()))
        }
        None => format!("http://{addr}"),
    };
    // The CLI trusts the certificates of --tls-cert as well as the system's: a self-signed
    // certificate or a private CA in the chain works out of the box on this machine.
    let ca_bundle = http.tls.as_ref().map(|t| absolute(t.cert_path())).transpose()?.map(|p| p.display().to_string());
    let RootKey { ak, new_secret, generated } = root;
    let conf_path = match &new_secret {
        Some(sk) => Some(clientconf::save_profile(
            "default",
            clientconf::Profile {
                endpoint: endpoint.clone(),
                access_key: ak.clone(),
                secret_key: sk.clone(),
                region: "us-east-1".into(),
                ca_bundle: ca_bundle.clone(),
            },
        )?),
        // A profile that cannot be brought up to date (a read-only home) does not stop the server.
        None => clientconf::refresh_profile("default", &ak, &endpoint, ca_bundle.as_deref()).unwrap_or_else(|e| {
            tracing::warn!(error = %format!("{e:#}"), "could not bring the client profile up to date");
            clientconf::path().ok()
        }),
    };
    println!("S3 endpoint: {endpoint}");
    if addr.ip().is_unspecified() {
        println!("Listening on {addr} (all interfaces)");
    }
    println!("Access key:  {ak}");
    match &new_secret {
        Some(sk) if generated => println!("Secret key:  {sk}"),
        Some(_) => println!("Secret key:  (as given with --secret-key / KINTSUGI_SECRET_KEY; not printed)"),
        None => println!("Secret key:  (set at first start; see the client config)"),
    }
    if let Some(p) = &conf_path {
        println!("Client config: {}", p.display());
    }
    for line in banner {
        println!("{line}");
    }
    let ca_flag = ca_bundle.as_ref().map(|c| format!(" --ca-bundle {c}")).unwrap_or_default();
    println!("Try: AWS_ACCESS_KEY_ID={ak} AWS_SECRET_ACCESS_KEY=... aws --endpoint-url {endpoint}{ca_flag} s3 mb s3://my-bucket");
    use std::io::Write;
    let _ = std::io::stdout().flush();

    let (cancel_src, cancel) = kintsugi_cluster::cancel_pair();
    gw.workers.spawn(repair_rx, cancel);
    let store: Arc<Store> = gw.store().clone();
    let limits = kintsugi_gateway::HttpLimits {
        header_timeout: http.header_timeout,
        drain: Duration::from_secs(30),
        max_connections: http.max_connections,
        max_requests: http.max_requests,
        body_timeout: http.body_timeout,
        sse_c_over_http: http.sse_c_over_http,
    };
    if let Some(tls) = &http.tls {
        tokio::spawn(reload_on_sighup(tls.clone()));
    }
    // A gateway whose metadata engine stopped on a failure cannot write or follow its group
    // again in this process: it stops (non-zero) rather than answer 503 for ever, so that its
    // supervisor starts it again, and the start recovers.
    let failed: Arc<std::sync::OnceLock<String>> = Arc::default();
    let failed2 = failed.clone();
    let stop_when = async move {
        match engine_failure {
            Some(engine_failure) => tokio::select! {
                () = shutdown_signal() => {}
                e = engine_failure => {
                    tracing::error!(error = %e, "the metadata engine stopped; the gateway stops so that a restart recovers it");
                    let _ = failed2.set(e);
                }
            },
            None => shutdown_signal().await,
        }
    };
    kintsugi_gateway::serve(listener, gw, stop_when, limits, http.tls.clone(), http.domains.clone()).await;
    cancel_src.cancel();
    if let Some(f) = on_stop {
        f();
    }
    let m = store.meta.clone();
    let flushed = tokio::task::spawn_blocking(move || m.flush()).await;
    if let Some(e) = failed.get() {
        match flushed {
            Ok(Ok(())) => {}
            Ok(Err(f)) => tracing::warn!(error = %f, "flushing the metadata store while stopping"),
            Err(f) => tracing::warn!(error = %f, "flushing the metadata store while stopping"),
        }
        bail!("{}", engine_stopped(e));
    }
    flushed??;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// What a gateway whose metadata engine stopped says as it exits: why, and what to do.
pub(crate) fn engine_stopped(why: &str) -> String {
    format!(
        "the gateway's metadata engine stopped: {why}\n\
         Start the gateway again (docker compose does so by itself, systemd with Restart=on-failure): a start finishes an \
         interrupted snapshot install and catches up from the group. If it stops again with a storage error, look at the \
         disk of --meta (failing, full, permissions); anything else is a bug to report with this log."
    )
}

/// Read the TLS certificate and key again on every SIGHUP (a renewed certificate is served
/// to new connections without a restart); a pair that cannot be used leaves the old one.
async fn reload_on_sighup(tls: Arc<kintsugi_gateway::tls::TlsServer>) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot install a SIGHUP handler; the TLS certificate is reloaded only by a restart");
            return;
        }
    };
    while hup.recv().await.is_some() {
        match tls.reload() {
            Ok(()) => tracing::info!(cert = %tls.cert_path().display(), "SIGHUP: TLS certificate and key reloaded"),
            Err(e) => tracing::error!(error = %e, "SIGHUP: still serving the previous TLS certificate"),
        }
    }
}

pub(crate) async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot install SIGTERM handler; stop with Ctrl-C");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupt received"),
    }
}
