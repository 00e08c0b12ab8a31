//! [`MetaGroup`]: one gateway's replica of the metadata group — the command log its store
//! submits to (here), the handler of the gateways' protocol (`serve.rs`), and membership
//! (`membership.rs`).

mod membership;
mod receive;
mod rounds;
mod serve;
mod writes;

pub use membership::{enrol, GatewayStatus, GroupStatus, Role};
pub use serve::GATEWAY_NAME;
pub use writes::OpenWritesFn;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use kintsugi_meta::{Applied, Command, CommandLog, MetaError, MetaResult, Outcome};
use kintsugi_net::{Client, Handler, JoinAuthority, NetError, Service};
use openraft::error::{CheckIsLeaderError, ClientWriteError, ForwardToLeader, RaftError};
use openraft::{ServerState, SnapshotPolicy};
use tokio::time::Instant;

use crate::log_store::LogStore;
use crate::network::Network;
use crate::proto::{codes, RaftRequest, RaftResponse};
use crate::state_machine::StateMachine;
use crate::{decode, GatewayNode, Raft, RaftGroupError};

/// What a gateway needs to act for the cluster: the CA (to sign joins) and the join
/// secrets. Kept in the replicated metadata (command 57) and handed to a gateway when it
/// enrols; its wire form (the `Enrolled` body) is the record's.
pub type Secrets = kintsugi_meta::ClusterSecrets;

/// Tuning of a group.
#[derive(Clone, Debug)]
pub struct GroupConfig {
    /// This gateway's Raft id.
    pub id: u64,
    /// This gateway.
    pub me: GatewayNode,
    /// Leader heartbeat interval.
    pub heartbeat: Duration,
    /// Election timeout range (a follower that hears no leader for a random time in it
    /// stands for election).
    pub election: (Duration, Duration),
    /// How long a write or read may wait for a leader and a majority before it fails.
    pub request_timeout: Duration,
    /// Build a snapshot (and purge the log behind it) every this many entries.
    pub snapshot_every: u64,
    /// A snapshot is sent in chunks of at most this many bytes.
    pub snapshot_chunk: u64,
}

impl GroupConfig {
    /// Defaults for gateway `me` with id `id`.
    pub fn new(id: u64, me: GatewayNode) -> Self {
        Self {
            id,
            me,
            heartbeat: Duration::from_millis(250),
            election: (Duration::from_millis(1000), Duration::from_millis(2000)),
            request_timeout: Duration::from_secs(10),
            snapshot_every: 20_000,
            snapshot_chunk: 4 << 20,
        }
    }
}

/// What [`MetaGroup::becomes_voter`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoteCheck {
    /// This replica has a vote.
    Voter,
    /// A leader is known, and it did not make this replica a voter.
    NotVoter,
    /// No leader reached this replica: its own log gives it no vote, and nothing said otherwise.
    NoLeader,
}

/// One gateway's replica of the metadata group.
pub struct MetaGroup {
    raft: Raft,
    id: u64,
    me: GatewayNode,
    net: Network,
    rt: tokio::runtime::Handle,
    /// Handed to gateways that enrol when the replicated metadata holds none (a group formed
    /// before they were replicated); a gateway that joined gets them when it enrols.
    secrets: std::sync::OnceLock<Secrets>,
    /// The metadata store this replica applies to (the replicated secrets are read from it).
    meta: Arc<kintsugi_meta::RocksMeta>,
    timeout: Duration,
    election_max: Duration,
    /// Read barriers, shared by the reads that ask while one runs (`rounds.rs`).
    reads: Arc<rounds::Rounds<Result<(), String>>>,
    /// The leader's read index, shared the same way by the followers that ask for it.
    read_index: Arc<rounds::Rounds<ReadIndex>>,
    /// The snapshot being received from the leader (`receive.rs`).
    receiver: receive::Receiver,
    /// This gateway's open writes, for the leader's intent sweep (`writes.rs`).
    open_writes: std::sync::OnceLock<OpenWritesFn>,
}

/// What a round of confirming the leadership answered: the index to read at, or why not
/// (`true`: this gateway is not the leader).
type ReadIndex = Result<Option<u64>, (bool, String)>;

fn not_committed(command: &'static str, detail: impl std::fmt::Display) -> MetaError {
    MetaError::NotCommitted { command, detail: detail.to_string() }
}

/// An error answer of the gateways' protocol.
fn refuse(code: &str, message: impl Into<String>) -> RaftResponse {
    RaftResponse::Error { code: code.to_owned(), message: message.into() }
}

impl MetaGroup {
    /// Start this gateway's replica: the Raft log under `dir/raft`, the state machine on
    /// `meta` (whose mutations from now on go through the group), Raft's messages through
    /// `client` (which must speak [`RaftRequest`]: `Client::for_protocol::<RaftRequest>`).
    /// Call from a multi-threaded Tokio runtime.
    pub async fn start(dir: &Path, meta: &Arc<kintsugi_meta::RocksMeta>, client: Client, secrets: Option<Secrets>, cfg: GroupConfig) -> Result<Arc<Self>, RaftGroupError> {
        let log_dir = dir.join("raft");
        if !log_dir.exists() {
            // A store without a log of its own (first start, an upgrade, a restored backup)
            // is the new log's starting state, whatever log stamped it before.
            meta.clear_stamp()?;
        }
        let mut log = LogStore::open(&log_dir)?;
        let mut sm = StateMachine::new(meta.clone(), dir).map_err(|e| RaftGroupError::Raft(e.to_string()))?;
        {
            // A snapshot install a stop interrupted is finished, and openraft needs a snapshot
            // reaching at least as far as the log was purged.
            use openraft::storage::RaftLogStorage;
            let purged = log.get_log_state().await.map_err(|e| RaftGroupError::Raft(e.to_string()))?.last_purged_log_id;
            sm.recover(purged).await.map_err(|e| RaftGroupError::Raft(e.to_string()))?;
        }
        let receiver = receive::Receiver::new(sm.snapshots());
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let config = openraft::Config {
            cluster_name: "kintsugi-meta".into(),
            heartbeat_interval: ms(cfg.heartbeat),
            election_timeout_min: ms(cfg.election.0),
            election_timeout_max: ms(cfg.election.1),
            snapshot_policy: SnapshotPolicy::LogsSinceLast(cfg.snapshot_every),
            max_in_snapshot_log_to_keep: 1000,
            snapshot_max_chunk_size: cfg.snapshot_chunk,
            // The last chunk of a snapshot is answered after the whole file is checked and
            // imported: the default (200 ms) would make the leader send a large one again and again.
            install_snapshot_timeout: 120_000,
            ..Default::default()
        }
        .validate()
        .map_err(|e| RaftGroupError::Raft(e.to_string()))?;
        let net = Network::new(client);
        // The synced Raft log makes each command durable before it is applied; the store's
        // own batches need not be synced again (see `kintsugi_meta` replica.rs).
        meta.set_synced_writes(false);
        let raft = Raft::new(cfg.id, Arc::new(config), net.clone(), log, sm).await.map_err(|e| RaftGroupError::Raft(e.to_string()))?;
        let timeout = cfg.request_timeout;
        let (r, n) = (raft.clone(), net.clone());
        let reads = rounds::Rounds::new(move || Box::pin(confirm_reads(r.clone(), n.clone(), timeout)));
        let r = raft.clone();
        let read_index = rounds::Rounds::new(move || Box::pin(leader_read_index(r.clone(), timeout)));
        let group = Arc::new(Self {
            raft,
            id: cfg.id,
            me: cfg.me,
            net,
            rt: tokio::runtime::Handle::current(),
            secrets: std::sync::OnceLock::new(),
            meta: meta.clone(),
            timeout,
            election_max: cfg.election.1,
            reads,
            read_index,
            receiver,
            open_writes: std::sync::OnceLock::new(),
        });
        if let Some(s) = secrets {
            group.set_secrets(s);
        }
        if meta.set_log(group.clone()).is_err() {
            return Err(RaftGroupError::Raft("the metadata store already has a command log".into()));
        }
        Ok(group)
    }

    /// Make this replica a group of one when it belongs to no group yet (the first gateway).
    pub async fn initialize_alone(&self) -> Result<(), RaftGroupError> {
        if self.raft.is_initialized().await.map_err(|e| RaftGroupError::Raft(e.to_string()))? {
            return Ok(());
        }
        let members = BTreeMap::from([(self.id, self.me.clone())]);
        self.raft.initialize(members).await.map_err(|e| RaftGroupError::Raft(e.to_string()))?;
        let raft_err = |e: &dyn std::fmt::Display| RaftGroupError::Raft(e.to_string());
        self.raft.wait(Some(self.timeout)).current_leader(self.id, "forming the group").await.map_err(|e| raft_err(&e))?;
        // The leader's first entry (a blank one of its term) applied: the log's state is whole.
        self.raft.wait(Some(self.timeout)).applied_index_at_least(Some(1), "the leader's first entry").await.map_err(|e| raft_err(&e))?;
        // The store may hold what no log entry made (an upgrade from a single gateway, a
        // restored backup): snapshot it and drop the log behind, so every gateway that joins
        // starts from the snapshot instead of replaying a log that lacks that state.
        self.snapshot_now().await?;
        tracing::info!(gateway = self.me.name, "formed a metadata group of one");
        Ok(())
    }

    /// Snapshot everything applied so far and drop the log behind it, so a gateway that joins
    /// starts from the snapshot.
    pub async fn snapshot_now(&self) -> Result<(), RaftGroupError> {
        let raft_err = |e: &dyn std::fmt::Display| RaftGroupError::Raft(e.to_string());
        // The metrics' applied index can trail a command this replica just applied: waiting
        // for a snapshot of that stale index would return before the one triggered here is
        // written (and a start would then serve while it is still being built).
        self.raft
            .wait(Some(self.timeout))
            .metrics(|m| m.last_applied.map(|l| l.index) >= m.last_log_index, "applied what is in the log")
            .await
            .map_err(|e| raft_err(&e))?;
        self.raft.trigger().snapshot().await.map_err(|e| raft_err(&e))?;
        let applied = self.raft.metrics().borrow().last_applied;
        if let Some(applied) = applied {
            // At least that far: a snapshot the engine built meanwhile at a later index does too.
            self.raft
                .wait(Some(self.timeout))
                .metrics(|m| m.snapshot.map(|s| s.index) >= Some(applied.index), "a snapshot of what was applied")
                .await
                .map_err(|e| raft_err(&e))?;
            self.raft.trigger().purge_log(applied.index).await.map_err(|e| raft_err(&e))?;
            self.raft
                .wait(Some(self.timeout))
                .metrics(|m| m.purged.map(|p| p.index) >= Some(applied.index), "log purged behind the snapshot")
                .await
                .map_err(|e| raft_err(&e))?;
        }
        Ok(())
    }

    /// Whether this replica is a voter of its group (not a learner that never finished joining).
    pub fn is_voter(&self) -> bool {
        self.raft.metrics().borrow().membership_config.membership().voter_ids().any(|v| v == self.id)
    }

    /// Whether this replica is a voter, or becomes one within `within`: a gateway that stopped
    /// right after the leader made it a voter may not have that change in its own log yet, and
    /// gets it from the leader within a few heartbeats of starting.
    pub async fn becomes_voter(&self, within: Duration) -> VoteCheck {
        let id = self.id;
        if self.is_voter() || self.raft.wait(Some(within)).metrics(|m| m.membership_config.membership().voter_ids().any(|v| v == id), "a voter").await.is_ok() {
            return VoteCheck::Voter;
        }
        if self.raft.metrics().borrow().current_leader.is_some() {
            VoteCheck::NotVoter
        } else {
            VoteCheck::NoLeader
        }
    }

    /// The secrets this gateway hands to gateways that enrol when the replicated metadata holds
    /// none (set once).
    pub fn set_secrets(&self, secrets: Secrets) {
        let _ = self.secrets.set(secrets);
    }

    /// The secrets to hand a gateway that enrols: the replicated ones, else this gateway's own.
    pub(crate) fn secrets_for_enrol(&self) -> Option<Secrets> {
        match self.meta.local_cluster_secrets() {
            Ok(Some(s)) => Some(s),
            Ok(None) => self.secrets.get().cloned(),
            Err(e) => {
                tracing::warn!(error = %e, "reading the replicated cluster secrets; handing out this gateway's own");
                self.secrets.get().cloned()
            }
        }
    }

    /// This gateway's name.
    pub fn name(&self) -> &str {
        &self.me.name
    }

    /// This replica's Raft id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The Raft instance (metrics, tests).
    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    /// Whether this replica is the leader now.
    pub fn is_leader(&self) -> bool {
        let m = self.raft.metrics();
        let m = m.borrow();
        m.state == ServerState::Leader && m.current_leader == Some(self.id)
    }

    /// Wait until the Raft engine stops on a failure of its own and say why: openraft stops
    /// for good on a storage error (the log or the store cannot be written, a snapshot cannot
    /// be built or installed) or a panic of its core. Such a replica can neither write nor
    /// follow the group until its process starts again (a start finishes an interrupted
    /// snapshot install and catches up from the leader). Never returns when the engine was
    /// shut down on purpose.
    pub async fn engine_failure(&self) -> String {
        let mut rx = self.raft.metrics();
        loop {
            let failed = match &rx.borrow_and_update().running_state {
                Err(openraft::error::Fatal::Stopped) | Ok(()) => None,
                Err(e) => Some(e.to_string()),
            };
            if let Some(e) = failed {
                return e;
            }
            if rx.changed().await.is_err() {
                // The core is gone. A shutdown reports `Stopped` first; a core that unwound
                // (a panic) reports nothing.
                if rx.borrow().running_state.is_ok() {
                    return "the metadata engine's task ended without a report (it panicked)".to_owned();
                }
                return std::future::pending().await;
            }
        }
    }

    /// The leader's cluster address, as this replica knows it.
    fn leader(&self) -> Option<(u64, GatewayNode)> {
        let m = self.raft.metrics();
        let m = m.borrow();
        let id = m.current_leader?;
        m.membership_config.membership().get_node(&id).map(|n| (id, n.clone()))
    }

    /// Stop this replica (its store keeps its state; Raft stops answering).
    pub async fn shutdown(&self) {
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "stopping the metadata group");
        }
    }

    /// The gateways' protocol, served on the cluster endpoint; joins (a gateway join token)
    /// are answered by `join`.
    pub fn service(self: &Arc<Self>, join: Arc<JoinAuthority>) -> Service {
        Service::new::<RaftRequest>(self.handler(), Some(join))
    }

    /// The handler of the gateways' protocol (to serve with a join authority set later:
    /// [`Service::with_late_join`]).
    pub fn handler(self: &Arc<Self>) -> Arc<dyn Handler<RaftRequest>> {
        Arc::new(serve::GroupHandler(self.clone()))
    }

    /// Once a leader is known: when the group records this gateway (its id) at other
    /// addresses than it has now (restarted with another `--listen` or `--advertise`), have
    /// the leader record the new ones, so followers forward to it and peers reach it.
    pub fn spawn_address_refresh(self: &Arc<Self>) {
        let me = self.clone();
        tokio::spawn(async move {
            for _ in 0..600 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let recorded = {
                    let m = me.raft.metrics();
                    let m = m.borrow();
                    if m.current_leader.is_none() {
                        continue;
                    }
                    m.membership_config.membership().get_node(&me.id).cloned()
                };
                match recorded {
                    Some(n) if n != me.me => {}
                    _ => return, // not a member (it is joining), or up to date
                }
                let req = RaftRequest::Enrol { id: me.id, name: me.me.name.clone(), cluster: me.me.cluster.clone(), s3: me.me.s3.clone() };
                let resp = if me.is_leader() { me.enrol(me.id, me.me.clone()).await } else { me.to_leader(&req, me.timeout).await.0 };
                match resp {
                    RaftResponse::Enrolled => return,
                    other => tracing::debug!(answer = ?other, "could not update this gateway's addresses in the group yet"),
                }
            }
        });
    }

    /// Every gateway of the group as this replica knows it, voters and learners.
    pub fn members(&self) -> Vec<GatewayNode> {
        let m = self.raft.metrics();
        let m = m.borrow();
        m.membership_config.membership().nodes().map(|(_, n)| n.clone()).collect()
    }

    fn block<F: std::future::Future>(&self, f: F) -> F::Output {
        match tokio::runtime::Handle::try_current() {
            Ok(_) => tokio::task::block_in_place(|| self.rt.block_on(f)),
            Err(_) => self.rt.block_on(f),
        }
    }

    /// Commit `cmd` through the leader and wait until this replica has applied it.
    pub async fn submit_async(&self, cmd: &Command) -> MetaResult<Applied> {
        let deadline = Instant::now() + self.timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(10));
            let Ok(written) = tokio::time::timeout(left, self.raft.client_write(cmd.clone())).await else {
                // Proposed but not committed in time (no majority): it may still commit later,
                // so the caller must treat the outcome as unknown (never resubmit it, never
                // turn its shards into garbage: `ClusterError::outcome_unknown`).
                return Err(not_committed(cmd.name(), format!("no majority of gateways committed it within {:?}; it may still commit", self.timeout)));
            };
            let why = match written {
                Ok(r) => return r.data.into_result(),
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(ForwardToLeader { leader_node: Some(leader), .. }))) => {
                    match self.forward(&leader, cmd).await {
                        Ok(outcome) => return outcome,
                        Err(Retry(why)) => why,
                    }
                }
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => "no leader is known".to_owned(),
                Err(e) => return Err(not_committed(cmd.name(), e)),
            };
            if Instant::now() >= deadline {
                return Err(not_committed(cmd.name(), format!("{why} (for {:?})", self.timeout)));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Forward `cmd` to `leader`; a [`Retry`] when it certainly was not committed.
    async fn forward(&self, leader: &GatewayNode, cmd: &Command) -> Result<MetaResult<Applied>, Retry> {
        let body = match cmd.encode() {
            Ok(b) => b,
            Err(e) => return Ok(Err(e)),
        };
        let call = self.net.call(&leader.cluster, &RaftRequest::Submit, &body, self.timeout);
        let answer = tokio::select! {
            a = call => a,
            () = leader_replaced(&self.raft, &leader.name) => {
                // The leader it went to is gone (a new one was elected): it may have committed
                // the command before dying or not, so the outcome is unknown — say so now
                // rather than wait out the timeout (a client retries a 503 on the new leader).
                return Ok(Err(not_committed(cmd.name(), format!("the leader {} was replaced while it had the command; the write may or may not have committed", leader.name))));
            }
        };
        match answer {
            Ok((RaftResponse::Submitted, bytes)) => {
                let (index, outcome): (u64, Outcome) = match decode(&bytes) {
                    Ok(x) => x,
                    Err(e) => return Ok(Err(not_committed(cmd.name(), format!("the leader's answer did not decode: {e}")))),
                };
                // Apply it here too before returning, so this gateway reads its own write.
                if let Err(e) = self.raft.wait(Some(self.timeout)).applied_index_at_least(Some(index), "forwarded write").await {
                    return Ok(Err(not_committed(cmd.name(), format!("committed, but not applied on this gateway: {e}"))));
                }
                Ok(outcome.into_result())
            }
            Ok((other, _)) => Ok(Err(not_committed(cmd.name(), format!("unexpected answer {other:?}")))),
            Err(NetError::Remote { code, message }) if code == codes::NOT_LEADER || code == codes::NO_LEADER => Err(Retry(message)),
            Err(e @ NetError::Connect { .. }) => Err(Retry(e.to_string())),
            Err(e) => Ok(Err(not_committed(cmd.name(), format!("forwarding to the leader {}: {e}; the write may or may not have committed", leader.name)))),
        }
    }

    /// Wait until this replica has applied every write committed before the call. Reads
    /// that ask while a confirmation runs share the next one (`rounds.rs`).
    pub async fn read_barrier_async(&self) -> MetaResult<()> {
        self.read_barrier_from(self.reads.join(self.timeout).await)
    }

    /// Wait until this replica has applied every write committed before `since` (no later than
    /// the call): a round of confirmation that began since then answers it, so the reads of
    /// one S3 request after its first pay no round of their own.
    pub async fn read_barrier_since_async(&self, since: std::time::Instant) -> MetaResult<()> {
        self.read_barrier_from(self.reads.join_since(since, Result::is_ok, self.timeout).await)
    }

    /// What a read barrier says, from the answer of its round (`None`: none in time).
    fn read_barrier_from(&self, answer: Option<Result<(), String>>) -> MetaResult<()> {
        match answer {
            Some(Ok(())) => Ok(()),
            Some(Err(why)) => Err(not_committed("read", why)),
            None => {
                let why = match self.reads.last() {
                    Some(Err(last)) => format!("; the last round: {last}"),
                    _ => String::new(),
                };
                Err(not_committed("read", format!("no majority of gateways confirmed the leader within {:?}{why}", self.timeout)))
            }
        }
    }

    /// The leader's read index for a follower's read barrier, shared by the followers' reads
    /// that ask while one is being confirmed.
    pub(crate) async fn shared_read_index(&self) -> ReadIndex {
        self.read_index.join(self.timeout).await.unwrap_or_else(|| Err((false, "no majority answered in time".into())))
    }
}

/// Return once `raft` knows of a leader other than `name` (a read of the leader that went to
/// `name` is then pointless, and a write to it of unknown outcome).
async fn leader_replaced(raft: &Raft, name: &str) {
    let mut rx = raft.metrics();
    loop {
        let other = {
            let m = rx.borrow_and_update();
            let leader = m.current_leader.and_then(|id| m.membership_config.membership().get_node(&id).map(|n| n.name.clone()));
            leader.is_some_and(|l| l != name)
        };
        if other || rx.changed().await.is_err() {
            return;
        }
    }
}

/// One round of a read barrier: wait until this replica has applied every write committed
/// before the round began (the leader confirms its leadership with a majority; a follower
/// asks the leader for that index and waits until it has applied it).
async fn confirm_reads(raft: Raft, net: Network, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(10));
        let Ok(confirmed) = tokio::time::timeout(left, raft.ensure_linearizable()).await else {
            return Err(format!("no majority of gateways confirmed the leader within {timeout:?}"));
        };
        let why = match confirmed {
            Ok(_) => return Ok(()),
            Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(ForwardToLeader { leader_node: Some(leader), .. }))) => {
                let call = net.call(&leader.cluster, &RaftRequest::ReadIndex, &[], left);
                let answer = tokio::select! {
                    a = call => a,
                    () = leader_replaced(&raft, &leader.name) => Err(NetError::Remote { code: codes::NOT_LEADER.into(), message: format!("the leader {} was replaced", leader.name) }),
                };
                match answer {
                    Ok((RaftResponse::ReadIndex { index }, _)) => {
                        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(100));
                        return match raft.wait(Some(left)).applied_index_at_least(index, "read barrier").await {
                            Ok(_) => Ok(()),
                            Err(e) => Err(format!("this gateway did not catch up with the leader: {e}")),
                        };
                    }
                    Ok((other, _)) => format!("unexpected answer {other:?}"),
                    Err(e) => e.to_string(),
                }
            }
            Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(_))) => "no leader is known".to_owned(),
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            return Err(format!("{why} (for {timeout:?})"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One round of the leader's read index: confirm the leadership with a majority and answer
/// the commit index from then on.
async fn leader_read_index(raft: Raft, timeout: Duration) -> ReadIndex {
    match tokio::time::timeout(timeout, raft.get_read_log_id()).await {
        Err(_) => Err((false, "no majority answered in time".into())),
        Ok(Ok((read, _))) => Ok(read.map(|l| l.index)),
        Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(_)))) => Err((true, "this gateway is not the leader".into())),
        Ok(Err(e)) => Err((false, e.to_string())),
    }
}

/// A forward that certainly did not commit: try again.
struct Retry(String);

impl CommandLog for MetaGroup {
    fn submit(&self, cmd: &Command) -> MetaResult<Applied> {
        self.block(self.submit_async(cmd))
    }

    fn read_barrier(&self) -> MetaResult<()> {
        self.block(self.read_barrier_async())
    }

    fn read_barrier_since(&self, since: std::time::Instant) -> MetaResult<()> {
        self.block(self.read_barrier_since_async(since))
    }
}
