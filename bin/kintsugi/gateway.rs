//! `kintsugi gateway`: S3 and the admin API, the cluster map and the cluster CA — one replica
//! of the metadata group. The first gateway forms a group of one; others join it with a
//! gateway join token (`kintsugi admin gateway join-token`), catch up as learners and become
//! voters. Every metadata write is committed by a majority of the group (`kintsugi-raft`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use kintsugi_cluster::{ClusterConfig, ClusterMap, ClusterService, Store, StoreConfig, Workers};
use kintsugi_erasure::{codec_for, CodecId, Layout, Scheme, DEFAULT_CHUNK_SIZE};
use kintsugi_gateway::{Gateway, GroupAdmin};
use kintsugi_meta::RocksMeta;
use kintsugi_net::{server_config_live, ClusterCa, Handler, JoinAuthority, JoinToken, LiveIdentity, NetResult, NodeIdentity, Revoked, Server, Service, TransportTuning};
use kintsugi_raft::{GatewayNode, GroupConfig, MetaGroup, RaftRequest, Secrets, VoteCheck};

use crate::clientconf::write_private;
use crate::cluster::{join_with_retry, secs};
use crate::server::{absolute, ensure_credentials, lock_dir, serve_s3};

/// A certificate validity: at least 30 s (members renew when a third is left, checking at
/// every heartbeat), at most five years (longer ones look like certificates from before
/// certificates expired, which members replace at once).
fn cert_validity(s: &str) -> Result<Duration> {
    let d = crate::units::parse_duration(s)?;
    if d < Duration::from_secs(30) {
        bail!("--cert-validity {s} is too short; give at least 30s (30d is the default)");
    }
    if d > Duration::from_secs(5 * 365 * 86_400) {
        bail!("--cert-validity {s} is too long; give at most 1825d (five years)");
    }
    Ok(d)
}

/// Flags of `kintsugi gateway`.
#[derive(Debug, Args)]
pub struct GatewayArgs {
    /// Metadata directory (RocksDB, the Raft log, cluster CA, join secrets). Default: ./kintsugi-gateway.
    #[arg(long, value_name = "DIR", env = "KINTSUGI_META", default_value = "kintsugi-gateway")]
    meta: PathBuf,
    /// Address for the S3 endpoint.
    #[arg(long, value_name = "ADDR", env = "KINTSUGI_LISTEN", default_value = "127.0.0.1:9000")]
    listen: SocketAddr,
    /// UDP address of the cluster service (QUIC): storage nodes join and heartbeat here, and
    /// the gateways of the group replicate metadata here.
    #[arg(long, value_name = "ADDR", env = "KINTSUGI_CLUSTER_LISTEN", default_value = "127.0.0.1:9100")]
    cluster_listen: SocketAddr,
    /// Address nodes and other gateways reach the cluster service at, put in join tokens (HOST:PORT). Default: --cluster-listen.
    #[arg(long, value_name = "HOST:PORT", env = "KINTSUGI_ADVERTISE")]
    advertise: Option<String>,
    /// Join an existing group of gateways with a token from `kintsugi admin gateway join-token`
    /// (needed on first start only; a gateway that is a member restarts without it).
    #[arg(long, value_name = "TOKEN", env = "KINTSUGI_GATEWAY_JOIN_TOKEN", hide_env_values = true, conflicts_with = "restore")]
    join: Option<String>,
    /// Read the gateway join token from this file instead (written by the first gateway's
    /// `--gateway-token-file`); waits up to --join-wait for it to appear. First start only.
    #[arg(long, value_name = "FILE", env = "KINTSUGI_GATEWAY_JOIN_FILE", conflicts_with_all = ["join", "restore"])]
    join_file: Option<PathBuf>,
    /// This gateway's name in the group (letters, digits, -, _ and .). Default: the host name.
    #[arg(long, env = "KINTSUGI_GATEWAY_NAME", value_parser = crate::cluster::label)]
    name: Option<String>,
    /// How long to keep retrying the first join while the group is not reachable yet.
    #[arg(long, value_name = "DURATION", env = "KINTSUGI_JOIN_WAIT", default_value = "60", value_parser = secs)]
    join_wait: Duration,
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
    /// How long a metadata write or read waits for the group's leader and a majority before it
    /// fails (503 to S3 clients).
    #[arg(long, value_name = "DURATION", env = "KINTSUGI_META_TIMEOUT", default_value = "10", value_parser = secs)]
    meta_timeout: Duration,
    /// Leader heartbeat interval of the metadata group; elections start after 4 to 8 of them
    /// without a leader.
    #[arg(long, value_name = "DURATION", env = "KINTSUGI_RAFT_HEARTBEAT", default_value = "0.25", value_parser = secs)]
    raft_heartbeat: Duration,
    /// Build a snapshot of the metadata every N log entries, and drop the Raft log behind it
    /// but its last 1000 entries (a gateway that joins, or lags behind what is left of the
    /// log, is sent the snapshot).
    #[arg(long, value_name = "N", env = "KINTSUGI_RAFT_SNAPSHOT_EVERY", default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
    raft_snapshot_every: u64,
    /// How long the certificates this gateway signs for storage nodes (and its own) are
    /// valid, e.g. 30d, 12h. Members renew theirs while running when a third is left, so a
    /// stopped node can come back for at least a third of it (10 days by default); after its
    /// certificate expired it is refused.
    #[arg(long, value_name = "DURATION", env = "KINTSUGI_CERT_VALIDITY", default_value = "30d", value_parser = cert_validity)]
    cert_validity: Duration,
    #[command(flatten)]
    workers: crate::workers::WorkerArgs,
    #[command(flatten)]
    http: crate::workers::HttpArgs,
    #[command(flatten)]
    space: crate::workers::SpaceArgs,
    /// Also write the node join token to this file (mode 0600) at every start, e.g. on a volume
    /// that storage nodes read with `--join-file` (docker compose does this).
    #[arg(long, value_name = "FILE", env = "KINTSUGI_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// Also write a gateway join token to this file (mode 0600) at every start while this
    /// gateway is alone in its group, for gateways that join with `--join-file` (docker compose
    /// does this): it expires in 1 h, like `kintsugi admin gateway join-token`'s. Guard it like
    /// the CA key.
    #[arg(long, value_name = "FILE", env = "KINTSUGI_GATEWAY_TOKEN_FILE")]
    gateway_token_file: Option<PathBuf>,
    /// Start from a metadata backup (`kintsugi admin meta backup DIR`): its metadata, cluster CA
    /// and join secret are copied into --meta, which must hold none yet, so the storage nodes
    /// keep their certificates. The gateway forms a new group of one. Shards written after the
    /// backup was taken are not in it.
    #[arg(long, value_name = "DIR")]
    restore: Option<PathBuf>,
    /// Form a new group of one from this --meta although its metadata says this gateway was a
    /// member of a larger group whose Raft log (--meta/raft) is missing here. For disaster
    /// recovery only, when this gateway is the last of its group: never while another
    /// gateway of the old group runs (two groups would command the same storage nodes).
    /// Otherwise empty --meta and join the group again with a token.
    #[arg(long, conflicts_with_all = ["join", "join_file", "restore"])]
    new_group: bool,
}

/// The cluster's secrets in `dir` (`ca.pem`, `ca.key`, `join-secret`, `gateway-join-secret`),
/// or `None` when this gateway has none yet.
fn read_secrets(dir: &Path) -> Result<Option<Secrets>> {
    let read = |n: &str| std::fs::read_to_string(dir.join(n)).with_context(|| format!("reading {}", dir.join(n).display()));
    if !dir.join("ca.pem").exists() {
        return Ok(None);
    }
    let gateway_file = dir.join("gateway-join-secret");
    let gateway_secret = match std::fs::read_to_string(&gateway_file) {
        Ok(s) if !s.trim().is_empty() => s.trim().to_owned(),
        _ => {
            // A gateway from before groups: make the secret gateway tokens carry.
            let s = JoinToken::random_secret();
            write_private(&gateway_file, &s)?;
            s
        }
    };
    Ok(Some(Secrets { ca_cert_pem: read("ca.pem")?, ca_key_pem: read("ca.key")?, node_secret: read("join-secret")?.trim().to_owned(), gateway_secret }))
}

fn write_secrets(dir: &Path, s: &Secrets) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    write_private(&dir.join("ca.key"), &s.ca_key_pem)?;
    write_private(&dir.join("join-secret"), &s.node_secret)?;
    write_private(&dir.join("gateway-join-secret"), &s.gateway_secret)?;
    write_private(&dir.join("ca.pem"), &s.ca_cert_pem)?;
    Ok(())
}

/// A new cluster's secrets: a CA and two join secrets.
fn new_secrets() -> Result<Secrets> {
    let ca = ClusterCa::generate("kintsugi cluster").context("creating the cluster CA")?;
    tracing::info!(fingerprint = ca.fingerprint(), "created the cluster CA");
    let (ca_cert_pem, ca_key_pem) = ca.to_pem();
    Ok(Secrets { ca_cert_pem, ca_key_pem, node_secret: JoinToken::random_secret(), gateway_secret: JoinToken::random_secret() })
}

/// Put this gateway's secrets into the replicated metadata if they are not there (a group
/// formed, or restored, by this gateway alone; no older gateway can be a member yet), so every
/// gateway that joins holds them with the metadata. A failure is only warned about: joins are
/// still signed, and the next start tries again.
async fn replicate_secrets(group: &MetaGroup, meta: &Arc<RocksMeta>, mine: &Secrets) {
    let (m, s) = (meta.clone(), mine.clone());
    let done = tokio::task::spawn_blocking(move || -> kintsugi_meta::MetaResult<(bool, bool)> {
        match m.local_cluster_secrets()? {
            Some(held) => Ok((held == s, false)),
            None => m.put_cluster_secrets(&s).and_then(|()| m.local_cluster_secrets()).map(|held| (held.as_ref() == Some(&s), true)),
        }
    })
    .await;
    match done {
        // Proposed now: into a snapshot at once, and out of the log, so a gateway that joins
        // receives the record in the snapshot, not command 57 (which an older one cannot read).
        Ok(Ok((true, true))) => {
            if let Err(e) = group.snapshot_now().await {
                tracing::warn!(error = %e, "could not snapshot the metadata after replicating the cluster secrets");
            }
        }
        Ok(Ok((true, false))) => {}
        Ok(Ok((false, _))) => tracing::warn!(
            "the group's replicated cluster secrets differ from this gateway's files under --meta/cluster (were they replaced?): \
             this gateway signs node joins with its files and hands the group's to gateways that enrol; remove --meta/cluster and start again to take the group's"
        ),
        Ok(Err(e)) => tracing::warn!(error = %e, "could not put the cluster secrets into the replicated metadata; trying again at the next start"),
        Err(e) => tracing::warn!(error = %e, "could not put the cluster secrets into the replicated metadata; trying again at the next start"),
    }
}

/// This gateway's Raft id, made on first start.
fn raft_id(meta_dir: &Path) -> Result<u64> {
    if let Some(id) = stored_raft_id(meta_dir)? {
        return Ok(id);
    }
    let id = rand::random::<u64>() >> 1;
    write_private(&meta_dir.join("raft-id"), &id.to_string())?;
    Ok(id)
}

/// This gateway's Raft id if one was made (`None`: the file is missing or unreadable).
fn stored_raft_id(meta_dir: &Path) -> Result<Option<u64>> {
    let f = meta_dir.join("raft-id");
    match std::fs::read_to_string(&f) {
        Ok(s) => s.trim().parse().map(Some).with_context(|| format!("{} does not hold a gateway id", f.display())),
        Err(_) => Ok(None),
    }
}

/// A handler set once the service behind it is ready (a gateway joining a group serves Raft
/// before its cluster map exists); until then requests are told to retry.
struct Late<R: kintsugi_net::WireRequest>(Arc<OnceLock<Arc<dyn Handler<R>>>>);

#[async_trait::async_trait]
impl<R: kintsugi_net::WireRequest> Handler<R> for Late<R> {
    async fn handle(&self, peer: &str, req: R, recv: quinn::RecvStream, mut send: quinn::SendStream) -> NetResult<()> {
        match self.0.get() {
            Some(h) => h.handle(peer, req, recv, send).await,
            None => {
                use kintsugi_net::WireResponse;
                let resp = R::Response::error(kintsugi_net::WireError::new("Starting", "the gateway is starting; retry shortly"));
                kintsugi_net::write_frame(&mut send, &resp).await?;
                let _ = send.finish();
                Ok(())
            }
        }
    }

    // The transport's refusals are counted by the handler behind (before it is set, nothing counts them).
    fn refused_anonymous(&self) {
        if let Some(h) = self.0.get() {
            h.refused_anonymous();
        }
    }

    fn refused_revoked(&self, peer: &str) {
        if let Some(h) = self.0.get() {
            h.refused_revoked(peer);
        }
    }
}

/// Run the gateway until SIGTERM or Ctrl-C.
pub fn gateway(a: GatewayArgs) -> Result<()> {
    let scheme: Scheme = a.ec.parse().with_context(|| format!("--ec {:?}: expected K+M such as 4+2", a.ec))?;
    let layout = Layout::new(scheme, a.chunk_size).context("invalid --chunk-size")?;
    if a.lost_after < a.down_after {
        bail!("--lost-after ({:?}) must not be shorter than --down-after ({:?})", a.lost_after, a.down_after);
    }
    let name = match a.name.clone().or_else(crate::cluster::host_name) {
        Some(n) => n,
        None => bail!("no --name given and the host name is unknown; pass --name NAME"),
    };
    let http = a.http.open()?;
    let _meta_lock = lock_dir(&a.meta, "metadata directory", "--meta DIR")?;
    let meta_dir = absolute(&a.meta)?;
    if let Some(dir) = &a.restore {
        crate::backup::restore(dir, &meta_dir, kintsugi_gateway::BackupKind::Gateway)?;
    }
    let secrets_dir = meta_dir.join("cluster");
    let mut secrets = read_secrets(&secrets_dir)?;
    // A group's secrets without a Raft log (a restored backup, a lost `raft` directory) would
    // form a group of its own below, with the cluster's CA: beside the running group, a second
    // leader that nodes obey. Asked to join, refuse instead.
    let has_raft_log = meta_dir.join("raft").exists();
    if secrets.is_some() && (a.join.is_some() || a.join_file.is_some()) && !has_raft_log {
        bail!(
            "{} holds a gateway group's secrets but there is no Raft log ({} is missing), and --join/--join-file (or \
             KINTSUGI_GATEWAY_JOIN_TOKEN/_FILE) asks to join a group: forming a group of its own here would split the cluster. To \
             join with the token, empty --meta; to start a new group from this metadata (a restored backup, when no gateway of the \
             old group runs), start without a join token, and with --new-group if the old group had other members",
            secrets_dir.display(),
            meta_dir.join("raft").display()
        );
    }
    let gc_delay_ms = i64::try_from(a.gc_delay.saturating_mul(1000)).unwrap_or(i64::MAX);
    let meta = Arc::new(RocksMeta::open(&meta_dir.join("db"), gc_delay_ms).context("opening the metadata store")?);
    if a.restore.is_some() {
        // A backup is a checkpoint: it holds the old group's log position and membership. It
        // starts a new group, so they go now (a first start that fails later is started again
        // without --restore, and must not pass for a member that lost its log).
        meta.clear_stamp().context("clearing the restored metadata's log position")?;
    }
    // Files lost, metadata kept: the group's replicated secrets are this gateway's too. They
    // are written back once the group says this gateway is a voter (below), so a gateway that
    // is not one never gets files that would let a later start pass as a member. (With a join
    // token it enrols again instead, which rewrites them: a join a stop interrupted is
    // finished that way.)
    let mut adopted = false;
    if secrets.is_none() && a.join.is_none() && a.join_file.is_none() {
        if let Some(s) = meta.local_cluster_secrets().context("reading the replicated cluster secrets")? {
            adopted = true;
            secrets = Some(s);
        }
    }
    let join_arg = match (&a.join, &a.join_file) {
        (Some(t), _) => Some(t.clone()),
        (None, Some(f)) if secrets.is_none() => {
            Some(crate::cluster::wait_for_token_file(f, a.join_wait, "is the first gateway running with --gateway-token-file?")?)
        }
        _ => None,
    };
    // A member of a larger group whose Raft log is gone (its `raft` directory lost, the rest
    // kept) would form a group of one below, with the cluster's CA (or a new one): beside the
    // running group, a second leader that storage nodes obey. The membership its store last
    // applied tells; this gateway itself is in it under its Raft id, or, if that file was lost
    // too, its name. (A single gateway from before groups has no membership there; a restored
    // backup's is cleared above.)
    if join_arg.is_none() && !has_raft_log && !a.new_group {
        let own_id = stored_raft_id(&meta_dir)?;
        let voters = kintsugi_raft::state_machine::applied_voters(&meta).context("reading the group membership this gateway's metadata last applied")?;
        let others: Vec<String> = voters.into_iter().filter(|(v, n)| Some(*v) != own_id && n.name != name).map(|(_, n)| n.name).collect();
        if !others.is_empty() {
            bail!(
                "this gateway's metadata says it is a member of a gateway group with {}, but its Raft log ({}) is missing: forming a group \
                 of its own here would split the cluster. Empty --meta and join the group again with a token (`kintsugi admin gateway \
                 join-token` on a member; its metadata comes back from the group). Only if no other gateway of the group will ever run \
                 again, start with --new-group",
                others.join(", "),
                meta_dir.join("raft").display()
            );
        }
    }
    let join = match (&join_arg, &secrets) {
        (Some(t), None) => Some(JoinToken::parse(t).context("--join is not a valid gateway join token")?),
        (Some(_), Some(_)) => {
            tracing::info!(dir = %secrets_dir.display(), "this gateway holds its group's secrets already: --join is not used");
            None
        }
        (None, None) => {
            // A member of a group (it has a Raft log) whose secrets are lost must not make a
            // CA of its own: no other member would trust it.
            if has_raft_log && meta.stamp().context("reading the metadata's log position")?.is_some() {
                bail!(
                    "{} is missing, and this gateway's metadata holds no copy of the group's secrets: start it with --join TOKEN \
                     (`kintsugi admin gateway join-token` on another gateway), put back the files from a backup, or, if this gateway \
                     never finished joining, remove --meta and join again",
                    secrets_dir.display()
                );
            }
            let s = new_secrets()?;
            write_secrets(&secrets_dir, &s)?;
            secrets = Some(s);
            None
        }
        (None, Some(_)) => None,
    };
    let id = raft_id(&meta_dir)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    rt.block_on(async move {
        let t = TransportTuning::default();
        // This gateway's certificate: issued by its own copy of the CA, or, joining, by the
        // group (every gateway's certificate says `gateway`: nodes serve gateways only).
        let identity: NodeIdentity = match (&secrets, &join) {
            (Some(s), _) => ClusterCa::from_pem(&s.ca_cert_pem, &s.ca_key_pem)
                .with_context(|| format!("{} does not hold a valid cluster CA", secrets_dir.display()))?
                .with_validity(a.cert_validity)
                .issue(kintsugi_raft::group::GATEWAY_NAME)
                .context("issuing the gateway's certificate")?,
            (None, Some(token)) => join_with_retry::<RaftRequest>(token, &name, a.join_wait, &t, None).await?,
            (None, None) => bail!("this gateway has no cluster secrets and no --join token"),
        };
        let alpns: [&[u8]; 2] = [kintsugi_net::DEFAULT_ALPN, kintsugi_raft::ALPN];
        // Removed nodes' certificates are refused here; the cluster map fills the set from the
        // replicated metadata and adds every removal.
        let revoked = Revoked::new();
        // Renewed while the gateway runs (`renew_own_certificate`); every endpoint presents the current one.
        let live = LiveIdentity::new(identity)?;
        let server = Server::bind(a.cluster_listen, server_config_live(&live, true, &t, &alpns)?, &t)
            .with_context(|| format!("cannot bind the cluster service on UDP {}; use --cluster-listen ADDR", a.cluster_listen))?
            .with_revoked(revoked.clone());
        let bound = server.local_addr()?;
        let advertise = a.advertise.clone().unwrap_or_else(|| bound.to_string());
        // The S3 port is bound now: the group records where it really is (`--listen :0` too),
        // for followers that forward admin changes to the leader.
        let listener = crate::server::bind_s3(a.listen).await?;
        let me = GatewayNode { name: name.clone(), cluster: advertise.clone(), s3: listener.local_addr()?.to_string() };

        // Serve the group's protocol at once (a joining gateway is sent the log while it
        // enrols); the shard protocol's handler and both join authorities come later.
        let raft_client = kintsugi_net::Client::live::<RaftRequest>(&live, &t)?;
        let mut gcfg = GroupConfig::new(id, me.clone());
        gcfg.request_timeout = a.meta_timeout;
        gcfg.heartbeat = a.raft_heartbeat;
        gcfg.election = (a.raft_heartbeat.saturating_mul(4), a.raft_heartbeat.saturating_mul(8));
        gcfg.snapshot_every = a.raft_snapshot_every;
        let group = MetaGroup::start(&meta_dir, &meta, raft_client.clone(), secrets.clone(), gcfg).await.context("starting the metadata group")?;
        group.spawn_address_refresh();
        let node_join: Arc<OnceLock<Arc<JoinAuthority>>> = Arc::default();
        let gateway_join: Arc<OnceLock<Arc<JoinAuthority>>> = Arc::default();
        let cluster_handler: Arc<OnceLock<Arc<dyn Handler<kintsugi_storage::Request>>>> = Arc::default();
        let endpoint = server.endpoint();
        let raft_service = Service::with_late_join::<RaftRequest>(group.handler(), gateway_join.clone());
        let shard_service = Service::with_late_join::<kintsugi_storage::Request>(Arc::new(Late(cluster_handler.clone())), node_join.clone());
        tokio::spawn(server.serve_all(vec![shard_service, raft_service]));

        let secrets = match (secrets, &join) {
            (Some(s), _) => {
                group.initialize_alone().await.context("forming the metadata group")?;
                // Engine failures stop the start as they stop a running gateway.
                let vote = tokio::select! {
                    v = group.becomes_voter(a.meta_timeout) => v,
                    e = group.engine_failure() => bail!("{}", crate::server::engine_stopped(&e)),
                };
                let how = format!(
                    "start it with --join TOKEN (`kintsugi admin gateway join-token` on a member), after emptying --meta if it holds {} \
                     (a removed gateway does)",
                    secrets_dir.display()
                );
                match vote {
                    VoteCheck::Voter => {}
                    VoteCheck::NotVoter => bail!(
                        "this gateway is not a voting member of its metadata group, and its leader did not make it one within \
                         --meta-timeout ({:?}): its join did not finish, or it was removed from the group. To make it a member, {how}",
                        a.meta_timeout
                    ),
                    VoteCheck::NoLeader => bail!(
                        "this gateway is not a voting member of its metadata group as far as its own log says, and no leader reached it \
                         within --meta-timeout ({:?}) to say otherwise. If a majority of the group is down, start it again once they are \
                         up (its data is kept); if it was removed or its join did not finish, {how}",
                        a.meta_timeout
                    ),
                }
                if adopted {
                    tracing::warn!(dir = %secrets_dir.display(), "the cluster's secrets were missing here; written again from the replicated metadata");
                    write_secrets(&secrets_dir, &s)?;
                }
                if group.members().len() <= 1 {
                    replicate_secrets(&group, &meta, &s).await;
                }
                s
            }
            (None, Some(token)) => {
                println!("Joining the gateway group at {} as {name}; catching up…", token.gateway);
                // Catching up may take a snapshot install: an engine that fails meanwhile stops
                // the start at once, as it stops a running gateway (`serve_s3`).
                let enrolled = kintsugi_raft::group::enrol(raft_client.clone(), &token.gateway, id, &me, Duration::from_secs(3600));
                let s = tokio::select! {
                    s = enrolled => s.with_context(|| format!("joining the gateway group at {}", token.gateway))?,
                    e = group.engine_failure() => bail!("{}", crate::server::engine_stopped(&e)),
                };
                write_secrets(&secrets_dir, &s)?;
                group.set_secrets(s.clone());
                tracing::info!(gateway = name, "joined the gateway group as a voter");
                s
            }
            (None, None) => bail!("this gateway has no cluster secrets and no --join token"),
        };
        let ca = Arc::new(ClusterCa::from_pem(&secrets.ca_cert_pem, &secrets.ca_key_pem).context("the cluster CA")?.with_validity(a.cert_validity));
        tokio::spawn(renew_own_certificate(ca.clone(), live.clone()));
        let meta2 = meta.clone();
        // The replicated list decides too (the endpoint's copy may lag on a follower).
        let name_taken: kintsugi_net::NameTaken = Arc::new(move |n: &str| match meta2.nodes().and_then(|nodes| meta2.removed_nodes().map(|removed| (nodes, removed))) {
            Ok((_, removed)) if removed.iter().any(|x| x == n) => kintsugi_net::NameUse::Removed,
            Ok((nodes, _)) if nodes.iter().any(|x| x.name == n) => kintsugi_net::NameUse::Member,
            Ok(_) => kintsugi_net::NameUse::Free,
            Err(e) => {
                tracing::warn!(error = %e, "reading the node records for a join; admitting the name");
                kintsugi_net::NameUse::Free
            }
        });

        let creds = a.access_key.zip(a.secret_key);
        let meta3 = meta.clone();
        let root = tokio::task::spawn_blocking(move || ensure_credentials(&meta3, creds)).await??;
        let codec = codec_for(CodecId::ReedSolomonGf8, scheme).context("creating the codec")?;
        let mut cfg = StoreConfig::new(layout);
        cfg.write_quorum = a.write_quorum;
        cfg.hedge_after = a.hedge_after;
        cfg.write_stall = a.request_deadline;
        cfg.disk_reserve = a.space.disk_reserve;
        cfg.inline_max = a.space.inline_max;
        let (store, repair_rx) = Store::new(meta.clone(), Vec::new(), codec, cfg);
        let g = group.clone();
        store.leadership.set(Arc::new(move || g.is_leader()));
        // The intent sweep asks every gateway which writes it still has open (`kintsugi_cluster::sweep`).
        // (Weak: the store holds the group through `GroupWriters`. A store that is gone
        // cannot answer.)
        let s = Arc::downgrade(&store);
        group.set_open_writes(Arc::new(move |asked| s.upgrade().map(|s| s.writes.claimed(asked))));
        store.writes.set_others(Arc::new(GroupWriters(group.clone())));
        // Nodes join with tokens kept in the replicated metadata (`admin join-token`): each
        // expires, may count its uses, and all can be revoked. The old fixed node secret in
        // `<meta>/cluster/join-secret` admits no one any more.
        let admission: Arc<dyn kintsugi_net::Admission> = Arc::new(kintsugi_gateway::TokenAdmission::new(store.clone()));
        let _ = node_join.set(Arc::new(JoinAuthority { ca: ca.clone(), secret: String::new(), admission: Some(admission.clone()), name_taken: Some(name_taken), revoked: revoked.clone(), issue_as: None }));
        // Gateways join with tokens of the same store, made for the name `gateway` (`admin
        // gateway join-token`): they expire and can be revoked too. The fixed gateway secret
        // of `<meta>/cluster/gateway-join-secret` admits no one any more.
        let _ = gateway_join.set(Arc::new(JoinAuthority {
            ca: ca.clone(),
            secret: String::new(),
            name_taken: None,
            revoked: Revoked::new(),
            issue_as: Some(kintsugi_raft::group::GATEWAY_NAME.into()),
            admission: Some(admission),
        }));
        let workers = Workers::new(store.clone(), a.workers.config());
        let client = kintsugi_net::Client::live::<kintsugi_storage::Request>(&live, &t)?;
        let ccfg = ClusterConfig { down_after: a.down_after, lost_after: a.lost_after, request_deadline: a.request_deadline };
        let map = ClusterMap::load(&store, client, ccfg, revoked).await?;
        map.spawn_monitor(store.clone(), Duration::from_millis(250));
        let g = group.clone();
        let gateways: kintsugi_cluster::GatewayList = Arc::new(move || g.members().into_iter().map(|n| n.cluster).collect());
        let _ = cluster_handler.set(Arc::new(ClusterService { store: store.clone(), map: map.clone(), gateways: Some(gateways), authority: node_join.get().cloned() }));

        // With other gateways writing, an intent may be theirs: the leader's intent sweep
        // gives them up once no gateway claims them.
        let alone = group.members().len() <= 1;
        match workers.recover_at_startup(alone).await {
            Ok(()) => {}
            // A group without a majority yet: start anyway (nothing was changed); the leader's
            // workers collect garbage and sweep the intents.
            Err(e) if e.outcome_unknown() => tracing::warn!(error = %e, "start-up recovery waits for a majority of gateways; serving meanwhile"),
            Err(e) => return Err(e).context("recovering interrupted writes"),
        }
        let mint = kintsugi_gateway::JoinMint { gateway: advertise.clone(), ca_fingerprint: ca.fingerprint() };
        // A fresh token at start, as the banner and --token-file have always offered one; it
        // expires like any other. A gateway of a larger group makes one only for --token-file
        // (it would wait for a majority that may not be there yet, as in a restart one by one).
        let token = if alone || a.token_file.is_some() {
            match tokio::time::timeout(Duration::from_secs(10), mint.mint(&store, kintsugi_gateway::DEFAULT_JOIN_TOKEN_TTL, None, None)).await {
                Ok(Ok(t)) => Ok(t),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("no majority of gateways answered within 10 s".to_owned()),
            }
        } else {
            Err("this gateway is one of a group".to_owned())
        };
        // And a gateway token for --gateway-token-file, under the same rules.
        // Only a gateway alone makes one at start: in a group it would be a new command that
        // gateways of an older version cannot apply (and could wait for a majority).
        let gateway_token = match &a.gateway_token_file {
            Some(_) if !alone => Err("this gateway is one of a group".to_owned()),
            Some(_) => match tokio::time::timeout(Duration::from_secs(10), mint.mint_for_gateways(&store, kintsugi_gateway::DEFAULT_JOIN_TOKEN_TTL, None)).await {
                Ok(Ok(t)) => Ok(t.token),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("no majority of gateways answered within 10 s".to_owned()),
            },
            None => Err("no --gateway-token-file".to_owned()),
        };
        match (&a.token_file, &token) {
            (Some(f), Ok(t)) => write_private(f, &t.token).with_context(|| format!("writing the join token to --token-file {}", f.display()))?,
            // Never leave an older start's token there: it may have expired or been revoked.
            (Some(f), Err(_)) => {
                if let Err(e) = std::fs::remove_file(f) {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        return Err(e).with_context(|| format!("removing the stale join token in --token-file {}", f.display()));
                    }
                }
            }
            (None, _) => {}
        }
        match (&a.gateway_token_file, &gateway_token) {
            (Some(f), Ok(t)) => write_private(f, t).with_context(|| format!("writing the gateway join token to --gateway-token-file {}", f.display()))?,
            (Some(f), Err(e)) => {
                tracing::warn!(error = e, "no gateway join token for --gateway-token-file now; print one with `kintsugi admin gateway join-token`");
                if let Err(e) = std::fs::remove_file(f) {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        return Err(e).with_context(|| format!("removing the stale gateway join token in --gateway-token-file {}", f.display()));
                    }
                }
            }
            (None, _) => {}
        }
        let banner = vec![
            format!("Cluster service: {bound} (QUIC, mutual TLS); erasure coding {scheme}; metadata in {}", meta_dir.display()),
            format!("Gateway {name} in a metadata group of {} (`kintsugi admin gateway list`)", group.members().len()),
            match &token {
                Ok(t) => format!("Join token:  {}\n  (expires {}; `kintsugi admin join-token [--ttl DURATION] [--uses N]` makes another)", t.token, t.expires),
                Err(e) => format!("No join token now ({e}); print one with `kintsugi admin join-token` once the group has a quorum"),
            },
            "Start storage nodes with: kintsugi storage --data DIR --listen ADDR --join <token>".to_owned(),
            "Add a gateway with: kintsugi gateway --meta DIR --listen ADDR --cluster-listen ADDR --join $(kintsugi admin gateway join-token)".to_owned(),
        ];
        let g = group.clone();
        let stop: Box<dyn FnOnce() + Send> = Box::new(move || {
            endpoint.close(0u32.into(), b"gateway stopping");
            drop(g);
        });
        let backup = kintsugi_gateway::BackupSource { kind: kintsugi_gateway::BackupKind::Gateway, secrets: Some(secrets_dir.clone()) };
        let admin = GroupAdmin { group: group.clone(), tls: http.tls.clone() };
        let gw = Arc::new(Gateway { workers, map: Some(map), join: Some(mint), backup, group: Some(admin) });
        let g = group.clone();
        let engine_failure = Box::pin(async move { g.engine_failure().await });
        serve_s3(gw, repair_rx, listener, &http, root, banner, Some(crate::server::GroupHooks { on_stop: stop, engine_failure })).await
    })
}

/// Re-issue this gateway's own certificate from its copy of the CA when a third of its
/// validity is left (gateways sign their own; nodes ask a gateway with `RenewCert`).
async fn renew_own_certificate(ca: Arc<ClusterCa>, live: LiveIdentity) {
    let every = (ca.validity() / 100).clamp(Duration::from_secs(1), Duration::from_secs(600));
    loop {
        tokio::time::sleep(every).await;
        if !live.renewal_due() {
            continue;
        }
        match ca.issue(kintsugi_raft::group::GATEWAY_NAME).map(|id| live.replace(id)) {
            Ok(Ok(())) => tracing::info!("the gateway's certificate renewed"),
            Ok(Err(e)) | Err(e) => tracing::warn!(error = %e, "could not renew the gateway's certificate; trying again"),
        }
    }
}

/// The other gateways of the group, as the intent sweep asks them.
struct GroupWriters(Arc<MetaGroup>);

#[async_trait::async_trait]
impl kintsugi_cluster::OtherWriters for GroupWriters {
    async fn claimed(&self, segments: &[u128]) -> Result<Vec<u128>, String> {
        self.0.others_writing(segments).await
    }
}
