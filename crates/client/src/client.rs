//! The S3 client: path-style requests over HTTP/1.1 (hyper), plain or TLS (rustls), SigV4-signed.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

use crate::error::{ClientError, ClientResult};
use crate::sigv4::{self, SignInput, EMPTY_SHA256, UNSIGNED_PAYLOAD};
use crate::xml;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type ReqBody = UnsyncBoxBody<Bytes, BoxError>;

/// An access key pair.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Access key id.
    pub access_key: String,
    /// Secret key.
    pub secret_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <secret>)", self.access_key)
    }
}

/// A request body: bytes in memory, or a stream of known length.
pub enum Body {
    /// Whole body in memory.
    Bytes(Bytes),
    /// A stream of `len` bytes.
    Stream {
        /// Exact length (sent as Content-Length).
        len: u64,
        /// The bytes.
        stream: std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>,
    },
}

impl Body {
    fn len(&self) -> u64 {
        match self {
            Body::Bytes(b) => b.len() as u64,
            Body::Stream { len, .. } => *len,
        }
    }

    fn into_http(self) -> ReqBody {
        match self {
            Body::Bytes(b) => Full::new(b).map_err(|e| -> BoxError { match e {} }).boxed_unsync(),
            Body::Stream { stream, .. } => {
                StreamBody::new(stream.map_ok(Frame::data).map_err(|e| -> BoxError { Box::new(e) })).boxed_unsync()
            }
        }
    }
}

/// Object attributes from HEAD/GET.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Bytes in this response (the range length for a ranged GET).
    pub content_length: u64,
    /// Whole object size (from Content-Range when ranged).
    pub size: u64,
    /// ETag without quotes.
    pub etag: String,
    /// Content-Type.
    pub content_type: Option<String>,
    /// Last-Modified header as sent.
    pub last_modified: Option<String>,
    /// `x-amz-meta-*` without the prefix.
    pub metadata: BTreeMap<String, String>,
}

/// A GET response: attributes and the streaming body.
#[derive(Debug)]
pub struct GetObject {
    /// Attributes.
    pub info: ObjectInfo,
    /// The body.
    pub body: Incoming,
}

impl GetObject {
    /// The body as a stream of byte chunks.
    pub fn into_stream(self) -> impl Stream<Item = ClientResult<Bytes>> + Send {
        http_body_util::BodyStream::new(self.body).filter_map(|f| async move {
            match f {
                Ok(frame) => frame.into_data().ok().map(Ok),
                Err(e) => Some(Err(ClientError::Body { detail: e.to_string() })),
            }
        })
    }

    /// Read the whole body (for small objects).
    pub async fn bytes(self) -> ClientResult<Bytes> {
        let expect = self.info.content_length;
        let b = self.body.collect().await.map_err(|e| ClientError::Body { detail: e.to_string() })?.to_bytes();
        if b.len() as u64 != expect {
            return Err(ClientError::Body { detail: format!("got {} bytes, Content-Length said {expect}", b.len()) });
        }
        Ok(b)
    }
}

/// One listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    /// Key.
    pub key: String,
    /// Size.
    pub size: u64,
    /// ETag without quotes.
    pub etag: String,
    /// Last modified (as sent, ISO 8601).
    pub last_modified: String,
}

/// One page of ListObjectsV2.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    /// Objects.
    pub objects: Vec<ListedObject>,
    /// Common prefixes (with a delimiter).
    pub prefixes: Vec<String>,
    /// Token for the next page, if truncated.
    pub next_token: Option<String>,
}

/// A bucket from ListBuckets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketInfo {
    /// Name.
    pub name: String,
    /// Creation date as sent.
    pub created: String,
}

/// Options for uploads.
#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    /// Content-Type.
    pub content_type: Option<String>,
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
}

impl PutOptions {
    fn headers(&self) -> Vec<(String, String)> {
        let mut h = Vec::new();
        if let Some(ct) = &self.content_type {
            h.push(("content-type".to_owned(), ct.clone()));
        }
        for (k, v) in &self.metadata {
            h.push((format!("x-amz-meta-{}", k.to_ascii_lowercase()), v.clone()));
        }
        h
    }
}

/// An S3 client for one endpoint.
#[derive(Clone)]
pub struct S3Client {
    http: Client<hyper_rustls::HttpsConnector<HttpConnector>, ReqBody>,
    endpoint: String,
    authority: String,
    creds: Option<Credentials>,
    region: String,
}

impl std::fmt::Debug for S3Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Client").field("endpoint", &self.endpoint).field("creds", &self.creds).finish()
    }
}

fn header_str(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn info_from(h: &HeaderMap) -> ObjectInfo {
    let content_length = header_str(h, "content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let size = header_str(h, "content-range")
        .and_then(|cr| cr.rsplit('/').next().and_then(|t| t.parse().ok()))
        .unwrap_or(content_length);
    let metadata = h
        .iter()
        .filter_map(|(k, v)| {
            let name = k.as_str().strip_prefix("x-amz-meta-")?;
            Some((name.to_owned(), v.to_str().ok()?.to_owned()))
        })
        .collect();
    ObjectInfo {
        content_length,
        size,
        etag: header_str(h, "etag").unwrap_or_default().trim_matches('"').to_owned(),
        content_type: header_str(h, "content-type"),
        last_modified: header_str(h, "last-modified"),
        metadata,
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn client_config(roots: rustls::RootCertStore) -> ClientResult<rustls::ClientConfig> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Protocol { what: "TLS set-up", detail: e.to_string() })?;
    // No ALPN here: the connector sets it (HTTP/1.1).
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

/// The system's roots (honouring `SSL_CERT_FILE` / `SSL_CERT_DIR`) and the certificates of every
/// file in `ca_bundles`. A bundle is refused when it cannot be read or holds no certificate that
/// can be trusted; certificates in it that cannot be parsed are skipped, as the system's are.
fn tls_config(ca_bundles: &[&Path]) -> ClientResult<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    for path in ca_bundles {
        let bad = |detail: String| ClientError::CaBundle { path: path.display().to_string(), detail };
        let certs = rustls::pki_types::CertificateDer::pem_file_iter(path)
            .map_err(|e| bad(e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(e.to_string()))?;
        if certs.is_empty() {
            return Err(bad("no PEM certificate (-----BEGIN CERTIFICATE-----) in it".into()));
        }
        let (added, skipped) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(bad(format!("none of its {skipped} certificate(s) can be trusted as a root")));
        }
    }
    client_config(roots)
}

/// CopyObject and CompleteMultipartUpload may answer 200 with an `<Error>` body.
fn error_in_200(n: xml::Node, method: &str, resource: &str) -> ClientResult<xml::Node> {
    if n.name != "Error" {
        return Ok(n);
    }
    Err(ClientError::S3 {
        method: method.to_owned(),
        resource: resource.to_owned(),
        status: 200,
        code: n.text_of("Code").unwrap_or_default(),
        message: n.text_of("Message").unwrap_or_default(),
    })
}

impl S3Client {
    /// A client for `endpoint` (`http://host:port` or `https://host:port`, the latter verified
    /// against the system's roots). Without credentials, requests are anonymous.
    pub fn new(endpoint: &str, creds: Option<Credentials>, region: &str) -> ClientResult<Self> {
        Self::with_ca_bundle(endpoint, creds, region, None)
    }

    /// As [`S3Client::new`], trusting also every certificate in the PEM file `ca_bundle` (a
    /// private CA, or a self-signed server certificate) for an `https://` endpoint.
    pub fn with_ca_bundle(endpoint: &str, creds: Option<Credentials>, region: &str, ca_bundle: Option<&Path>) -> ClientResult<Self> {
        Self::with_ca_bundles(endpoint, creds, region, ca_bundle.as_slice())
    }

    /// As [`S3Client::with_ca_bundle`], trusting the certificates of every file in `ca_bundles`.
    pub fn with_ca_bundles(endpoint: &str, creds: Option<Credentials>, region: &str, ca_bundles: &[&Path]) -> ClientResult<Self> {
        let bad = |detail: &str| ClientError::BadEndpoint { endpoint: endpoint.to_owned(), detail: detail.to_owned() };
        let uri: http::Uri = endpoint.parse().map_err(|e: http::uri::InvalidUri| bad(&e.to_string()))?;
        let scheme = match uri.scheme_str() {
            Some(s @ ("http" | "https")) => s.to_owned(),
            _ => return Err(bad("missing http:// or https:// scheme")),
        };
        let authority = uri.authority().ok_or_else(|| bad("missing host"))?.to_string();
        if uri.path() != "/" && !uri.path().is_empty() {
            return Err(bad("the endpoint must not have a path"));
        }
        // The system's roots are read only for an https endpoint (they cost a directory scan).
        let tls = if scheme == "https" { tls_config(ca_bundles)? } else { client_config(rustls::RootCertStore::empty())? };
        let mut conn = HttpConnector::new();
        conn.set_nodelay(true);
        conn.enforce_http(false);
        let conn = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http().enable_http1().wrap_connector(conn);
        let http = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(64).build(conn);
        Ok(Self { http, endpoint: format!("{scheme}://{authority}"), authority, creds, region: region.to_owned() })
    }

    /// The endpoint URL.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Send a request to `path` (already encoded) and return the response if its status is 2xx.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        extra_headers: &[(String, String)],
        body: Body,
        payload_hash: &str,
    ) -> ClientResult<Response<Incoming>> {
        let unix = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let date = sigv4::amz_date(unix);
        let mut headers: Vec<(String, String)> = vec![
            ("host".into(), self.authority.clone()),
            ("x-amz-date".into(), date.clone()),
            ("x-amz-content-sha256".into(), payload_hash.to_owned()),
        ];
        headers.extend(extra_headers.iter().cloned());
        let qs = sigv4::canonical_query(query);
        let uri = if qs.is_empty() { format!("{}{path}", self.endpoint) } else { format!("{}{path}?{qs}", self.endpoint) };
        let mut builder = Request::builder().method(method.clone()).uri(&uri);
        if let Some(c) = &self.creds {
            let input = SignInput {
                method: method.as_str(),
                path,
                query,
                headers: &headers,
                payload_hash,
                amz_date: &date,
                region: &self.region,
                service: "s3",
            };
            builder = builder.header("authorization", sigv4::authorization(&input, &c.access_key, &c.secret_key));
        }
        for (k, v) in &headers {
            if k != "host" {
                builder = builder.header(k.as_str(), v.as_str());
            }
        }
        let len = body.len();
        if len > 0 || matches!(method, Method::PUT | Method::POST) {
            builder = builder.header("content-length", len);
        }
        let req = builder.body(body.into_http()).map_err(|e| ClientError::Protocol { what: "request", detail: e.to_string() })?;
        let resp = self.http.request(req).await.map_err(|e| {
            let mut detail = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                detail = format!("{detail}: {s}");
                src = s.source();
            }
            if detail.contains("not valid for name") || detail.contains("NotValidForName") {
                detail.push_str(" (connect to a host name the certificate lists)");
            } else if detail.contains("certificate") {
                detail.push_str(" (a self-signed server certificate or a private CA needs --ca-bundle FILE)");
            }
            ClientError::Connect { endpoint: self.endpoint.clone(), detail }
        })?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let body = resp.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let (code, message) = match xml::parse("error", &body) {
            Ok(n) if n.name == "Error" => (n.text_of("Code").unwrap_or_default(), n.text_of("Message").unwrap_or_default()),
            _ => (status.canonical_reason().unwrap_or("error").replace(' ', ""), String::new()),
        };
        let code = if code.is_empty() && status == StatusCode::NOT_FOUND { "NotFound".to_owned() } else { code };
        Err(ClientError::S3 { method: method.to_string(), resource: path.to_owned(), status: status.as_u16(), code, message })
    }

    fn path(bucket: &str, key: Option<&str>) -> String {
        match key {
            Some(k) => format!("/{}/{}", sigv4::path_encode(bucket), sigv4::path_encode(k)),
            None => format!("/{}", sigv4::path_encode(bucket)),
        }
    }

    async fn xml_call(&self, what: &'static str, method: Method, path: &str, query: &[(String, String)], body: Option<String>) -> ClientResult<xml::Node> {
        let (body, hash) = match body {
            Some(s) => {
                let h = sigv4::sha256_hex(s.as_bytes());
                (Body::Bytes(Bytes::from(s)), h)
            }
            None => (Body::Bytes(Bytes::new()), EMPTY_SHA256.to_owned()),
        };
        let resp = self.send(method, path, query, &[], body, &hash).await?;
        let bytes = resp.into_body().collect().await.map_err(|e| ClientError::Body { detail: e.to_string() })?.to_bytes();
        xml::parse(what, &bytes)
    }

    async fn empty_call(&self, method: Method, path: &str, query: &[(String, String)], headers: &[(String, String)]) -> ClientResult<HeaderMap> {
        let resp = self.send(method, path, query, headers, Body::Bytes(Bytes::new()), EMPTY_SHA256).await?;
        let headers = resp.headers().clone();
        // Drain so the connection can be reused.
        let _ = resp.into_body().collect().await;
        Ok(headers)
    }

    /// ListBuckets.
    pub async fn list_buckets(&self) -> ClientResult<Vec<BucketInfo>> {
        let n = self.xml_call("ListBuckets", Method::GET, "/", &[], None).await?;
        let Some(buckets) = n.child("Buckets") else { return Ok(Vec::new()) };
        Ok(buckets
            .all("Bucket")
            .map(|b| BucketInfo { name: b.text_of("Name").unwrap_or_default(), created: b.text_of("CreationDate").unwrap_or_default() })
            .collect())
    }

    /// CreateBucket.
    pub async fn create_bucket(&self, bucket: &str) -> ClientResult<()> {
        self.empty_call(Method::PUT, &Self::path(bucket, None), &[], &[]).await.map(|_| ())
    }

    /// DeleteBucket.
    pub async fn delete_bucket(&self, bucket: &str) -> ClientResult<()> {
        self.empty_call(Method::DELETE, &Self::path(bucket, None), &[], &[]).await.map(|_| ())
    }

    /// PutObject; returns the ETag.
    pub async fn put_object(&self, bucket: &str, key: &str, body: Body, opts: &PutOptions) -> ClientResult<String> {
        let resp = self.send(Method::PUT, &Self::path(bucket, Some(key)), &[], &opts.headers(), body, UNSIGNED_PAYLOAD).await?;
        let etag = header_str(resp.headers(), "etag").unwrap_or_default().trim_matches('"').to_owned();
        let _ = resp.into_body().collect().await;
        Ok(etag)
    }

    /// GetObject, optionally a byte range `start..end` (end exclusive; `None` = to the end).
    pub async fn get_object(&self, bucket: &str, key: &str, range: Option<(u64, Option<u64>)>) -> ClientResult<GetObject> {
        let mut h = Vec::new();
        if let Some((s, e)) = range {
            let v = match e {
                Some(e) => format!("bytes={s}-{}", e.saturating_sub(1)),
                None => format!("bytes={s}-"),
            };
            h.push(("range".to_owned(), v));
        }
        let resp = self.send(Method::GET, &Self::path(bucket, Some(key)), &[], &h, Body::Bytes(Bytes::new()), EMPTY_SHA256).await?;
        let info = info_from(resp.headers());
        Ok(GetObject { info, body: resp.into_body() })
    }

    /// HeadObject.
    pub async fn head_object(&self, bucket: &str, key: &str) -> ClientResult<ObjectInfo> {
        let h = self.empty_call(Method::HEAD, &Self::path(bucket, Some(key)), &[], &[]).await?;
        Ok(info_from(&h))
    }

    /// DeleteObject.
    pub async fn delete_object(&self, bucket: &str, key: &str) -> ClientResult<()> {
        self.empty_call(Method::DELETE, &Self::path(bucket, Some(key)), &[], &[]).await.map(|_| ())
    }

    /// CopyObject (server-side); returns the new ETag.
    pub async fn copy_object(&self, src_bucket: &str, src_key: &str, bucket: &str, key: &str) -> ClientResult<String> {
        let src = format!("/{}/{}", sigv4::path_encode(src_bucket), sigv4::path_encode(src_key));
        let resp = self
            .send(Method::PUT, &Self::path(bucket, Some(key)), &[], &[("x-amz-copy-source".into(), src)], Body::Bytes(Bytes::new()), EMPTY_SHA256)
            .await?;
        let body = resp.into_body().collect().await.map_err(|e| ClientError::Body { detail: e.to_string() })?.to_bytes();
        let n = error_in_200(xml::parse("CopyObject", &body)?, "PUT", &Self::path(bucket, Some(key)))?;
        Ok(n.text_of("ETag").unwrap_or_default().trim_matches('"').to_owned())
    }

    /// One page of ListObjectsV2.
    pub async fn list_objects_v2(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        token: Option<&str>,
        max_keys: u32,
    ) -> ClientResult<ListPage> {
        let mut q = vec![("list-type".to_owned(), "2".to_owned()), ("max-keys".to_owned(), max_keys.to_string())];
        if !prefix.is_empty() {
            q.push(("prefix".into(), prefix.into()));
        }
        if let Some(d) = delimiter {
            q.push(("delimiter".into(), d.into()));
        }
        if let Some(t) = token {
            q.push(("continuation-token".into(), t.into()));
        }
        let n = self.xml_call("ListObjectsV2", Method::GET, &Self::path(bucket, None), &q, None).await?;
        let truncated = n.text_of("IsTruncated").is_some_and(|t| t == "true");
        Ok(ListPage {
            objects: n
                .all("Contents")
                .map(|c| ListedObject {
                    key: c.text_of("Key").unwrap_or_default(),
                    size: c.text_of("Size").and_then(|s| s.parse().ok()).unwrap_or(0),
                    etag: c.text_of("ETag").unwrap_or_default().trim_matches('"').to_owned(),
                    last_modified: c.text_of("LastModified").unwrap_or_default(),
                })
                .collect(),
            prefixes: n.all("CommonPrefixes").filter_map(|p| p.text_of("Prefix")).collect(),
            next_token: if truncated { n.text_of("NextContinuationToken") } else { None },
        })
    }

    /// Every object under `prefix` (all pages).
    pub async fn list_all(&self, bucket: &str, prefix: &str) -> ClientResult<Vec<ListedObject>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self.list_objects_v2(bucket, prefix, None, token.as_deref(), 1000).await?;
            out.extend(page.objects);
            match page.next_token {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    /// CreateMultipartUpload; returns the upload id.
    pub async fn create_multipart(&self, bucket: &str, key: &str, opts: &PutOptions) -> ClientResult<String> {
        let q = [("uploads".to_owned(), String::new())];
        let resp = self
            .send(Method::POST, &Self::path(bucket, Some(key)), &q, &opts.headers(), Body::Bytes(Bytes::new()), EMPTY_SHA256)
            .await?;
        let body = resp.into_body().collect().await.map_err(|e| ClientError::Body { detail: e.to_string() })?.to_bytes();
        xml::parse("CreateMultipartUpload", &body)?
            .text_of("UploadId")
            .ok_or(ClientError::Protocol { what: "CreateMultipartUpload", detail: "no UploadId".into() })
    }

    /// UploadPart; returns the part's ETag.
    pub async fn upload_part(&self, bucket: &str, key: &str, upload_id: &str, part: u32, body: Body) -> ClientResult<String> {
        let q = [("partNumber".to_owned(), part.to_string()), ("uploadId".to_owned(), upload_id.to_owned())];
        let resp = self.send(Method::PUT, &Self::path(bucket, Some(key)), &q, &[], body, UNSIGNED_PAYLOAD).await?;
        let etag = header_str(resp.headers(), "etag").unwrap_or_default().trim_matches('"').to_owned();
        let _ = resp.into_body().collect().await;
        Ok(etag)
    }

    /// CompleteMultipartUpload with (part number, ETag) pairs; returns the object's ETag.
    pub async fn complete_multipart(&self, bucket: &str, key: &str, upload_id: &str, parts: &[(u32, String)]) -> ClientResult<String> {
        let mut x = String::from("<CompleteMultipartUpload>");
        for (n, e) in parts {
            x.push_str(&format!("<Part><PartNumber>{n}</PartNumber><ETag>\"{}\"</ETag></Part>", xml::escape(e)));
        }
        x.push_str("</CompleteMultipartUpload>");
        let q = [("uploadId".to_owned(), upload_id.to_owned())];
        let path = Self::path(bucket, Some(key));
        let n = error_in_200(self.xml_call("CompleteMultipartUpload", Method::POST, &path, &q, Some(x)).await?, "POST", &path)?;
        Ok(n.text_of("ETag").unwrap_or_default().trim_matches('"').to_owned())
    }

    /// AbortMultipartUpload.
    pub async fn abort_multipart(&self, bucket: &str, key: &str, upload_id: &str) -> ClientResult<()> {
        let q = [("uploadId".to_owned(), upload_id.to_owned())];
        self.empty_call(Method::DELETE, &Self::path(bucket, Some(key)), &q, &[]).await.map(|_| ())
    }

    /// ListMultipartUploads (first 1000): (key, upload id).
    pub async fn list_multipart_uploads(&self, bucket: &str, prefix: &str) -> ClientResult<Vec<(String, String)>> {
        let mut q = vec![("uploads".to_owned(), String::new())];
        if !prefix.is_empty() {
            q.push(("prefix".into(), prefix.into()));
        }
        let n = self.xml_call("ListMultipartUploads", Method::GET, &Self::path(bucket, None), &q, None).await?;
        Ok(n.all("Upload").map(|u| (u.text_of("Key").unwrap_or_default(), u.text_of("UploadId").unwrap_or_default())).collect())
    }

    /// GET a Kintsugi admin API resource (`/kintsugi-admin/v1/{op}`); returns the JSON body.
    pub async fn admin_get(&self, op: &str, query: &[(String, String)]) -> ClientResult<Bytes> {
        self.admin_call(Method::GET, op, query).await
    }

    /// POST to a Kintsugi admin API call (one that acts, e.g. `scrub`); returns the JSON body.
    pub async fn admin_post(&self, op: &str, query: &[(String, String)]) -> ClientResult<Bytes> {
        self.admin_call(Method::POST, op, query).await
    }

    /// GET a Kintsugi admin API call that answers with a file (e.g. `meta/backup`, a tar
    /// archive): the body as it streams.
    pub async fn admin_download(&self, op: &str, query: &[(String, String)]) -> ClientResult<Incoming> {
        let path = format!("/kintsugi-admin/v1/{op}");
        let resp = self.send(Method::GET, &path, query, &[], Body::Bytes(Bytes::new()), EMPTY_SHA256).await?;
        Ok(resp.into_body())
    }

    async fn admin_call(&self, method: Method, op: &str, query: &[(String, String)]) -> ClientResult<Bytes> {
        let path = format!("/kintsugi-admin/v1/{op}");
        let resp = self.send(method, &path, query, &[], Body::Bytes(Bytes::new()), EMPTY_SHA256).await?;
        let is_json = header_str(resp.headers(), "content-type").is_some_and(|c| c.starts_with("application/json"));
        let body = resp.into_body().collect().await.map_err(|e| ClientError::Body { detail: e.to_string() })?.to_bytes();
        if !is_json {
            return Err(ClientError::Protocol { what: "admin API", detail: "the endpoint did not answer with JSON; is it a Kintsugi gateway?".into() });
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_and_https_endpoints_make_clients_and_a_bad_ca_bundle_is_named() {
        assert_eq!(S3Client::new("http://127.0.0.1:9000", None, "us-east-1").expect("http").endpoint(), "http://127.0.0.1:9000");
        assert_eq!(S3Client::new("https://localhost:9443/", None, "us-east-1").expect("https").endpoint(), "https://localhost:9443");
        assert!(S3Client::new("ftp://x:1", None, "us-east-1").is_err());
        let dir = std::env::temp_dir().join(format!("kintsugi-client-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "").expect("write");
        let e = S3Client::with_ca_bundle("https://localhost:9443", None, "us-east-1", Some(&empty)).expect_err("no certificate");
        assert!(e.to_string().contains("empty.pem"), "{e}");
        // A bundle with one certificate that cannot be parsed still trusts the others in it;
        // one with nothing usable is refused by name.
        let junk = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let only_junk = dir.join("junk.pem");
        std::fs::write(&only_junk, junk).expect("write");
        let e = S3Client::with_ca_bundle("https://localhost:9443", None, "us-east-1", Some(&only_junk)).expect_err("nothing to trust");
        assert!(e.to_string().contains("junk.pem"), "{e}");
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("certificate").cert.pem();
        let mixed = dir.join("mixed.pem");
        std::fs::write(&mixed, format!("{junk}{cert}")).expect("write");
        S3Client::with_ca_bundles("https://localhost:9443", None, "us-east-1", &[mixed.as_path(), empty.as_path()][..1]).expect("the usable certificate is trusted");
        let e = S3Client::with_ca_bundles("https://localhost:9443", None, "us-east-1", &[mixed.as_path(), empty.as_path()]).expect_err("every bundle must be usable");
        assert!(e.to_string().contains("empty.pem"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
