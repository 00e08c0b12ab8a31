//! Multipart checksums: an upload created with `x-amz-checksum-algorithm` keeps every part's
//! checksum of that algorithm (verified when the part declared it, computed by the gateway
//! when it did not, as for an UploadPartCopy), and its completion computes the object's:
//!
//! - `COMPOSITE` (any algorithm but CRC64NVME): the checksum of the parts' raw checksums
//!   concatenated in part order, spelt `<base64>-<number of parts>`;
//! - `FULL_OBJECT` (CRC32, CRC32C, CRC64NVME): the CRC of the whole object, combined from the
//!   parts' CRCs and lengths (`crc_fast::checksum_combine`) without reading a byte again.
//!
//! The object keeps it as any PutObject's checksum (`x-amz-checksum-<algorithm>`; a composite
//! one is told apart by its `-N`), and its parts' checksums in `PART_CHECKSUMS_HEADER`, so a
//! GET or HEAD by `partNumber` and GetObjectAttributes answer them. Pure: no I/O.

use base64::Engine as _;
use s3s::dto::{ChecksumAlgorithm, ChecksumType};
use s3s::{s3_error, S3Result};

use crate::error::GatewayError;
use crate::sse_io::{PART_CHECKSUMS_HEADER, UPLOAD_CHECKSUM_HEADER};

/// The lower-case name of an algorithm S3 names (`None`: not one).
pub(super) fn algorithm_name(a: &str) -> Option<&'static str> {
    super::checksum::ALGS.iter().copied().find(|n| n.eq_ignore_ascii_case(a))
}

/// An upload's checksum algorithm and type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct UploadSum {
    /// Lower-case algorithm name (`crc32`, `crc32c`, `sha1`, `sha256`, `crc64nvme`).
    pub alg: &'static str,
    /// `FULL_OBJECT` (a CRC of the whole object) rather than `COMPOSITE`.
    pub full_object: bool,
}

impl UploadSum {
    /// What CreateMultipartUpload asked (`x-amz-checksum-algorithm`, `x-amz-checksum-type`).
    /// The type defaults as S3's does: `FULL_OBJECT` for CRC64NVME, else `COMPOSITE`.
    pub(super) fn asked(alg: Option<&ChecksumAlgorithm>, kind: Option<&ChecksumType>) -> S3Result<Option<Self>> {
        let Some(alg) = alg else {
            return match kind {
                Some(_) => Err(s3_error!(InvalidRequest, "x-amz-checksum-type needs x-amz-checksum-algorithm")),
                None => Ok(None),
            };
        };
        let Some(name) = algorithm_name(alg.as_str()) else {
            return Err(s3_error!(InvalidRequest, "Checksum algorithm {} is not one of CRC32, CRC32C, CRC64NVME, SHA1 and SHA256", alg.as_str()));
        };
        let crc = name.starts_with("crc");
        let full_object = match kind.map(ChecksumType::as_str) {
            None => name == "crc64nvme",
            Some(ChecksumType::FULL_OBJECT) if crc => true,
            Some(ChecksumType::COMPOSITE) if name != "crc64nvme" => false,
            Some(t) => return Err(s3_error!(InvalidRequest, "The {t} checksum type cannot be used with the {} checksum algorithm", alg.as_str())),
        };
        Ok(Some(Self { alg: name, full_object }))
    }

    /// The internal header that keeps it with the upload.
    pub(super) fn header(&self) -> (String, String) {
        (UPLOAD_CHECKSUM_HEADER.to_owned(), format!("{} {}", self.alg, self.kind_str()))
    }

    /// An upload's, from its record's headers (`None`: the upload has no algorithm).
    pub(super) fn of(headers: &[(String, String)]) -> Option<Self> {
        let v = super::util::header(headers, UPLOAD_CHECKSUM_HEADER)?;
        let (alg, kind) = v.split_once(' ')?;
        Some(Self { alg: algorithm_name(alg)?, full_object: kind == ChecksumType::FULL_OBJECT })
    }

    fn kind_str(&self) -> &'static str {
        if self.full_object {
            ChecksumType::FULL_OBJECT
        } else {
            ChecksumType::COMPOSITE
        }
    }

    /// As S3 answers it (`x-amz-checksum-algorithm`).
    pub(super) fn algorithm(&self) -> ChecksumAlgorithm {
        ChecksumAlgorithm::from_static(match self.alg {
            "crc32" => ChecksumAlgorithm::CRC32,
            "crc32c" => ChecksumAlgorithm::CRC32C,
            "sha1" => ChecksumAlgorithm::SHA1,
            "sha256" => ChecksumAlgorithm::SHA256,
            _ => ChecksumAlgorithm::CRC64NVME,
        })
    }

    /// As S3 answers it (`x-amz-checksum-type`).
    pub(super) fn kind(&self) -> ChecksumType {
        ChecksumType::from_static(self.kind_str())
    }

    /// The object's checksum from its parts' (base64, in part order, with their lengths).
    pub(super) fn combine(&self, parts: &[(&str, u64)]) -> Result<String, GatewayError> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut raws = Vec::with_capacity(parts.len());
        for (v, _) in parts {
            raws.push(b64.decode(v).map_err(|_| GatewayError::Internal(format!("a part's stored {} checksum is not base64", self.alg)))?);
        }
        if !self.full_object {
            let mut h = s3s::checksum::ChecksumHasher::default();
            super::checksum::enable(&mut h, self.alg);
            for r in &raws {
                h.update(r);
            }
            let sum = super::checksum::value_of(&h.finalize(), self.alg).ok_or_else(|| GatewayError::Internal("no composite checksum computed".into()))?;
            return Ok(format!("{sum}-{}", parts.len()));
        }
        let (algorithm, width) = match self.alg {
            "crc32" => (crc_fast::CrcAlgorithm::Crc32IsoHdlc, 4),
            "crc32c" => (crc_fast::CrcAlgorithm::Crc32Iscsi, 4),
            "crc64nvme" => (crc_fast::CrcAlgorithm::Crc64Nvme, 8),
            other => return Err(GatewayError::Internal(format!("{other} has no full-object checksum"))),
        };
        let mut crc: Option<u64> = None;
        for (raw, (_, len)) in raws.iter().zip(parts) {
            let part = match (width, <[u8; 4]>::try_from(raw.as_slice()), <[u8; 8]>::try_from(raw.as_slice())) {
                (4, Ok(b), _) => u64::from(u32::from_be_bytes(b)),
                (8, _, Ok(b)) => u64::from_be_bytes(b),
                _ => return Err(GatewayError::Internal(format!("a part's stored {} checksum has {} bytes", self.alg, raw.len()))),
            };
            crc = Some(match crc {
                None => part,
                Some(c) => crc_fast::checksum_combine(algorithm, c, part, *len),
            });
        }
        let crc = crc.ok_or_else(|| GatewayError::Internal("an object of no parts".into()))?;
        let out = crc.to_be_bytes();
        Ok(b64.encode(&out[8 - width..]))
    }
}

/// The algorithm and per-part checksums a multipart object keeps (`None`: it has none).
pub(super) fn part_checksums(headers: &[(String, String)]) -> Option<(&'static str, Vec<String>)> {
    let list = super::util::header(headers, PART_CHECKSUMS_HEADER)?;
    let alg = super::checksum::ALGS.iter().copied().find(|a| super::util::header(headers, &format!("x-amz-checksum-{a}")).is_some())?;
    Some((alg, list.split(',').map(str::to_owned).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(alg: Option<&'static str>, kind: Option<&'static str>) -> S3Result<Option<UploadSum>> {
        UploadSum::asked(alg.map(ChecksumAlgorithm::from_static).as_ref(), kind.map(ChecksumType::from_static).as_ref())
    }

    #[test]
    fn the_type_defaults_as_s3s_and_impossible_pairs_are_refused() {
        assert_eq!(asked(None, None).expect("none"), None);
        assert_eq!(asked(Some("SHA256"), None).expect("sha").map(|u| (u.alg, u.full_object)), Some(("sha256", false)));
        assert_eq!(asked(Some("CRC64NVME"), None).expect("crc64").map(|u| (u.alg, u.full_object)), Some(("crc64nvme", true)));
        assert_eq!(asked(Some("CRC32"), Some("FULL_OBJECT")).expect("crc32").map(|u| (u.alg, u.full_object)), Some(("crc32", true)));
        for (a, k) in [(Some("SHA1"), Some("FULL_OBJECT")), (Some("CRC64NVME"), Some("COMPOSITE")), (None, Some("COMPOSITE")), (Some("MD5"), None), (Some("CRC32"), Some("PARTIAL"))] {
            assert_eq!(asked(a, k).expect_err("refused").code().as_str(), "InvalidRequest", "{a:?} {k:?}");
        }
        let u = asked(Some("crc32c"), Some("COMPOSITE")).expect("lower case").expect("some");
        let h = u.header();
        assert_eq!(UploadSum::of(&[h]), Some(u), "kept with the upload and read back");
        assert_eq!(UploadSum::of(&[]), None);
    }

    /// The parts and object checksums Ceph's s3-tests expect for three 5 MiB parts of `A`, `B`
    /// and `C` (computed there by an independent implementation).
    #[test]
    fn composite_and_full_object_checksums_match_s3_tests_vectors() {
        const MIB5: usize = 5 * 1024 * 1024;
        let bodies = [vec![b'A'; MIB5], vec![b'B'; MIB5], vec![b'C'; MIB5]];
        for (alg, kind, want) in [
            ("SHA256", "COMPOSITE", "uWBwpe1dxI4Vw8Gf0X9ynOdw/SS6VBzfWm9giiv1sf4=-3"),
            ("SHA1", "COMPOSITE", "sizjvY4eud3MrcHdZM3cQ/ol39o=-3"),
            ("CRC32", "FULL_OBJECT", "WgDhBQ=="),
            ("CRC32C", "FULL_OBJECT", "xU+Krw=="),
            ("CRC64NVME", "FULL_OBJECT", "i+6LR0y3eFo="),
        ] {
            let u = asked(Some(alg), Some(kind)).expect("asked").expect("some");
            let sums: Vec<String> = bodies
                .iter()
                .map(|b| {
                    let mut h = s3s::checksum::ChecksumHasher::default();
                    crate::s3::checksum::enable(&mut h, u.alg);
                    h.update(b);
                    crate::s3::checksum::value_of(&h.finalize(), u.alg).expect("a value")
                })
                .collect();
            let parts: Vec<(&str, u64)> = sums.iter().map(|s| (s.as_str(), MIB5 as u64)).collect();
            assert_eq!(u.combine(&parts).expect("combined"), want, "{alg} {kind}");
        }
        let one = asked(Some("SHA256"), None).expect("sha").expect("some");
        assert_eq!(one.combine(&[("arcu6553sHVAiX4MjW0j7I7vD4w6R+Gz9Ok0Q9lTa+0=", 1024)]).expect("one part"), "Ok6Cs5b96ux6+MWQkJO7UBT5sKPBeXBLwvj/hK89smg=-1");
        assert!(one.combine(&[("not base64!", 1)]).is_err());
        let crc = asked(Some("CRC32"), Some("FULL_OBJECT")).expect("crc").expect("some");
        assert!(crc.combine(&[("AAAAAAAAAAA=", 1)]).is_err(), "a stored CRC32 of 8 bytes");
    }
}
