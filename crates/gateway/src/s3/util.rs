//! Small conversions between S3 DTOs and stored records.

use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use s3s::dto::{ETag, Metadata, Timestamp};

use crate::error::GatewayError;

/// Stored ms → S3 timestamp.
/// Refuse an upload whose declared length is above the largest single PUT or part, before a
/// byte of its body is read (the PUT path also stops one that sends more than it declared).
pub fn refuse_too_large(content_length: Option<i64>) -> Result<(), GatewayError> {
    match content_length.and_then(|l| u64::try_from(l).ok()) {
        Some(size) if size > crate::put::MAX_UPLOAD => Err(GatewayError::EntityTooLarge { size, max: crate::put::MAX_UPLOAD }),
        _ => Ok(()),
    }
}

pub fn ts(ms: i64) -> Timestamp {
    Timestamp::from(UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
}

/// ETag header value.
pub fn etag(s: &str) -> ETag {
    ETag::Strong(s.to_owned())
}

/// User metadata map → sorted pairs.
pub fn meta_to_vec(m: Option<Metadata>) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = m.unwrap_or_default().into_iter().collect();
    v.sort();
    v
}

/// Sorted pairs → user metadata map.
pub fn vec_to_meta(v: &[(String, String)]) -> Option<Metadata> {
    if v.is_empty() {
        return None;
    }
    Some(v.iter().cloned().collect())
}

/// Parse a Content-MD5 header.
pub fn parse_content_md5(v: Option<&String>) -> Result<Option<[u8; 16]>, GatewayError> {
    let Some(v) = v else { return Ok(None) };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v.trim())
        .map_err(|_| GatewayError::InvalidDigest)?;
    let arr: [u8; 16] = bytes.try_into().map_err(|_| GatewayError::InvalidDigest)?;
    Ok(Some(arr))
}

/// Refuse a `Content-MD5` header that is present but empty, as S3 does (`400 InvalidDigest`);
/// s3s takes an empty header for an absent one.
pub fn refuse_empty_md5(headers: &http::HeaderMap) -> Result<(), GatewayError> {
    match headers.get("content-md5") {
        Some(v) if v.as_bytes().iter().all(u8::is_ascii_whitespace) => Err(GatewayError::InvalidDigest),
        _ => Ok(()),
    }
}

/// Refuse `x-amz-server-side-encryption` (and its KMS key id) on a GET, HEAD or
/// GetObjectAttributes, as S3 does
/// (`400`): the header asks for encryption of a write; an SSE-S3 object is read without it
/// (an SSE-C object with the customer key headers instead).
pub fn refuse_sse_on_read(headers: &http::HeaderMap) -> Result<(), GatewayError> {
    for name in ["x-amz-server-side-encryption", "x-amz-server-side-encryption-aws-kms-key-id"] {
        if headers.contains_key(name) {
            return Err(GatewayError::InvalidArgument(format!(
                "{name} is for writes: a read (GET, HEAD, GetObjectAttributes) of an object encrypted with SSE-S3 needs no encryption header (one encrypted with a customer key takes the x-amz-server-side-encryption-customer-* headers)"
            )));
        }
    }
    Ok(())
}

/// Percent-encode a key for `encoding-type=url` listings (unreserved chars and `/` stay).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Standard headers we keep with an object, as (name, value).
pub fn std_headers(
    cache_control: Option<String>,
    content_disposition: Option<String>,
    content_encoding: Option<String>,
    content_language: Option<String>,
) -> Vec<(String, String)> {
    [
        ("cache-control", cache_control),
        ("content-disposition", content_disposition),
        ("content-encoding", content_encoding),
        ("content-language", content_language),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
    .collect()
}

/// What an object write's encryption headers ask for (`encryption::asked` over the fields
/// PutObject, CopyObject and CreateMultipartUpload all have).
macro_rules! sse_asked {
    ($i:expr) => {{
        let i = &$i;
        super::encryption::asked(
            i.server_side_encryption.as_ref(),
            i.ssekms_key_id.as_deref(),
            i.sse_customer_algorithm.as_deref(),
            i.sse_customer_key.as_deref(),
            i.sse_customer_key_md5.as_deref(),
        )?
    }};
}
pub(super) use sse_asked;

/// What an object write asks of its ACL (PutObject, CopyObject and CreateMultipartUpload
/// have the same fields).
macro_rules! acl_asked {
    ($i:expr) => {{
        let i = &$i;
        super::acl::AclAsk::new(i.acl.as_ref().map(ObjectCannedACL::as_str), [i.grant_full_control.as_ref(), i.grant_read.as_ref(), i.grant_read_acp.as_ref(), None, i.grant_write_acp.as_ref()])
    }};
}
pub(super) use acl_asked;

macro_rules! refuse_unbuilt_write {
    ($i:expr) => {{
        let i = &$i;
        super::util::refuse_storage_class(i.storage_class.as_ref().map(StorageClass::as_str))?;
        if i.website_redirect_location.is_some() {
            return Err(s3s::s3_error!(NotImplemented, "website redirects (x-amz-website-redirect-location) are not supported, so nothing was stored"));
        }
    }};
}
pub(super) use refuse_unbuilt_write;

/// A new version's Content-Type: the request's, or `binary/octet-stream` as S3 stores for a
/// write that names none (versions written before this default read as they were stored).
pub fn content_type_or_default(asked: Option<String>) -> Option<String> {
    Some(asked.filter(|t| !t.is_empty()).unwrap_or_else(|| "binary/octet-stream".to_owned()))
}

/// Refuse a storage class other than STANDARD: every object is stored alike, erasure-coded
/// over the cluster's disks (S3's answer for a class it does not offer).
pub fn refuse_storage_class(class: Option<&str>) -> s3s::S3Result<()> {
    match class {
        None | Some("STANDARD") => Ok(()),
        Some(c) => Err(s3s::s3_error!(InvalidStorageClass, "The storage class you specified ({c}) is not valid: Kintsugi stores every object as STANDARD")),
    }
}

/// The headers kept with an object, with its `Expires` (kept as the HTTP date it came as).
pub fn with_expires(mut h: Vec<(String, String)>, expires: Option<Timestamp>) -> Vec<(String, String)> {
    if let Some(e) = expires {
        let mut date = Vec::new();
        if e.format(s3s::dto::TimestampFormat::HttpDate, &mut date).is_ok() {
            h.push(("expires".to_owned(), String::from_utf8_lossy(&date).into_owned()));
        }
    }
    h
}

/// An object's kept `Expires`.
pub fn expires_of(h: &[(String, String)]) -> Option<Timestamp> {
    header(h, "expires").and_then(|v| Timestamp::parse(s3s::dto::TimestampFormat::HttpDate, &v).ok())
}

/// Refuse `response-*` overrides that cannot be sent as header values (a 400 here, not a
/// 500 when the answer is written).
pub fn check_overrides(values: &[Option<&String>]) -> s3s::S3Result<()> {
    for v in values.iter().flatten() {
        if http::HeaderValue::from_str(v).is_err() {
            return Err(s3s::s3_error!(InvalidArgument, "a response-* override holds characters a header value may not hold"));
        }
    }
    Ok(())
}

/// Look up a kept header.
pub fn header(h: &[(String, String)], name: &str) -> Option<String> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

/// A missing key answered as S3 answers a caller that may read objects but not list the
/// bucket (`hide`): 403, so it cannot learn which keys exist.
pub(super) fn hide_missing(e: s3s::S3Error, hide: bool) -> s3s::S3Error {
    if hide && *e.code() == s3s::S3ErrorCode::NoSuchKey {
        s3s::s3_error!(AccessDenied, "Access Denied: the bucket's policy does not let you list it, so a missing key is not told apart")
    } else {
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_is_kept_as_an_http_date() {
        let t = ts(1_700_000_000_000);
        let h = with_expires(vec![], Some(t.clone()));
        assert_eq!(h, vec![("expires".to_owned(), "Tue, 14 Nov 2023 22:13:20 GMT".to_owned())]);
        assert_eq!(expires_of(&h), Some(t));
        assert_eq!(expires_of(&[]), None);
    }

    #[test]
    fn url_encoding_matches_s3() {
        assert_eq!(url_encode("a b+c/d"), "a%20b%2Bc/d");
        assert_eq!(url_encode("\u{0}é"), "%00%C3%A9");
    }

    #[test]
    fn content_md5_parsing() {
        assert!(parse_content_md5(Some(&"1B2M2Y8AsgTpgAmY7PhCfg==".to_string())).expect("ok").is_some());
        assert!(parse_content_md5(Some(&"nope".to_string())).is_err());
        assert!(parse_content_md5(Some(&"AAAA".to_string())).is_err());
        let mut h = http::HeaderMap::new();
        assert!(refuse_empty_md5(&h).is_ok(), "no header");
        h.insert("content-md5", http::HeaderValue::from_static(""));
        assert!(matches!(refuse_empty_md5(&h), Err(GatewayError::InvalidDigest)), "an empty header");
        h.insert("content-md5", http::HeaderValue::from_static("1B2M2Y8AsgTpgAmY7PhCfg=="));
        assert!(refuse_empty_md5(&h).is_ok(), "a digest");
        assert!(refuse_sse_on_read(&h).is_ok());
        h.insert("x-amz-server-side-encryption-customer-algorithm", http::HeaderValue::from_static("AES256"));
        assert!(refuse_sse_on_read(&h).is_ok(), "SSE-C headers are for reads too");
        h.insert("x-amz-server-side-encryption", http::HeaderValue::from_static("AES256"));
        assert!(matches!(refuse_sse_on_read(&h), Err(GatewayError::InvalidArgument(_))));
    }
}

