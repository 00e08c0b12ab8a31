//! Browser POST uploads (PostObject). s3s parses the form, checks the policy document (its
//! expiry and every condition, `content-length-range` included) and the form's SigV4
//! signature, and gathers the file in memory — at most [`MAX_POST_FILE`] bytes, so a POST
//! cannot hold more memory than that per request. The object is then stored exactly as a
//! PutObject with the form's fields would be (conditions, tags, lock, checksums, Content-MD5),
//! and s3s answers with the form's `success_action_status` or `success_action_redirect`.

use http::{HeaderMap, HeaderName, HeaderValue};
use s3s::dto::*;
use s3s::{s3_error, S3Response, S3Result};

use super::checksum::ChecksumCheck;
use super::KintsugiS3;

/// The largest file a POST upload may carry (larger ones: `400 EntityTooLarge`). It is held
/// in memory while it is stored; bigger objects go up with PUT or a multipart upload.
pub(crate) const MAX_POST_FILE: u64 = 64 << 20;
/// The largest form field, and all fields together, of a POST upload.
pub(crate) const MAX_POST_FIELD: usize = 256 << 10;
/// See [`MAX_POST_FIELD`].
pub(crate) const MAX_POST_FIELDS: usize = 1 << 20;
/// POST uploads taken at once by one gateway (more: `503 SlowDown`, which clients retry), so
/// they hold at most this many times [`MAX_POST_FILE`] of memory.
pub(crate) const POSTS_AT_ONCE: usize = 4;

/// How long a POST upload may take, all of it (it holds one of [`POSTS_AT_ONCE`] slots):
/// a 64 MiB form at about 220 KiB/s.
pub(crate) const POST_DEADLINE: std::time::Duration = std::time::Duration::from_secs(300);

/// The request may be a form upload as s3s sees one: any Content-Type naming a multipart body,
/// however it is spelled or encoded (a gate that misses one would let s3s gather it unbounded).
pub(crate) fn is_form(headers: &http::HeaderMap) -> bool {
    headers.get_all(http::header::CONTENT_TYPE).iter().any(|v| v.as_bytes().to_ascii_lowercase().windows(10).any(|w| w == b"multipart/"))
}

/// The answer to a POST upload refused before its body is read: one without a length (411),
/// or longer than a form may be (400 EntityTooLarge). The connection is closed, as its body
/// is left unread.
pub(crate) fn refuse_post(headers: &http::HeaderMap) -> Option<http::Response<s3s::Body>> {
    let len = headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    let (status, code, message) = match len {
        None => (http::StatusCode::LENGTH_REQUIRED, "MissingContentLength", "a POST upload must send its Content-Length".to_owned()),
        Some(n) if n > MAX_POST_FILE + MAX_POST_FIELDS as u64 => (
            http::StatusCode::BAD_REQUEST,
            "EntityTooLarge",
            format!("a POST upload may carry at most {MAX_POST_FILE} bytes; upload larger objects with PUT or a multipart upload"),
        ),
        Some(_) => return None,
    };
    Some(crate::body::closing(status, code, &message))
}

/// S3 answers a form its policy does not allow — a condition that fails, a bucket that is
/// not the URL's, a signed field the policy does not match — with `403 AccessDenied`
/// ("Invalid according to Policy"), keeping `400 InvalidPolicyDocument` for a document it
/// cannot read. s3s, which checks the policy before any handler runs, answers both 400: its
/// answer to a refused condition is turned into S3's here. Nothing was stored either way.
pub(crate) fn policy_refusal_as_s3(resp: &mut http::Response<s3s::Body>) {
    if resp.status() != http::StatusCode::BAD_REQUEST {
        return;
    }
    let Some(body) = resp.body().bytes() else { return };
    let Some(fixed) = refused_condition(&body) else { return };
    *resp.status_mut() = http::StatusCode::FORBIDDEN;
    resp.headers_mut().insert(http::header::CONTENT_LENGTH, HeaderValue::from(fixed.len()));
    *resp.body_mut() = s3s::Body::from(fixed);
}

/// The error document `xml` as S3's `AccessDenied`, when it is s3s's `InvalidPolicyDocument`
/// for a policy that was read but does not allow the form.
fn refused_condition(xml: &[u8]) -> Option<Vec<u8>> {
    const CODE: &str = "<Code>InvalidPolicyDocument</Code>";
    let text = std::str::from_utf8(xml).ok()?;
    let (_, after) = text.split_once("<Message>")?;
    let (message, _) = after.split_once("</Message>")?;
    let condition = message.starts_with("Policy condition ") || message.starts_with("Bucket in form field ") || message.ends_with(" does not match policy");
    if !text.contains(CODE) || !condition {
        return None;
    }
    let fixed = text.replacen(CODE, "<Code>AccessDenied</Code>", 1).replacen("<Message>", "<Message>Invalid according to Policy: ", 1);
    Some(fixed.into_bytes())
}

/// The checksums a form declares, as the headers a PUT would send them in.
fn checksum_fields(i: &PostObjectInput) -> S3Result<HeaderMap> {
    let mut h = HeaderMap::new();
    for (name, v) in [
        ("x-amz-checksum-crc32", &i.checksum_crc32),
        ("x-amz-checksum-crc32c", &i.checksum_crc32c),
        ("x-amz-checksum-sha1", &i.checksum_sha1),
        ("x-amz-checksum-sha256", &i.checksum_sha256),
        ("x-amz-checksum-crc64nvme", &i.checksum_crc64nvme),
    ] {
        if let Some(v) = v.as_deref() {
            let v = HeaderValue::from_str(v).map_err(|_| s3_error!(InvalidArgument, "the form's {name} is not a checksum"))?;
            h.insert(HeaderName::from_static(name), v);
        }
    }
    Ok(h)
}

impl KintsugiS3 {
    pub(super) async fn post_object_impl(&self, i: PostObjectInput, writer: &crate::access::Principal) -> S3Result<S3Response<PostObjectOutput>> {
        if i.key.contains("${filename}") {
            return Err(s3_error!(NotImplemented, "a POST upload's key may not use ${{filename}} here, so nothing was stored: name the key in the form"));
        }
        if i.key.is_empty() || i.key.len() > 1024 {
            return Err(s3_error!(KeyTooLongError, "a POST upload's key must be 1 to 1024 bytes; nothing was stored"));
        }
        // s3s reads tags from a form's `x-amz-tagging` field (S3's is `tagging`, XML, which
        // s3s does not read at all): refused rather than parsed as a PUT header.
        if i.tagging.is_some() {
            return Err(s3_error!(NotImplemented, "tagging in a POST form is not supported yet, so nothing was stored: tag the object afterwards with PutObjectTagging"));
        }
        let check = ChecksumCheck::from_request(&checksum_fields(&i)?, None);
        let put = PutObjectInput {
            acl: i.acl,
            body: i.body,
            bucket: i.bucket,
            cache_control: i.cache_control,
            content_disposition: i.content_disposition,
            content_encoding: i.content_encoding,
            content_language: i.content_language,
            content_length: i.content_length,
            content_md5: i.content_md5,
            content_type: i.content_type,
            expires: i.expires,
            grant_full_control: i.grant_full_control,
            grant_read: i.grant_read,
            grant_read_acp: i.grant_read_acp,
            grant_write_acp: i.grant_write_acp,
            if_match: i.if_match,
            if_none_match: i.if_none_match,
            key: i.key,
            metadata: i.metadata,
            object_lock_legal_hold_status: i.object_lock_legal_hold_status,
            object_lock_mode: i.object_lock_mode,
            object_lock_retain_until_date: i.object_lock_retain_until_date,
            sse_customer_algorithm: i.sse_customer_algorithm,
            sse_customer_key: i.sse_customer_key,
            sse_customer_key_md5: i.sse_customer_key_md5,
            ssekms_key_id: i.ssekms_key_id,
            server_side_encryption: i.server_side_encryption,
            storage_class: i.storage_class,
            tagging: i.tagging,
            website_redirect_location: i.website_redirect_location,
            write_offset_bytes: i.write_offset_bytes,
            ..Default::default()
        };
        let out = self.put_object_impl(put, check, writer).await?.output;
        Ok(S3Response::new(PostObjectOutput {
            e_tag: out.e_tag,
            size: out.size,
            version_id: out.version_id,
            checksum_type: out.checksum_type,
            checksum_crc32: out.checksum_crc32,
            checksum_crc32c: out.checksum_crc32c,
            checksum_sha1: out.checksum_sha1,
            checksum_sha256: out.checksum_sha256,
            checksum_crc64nvme: out.checksum_crc64nvme,
            server_side_encryption: out.server_side_encryption,
            sse_customer_algorithm: out.sse_customer_algorithm,
            sse_customer_key_md5: out.sse_customer_key_md5,
            ..Default::default()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_post_upload_is_refused_unread_without_a_length_or_above_the_limit() {
        let mut h = HeaderMap::new();
        assert_eq!(refuse_post(&h).map(|r| r.status()), Some(http::StatusCode::LENGTH_REQUIRED));
        h.insert(http::header::CONTENT_LENGTH, HeaderValue::from(MAX_POST_FILE + MAX_POST_FIELDS as u64 + 1));
        let r = refuse_post(&h).expect("too long");
        assert_eq!((r.status(), r.headers().get(http::header::CONNECTION).map(HeaderValue::as_bytes)), (http::StatusCode::BAD_REQUEST, Some(&b"close"[..])));
        h.insert(http::header::CONTENT_LENGTH, HeaderValue::from(MAX_POST_FILE));
        assert!(refuse_post(&h).is_none(), "a form of the largest file is taken");
    }

    #[test]
    fn a_form_its_policy_refuses_is_403_and_an_unreadable_policy_400() {
        let answer = |code: &str, message: &str| {
            let xml = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>");
            let mut resp = http::Response::new(s3s::Body::from(xml));
            *resp.status_mut() = http::StatusCode::BAD_REQUEST;
            policy_refusal_as_s3(&mut resp);
            (resp.status().as_u16(), String::from_utf8(resp.body().bytes().expect("full body").to_vec()).expect("utf-8"))
        };
        for refused in [
            "Policy condition &apos;eq&apos; for field &apos;x-amz-meta-foo&apos; failed: expected &apos;&apos;, got &apos;barclamp&apos;",
            "Policy condition 'starts-with' for field 'key' failed: expected prefix 'foo', got 'bar'",
            "Bucket in form field 'a' does not match bucket in URL 'b'",
            "x-amz-credential does not match policy",
        ] {
            let (status, body) = answer("InvalidPolicyDocument", refused);
            assert_eq!(status, 403, "{refused}");
            assert!(body.contains("<Code>AccessDenied</Code>") && body.contains(&format!("<Message>Invalid according to Policy: {refused}</Message>")), "{body}");
        }
        assert_eq!(answer("InvalidPolicyDocument", "failed to parse POST policy").0, 400, "a document that cannot be read");
        assert_eq!(answer("EntityTooLarge", "Policy condition x").0, 400, "another code");
        let mut ok = http::Response::new(s3s::Body::from("<Error><Code>InvalidPolicyDocument</Code><Message>Policy condition x</Message></Error>".to_owned()));
        *ok.status_mut() = http::StatusCode::NO_CONTENT;
        policy_refusal_as_s3(&mut ok);
        assert_eq!(ok.status(), http::StatusCode::NO_CONTENT, "only a 400 is looked at");
    }

    #[test]
    fn every_spelling_of_a_form_is_a_form() {
        let form = |values: &[&[u8]]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append(http::header::CONTENT_TYPE, HeaderValue::from_bytes(v).expect("a header value"));
            }
            is_form(&h)
        };
        assert!(form(&[b"multipart/form-data; boundary=x"]));
        assert!(form(&[b"Multipart/Form-Data; boundary=x; a=\"\xc3\xa9\""]), "a non-ASCII parameter");
        assert!(form(&[b"\xff", b"multipart/form-data; boundary=x"]), "a second Content-Type behind one that is not text");
        assert!(!form(&[b"application/xml"]));
        assert!(!form(&[]));
    }
}
