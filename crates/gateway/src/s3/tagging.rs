//! Object and bucket tagging: Get/Put/DeleteObjectTagging, Get/Put/DeleteBucketTagging, and
//! the `x-amz-tagging` header of PutObject, CopyObject and CreateMultipartUpload, with S3's
//! limits and errors. The tags are stored beside the object version they belong to (see
//! `kintsugi_meta::tags`).

use kintsugi_meta::{Manifest, MetaRead};
use s3s::dto::*;
use s3s::{s3_error, S3Response, S3Result};

use super::KintsugiS3;
use crate::error::GatewayError;

/// Most tags one object may carry (S3's limit).
pub(super) const MAX_OBJECT_TAGS: usize = 10;
/// Most tags one bucket may carry (S3's limit).
const MAX_BUCKET_TAGS: usize = 50;
/// Longest tag key and value, in characters (S3's limits).
const MAX_KEY_CHARS: usize = 128;
const MAX_VALUE_CHARS: usize = 256;
/// Tries of a PutObjectTagging that races writes of the same key.
const TAG_ATTEMPTS: usize = 5;

/// Check a tag set against S3's rules: at most `max` tags, keys of 1–128 and values of at
/// most 256 characters, no key twice, no `aws:` keys (those are the system's).
pub(super) fn validate(tags: &[(String, String)], max: usize) -> S3Result<()> {
    if tags.len() > max {
        return Err(s3_error!(InvalidTag, "at most {max} tags are allowed here; {} were given", tags.len()));
    }
    for (i, (k, v)) in tags.iter().enumerate() {
        let chars = k.chars().count();
        if chars == 0 || chars > MAX_KEY_CHARS {
            return Err(s3_error!(InvalidTag, "a tag key must be 1 to {MAX_KEY_CHARS} characters long; one is {chars}"));
        }
        if v.chars().count() > MAX_VALUE_CHARS {
            return Err(s3_error!(InvalidTag, "a tag value may be at most {MAX_VALUE_CHARS} characters long (tag {k})"));
        }
        if k.to_ascii_lowercase().starts_with("aws:") {
            return Err(s3_error!(InvalidTag, "tag keys starting with aws: are reserved for the system (tag {k})"));
        }
        if tags[..i].iter().any(|(other, _)| other == k) {
            return Err(s3_error!(InvalidTag, "Cannot provide multiple Tags with the same key ({k})"));
        }
    }
    Ok(())
}

/// An `x-amz-tagging` header (`k1=v1&k2=v2`, URL-encoded) as a checked tag set.
pub(super) fn parse_header(h: Option<&str>) -> S3Result<Vec<(String, String)>> {
    let Some(h) = h.filter(|h| !h.is_empty()) else { return Ok(Vec::new()) };
    let mut tags = Vec::new();
    for pair in h.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        tags.push((crate::admin_util::percent_decode(k), crate::admin_util::percent_decode(v)));
    }
    validate(&tags, MAX_OBJECT_TAGS)?;
    Ok(tags)
}

/// A request body's tag set as pairs (a tag without key or value has an empty one).
fn from_dto(t: Tagging) -> Vec<(String, String)> {
    t.tag_set.into_iter().map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default())).collect()
}

/// A tag set as answered: sorted by key, as Ceph and MinIO answer it (their stores keep tags
/// in sorted maps), whatever order the request that set it gave — clients compare tag lists.
fn to_dto(mut tags: Vec<(String, String)>) -> Vec<Tag> {
    tags.sort();
    tags.into_iter().map(|(k, v)| Tag { key: Some(k), value: Some(v) }).collect()
}

impl KintsugiS3 {
    /// The current version of an object and its tags.
    pub(super) async fn tagged(&self, bucket: &str, key: &str) -> S3Result<(Manifest, Vec<(String, String)>)> {
        self.require_bucket(bucket).await?;
        let (b, k) = (bucket.to_owned(), key.to_owned());
        self.meta(move |m| m.object_with_tags(&b, &k))
            .await?
            .ok_or_else(|| GatewayError::NoSuchKey { bucket: bucket.into(), key: key.into() }.into())
    }

    pub(super) async fn get_object_tagging_impl(&self, input: GetObjectTaggingInput) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        let (_, tags, vref) = self.version_of(&input.bucket, &input.key, input.version_id.as_deref()).await?;
        Ok(S3Response::new(GetObjectTaggingOutput { tag_set: to_dto(tags), version_id: input.version_id.map(|_| vref.to_string()) }))
    }

    /// Replace the tags of the version `version_id` names (any version; a delete marker has
    /// none to set: 405), or of the current one.
    async fn set_tags(&self, bucket: &str, key: &str, version_id: Option<&str>, tags: Vec<(String, String)>) -> S3Result<()> {
        if version_id.is_none() {
            return self.set_object_tags(bucket, key, tags).await;
        }
        // The name resolves to a manifest id, which the command targets; when that version
        // went meanwhile (a `null` version replaced, a version deleted), the name is resolved
        // again: a missing version answers as a read would, a new `null` one is tagged.
        for _ in 0..TAG_ATTEMPTS {
            let (m, _, _) = self.version_of(bucket, key, version_id).await?;
            let (b, k, t) = (bucket.to_owned(), key.to_owned(), tags.clone());
            match self.meta(move |meta| meta.put_version_tags(&b, &k, m.version_id, &t)).await {
                Ok(()) => return Ok(()),
                Err(e) if e.is_version_conflict() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(s3_error!(OperationAborted, "version {} of {key} was replaced {TAG_ATTEMPTS} times while its tags were being set; retry", version_id.unwrap_or("null")))
    }

    /// Replace the tags of the current version; a write of the key in between makes it retry
    /// on the new version (S3 tags whatever version is current when it applies).
    async fn set_object_tags(&self, bucket: &str, key: &str, tags: Vec<(String, String)>) -> S3Result<()> {
        for _ in 0..TAG_ATTEMPTS {
            let (m, _) = self.tagged(bucket, key).await?;
            let (b, k, t) = (bucket.to_owned(), key.to_owned(), tags.clone());
            match self.meta(move |meta| meta.put_object_tags(&b, &k, m.version_id, &t)).await {
                Ok(()) => return Ok(()),
                Err(e) if e.is_version_conflict() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(s3_error!(OperationAborted, "object {key} was rewritten {TAG_ATTEMPTS} times while its tags were being set; retry"))
    }

    pub(super) async fn put_object_tagging_impl(&self, input: PutObjectTaggingInput) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        let tags = from_dto(input.tagging);
        validate(&tags, MAX_OBJECT_TAGS)?;
        self.set_tags(&input.bucket, &input.key, input.version_id.as_deref(), tags).await?;
        Ok(S3Response::new(PutObjectTaggingOutput { version_id: input.version_id }))
    }

    pub(super) async fn delete_object_tagging_impl(&self, input: DeleteObjectTaggingInput) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        self.set_tags(&input.bucket, &input.key, input.version_id.as_deref(), Vec::new()).await?;
        Ok(S3Response::new(DeleteObjectTaggingOutput { version_id: input.version_id }))
    }

    pub(super) async fn get_bucket_tagging_impl(&self, input: GetBucketTaggingInput) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        self.require_bucket(&input.bucket).await?;
        let b = input.bucket.clone();
        match self.meta(move |m| m.bucket_tags(&b)).await? {
            Some(tags) => Ok(S3Response::new(GetBucketTaggingOutput { tag_set: to_dto(tags) })),
            None => Err(s3_error!(NoSuchTagSet, "The TagSet does not exist: bucket {} has no tags", input.bucket)),
        }
    }

    pub(super) async fn put_bucket_tagging_impl(&self, input: PutBucketTaggingInput) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        let tags = from_dto(input.tagging);
        validate(&tags, MAX_BUCKET_TAGS)?;
        let b = input.bucket;
        self.meta(move |m| m.put_bucket_tags(&b, &tags)).await?;
        Ok(S3Response::new(PutBucketTaggingOutput {}))
    }

    pub(super) async fn delete_bucket_tagging_impl(&self, input: DeleteBucketTaggingInput) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        let b = input.bucket;
        self.meta(move |m| m.put_bucket_tags(&b, &[])).await?;
        Ok(S3Response::new(DeleteBucketTaggingOutput {}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(r: S3Result<impl std::fmt::Debug>) -> String {
        match r {
            Ok(v) => format!("{v:?}"),
            Err(e) => e.code().as_str().to_owned(),
        }
    }

    #[test]
    fn tag_sets_follow_s3s_limits() {
        let t = |n: usize| (0..n).map(|i| (format!("k{i}"), "v".to_owned())).collect::<Vec<_>>();
        assert!(validate(&t(10), MAX_OBJECT_TAGS).is_ok());
        assert_eq!(code(validate(&t(11), MAX_OBJECT_TAGS)), "InvalidTag");
        assert!(validate(&t(50), MAX_BUCKET_TAGS).is_ok());
        let one = |k: String, v: String| vec![(k, v)];
        assert!(validate(&one("é".repeat(128), "ü".repeat(256)), 10).is_ok(), "limits count characters, not bytes");
        assert_eq!(code(validate(&one("k".repeat(129), String::new()), 10)), "InvalidTag");
        assert_eq!(code(validate(&one("k".into(), "v".repeat(257)), 10)), "InvalidTag");
        assert_eq!(code(validate(&one(String::new(), "v".into()), 10)), "InvalidTag");
        assert_eq!(code(validate(&one("AWS:x".into(), "v".into()), 10)), "InvalidTag");
        assert_eq!(code(validate(&[("a".into(), "1".into()), ("a".into(), "2".into())], 10)), "InvalidTag");
    }

    #[test]
    fn the_tagging_header_is_a_url_encoded_query() {
        assert_eq!(parse_header(None).expect("none"), vec![]);
        assert_eq!(
            parse_header(Some("a=1&b%20c=d%26e&empty=&bare")).expect("parse"),
            vec![("a".into(), "1".into()), ("b c".into(), "d&e".into()), ("empty".into(), String::new()), ("bare".into(), String::new())]
        );
        assert_eq!(parse_header(Some("x=a+b")).expect("plus"), vec![("x".into(), "a b".into())]);
        assert_eq!(code(parse_header(Some("a=1&a=2"))), "InvalidTag");
        assert_eq!(parse_header(Some("a=%zz")).expect("a stray %"), vec![("a".into(), "%zz".into())]);
    }
}
