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

/// The limits, with what they count.
#[derive(Debug)]
pub struct Overload {
    connections: Option<Arc<Semaphore>>,
    requests: Option<Arc<Semaphore>>,
    open: AtomicU64,
    in_flight: AtomicU64,
    connections_refused: AtomicU64,
    requests_refused: AtomicU64,
}

/// A held connection slot; counts the connection open until dropped.
#[derive(Debug)]
pub struct ConnectionSlot {
    overload: Arc<Overload>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.overload.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A held request slot; counts the request in flight until dropped.
#[derive(Debug)]
pub struct RequestSlot {
    overload: Arc<Overload>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Drop for RequestSlot {
    fn drop(&mut self) {
        self.overload.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Overload {
    /// At most `connections` open connections and `requests` requests in progress (0: no cap).
    pub fn new(connections: usize, requests: usize) -> Arc<Self> {
        let cap = |n: usize| (n > 0).then(|| Arc::new(Semaphore::new(n.min(Semaphore::MAX_PERMITS))));
        Arc::new(Self {
            connections: cap(connections),
            requests: cap(requests),
            open: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            connections_refused: AtomicU64::new(0),
            requests_refused: AtomicU64::new(0),
        })
    }

    /// A slot for a new connection, or `None` (counted) when all are taken.
    pub fn connection(self: &Arc<Self>) -> Option<ConnectionSlot> {
        let permit = match &self.connections {
            Some(s) => match s.clone().try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => {
                    self.connections_refused.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
            },
            None => None,
        };
        self.open.fetch_add(1, Ordering::Relaxed);
        Some(ConnectionSlot { overload: self.clone(), _permit: permit })
    }

    /// A slot for a request to work on, or `None` (counted) when all are taken.
    pub fn request(self: &Arc<Self>) -> Option<RequestSlot> {
        let permit = match &self.requests {
            Some(s) => match s.clone().try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => {
                    self.requests_refused.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
            },
            None => None,
        };
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Some(RequestSlot { overload: self.clone(), _permit: permit })
    }

    /// Its figures for `/metrics`.
    pub fn render(&self) -> String {
        let g = |n: &AtomicU64| n.load(Ordering::Relaxed);
        format!(
            "# HELP kintsugi_http_connections_open S3 endpoint connections open.\n# TYPE kintsugi_http_connections_open gauge\nkintsugi_http_connections_open {}\n\
             # HELP kintsugi_http_connections_refused_total Connections refused at --max-connections.\n# TYPE kintsugi_http_connections_refused_total counter\nkintsugi_http_connections_refused_total {}\n\
             # HELP kintsugi_http_requests_in_flight S3 requests being worked on.\n# TYPE kintsugi_http_requests_in_flight gauge\nkintsugi_http_requests_in_flight {}\n\
             # HELP kintsugi_http_requests_refused_total Requests answered 503 SlowDown at --max-requests.\n# TYPE kintsugi_http_requests_refused_total counter\nkintsugi_http_requests_refused_total {}\n",
            g(&self.open),
            g(&self.connections_refused),
            g(&self.in_flight),
            g(&self.requests_refused)
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
