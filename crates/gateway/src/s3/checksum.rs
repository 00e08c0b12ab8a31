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

/// The algorithms S3 names, lower-case as in `x-amz-checksum-<algorithm>`.
pub(super) const ALGS: [&str; 5] = ["crc32", "crc32c", "sha1", "sha256", "crc64nvme"];

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

/// The checksums a version keeps (from its stored headers), or a part's.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Kept {
    pub crc32: Option<String>,
    pub crc32c: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
    pub crc64nvme: Option<String>,
    /// A multipart object's composite checksum (or one of its parts): `COMPOSITE`.
    pub composite: bool,
}

impl Kept {
    /// The checksums among a version's stored headers. A composite one is spelt `<base64>-N`
    /// (base64 has no `-`).
    pub(super) fn of(headers: &[(String, String)]) -> Self {
        let get = |alg: &str| super::util::header(headers, &format!("x-amz-checksum-{alg}"));
        let mut k = Self { crc32: get("crc32"), crc32c: get("crc32c"), sha1: get("sha1"), sha256: get("sha256"), crc64nvme: get("crc64nvme"), composite: false };
        let composite = k.values().any(|v| v.contains('-'));
        k.composite = composite;
        k
    }

    /// One checksum (`alg` lower-case).
    pub(super) fn one(alg: &str, value: String, composite: bool) -> Self {
        Self::of(&[(format!("x-amz-checksum-{alg}"), value)]).with_composite(composite)
    }

    /// The values kept, of whichever algorithms.
    fn values(&self) -> impl Iterator<Item = &str> {
        [&self.crc32, &self.crc32c, &self.sha1, &self.sha256, &self.crc64nvme].into_iter().filter_map(|v| v.as_deref())
    }

    /// The value kept for `alg` (lower-case).
    pub(super) fn get(&self, alg: &str) -> Option<&str> {
        match alg {
            "crc32" => self.crc32.as_deref(),
            "crc32c" => self.crc32c.as_deref(),
            "sha1" => self.sha1.as_deref(),
            "sha256" => self.sha256.as_deref(),
            "crc64nvme" => self.crc64nvme.as_deref(),
            _ => None,
        }
    }

    fn with_composite(mut self, composite: bool) -> Self {
        self.composite = composite;
        self
    }

    /// What a read answers: the checksums only when asked (`x-amz-checksum-mode: ENABLED`)
    /// and the whole object is read, or one part of a multipart object that kept its parts'
    /// (`part`: the read's `partNumber` and whether it is the whole object), as S3.
    pub(super) fn for_read(headers: &[(String, String)], mode: Option<&s3s::dto::ChecksumMode>, whole: bool, part: Option<i32>) -> Self {
        if mode.is_none_or(|m| m.as_str() != s3s::dto::ChecksumMode::ENABLED) {
            return Self::default();
        }
        if whole {
            return Self::of(headers);
        }
        let Some((alg, sums)) = part.and_then(|_| super::part_sums::part_checksums(headers)) else { return Self::default() };
        let i = part.and_then(|n| usize::try_from(n).ok()).and_then(|n| n.checked_sub(1));
        match i.and_then(|i| sums.get(i)) {
            Some(v) => Self::one(alg, v.clone(), Self::of(headers).composite),
            None => Self::default(),
        }
    }

    /// Its type (`COMPOSITE` or `FULL_OBJECT`) when there is any.
    pub(super) fn kind(&self) -> Option<s3s::dto::ChecksumType> {
        use s3s::dto::ChecksumType;
        self.values().next().is_some().then(|| ChecksumType::from_static(if self.composite { ChecksumType::COMPOSITE } else { ChecksumType::FULL_OBJECT }))
    }
}

/// Set the five checksum fields S3's outputs share (`checksum_crc32`, …) on `$out` from a
/// [`Kept`] (the parts' outputs have no type).
macro_rules! set_sum_fields {
    ($out:expr, $sums:expr) => {{
        let sums: $crate::s3::checksum::Kept = $sums;
        $out.checksum_crc32 = sums.crc32;
        $out.checksum_crc32c = sums.crc32c;
        $out.checksum_sha1 = sums.sha1;
        $out.checksum_sha256 = sums.sha256;
        $out.checksum_crc64nvme = sums.crc64nvme;
    }};
}
pub(super) use set_sum_fields;

/// Set the six checksum fields S3's outputs share (`checksum_type`, `checksum_crc32`, …) on
/// `$out` from a [`Kept`].
macro_rules! set_checksums {
    ($out:expr, $sums:expr) => {{
        let sums: $crate::s3::checksum::Kept = $sums;
        $out.checksum_type = sums.kind();
        $crate::s3::checksum::set_sum_fields!($out, sums);
    }};
}
pub(super) use set_checksums;

/// The stored full-object checksum headers among `headers`: what a copy keeps of its source
/// (not a multipart object's composite checksum, which names parts the copy does not have).
pub(super) fn checksum_headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers.iter().filter(|(k, v)| k.starts_with("x-amz-checksum-") && !is_composite(k, v)).cloned().collect()
}

/// `headers` without a composite checksum (see [`checksum_headers`]).
pub(super) fn without_composite(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers.iter().filter(|(k, v)| !is_composite(k, v)).cloned().collect()
}

/// Whether a stored header is a multipart object's composite checksum (`<base64>-N`).
fn is_composite(name: &str, value: &str) -> bool {
    name.starts_with("x-amz-checksum-") && value.contains('-')
}

/// The checksums a request declared and a running hasher for them.
pub(super) struct ChecksumCheck {
    hasher: Arc<Mutex<ChecksumHasher>>,
    /// (algorithm, expected base64) from headers.
    expected: Vec<(&'static str, String)>,
    /// Algorithms whose value arrives in the trailer.
    trailer: Option<(Vec<&'static str>, TrailingHeaders)>,
    /// An algorithm computed whether or not it was declared ([`ChecksumCheck::with_algorithm`]).
    computed: Option<&'static str>,
}

/// Switch `alg` (lower-case) on in a hasher.
pub(super) fn enable(h: &mut ChecksumHasher, alg: &str) {
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
        Some(Self { hasher: Arc::new(Mutex::new(h)), expected, trailer, computed: None })
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
        let value = |alg: &str| value_of(&got, alg);
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
        if let Some(alg) = self.computed.filter(|a| !expected.iter().any(|(e, _)| e == a)) {
            expected.extend(value(alg).map(|v| (alg, v)));
        }
        Ok(expected)
    }

    /// `check` (or none) with `alg` computed too, whether or not the request declared it: a
    /// part of an upload that keeps its parts' checksums of `alg`.
    pub(super) fn with_algorithm(check: Option<Self>, alg: &'static str) -> Self {
        let mut c = check.unwrap_or_else(|| Self { hasher: Arc::new(Mutex::new(ChecksumHasher::default())), expected: Vec::new(), trailer: None, computed: None });
        if let Ok(mut h) = c.hasher.lock() {
            enable(&mut h, alg);
        }
        c.computed = Some(alg);
        c
    }
}

/// The base64 value of `alg` (lower-case) among a hasher's results.
pub(super) fn value_of(got: &s3s::dto::Checksum, alg: &str) -> Option<String> {
    match alg {
        "crc32" => got.checksum_crc32.clone(),
        "crc32c" => got.checksum_crc32c.clone(),
        "sha1" => got.checksum_sha1.clone(),
        "sha256" => got.checksum_sha256.clone(),
        _ => got.checksum_crc64nvme.clone(),
    }
}
