//! SSE-C's rule of transport: a customer key is the only key to its object's bytes, so it
//! travels only over HTTPS, as S3 requires — or over plain HTTP to a gateway whose operator
//! said, with `--sse-c-over-http`, that a TLS-terminating proxy stands in front of it. A
//! request that carries one anyway is refused by the access check, before its handler runs,
//! so nothing is stored (a POST form's file has been read into memory by then, and dropped);
//! the key has crossed the network by then, and the client should treat it as exposed.

use http::HeaderMap;
use s3s::dto::PostObjectInput;
use s3s::{s3_error, S3Error, S3Result};

use super::Client;

/// Whether `headers` carry a customer key's fields (SSE-C), for the object or a copy's source.
pub(super) fn names_customer_key(headers: &HeaderMap) -> bool {
    headers.keys().any(|k| {
        let n = k.as_str();
        n.starts_with("x-amz-server-side-encryption-customer-") || n.starts_with("x-amz-copy-source-server-side-encryption-customer-")
    })
}

/// Whether a POST form carries a customer key's fields.
pub(super) fn form_names_customer_key(i: &PostObjectInput) -> bool {
    i.sse_customer_algorithm.is_some() || i.sse_customer_key.is_some() || i.sse_customer_key_md5.is_some()
}

/// Refuse a customer key (`carries`) on a connection that may not carry one: plain HTTP
/// without `--sse-c-over-http`, or no known connection at all.
pub(super) fn refuse_plain_customer_key(client: Option<Client>, carries: bool) -> S3Result<()> {
    if carries && !client.is_some_and(|c| c.sse_c) {
        return Err(plain_customer_key());
    }
    Ok(())
}

fn plain_customer_key() -> S3Error {
    s3_error!(
        InvalidRequest,
        "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection: \
         send it over HTTPS (start the server with --tls-cert/--tls-key), or, if a TLS-terminating proxy is in front, \
         start it with --sse-c-over-http. Nothing was stored; consider the key exposed"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn client(secure: bool, sse_c: bool) -> Option<Client> {
        Some(Client { ip: IpAddr::V4(Ipv4Addr::LOCALHOST), secure, sse_c })
    }

    #[test]
    fn customer_keys_travel_only_where_the_connection_allows_them() {
        let mut h = HeaderMap::new();
        h.insert("x-amz-server-side-encryption", "AES256".parse().expect("value"));
        assert!(!names_customer_key(&h), "SSE-S3 names no customer key");
        for name in ["x-amz-server-side-encryption-customer-algorithm", "x-amz-server-side-encryption-customer-key-md5", "x-amz-copy-source-server-side-encryption-customer-key"] {
            let mut h = h.clone();
            h.insert(http::HeaderName::from_static(name), "x".parse().expect("value"));
            assert!(names_customer_key(&h), "{name}");
        }
        let code = |r: S3Result<()>| r.err().map(|e| e.code().as_str().to_owned());
        assert_eq!(code(refuse_plain_customer_key(client(false, false), true)).as_deref(), Some("InvalidRequest"), "plain HTTP");
        assert_eq!(code(refuse_plain_customer_key(None, true)).as_deref(), Some("InvalidRequest"), "no known connection");
        assert_eq!(code(refuse_plain_customer_key(client(true, true), true)), None, "HTTPS");
        assert_eq!(code(refuse_plain_customer_key(client(false, true), true)), None, "--sse-c-over-http");
        assert_eq!(code(refuse_plain_customer_key(client(false, false), false)), None, "no customer key");
        let mut form = PostObjectInput::default();
        assert!(!form_names_customer_key(&form));
        form.sse_customer_key_md5 = Some("x".into());
        assert!(form_names_customer_key(&form));
    }
}
