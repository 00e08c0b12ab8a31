//! `kintsugi storage`: a storage node joins with a token and serves shards over QUIC with
//! mutual TLS, reporting to every gateway of the group. (`kintsugi gateway` is `gateway.rs`.)

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use kintsugi_net::{server_config_live, JoinToken, LiveIdentity, NodeIdentity, Revoked, Server, TransportTuning};
use kintsugi_storage::{open_node_disks, read_list, run_heartbeats, Heartbeats, NodeDisks, NodeService, Renewal};

use crate::clientconf::write_private;
use crate::server::{absolute, lock_dir};

/// A duration flag: `500ms`, `2s`, `10m`, `1h`, or a plain number of seconds; at most a year.
pub(crate) fn secs(s: &str) -> Result<Duration, String> {
    let d = crate::units::parse_duration(s).map_err(|e| e.to_string())?;
    if d > Duration::from_secs(86_400 * 365) {
        return Err(format!("{s:?} is longer than a year"));
    }
    Ok(d)
}

/// A node or zone label: 1 to 64 letters, digits, `-`, `_` or `.`.
pub(crate) fn label(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > 64 || !s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return Err(format!("{s:?}: use 1 to 64 letters, digits, '-', '_' or '.'"));
    }
    Ok(s.to_owned())
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
    /// How long to keep retrying the first join while the gateway is not reachable yet, or
    /// cannot check join tokens (its gateway group has no majority); a wrong secret or CA is
    /// refused at once.
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
    /// Time between heartbeats to each gateway.
    #[arg(long, value_name = "DURATION", env = "KINTSUGI_HEARTBEAT", default_value = "1", value_parser = secs)]
    heartbeat: Duration,
}

/// The join token from `--join` or, waiting up to `wait` for the file to appear, `--join-file`.
async fn join_token_arg(a: &StorageArgs) -> Result<Option<String>> {
    if let Some(t) = &a.join {
        return Ok(Some(t.clone()));
    }
    let Some(f) = a.join_file.clone() else { return Ok(None) };
    let wait = a.join_wait;
    tokio::task::spawn_blocking(move || wait_for_token_file(&f, wait, "is the gateway running with --token-file?")).await?.map(Some)
}

/// The token in `file` (a `--join-file`), waiting up to `wait` for it to appear; `hint` says
/// who writes it.
pub(crate) fn wait_for_token_file(file: &std::path::Path, wait: Duration, hint: &str) -> Result<String> {
    let end = std::time::Instant::now() + wait;
    loop {
        match std::fs::read_to_string(file) {
            Ok(t) if !t.trim().is_empty() => return Ok(t.trim().to_owned()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("reading --join-file {}", file.display())),
        }
        if std::time::Instant::now() >= end {
            bail!("--join-file {} did not appear within {wait:?}; {hint}", file.display());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Join with `token`, retrying while the gateway cannot be reached (it may still be starting,
/// or have too many nodes joining at once) or cannot check tokens now (its metadata group has
/// no majority: `JoinUnavailable`); a refusal (wrong secret, wrong CA, name taken) is final.
/// Every attempt presents the same key: an attempt whose answer was lost may have spent a use
/// of the token, and the gateway answers the same join again without spending another. With
/// `key_file`, the key is kept there (mode 0600) until the caller has kept its identity, so a
/// joiner restarted meanwhile presents it again too.
pub(crate) async fn join_with_retry<R: kintsugi_net::WireRequest>(token: &JoinToken, name: &str, wait: Duration, t: &TransportTuning, key_file: Option<&std::path::Path>) -> Result<NodeIdentity> {
    use kintsugi_net::NetError;
    let end = tokio::time::Instant::now() + wait;
    let key = match key_file {
        Some(f) => pending_key(f, token, name)?,
        None => kintsugi_net::new_key().context("making the node's key")?,
    };
    // Fault injection for tests: drop the first N answers as if the network had lost them.
    let mut lose = std::env::var("KINTSUGI_FAULT_LOSE_JOIN_ANSWERS").ok().and_then(|n| n.parse::<u32>().ok()).unwrap_or(0);
    loop {
        let attempt = tokio::time::timeout(Duration::from_secs(5), kintsugi_net::join_with_key::<R>(token, name, key.clone(), t)).await;
        let err = match attempt {
            Ok(Ok(_)) if lose > 0 => {
                lose -= 1;
                "the answer was lost (KINTSUGI_FAULT_LOSE_JOIN_ANSWERS)".to_owned()
            }
            Ok(Ok(id)) => return Ok(id),
            Ok(Err(e @ (NetError::Connect { .. } | NetError::Io(_) | NetError::Timeout { .. } | NetError::Connection { .. }))) => e.to_string(),
            Ok(Err(e @ NetError::Remote { .. })) if matches!(&e, NetError::Remote { code, .. } if code == kintsugi_net::codes::JOIN_UNAVAILABLE) => e.to_string(),
            Ok(Err(e)) => return Err(e).with_context(|| format!("joining the cluster at {}", token.gateway)),
            Err(_) => "no answer within 5s".to_owned(),
        };
        if tokio::time::Instant::now() >= end {
            bail!("joining the cluster at {}: {err} (kept trying for {wait:?}; is the gateway running and reachable, and does its gateway group have a majority?)", token.gateway);
        }
        tracing::info!(gateway = token.gateway, error = err, "the join did not go through yet; retrying");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The key of a join in progress kept in `file` for this token and name, or a new one kept
/// there. The file holds `<token id> <name> <key hex>`: a key kept for another token or name
/// (a join given up and started again differently) is not reused, since the gateway refuses a
/// key that a token admitted under another name.
fn pending_key(file: &std::path::Path, token: &JoinToken, name: &str) -> Result<Vec<u8>> {
    let id = JoinToken::secret_id(&token.secret);
    match std::fs::read_to_string(file) {
        Ok(text) => {
            let mut f = text.split_whitespace();
            let kept = match (f.next(), f.next(), f.next()) {
                (Some(i), Some(n), Some(key)) if i == id && n == name => hex::decode(key).ok().filter(|k| kintsugi_net::csr_for_key(k, name).is_ok()),
                (Some(_), Some(_), Some(_)) => {
                    tracing::info!(file = %file.display(), "a key kept for another token or name: this join makes a new one");
                    None
                }
                _ => {
                    tracing::warn!(file = %file.display(), "the kept join key is unreadable: this join makes a new one");
                    None
                }
            };
            if let Some(k) = kept {
                tracing::info!(file = %file.display(), "joining with the key of an earlier attempt");
                return Ok(k);
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading the kept join key {}", file.display())),
    }
    let key = kintsugi_net::new_key().context("making the node's key")?;
    write_private(file, &format!("{id} {name} {}", hex::encode(&key)))?;
    Ok(key)
}

/// Forget the key of a join that is done (its identity is kept): remove `file` durably.
fn forget_pending_key(file: &std::path::Path) {
    match std::fs::remove_file(file) {
        Ok(()) => {
            if let Some(dir) = file.parent() {
                if let Err(e) = kintsugi_disk::sync_dir(dir) {
                    tracing::warn!(dir = %dir.display(), error = %e, "could not sync the state directory");
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(file = %file.display(), error = %e, "could not remove the joined key's file"),
    }
}

/// The identity kept in `id_path` (which must be node `name`'s), if there is one, and whether
/// it has expired: how many hours ago, or `None` while it is valid.
fn kept_identity(id_path: &std::path::Path, name: &str) -> Result<Option<(NodeIdentity, Option<u64>)>> {
    let pem = match std::fs::read_to_string(id_path) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", id_path.display())),
    };
    let id = NodeIdentity::from_pem(&pem).with_context(|| format!("{} is not a node identity", id_path.display()))?;
    if id.name != name {
        bail!("{} belongs to node {:?}, not {name:?}; use --name {} or another --state", id_path.display(), id.name, id.name);
    }
    let now = std::time::SystemTime::now();
    let expired = kintsugi_net::validity(&id.cert_der).filter(|(_, until)| *until < now).map(|(_, until)| now.duration_since(until).unwrap_or_default().as_secs() / 3600);
    Ok(Some((id, expired)))
}

pub(crate) fn host_name() -> Option<String> {
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
        let kept = kept_identity(&id_path, &name)?;
        let expired = kept.as_ref().and_then(|(_, e)| *e);
        let (identity, gateways) = match (kept, &join_arg) {
            // Joined before, and still valid: the certificate it keeps.
            (Some((id, None)), _) => {
                // A join that ended after its identity was kept and before its key was forgotten.
                forget_pending_key(&state.join("join-key"));
                // The gateways it kept (the group's, as they last answered), and the token's.
                let mut gws = read_list(&gw_path).with_context(|| format!("reading {}", gw_path.display()))?;
                if let Some(tok) = &join_arg {
                    gws.push(JoinToken::parse(tok).context("--join is not a valid join token")?.gateway);
                }
                (id, gws)
            }
            (Some((_, Some(ago))), None) => bail!(
                "this node's certificate ({}) expired {ago} hour(s) ago: a running node renews it when a third of its \
                 validity is left, but this one was stopped for longer, and the gateways refuse it. To bring it back with \
                 its disks, print a token that re-admits its name, `kintsugi admin join-token --node {name}`, and start \
                 it again with `--join TOKEN`",
                id_path.display()
            ),
            // A first join, or a re-admission under the same name (the token must be made for it).
            (_, join) => {
                let Some(tok) = join else {
                    bail!("this node has not joined a cluster yet: pass --join TOKEN (print one with `kintsugi admin join-token` against the gateway)");
                };
                let token = JoinToken::parse(tok).context("--join is not a valid join token")?;
                let key_file = state.join("join-key");
                let id = join_with_retry::<kintsugi_storage::Request>(&token, &name, a.join_wait, &t, Some(&key_file)).await?;
                write_private(&id_path, &id.to_pem())?;
                forget_pending_key(&key_file);
                // A re-admitted node keeps the gateways it knew, and learns the token's.
                let mut gws = if expired.is_some() { read_list(&gw_path).unwrap_or_default() } else { Vec::new() };
                gws.retain(|g| *g != token.gateway);
                gws.insert(0, token.gateway.clone());
                write_private(&gw_path, &gws.join("\n"))?;
                if expired.is_some() {
                    tracing::info!(node = name, gateway = token.gateway, "re-admitted to the cluster under its name with a new certificate");
                } else {
                    tracing::info!(node = name, gateway = token.gateway, "joined the cluster");
                }
                (id, gws)
            }
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
        let id_file = id_path.clone();
        let save_identity: kintsugi_storage::SaveIdentity = Arc::new(move |id: &NodeIdentity| write_private(&id_file, &id.to_pem()).map_err(|e| std::io::Error::other(format!("{e:#}"))));
        // Removed nodes' certificates are refused; the names come from the gateways.
        let revoked = Revoked::new();
        let removed_path = state.join("removed-nodes");
        if removed_path.exists() {
            revoked.extend(read_list(&removed_path).with_context(|| format!("reading {}", removed_path.display()))?);
        }
        // The certificate is renewed while the node runs; every endpoint presents the current one.
        let live = LiveIdentity::new(identity.clone())?;
        let server = Server::bind(a.listen, server_config_live(&live, false, &t, &[kintsugi_net::DEFAULT_ALPN])?, &t)
            .with_context(|| format!("cannot bind UDP {}; use --listen ADDR", a.listen))?
            .with_revoked(revoked.clone());
        let bound = server.local_addr()?;
        let advertise = match a.advertise.clone() {
            Some(x) => x,
            None if bound.ip().is_unspecified() => format!("{}:{}", host_name().unwrap_or_else(|| "localhost".into()), bound.port()),
            None => bound.to_string(),
        };
        println!("Storage node {name}: serving {} disk(s) on {bound} (advertised as {advertise}); gateways {}", disks.len(), gateways.join(", "));
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let client = kintsugi_net::Client::live::<kintsugi_storage::Request>(&live, &t)?;
        let endpoint = server.endpoint();
        let node_disks = NodeDisks::new(disks, Some(added_file));
        let service = NodeService::new(&name, node_disks.clone()).with_peers(client.clone(), Duration::from_secs(5));
        let counters = service.counters();
        tokio::spawn(server.serve::<kintsugi_storage::Request>(Arc::new(service), None));
        let hb = Heartbeats { client, listen: advertise, zone: a.zone.clone(), disks: node_disks, counters, every: a.heartbeat, gateways_file: Some(gw_path), revoked, removed_file: Some(removed_path), renewal: Some(Renewal::new(live, save_identity)) };
        tokio::spawn(run_heartbeats(hb, gateways));
        crate::server::shutdown_signal().await;
        endpoint.close(0u32.into(), b"node stopping");
        endpoint.wait_idle().await;
        tracing::info!("stopped cleanly");
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use kintsugi_net::{codes, probe::ProbeRequest, server_config, Admission, ClusterCa, JoinAuthority, WireError};

    use super::*;

    #[test]
    fn a_kept_join_key_is_reused_only_for_its_token_and_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("join-key");
        let token = |secret: &str| JoinToken { gateway: "127.0.0.1:1".into(), ca_fingerprint: "ab".repeat(32), secret: secret.into() };
        let (a, b) = (token("secret-a-0123456789"), token("secret-b-0123456789"));
        let first = pending_key(&file, &a, "n1").expect("a new key");
        assert_eq!(pending_key(&file, &a, "n1").expect("kept"), first, "the same join reuses its key");
        let other_name = pending_key(&file, &a, "n2").expect("a new key");
        assert_ne!(other_name, first, "another name makes a new key");
        assert_ne!(pending_key(&file, &b, "n2").expect("a new key"), other_name, "another token makes a new key");
        std::fs::write(&file, "garbage").expect("write");
        assert!(pending_key(&file, &b, "n2").is_ok(), "an unreadable file is replaced");
        forget_pending_key(&file);
        assert!(!file.exists());
        forget_pending_key(&file); // already gone: nothing to do
    }

    /// Answers `JoinUnavailable` (no majority behind the tokens) to the first two joins.
    struct Unavailable(AtomicU32);

    #[async_trait::async_trait]
    impl Admission for Unavailable {
        async fn check(&self, _secret: &str, _joiner: &kintsugi_net::Joiner<'_>) -> Result<Option<String>, WireError> {
            if self.0.fetch_add(1, Ordering::SeqCst) < 2 {
                return Err(WireError::new(codes::JOIN_UNAVAILABLE, "the metadata group has no majority"));
            }
            Ok(None)
        }
        async fn consume(&self, _secret: &str, _joiner: &kintsugi_net::Joiner<'_>) -> Result<(), WireError> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_join_the_gateway_cannot_check_now_is_tried_again() {
        let ca = Arc::new(ClusterCa::generate("test").expect("ca"));
        let gw = ca.issue("gateway").expect("gateway identity");
        let t = TransportTuning::default();
        let server = Server::bind("127.0.0.1:0".parse().expect("addr"), server_config(&gw, true, &t).expect("config"), &t).expect("bind");
        let addr = server.local_addr().expect("addr");
        let admission = Arc::new(Unavailable(AtomicU32::new(0)));
        let auth = Arc::new(JoinAuthority { ca: ca.clone(), secret: String::new(), admission: Some(admission.clone()), name_taken: None, revoked: Revoked::new(), issue_as: None });
        struct Nothing;
        #[async_trait::async_trait]
        impl kintsugi_net::Handler<ProbeRequest> for Nothing {
            async fn handle(&self, _: &str, _: ProbeRequest, _: quinn::RecvStream, _: quinn::SendStream) -> kintsugi_net::NetResult<()> {
                Ok(())
            }
        }
        let endpoint = server.endpoint();
        tokio::spawn(server.serve::<ProbeRequest>(Arc::new(Nothing), Some(auth)));
        let token = JoinToken { gateway: addr.to_string(), ca_fingerprint: ca.fingerprint(), secret: "0123456789abcdef0123".into() };
        let id = join_with_retry::<ProbeRequest>(&token, "node-1", Duration::from_secs(20), &t, None).await.expect("joined once the gateway could check");
        assert!(!id.cert_der.is_empty());
        assert_eq!(admission.0.load(Ordering::SeqCst), 3, "two unavailable answers, then the join");
        endpoint.close(0u32.into(), b"done");
    }
}
