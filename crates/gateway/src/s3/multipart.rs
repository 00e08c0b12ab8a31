//! Multipart uploads: create, upload part, complete, abort, list.

use kintsugi_meta::{now_ms, Manifest, MetaRead, PartRecord, ShardLabel, UploadRecord};
use md5::{Digest, Md5};
use s3s::dto::*;
use s3s::{s3_error, S3Response, S3Result};

use super::checksum::{verify_body, ChecksumCheck};
use super::util::{self, etag, ts};
use super::KintsugiS3;
use crate::error::GatewayError;
use crate::put::{write_body, Owner};

/// S3's minimum size of every part but the last.
const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
const MAX_PART_NUMBER: i32 = 10_000;

fn parse_upload_id(id: &str) -> Result<u128, GatewayError> {
    if id.len() != 32 {
        return Err(kintsugi_meta::MetaError::NoSuchUpload { upload_id: id.into() }.into());
    }
    u128::from_str_radix(id, 16).map_err(|_| kintsugi_meta::MetaError::NoSuchUpload { upload_id: id.into() }.into())
}

impl KintsugiS3 {
    pub(super) async fn create_multipart_impl(
        &self,
        input: CreateMultipartUploadInput,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let upload_id = format!("{:032x}", rand::random::<u128>());
        let rec = UploadRecord {
            upload_id: upload_id.clone(),
            bucket: input.bucket.clone(),
            key: input.key.clone(),
            created_ms: now_ms(),
            content_type: input.content_type,
            headers: util::std_headers(input.cache_control, input.content_disposition, input.content_encoding, input.content_language),
            user_meta: util::meta_to_vec(input.metadata),
        };
        self.meta(move |m| m.create_upload(&rec)).await?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload_id),
            ..Default::default()
        }))
    }

    pub(super) async fn upload_part_impl(&self, input: UploadPartInput, check: Option<ChecksumCheck>) -> S3Result<S3Response<UploadPartOutput>> {
        if !(1..=MAX_PART_NUMBER).contains(&input.part_number) {
            return Err(s3_error!(InvalidArgument, "Part number must be an integer between 1 and 10000, inclusive"));
        }
        super::util::refuse_too_large(input.content_length)?;
        let part_number = u32::try_from(input.part_number).map_err(|_| s3_error!(InvalidArgument))?;
        let owner_id = parse_upload_id(&input.upload_id)?;
        let (b, k, u) = (input.bucket.clone(), input.key.clone(), input.upload_id.clone());
        let up = self.meta(move |m| m.upload(&b, &k, &u)).await?;
        let expected_md5 = util::parse_content_md5(input.content_md5.as_ref())?;
        let label = ShardLabel {
            bucket: up.bucket,
            key: up.key,
            started_ms: now_ms(),
            declared_len: input.content_length.and_then(|l| u64::try_from(l).ok()),
            content_type: up.content_type,
            headers: up.headers,
            user_meta: up.user_meta,
            attrs_dropped: false,
        };
        let owner = Owner::labelled(owner_id, part_number, &label);
        let written = match (input.body, &check) {
            (Some(body), Some(c)) => write_body(&self.store, c.wrap(body), owner, None).await?,
            (Some(body), None) => write_body(&self.store, body, owner, None).await?,
            (None, _) => write_body(&self.store, futures::stream::empty::<Result<bytes::Bytes, GatewayError>>(), owner, None).await?,
        };
        if let Err(e) = verify_body(check, expected_md5, written.md5) {
            self.discard(&written.segments).await;
            return Err(e.into());
        }
        let part = PartRecord {
            part_number,
            size: written.size,
            etag: hex::encode(written.md5),
            modified_ms: now_ms(),
            coding: self.store.coding(),
            segments: written.segments,
        };
        let tag = part.etag.clone();
        let segs = part.segments.clone();
        let (b, k, u) = (input.bucket, input.key, input.upload_id);
        if let Err(e) = self.meta(move |m| m.put_part(&b, &k, &u, &part)).await {
            // A commit that may still happen keeps its shards (their intents stay open).
            if !e.outcome_unknown() {
                self.discard(&segs).await;
            }
            return Err(e.into());
        }
        Ok(S3Response::new(UploadPartOutput { e_tag: Some(etag(&tag)), ..Default::default() }))
    }

    pub(super) async fn complete_multipart_impl(
        &self,
        input: CompleteMultipartUploadInput,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let listed: Vec<(u32, String)> = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default()
            .into_iter()
            .map(|p| {
                let n = p.part_number.and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
                let tag = p.e_tag.map(|t| t.value().trim_matches('"').to_owned()).unwrap_or_default();
                (n, tag)
            })
            .collect();
        if listed.is_empty() {
            return Err(s3_error!(MalformedXML, "The XML you provided was not well-formed or did not validate against our published schema: no parts"));
        }
        let (b, k, u) = (input.bucket.clone(), input.key.clone(), input.upload_id.clone());
        let version_id: u128 = rand::random();
        let manifest = self
            .store
            .meta_call_with(move |m| {
                let mut built: Option<Manifest> = None;
                m.complete_upload::<GatewayError>(&b, &k, &u, |up, parts| {
                    let man = assemble(up, parts, &listed, version_id)?;
                    built = Some(man.clone());
                    Ok((man, listed.iter().map(|(n, _)| *n).collect()))
                })?;
                built.ok_or_else(|| GatewayError::Internal("complete produced no manifest".into()))
            })
            .await?;
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            e_tag: Some(etag(&manifest.etag)),
            location: Some(format!("/{}/{}", input.bucket, input.key)),
            ..Default::default()
        }))
    }

    pub(super) async fn list_parts_impl(&self, input: ListPartsInput) -> S3Result<S3Response<ListPartsOutput>> {
        let (b, k, u) = (input.bucket.clone(), input.key.clone(), input.upload_id.clone());
        self.meta(move |m| m.upload(&b, &k, &u)).await?;
        let max = usize::try_from(input.max_parts.unwrap_or(1000).clamp(1, 1000)).unwrap_or(1000);
        let after = input.part_number_marker.and_then(|m| u32::try_from(m).ok()).unwrap_or(0);
        let u = input.upload_id.clone();
        let mut parts = self.meta(move |m| m.list_parts(&u, after, max + 1)).await?;
        let truncated = parts.len() > max;
        parts.truncate(max);
        let next = parts.last().and_then(|p| i32::try_from(p.part_number).ok());
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            max_parts: Some(i32::try_from(max).unwrap_or(1000)),
            is_truncated: Some(truncated),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: if truncated { next } else { None },
            parts: Some(
                parts
                    .into_iter()
                    .map(|p| Part {
                        part_number: i32::try_from(p.part_number).ok(),
                        size: i64::try_from(p.size).ok(),
                        e_tag: Some(etag(&p.etag)),
                        last_modified: Some(ts(p.modified_ms)),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    pub(super) async fn list_uploads_impl(
        &self,
        input: ListMultipartUploadsInput,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        self.require_bucket(&input.bucket).await?;
        let max = usize::try_from(input.max_uploads.unwrap_or(1000).clamp(1, 1000)).unwrap_or(1000);
        let (b, p, km, um) = (
            input.bucket.clone(),
            input.prefix.clone().unwrap_or_default(),
            input.key_marker.clone(),
            input.upload_id_marker.clone(),
        );
        let (uploads, truncated) = self
            .meta(move |m| m.list_uploads(&b, &p, km.as_deref(), um.as_deref(), max))
            .await?;
        let last = uploads.last().map(|u| (u.key.clone(), u.upload_id.clone()));
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix,
            key_marker: input.key_marker,
            upload_id_marker: input.upload_id_marker,
            max_uploads: Some(i32::try_from(max).unwrap_or(1000)),
            is_truncated: Some(truncated),
            next_key_marker: if truncated { last.as_ref().map(|l| l.0.clone()) } else { None },
            next_upload_id_marker: if truncated { last.map(|l| l.1) } else { None },
            uploads: Some(
                uploads
                    .into_iter()
                    .map(|u| MultipartUpload {
                        key: Some(u.key),
                        upload_id: Some(u.upload_id),
                        initiated: Some(ts(u.created_ms)),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }
}

/// Build the final manifest from the stored parts the client listed.
fn assemble(up: &UploadRecord, parts: &[PartRecord], listed: &[(u32, String)], version_id: u128) -> Result<Manifest, GatewayError> {
    let mut prev = 0u32;
    let mut md5s = Md5::new();
    let mut segments = Vec::new();
    let mut size = 0u64;
    let mut coding = None;
    for (i, (n, tag)) in listed.iter().enumerate() {
        if *n <= prev {
            return Err(GatewayError::InvalidPartOrder);
        }
        prev = *n;
        let Some(p) = parts.iter().find(|p| p.part_number == *n) else {
            return Err(GatewayError::InvalidPart { part: *n });
        };
        if !p.etag.eq_ignore_ascii_case(tag) {
            return Err(GatewayError::InvalidPart { part: *n });
        }
        if i + 1 < listed.len() && p.size < MIN_PART_SIZE {
            return Err(GatewayError::EntityTooSmall { part: *n, size: p.size });
        }
        if *coding.get_or_insert(p.coding) != p.coding {
            return Err(GatewayError::Internal("parts were written with different codings".into()));
        }
        let raw = hex::decode(&p.etag).map_err(|_| GatewayError::Internal("stored part ETag is not hex".into()))?;
        md5s.update(&raw);
        size += p.size;
        segments.extend(p.segments.iter().cloned());
    }
    let Some(coding) = coding else { return Err(GatewayError::InvalidPartOrder) };
    let digest: [u8; 16] = md5s.finalize().into();
    Ok(Manifest {
        version_id,
        size,
        etag: format!("{}-{}", hex::encode(digest), listed.len()),
        modified_ms: now_ms(),
        content_type: up.content_type.clone(),
        headers: up.headers.clone(),
        user_meta: up.user_meta.clone(),
        parts: u32::try_from(listed.len()).unwrap_or(u32::MAX),
        coding,
        segments,
    })
}

