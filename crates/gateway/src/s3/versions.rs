//! S3 versioning: Put/GetBucketVersioning, ListObjectVersions, and the reads and deletes of
//! one version (`versionId`). What a write or delete does to a key's versions is decided
//! where the command applies (`crates/meta/src/versions.rs`).

use s3s::dto::*;
use s3s::{s3_error, S3Error, S3ErrorCode, S3Response, S3Result};

use kintsugi_meta::{FoundVersion, Manifest, MetaError, MetaRead, TagSet, VersionLock, VersionQuery, VersionRef, Versioning};

use super::util::{self, etag, ts};
use super::KintsugiS3;
use crate::error::GatewayError;

/// Most entries one ListObjectVersions page holds (S3's limit).
const MAX_KEYS: i32 = 1000;

/// A `versionId` as a client sent it: `400 InvalidArgument` when this store cannot have made it.
pub(super) fn parse_version(v: Option<&str>) -> S3Result<Option<VersionRef>> {
    match v {
        None => Ok(None),
        Some(s) => VersionRef::parse(s).map(Some).ok_or_else(|| s3_error!(InvalidArgument, "Invalid version id specified: {s}")),
    }
}

/// The `x-amz-version-id` of a read: the version's id, or `null` when the request named it.
pub(super) fn read_version_header(vref: VersionRef, asked: Option<&str>) -> Option<String> {
    (vref != VersionRef::Null || asked.is_some()).then(|| vref.to_string())
}

/// The `x-amz-version-id` of a version just written: its id where versioning is enabled,
/// `null` where it is suspended, none where it never was.
pub(super) fn new_version_header(version_id: u128, versioning: Option<Versioning>) -> Option<String> {
    match versioning {
        Some(Versioning::Enabled) => Some(VersionRef::Id(version_id).to_string()),
        Some(Versioning::Suspended) => Some(VersionRef::Null.to_string()),
        None => None,
    }
}

/// A delete marker's answer: 404 `NoSuchKey` when it hides the key, 405 when the request
/// named it; both with `x-amz-delete-marker` and its id.
fn marker_error(key: &str, vref: VersionRef, named: bool) -> S3Error {
    let mut e = if named {
        let mut e = S3Error::with_message(S3ErrorCode::MethodNotAllowed, format!("version {vref} of {key} is a delete marker, which has no data"));
        e.set_status_code(http::StatusCode::METHOD_NOT_ALLOWED);
        e
    } else {
        S3Error::with_message(S3ErrorCode::NoSuchKey, format!("object {key} was deleted: its newest version is a delete marker"))
    };
    let mut h = http::HeaderMap::new();
    h.insert("x-amz-delete-marker", http::HeaderValue::from_static("true"));
    if let Ok(v) = http::HeaderValue::from_str(&vref.to_string()) {
        h.insert("x-amz-version-id", v);
    }
    e.set_headers(h);
    e
}

impl KintsugiS3 {
    /// The bucket's versioning state (`NoSuchBucket` when it does not exist).
    pub(super) async fn versioning(&self, bucket: &str) -> Result<Option<Versioning>, GatewayError> {
        let b = bucket.to_owned();
        self.meta(move |m| match m.bucket(&b)? {
            Some(_) => m.bucket_versioning(&b),
            None => Err(MetaError::NoSuchBucket { bucket: b }),
        })
        .await
    }

    /// One version of an object with its tags: the newest without `version_id`. A missing
    /// key is `404 NoSuchKey`, a missing version `404 NoSuchVersion`, a delete marker 404 or
    /// 405 as S3 answers them.
    pub(super) async fn version_of(&self, bucket: &str, key: &str, version_id: Option<&str>) -> S3Result<(Manifest, TagSet, VersionRef)> {
        let (manifest, tags, vref, _) = self.version_with_lock(bucket, key, version_id).await?;
        Ok((manifest, tags, vref))
    }

    /// [`KintsugiS3::version_of`] with the version's object lock.
    pub(super) async fn version_with_lock(&self, bucket: &str, key: &str, version_id: Option<&str>) -> S3Result<(Manifest, TagSet, VersionRef, VersionLock)> {
        let named = parse_version(version_id)?;
        self.require_bucket(bucket).await?;
        let (b, k) = (bucket.to_owned(), key.to_owned());
        let found = self
            .meta(move |m| {
                let found = m.object_version(&b, &k, named)?;
                let lock = match &found {
                    Some(FoundVersion::Object { manifest, .. }) => m.local_version_lock(&b, &k, manifest.version_id)?,
                    _ => VersionLock::default(),
                };
                Ok((found, lock))
            })
            .await?;
        match found {
            (Some(FoundVersion::Object { manifest, tags, vref, .. }), lock) => Ok((manifest, tags, vref, lock)),
            (Some(FoundVersion::DeleteMarker { vref, .. }), _) => Err(marker_error(key, vref, named.is_some())),
            (None, _) => Err(match named {
                Some(v) => s3_error!(NoSuchVersion, "object {key} has no version {v}"),
                None => GatewayError::NoSuchKey { bucket: bucket.into(), key: key.into() }.into(),
            }),
        }
    }

    pub(super) async fn get_bucket_versioning_impl(&self, input: GetBucketVersioningInput) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        let status = self.versioning(&input.bucket).await?.map(|v| match v {
            Versioning::Enabled => BucketVersioningStatus::from_static(BucketVersioningStatus::ENABLED),
            Versioning::Suspended => BucketVersioningStatus::from_static(BucketVersioningStatus::SUSPENDED),
        });
        Ok(S3Response::new(GetBucketVersioningOutput { status, ..Default::default() }))
    }

    pub(super) async fn put_bucket_versioning_impl(&self, input: PutBucketVersioningInput) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        let conf = input.versioning_configuration;
        if conf.mfa_delete.as_ref().is_some_and(|m| m.as_str() == MFADelete::ENABLED) || input.mfa.is_some() {
            return Err(s3_error!(NotImplemented, "MFA delete is not supported; versioning was not changed"));
        }
        let state = match conf.status.as_ref().map(BucketVersioningStatus::as_str) {
            Some(BucketVersioningStatus::ENABLED) => Versioning::Enabled,
            Some(BucketVersioningStatus::SUSPENDED) => Versioning::Suspended,
            Some(other) => return Err(s3_error!(MalformedXML, "versioning status {other:?} is neither Enabled nor Suspended")),
            None => return Err(s3_error!(MalformedXML, "the VersioningConfiguration has no Status: give Enabled or Suspended")),
        };
        let b = input.bucket;
        self.meta(move |m| m.put_bucket_versioning(&b, state)).await?;
        Ok(S3Response::new(PutBucketVersioningOutput {}))
    }

    pub(super) async fn list_object_versions_impl(&self, input: ListObjectVersionsInput) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let max = input.max_keys.unwrap_or(MAX_KEYS).clamp(0, MAX_KEYS);
        let version_marker = match input.version_id_marker.as_deref().filter(|v| !v.is_empty()) {
            None => None,
            Some(_) if input.key_marker.is_none() => {
                return Err(s3_error!(InvalidArgument, "A version-id marker cannot be specified without a key marker."));
            }
            v => parse_version(v)?,
        };
        let q = VersionQuery {
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: input.delimiter.clone(),
            key_marker: input.key_marker.clone().filter(|k| !k.is_empty()),
            version_marker,
            max: usize::try_from(max).unwrap_or(0),
        };
        // Every version and marker names its owner (its writer's, or the bucket's), as S3's
        // listing does.
        let owners = self.listing_owners(&input.bucket).await?;
        let b = input.bucket.clone();
        let page = self.meta(move |m| m.list_versions(&b, &q)).await?;
        let url = input.encoding_type.as_ref().is_some_and(|e| e.as_str() == EncodingType::URL);
        let enc = |s: String| if url { util::url_encode(&s) } else { s };
        let (mut versions, mut markers) = (Vec::new(), Vec::new());
        for e in page.entries {
            match e.object {
                Some(o) => versions.push(ObjectVersion {
                    key: Some(enc(e.key)),
                    version_id: Some(e.vref.to_string()),
                    is_latest: Some(e.latest),
                    last_modified: Some(ts(e.modified_ms)),
                    e_tag: Some(etag(&o.etag)),
                    size: i64::try_from(o.size).ok(),
                    storage_class: Some(ObjectVersionStorageClass::from_static(ObjectVersionStorageClass::STANDARD)),
                    owner: Some(owners.of(o.acl.as_deref())),
                    ..Default::default()
                }),
                None => markers.push(DeleteMarkerEntry {
                    key: Some(enc(e.key)),
                    version_id: Some(e.vref.to_string()),
                    is_latest: Some(e.latest),
                    last_modified: Some(ts(e.modified_ms)),
                    owner: Some(owners.of(None)),
                }),
            }
        }
        Ok(S3Response::new(ListObjectVersionsOutput {
            name: Some(input.bucket),
            prefix: Some(enc(input.prefix.unwrap_or_default())),
            delimiter: input.delimiter.filter(|d| !d.is_empty()).map(&enc),
            key_marker: Some(enc(input.key_marker.unwrap_or_default())),
            version_id_marker: Some(input.version_id_marker.unwrap_or_default()),
            max_keys: Some(max),
            is_truncated: Some(page.truncated),
            next_key_marker: page.next_key_marker.map(&enc),
            next_version_id_marker: page.next_version_marker.map(|v| v.to_string()),
            encoding_type: input.encoding_type,
            versions: Some(versions),
            delete_markers: Some(markers),
            common_prefixes: Some(page.common_prefixes.into_iter().map(|p| CommonPrefix { prefix: Some(enc(p)) }).collect()),
            ..Default::default()
        }))
    }

    /// Delete one version for good (`versionId` given) and answer what went; `bypass`: the
    /// caller asked to bypass GOVERNANCE retention and may.
    pub(super) async fn delete_version(&self, bucket: &str, key: &str, vref: VersionRef, bypass: bool) -> S3Result<(Option<String>, bool)> {
        self.require_bucket(bucket).await?;
        let (b, k) = (bucket.to_owned(), key.to_owned());
        let d = self.meta(move |m| m.delete_version(&b, &k, vref, bypass)).await?;
        // S3 names the version asked for, whether or not it was there.
        Ok((Some(vref.to_string()), d.marker))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_ids_are_checked_and_headed_as_s3_does() {
        assert_eq!(parse_version(None).expect("none"), None);
        assert_eq!(parse_version(Some("null")).expect("null"), Some(VersionRef::Null));
        let e = parse_version(Some("abc")).expect_err("not ours");
        assert_eq!(e.code().as_str(), "InvalidArgument");
        assert_eq!(read_version_header(VersionRef::Null, None), None);
        assert_eq!(read_version_header(VersionRef::Null, Some("null")).as_deref(), Some("null"));
        assert_eq!(read_version_header(VersionRef::Id(1), None).as_deref(), Some("00000000000000000000000000000001"));
        assert_eq!(new_version_header(1, None), None);
        assert_eq!(new_version_header(1, Some(Versioning::Suspended)).as_deref(), Some("null"));
        assert_eq!(new_version_header(1, Some(Versioning::Enabled)).as_deref(), Some("00000000000000000000000000000001"));
    }

    #[test]
    fn a_delete_marker_answers_404_or_405_with_its_headers() {
        let hidden = marker_error("k", VersionRef::Id(2), false);
        assert_eq!(hidden.code().as_str(), "NoSuchKey");
        let named = marker_error("k", VersionRef::Null, true);
        assert_eq!(named.status_code(), Some(http::StatusCode::METHOD_NOT_ALLOWED));
        let h = named.headers().expect("headers");
        assert_eq!(h.get("x-amz-delete-marker").map(|v| v.as_bytes()), Some(&b"true"[..]));
        assert_eq!(h.get("x-amz-version-id").map(|v| v.as_bytes()), Some(&b"null"[..]));
    }
}
