//! Every answer carries a request id, as S3's do: the `x-amz-request-id` header, and, in an
//! error's XML body, a `<RequestId>` element holding the same id (S3 clients show it with the
//! error, and SDKs read it from either place).

use hyper::header::{HeaderName, HeaderValue, CONTENT_LENGTH};

/// The header S3 names the request id in.
pub const HEADER: HeaderName = HeaderName::from_static("x-amz-request-id");

/// A new request id: 16 upper-case hex digits, as S3's.
pub fn new_id() -> String {
    format!("{:016X}", rand::random::<u64>())
}

/// Give `resp` the request id `id`: the header, and the element in an XML error body that
/// lacks one (s3s writes `<Error>…</Error>` without it). A body that is streamed is left alone.
pub fn stamp(resp: &mut hyper::Response<s3s::Body>, id: &str) {
    let Ok(value) = HeaderValue::from_str(id) else { return };
    resp.headers_mut().insert(HEADER, value);
    // A 304 has no body (hyper drops it): its length must not change.
    let status = resp.status().as_u16();
    if status < 300 || status == 304 {
        return;
    }
    let with = resp.body().bytes().and_then(|b| with_request_id(&b, id));
    if let Some(body) = with {
        resp.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        *resp.body_mut() = s3s::Body::from(body);
    }
}

/// `xml` (an S3 error document) with `<RequestId>id</RequestId>` before its closing
/// `</Error>`; `None` when it is not one or already has one.
fn with_request_id(xml: &[u8], id: &str) -> Option<Vec<u8>> {
    const CLOSE: &[u8] = b"</Error>";
    if !(xml.starts_with(b"<?xml") || xml.starts_with(b"<Error>")) || xml.windows(11).any(|w| w == b"<RequestId>") {
        return None;
    }
    let at = xml.windows(CLOSE.len()).rposition(|w| w == CLOSE)?;
    let mut out = Vec::with_capacity(xml.len() + 24 + id.len());
    out.extend_from_slice(&xml[..at]);
    out.extend_from_slice(b"<RequestId>");
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(b"</RequestId>");
    out.extend_from_slice(&xml[at..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_body_gets_the_id_once_and_other_bodies_are_left_alone() {
        let xml = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchKey</Code><Message>m</Message></Error>";
        let out = with_request_id(xml, "ABC").expect("an error body");
        assert_eq!(
            String::from_utf8(out.clone()).expect("utf-8"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchKey</Code><Message>m</Message><RequestId>ABC</RequestId></Error>"
        );
        assert_eq!(with_request_id(&out, "DEF"), None, "one id only");
        assert_eq!(with_request_id(b"<ListBucketResult></ListBucketResult>", "X"), None);
        assert_eq!(with_request_id(b"", "X"), None);
    }

    #[test]
    fn a_response_gets_the_header_and_its_error_body_the_same_id() {
        let mut resp = hyper::Response::new(s3s::Body::from(b"<Error><Code>AccessDenied</Code></Error>".to_vec()));
        *resp.status_mut() = hyper::StatusCode::FORBIDDEN;
        stamp(&mut resp, "0123456789ABCDEF");
        assert_eq!(resp.headers().get(HEADER).and_then(|v| v.to_str().ok()), Some("0123456789ABCDEF"));
        let body = resp.body().bytes().expect("a full body");
        assert_eq!(&body[..], b"<Error><Code>AccessDenied</Code><RequestId>0123456789ABCDEF</RequestId></Error>");
        assert_eq!(resp.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()), Some(body.len().to_string().as_str()));
        let mut ok = hyper::Response::new(s3s::Body::from(b"<Error>not an error: a 200</Error>".to_vec()));
        stamp(&mut ok, "X");
        assert_eq!(&ok.body().bytes().expect("body")[..], b"<Error>not an error: a 200</Error>");
        // A 304's body is dropped by hyper: its length is left as it was (none).
        let mut not_modified = hyper::Response::new(s3s::Body::from(b"<Error><Code>NotModified</Code></Error>".to_vec()));
        *not_modified.status_mut() = hyper::StatusCode::NOT_MODIFIED;
        stamp(&mut not_modified, "Y");
        assert!(not_modified.headers().get(CONTENT_LENGTH).is_none());
        assert_eq!(not_modified.headers().get(HEADER).and_then(|v| v.to_str().ok()), Some("Y"));
        assert_eq!(with_request_id(b"{\"error\": \"</Error>\"}", "Z"), None, "not an XML error document");
        assert_eq!(new_id().len(), 16);
    }
}
