//! Request bodies as the S3 handlers read them: a body that stalls is cut off after
//! `--body-timeout`, whether it was read to its end is recorded (a request that sent
//! `Expect: 100-continue` and was answered before its body must close its connection), and
//! a body answered early is read away so the client sees the answer.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Frame, Incoming, SizeHint};
use hyper::Request;

/// The words a stalled body's error carries ([`crate::GatewayError::from_body_error`] reads
/// them back through s3s, which hands handlers only the message).
pub(crate) const BODY_STALLED: &str = "request body stalled";

/// Why reading a request body failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    /// The connection failed or broke off.
    #[error(transparent)]
    Http(#[from] hyper::Error),
    /// No byte arrived for the body timeout.
    #[error("{BODY_STALLED}: no byte for {0:?} (--body-timeout); the connection is closed")]
    Stalled(Duration),
}

/// For an HTTP/1 request that sent `Expect: 100-continue`: `Some(true)` when its
/// body is empty, `Some(false)` otherwise; `None` for every other request.
///
/// Such a request's connection must be closed after the answer whenever the
/// handler did not read the body to its end (so hyper sent no `100 Continue`
/// for all of it): the client may then rightly withhold the body (RFC 9110
/// §10.1.1; botocore does, curl does), while hyper, keeping the connection,
/// would take the first bytes of the *next* request as the unread body — a
/// request `HEAD /b` then arrives as method `EAD` and fails its signature.
/// An empty body gets the same treatment: botocore misreads the final answer
/// it got without a `100 Continue` on the next request (botocore#3755).
pub(crate) fn must_close_after<B>(req: &Request<B>) -> Option<bool> {
    let expects = req.version() <= hyper::Version::HTTP_11
        && req.headers().get(hyper::header::EXPECT).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    expects.then(|| req.headers().get(hyper::header::CONTENT_LENGTH).is_some_and(|v| v.as_bytes() == b"0"))
}

/// How much of a request body is read and thrown away after an answer that came
/// before the body was read (a PUT refused up front: no such bucket, too few
/// disks, a bad signature), and for how long. A client that sends its body
/// without waiting for `100 Continue` is still writing when the answer goes out;
/// if the connection closed under it, it would see a broken pipe or a reset
/// instead of the answer (hyper closes a connection whose request body was left
/// unread, and a close with unread bytes makes the kernel send a reset). Reading
/// the rest lets it finish writing and read the answer, and keeps the
/// connection. A body larger than this, or slower, is cut off as before.
const DISCARD_MAX_BYTES: u64 = 64 << 20;
const DISCARD_MAX_TIME: Duration = Duration::from_secs(10);

/// Read and drop what is left of a body answered early, up to
/// [`DISCARD_MAX_BYTES`] and [`DISCARD_MAX_TIME`]; then let it go (hyper
/// keeps the connection if the body ended, closes it otherwise).
pub(crate) async fn discard(mut body: Incoming) {
    let read_rest = async {
        let mut seen = 0u64;
        while let Some(frame) = http_body_util::BodyExt::frame(&mut body).await {
            let Ok(frame) = frame else { return };
            seen += frame.data_ref().map_or(0, |d| d.len() as u64);
            if seen > DISCARD_MAX_BYTES {
                tracing::debug!(seen, "early-answered request body is too large to read away; closing its connection");
                return;
            }
        }
    };
    if tokio::time::timeout(DISCARD_MAX_TIME, read_rest).await.is_err() {
        tracing::debug!("early-answered request body still arriving after {DISCARD_MAX_TIME:?}; closing its connection");
    }
}

/// The largest body of a PUT sent without a length (`Transfer-Encoding: chunked`, no
/// `Content-Length`) that s3s needs the length of: it is gathered in memory first. Larger
/// ones: `411 MissingContentLength`.
pub(crate) const MAX_UNSIZED: usize = 16 << 20;
/// PUTs without a length gathered at once (more: `503 SlowDown`), so they hold at most about
/// this many times [`MAX_UNSIZED`] of memory.
pub(crate) const UNSIZED_AT_ONCE: usize = 8;
/// How long gathering such a body may take, all of it (it holds one of [`UNSIZED_AT_ONCE`]
/// slots, before its signature is checked): 16 MiB at about 55 KiB/s.
pub(crate) const UNSIZED_DEADLINE: Duration = Duration::from_secs(300);

/// Whether `req` is a PUT whose body's length is not known before it is read (HTTP chunked
/// without `Content-Length`) and s3s needs it:
/// - a SigV4 header signature whose payload hash is a SHA-256 or `UNSIGNED-PAYLOAD` (s3s
///   checks those only against a known length);
/// - a presigned SigV4 URL sent with a SHA-256 in `x-amz-content-sha256`;
/// - a bucket or object subresource (`?tagging`, `?acl`, `?policy`, …), or a PUT of the
///   bucket itself (CreateBucket, `bucket_only`: the path names no key): s3s reads an XML
///   body only with a `Content-Length`, however it is signed.
///
/// Other such PUTs of object data (SigV2, anonymous, presigned without a payload hash)
/// stream as they come, at any size, and an aws-chunked upload (`STREAMING-…`) is s3s's own.
pub(crate) fn needs_gathering(req: &Request<Incoming>, bucket_only: bool) -> bool {
    use hyper::body::Body as _;
    let h = req.headers();
    if req.method() != hyper::Method::PUT || h.contains_key(hyper::header::CONTENT_LENGTH) || req.body().size_hint().exact().is_some() {
        return false;
    }
    let hash = h.get("x-amz-content-sha256").and_then(|v| v.to_str().ok());
    let sha256 = hash.is_some_and(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()));
    let keys: Vec<String> = req.uri().query().map(|q| form_urlencoded::parse(q.as_bytes()).map(|(k, _)| k.into_owned()).collect()).unwrap_or_default();
    let presigned = keys.iter().any(|k| k == "X-Amz-Signature");
    let sigv4_header = !presigned && h.get(hyper::header::AUTHORIZATION).is_some_and(|v| v.as_bytes().starts_with(b"AWS4-HMAC-SHA256 "));
    // Query keys of an object-data PUT (PutObject, UploadPart) and of its signature.
    // (SigV2 presigned URLs carry the signed Content-Type and Content-MD5 in the query.)
    let data_key = |k: &str| {
        matches!(k, "partNumber" | "uploadId" | "versionId" | "x-id" | "AWSAccessKeyId" | "Signature" | "Expires" | "content-type" | "content-md5")
            || k.starts_with("X-Amz-")
            || k.starts_with("x-amz-")
    };
    let subresource = keys.iter().any(|k| !data_key(k));
    (sigv4_header && (sha256 || hash == Some("UNSIGNED-PAYLOAD"))) || (presigned && sha256) || subresource || bucket_only
}

/// Whether a request's path names a bucket and no key: `/` of a virtual-hosted bucket, or
/// `/BUCKET` (or `/BUCKET/`) path-style.
pub(crate) fn names_bucket_only(path: &str, virtual_hosted: bool) -> bool {
    if virtual_hosted {
        return path == "/";
    }
    let inner = path.trim_start_matches('/');
    let inner = inner.strip_suffix('/').unwrap_or(inner);
    !inner.is_empty() && !inner.contains('/')
}

/// Why gathering a body failed, with the answer to give.
pub(crate) enum GatherRefused {
    /// Past [`MAX_UNSIZED`]: the answer, and the client may still be sending (read the
    /// rest away, as for any answer given before the body's end).
    TooLarge(hyper::Response<s3s::Body>),
    /// Stalled, too slow or broken: the answer, and the connection closes.
    Failed(hyper::Response<s3s::Body>),
}

/// Bytes per piece of a gathered body (the last one may hold fewer): a 16 MiB body costs
/// at most 17 MiB, whatever its chunks.
const GATHER_PIECE: usize = 1 << 20;

/// Read a PUT body of unknown length whole, up to [`MAX_UNSIZED`] bytes and within
/// [`UNSIZED_DEADLINE`]: a body of the same bytes whose length is known, or the refusal.
pub(crate) async fn gather_unsized(mut body: ReadTracker, stall: Option<Duration>) -> Result<Gathered, GatherRefused> {
    // Copied into pieces of one size as they come: a frame of hyper's holds its whole read
    // buffer, so keeping frames would let a client of tiny chunks hold far more than it sent.
    let mut pieces = std::collections::VecDeque::new();
    let mut piece = bytes::BytesMut::with_capacity(GATHER_PIECE);
    let mut len = 0usize;
    let read = async {
        while let Some(frame) = http_body_util::BodyExt::frame(&mut body).await {
            let frame = match frame {
                Ok(f) => f,
                Err(BodyError::Stalled(_)) => return Err(GatherRefused::Failed(request_timeout(stall))),
                Err(BodyError::Http(e)) => {
                    let msg = format!("the request body broke off before its end ({e}); nothing was stored, send it again");
                    return Err(GatherRefused::Failed(closing(hyper::StatusCode::BAD_REQUEST, "IncompleteBody", &msg)));
                }
            };
            let Ok(data) = frame.into_data() else { continue };
            len += data.len();
            if len > MAX_UNSIZED {
                let msg = format!(
                    "a PUT without Content-Length may carry at most {MAX_UNSIZED} bytes; send Content-Length, or upload larger objects in parts (multipart upload); nothing was stored"
                );
                return Err(GatherRefused::TooLarge(crate::cors::error(hyper::StatusCode::LENGTH_REQUIRED, "MissingContentLength", &msg)));
            }
            let mut rest = &data[..];
            while !rest.is_empty() {
                let n = rest.len().min(GATHER_PIECE - piece.len());
                piece.extend_from_slice(&rest[..n]);
                rest = &rest[n..];
                if piece.len() == GATHER_PIECE {
                    pieces.push_back(std::mem::replace(&mut piece, bytes::BytesMut::with_capacity(GATHER_PIECE)).freeze());
                }
            }
        }
        if !piece.is_empty() {
            pieces.push_back(piece.freeze());
        }
        Ok(())
    };
    match tokio::time::timeout(UNSIZED_DEADLINE, read).await {
        Ok(Ok(())) => Ok(Gathered { pieces, left: len as u64 }),
        Ok(Err(refused)) => Err(refused),
        Err(_) => Err(GatherRefused::Failed(closing(
            hyper::StatusCode::BAD_REQUEST,
            "RequestTimeout",
            &format!("a PUT without Content-Length must arrive whole within {UNSIZED_DEADLINE:?}; nothing was stored, send Content-Length"),
        ))),
    }
}

/// A gathered body: its pieces, and how many bytes they hold (its exact length, which s3s reads).
pub(crate) struct Gathered {
    pieces: std::collections::VecDeque<bytes::Bytes>,
    left: u64,
}

impl Gathered {
    /// Its length.
    pub(crate) fn len(&self) -> u64 {
        self.left
    }
}

impl hyper::body::Body for Gathered {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let Some(data) = self.pieces.pop_front() else { return Poll::Ready(None) };
        self.left -= data.len() as u64;
        Poll::Ready(Some(Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.pieces.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

/// An S3 error answer whose connection is closed (its request body was left unread).
pub(crate) fn closing(status: hyper::StatusCode, code: &str, message: &str) -> hyper::Response<s3s::Body> {
    let mut resp = crate::cors::error(status, code, message);
    resp.headers_mut().insert(hyper::header::CONNECTION, hyper::header::HeaderValue::from_static("close"));
    resp
}

/// What a [`ReadTracker`] leaves behind: whether its body was read to the end,
/// and the body itself when it was dropped unread.
#[derive(Default)]
pub(crate) struct Tracked {
    done: AtomicBool,
    stalled: AtomicBool,
    unread: Mutex<Option<Incoming>>,
}

impl Tracked {
    /// Whether the body stalled past the body timeout (whatever the handler made of it: s3s
    /// answers a body it reads whole and cannot with 500, which clients retry).
    pub(crate) fn stalled(&self) -> bool {
        self.stalled.load(Ordering::Acquire)
    }

    pub(crate) fn read_to_end(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// The body, if the handler dropped it before its end.
    pub(crate) fn take_unread(&self) -> Option<Incoming> {
        self.unread.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
    }
}

/// The answer to a request whose body stalled: `400 RequestTimeout`, and the connection closed.
pub(crate) fn request_timeout(stall: Option<Duration>) -> hyper::Response<s3s::Body> {
    let after = stall.map_or_else(String::new, |d| format!(" for {d:?}"));
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>RequestTimeout</Code><Message>{BODY_STALLED}: no byte{after} (--body-timeout); send the body again</Message></Error>"
    );
    let mut resp = hyper::Response::new(s3s::Body::from(body));
    *resp.status_mut() = hyper::StatusCode::BAD_REQUEST;
    let h = resp.headers_mut();
    h.insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/xml"));
    h.insert(hyper::header::CONNECTION, hyper::header::HeaderValue::from_static("close"));
    resp
}

/// A request body that records whether it was read to its end, hands itself back (through
/// [`Tracked`]) when dropped before that, and fails when no byte arrives for `stall` while
/// it is being read.
pub(crate) struct ReadTracker {
    inner: Option<Incoming>,
    tracked: Arc<Tracked>,
    stall: Option<Duration>,
    /// Runs while a read waits for bytes (`armed`); every frame disarms it, and the next
    /// wait resets it.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    armed: bool,
}

impl ReadTracker {
    pub(crate) fn new(inner: Incoming, stall: Option<Duration>) -> (Self, Arc<Tracked>) {
        let tracked = Arc::new(Tracked::default());
        (Self { inner: Some(inner), tracked: tracked.clone(), stall, deadline: None, armed: false }, tracked)
    }
}

impl Drop for ReadTracker {
    fn drop(&mut self) {
        if !self.tracked.read_to_end() {
            if let Some(body) = self.inner.take() {
                *self.tracked.unread.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(body);
            }
        }
    }
}

impl hyper::body::Body for ReadTracker {
    type Data = bytes::Bytes;
    type Error = BodyError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            // A stalled body stays an error: it did not end.
            return Poll::Ready(match (this.tracked.stalled(), this.stall) {
                (true, Some(stall)) => Some(Err(BodyError::Stalled(stall))),
                _ => None,
            });
        };
        let polled = Pin::new(&mut *inner).poll_frame(cx);
        let Poll::Ready(frame) = polled else {
            let Some(stall) = this.stall else { return Poll::Pending };
            let at = tokio::time::Instant::now() + stall;
            let deadline = match &mut this.deadline {
                Some(d) if this.armed => d,
                Some(d) => {
                    d.as_mut().reset(at);
                    d
                }
                None => this.deadline.insert(Box::pin(tokio::time::sleep_until(at))),
            };
            this.armed = true;
            if deadline.as_mut().poll(cx).is_ready() {
                // Dropped unread, the body makes hyper close the connection after the answer.
                this.inner = None;
                this.tracked.stalled.store(true, Ordering::Release);
                return Poll::Ready(Some(Err(BodyError::Stalled(stall))));
            }
            return Poll::Pending;
        };
        this.armed = false;
        if frame.is_none() || (matches!(frame, Some(Ok(_))) && inner.is_end_stream()) {
            this.tracked.done.store(true, Ordering::Release);
        }
        Poll::Ready(frame.map(|f| f.map_err(BodyError::Http)))
    }

    fn is_end_stream(&self) -> bool {
        // A stalled body did not end.
        !self.tracked.stalled() && self.inner.as_ref().is_none_or(hyper::body::Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Some(inner) => inner.size_hint(),
            None if self.tracked.stalled() => SizeHint::default(),
            None => SizeHint::with_exact(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::names_bucket_only;

    #[test]
    fn a_path_names_a_bucket_alone_or_a_key() {
        assert!(names_bucket_only("/b", false));
        assert!(names_bucket_only("/b/", false));
        assert!(!names_bucket_only("/b/k", false));
        assert!(!names_bucket_only("/b/k/", false));
        assert!(!names_bucket_only("/", false), "the service, not a bucket");
        assert!(names_bucket_only("/", true));
        assert!(!names_bucket_only("/k", true), "virtual-hosted: the path is the key");
    }
}
