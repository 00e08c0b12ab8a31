//! Receiving a snapshot from the leader, chunk by chunk, in place of openraft's own receiver.
//!
//! openraft purges the log behind a snapshot the moment it decides to install it, while the
//! state machine imports it in the background. With openraft's receiver, a damaged file or a
//! stop before the import began left a follower whose log was purged past its store: it could
//! not start again and had to rejoin. Here the whole file is checked before openraft hears of
//! it, and recorded (durably) as pending:
//!
//! - a file that fails its check is refused (`SnapshotMismatch`, so the leader sends it again
//!   from the start: damage in transit or on this disk); openraft never sees it, nothing is
//!   purged, the store is untouched. A snapshot that fails [`MAX_FAILED_CHECKS`] times (the
//!   leader's own file is damaged, or it is of a format this gateway cannot read) is refused
//!   with an error, logged as an error here, and from then on refused at its first chunk: the
//!   leader keeps retrying (openraft's replication backs off and starts the transfer again),
//!   but each attempt costs one chunk, not a whole transfer and check. The leader's next
//!   snapshot (another id) is received as usual;
//! - a stop after openraft purged for it and before the import ran is finished at the next start
//!   from the pending file ([`crate::state_machine::StateMachine::recover`]).
//!
//! Chunks follow openraft's rules (`InstallSnapshotRequest`: the snapshot's id, offset, data,
//! `done`): a new id starts at offset 0, a chunk may repeat bytes already written (a resend),
//! never skip any.

use std::path::PathBuf;
use std::sync::Arc;

use openraft::error::{InstallSnapshotError, RaftError, SnapshotMismatch};
use openraft::raft::{InstallSnapshotRequest, InstallSnapshotResponse};
use openraft::{AnyError, Snapshot, SnapshotSegmentId, StorageError, StorageIOError};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use super::MetaGroup;
use crate::snapshots::Snapshots;
use crate::TypeConfig;

type Answer = Result<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>>;

/// How many times one snapshot may fail its check before it is refused for good.
pub(crate) const MAX_FAILED_CHECKS: u32 = 3;

/// The snapshot being received, if any.
pub(crate) struct Receiver {
    snapshots: Arc<Snapshots>,
    current: tokio::sync::Mutex<Option<Transfer>>,
    /// The last snapshot that failed its check, and how many times.
    failed: std::sync::Mutex<Option<(String, u32)>>,
}

/// The answer to a snapshot refused for good.
fn refused_for_good(id: &str, times: u32, why: &str) -> RaftError<u64, InstallSnapshotError> {
    storage(format!("snapshot {id} failed its check {times} times here ({why}); it is refused until the leader has another"))
}

struct Transfer {
    id: String,
    path: PathBuf,
    file: tokio::fs::File,
    /// Bytes written so far (the next chunk may start at or before it).
    written: u64,
}

fn mismatch(id: &str, expect: u64, got: u64) -> RaftError<u64, InstallSnapshotError> {
    RaftError::APIError(InstallSnapshotError::SnapshotMismatch(SnapshotMismatch {
        expect: SnapshotSegmentId { id: id.to_owned(), offset: expect },
        got: SnapshotSegmentId { id: id.to_owned(), offset: got },
    }))
}

fn storage(e: impl std::fmt::Display) -> RaftError<u64, InstallSnapshotError> {
    RaftError::Fatal(openraft::error::Fatal::StorageError(StorageError::from(StorageIOError::write_snapshot(None, AnyError::error(e.to_string())))))
}

impl Receiver {
    pub(crate) fn new(snapshots: Arc<Snapshots>) -> Self {
        Self { snapshots, current: tokio::sync::Mutex::new(None), failed: std::sync::Mutex::new(None) }
    }

    /// How many times snapshot `id` failed its check, if that many that it is refused for good.
    fn refused(&self, id: &str) -> Option<u32> {
        let failed = self.failed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        failed.as_ref().filter(|(f, n)| f == id && *n >= MAX_FAILED_CHECKS).map(|(_, n)| *n)
    }
}

impl MetaGroup {
    /// One chunk of a snapshot from the leader (openraft's `InstallSnapshot`).
    pub(crate) async fn receive_snapshot(&self, req: InstallSnapshotRequest<TypeConfig>) -> Answer {
        let mine = self.raft.with_raft_state(|s| *s.vote_ref()).await.map_err(RaftError::Fatal)?;
        // As openraft's own receiver: a vote that is not at least ours (older, or not comparable).
        if !matches!(req.vote.partial_cmp(&mine), Some(std::cmp::Ordering::Greater | std::cmp::Ordering::Equal)) {
            // A deposed leader: answered with the newer vote, nothing written.
            return Ok(InstallSnapshotResponse { vote: mine });
        }
        let r = &self.receiver;
        let mut current = r.current.lock().await;
        let id = req.meta.snapshot_id.clone();
        if current.as_ref().is_none_or(|t| t.id != id) {
            if req.offset != 0 {
                return Err(mismatch(&id, 0, req.offset));
            }
            if let Some(times) = self.receiver.refused(&id) {
                return Err(refused_for_good(&id, times, "refused before any byte was written"));
            }
            if let Some(old) = current.take() {
                std::fs::remove_file(&old.path).ok();
            }
            let (path, file) = r.snapshots.receive_file().await.map_err(storage)?;
            *current = Some(Transfer { id: id.clone(), path, file, written: 0 });
        }
        let Some(t) = current.as_mut() else { return Err(storage("no snapshot transfer after starting one")) };
        if req.offset > t.written {
            return Err(mismatch(&id, t.written, req.offset));
        }
        let end = req.offset + req.data.len() as u64;
        let write = async {
            t.file.seek(std::io::SeekFrom::Start(req.offset)).await?;
            t.file.write_all(&req.data).await?;
            if req.done {
                // A resend may have left bytes past the end of an earlier, longer attempt.
                t.file.set_len(end).await?;
                t.file.sync_all().await?;
            }
            std::io::Result::Ok(())
        };
        if let Err(e) = write.await {
            if let Some(t) = current.take() {
                std::fs::remove_file(&t.path).ok();
            }
            return Err(storage(format!("writing a received snapshot: {e}")));
        }
        t.written = t.written.max(end);
        if !req.done {
            return Ok(InstallSnapshotResponse { vote: mine });
        }
        let Some(t) = current.take() else { return Err(storage("no snapshot transfer to finish")) };
        drop(t.file);
        self.install_received(req.vote, req.meta, t.path).await
    }

    /// A snapshot received whole into `part`: check it, record it as pending, have openraft
    /// install it.
    async fn install_received(&self, vote: openraft::Vote<u64>, meta: crate::state_machine::Meta, part: PathBuf) -> Answer {
        let snapshots = self.receiver.snapshots.clone();
        let checked = {
            let (meta, part) = (meta.clone(), part.clone());
            tokio::task::spawn_blocking(move || -> Result<Result<PathBuf, String>, AnyError> {
                if let Err(e) = kintsugi_meta::check_export_file(&part) {
                    std::fs::remove_file(&part).ok();
                    return Ok(Err(e.to_string()));
                }
                let file = snapshots.finish(&part)?;
                if let Err(e) = snapshots.set_pending(&meta, &file) {
                    std::fs::remove_file(&file).ok();
                    return Err(e);
                }
                Ok(Ok(file))
            })
            .await
            .map_err(storage)?
            .map_err(storage)?
        };
        let file = match checked {
            Ok(f) => f,
            Err(why) => {
                let times = {
                    let mut failed = self.receiver.failed.lock().map_err(|_| storage("the receiver's lock was poisoned"))?;
                    let n = match failed.as_ref() {
                        Some((id, n)) if *id == meta.snapshot_id => n + 1,
                        _ => 1,
                    };
                    *failed = Some((meta.snapshot_id.clone(), n));
                    n
                };
                if times >= MAX_FAILED_CHECKS {
                    tracing::error!(snapshot = %meta, error = %why, times, "a snapshot from the leader keeps failing its check (is the leader's snapshot file damaged, or of a newer format?); refused until the leader has another");
                    return Err(refused_for_good(&meta.snapshot_id, times, &why));
                }
                tracing::warn!(snapshot = %meta, error = %why, times, "refused a snapshot from the leader that fails its check; it will be sent again");
                return Err(mismatch(&meta.snapshot_id, 0, 0));
            }
        };
        let data = match tokio::fs::File::open(&file).await {
            Ok(f) => f,
            Err(e) => {
                let snapshots = self.receiver.snapshots.clone();
                let f = file.clone();
                tokio::task::spawn_blocking(move || snapshots.clear_pending(Some(&f))).await.ok();
                return Err(storage(format!("opening {}: {e}", file.display())));
            }
        };
        let resp = self.raft.install_full_snapshot(vote, Snapshot { meta, snapshot: Box::new(data) }).await.map_err(RaftError::Fatal)?;
        // Not installed (an older snapshot than the store, or a newer vote): openraft purged
        // nothing for it, so it need not stay pending. Installed: already cleared.
        let snapshots = self.receiver.snapshots.clone();
        match tokio::task::spawn_blocking(move || snapshots.clear_pending(Some(&file))).await {
            Ok(Ok(())) => {}
            // The install's outcome stands; the next start drops a stale record.
            Ok(Err(e)) => tracing::warn!(error = %e, "could not clear the pending snapshot record"),
            Err(e) => tracing::warn!(error = %e, "could not clear the pending snapshot record"),
        }
        Ok(InstallSnapshotResponse { vote: resp.vote })
    }
}
