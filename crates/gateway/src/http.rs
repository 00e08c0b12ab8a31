//! The HTTP front: S3 (through s3s, with SigV4 against the access keys in the
//! metadata store), `/metrics`, and graceful shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use s3s::auth::{S3Auth, SecretKey};
use s3s::service::S3ServiceBuilder;
use s3s::S3Result;
use tokio::net::TcpListener;

use kintsugi_cluster::Store;

use crate::admin::AdminRoute;
use crate::body::{discard, must_close_after, ReadTracker};
use crate::overload::Overload;
use crate::s3::KintsugiS3;
use crate::tls::TlsServer;
use crate::vhost::Domains;
use crate::Gateway;

/// SigV4 secrets come from the access keys in the metadata store.
struct MetaAuth {
    store: Arc<Store>,
}

#[async_trait::async_trait]
impl S3Auth for MetaAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        // A key changed or deleted on another gateway is seen here once this gateway applies
        // the change — milliseconds, as every committed command (see `access::lookup_key`).
        match crate::access::lookup_key(&self.store, access_key).await? {
            Some(r) => Ok(SecretKey::from(r.secret)),
            None => Err(crate::access::unknown_key()),
        }
    }
}

/// An unsigned `GET /metrics` is the Prometheus scrape; a signed one is S3
/// (ListObjects on a bucket named "metrics"), so no bucket name is taken away.
fn is_metrics(req: &Request<Incoming>) -> bool {
    req.method() == hyper::Method::GET
        && req.uri().path() == "/metrics"
        && !req.headers().contains_key(hyper::header::AUTHORIZATION)
        && !req.uri().query().is_some_and(|q| q.contains("X-Amz-Signature"))
}

/// The `/metrics` page: the data path's counters and gauges, then every worker's figures.
async fn metrics_page(gw: &Gateway, overload: &Overload) -> String {
    let st = gw.store().clone();
    let meta = st.meta.clone();
    let garbage = tokio::task::spawn_blocking(move || meta.garbage_count().unwrap_or(0)).await.unwrap_or(0);
    let mut body = st.metrics.render(st.failed_disks(), st.all_disks().len(), garbage);
    body.push_str(&gw.workers.render_metrics().await);
    body.push_str(&overload.render());
    if let Some(map) = &gw.map {
        body.push_str(&map.render_metrics().await);
    }
    body
}

/// Limits of the S3 endpoint's connections.
#[derive(Clone, Copy, Debug)]
pub struct HttpLimits {
    /// Longest a client may take to send a request's headers (HTTP/1), and longest an idle
    /// keep-alive connection waits for the next request; the connection is closed after it.
    /// Zero: no limit.
    pub header_timeout: Duration,
    /// On shutdown, how long in-flight requests may take to finish.
    pub drain: Duration,
    /// Most connections open at once (0: no cap); one more is answered `503 SlowDown` and closed.
    pub max_connections: usize,
    /// Most requests worked on at once (0: no cap); one more is answered `503 SlowDown`.
    pub max_requests: usize,
    /// Longest a request body may go without a byte once its handler reads it; the request
    /// then fails (400 RequestTimeout) and its connection is closed. Zero: no limit.
    pub body_timeout: Duration,
    /// Take customer keys (SSE-C) over plain HTTP too: for a gateway behind a TLS-terminating
    /// proxy. Otherwise only HTTPS connections may carry one, as S3 requires.
    pub sse_c_over_http: bool,
}

/// Serve until `shutdown` resolves, then stop accepting and let in-flight
/// requests finish (up to `limits.drain`).
/// With `tls`, every connection is HTTPS: the TLS handshake must finish within the header
/// timeout (30 s when that is off), and a client speaking plain HTTP is disconnected.
/// With `domains`, a request whose Host is `BUCKET.DOMAIN` names its bucket there
/// (virtual-hosted style); every other request is path-style.
pub async fn serve(listener: TcpListener, gw: Arc<Gateway>, shutdown: impl Future<Output = ()>, limits: HttpLimits, tls: Option<Arc<TlsServer>>, domains: Domains) {
    let drain = limits.drain;
    let store = gw.store().clone();
    let mut builder = S3ServiceBuilder::new(KintsugiS3::new(store.clone()).with_lifecycle(&gw.workers.config.lifecycle));
    builder.set_auth(MetaAuth { store: store.clone() });
    builder.set_access(crate::access::KintsugiAccess::new(store.clone()));
    builder.set_route(AdminRoute::new(gw.clone()));
    // A POST upload's file and form fields are gathered in memory by s3s: bound them.
    let mut config = s3s::config::S3Config::default();
    config.post_object_max_file_size = crate::s3::MAX_POST_FILE;
    config.form_max_field_size = crate::s3::MAX_POST_FIELD;
    config.form_max_fields_size = crate::s3::MAX_POST_FIELDS;
    let posts = std::sync::Arc::new(tokio::sync::Semaphore::new(crate::s3::POSTS_AT_ONCE));
    let unsized_slots = std::sync::Arc::new(tokio::sync::Semaphore::new(crate::body::UNSIZED_AT_ONCE));
    builder.set_config(std::sync::Arc::new(s3s::config::StaticConfigProvider::new(std::sync::Arc::new(config))));
    if !domains.is_empty() {
        builder.set_host(domains.clone());
    }
    let s3 = builder.build();
    let graceful = GracefulShutdown::new();
    let overload = Overload::new(limits.max_connections, limits.max_requests);
    // HTTP/1.1 only: S3 clients speak nothing else, and HTTP/2 with prior knowledge would
    // bypass the header timeout (hyper has none for it).
    let mut http = hyper::server::conn::http1::Builder::new();
    // Without a timer hyper silently ignores its header timeout: a client that sends its
    // headers a byte at a time (slowloris) or never would hold the connection forever.
    let header_timeout = (!limits.header_timeout.is_zero()).then_some(limits.header_timeout);
    let body_timeout = (!limits.body_timeout.is_zero()).then_some(limits.body_timeout);
    http.timer(TokioTimer::new()).header_read_timeout(header_timeout);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = overload.connection() else {
            // Over the cap: a plain-HTTP client is told why; a TLS one is closed (an answer
            // would cost the handshake the cap is there to refuse).
            tracing::debug!(%peer, "connection refused: --max-connections reached");
            if tls.is_none() {
                tokio::spawn(crate::overload::refuse_connection(stream));
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let s3 = s3.clone();
        let gw = gw.clone();
        let overload = overload.clone();
        let posts = posts.clone();
        let unsized_slots = unsized_slots.clone();
        let client = crate::access::Client { ip: peer.ip(), secure: tls.is_some(), sse_c: tls.is_some() || limits.sse_c_over_http };
        let domains = domains.clone();
        let handle = move |req: Request<Incoming>| {
            let s3 = s3.clone();
            let gw = gw.clone();
            let overload = overload.clone();
            let posts = posts.clone();
            let unsized_slots = unsized_slots.clone();
            let domains = domains.clone();
            async move {
                let began = std::time::Instant::now();
                // The Host is read once: it decides /metrics, the admin route and CORS's bucket.
                let host_bucket = domains.host_bucket(req.headers());
                let virtual_hosted = host_bucket.is_some();
                if is_metrics(&req) && !virtual_hosted {
                    let body = metrics_page(&gw, &overload).await;
                    let mut resp = Response::new(s3s::Body::from(body));
                    resp.headers_mut().insert(
                        hyper::header::CONTENT_TYPE,
                        hyper::header::HeaderValue::from_static("text/plain; version=0.0.4"),
                    );
                    return Ok::<_, s3s::HttpError>(resp);
                }
                // Held until the answer is made (a GET's body then streams outside the cap).
                let Some(_working) = overload.request() else {
                    return Ok(crate::overload::slow_down());
                };
                // A browser's CORS preflight carries no signature: the bucket's rules answer it.
                let bucket = host_bucket.or_else(|| crate::cors::bucket_of(req.uri().path()));
                if req.method() == hyper::Method::OPTIONS {
                    return Ok(crate::cors::preflight(gw.store(), bucket, req.headers()).await);
                }
                // A SigV2 header signature covers a date s3s does not check: a stale one is a replay.
                if let Some((status, code, message)) = crate::sigv2_date::refusal(req.headers(), std::time::SystemTime::now()) {
                    return Ok(crate::cors::error(status, code, message));
                }
                // A browser form (POST) upload is gathered in memory by s3s before its access
                // check: its length is checked unread, and few are taken at once.
                let form = req.method() == hyper::Method::POST && crate::s3::is_form(req.headers());
                let _post_slot = if form {
                    if let Some(resp) = crate::s3::refuse_post(req.headers()) {
                        return Ok(resp);
                    }
                    match posts.clone().try_acquire_owned() {
                        Ok(slot) => Some(slot),
                        Err(_) => return Ok(crate::overload::slow_down()),
                    }
                } else {
                    None
                };
                let cors = req
                    .headers()
                    .get(hyper::header::ORIGIN)
                    .and_then(|o| o.to_str().ok())
                    .and_then(|o| Some((o.to_owned(), bucket?, req.method().clone())));
                let is_head = req.method() == hyper::Method::HEAD;
                let is_attributes = crate::s3::is_attributes_request(req.method(), req.uri());
                let close_after = must_close_after(&req);
                // A PUT without a length that s3s needs the length of is gathered whole
                // (bounded) before s3s sees it.
                let unsized_put = crate::body::needs_gathering(&req, crate::body::names_bucket_only(req.uri().path(), virtual_hosted));
                let _unsized_slot = if unsized_put {
                    match unsized_slots.clone().try_acquire_owned() {
                        Ok(slot) => Some(slot),
                        Err(_) => return Ok(crate::overload::slow_down()),
                    }
                } else {
                    None
                };
                let (mut parts, body) = req.into_parts();
                // Who is asking, for the access check (bucket policies' conditions).
                parts.extensions.insert(client);
                if virtual_hosted {
                    parts.extensions.insert(crate::vhost::VirtualHosted);
                }
                let (body, tracked) = ReadTracker::new(body, body_timeout);
                let body = if unsized_put {
                    match crate::body::gather_unsized(body, body_timeout).await {
                        Ok(gathered) => {
                            // Known now: s3s reads an XML body only with a Content-Length.
                            parts.headers.insert(hyper::header::CONTENT_LENGTH, hyper::header::HeaderValue::from(gathered.len()));
                            s3s::Body::http_body(gathered)
                        }
                        Err(crate::body::GatherRefused::TooLarge(resp)) => {
                            // Answered before the body's end: the client is still sending (a
                            // 100 Continue went out when the body was first read), so the rest
                            // is read away (as far as `discard` reads) and it gets the answer.
                            if let Some(rest) = tracked.take_unread() {
                                tokio::spawn(discard(rest));
                            }
                            return Ok(resp);
                        }
                        Err(crate::body::GatherRefused::Failed(resp)) => return Ok(resp),
                    }
                } else {
                    s3s::Body::http_body(body)
                };
                // Its metadata reads need only what was committed before it began.
                let call = kintsugi_cluster::serving_request(began, s3.call(Request::from_parts(parts, body)));
                let mut resp = if form {
                    // A form holds one of few POST slots: it gets a deadline for all of it.
                    match tokio::time::timeout(crate::s3::POST_DEADLINE, call).await {
                        Ok(r) => r?,
                        Err(_) => return Ok(crate::body::closing(hyper::StatusCode::REQUEST_TIMEOUT, "RequestTimeout", "the POST upload was not received in time; nothing was stored")),
                    }
                } else {
                    call.await?
                };
                if form {
                    crate::s3::policy_refusal_as_s3(&mut resp);
                }
                // A ranged HEAD answers as the ranged GET would (s3s sends every HEAD as 200).
                if is_head && resp.status() == hyper::StatusCode::OK && resp.headers().contains_key(hyper::header::CONTENT_RANGE) {
                    *resp.status_mut() = hyper::StatusCode::PARTIAL_CONTENT;
                }
                // GetObjectAttributes sends its ETag element unquoted, as S3 does.
                if is_attributes && resp.status() == hyper::StatusCode::OK {
                    if let Some(fixed) = resp.body().bytes().and_then(|b| crate::s3::unquote_etag(&b)) {
                        resp.headers_mut().insert(hyper::header::CONTENT_LENGTH, hyper::header::HeaderValue::from(fixed.len()));
                        *resp.body_mut() = s3s::Body::from(fixed);
                    }
                }
                if tracked.stalled() {
                    resp = crate::body::request_timeout(body_timeout);
                }
                if let Some((origin, bucket, method)) = cors {
                    crate::cors::decorate(gw.store(), &bucket, &origin, &method, resp.headers_mut()).await;
                }
                let unread = tracked.take_unread();
                if close_after.is_some_and(|empty| empty || !tracked.read_to_end()) {
                    // The client may be withholding the body: reading it would
                    // ask for it (hyper sends `100 Continue` on the first read).
                    resp.headers_mut().insert(hyper::header::CONNECTION, hyper::header::HeaderValue::from_static("close"));
                } else if let Some(body) = unread {
                    tokio::spawn(discard(body));
                }
                Ok(resp)
            }
        };
        // Every answer names its request id (an error's body too), as S3's do.
        let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
            let answer = handle(req);
            async move {
                let id = crate::request_id::new_id();
                answer.await.map(|mut resp| {
                    crate::request_id::stamp(&mut resp, &id);
                    resp
                })
            }
        });
        let Some(tls) = &tls else {
            let conn = http.serve_connection(TokioIo::new(stream), svc);
            let fut = graceful.watch(conn);
            tokio::spawn(async move {
                let _slot = slot;
                if let Err(e) = fut.await {
                    tracing::debug!(%peer, error = %e, "connection ended with error");
                }
            });
            continue;
        };
        // The handshake runs in the connection's task, so a slow one holds up no other client.
        let acceptor = tls.acceptor();
        let (http, watcher) = (http.clone(), graceful.watcher());
        let deadline = if limits.header_timeout.is_zero() { Duration::from_secs(30) } else { limits.header_timeout };
        tokio::spawn(async move {
            let _slot = slot;
            let stream = match tokio::time::timeout(deadline, acceptor.accept(stream)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake did not finish in {deadline:?}");
                    return;
                }
            };
            let conn = http.serve_connection(TokioIo::new(stream), svc);
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(%peer, error = %e, "connection ended with error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: no new connections, waiting for in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(drain) => tracing::warn!("in-flight requests did not finish in {drain:?}; closing them"),
    }
}
