//! Raft's log and vote in a RocksDB of their own (`<meta>/raft`).
//!
//! Column family `log`: key = entry index (u64 big-endian, so keys sort by index), value = the
//! entry (version byte, postcard). Column family `state`: the vote, the last purged log id
//! and the committed log id. An append is synced before Raft hears it is durable; so is a
//! vote (a replica must never vote twice in a term).

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::Arc;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{AnyError, Entry, LogId, LogState, RaftLogReader, StorageError, StorageIOError, Vote};
use rocksdb::{ColumnFamilyDescriptor, Direction, IteratorMode, Options, WriteBatch, WriteOptions, DB};

use crate::{decode, encode, RaftGroupError, TypeConfig};

const CF_LOG: &str = "log";
const CF_STATE: &str = "state";
const KEY_VOTE: &[u8] = b"vote";
const KEY_PURGED: &[u8] = b"purged";
const KEY_COMMITTED: &[u8] = b"committed";

type StoreResult<T> = Result<T, StorageError<u64>>;

/// Raft's log store. Cheap to clone (one database).
#[derive(Clone)]
pub struct LogStore {
    db: Arc<DB>,
}

fn err(e: impl std::fmt::Display) -> AnyError {
    AnyError::error(e.to_string())
}

fn synced() -> WriteOptions {
    let mut wo = WriteOptions::default();
    wo.set_sync(true);
    wo
}

impl LogStore {
    /// Open (creating if needed) the log store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, RaftGroupError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_keep_log_file_num(5);
        let cfs = [CF_LOG, CF_STATE].map(|n| ColumnFamilyDescriptor::new(n, Options::default()));
        let db = DB::open_cf_descriptors(&opts, dir, cfs).map_err(|e| RaftGroupError::LogStore { path: dir.display().to_string(), detail: e.to_string() })?;
        Ok(Self { db: Arc::new(db) })
    }

    fn cf(&self, name: &'static str) -> Result<&rocksdb::ColumnFamily, AnyError> {
        self.db.cf_handle(name).ok_or_else(|| AnyError::error(format!("column family {name} is missing")))
    }

    fn get_state<T: serde::de::DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, AnyError> {
        match self.db.get_cf(self.cf(CF_STATE)?, key).map_err(err)? {
            Some(v) => decode(&v).map(Some).map_err(err),
            None => Ok(None),
        }
    }

    fn put_state<T: serde::Serialize>(&self, key: &[u8], value: &T, sync: bool) -> Result<(), AnyError> {
        let mut b = WriteBatch::default();
        b.put_cf(self.cf(CF_STATE)?, key, encode(value).map_err(err)?);
        let wo = if sync { synced() } else { WriteOptions::default() };
        tokio::task::block_in_place(|| self.db.write_opt(b, &wo)).map_err(err)
    }

    fn last_entry_id(&self) -> Result<Option<LogId<u64>>, AnyError> {
        let mut it = self.db.iterator_cf(self.cf(CF_LOG)?, IteratorMode::End);
        match it.next() {
            Some(item) => {
                let (_, v) = item.map_err(err)?;
                let e: Entry<TypeConfig> = decode(&v).map_err(err)?;
                Ok(Some(e.log_id))
            }
            None => Ok(None),
        }
    }

    fn entries(&self, start: u64, end: Option<u64>) -> Result<Vec<Entry<TypeConfig>>, AnyError> {
        let mut out = Vec::new();
        let from = start.to_be_bytes();
        for item in self.db.iterator_cf(self.cf(CF_LOG)?, IteratorMode::From(&from, Direction::Forward)) {
            let (k, v) = item.map_err(err)?;
            let idx = index_of(&k)?;
            if end.is_some_and(|e| idx >= e) {
                break;
            }
            let e: Entry<TypeConfig> = decode(&v).map_err(err)?;
            if e.log_id.index != idx {
                return Err(AnyError::error(format!("log entry under index {idx} says it is {}", e.log_id.index)));
            }
            out.push(e);
        }
        Ok(out)
    }

    /// Delete log entries with index in `[from, to)`.
    fn delete_range(&self, from: u64, to: u64) -> Result<(), AnyError> {
        let mut b = WriteBatch::default();
        b.delete_range_cf(self.cf(CF_LOG)?, from.to_be_bytes(), to.to_be_bytes());
        tokio::task::block_in_place(|| self.db.write_opt(b, &synced())).map_err(err)
    }
}

fn index_of(key: &[u8]) -> Result<u64, AnyError> {
    let b: [u8; 8] = key.try_into().map_err(|_| AnyError::error(format!("log key of {} bytes", key.len())))?;
    Ok(u64::from_be_bytes(b))
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(&mut self, range: RB) -> StoreResult<Vec<Entry<TypeConfig>>> {
        let start = match range.start_bound() {
            Bound::Included(s) => *s,
            Bound::Excluded(s) => s.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(e) => Some(e.saturating_add(1)),
            Bound::Excluded(e) => Some(*e),
            Bound::Unbounded => None,
        };
        self.entries(start, end).map_err(|e| StorageIOError::read_logs(e).into())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> StoreResult<LogState<TypeConfig>> {
        let purged: Option<LogId<u64>> = self.get_state(KEY_PURGED).map_err(StorageIOError::read_logs)?;
        let last = self.last_entry_id().map_err(StorageIOError::read_logs)?.or(purged);
        Ok(LogState { last_purged_log_id: purged, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> StoreResult<()> {
        self.put_state(KEY_VOTE, vote, true).map_err(|e| StorageIOError::write_vote(e).into())
    }

    async fn read_vote(&mut self) -> StoreResult<Option<Vote<u64>>> {
        self.get_state(KEY_VOTE).map_err(|e| StorageIOError::read_vote(e).into())
    }

    async fn save_committed(&mut self, committed: Option<LogId<u64>>) -> StoreResult<()> {
        // Not synced: a lost committed id is learned again from the leader.
        self.put_state(KEY_COMMITTED, &committed, false).map_err(|e| StorageIOError::write_logs(e).into())
    }

    async fn read_committed(&mut self) -> StoreResult<Option<LogId<u64>>> {
        Ok(self.get_state::<Option<LogId<u64>>>(KEY_COMMITTED).map_err(StorageIOError::read_logs)?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> StoreResult<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut b = WriteBatch::default();
        let cf = self.cf(CF_LOG).map_err(StorageIOError::write_logs)?;
        for e in entries {
            b.put_cf(cf, e.log_id.index.to_be_bytes(), encode(&e).map_err(|x| StorageIOError::write_logs(err(x)))?);
        }
        let written = tokio::task::block_in_place(|| self.db.write_opt(b, &synced()));
        match written {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(StorageIOError::write_logs(err(e)).into())
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> StoreResult<()> {
        self.delete_range(log_id.index, u64::MAX).map_err(|e| StorageIOError::write_logs(e).into())
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> StoreResult<()> {
        // The purge point first: a crash in between leaves entries below it, which are ignored.
        self.put_state(KEY_PURGED, &log_id, true).map_err(StorageIOError::write_logs)?;
        self.delete_range(0, log_id.index.saturating_add(1)).map_err(|e| StorageIOError::write_logs(e).into())
    }
}
