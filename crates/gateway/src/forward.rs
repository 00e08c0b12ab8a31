//! Admin changes that only the metadata group's leader runs (drains, removals, rebalances,
//! scrubs, metadata rebuilds), sent to another gateway, are forwarded to the leader's S3
//! port as they came — the same method, path, query, headers (the client's SigV4 signature
//! among them: the leader verifies it again) and body — and the leader's answer is relayed.
//! A forwarded request carries [`FORWARDED`]; a gateway never forwards one again, so a
//! leadership change under way ends in a 503, not a loop.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Method, StatusCode, Uri};
use tokio::net::TcpStream;

/// Header a forwarded admin request carries.
pub const FORWARDED: &str = "x-kintsugi-forwarded";

/// Most bytes of an admin answer relayed.
const MAX_ANSWER: usize = 16 << 20;

/// Why a forward did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// The leader could not be reached.
    #[error("could not reach the leader at {addr}: {detail}")]
    Connect {
        /// Address tried.
        addr: String,
        /// What failed.
        detail: String,
    },
    /// The exchange failed midway.
    #[error("the leader at {addr} did not answer: {detail}")]
    Exchange {
        /// Address tried.
        addr: String,
        /// What failed.
        detail: String,
    },
}

/// The leader's answer: status, content type, body.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Bytes,
}

/// Where to reach the leader's S3 port: its S3 listen address, with an unspecified host
/// (`0.0.0.0`, `[::]`) replaced by the host of its cluster address.
pub fn leader_address(s3: &str, cluster: &str) -> String {
    let Ok(addr) = s3.parse::<std::net::SocketAddr>() else { return s3.to_owned() };
    if !addr.ip().is_unspecified() {
        return s3.to_owned();
    }
    match cluster.rsplit_once(':') {
        Some((host, _)) => format!("{host}:{}", addr.port()),
        None => s3.to_owned(),
    }
}

/// Send the request to `addr` and wait for the whole answer (admin work such as a drain
/// with `--wait` or a rebuild may take long: no deadline but the connection's). With `tls`,
/// over HTTPS, the leader's certificate verified for the host part of `addr`.
pub async fn forward(
    addr: &str,
    tls: Option<&Arc<rustls::ClientConfig>>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Answer, ForwardError> {
    let connect = |detail: String| ForwardError::Connect { addr: addr.to_owned(), detail };
    let stream = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr))
        .await
        .map_err(|_| connect("no connection within 10 s".into()))?
        .map_err(|e| connect(e.to_string()))?;
    let Some(tls) = tls else {
        return exchange(addr, stream, method, uri, headers, body).await;
    };
    let name = crate::tls::server_name(addr).ok_or_else(|| connect("the address has no host name to verify a certificate for".into()))?;
    let handshake = tokio_rustls::TlsConnector::from(tls.clone()).connect(name, stream);
    let stream = tokio::time::timeout(Duration::from_secs(10), handshake)
        .await
        .map_err(|_| connect("no TLS handshake within 10 s".into()))?
        .map_err(|e| {
            connect(format!(
                "TLS: {e} (the gateway trusts the system's roots and the certificates in its own --tls-cert file; \
                 give every gateway a certificate for its address from a CA in that chain, or one shared certificate)"
            ))
        })?;
    exchange(addr, stream, method, uri, headers, body).await
}

async fn exchange<IO>(addr: &str, io: IO, method: &Method, uri: &Uri, headers: &HeaderMap, body: Bytes) -> Result<Answer, ForwardError>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let connect = |detail: String| ForwardError::Connect { addr: addr.to_owned(), detail };
    let exchange = |detail: String| ForwardError::Exchange { addr: addr.to_owned(), detail };
    let io = hyper_util::rt::TokioIo::new(io);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.map_err(|e| connect(e.to_string()))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut req = hyper::Request::builder().method(method.clone()).uri(path);
    for (name, value) in headers {
        if name != hyper::header::CONNECTION && name != hyper::header::TRANSFER_ENCODING {
            req = req.header(name, value);
        }
    }
    let req = req.header(FORWARDED, "1").body(Full::new(body)).map_err(|e| exchange(e.to_string()))?;
    let resp = sender.send_request(req).await.map_err(|e| exchange(e.to_string()))?;
    let (parts, body) = resp.into_parts();
    let limited = http_body_util::Limited::new(body, MAX_ANSWER);
    let body = limited.collect().await.map_err(|e| exchange(e.to_string()))?.to_bytes();
    Ok(Answer { status: parts.status, headers: parts.headers, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unspecified_s3_host_is_replaced_by_the_cluster_host() {
        assert_eq!(leader_address("0.0.0.0:9000", "gw1:9100"), "gw1:9000");
        assert_eq!(leader_address("[::]:9000", "10.0.0.5:9100"), "10.0.0.5:9000");
        assert_eq!(leader_address("127.0.0.1:9000", "gw1:9100"), "127.0.0.1:9000");
        assert_eq!(leader_address("s3.example:9000", "gw1:9100"), "s3.example:9000");
    }
}
