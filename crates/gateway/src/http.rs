//! The HTTP front: S3 (through s3s, with SigV4 against the access keys in the
//! metadata store), `/metrics`, and graceful shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use s3s::auth::{S3Auth, SecretKey};
use s3s::service::S3ServiceBuilder;
use s3s::{s3_error, S3Result};
use tokio::net::TcpListener;

use crate::admin::AdminRoute;
use crate::s3::KintsugiS3;
use crate::store::Store;

/// SigV4 secrets come from the access keys in the metadata store.
struct MetaAuth {
    store: Arc<Store>,
}

#[async_trait::async_trait]
impl S3Auth for MetaAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        let ak = access_key.to_owned();
        let rec = self
            .store
            .meta_call(move |m| m.access_key(&ak))
            .await
            .map_err(|e| s3_error!(InternalError, "access key lookup failed: {e}"))?;
        match rec {
            Some(r) => Ok(SecretKey::from(r.secret)),
            None => Err(s3_error!(InvalidAccessKeyId, "The AWS access key Id you provided does not exist in our records.")),
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

/// Serve until `shutdown` resolves, then stop accepting and let in-flight
/// requests finish (up to `drain` time).
pub async fn serve(listener: TcpListener, store: Arc<Store>, shutdown: impl Future<Output = ()>, drain: Duration) {
    let mut builder = S3ServiceBuilder::new(KintsugiS3::new(store.clone()));
    builder.set_auth(MetaAuth { store: store.clone() });
    builder.set_route(AdminRoute::new(store.clone()));
    let s3 = builder.build();
    let graceful = GracefulShutdown::new();
    let http = auto::Builder::new(TokioExecutor::new());
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
        let _ = stream.set_nodelay(true);
        let s3 = s3.clone();
        let st = store.clone();
        let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
            let s3 = s3.clone();
            let st = st.clone();
            async move {
                if is_metrics(&req) {
                    let st2 = st.clone();
                    let garbage = tokio::task::spawn_blocking(move || st2.meta.garbage_count().unwrap_or(0))
                        .await
                        .unwrap_or(0);
                    let mut body = st.metrics.render(st.failed_disks(), st.all_disks().len(), garbage, &st.repair, &st.scrub);
                    body.push_str(&crate::ledger::render_metrics(&st).await);
                    body.push_str(&crate::drain::render_metrics(&st).await);
                    body.push_str(&crate::rebalance::render_metrics(&st));
                    let mut resp = Response::new(s3s::Body::from(body));
                    resp.headers_mut().insert(
                        hyper::header::CONTENT_TYPE,
                        hyper::header::HeaderValue::from_static("text/plain; version=0.0.4"),
                    );
                    return Ok::<_, s3s::HttpError>(resp);
                }
                // boto3 sends `Expect: 100-continue` even for an empty body; we
                // answer without a 100 (allowed), which botocore then misreads
                // on the next request of the connection (botocore#3755). Close
                // such connections after the answer so no later request stalls.
                let close_after = req.headers().get(hyper::header::EXPECT).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
                    && req.headers().get(hyper::header::CONTENT_LENGTH).is_some_and(|v| v.as_bytes() == b"0");
                let mut resp = s3.call(req.map(s3s::Body::from)).await?;
                if close_after {
                    resp.headers_mut().insert(hyper::header::CONNECTION, hyper::header::HeaderValue::from_static("close"));
                }
                Ok(resp)
            }
        });
        let conn = http.serve_connection_with_upgrades(TokioIo::new(stream), svc).into_owned();
        let fut = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = fut.await {
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
