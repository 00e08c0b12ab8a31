//! Single-stream QUIC throughput on loopback (mutual TLS, one 64 MiB body
//! per request), beside plain TCP loopback as the same run's reference.
//! Run: `cargo bench -p kintsugi-net --bench quic`.

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kintsugi_net::probe::{ProbeRequest as Request, ProbeResponse as Response};
use kintsugi_net::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BODY: usize = 64 << 20;
const CHUNK: usize = 256 << 10;

struct Sink;

#[async_trait::async_trait]
impl Handler<Request> for Sink {
    async fn handle(&self, _peer: &str, req: Request, mut recv: quinn::RecvStream, mut send: quinn::SendStream) -> NetResult<()> {
        let mut got = 0u64;
        while let Some(c) = recv.read_chunk(1 << 20, true).await.map_err(|e| NetError::Connection { detail: e.to_string() })? {
            got += c.bytes.len() as u64;
        }
        let _ = req;
        write_frame(&mut send, &Response::Sunk { len: got, hash: [0; 32] }).await?;
        let _ = send.finish();
        Ok(())
    }
}

fn quic(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let body = vec![7u8; BODY];
    let mut g = c.benchmark_group("loopback_64MiB_one_stream");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(BODY as u64));
    // (MTU bound, ACK-eliciting threshold asked of the peer, socket buffers in KiB; 0 leaves
    // the kernel's default, what the sockets had before `TransportTuning::socket_buffer`).
    // quinn sends up to 10 datagrams in one GSO batch, and a batch must fit one UDP datagram
    // (64 KiB): above ~6.5 KiB the kernel refuses such sends (EMSGSIZE) (BENCHMARKS.md, "QUIC transport").
    for (mtu, acks, kib) in [(1452u16, 1u32, 4096usize), (4096, 1, 0), (4096, 1, 4096), (4096, 24, 4096), (6400, 1, 4096), (6600, 1, 4096), (8192, 1, 4096)] {
        let t = TransportTuning { mtu_upper_bound: mtu, ack_eliciting_threshold: acks, socket_buffer: kib << 10, ..TransportTuning::default() };
        let (conn, _ep) = rt.block_on(async {
            let ca = Arc::new(ClusterCa::generate("bench").expect("ca"));
            let server_id = ca.issue("server").expect("id");
            let client_id = ca.issue("client").expect("id");
            let server = Server::bind("127.0.0.1:0".parse().expect("addr"), server_config(&server_id, false, &t).expect("cfg"), &t).expect("bind");
            let addr = server.local_addr().expect("addr");
            let ep = server.endpoint();
            tokio::spawn(server.serve::<Request>(Arc::new(Sink), None));
            let conn = Client::new(&client_id, &t).expect("client").connect(addr).await.expect("connect");
            (conn, ep)
        });
        g.bench_function(format!("quic_mtu_bound_{mtu}_ack_after_{acks}_buffers_{kib}KiB"), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let (resp, _) = call(&conn, &Request::Sink { len: BODY as u64 }, Some(&body), Duration::from_secs(120)).await.expect("call");
                    assert!(matches!(resp, Response::Sunk { len, .. } if len == BODY as u64));
                })
            })
        });
    }
    // A shard stream as storage nodes send one: 256 KiB chunks, each read into a fresh buffer
    // and sent after a 5-byte record head — given to QUIC as a slice (which quinn copies) or
    // as `Bytes` that QUIC keeps as they are (`write_all_chunks`).
    let t = TransportTuning::default();
    let conn = rt.block_on(async {
        let ca = Arc::new(ClusterCa::generate("bench").expect("ca"));
        let (server_id, client_id) = (ca.issue("server").expect("id"), ca.issue("client").expect("id"));
        let server = Server::bind("127.0.0.1:0".parse().expect("addr"), server_config(&server_id, false, &t).expect("cfg"), &t).expect("bind");
        let addr = server.local_addr().expect("addr");
        tokio::spawn(server.serve::<Request>(Arc::new(Sink), None));
        Client::new(&client_id, &t).expect("client").connect(addr).await.expect("connect")
    });
    for owned in [false, true] {
        let name = if owned { "quic_256KiB_records_as_bytes" } else { "quic_256KiB_records_as_slices" };
        g.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let (mut send, mut recv) = conn.open_bi().await.expect("stream");
                    write_frame(&mut send, &Request::Sink { len: BODY as u64 }).await.expect("frame");
                    for piece in body.chunks(CHUNK) {
                        let chunk = piece.to_vec(); // as a disk read hands it over
                        let head = [0u8, 0, 0, 4, 0];
                        if owned {
                            send.write_all_chunks(&mut [bytes::Bytes::copy_from_slice(&head), bytes::Bytes::from(chunk)]).await.expect("write");
                        } else {
                            send.write_all(&head).await.expect("write");
                            send.write_all(&chunk).await.expect("write");
                        }
                    }
                    let _ = send.finish();
                    let resp: Response = read_frame(&mut recv).await.expect("answer");
                    assert!(matches!(resp, Response::Sunk { len, .. } if len == (BODY + 5 * BODY / CHUNK) as u64));
                })
            })
        });
    }
    let (addr, _l) = rt.block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        let h = tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = l.accept().await else { return };
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 1 << 20];
                    let mut got = 0usize;
                    loop {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                got += n;
                                if got == BODY {
                                    got = 0;
                                    if s.write_all(b"k").await.is_err() {
                                        return;
                                    }
                                }
                            }
                        }
                    }
                });
            }
        });
        (addr, h)
    });
    let mut tcp = rt.block_on(tokio::net::TcpStream::connect(addr)).expect("tcp connect");
    g.bench_function("tcp_reference", |b| {
        b.iter(|| {
            rt.block_on(async {
                tcp.write_all(&body).await.expect("write");
                let mut ack = [0u8; 1];
                tcp.read_exact(&mut ack).await.expect("ack");
            })
        })
    });
    g.finish();
}

criterion_group!(benches, quic);
criterion_main!(benches);
