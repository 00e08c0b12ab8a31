//! S3 additional checksums (`x-amz-checksum-{crc32,crc32c,sha1,sha256,crc64nvme}`),
//! sent as headers or as aws-chunked trailers: computed over the body as it
//! streams in and compared before anything is committed (BadDigest otherwise).
//! The checksums a PutObject verified are kept with the version, among its stored headers
//! under their header names, so they follow it through archiving and copies, and are
//! answered by PutObject, and by GET and HEAD when asked (`x-amz-checksum-mode: ENABLED`).

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use http::HeaderMap;
use s3s::checksum::ChecksumHasher;
use s3s::TrailingHeaders;

use crate::error::GatewayError;

const ALGS: [&str; 5] = ["crc32", "crc32c", "sha1", "sha256", "crc64nvme"];

/// After a body was written: its declared checksums, then its Content-MD5. Returns the
/// checksums verified, as stored headers (`x-amz-checksum-<algorithm>`, base64).
/// An error means the written segments must be discarded, not committed.
pub(super) fn verify_body(check: Option<ChecksumCheck>, expected_md5: Option<[u8; 16]>, md5: [u8; 16]) -> Result<Vec<(String, String)>, GatewayError> {
    let verified = check.map_or(Ok(Vec::new()), ChecksumCheck::verify)?;
    match expected_md5 {
        Some(m) if m != md5 => Err(GatewayError::BadDigest),
        _ => Ok(verified.into_iter().map(|(alg, v)| (format!("x-amz-checksum-{alg}"), v)).collect()),
    }
}

/// The full-object checksums a version keeps (from its stored headers).
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Kept {
    pub crc32: Option<String>,
    pub crc32c: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
    pub crc64nvme: Option<String>,
}

impl Kept {
    /// The checksums among a version's stored headers.
    pub(super) fn of(headers: &[(String, String)]) -> Self {
        let get = |alg: &str| super::util::header(headers, &format!("x-amz-checksum-{alg}"));
        Self { crc32: get("crc32"), crc32c: get("crc32c"), sha1: get("sha1"), sha256: get("sha256"), crc64nvme: get("crc64nvme") }
    }

    /// What a read answers: the checksums only when asked (`x-amz-checksum-mode: ENABLED`)
    /// and the whole object is read, as S3.
    pub(super) fn for_read(headers: &[(String, String)], mode: Option<&s3s::dto::ChecksumMode>, whole: bool) -> Self {
        if whole && mode.is_some_and(|m| m.as_str() == s3s::dto::ChecksumMode::ENABLED) {
            Self::of(headers)
        } else {
            Self::default()
        }
    }

    /// `FULL_OBJECT` when there is any (S3's type of a single PUT's checksum).
    pub(super) fn kind(&self) -> Option<s3s::dto::ChecksumType> {
        (*self != Self::default()).then(|| s3s::dto::ChecksumType::from_static(s3s::dto::ChecksumType::FULL_OBJECT))
    }
}

/// Set the six checksum fields S3's outputs share (`checksum_type`, `checksum_crc32`, …) on
/// `$out` from a [`Kept`].
macro_rules! set_checksums {
    ($out:expr, $sums:expr) => {{
        let sums: $crate::s3::checksum::Kept = $sums;
        $out.checksum_type = sums.kind();
        $out.checksum_crc32 = sums.crc32;
        $out.checksum_crc32c = sums.crc32c;
        $out.checksum_sha1 = sums.sha1;
        $out.checksum_sha256 = sums.sha256;
        $out.checksum_crc64nvme = sums.crc64nvme;
    }};
}
pub(super) use set_checksums;

/// The stored checksum headers among `headers`.
pub(super) fn checksum_headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers.iter().filter(|(k, _)| k.starts_with("x-amz-checksum-")).cloned().collect()
}

/// The checksums a request declared and a running hasher for them.
pub(super) struct ChecksumCheck {
    hasher: Arc<Mutex<ChecksumHasher>>,
    /// (algorithm, expected base64) from headers.
    expected: Vec<(&'static str, String)>,
    /// Algorithms whose value arrives in the trailer.
    trailer: Option<(Vec<&'static str>, TrailingHeaders)>,
}

fn enable(h: &mut ChecksumHasher, alg: &str) {
    match alg {
        "crc32" => h.crc32 = Some(Default::default()),
        "crc32c" => h.crc32c = Some(Default::default()),
        "sha1" => h.sha1 = Some(Default::default()),
        "sha256" => h.sha256 = Some(Default::default()),
        _ => h.crc64nvme = Some(Default::default()),
    }
}

impl ChecksumCheck {
    /// From the request headers (values, and `x-amz-trailer` names) and the
    /// trailer handle s3s gives for aws-chunked bodies. `None` when nothing
    /// was declared.
    pub(super) fn from_request(headers: &HeaderMap, trailing: Option<TrailingHeaders>) -> Option<Self> {
        let mut h = ChecksumHasher::default();
        let mut expected = Vec::new();
        for alg in ALGS {
            if let Some(v) = headers.get(format!("x-amz-checksum-{alg}").as_str()).and_then(|v| v.to_str().ok()) {
                enable(&mut h, alg);
                expected.push((alg, v.trim().to_owned()));
            }
        }
        let named: Vec<&'static str> = headers
            .get("x-amz-trailer")
            .and_then(|v| v.to_str().ok())
            .map(|t| {
                t.split(',')
                    .filter_map(|n| ALGS.iter().copied().find(|a| n.trim().eq_ignore_ascii_case(&format!("x-amz-checksum-{a}"))))
                    .collect()
            })
            .unwrap_or_default();
        for a in &named {
            enable(&mut h, a);
        }
        let trailer = match (named.is_empty(), trailing) {
            (false, Some(t)) => Some((named, t)),
            _ => None,
        };
        if expected.is_empty() && trailer.is_none() {
            return None;
        }
        Some(Self { hasher: Arc::new(Mutex::new(h)), expected, trailer })
    }

    /// Wrap a body so every byte passes through the hasher.
    pub(super) fn wrap<S, E>(&self, body: S) -> impl Stream<Item = Result<Bytes, E>> + Send + Unpin
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
    {
        let h = self.hasher.clone();
        body.map(move |item| {
            if let Ok(b) = &item {
                h.lock().unwrap_or_else(|p| p.into_inner()).update(b);
            }
            item
        })
    }

    /// After the whole body was read: compare every declared checksum; returns them
    /// (algorithm, base64 value).
    pub(super) fn verify(self) -> Result<Vec<(&'static str, String)>, GatewayError> {
        let hasher = Arc::try_unwrap(self.hasher)
            .map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner()))
            .map_err(|_| GatewayError::Internal("checksum hasher still shared".into()))?;
        let got = hasher.finalize();
        let value = |alg: &str| -> Option<String> {
            match alg {
                "crc32" => got.checksum_crc32.clone(),
                "crc32c" => got.checksum_crc32c.clone(),
                "sha1" => got.checksum_sha1.clone(),
                "sha256" => got.checksum_sha256.clone(),
                _ => got.checksum_crc64nvme.clone(),
            }
        };
        let mut expected = self.expected;
        if let Some((names, t)) = self.trailer {
            let map = t.take().ok_or(GatewayError::InvalidArgument("the trailer named in x-amz-trailer never arrived".into()))?;
            for a in names {
                let v = map
                    .get(format!("x-amz-checksum-{a}").as_str())
                    .and_then(|v| v.to_str().ok())
                    .ok_or(GatewayError::InvalidArgument(format!("trailer lacks x-amz-checksum-{a}")))?;
                expected.push((a, v.trim().to_owned()));
            }
        }
        for (alg, want) in &expected {
            if value(alg).as_deref() != Some(want.as_str()) {
                return Err(GatewayError::ChecksumMismatch { algorithm: alg });
            }
        }
        Ok(expected)
    }
}
