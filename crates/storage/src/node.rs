//! The storage node: serves shard requests for its disks over QUIC and
//! reports to the gateway every heartbeat interval.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kintsugi_disk::{DirState, Disk, DiskError, DiskResult, ShardHeader};
use kintsugi_net::{write_frame, Client, Handler, NetError, NetResult};

use crate::local::LocalShards;
use crate::segment::ReadCounters;
use crate::proto::{DiskReport, ErrorCode, ListedShard, Request, Response, ShardRead, ShardSource, COUNTER_REFUSED};
use crate::records::{get_record_head, read_put_record, shard_error_response, table_record, PutRecord, FAILED_RECORD};
use crate::shards::{ShardStore, WriteError};

/// Open the node's disk directories: a formatted one keeps its identity, an
/// empty or missing one is formatted with a new uuid, anything else is refused.
pub fn open_node_disks(dirs: &[PathBuf]) -> DiskResult<Vec<Arc<Disk>>> {
    let mut out: Vec<Arc<Disk>> = Vec::new();
    let mut fresh = Vec::new();
    for dir in dirs {
        match open_formatted(dir, &out)? {
            Some(d) => out.push(d),
            None => fresh.push(dir.clone()),
        }
    }
    for dir in fresh {
        let d = format_disk(&dir, &out)?;
        out.push(d);
    }
    Ok(out)
}

/// A formatted disk directory opened with its identity; `None` when it is empty or missing.
fn open_formatted(dir: &Path, open: &[Arc<Disk>]) -> DiskResult<Option<Arc<Disk>>> {
    let DirState::Formatted { id, uuid } = Disk::inspect(dir)? else { return Ok(None) };
    if open.iter().any(|d| d.uuid() == uuid) {
        return Err(DiskError::Invalid { detail: format!("{} is given twice (same disk identity)", dir.display()) });
    }
    Ok(Some(Arc::new(Disk::open(dir, id, uuid)?)))
}

/// Format an empty or missing directory as a new disk, numbered after the node's others.
fn format_disk(dir: &Path, open: &[Arc<Disk>]) -> DiskResult<Arc<Disk>> {
    let id = open.iter().map(|d| d.id()).max().unwrap_or(0) + 1;
    Ok(Arc::new(Disk::format_new(dir, id)?))
}

/// The disks a node serves: the `--data` directories plus any added while
/// running (listed in `added_file`, so a restart opens them too).
#[derive(Debug)]
pub struct NodeDisks {
    list: parking_lot::RwLock<Vec<Arc<Disk>>>,
    added_file: Option<PathBuf>,
    /// Bumped when a disk is added (heartbeats report it at once).
    changed: tokio::sync::watch::Sender<u64>,
}

impl NodeDisks {
    /// Serve `disks`; directories added later are recorded in `added_file`.
    pub fn new(disks: Vec<Arc<Disk>>, added_file: Option<PathBuf>) -> Arc<Self> {
        Arc::new(Self { list: parking_lot::RwLock::new(disks), added_file, changed: tokio::sync::watch::Sender::new(0) })
    }

    /// Changes when a disk is added.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Directories recorded in `added_file` by earlier `add` calls (none when the file is absent).
    pub fn recorded(added_file: &Path) -> std::io::Result<Vec<PathBuf>> {
        match std::fs::read_to_string(added_file) {
            Ok(s) => Ok(s.lines().map(str::trim).filter(|l| !l.is_empty()).map(PathBuf::from).collect()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// The disks now.
    pub fn list(&self) -> Vec<Arc<Disk>> {
        self.list.read().clone()
    }

    /// Open (formatting when empty) directory `dir` and serve it from now on;
    /// an already served directory is answered with its disk.
    pub fn add(&self, dir: &Path) -> DiskResult<Arc<Disk>> {
        if !dir.is_absolute() {
            return Err(DiskError::Invalid { detail: format!("{} is not an absolute path", dir.display()) });
        }
        let same = self.list.read().iter().find(|d| d.root() == dir).cloned();
        if let Some(d) = same {
            if d.check() {
                return Ok(d); // already served
            }
            // Its identity is gone (the disk was swapped for an empty one): the old disk stays
            // failed and the directory is taken as a new disk below.
            self.list.write().retain(|x| !Arc::ptr_eq(x, &d));
        }
        if let Some(state) = self.added_file.as_ref().and_then(|f| f.parent()) {
            if state.starts_with(dir) || dir.starts_with(state) {
                return Err(DiskError::Invalid { detail: format!("{} overlaps the node's state directory {}", dir.display(), state.display()) });
            }
        }
        let open = self.list();
        if let Some(d) = open.iter().find(|d| dir.starts_with(d.root()) || d.root().starts_with(dir)) {
            return Err(DiskError::Invalid { detail: format!("{} overlaps disk directory {}", dir.display(), d.root().display()) });
        }
        let disk = match open_formatted(dir, &open)? {
            Some(d) => d,
            None => format_disk(dir, &open)?,
        };
        if let Err(e) = disk.clean_tmp() {
            tracing::warn!(path = %dir.display(), error = %e, "could not clean temp dir");
        }
        if let Some(f) = &self.added_file {
            let io = |source| DiskError::Io { disk: disk.id(), path: f.clone(), source };
            let mut dirs = Self::recorded(f).map_err(io)?;
            if !dirs.iter().any(|d| d == dir) {
                dirs.push(dir.to_path_buf());
            }
            let text: String = dirs.iter().map(|d| format!("{}\n", d.display())).collect();
            write_durably(f, text.as_bytes()).map_err(io)?;
        }
        self.list.write().push(disk.clone());
        self.changed.send_modify(|n| *n += 1);
        tracing::warn!(disk = disk.id(), path = %dir.display(), "disk added while running; it takes new shards once the gateway has it");
        Ok(disk)
    }
}

/// Write `path` so that it is whole or absent after a crash: temp file, fsync, rename, fsync the directory.
pub(crate) fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    match path.parent() {
        Some(dir) => kintsugi_disk::sync_dir(dir),
        None => Ok(()),
    }
}

/// What a node counts and reports to the gateway with its heartbeats (shown on the gateway's
/// `/metrics`).
#[derive(Debug, Default)]
pub struct NodeCounters {
    /// Requests refused: a member asking for what only the gateway may do, or a peer
    /// without a certificate.
    pub refused: AtomicU64,
    /// What the node's reads of rebuild sources found.
    pub reads: ReadCounters,
}

impl NodeCounters {
    /// The counters as a heartbeat carries them.
    pub fn named(&self) -> Vec<(String, u64)> {
        let r = &self.reads;
        vec![
            (COUNTER_REFUSED.to_owned(), self.refused.load(Ordering::Relaxed)),
            ("rebuild_sources_corrupt".to_owned(), r.shard_corrupt.load(Ordering::Relaxed)),
            ("rebuild_sources_missing".to_owned(), r.shard_missing.load(Ordering::Relaxed)),
            ("rebuild_sources_hedged".to_owned(), r.hedged_reads.load(Ordering::Relaxed)),
        ]
    }
}

/// The name a gateway's certificate carries (the join authority never signs it for a node).
const GATEWAY: &str = "gateway";

/// Whether only the gateway may send `req`: everything that writes, deletes, checks or
/// rebuilds shards, or adds disks. Members may read shards (nodes pull sources from each other
/// for the rebuilds and copies a gateway orders) and ping.
fn gateway_only(req: &Request) -> bool {
    matches!(
        req,
        Request::PutShard { .. }
            | Request::CheckShard { .. }
            | Request::DeleteShard { .. }
            | Request::RebuildShard { .. }
            | Request::AddDisk { .. }
            | Request::ListShards { .. }
            | Request::GrantRead { .. }
    )
}

/// Most shards one `ListShards` answer looks at (whatever the request asks).
const MAX_LIST: usize = 4096;

/// The node's request handler.
#[derive(Debug)]
pub struct NodeService {
    name: String,
    disks: Arc<NodeDisks>,
    served: parking_lot::RwLock<HashMap<u128, LocalShards>>,
    /// Links to other nodes (for rebuilds), when the node has a certificate to reach them with.
    peers: Option<crate::rebuild::PeerLinks>,
    counters: Arc<NodeCounters>,
    /// Which other nodes may read which shards, and until when (`grants.rs`).
    grants: parking_lot::Mutex<crate::grants::Grants>,
}

impl NodeService {
    /// Serve `disks` as node `name`.
    pub fn new(name: &str, disks: Arc<NodeDisks>) -> Self {
        let served = disks.list().iter().map(|d| (d.uuid(), LocalShards::new(d.clone(), name, 0))).collect();
        Self {
            name: name.to_owned(),
            disks,
            served: parking_lot::RwLock::new(served),
            peers: None,
            counters: Arc::default(),
            grants: parking_lot::Mutex::default(),
        }
    }

    /// The node's counters (its heartbeats report them).
    pub fn counters(&self) -> Arc<NodeCounters> {
        self.counters.clone()
    }

    /// Refuse `what` from member `peer`: logged, counted, answered `Forbidden`.
    fn refuse(&self, peer: &str, what: &str) -> Response {
        self.counters.refused.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(peer, request = what, "request refused: only the gateway may send it");
        Response::error(ErrorCode::Forbidden, format!("node {} serves {what} to the gateway only; {peer} is a storage node", self.name))
    }

    /// Let the node reach other nodes with `client` (its own certificate), so it can rebuild shards.
    pub fn with_peers(mut self, client: Client, deadline: Duration) -> Self {
        self.peers = Some(crate::rebuild::PeerLinks::new(client, deadline));
        self
    }

    async fn rebuild(&self, disk: u128, header: &[u8], coding: kintsugi_erasure::Coding, segment_len: u64, expected: [u8; 32], sources: Vec<ShardSource>) -> Response {
        let Some(links) = &self.peers else {
            return Response::error(ErrorCode::NotSupported, "this node cannot reach its peers");
        };
        let (target, header) = match self.disk_and_header(disk, header) {
            Ok(x) => x,
            Err(r) => return r,
        };
        let local = self.served.read().clone();
        let peers = crate::rebuild::Peers { me: &self.name, local: &local, links, counters: &self.counters.reads };
        let job = crate::rebuild::RebuildJob { header, coding, segment_len, expected, sources };
        match crate::rebuild::rebuild(&peers, &target, job).await {
            Ok(bytes_read) => Response::ShardRebuilt { bytes_read },
            Err(e) => Response::error(ErrorCode::RebuildFailed, e.to_string()),
        }
    }

    fn disk(&self, uuid: u128) -> Result<LocalShards, Response> {
        self.served.read().get(&uuid).cloned().ok_or_else(|| Response::error(ErrorCode::UnknownDisk, format!("node {} has no disk {uuid:032x}; was it replaced?", self.name)))
    }

    /// The disk a shard goes to and its decoded header, or the answer that says why not.
    fn disk_and_header(&self, uuid: u128, header: &[u8]) -> Result<(LocalShards, ShardHeader), Response> {
        let disk = self.disk(uuid)?;
        let header = ShardHeader::decode(header).map_err(|e| Response::error(ErrorCode::Invalid, format!("bad shard header: {e}")))?;
        Ok((disk, header))
    }

    async fn add_disk(&self, path: String) -> Response {
        let disks = self.disks.clone();
        let dir = PathBuf::from(&path);
        match tokio::task::spawn_blocking(move || disks.add(&dir)).await {
            Ok(Ok(d)) => {
                self.served.write().insert(d.uuid(), LocalShards::new(d.clone(), &self.name, 0));
                Response::DiskAdded { uuid: d.uuid() }
            }
            Ok(Err(e)) => Response::error(ErrorCode::InvalidDisk, format!("node {} cannot add {path}: {e}", self.name)),
            Err(e) => Response::error(ErrorCode::Internal, e.to_string()),
        }
    }

    async fn put(&self, uuid: u128, header: &[u8], mut recv: quinn::RecvStream) -> Response {
        let (disk, header) = match self.disk_and_header(uuid, header) {
            Ok(x) => x,
            Err(r) => return r,
        };
        // No chunk of this shard is longer than its chunk size: a longer record is refused before its bytes are read.
        let max_chunk = header.chunk_size;
        let mut w = disk.write(header);
        loop {
            match read_put_record(&mut recv, max_chunk).await {
                // Dropping `w` removes the temp file.
                Err(e) => return Response::error(ErrorCode::BadFrame, e.to_string()),
                Ok(PutRecord::End { segment_len }) => {
                    w.close(segment_len).await;
                    return match w.durable().await {
                        Ok(hash) => Response::ShardPut { hash },
                        Err(e) => write_error_response(&e),
                    };
                }
                // The writer checks the claimed hash on a blocking thread; a mismatch fails the write (ShardCorrupt).
                Ok(PutRecord::Chunk { hash, bytes }) => {
                    if let Err(e) = w.append_verified(bytes, hash).await {
                        return write_error_response(&e); // the writer stopped early: its error says why
                    }
                }
            }
        }
    }

    /// Serve GetShard, or ReadShard (`with_table`: the chunk hash table goes first), and finish the stream.
    async fn get(&self, peer: &str, req: ShardRead, with_table: bool, mut send: quinn::SendStream) -> NetResult<()> {
        // Gateways read anything; another node only what a gateway granted it for a job.
        if peer != GATEWAY && !self.grants.lock().allows(peer, req.disk, req.segment, req.index, std::time::Instant::now()) {
            self.counters.refused.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(peer, segment = %format!("{:032x}", req.segment), shard = req.index, "read refused: no job of the gateway's lets that node read the shard");
            let resp = Response::error(
                ErrorCode::Forbidden,
                format!("node {} serves another node's reads only for a job the gateway ordered; {peer} has no read grant for that shard", self.name),
            );
            write_frame(&mut send, &resp).await?;
            let _ = send.finish();
            return Ok(());
        }
        self.send_chunks(req, with_table, &mut send).await?;
        let _ = send.finish();
        Ok(())
    }

    async fn send_chunks(&self, req: ShardRead, with_table: bool, send: &mut quinn::SendStream) -> NetResult<()> {
        let ShardRead { disk: uuid, segment, index, expected, first, count } = req;
        let disk = match self.disk(uuid) {
            Ok(d) => d,
            Err(r) => return write_frame(send, &r).await,
        };
        let (table, mut rx) = disk.read_with_table(segment, index, expected, first, count);
        // The first item decides the answer: an unreadable shard is an Error, not an empty stream.
        let mut pending = rx.recv().await;
        if let Some(Err(e)) = &pending {
            return write_frame(send, &shard_error_response(e)).await;
        }
        let conn = |e: quinn::WriteError| NetError::Connection { detail: e.to_string() };
        // Sent before the first chunk, so it is there once a chunk (or the stream's end) is.
        let table = match table.await {
            Ok(t) => t,
            Err(_) => return write_frame(send, &Response::error(ErrorCode::Internal, "the shard reader ended without its hash table")).await,
        };
        write_frame(send, &Response::ShardData).await?;
        if with_table {
            send.write_all(&table_record(&table)).await.map_err(conn)?;
        }
        while let Some(item) = pending.take() {
            match item {
                Ok(chunk) => {
                    let len = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
                    // The chunk is handed to QUIC as it is: a slice would be copied.
                    let mut record = [Bytes::copy_from_slice(&get_record_head(len)), Bytes::from(chunk)];
                    send.write_all_chunks(&mut record).await.map_err(conn)?;
                }
                Err(e) => {
                    send.write_all(&[FAILED_RECORD]).await.map_err(conn)?;
                    return write_frame(send, &shard_error_response(&e)).await;
                }
            }
            pending = rx.recv().await;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Handler<Request> for NodeService {
    async fn handle(&self, peer: &str, req: Request, recv: quinn::RecvStream, mut send: quinn::SendStream) -> NetResult<()> {
        if peer != GATEWAY && gateway_only(&req) {
            let resp = self.refuse(peer, req.name());
            write_frame(&mut send, &resp).await?;
            let _ = send.finish();
            return Ok(());
        }
        let resp = match req {
            Request::Ping => Response::Pong { node: self.name.clone() },
            Request::PutShard { disk, header } => self.put(disk, &header, recv).await,
            Request::GetShard(read) => return self.get(peer, read, false, send).await,
            Request::ReadShard(read) => return self.get(peer, read, true, send).await,
            Request::GrantRead { reader, disk, segment, index, ttl_ms } => match self.disk(disk) {
                Ok(_) if self.grants.lock().grant(&reader, disk, segment, index, Duration::from_millis(ttl_ms), std::time::Instant::now()) => Response::Granted,
                Ok(_) => Response::error(ErrorCode::Internal, format!("node {} holds too many read grants; retry later", self.name)),
                Err(r) => r,
            },
            Request::CheckShard { disk, segment, index, expected, full } => match self.disk(disk) {
                Ok(d) => match d.check(segment, index, expected, full).await {
                    Ok(h) => Response::ShardChecked { header: h.encode().to_vec() },
                    Err(e) => shard_error_response(&e),
                },
                Err(r) => r,
            },
            Request::AddDisk { path } => self.add_disk(path).await,
            Request::RebuildShard { disk, header, coding, segment_len, expected, sources } => {
                self.rebuild(disk, &header, coding, segment_len, expected, sources).await
            }
            Request::ListShards { disk, after, limit } => match self.disk(disk) {
                Ok(d) => match d.list(after, (limit as usize).min(MAX_LIST)).await {
                    Ok(page) => {
                        let shards = page.shards.into_iter().map(|f| ListedShard { header: f.header.encode(), hash: f.hash }).collect();
                        Response::ShardList { shards, last: page.last }
                    }
                    Err(e) => shard_error_response(&e),
                },
                Err(r) => r,
            },
            Request::DeleteShard { disk, segment, index } => match self.disk(disk) {
                Ok(d) => match d.delete(segment, index).await {
                    Ok(existed) => Response::ShardDeleted { existed },
                    Err(e) => shard_error_response(&e),
                },
                Err(r) => r,
            },
            other => {
                tracing::debug!(peer, ?other, "request not served by a storage node");
                Response::error(ErrorCode::NotSupported, "storage nodes serve shard requests only")
            }
        };
        write_frame(&mut send, &resp).await?;
        let _ = send.finish();
        Ok(())
    }

    fn refused_anonymous(&self) {
        self.counters.refused.fetch_add(1, Ordering::Relaxed);
    }
}

/// What a node tells the gateway about its disks now.
pub fn disk_reports(disks: &[Arc<Disk>]) -> Vec<DiskReport> {
    disks
        .iter()
        .map(|d| {
            let healthy = d.check();
            let (capacity, free) = d.space();
            DiskReport { uuid: d.uuid(), path: d.root().display().to_string(), capacity, free, failed: !healthy }
        })
        .collect()
}

/// A failed shard write as a wire answer (disk errors keep their kind).
fn write_error_response(e: &WriteError) -> Response {
    match e {
        WriteError::Shard(d) => shard_error_response(d),
        other => Response::error(ErrorCode::DiskIo, other.to_string()),
    }
}
