//! What the admin API's routes share: query parameters, JSON answers, times as text.

use hyper::Uri;
use s3s::{s3_error, Body, S3Response, S3Result};
use serde::Serialize;

/// The percent-decoded value of query parameter `name`.
pub(crate) fn query_param(uri: &Uri, name: &str) -> Option<String> {
    query_value(uri.query()?, name)
}

/// The percent-decoded value of parameter `name` in query string `q` (an admin request's,
/// untrusted: any text decodes to something, never a panic).
pub fn query_value(q: &str, name: &str) -> Option<String> {
    q.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then(|| percent_decode(v))
    })
}

pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A JSON answer.
pub(crate) fn json_response<T: Serialize>(v: &T) -> S3Result<S3Response<Body>> {
    let body = serde_json::to_vec_pretty(v).map_err(|e| s3_error!(InternalError, "encoding JSON: {e}"))?;
    let mut resp = S3Response::new(Body::from(bytes::Bytes::from(body)));
    resp.headers.insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    Ok(resp)
}

/// `ms` since the epoch as RFC 3339 (UTC).
pub(crate) fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params_decode() {
        let u: Uri = "/kintsugi-admin/v1/object?bucket=b&key=a%2Fb%20c+d&verify=full".parse().expect("uri");
        assert_eq!(query_param(&u, "key").as_deref(), Some("a/b c d"));
        assert_eq!(query_param(&u, "bucket").as_deref(), Some("b"));
        assert_eq!(query_param(&u, "nope"), None);
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
