//! ListObjects (version 1) and ListObjectsV2: a page of a bucket's keys, with S3's markers,
//! continuation tokens, delimiters, URL encoding and owners.

use kintsugi_meta::{ListPage, ListQuery, MetaRead};
use s3s::dto::*;
use s3s::{s3_error, S3Response, S3Result};

use super::util::{self, etag, ts};
use super::KintsugiS3;

impl KintsugiS3 {
    /// A page of `bucket`'s listing, and the bucket's owner (an entry whose object was written
    /// by another key names its writer, from its ACL).
    async fn list(&self, bucket: &str, q: ListQuery) -> S3Result<(ListPage, super::acl::ListingOwners)> {
        let owner = self.listing_owners(bucket).await?;
        let b = bucket.to_owned();
        Ok((self.meta(move |m| m.list_objects(&b, &q)).await?, owner))
    }

    pub(super) async fn list_objects_v2_impl(&self, input: ListObjectsV2Input) -> S3Result<S3Response<ListObjectsV2Output>> {
        let max = usize::try_from(input.max_keys.unwrap_or(1000).clamp(0, 1000)).unwrap_or(1000);
        let resume = match &input.continuation_token {
            Some(t) => Some(hex::decode(t).map_err(|_| s3_error!(InvalidArgument, "The continuation token provided is incorrect"))?),
            None => None,
        };
        let q = ListQuery {
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: input.delimiter.clone(),
            start_after: input.start_after.clone(),
            resume,
            max,
        };
        let (page, owner) = self.list(&input.bucket, q).await?;
        let owner = input.fetch_owner.unwrap_or(false).then_some(owner);
        let url = input.encoding_type.as_ref().is_some_and(|e| e.as_str() == EncodingType::URL);
        let enc = |s: String| if url { util::url_encode(&s) } else { s };
        let key_count = i32::try_from(page.entries.len() + page.common_prefixes.len()).unwrap_or(i32::MAX);
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(enc(input.prefix.unwrap_or_default())),
            delimiter: input.delimiter.filter(|d| !d.is_empty()).map(&enc),
            max_keys: Some(i32::try_from(max).unwrap_or(1000)),
            key_count: Some(key_count),
            is_truncated: Some(page.truncated),
            continuation_token: input.continuation_token,
            next_continuation_token: page.resume.map(hex::encode),
            start_after: input.start_after.map(&enc),
            encoding_type: input.encoding_type,
            contents: Some(objects(page.entries, &enc, owner.as_ref())),
            common_prefixes: Some(page.common_prefixes.into_iter().map(|p| CommonPrefix { prefix: Some(enc(p)) }).collect()),
            ..Default::default()
        }))
    }

    pub(super) async fn list_objects_v1_impl(&self, input: ListObjectsInput) -> S3Result<S3Response<ListObjectsOutput>> {
        let max = usize::try_from(input.max_keys.unwrap_or(1000).clamp(0, 1000)).unwrap_or(1000);
        let delimiter = input.delimiter.clone();
        let resume = input.marker.as_ref().map(|m| {
            // A marker that is a common prefix skips everything under it.
            let mut r = m.as_bytes().to_vec();
            let is_prefix = delimiter.as_deref().is_some_and(|d| !d.is_empty() && m.ends_with(d));
            r.push(if is_prefix { 0xFF } else { 0 });
            r
        });
        let q = ListQuery { prefix: input.prefix.clone().unwrap_or_default(), delimiter, start_after: None, resume, max };
        // Version 1 names every entry's owner, and always answers a Marker (empty without one).
        let (page, owner) = self.list(&input.bucket, q).await?;
        let url = input.encoding_type.as_ref().is_some_and(|e| e.as_str() == EncodingType::URL);
        let enc = |s: String| if url { util::url_encode(&s) } else { s };
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: Some(enc(input.prefix.unwrap_or_default())),
            delimiter: input.delimiter.filter(|d| !d.is_empty()).map(&enc),
            marker: Some(enc(input.marker.unwrap_or_default())),
            max_keys: Some(i32::try_from(max).unwrap_or(1000)),
            is_truncated: Some(page.truncated),
            next_marker: if page.truncated { page.last.map(&enc) } else { None },
            encoding_type: input.encoding_type,
            contents: Some(objects(page.entries, &enc, Some(&owner))),
            common_prefixes: Some(page.common_prefixes.into_iter().map(|p| CommonPrefix { prefix: Some(enc(p)) }).collect()),
            ..Default::default()
        }))
    }
}

fn objects(entries: Vec<kintsugi_meta::ListEntry>, enc: &dyn Fn(String) -> String, owner: Option<&super::acl::ListingOwners>) -> Vec<Object> {
    entries
        .into_iter()
        .map(|e| Object {
            key: Some(enc(e.key)),
            owner: owner.map(|o| o.of(e.acl.as_deref())),
            size: i64::try_from(e.size).ok(),
            e_tag: Some(etag(&e.etag)),
            last_modified: Some(ts(e.modified_ms)),
            storage_class: Some(ObjectStorageClass::from_static(ObjectStorageClass::STANDARD)),
            ..Default::default()
        })
        .collect()
}
