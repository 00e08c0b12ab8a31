//! Virtual-hosted-style addressing: with `--domain s3.example.com`, a request whose `Host` is
//! `photos.s3.example.com` names the bucket `photos`, and its path is the object key, as S3
//! and its SDKs address buckets by default. Every other `Host` — the domain itself, an
//! address, a name that is not under a domain — is path-style, so path-style clients keep
//! working against the same endpoint.

use std::sync::Arc;

use http::HeaderMap;
use s3s::host::{S3Host, VirtualHost};
use s3s::S3Result;

/// The domains buckets are served under (none: path-style only).
#[derive(Clone, Debug, Default)]
pub struct Domains(Arc<[String]>);

/// Put in a virtual-hosted request's extensions, so the admin API's route (path-style only)
/// never takes an object key that starts with `kintsugi-admin/`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct VirtualHosted;

/// `host` without its port, lower-cased (`None`: an IP literal in brackets, never a bucket).
fn host_name(host: &str) -> Option<String> {
    if host.starts_with('[') {
        return None;
    }
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let name = name.trim_end_matches('.');
    // An address is never a bucket's host name (s3s routes it path-style too).
    if name.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    Some(name.to_ascii_lowercase())
}

impl Domains {
    /// The domains of `--domain`: DNS names (letters, digits, `-`, dots between labels), no
    /// port, none under another.
    pub fn new(list: &[String]) -> Result<Self, String> {
        let mut out: Vec<String> = Vec::new();
        for d in list {
            let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
            let label_ok = |l: &str| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') && !l.starts_with('-') && !l.ends_with('-');
            // A last label of digits would make addresses look like names under it.
            let numeric_tld = d.rsplit('.').next().is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()));
            if d.is_empty() || d.len() > 253 || !d.split('.').all(label_ok) || numeric_tld {
                return Err(format!("--domain {d:?} is not a DNS name (like s3.example.com, without a port)"));
            }
            if let Some(o) = out.iter().find(|o| d == **o || d.ends_with(&format!(".{o}")) || o.ends_with(&format!(".{d}"))) {
                return Err(format!("--domain {d} and {o} overlap: a host under both would be ambiguous"));
            }
            out.push(d);
        }
        Ok(Self(out.into()))
    }

    /// Whether any domain is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The bucket a `Host` names (`None`: a path-style request).
    pub(crate) fn bucket_of_host(&self, host: &str) -> Option<String> {
        let name = host_name(host)?;
        self.0.iter().find_map(|d| name.strip_suffix(d.as_str()).and_then(|b| b.strip_suffix('.')).filter(|b| !b.is_empty()).map(str::to_owned))
    }

    /// The bucket a request's `Host` header names (`None`: a path-style request).
    pub(crate) fn host_bucket(&self, headers: &HeaderMap) -> Option<String> {
        headers.get(http::header::HOST).and_then(|h| h.to_str().ok()).and_then(|h| self.bucket_of_host(h))
    }
}

impl S3Host for Domains {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        Ok(match self.bucket_of_host(host) {
            Some(bucket) => VirtualHost::new(host).with_bucket(bucket),
            None => VirtualHost::new(host),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domains(list: &[&str]) -> Domains {
        Domains::new(&list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()).expect("domains")
    }

    #[test]
    fn a_host_under_a_domain_names_a_bucket_and_any_other_host_is_path_style() {
        let d = domains(&["s3.example.com", "S3.Local"]);
        for (host, want) in [
            ("photos.s3.example.com", Some("photos")),
            ("photos.s3.example.com:9000", Some("photos")),
            ("my.dotted.bucket.s3.example.com", Some("my.dotted.bucket")),
            ("Photos.S3.Example.COM.", Some("photos")),
            ("b.s3.local:80", Some("b")),
            ("s3.example.com", None),
            ("s3.example.com:9000", None),
            (".s3.example.com", None),
            ("xs3.example.com", None),
            ("127.0.0.1:9000", None),
            ("10.0.0.1", None),
            ("[::1]:9000", None),
            ("localhost", None),
        ] {
            assert_eq!(d.bucket_of_host(host).as_deref(), want, "{host}");
        }
        let mut h = HeaderMap::new();
        assert_eq!(d.host_bucket(&h), None, "no Host header");
        h.insert(http::header::HOST, "vh.s3.local:1234".parse().expect("host"));
        assert_eq!(d.host_bucket(&h).as_deref(), Some("vh"));
        h.insert(http::header::HOST, "127.0.0.1:1234".parse().expect("host"));
        assert_eq!(d.host_bucket(&h), None);
        assert_eq!(Domains::default().bucket_of_host("b.s3.example.com"), None, "no domain: path-style only");
    }

    #[test]
    fn domains_are_dns_names_that_do_not_overlap() {
        for bad in [&["s3.example.com:9000"][..], &[""], &["a..b"], &["-a.b"], &["s3.example.com", "eu.s3.example.com"], &["x.y", "X.Y"], &["0.0.1"], &["10.0.0.1"]] {
            assert!(Domains::new(&bad.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()).is_err(), "{bad:?}");
        }
        assert!(!domains(&["localhost"]).is_empty());
        assert!(Domains::default().is_empty());
    }
}
