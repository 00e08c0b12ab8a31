//! A storage node that lies: a fault-injection fixture for the tests of end-to-end
//! verification (`tests/cluster.rs`), never a way to run Kintsugi.
//!
//! It joins like `kintsugi storage` and serves every request with the real node service,
//! except shard reads: those it answers itself, from its real (verified) disk, and then
//! damages what it sends — the one thing a node's own checks cannot catch:
//!
//! * `flip`: one byte of every chunk inverted;
//! * `truncate`: every chunk one byte short;
//! * `table`: a ReadShard's chunk hash table with one byte inverted (chunks intact).
//!
//! The records are encoded here from docs/formats.md §3.5, not with the storage crate's
//! encoders, so the fixture also checks that the page says what the code does.
//!
//! Usage: `lying_node NAME TOKEN LIE DISK_DIR...` (listens on a free loopback port).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use kintsugi_net::{server_config, write_frame, Handler, JoinToken, NetError, NetResult, Server, TransportTuning};
use kintsugi_storage::{open_node_disks, run_heartbeats, ErrorCode, Heartbeats, LocalShards, NodeDisks, NodeService, Request, Response, ShardRead};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Lie {
    Flip,
    Truncate,
    Table,
}

struct Liar {
    name: String,
    lie: Lie,
    disks: Arc<NodeDisks>,
    inner: NodeService,
}

impl Liar {
    async fn read(&self, req: ShardRead, with_table: bool, send: &mut quinn::SendStream) -> NetResult<()> {
        let ShardRead { disk: uuid, segment, index, expected, first, count } = req;
        let Some(disk) = self.disks.list().into_iter().find(|d| d.uuid() == uuid) else {
            return write_frame(send, &Response::error(ErrorCode::UnknownDisk, "no such disk")).await;
        };
        let (table, mut rx) = LocalShards::new(disk, &self.name, 0).read_with_table(segment, index, expected, first, count);
        let mut chunks = Vec::new();
        while let Some(c) = rx.recv().await {
            match c {
                Ok(c) => chunks.push(c),
                Err(e) => return write_frame(send, &Response::error(ErrorCode::ShardMissing, e.to_string())).await,
            }
        }
        let Ok(mut table) = table.await else {
            return write_frame(send, &Response::error(ErrorCode::ShardMissing, "unreadable")).await;
        };
        let w = |e: quinn::WriteError| NetError::Connection { detail: e.to_string() };
        write_frame(send, &Response::ShardData).await?;
        if with_table {
            if self.lie == Lie::Table {
                if let Some(h) = table.first_mut() {
                    h[0] ^= 0xff;
                }
            }
            let mut rec = vec![2u8];
            rec.extend_from_slice(&u32::try_from(table.len()).unwrap_or(u32::MAX).to_le_bytes());
            for h in &table {
                rec.extend_from_slice(h);
            }
            send.write_all(&rec).await.map_err(w)?;
        }
        for mut c in chunks {
            match self.lie {
                Lie::Flip if !c.is_empty() => c[0] ^= 0xff,
                Lie::Truncate => {
                    c.pop();
                }
                _ => {}
            }
            let mut rec = vec![0u8];
            rec.extend_from_slice(&u32::try_from(c.len()).unwrap_or(u32::MAX).to_le_bytes());
            send.write_all(&rec).await.map_err(w)?;
            send.write_all(&c).await.map_err(w)?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Handler<Request> for Liar {
    async fn handle(&self, peer: &str, req: Request, recv: quinn::RecvStream, mut send: quinn::SendStream) -> NetResult<()> {
        let (req, with_table) = match req {
            Request::GetShard(read) => (read, false),
            Request::ReadShard(read) => (read, true),
            other => return self.inner.handle(peer, other, recv, send).await,
        };
        self.read(req, with_table, &mut send).await?;
        let _ = send.finish();
        Ok(())
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [name, token, lie, dirs @ ..] = args.as_slice() else {
        bail!("usage: lying_node NAME TOKEN flip|truncate|table DISK_DIR...");
    };
    let lie = match lie.as_str() {
        "flip" => Lie::Flip,
        "truncate" => Lie::Truncate,
        "table" => Lie::Table,
        other => bail!("unknown lie {other:?}: flip, truncate or table"),
    };
    let token = JoinToken::parse(token).context("parsing the join token")?;
    let dirs: Vec<std::path::PathBuf> = dirs.iter().map(Into::into).collect();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let t = TransportTuning::default();
        let id = kintsugi_net::join::<Request>(&token, name, &t).await.context("joining")?;
        let disks = open_node_disks(&dirs).context("opening disks")?;
        let server = Server::bind("127.0.0.1:0".parse()?, server_config(&id, false, &t)?, &t)?;
        let listen = server.local_addr()?.to_string();
        let client = kintsugi_net::Client::new(&id, &t)?;
        let node_disks = NodeDisks::new(disks, None);
        let inner = NodeService::new(name, node_disks.clone()).with_peers(client.clone(), Duration::from_secs(5));
        let counters = inner.counters();
        let liar = Liar { name: name.clone(), lie, disks: node_disks.clone(), inner };
        tokio::spawn(server.serve::<kintsugi_storage::Request>(Arc::new(liar), None));
        println!("lying node {name} on {listen}");
        let hb = Heartbeats { client, listen, zone: None, disks: node_disks, counters, every: Duration::from_millis(300), gateways_file: None, revoked: kintsugi_net::Revoked::new(), removed_file: None, renewal: None };
        run_heartbeats(hb, vec![token.gateway.clone()]).await;
        Ok(())
    })
}
