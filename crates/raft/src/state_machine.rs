//! The state machine: the metadata store itself.
//!
//! Every entry Raft commits is applied in log order with
//! [`RocksMeta::apply_stamped`], whose write batch also records the *stamp*: the entry's log id
//! and the membership in force after it. After a crash the stamp says exactly where the store
//! is, and Raft applies from the next entry on — never one twice.
//!
//! A snapshot is an export of the store ([`RocksMeta::export`]) at the stamp it carries,
//! taken after the write-ahead log is synced (the store's batches are not synced one by one
//! in a group: the synced Raft log replays what a crash loses — until the log is purged,
//! which happens only up to a snapshot). The current snapshot is also kept in a file
//! (`<meta>/raft-snapshot`: version byte, postcard of its meta and data) to serve lagging
//! gateways after a restart.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kintsugi_meta::{Applied, Outcome, RocksMeta};
use openraft::storage::RaftStateMachine;
use openraft::{AnyError, Entry, EntryPayload, LogId, RaftSnapshotBuilder, Snapshot, SnapshotMeta, StorageError, StorageIOError, StoredMembership};
use std::sync::Mutex;

use crate::{decode, encode, GatewayNode, TypeConfig};

type StoreResult<T> = Result<T, StorageError<u64>>;
type Membership = StoredMembership<u64, GatewayNode>;
type Meta = SnapshotMeta<u64, GatewayNode>;
/// The current snapshot, shared with the snapshot builder.
type Current = Arc<Mutex<Option<(Meta, Arc<Vec<u8>>)>>>;

fn err(e: impl std::fmt::Display) -> AnyError {
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
    current: Current,
    file: PathBuf,
}

impl StateMachine {
    /// The state machine over `meta`, keeping its snapshot file at `file`.
    pub fn new(meta: Arc<RocksMeta>, file: &Path) -> Result<Self, AnyError> {
        let (_, membership) = applied(&meta)?;
        Ok(Self { meta, membership, current: Arc::new(Mutex::new(None)), file: file.to_path_buf() })
    }
}

/// The stamp the store holds: what it has applied, and the membership then.
fn applied(meta: &RocksMeta) -> Result<(Option<LogId<u64>>, Membership), AnyError> {
    match meta.stamp().map_err(err)? {
        Some(bytes) => decode(&bytes).map_err(|e| AnyError::error(format!("the metadata store's log stamp: {e}"))),
        None => Ok((None, Membership::default())),
    }
}

fn save_file(file: &Path, meta: &Meta, data: &[u8]) -> Result<(), AnyError> {
    let bytes = encode(&(meta, data)).map_err(err)?;
    let tmp = file.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, file)?;
        if let Some(dir) = file.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    };
    tokio::task::block_in_place(write).map_err(err)
}

fn load_file(file: &Path) -> Result<Option<(Meta, Vec<u8>)>, AnyError> {
    match std::fs::read(file) {
        Ok(bytes) => decode(&bytes).map(Some).map_err(|e| AnyError::error(format!("{}: {e}", file.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(err(e)),
    }
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
        SnapshotBuilder { meta: self.meta.clone(), current: self.current.clone(), file: self.file.clone() }
    }

    async fn begin_receiving_snapshot(&mut self) -> StoreResult<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(&mut self, meta: &Meta, snapshot: Box<Cursor<Vec<u8>>>) -> StoreResult<()> {
        let data = snapshot.into_inner();
        let sig = Some(meta.signature());
        let stamp = stamp_of(meta.last_log_id, &meta.last_membership).map_err(|e| StorageIOError::write_snapshot(sig.clone(), e))?;
        tokio::task::block_in_place(|| self.meta.import(&data, &stamp)).map_err(|e| StorageIOError::write_snapshot(sig.clone(), err(e)))?;
        self.membership = meta.last_membership.clone();
        save_file(&self.file, meta, &data).map_err(|e| StorageIOError::write_snapshot(sig.clone(), e))?;
        if let Ok(mut c) = self.current.lock() {
            *c = Some((meta.clone(), Arc::new(data)));
        }
        tracing::info!(snapshot = %meta, "installed a metadata snapshot from the leader");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> StoreResult<Option<Snapshot<TypeConfig>>> {
        let cached = self.current.lock().ok().and_then(|c| c.clone());
        let (meta, data) = match cached {
            Some((m, d)) => (m, d.as_ref().clone()),
            None => match load_file(&self.file).map_err(|e| StorageIOError::read_snapshot(None, e))? {
                Some(x) => x,
                None => return Ok(None),
            },
        };
        Ok(Some(Snapshot { meta, snapshot: Box::new(Cursor::new(data)) }))
    }
}

/// Builds snapshots of the metadata store.
pub struct SnapshotBuilder {
    meta: Arc<RocksMeta>,
    current: Current,
    file: PathBuf,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> StoreResult<Snapshot<TypeConfig>> {
        let fail = |e: AnyError| -> StorageError<u64> { StorageIOError::write_snapshot(None, e).into() };
        // Everything applied so far becomes durable before Raft may purge the log behind it.
        let (data, stamp) = tokio::task::block_in_place(|| -> Result<_, kintsugi_meta::MetaError> {
            self.meta.sync_wal()?;
            self.meta.export()
        })
        .map_err(|e| fail(err(e)))?;
        let (last_log_id, last_membership): (Option<LogId<u64>>, Membership) = match stamp {
            Some(s) => decode(&s).map_err(|e| fail(err(e)))?,
            None => (None, Membership::default()),
        };
        let snapshot_id = match last_log_id {
            Some(l) => format!("{}-{}-{:016x}", l.leader_id.term, l.index, rand::random::<u64>()),
            None => format!("empty-{:016x}", rand::random::<u64>()),
        };
        let meta = Meta { last_log_id, last_membership, snapshot_id };
        save_file(&self.file, &meta, &data).map_err(fail)?;
        if let Ok(mut c) = self.current.lock() {
            *c = Some((meta.clone(), Arc::new(data.clone())));
        }
        tracing::info!(snapshot = %meta, bytes = data.len(), "built a metadata snapshot");
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(data)) })
    }
}
