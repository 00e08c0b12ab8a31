//! Server-side encryption in the S3 API: what a write asks for (SSE-S3's
//! `x-amz-server-side-encryption: AES256`, SSE-C's customer key headers, or the bucket's
//! default), the data key of a version being read or a part being written, the answer's
//! headers, and Get/Put/DeleteBucketEncryption. SSE-KMS is refused: there is no KMS.
//! Sealing is `crate::sse`, its streams `crate::sse_io`.

use base64::Engine;
use kintsugi_meta::MetaRead;
use md5::{Digest, Md5};
use s3s::dto::*;
use s3s::{s3_error, S3Response, S3Result};

use super::KintsugiS3;
use crate::sse::{self, Key};
use crate::sse_io::{Mode, Sealed};

/// The one algorithm of SSE-S3, SSE-C and default encryption.
const AES256: &str = "AES256";

/// A customer key (SSE-C), checked against its MD5. Never stored.
#[derive(Clone)]
pub(super) struct CustomerKey {
    key: Key,
    /// Its MD5, base64, as the request sent it (and the answer echoes it).
    md5: String,
}

impl std::fmt::Debug for CustomerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomerKey").field("md5", &self.md5).finish_non_exhaustive()
    }
}

/// What a write asks for.
#[derive(Clone, Debug, Default)]
pub(super) enum Asked {
    /// Nothing: the bucket's default encryption, if any.
    #[default]
    Default,
    /// SSE-S3.
    S3,
    /// SSE-C with this key.
    C(CustomerKey),
}

impl Asked {
    /// The customer key, for SSE-C.
    pub(super) fn customer(&self) -> Option<&CustomerKey> {
        match self {
            Self::C(k) => Some(k),
            _ => None,
        }
    }
}

fn kms_refused() -> s3s::S3Error {
    s3_error!(NotImplemented, "SSE-KMS is not supported (Kintsugi has no key management service), so nothing was stored: use AES256 (SSE-S3) or SSE-C")
}

/// SSE-C's three headers (algorithm, key, key MD5) as a checked key (`None`: not sent).
pub(super) fn customer_key(algorithm: Option<&str>, key: Option<&str>, md5: Option<&str>) -> S3Result<Option<CustomerKey>> {
    let (algorithm, key, md5) = match (algorithm, key, md5) {
        (None, None, None) => return Ok(None),
        (Some(a), Some(k), Some(m)) => (a, k, m),
        (None, ..) => return Err(s3_error!(InvalidArgument, "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm.")),
        (Some(_), None, _) => return Err(s3_error!(InvalidArgument, "Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key.")),
        (Some(_), Some(_), None) => return Err(s3_error!(InvalidArgument, "Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key.")),
    };
    if algorithm != AES256 {
        return Err(s3_error!(InvalidEncryptionAlgorithmError, "The encryption request you specified is not valid. The valid value is AES256."));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let raw = b64.decode(key.trim()).map_err(|_| s3_error!(InvalidArgument, "The secret key was invalid for the specified algorithm (not base64)."))?;
    let key: Key = raw.try_into().map_err(|_| s3_error!(InvalidArgument, "The secret key was invalid for the specified algorithm: AES256 takes a 256-bit key."))?;
    if b64.encode(Md5::digest(key)) != md5.trim() {
        return Err(s3_error!(InvalidArgument, "The calculated MD5 hash of the key did not match the hash that was provided."));
    }
    Ok(Some(CustomerKey { key, md5: md5.trim().to_owned() }))
}

/// What a write's encryption headers ask for.
pub(super) fn asked(sse: Option<&ServerSideEncryption>, kms_key: Option<&str>, algorithm: Option<&str>, key: Option<&str>, md5: Option<&str>) -> S3Result<Asked> {
    let customer = customer_key(algorithm, key, md5)?;
    if kms_key.is_some() {
        return Err(kms_refused());
    }
    match (sse.map(ServerSideEncryption::as_str), customer) {
        (Some(_), Some(_)) => Err(s3_error!(InvalidArgument, "Server Side Encryption with Customer provided key is incompatible with the encryption method specified")),
        (Some(AES256), None) => Ok(Asked::S3),
        (Some(s), None) if s.starts_with("aws:kms") => Err(kms_refused()),
        (Some(s), None) => Err(s3_error!(InvalidArgument, "Server Side Encryption {s:?} is not valid: the valid value is AES256")),
        (None, Some(k)) => Ok(Asked::C(k)),
        (None, None) => Ok(Asked::Default),
    }
}

/// The encryption headers of an answer about a version stored with `sealed`.
#[derive(Debug, Default)]
pub(super) struct Answer {
    pub sse: Option<ServerSideEncryption>,
    pub algorithm: Option<String>,
    pub key_md5: Option<String>,
}

/// What an answer says of `sealed` (`given`: the customer key the request sent).
pub(super) fn answer(sealed: Option<&Sealed>, given: Option<&CustomerKey>) -> Answer {
    match sealed.map(|s| s.mode) {
        Some(Mode::S3) => Answer { sse: Some(ServerSideEncryption::from_static(ServerSideEncryption::AES256)), ..Answer::default() },
        Some(Mode::C) => Answer { sse: None, algorithm: Some(AES256.to_owned()), key_md5: given.map(|k| k.md5.clone()) },
        None => Answer::default(),
    }
}

impl KintsugiS3 {
    /// The cluster master key, made on first use (the first gateway's wins).
    async fn master_key(&self) -> S3Result<Key> {
        if let Some(k) = self.master.get() {
            return Ok(*k);
        }
        let key = match self.meta(|m| m.master_key()).await? {
            Some(k) => k,
            None => {
                let fresh: Key = sse::random().map_err(|e| s3_error!(InternalError, "{e}"))?;
                self.meta(move |m| m.put_master_key(&fresh)).await?;
                self.meta(|m| m.master_key()).await?.ok_or_else(|| s3_error!(InternalError, "the master key was set but does not read back"))?
            }
        };
        Ok(*self.master.get_or_init(|| key))
    }

    /// The data key and stored description of a new version of `bucket` written with
    /// `asked` (`None`: stored plain).
    pub(super) async fn new_sealed(&self, bucket: &str, asked: &Asked) -> S3Result<Option<(Key, Sealed)>> {
        let (mode, kek) = match asked {
            Asked::S3 => (Mode::S3, self.master_key().await?),
            Asked::C(k) => (Mode::C, k.key),
            Asked::Default => {
                let b = bucket.to_owned();
                match self.meta(move |m| m.bucket_encryption(&b)).await?.as_deref() {
                    Some(AES256) => (Mode::S3, self.master_key().await?),
                    _ => return Ok(None),
                }
            }
        };
        Sealed::new(mode, &kek).map(Some).map_err(|e| s3_error!(InternalError, "{e}"))
    }

    /// The data key of a version (or upload) stored with `sealed`, given the customer key
    /// the request sent (`None`: stored plain). Refused as S3 refuses: an SSE-C object without
    /// its key (400) or with another (403), a customer key for what is not SSE-C (400).
    pub(super) async fn data_key(&self, sealed: Option<&Sealed>, given: Option<&CustomerKey>) -> S3Result<Option<Key>> {
        match (sealed, given) {
            (None, None) => Ok(None),
            (None | Some(Sealed { mode: Mode::S3, .. }), Some(_)) => {
                Err(s3_error!(InvalidRequest, "The encryption parameters are not applicable to this object: it is not encrypted with a customer-provided key"))
            }
            (Some(s @ Sealed { mode: Mode::S3, .. }), None) => {
                let kek = self.master_key().await?;
                s.data_key(&kek).map(Some).map_err(|e| s3_error!(InternalError, "the master key does not open this object's data key: {e}"))
            }
            (Some(Sealed { mode: Mode::C, .. }), None) => Err(s3_error!(
                InvalidRequest,
                "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object."
            )),
            (Some(s @ Sealed { mode: Mode::C, .. }), Some(k)) => {
                s.data_key(&k.key).map(Some).map_err(|_| s3_error!(AccessDenied, "The SSE-C key given is not the key the object was stored with"))
            }
        }
    }

    pub(super) async fn get_bucket_encryption_impl(&self, input: GetBucketEncryptionInput) -> S3Result<S3Response<GetBucketEncryptionOutput>> {
        self.require_bucket(&input.bucket).await?;
        let b = input.bucket.clone();
        match self.meta(move |m| m.bucket_encryption(&b)).await? {
            Some(alg) => Ok(S3Response::new(GetBucketEncryptionOutput {
                server_side_encryption_configuration: Some(ServerSideEncryptionConfiguration {
                    rules: vec![ServerSideEncryptionRule {
                        apply_server_side_encryption_by_default: Some(ServerSideEncryptionByDefault { sse_algorithm: ServerSideEncryption::from(alg), kms_master_key_id: None }),
                        bucket_key_enabled: Some(false),
                    }],
                }),
            })),
            None => {
                let mut e = s3_error!(ServerSideEncryptionConfigurationNotFoundError, "The server side encryption configuration was not found: bucket {} has none", input.bucket);
                e.set_status_code(http::StatusCode::NOT_FOUND);
                Err(e)
            }
        }
    }

    pub(super) async fn put_bucket_encryption_impl(&self, input: PutBucketEncryptionInput) -> S3Result<S3Response<PutBucketEncryptionOutput>> {
        let rules = input.server_side_encryption_configuration.rules;
        let [rule] = rules.as_slice() else {
            return Err(s3_error!(MalformedXML, "a server-side encryption configuration holds exactly one rule; this one has {}", rules.len()));
        };
        let Some(default) = &rule.apply_server_side_encryption_by_default else {
            return Err(s3_error!(MalformedXML, "the rule needs ApplyServerSideEncryptionByDefault"));
        };
        match default.sse_algorithm.as_str() {
            AES256 if default.kms_master_key_id.is_none() => {}
            AES256 => return Err(s3_error!(InvalidArgument, "a KMSMasterKeyID is only allowed with aws:kms")),
            s if s.starts_with("aws:kms") => return Err(kms_refused()),
            s => return Err(s3_error!(MalformedXML, "SSEAlgorithm {s:?} is not valid: the valid value is AES256")),
        }
        let b = input.bucket;
        self.meta(move |m| m.put_bucket_encryption(&b, AES256)).await?;
        Ok(S3Response::new(PutBucketEncryptionOutput {}))
    }

    pub(super) async fn delete_bucket_encryption_impl(&self, input: DeleteBucketEncryptionInput) -> S3Result<S3Response<DeleteBucketEncryptionOutput>> {
        let b = input.bucket;
        self.meta(move |m| m.put_bucket_encryption(&b, "")).await?;
        Ok(S3Response::new(DeleteBucketEncryptionOutput {}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(b: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(b)
    }

    fn code<T: std::fmt::Debug>(r: S3Result<T>) -> String {
        match r {
            Ok(v) => format!("ok {v:?}"),
            Err(e) => e.code().as_str().to_owned(),
        }
    }

    #[test]
    fn encryption_headers_are_checked_as_s3_checks_them() {
        let key = [7u8; 32];
        let (k, m) = (b64(&key), b64(&Md5::digest(key)));
        let aes = ServerSideEncryption::from_static(ServerSideEncryption::AES256);
        assert!(matches!(asked(None, None, None, None, None), Ok(Asked::Default)));
        assert!(matches!(asked(Some(&aes), None, None, None, None), Ok(Asked::S3)));
        assert!(matches!(asked(None, None, Some("AES256"), Some(&k), Some(&m)), Ok(Asked::C(_))));
        let kms = ServerSideEncryption::from_static(ServerSideEncryption::AWS_KMS);
        assert_eq!(code(asked(Some(&kms), None, None, None, None)), "NotImplemented");
        assert_eq!(code(asked(None, Some("key-id"), None, None, None)), "NotImplemented");
        assert_eq!(code(asked(Some(&aes), None, Some("AES256"), Some(&k), Some(&m))), "InvalidArgument", "both");
        assert_eq!(code(asked(Some(&ServerSideEncryption::from("AES128".to_owned())), None, None, None, None)), "InvalidArgument");
        assert_eq!(code(customer_key(Some("AES256"), Some(&k), Some(&b64(&[0; 16])))), "InvalidArgument", "MD5 mismatch");
        assert_eq!(code(customer_key(Some("AES256"), Some(&b64(&[1; 16])), Some(&b64(&Md5::digest([1u8; 16]))))), "InvalidArgument", "a 128-bit key");
        assert_eq!(code(customer_key(Some("AES128"), Some(&k), Some(&m))), "InvalidEncryptionAlgorithmError");
        assert_eq!(code(customer_key(None, Some(&k), Some(&m))), "InvalidArgument");
        assert_eq!(code(customer_key(Some("AES256"), None, Some(&m))), "InvalidArgument");
        assert_eq!(code(customer_key(Some("AES256"), Some(&k), None)), "InvalidArgument");
        assert!(!format!("{:?}", customer_key(Some("AES256"), Some(&k), Some(&m))).contains(&k), "a customer key never shows in logs");
    }
}
