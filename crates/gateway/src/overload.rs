//! Overload: caps on the S3 endpoint's open connections and on the requests it works on at
//! once. Above a cap the client gets S3's `503 SlowDown` (which every S3 SDK retries with
//! back-off) instead of the server taking on work, and memory, without bound.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The message of every refusal.
const MESSAGE: &str = "the server is at its limit of connections or requests in progress; reduce your request rate and retry";

/// The body of a `SlowDown` error, as S3 sends it.
fn body() -> String {
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code><Message>{MESSAGE}</Message></Error>")
}

/// One cap: its permits (`None`: no cap), what holds a slot now, what was refused.
#[derive(Debug)]
struct Cap {
    permits: Option<Arc<Semaphore>>,
    held: Arc<AtomicU64>,
    refused: AtomicU64,
}

impl Cap {
    fn new(n: usize) -> Self {
        let permits = (n > 0).then(|| Arc::new(Semaphore::new(n.min(Semaphore::MAX_PERMITS))));
        Self { permits, held: Arc::default(), refused: AtomicU64::new(0) }
    }

    /// A slot, or `None` (counted as refused) when all are taken.
    fn take(&self) -> Option<Slot> {
        let permit = match &self.permits {
            Some(s) => match s.clone().try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => {
                    self.refused.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
            },
            None => None,
        };
        self.held.fetch_add(1, Ordering::Relaxed);
        Some(Slot { held: self.held.clone(), _permit: permit })
    }
}

/// A held slot (a connection open, a request worked on); given back when dropped.
#[derive(Debug)]
pub struct Slot {
    held: Arc<AtomicU64>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.held.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The limits, with what they count.
#[derive(Debug)]
pub struct Overload {
    connections: Cap,
    requests: Cap,
}

impl Overload {
    /// At most `connections` open connections and `requests` requests in progress (0: no cap).
    pub fn new(connections: usize, requests: usize) -> Arc<Self> {
        Arc::new(Self { connections: Cap::new(connections), requests: Cap::new(requests) })
    }

    /// A slot for a new connection, or `None` (counted) when all are taken.
    pub fn connection(&self) -> Option<Slot> {
        self.connections.take()
    }

    /// A slot for a request to work on, or `None` (counted) when all are taken.
    pub fn request(&self) -> Option<Slot> {
        self.requests.take()
    }

    /// Its figures for `/metrics`.
    pub fn render(&self) -> String {
        let g = |n: &AtomicU64| n.load(Ordering::Relaxed);
        format!(
            "# HELP kintsugi_http_connections_open S3 endpoint connections open.\n# TYPE kintsugi_http_connections_open gauge\nkintsugi_http_connections_open {}\n\
             # HELP kintsugi_http_connections_refused_total Connections refused at --max-connections.\n# TYPE kintsugi_http_connections_refused_total counter\nkintsugi_http_connections_refused_total {}\n\
             # HELP kintsugi_http_requests_in_flight S3 requests being worked on.\n# TYPE kintsugi_http_requests_in_flight gauge\nkintsugi_http_requests_in_flight {}\n\
             # HELP kintsugi_http_requests_refused_total Requests answered 503 SlowDown at --max-requests.\n# TYPE kintsugi_http_requests_refused_total counter\nkintsugi_http_requests_refused_total {}\n",
            g(&self.connections.held),
            g(&self.connections.refused),
            g(&self.requests.held),
            g(&self.requests.refused)
        )
    }
}

/// The answer to a request refused at the cap. The connection is closed after it: its body,
/// if any, is not read (reading it is the work the cap refuses).
pub fn slow_down() -> hyper::Response<s3s::Body> {
    let mut resp = hyper::Response::new(s3s::Body::from(body()));
    *resp.status_mut() = hyper::StatusCode::SERVICE_UNAVAILABLE;
    let h = resp.headers_mut();
    h.insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/xml"));
    h.insert(hyper::header::RETRY_AFTER, hyper::header::HeaderValue::from_static("1"));
    h.insert(hyper::header::CONNECTION, hyper::header::HeaderValue::from_static("close"));
    resp
}

/// Answer a plain-HTTP connection refused at the cap with `503 SlowDown` and close it,
/// without reading its request (within a second; a client that does not take the answer
/// is simply cut off).
pub async fn refuse_connection(mut stream: tokio::net::TcpStream) {
    let body = body();
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(answer.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_capped_counted_and_given_back() {
        let o = Overload::new(2, 1);
        let a = o.connection().expect("first");
        let b = o.connection().expect("second");
        assert!(o.connection().is_none(), "a third connection is over the cap");
        drop(a);
        let _c = o.connection().expect("a freed slot is taken again");
        let r = o.request().expect("request");
        assert!(o.request().is_none(), "a second request is over the cap");
        drop(r);
        assert!(o.request().is_some());
        drop(b);
        let page = o.render();
        assert!(page.contains("kintsugi_http_connections_open 1\n"), "{page}");
        assert!(page.contains("kintsugi_http_connections_refused_total 1\n"), "{page}");
        assert!(page.contains("kintsugi_http_requests_refused_total 1\n"), "{page}");
        assert!(page.contains("kintsugi_http_requests_in_flight 0\n"), "{page}");
        let unlimited = Overload::new(0, 0);
        let held: Vec<_> = (0..10_000).filter_map(|_| unlimited.connection()).collect();
        assert_eq!(held.len(), 10_000, "0 means no cap");
    }
}
