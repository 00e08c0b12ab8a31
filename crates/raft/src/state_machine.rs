//! The state machine: the metadata store itself.
//!
//! Every entry Raft commits is applied in log order with
//! [`RocksMeta::apply_stamped`], whose write batch also records the *stamp*: the entry's log id
//! and the membership in force after it. After a crash the stamp says exactly where the store
//! is, and Raft applies from the next entry on — never one twice.
//!
//! A snapshot is a streamed export of the store ([`RocksMeta::export_file`]) at the stamp it
//! carries, taken after the write-ahead log is synced (the store's batches are not synced one
//! by one in a group: the synced Raft log replays what a crash loses — until the log is
//! purged, which happens only up to a snapshot). Snapshots live as files, never in memory
//! (`snapshots.rs`): Raft sends the current one in chunks read from its file, and a snapshot
//! received is written chunk by chunk to a file and checked whole (`group/receive.rs`), recorded
//! as pending, and only then handed to openraft, which purges its log and has it imported
//! ([`RocksMeta::import_checked_file`]). A stop anywhere in between is finished at the next start
//! ([`StateMachine::recover`] for a pending snapshot, [`RocksMeta::open`] for an import that
//! began); meanwhile the reads that decide access refuse.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;

use kintsugi_meta::{Applied, Outcome, RocksMeta};
use openraft::storage::RaftStateMachine;
use openraft::{AnyError, Entry, EntryPayload, LogId, RaftSnapshotBuilder, Snapshot, SnapshotMeta, StorageError, StorageIOError, StoredMembership};

use crate::snapshots::Snapshots;
use crate::{decode, encode, GatewayNode, TypeConfig};

type StoreResult<T> = Result<T, StorageError<u64>>;
type Membership = StoredMembership<u64, GatewayNode>;
pub(crate) type Meta = SnapshotMeta<u64, GatewayNode>;

pub(crate) fn err(e: impl std::fmt::Display) -> AnyError {
    AnyError::error(e.to_string())
}

/// The stamp recorded with each applied entry.
fn stamp_of(log_id: Option<LogId<u64>>, membership: &Membership) -> Result<Vec<u8>, AnyError> {
    encode(&(log_id, membership)).map_err(err)
}

/// The metadata store as Raft's state machine.
pub struct StateMachine {
    meta: Arc<RocksMeta>,
    membership: Membership,
    snapshots: Arc<Snapshots>,
}

impl StateMachine {
    /// The state machine over `meta`, keeping its snapshots under `dir` (the `--meta` directory).
    pub fn new(meta: Arc<RocksMeta>, dir: &Path) -> Result<Self, AnyError> {
        let (_, membership) = applied(&meta)?;
        let snapshots = Arc::new(Snapshots::open(dir)?);
        Ok(Self { meta, membership, snapshots })
    }

    /// The snapshot files, shared with the receiver of snapshots (`group/receive.rs`).
    pub(crate) fn snapshots(&self) -> Arc<Snapshots> {
        self.snapshots.clone()
    }

    /// Before Raft starts, given the log's purged position:
    ///
    /// 1. **Finish an install a stop interrupted.** A snapshot received and checked is recorded
    ///    as pending before openraft hears of it; openraft purges the log for it at once, before
    ///    the store imports it. If the log was purged that far and the store has not applied
    ///    that far, the import never began: run it now from the checked file. (One that began
    ///    was finished by [`RocksMeta::open`]; its snapshot is made current here if it is not.)
    ///    Otherwise the pending snapshot is dropped (installed, or never purged for, so the log
    ///    still holds what the store lacks).
    /// 2. **Make sure the current snapshot reaches `purged`**: if not, build one from the store,
    ///    when the store has applied at least that far. When it has not, the entries in between
    ///    are gone from everywhere here: refuse to start, saying what to do.
    pub async fn recover(&mut self, purged: Option<LogId<u64>>) -> Result<(), AnyError> {
        if let Some((meta, file)) = self.snapshots.pending()? {
            let (applied, _) = applied(&self.meta)?;
            if applied == meta.last_log_id && self.snapshots.current_log_id()? < meta.last_log_id {
                // Imported (the store's open finished an import the stop interrupted), not yet
                // made current: it is, rather than building the same snapshot again.
                tokio::task::block_in_place(|| self.snapshots.set_current(&meta, &file))?;
            } else if purged.is_some() && purged >= meta.last_log_id && applied < meta.last_log_id {
                tracing::warn!(snapshot = %meta, "finishing the install of a metadata snapshot that a stop interrupted");
                let stamp = stamp_of(meta.last_log_id, &meta.last_membership)?;
                tokio::task::block_in_place(|| self.meta.import_checked_file(&file, &stamp)).map_err(|e| {
                    AnyError::error(format!(
                        "finishing the install of the snapshot {} that a stop interrupted: {e}; if this repeats, move this gateway's --meta directory away and join the group again",
                        file.display()
                    ))
                })?;
                self.membership = meta.last_membership.clone();
                tokio::task::block_in_place(|| self.snapshots.set_current(&meta, &file))?;
            }
        }
        // Also a record that is unreadable or names a missing file (`pending` ignores those).
        self.snapshots.clear_pending(None)?;
        if purged.is_none() || self.snapshots.current_log_id()? >= purged {
            return Ok(());
        }
        let (applied, _) = applied(&self.meta)?;
        if applied < purged {
            return Err(AnyError::error(format!(
                "this gateway's Raft log was purged up to {purged:?} for a snapshot it never finished installing, and its metadata has applied only up to {applied:?}; \
                 it cannot catch up from its own files: stop it, move its --meta directory away and join the group again (kintsugi admin gateway join-token)"
            )));
        }
        tracing::warn!(?purged, "the current snapshot is older than the purged log (a crash during an install); building one");
        build(&self.meta, &self.snapshots).await.map(drop)
    }
}

/// Build a snapshot of `meta` into a file and make it current.
async fn build(meta: &RocksMeta, snapshots: &Snapshots) -> Result<Snapshot<TypeConfig>, AnyError> {
    let part = snapshots.build_path();
    // Everything applied so far becomes durable before Raft may purge the log behind it.
    let written = tokio::task::block_in_place(|| -> Result<_, kintsugi_meta::MetaError> {
        meta.sync_wal()?;
        meta.export_file(&part)
    });
    let summary = match written {
        Ok(s) => s,
        Err(e) => {
            std::fs::remove_file(&part).ok();
            return Err(err(e));
        }
    };
    let (last_log_id, last_membership): (Option<LogId<u64>>, Membership) = match &summary.stamp {
        Some(s) => decode(s).map_err(err)?,
        None => (None, Membership::default()),
    };
    let snapshot_id = match last_log_id {
        Some(l) => format!("{}-{}-{:016x}", l.leader_id.term, l.index, rand::random::<u64>()),
        None => format!("empty-{:016x}", rand::random::<u64>()),
    };
    let meta = Meta { last_log_id, last_membership, snapshot_id };
    let file = tokio::task::block_in_place(|| snapshots.finish(&part))?;
    // Opened before it becomes current: a newer snapshot installed meanwhile may remove it.
    let data = tokio::fs::File::open(&file).await.map_err(err)?;
    tokio::task::block_in_place(|| snapshots.set_current(&meta, &file))?;
    tracing::info!(snapshot = %meta, bytes = summary.bytes, records = summary.records, "built a metadata snapshot");
    Ok(Snapshot { meta, snapshot: Box::new(data) })
}

/// The stamp the store holds: what it has applied, and the membership then.
fn applied(meta: &RocksMeta) -> Result<(Option<LogId<u64>>, Membership), AnyError> {
    match meta.stamp().map_err(err)? {
        Some(bytes) => decode(&bytes).map_err(|e| AnyError::error(format!("the metadata store's log stamp: {e}"))),
        None => Ok((None, Membership::default())),
    }
}

/// The voters of the group as `meta` last applied it (the membership in its stamp), with
/// their records: none for a store that never applied a Raft entry (a single gateway's from
/// before groups, or a new one).
pub fn applied_voters(meta: &RocksMeta) -> Result<Vec<(u64, GatewayNode)>, crate::RaftGroupError> {
    let (_, m) = applied(meta).map_err(|e| crate::RaftGroupError::Raft(e.to_string()))?;
    let membership = m.membership();
    Ok(membership.voter_ids().map(|id| (id, membership.get_node(&id).cloned().unwrap_or_default())).collect())
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> StoreResult<(Option<LogId<u64>>, Membership)> {
        applied(&self.meta).map_err(|e| StorageIOError::read_state_machine(e).into())
    }

    async fn apply<I>(&mut self, entries: I) -> StoreResult<Vec<Outcome>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut out = Vec::new();
        for entry in entries {
            let log_id = entry.log_id;
            if let EntryPayload::Membership(m) = &entry.payload {
                self.membership = StoredMembership::new(Some(log_id), m.clone());
            }
            let stamp = stamp_of(Some(log_id), &self.membership).map_err(|e| StorageIOError::apply(log_id, e))?;
            let outcome = match &entry.payload {
                EntryPayload::Normal(cmd) => tokio::task::block_in_place(|| self.meta.apply_stamped(cmd, &stamp)),
                EntryPayload::Blank | EntryPayload::Membership(_) => self.meta.record_stamp(&stamp).map(|()| Outcome::Applied(Applied::Done)),
            };
            out.push(outcome.map_err(|e| StorageIOError::apply(log_id, err(e)))?);
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder { meta: self.meta.clone(), snapshots: self.snapshots.clone() }
    }

    async fn begin_receiving_snapshot(&mut self) -> StoreResult<Box<tokio::fs::File>> {
        // Only openraft's own chunk receiver calls this, and the gateways do not use it: theirs
        // (`group/receive.rs`) checks the file and records it as pending before openraft sees
        // it. A file received here would be refused by `install_snapshot`.
        let (_, file) = self.snapshots.receive_file().await.map_err(|e| StorageIOError::write_snapshot(None, e))?;
        Ok(Box::new(file))
    }

    async fn install_snapshot(&mut self, meta: &Meta, snapshot: Box<tokio::fs::File>) -> StoreResult<()> {
        let sig = Some(meta.signature());
        let fail = |e: AnyError| -> StorageError<u64> { StorageIOError::write_snapshot(sig.clone(), e).into() };
        let ino = snapshot.metadata().await.map_err(|e| fail(err(e)))?.ino();
        drop(snapshot);
        let stamp = stamp_of(meta.last_log_id, &meta.last_membership).map_err(fail)?;
        // Only the file the receiver checked and recorded as pending is installed.
        let file = match self.snapshots.pending().map_err(fail)? {
            Some((m, f)) if m.snapshot_id == meta.snapshot_id && std::fs::metadata(&f).is_ok_and(|md| md.ino() == ino) => f,
            _ => return Err(fail(AnyError::error("a snapshot to install that is not the one received, checked and recorded as pending here"))),
        };
        // A failure leaves the pending record: the next start finishes the install (if the
        // import began, its marker does).
        tokio::task::block_in_place(|| self.meta.import_checked_file(&file, &stamp)).map_err(|e| fail(err(e)))?;
        self.membership = meta.last_membership.clone();
        tokio::task::block_in_place(|| self.snapshots.set_current(meta, &file)).map_err(fail)?;
        if let Err(e) = tokio::task::block_in_place(|| self.snapshots.clear_pending(Some(&file))) {
            // The store holds the snapshot; the next start drops the stale record.
            tracing::warn!(error = %e, "could not clear the pending snapshot record after installing it");
        }
        tracing::info!(snapshot = %meta, "installed a metadata snapshot from the leader");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> StoreResult<Option<Snapshot<TypeConfig>>> {
        self.snapshots.open_current().await.map_err(|e| StorageIOError::read_snapshot(None, e).into())
    }
}

/// Builds snapshots of the metadata store.
pub struct SnapshotBuilder {
    meta: Arc<RocksMeta>,
    snapshots: Arc<Snapshots>,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> StoreResult<Snapshot<TypeConfig>> {
        build(&self.meta, &self.snapshots).await.map_err(|e| StorageIOError::write_snapshot(None, e).into())
    }
}
