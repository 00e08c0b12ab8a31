//! A disk on a storage node, reached over QUIC: the gateway's side of the
//! shard protocol. One cached, mutually authenticated connection per node;
//! one stream per shard operation; every step under a deadline.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kintsugi_disk::ShardHeader;
use kintsugi_net::{peer_of, read_frame, write_frame, Client, NetError, Peer};
use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio::time::timeout;

use crate::error::{ShardError, ShardResult};
use crate::proto::{DiskReport, ErrorCode, Request, Response, ShardRead, ShardSource};
use crate::records::{put_record_end, put_record_head, read_get_record, read_table, shard_error_from_remote, unreachable, GetRecord, RecordError};
use crate::shards::{ChunkRx, DiskInfo, FoundShard, Hashing, ShardMsg, ShardPage, ShardStore, ShardWrite};

/// Chunks buffered ahead of the consumer per remote shard stream.
const READ_AHEAD: usize = 4;
/// Longest a connection attempt may take before the node counts as unreachable.
const CONNECT_DEADLINE: Duration = Duration::from_secs(3);

/// The gateway's link to one storage node.
#[derive(Debug)]
pub struct NodeLink {
    name: String,
    number: u32,
    addr: Mutex<Option<SocketAddr>>,
    client: Client,
    conn: tokio::sync::Mutex<Option<quinn::Connection>>,
    up: AtomicBool,
    slow_until: Mutex<Option<Instant>>,
    deadline: Duration,
    zone: Mutex<Option<u32>>,
    lost: AtomicBool,
}

impl NodeLink {
    /// A link to node `name` (failure-domain `number`) at `addr`, with a per-step `deadline`.
    pub fn new(name: &str, number: u32, addr: Option<SocketAddr>, client: Client, deadline: Duration) -> Self {
        Self {
            name: name.to_owned(),
            number,
            addr: Mutex::new(addr),
            client,
            conn: tokio::sync::Mutex::new(None),
            up: AtomicBool::new(true),
            slow_until: Mutex::new(None),
            deadline,
            zone: Mutex::new(None),
            lost: AtomicBool::new(false),
        }
    }

    /// Set by the cluster map: true while the node is lost (its shards get rebuilt elsewhere).
    pub fn set_lost(&self, lost: bool) {
        self.lost.store(lost, Ordering::Relaxed);
    }

    /// True while the cluster map has the node lost.
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::Relaxed)
    }

    /// The node's zone number (set from its heartbeats' zone label).
    pub fn zone(&self) -> Option<u32> {
        *self.zone.lock()
    }

    /// Set the node's zone number; true when it changed.
    pub fn set_zone(&self, zone: Option<u32>) -> bool {
        let mut z = self.zone.lock();
        let changed = *z != zone;
        *z = zone;
        changed
    }

    /// Node name (its certificate's common name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Failure-domain number.
    pub fn number(&self) -> u32 {
        self.number
    }

    /// Where the node serves shard requests.
    pub fn addr(&self) -> Option<SocketAddr> {
        *self.addr.lock()
    }

    /// A heartbeat named a (new) address.
    pub fn set_addr(&self, addr: SocketAddr) {
        let mut a = self.addr.lock();
        if *a != Some(addr) {
            *a = Some(addr);
            // The cached connection goes to the old address; drop it lazily.
            if let Ok(mut c) = self.conn.try_lock() {
                *c = None;
            }
        }
    }

    /// Set by the cluster map: false while the node is down or lost.
    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Relaxed);
    }

    /// True unless the cluster map has the node down or lost.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// A read from this node missed its hedge deadline: prefer other nodes for `d`.
    pub fn mark_slow(&self, d: Duration) {
        *self.slow_until.lock() = Some(Instant::now() + d);
    }

    /// True while the node is recently slow.
    pub fn is_slow(&self) -> bool {
        self.slow_until.lock().is_some_and(|t| Instant::now() < t)
    }

    /// The per-step deadline.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// One request/answer exchange with the node (no body); an `Error` answer is an error.
    pub async fn call(&self, req: &Request) -> Result<Response, NetError> {
        let conn = self.connection().await?;
        let (resp, _) = kintsugi_net::call(&conn, req, None, self.deadline).await?;
        kintsugi_net::check(resp)
    }

    /// A live connection to the node, (re)connecting when needed; the peer must present this node's certificate.
    pub async fn connection(&self) -> Result<quinn::Connection, NetError> {
        let mut cached = self.conn.lock().await;
        if let Some(c) = cached.as_ref() {
            if c.close_reason().is_none() {
                return Ok(c.clone());
            }
        }
        let addr = self.addr().ok_or_else(|| NetError::Connect { addr: self.name.clone(), detail: "node has not reported an address yet".into() })?;
        let conn = timeout(CONNECT_DEADLINE, self.client.connect(addr))
            .await
            .map_err(|_| NetError::Connect { addr: addr.to_string(), detail: format!("no handshake within {CONNECT_DEADLINE:?}") })??;
        match peer_of(&conn) {
            Peer::Member(n) if n == self.name => {}
            other => {
                conn.close(0u32.into(), b"wrong node");
                return Err(NetError::Connect { addr: addr.to_string(), detail: format!("expected node {} but the peer is {other:?}", self.name) });
            }
        }
        *cached = Some(conn.clone());
        Ok(conn)
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    capacity: u64,
    free: u64,
    failed: bool,
    /// Shard bytes this gateway sent the disk since the node's last report: the free space
    /// placement sees is the report's less these, so writes between two heartbeats do not
    /// run through the disk reserve.
    written: u64,
}

/// A disk on a storage node.
#[derive(Debug)]
pub struct RemoteShards {
    id: u32,
    uuid: u128,
    path: Mutex<String>,
    link: Arc<NodeLink>,
    usage: Arc<Mutex<Usage>>,
}

impl RemoteShards {
    /// Disk `id` (uuid `uuid` on its node) behind `link`.
    pub fn new(id: u32, uuid: u128, path: &str, link: Arc<NodeLink>) -> Self {
        Self { id, uuid, path: Mutex::new(path.to_owned()), link, usage: Arc::default() }
    }

    /// The node link.
    pub fn link(&self) -> &Arc<NodeLink> {
        &self.link
    }

    /// Disk uuid.
    pub fn uuid(&self) -> u128 {
        self.uuid
    }

    /// Apply the node's latest report of this disk.
    pub fn update(&self, r: &DiskReport) {
        *self.usage.lock() = Usage { capacity: r.capacity, free: r.free, failed: r.failed, written: 0 };
        let mut p = self.path.lock();
        if *p != r.path {
            p.clone_from(&r.path);
        }
    }

    /// The node stopped reporting this disk (replaced or removed): failed.
    pub fn set_failed(&self) {
        self.usage.lock().failed = true;
    }

    fn err(&self, e: &NetError) -> ShardError {
        unreachable(self.id, self.link.name(), e)
    }

    fn remote(&self, segment: u128, index: u8, code: &ErrorCode, message: String) -> ShardError {
        shard_error_from_remote(self.id, self.link.name(), segment, index, code, message)
    }

    fn protocol(&self, detail: String) -> ShardError {
        ShardError::protocol(self.link.name(), detail)
    }

    async fn call(&self, req: Request, segment: u128, index: u8) -> ShardResult<Response> {
        let conn = self.link.connection().await.map_err(|e| self.err(&e))?;
        let (resp, _) = kintsugi_net::call(&conn, &req, None, self.link.deadline()).await.map_err(|e| self.err(&e))?;
        match resp {
            Response::Error { code, message } => Err(self.remote(segment, index, &code, message)),
            other => Ok(other),
        }
    }
}

fn io(e: impl std::fmt::Display) -> NetError {
    NetError::Connection { detail: e.to_string() }
}

async fn within<T>(d: Duration, f: impl std::future::Future<Output = Result<T, NetError>>) -> Result<T, NetError> {
    let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    timeout(d, f).await.map_err(|_| NetError::Timeout { ms })?
}

#[async_trait::async_trait]
impl ShardStore for RemoteShards {
    fn id(&self) -> u32 {
        self.id
    }

    fn node_source(&self, index: u8, hash: [u8; 32]) -> Option<ShardSource> {
        let addr = self.link.addr()?;
        Some(ShardSource { node: self.link.name().to_owned(), addr: addr.to_string(), disk: self.uuid, index, hash })
    }

    async fn rebuild_here(&self, header: &ShardHeader, coding: kintsugi_erasure::Coding, segment_len: u64, expected: [u8; 32], sources: Vec<ShardSource>, timeout: Duration) -> ShardResult<u64> {
        let req = Request::RebuildShard { disk: self.uuid, header: header.encode().to_vec(), coding, segment_len, expected, sources };
        let conn = self.link.connection().await.map_err(|e| self.err(&e))?;
        let (resp, _) = kintsugi_net::call(&conn, &req, None, timeout).await.map_err(|e| self.err(&e))?;
        match resp {
            Response::ShardRebuilt { bytes_read } => Ok(bytes_read),
            Response::Error { code: code @ (ErrorCode::RebuildFailed | ErrorCode::NotSupported), message } => {
                Err(ShardError::JobFailed { node: self.link.name().to_owned(), detail: format!("{code}: {message}") })
            }
            Response::Error { code, message } => Err(self.remote(header.segment_id, header.index, &code, message)),
            other => Err(self.protocol(format!("RebuildShard answered with {other:?}"))),
        }
    }

    async fn grant_read(&self, reader: &str, segment: u128, index: u8, ttl: Duration) -> ShardResult<()> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let req = Request::GrantRead { reader: reader.to_owned(), disk: self.uuid, segment, index, ttl_ms };
        let conn = self.link.connection().await.map_err(|e| self.err(&e))?;
        let (resp, _) = kintsugi_net::call(&conn, &req, None, self.link.deadline()).await.map_err(|e| self.err(&e))?;
        match resp {
            Response::Granted => Ok(()),
            // A node from before read grants serves every member's reads: nothing to grant.
            Response::Error { code: ErrorCode::BadFrame, .. } => Ok(()),
            Response::Error { code, message } => Err(self.remote(segment, index, &code, message)),
            other => Err(self.protocol(format!("GrantRead answered with {other:?}"))),
        }
    }

    fn failure_domain(&self) -> u32 {
        self.link.number()
    }

    fn zone(&self) -> Option<u32> {
        self.link.zone()
    }

    fn lost(&self) -> bool {
        self.link.is_lost() || self.usage.lock().failed
    }

    fn info(&self) -> DiskInfo {
        let u = *self.usage.lock();
        DiskInfo {
            id: self.id,
            node: self.link.name().to_owned(),
            path: self.path.lock().clone(),
            capacity: u.capacity,
            free: u.free.saturating_sub(u.written),
            failed: u.failed,
            reachable: self.link.is_up(),
        }
    }

    fn is_slow(&self) -> bool {
        self.link.is_slow()
    }

    fn mark_slow(&self, d: Duration) {
        self.link.mark_slow(d);
    }

    fn write(&self, header: ShardHeader) -> ShardWrite {
        let (tx, mut rx) = mpsc::channel::<ShardMsg>(2);
        let usage = self.usage.clone();
        let link = self.link.clone();
        let (id, uuid) = (self.id, self.uuid);
        let (segment, index) = (header.segment_id, header.index);
        let done = tokio::spawn(async move {
            let d = link.deadline();
            let unreach = |e: NetError| unreachable(id, link.name(), &e);
            let conn = link.connection().await.map_err(unreach)?;
            let (mut send, mut recv) = within(d, async { conn.open_bi().await.map_err(io) }).await.map_err(unreach)?;
            let req = Request::PutShard { disk: uuid, header: header.encode().to_vec() };
            let mut sent = within(d, write_frame(&mut send, &req)).await;
            let mut finished = false;
            while sent.is_ok() {
                let Some(msg) = rx.recv().await else { break };
                sent = match msg {
                    ShardMsg::Chunk(chunk, hashing) => {
                        // The node verifies every chunk against the hash sent with it.
                        let (chunk, hash) = match hashing {
                            Hashing::Known(h) | Hashing::Verify(h) => (chunk, h),
                            Hashing::Compute => match tokio::task::spawn_blocking(move || (kintsugi_erasure::chunk_hash(&chunk), chunk)).await {
                                Ok((h, chunk)) => (chunk, h),
                                Err(e) => return Err(kintsugi_disk::DiskError::Invalid { detail: format!("hashing a chunk failed: {e}") }.into()),
                            },
                        };
                        let len = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
                        // Counted as it is sent: the disk's free space as placement sees it.
                        {
                            let mut u = usage.lock();
                            u.written = u.written.saturating_add(u64::from(len));
                        }
                        // The chunk is handed to QUIC as it is: a slice would be copied.
                        let mut record = [Bytes::copy_from_slice(&put_record_head(len, &hash)), Bytes::from(chunk)];
                        within(d, async { send.write_all_chunks(&mut record).await.map_err(io) }).await
                    }
                    ShardMsg::Finish(len) => {
                        finished = true;
                        let r = within(d, async { send.write_all(&put_record_end(len)).await.map_err(io) }).await;
                        let _ = send.finish();
                        r
                    }
                };
                if finished {
                    break;
                }
            }
            if !finished && sent.is_ok() {
                let _ = send.reset(1u32.into());
                return Err(kintsugi_disk::DiskError::Invalid { detail: "shard write abandoned before it finished".into() }.into());
            }
            // On a write error the node may already have said why; give it a moment to.
            let wait = if sent.is_ok() { d } else { Duration::from_millis(500) };
            let answer = within(wait, read_frame::<Response>(&mut recv)).await;
            match (answer, sent) {
                (Ok(Response::ShardPut { hash }), Ok(())) => Ok(hash),
                (Ok(Response::Error { code, message }), _) => Err(shard_error_from_remote(id, link.name(), segment, index, &code, message)),
                (Ok(other), _) => Err(ShardError::protocol(link.name(), format!("PutShard answered with {other:?}"))),
                (Err(_), Err(e)) | (Err(e), Ok(())) => Err(unreach(e)),
            }
        });
        ShardWrite::new(tx, done)
    }

    fn read(&self, segment: u128, index: u8, expected: [u8; 32], first: u64, count: u64) -> ChunkRx {
        let (tx, rx) = mpsc::channel(READ_AHEAD);
        let link = self.link.clone();
        let (id, uuid) = (self.id, self.uuid);
        tokio::spawn(async move {
            let d = link.deadline();
            let unreach = |e: NetError| unreachable(id, link.name(), &e);
            let remote = |code: &ErrorCode, message: String| shard_error_from_remote(id, link.name(), segment, index, code, message);
            let protocol = |detail: String| ShardError::protocol(link.name(), detail);
            let result: ShardResult<()> = async {
                let conn = link.connection().await.map_err(unreach)?;
                let req = Request::ReadShard(ShardRead { disk: uuid, segment, index, expected, first, count });
                let (resp, mut recv) = kintsugi_net::call(&conn, &req, None, d).await.map_err(unreach)?;
                match resp {
                    Response::ShardData => {}
                    Response::Error { code, message } => return Err(remote(&code, message)),
                    other => return Err(protocol(format!("ReadShard answered with {other:?}"))),
                }
                // Whatever the node claims: its table must be the manifest's, and every chunk the table's.
                let lie = |detail: String| ShardError::Disk(kintsugi_disk::DiskError::Corrupt { disk: id, shard: kintsugi_disk::Disk::shard_name(segment, index), detail: format!("node {} sent {detail}", link.name()) });
                let record = |e: RecordError| match e {
                    RecordError::Cut(detail) => ShardError::Unreachable { disk: id, node: link.name().to_owned(), detail },
                    RecordError::Malformed(detail) => protocol(detail),
                };
                let table = within_record(d, read_table(&mut recv)).await.map_err(record)?;
                let table = tokio::task::spawn_blocking(move || (kintsugi_erasure::shard_hash(&table) == expected).then_some(table))
                    .await
                    .map_err(|e| protocol(e.to_string()))?
                    .ok_or_else(|| lie("a chunk hash table that is not the manifest's".into()))?;
                for c in first..first.saturating_add(count) {
                    let buf = match within_record(d, read_get_record(&mut recv)).await.map_err(record)? {
                        GetRecord::Chunk(buf) => buf,
                        GetRecord::Failed(Response::Error { code, message }) => return Err(remote(&code, message)),
                        GetRecord::Failed(other) => return Err(protocol(format!("{other:?} inside a shard stream"))),
                    };
                    let len = buf.len();
                    let mismatch = || lie(format!("chunk {c} ({len} bytes) whose BLAKE3 is not its entry in the shard's table"));
                    let entry = *usize::try_from(c).ok().and_then(|c| table.get(c)).ok_or_else(mismatch)?;
                    let (buf, ok) = tokio::task::spawn_blocking(move || {
                        let ok = Hashing::Verify(entry).resolve(&buf).is_ok();
                        (buf, ok)
                    })
                    .await
                    .map_err(|e| protocol(e.to_string()))?;
                    if !ok {
                        return Err(mismatch());
                    }
                    if tx.send(Ok(buf)).await.is_err() {
                        return Ok(()); // reader gone: dropping `recv` tells the node to stop
                    }
                }
                Ok(())
            }
            .await;
            if let Err(e) = result {
                let _ = tx.send(Err(e)).await;
            }
        });
        rx
    }

    async fn check(&self, segment: u128, index: u8, expected: [u8; 32], full: bool) -> ShardResult<ShardHeader> {
        match self.call(Request::CheckShard { disk: self.uuid, segment, index, expected, full }, segment, index).await? {
            Response::ShardChecked { header } => ShardHeader::decode(&header).map_err(|e| self.protocol(format!("a bad shard header: {e}"))),
            other => Err(self.protocol(format!("CheckShard answered with {other:?}"))),
        }
    }

    async fn list(&self, after: Option<(u128, u8)>, limit: usize) -> ShardResult<ShardPage> {
        let (segment, index) = after.unwrap_or((0, 0));
        let limit = u32::try_from(limit).unwrap_or(u32::MAX);
        match self.call(Request::ListShards { disk: self.uuid, after, limit }, segment, index).await? {
            Response::ShardList { shards, last } => {
                let mut page = ShardPage { shards: Vec::with_capacity(shards.len()), last };
                for s in shards {
                    let header = ShardHeader::decode(&s.header).map_err(|e| self.protocol(format!("a bad shard header in a listing: {e}")))?;
                    page.shards.push(FoundShard { header, hash: s.hash });
                }
                if page.last.is_some_and(|l| after.is_some_and(|a| l <= a)) {
                    return Err(self.protocol("a listing that went backwards".into()));
                }
                Ok(page)
            }
            other => Err(self.protocol(format!("ListShards answered with {other:?}"))),
        }
    }

    async fn delete(&self, segment: u128, index: u8) -> ShardResult<bool> {
        match self.call(Request::DeleteShard { disk: self.uuid, segment, index }, segment, index).await? {
            Response::ShardDeleted { existed } => Ok(existed),
            other => Err(self.protocol(format!("DeleteShard answered with {other:?}"))),
        }
    }
}

/// A record read under the link's deadline: silence past it is a cut stream.
async fn within_record<T>(d: Duration, f: impl std::future::Future<Output = Result<T, RecordError>>) -> Result<T, RecordError> {
    timeout(d, f).await.unwrap_or_else(|_| Err(RecordError::Cut(format!("no shard bytes for {d:?}"))))
}
