//! `kintsugi gateway` and `kintsugi storage`: the two roles of a cluster.
//! The gateway holds metadata, serves S3 and the admin API, keeps the cluster
//! map and the cluster CA; storage nodes join with a token and serve shards
//! over QUIC with mutual TLS.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use kintsugi_erasure::{codec_for, CodecId, Layout, Scheme, DEFAULT_CHUNK_SIZE};
use kintsugi_cluster::{ClusterConfig, ClusterMap, ClusterService, Store, StoreConfig, Workers};
use kintsugi_gateway::Gateway;
use kintsugi_meta::RocksMeta;
use kintsugi_net::{server_config, ClusterCa, JoinAuthority, JoinToken, NodeIdentity, Server, TransportTuning};
use kintsugi_storage::{open_node_disks, NodeDisks, run_heartbeats, NodeService};

use crate::clientconf::write_private;
use crate::server::{absolute, ensure_credentials, lock_dir, serve_s3};

/// A duration flag: `500ms`, `2s`, `10m`, `1h`, or a plain number of seconds; at most a year.
pub(crate) fn secs(s: &str) -> Result<Duration, String> {
    let d = crate::units::parse_duration(s).map_err(|e| e.to_string())?;
    if d > Duration::from_secs(86_400 * 365) {
        return Err(format!("{s:?} is longer than a year"));
    }
    Ok(d)
}

/// A node or zone label: 1 to 64 letters, digits, `-`, `_` or `.`.
fn label(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > 64 || !s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return Err(format!("{s:?}: use 1 to 64 letters, digits, '-', '_' or '.'"));
    }
    Ok(s.to_owned())
}

/// Flags of `kintsugi gateway`.
#[derive(Debug, Args)]
pub struct GatewayArgs {
    /// Metadata directory (RocksDB, cluster CA, join secret). Default: ./kintsugi-gateway.
    #[arg(long, value_name = "DIR", env = "KINTSUGI_META", default_value = "kintsugi-gateway")]
    meta: PathBuf,
    /// Address for the S3 endpoint.
    #[arg(long, value_name = "ADDR", env = "KINTSUGI_LISTEN", default_value = "127.0.0.1:9000")]
    listen: SocketAddr,
    /// UDP address of the cluster service (QUIC) that storage nodes join and heartbeat.
    #[arg(long, value_name = "ADDR", env = "KINTSUGI_CLUSTER_LISTEN", default_value = "127.0.0.1:9100")]
    cluster_listen: SocketAddr,
    /// Address nodes reach the cluster service at, put in join tokens (HOST:PORT). Default: --cluster-listen.
    #[arg(long, value_name = "HOST:PORT", env = "KINTSUGI_ADVERTISE")]
    advertise: Option<String>,
    /// Erasure coding as K+M.
    #[arg(long, value_name = "K+M", env = "KINTSUGI_EC", default_value = "4+2")]
    ec: String,
    /// Chunk size in bytes (one stripe holds K chunks).
    #[arg(long, env = "KINTSUGI_CHUNK_SIZE", default_value_t = DEFAULT_CHUNK_SIZE)]
    chunk_size: u32,
    /// Root access key (instead of generating one on first start).
    #[arg(long, env = "KINTSUGI_ACCESS_KEY", requires = "secret_key")]
    access_key: Option<String>,
    /// Root secret key.
    #[arg(long, env = "KINTSUGI_SECRET_KEY", hide_env_values = true, requires = "access_key")]
    secret_key: Option<String>,
    /// Seconds before shards of overwritten or deleted objects are deleted.
    #[arg(long, env = "KINTSUGI_GC_DELAY", default_value_t = 300)]
    gc_delay: u64,
    /// Time without a heartbeat before a node is down (gets no new shards, is read last); e.g. 2s, 10m.
    #[arg(long, value_name = "DURATION", env = "KINTSUGI_DOWN_AFTER", default_value = "10", value_parser = secs)]
    down_after: Duration,
    /// Time without a heartbeat before a node is lost and its shards are rebuilt elsewhere.
    #[arg(long, value_name = "DURATION", env = "KINTSUGI_LOST_AFTER", default_value = "600", value_parser = secs)]
    lost_after: Duration,
    /// Durable shards a new segment needs (default K+1); with fewer placeable or writable the PUT
    /// gets 503. A cluster of exactly K+M nodes needs K here to take writes with M nodes down.
    #[arg(long, value_name = "N", env = "KINTSUGI_WRITE_QUORUM")]
    write_quorum: Option<usize>,
    /// How long a shard read may lag before a parity read is started beside it.
    #[arg(long, value_name = "DURATION", env = "KINTSUGI_HEDGE_AFTER", default_value = "0.25", value_parser = secs)]
    hedge_after: Duration,
    /// How long a storage node may take for one step of a shard request before it counts as failed.
    #[arg(long, value_name = "DURATION", env = "KINTSUGI_REQUEST_DEADLINE", default_value = "10", value_parser = secs)]
    request_deadline: Duration,
    #[command(flatten)]
    workers: crate::workers::WorkerArgs,
    #[command(flatten)]
    http: crate::workers::HttpArgs,
    /// Also write the join token to this file (mode 0600) at every start, e.g. on a volume
    /// that storage nodes read with `--join-file` (docker compose does this).
    #[arg(long, value_name = "FILE", env = "KINTSUGI_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// Start from a metadata backup (`kintsugi admin meta backup DIR`): its metadata, cluster CA
    /// and join secret are copied into --meta, which must hold none yet, so the storage nodes
    /// keep their certificates. Shards written after the backup was taken are not in it.
    #[arg(long, value_name = "DIR")]
    restore: Option<PathBuf>,
}

/// Load the cluster CA and join secret from `dir`, creating them on first start.
fn cluster_secrets(dir: &Path) -> Result<(ClusterCa, String)> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (cert, key, secret) = (dir.join("ca.pem"), dir.join("ca.key"), dir.join("join-secret"));
    let ca = if cert.exists() {
        let c = std::fs::read_to_string(&cert).with_context(|| format!("reading {}", cert.display()))?;
        let k = std::fs::read_to_string(&key).with_context(|| format!("reading {}", key.display()))?;
        ClusterCa::from_pem(&c, &k).with_context(|| format!("{} / {} do not hold a valid cluster CA", cert.display(), key.display()))?
    } else {
        let ca = ClusterCa::generate("kintsugi cluster").context("creating the cluster CA")?;
        let (c, k) = ca.to_pem();
        write_private(&key, &k)?;
        write_private(&cert, &c)?;
        tracing::info!(fingerprint = ca.fingerprint(), "created the cluster CA");
        ca
    };
    let s = match std::fs::read_to_string(&secret) {
        Ok(s) if !s.trim().is_empty() => s.trim().to_owned(),
        _ => {
            let s = JoinToken::random_secret();
            write_private(&secret, &s)?;
            s
        }
    };
    Ok((ca, s))
}

/// Run the gateway until SIGTERM or Ctrl-C.
pub fn gateway(a: GatewayArgs) -> Result<()> {
    let scheme: Scheme = a.ec.parse().with_context(|| format!("--ec {:?}: expected K+M such as 4+2", a.ec))?;
    let layout = Layout::new(scheme, a.chunk_size).context("invalid --chunk-size")?;
    if a.lost_after < a.down_after {
        bail!("--lost-after ({:?}) must not be shorter than --down-after ({:?})", a.lost_after, a.down_after);
    }
    let _meta_lock = lock_dir(&a.meta, "metadata directory", "--meta DIR")?;
    let meta_dir = absolute(&a.meta)?;
    if let Some(dir) = &a.restore {
        crate::backup::restore(dir, &meta_dir, kintsugi_gateway::BackupKind::Gateway)?;
    }
    let (ca, secret) = cluster_secrets(&meta_dir.join("cluster"))?;
    let gc_delay_ms = i64::try_from(a.gc_delay.saturating_mul(1000)).unwrap_or(i64::MAX);
    let meta = Arc::new(RocksMeta::open(&meta_dir.join("db"), gc_delay_ms).context("opening the metadata store")?);
    let creds = a.access_key.zip(a.secret_key);
    let root = ensure_credentials(&meta, creds)?;
    let codec = codec_for(CodecId::ReedSolomonGf8, scheme).context("creating the codec")?;
    let mut cfg = StoreConfig::new(layout);
    cfg.write_quorum = a.write_quorum;
    cfg.hedge_after = a.hedge_after;
    cfg.write_stall = a.request_deadline;
    let (store, repair_rx) = Store::new(meta, Vec::new(), codec, cfg);
    let workers = Workers::new(store.clone(), a.workers.config());
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    rt.block_on(async move {
        let t = TransportTuning::default();
        let gw_id = ca.issue("gateway").context("issuing the gateway's certificate")?;
        let server = Server::bind(a.cluster_listen, server_config(&gw_id, true, &t)?, &t)
            .with_context(|| format!("cannot bind the cluster service on UDP {}; use --cluster-listen ADDR", a.cluster_listen))?;
        let bound = server.local_addr()?;
        let advertise = a.advertise.clone().unwrap_or_else(|| bound.to_string());
        let token = JoinToken { gateway: advertise, ca_fingerprint: ca.fingerprint(), secret: secret.clone() }.encode();
        if let Some(f) = &a.token_file {
            write_private(f, &token).with_context(|| format!("writing the join token to --token-file {}", f.display()))?;
        }
        let client = kintsugi_net::Client::new(&gw_id, &t)?;
        let ccfg = ClusterConfig { down_after: a.down_after, lost_after: a.lost_after, request_deadline: a.request_deadline };
        let map = ClusterMap::load(&store, client, ccfg).await?;
        map.spawn_monitor(Duration::from_millis(250));
        let endpoint = server.endpoint();
        let meta = store.meta.clone();
        let name_taken: kintsugi_net::NameTaken = Arc::new(move |name: &str| match meta.nodes() {
            Ok(nodes) => nodes.iter().any(|n| n.name == name),
            Err(e) => {
                tracing::warn!(error = %e, "reading the node records for a join; admitting the name");
                false
            }
        });
        let authority = Arc::new(JoinAuthority { ca: Arc::new(ca), secret, name_taken: Some(name_taken) });
        tokio::spawn(server.serve::<kintsugi_storage::Request>(Arc::new(ClusterService { store: store.clone(), map: map.clone() }), Some(authority)));
        workers.recover_at_startup().await.context("recovering interrupted writes")?;
        let banner = vec![
            format!("Cluster service: {bound} (QUIC, mutual TLS); erasure coding {scheme}; metadata in {}", meta_dir.display()),
            format!("Join token:  {token}"),
            "Start storage nodes with: kintsugi storage --data DIR --listen ADDR --join <token>".to_owned(),
        ];
        let stop: Box<dyn FnOnce() + Send> = Box::new(move || endpoint.close(0u32.into(), b"gateway stopping"));
        let backup = kintsugi_gateway::BackupSource { kind: kintsugi_gateway::BackupKind::Gateway, secrets: Some(meta_dir.join("cluster")) };
        let gw = Arc::new(Gateway { workers, map: Some(map), join_token: Some(token), backup });
        serve_s3(gw, repair_rx, a.listen, &a.http, root, banner, Some(stop)).await
    })
}

/// Flags of `kintsugi storage`.
#[derive(Debug, Args)]
pub struct StorageArgs {
    /// A disk directory (repeat once per disk). Empty or missing directories are formatted.
    #[arg(long = "data", value_name = "DIR", env = "KINTSUGI_DATA", value_delimiter = ',', required = true)]
    data: Vec<PathBuf>,
    /// UDP address to serve shard requests on (QUIC, mutual TLS).
    #[arg(long, value_name = "ADDR", env = "KINTSUGI_LISTEN", default_value = "127.0.0.1:9200")]
    listen: SocketAddr,
    /// Address the gateway reaches this node at (HOST:PORT). Default: --listen, or HOSTNAME:PORT when listening on 0.0.0.0.
    #[arg(long, value_name = "HOST:PORT", env = "KINTSUGI_ADVERTISE")]
    advertise: Option<String>,
    /// Join token from the gateway (`kintsugi admin join-token`); needed on first start only.
    #[arg(long, value_name = "TOKEN", env = "KINTSUGI_JOIN_TOKEN", hide_env_values = true, conflicts_with = "join_file")]
    join: Option<String>,
    /// Read the join token from this file instead (written by the gateway's `--token-file`);
    /// waits up to --join-wait for it to appear.
    #[arg(long, value_name = "FILE", env = "KINTSUGI_JOIN_FILE")]
    join_file: Option<PathBuf>,
    /// How long to keep retrying the first join while the gateway is not reachable yet
    /// (a wrong secret or CA is refused at once).
    #[arg(long, value_name = "DURATION", env = "KINTSUGI_JOIN_WAIT", default_value = "60", value_parser = secs)]
    join_wait: Duration,
    /// Node name (letters, digits, - and _). Default: the host name.
    #[arg(long, env = "KINTSUGI_NODE_NAME")]
    name: Option<String>,
    /// Directory for the node's certificate and key (never inside a disk directory). Default: ./kintsugi-node.
    #[arg(long, value_name = "DIR", env = "KINTSUGI_STATE", default_value = "kintsugi-node")]
    state: PathBuf,
    /// Zone label (rack, room, site): a failure domain above the node. Placement spreads a
    /// segment's shards over zones as evenly as it can once nodes are distinct.
    #[arg(long, value_name = "NAME", env = "KINTSUGI_ZONE", value_parser = label)]
    zone: Option<String>,
    /// Time between heartbeats to the gateway.
    #[arg(long, value_name = "DURATION", env = "KINTSUGI_HEARTBEAT", default_value = "1", value_parser = secs)]
    heartbeat: Duration,
}

/// The join token from `--join` or, waiting up to `wait` for the file to appear, `--join-file`.
async fn join_token_arg(a: &StorageArgs) -> Result<Option<String>> {
    if let Some(t) = &a.join {
        return Ok(Some(t.clone()));
    }
    let Some(f) = &a.join_file else { return Ok(None) };
    let end = tokio::time::Instant::now() + a.join_wait;
    loop {
        match std::fs::read_to_string(f) {
            Ok(t) if !t.trim().is_empty() => return Ok(Some(t.trim().to_owned())),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("reading --join-file {}", f.display())),
        }
        if tokio::time::Instant::now() >= end {
            bail!("--join-file {} did not appear within {:?}; is the gateway running with --token-file?", f.display(), a.join_wait);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Join with `token`, retrying while the gateway cannot be reached (it may still be starting);
/// a refusal (wrong secret, wrong CA) is final.
async fn join_with_retry(token: &JoinToken, name: &str, wait: Duration, t: &TransportTuning) -> Result<NodeIdentity> {
    use kintsugi_net::NetError;
    let end = tokio::time::Instant::now() + wait;
    loop {
        let attempt = tokio::time::timeout(Duration::from_secs(5), kintsugi_net::join::<kintsugi_storage::Request>(token, name, t)).await;
        let err = match attempt {
            Ok(Ok(id)) => return Ok(id),
            Ok(Err(e @ (NetError::Connect { .. } | NetError::Io(_) | NetError::Timeout { .. } | NetError::Connection { .. }))) => e.to_string(),
            Ok(Err(e)) => return Err(e).with_context(|| format!("joining the cluster at {}", token.gateway)),
            Err(_) => "no answer within 5s".to_owned(),
        };
        if tokio::time::Instant::now() >= end {
            bail!("joining the cluster at {}: {err} (kept trying for {wait:?}; is the gateway running and reachable?)", token.gateway);
        }
        tracing::info!(gateway = token.gateway, error = err, "gateway not reachable yet; retrying the join");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn host_name() -> Option<String> {
    std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|s| s.trim().to_owned()))
}

/// Run a storage node until SIGTERM or Ctrl-C.
pub fn storage(a: StorageArgs) -> Result<()> {
    let name = match a.name.clone().or_else(host_name) {
        Some(n) => n,
        None => bail!("no --name given and the host name is unknown; pass --name NODE"),
    };
    let _state_lock = lock_dir(&a.state, "state directory", "--state DIR and --name NAME (the default name is the host name)")?;
    let state = absolute(&a.state)?;
    for d in &a.data {
        let abs = absolute(d)?;
        if state.starts_with(&abs) {
            bail!("state directory {} is inside disk directory {}; disks hold only shards", state.display(), abs.display());
        }
    }
    let id_path = state.join("identity.pem");
    let gw_path = state.join("gateway");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    rt.block_on(async move {
        let t = TransportTuning::default();
        let join_arg = join_token_arg(&a).await?;
        let (identity, gateway) = if id_path.exists() {
            let pem = std::fs::read_to_string(&id_path).with_context(|| format!("reading {}", id_path.display()))?;
            let id = NodeIdentity::from_pem(&pem).with_context(|| format!("{} is not a node identity", id_path.display()))?;
            if id.name != name {
                bail!("{} belongs to node {:?}, not {name:?}; use --name {} or another --state", id_path.display(), id.name, id.name);
            }
            let gw = match &join_arg {
                Some(tok) => JoinToken::parse(tok).context("--join is not a valid join token")?.gateway,
                None => std::fs::read_to_string(&gw_path).with_context(|| format!("reading {}", gw_path.display()))?.trim().to_owned(),
            };
            (id, gw)
        } else {
            let Some(tok) = &join_arg else {
                bail!("this node has not joined a cluster yet: pass --join TOKEN (print one with `kintsugi admin join-token` against the gateway)");
            };
            let token = JoinToken::parse(tok).context("--join is not a valid join token")?;
            let id = join_with_retry(&token, &name, a.join_wait, &t).await?;
            write_private(&id_path, &id.to_pem())?;
            write_private(&gw_path, &token.gateway)?;
            tracing::info!(node = name, gateway = token.gateway, "joined the cluster");
            (id, token.gateway)
        };
        // Directories added while running (`kintsugi admin disk add`) are recorded in the state directory.
        let added_file = state.join("added-disks");
        let mut dirs = a.data.clone();
        for d in NodeDisks::recorded(&added_file).with_context(|| format!("reading {}", added_file.display()))? {
            if !dirs.iter().any(|x| absolute(x).ok().as_ref() == Some(&d)) {
                dirs.push(d);
            }
        }
        let disks = tokio::task::spawn_blocking(move || open_node_disks(&dirs)).await?.context("opening the disk directories")?;
        for d in &disks {
            if let Err(e) = d.clean_tmp() {
                tracing::warn!(path = %d.root().display(), error = %e, "could not clean temp dir");
            }
        }
        let server = Server::bind(a.listen, server_config(&identity, false, &t)?, &t)
            .with_context(|| format!("cannot bind UDP {}; use --listen ADDR", a.listen))?;
        let bound = server.local_addr()?;
        let advertise = match a.advertise.clone() {
            Some(x) => x,
            None if bound.ip().is_unspecified() => format!("{}:{}", host_name().unwrap_or_else(|| "localhost".into()), bound.port()),
            None => bound.to_string(),
        };
        println!("Storage node {name}: serving {} disk(s) on {bound} (advertised as {advertise}); gateway {gateway}", disks.len());
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let client = kintsugi_net::Client::new(&identity, &t)?;
        let endpoint = server.endpoint();
        let node_disks = NodeDisks::new(disks, Some(added_file));
        let service = NodeService::new(&name, node_disks.clone()).with_peers(client.clone(), Duration::from_secs(5));
        let counters = service.counters();
        tokio::spawn(server.serve::<kintsugi_storage::Request>(Arc::new(service), None));
        tokio::spawn(run_heartbeats(client, gateway, advertise, a.zone.clone(), node_disks, counters, a.heartbeat));
        crate::server::shutdown_signal().await;
        endpoint.close(0u32.into(), b"node stopping");
        endpoint.wait_idle().await;
        tracing::info!("stopped cleanly");
        Ok(())
    })
}
