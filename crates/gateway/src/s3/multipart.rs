//! Multipart uploads: create, upload part, complete, abort, list.

use kintsugi_meta::{now_ms, Manifest, MetaRead, PartChecksum, PartRecord, ShardLabel, UploadRecord};
use md5::{Digest, Md5};
use s3s::dto::*;
use s3s::{s3_error, S3Response, S3Result};

use super::checksum::{set_sum_fields, verify_body, ChecksumCheck, Kept, ALGS};
use super::part_sums::UploadSum;
use super::conditions::{check_copy_source, WriteCondition};
use super::util::{self, etag, ts};
use super::KintsugiS3;
use crate::error::GatewayError;
use super::encryption::{self, answer, CustomerKey};
use crate::put::Owner;
use crate::sse_io::{read_plain, write_body_sealed, Sealed, PARTS_HEADER};

/// S3's minimum size of every part but the last.
const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
const MAX_PART_NUMBER: i32 = 10_000;

fn parse_upload_id(id: &str) -> Result<u128, GatewayError> {
    if id.len() != 32 {
        return Err(kintsugi_meta::MetaError::NoSuchUpload { upload_id: id.into() }.into());
    }
    u128::from_str_radix(id, 16).map_err(|_| kintsugi_meta::MetaError::NoSuchUpload { upload_id: id.into() }.into())
}

/// Where a part goes: its upload and number, checked.
struct PartAt {
    bucket: String,
    key: String,
    upload_id: String,
    /// The upload id as the shard owner.
    owner_id: u128,
    part_number: u32,
}

impl PartAt {
    fn new(bucket: String, key: String, upload_id: String, part_number: i32) -> S3Result<Self> {
        if !(1..=MAX_PART_NUMBER).contains(&part_number) {
            return Err(s3_error!(InvalidArgument, "Part number must be an integer between 1 and 10000, inclusive"));
        }
        let part_number = u32::try_from(part_number).map_err(|_| s3_error!(InvalidArgument))?;
        let owner_id = parse_upload_id(&upload_id)?;
        Ok(Self { bucket, key, upload_id, owner_id, part_number })
    }
}

/// An `x-amz-copy-source-range` (`bytes=FIRST-LAST`, both within the source) as a byte range.
fn parse_copy_range(r: &str, size: u64) -> S3Result<std::ops::Range<u64>> {
    let bad = || s3_error!(InvalidArgument, "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy");
    let (first, last) = r.trim().strip_prefix("bytes=").and_then(|v| v.split_once('-')).ok_or_else(bad)?;
    let first: u64 = first.trim().parse().map_err(|_| bad())?;
    let last: u64 = last.trim().parse().map_err(|_| bad())?;
    if first > last || last >= size {
        return Err(s3_error!(InvalidRange, "Range specified is not valid for source object of size: {size}"));
    }
    Ok(first..last + 1)
}

impl KintsugiS3 {
    pub(super) async fn create_multipart_impl(
        &self,
        input: CreateMultipartUploadInput,
        writer: &crate::access::Principal,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        util::refuse_unbuilt_write!(input);
        // The completed object's ACL, kept with the upload's headers.
        let acl = self.object_write_acl(&input.bucket, writer, &util::acl_asked!(input)).await?;
        let sse = util::sse_asked!(input);
        let sum = UploadSum::asked(input.checksum_algorithm.as_ref(), input.checksum_type.as_ref())?;
        let lock = super::lock::asked_lock(input.object_lock_mode.as_ref(), input.object_lock_retain_until_date.as_ref(), input.object_lock_legal_hold_status.as_ref())?;
        let upload_id = format!("{:032x}", rand::random::<u128>());
        // Every part is sealed under the upload's one data key, kept wrapped with the upload.
        let sealed = self.new_sealed(&input.bucket, &sse).await?.map(|(_, s)| s);
        let mut headers = util::with_expires(util::std_headers(input.cache_control, input.content_disposition, input.content_encoding, input.content_language), input.expires);
        headers.extend(sealed.as_ref().map(Sealed::header));
        headers.extend(acl.map(|a| (crate::acl::HEADER.to_owned(), a)));
        headers.extend(sum.map(|s| s.header()));
        headers.extend(writer.key().map(|k| (crate::sse_io::INITIATOR_HEADER.to_owned(), k.to_owned())));
        let enc = answer(sealed.as_ref(), sse.customer());
        let rec = UploadRecord {
            upload_id: upload_id.clone(),
            bucket: input.bucket.clone(),
            key: input.key.clone(),
            created_ms: now_ms(),
            content_type: util::content_type_or_default(input.content_type),
            headers,
            user_meta: util::meta_to_vec(input.metadata),
        };
        let tags = super::tagging::parse_header(input.tagging.as_deref())?;
        self.meta(move |m| m.create_upload_locked(&rec, &tags, lock.as_ref())).await?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload_id),
            checksum_algorithm: sum.map(|s| s.algorithm()),
            checksum_type: sum.map(|s| s.kind()),
            server_side_encryption: enc.sse,
            sse_customer_algorithm: enc.algorithm,
            sse_customer_key_md5: enc.key_md5,
            ..Default::default()
        }))
    }

    pub(super) async fn upload_part_impl(&self, input: UploadPartInput, check: Option<ChecksumCheck>) -> S3Result<S3Response<UploadPartOutput>> {
        super::util::refuse_too_large(input.content_length)?;
        let given = encryption::customer_key(input.sse_customer_algorithm.as_deref(), input.sse_customer_key.as_deref(), input.sse_customer_key_md5.as_deref())?;
        let expected_md5 = util::parse_content_md5(input.content_md5.as_ref())?;
        let at = PartAt::new(input.bucket, input.key, input.upload_id, input.part_number)?;
        let declared_len = input.content_length.and_then(|l| u64::try_from(l).ok());
        let up = self.upload_of(&at).await?;
        let (seal, enc) = self.upload_key(&up, given.as_ref()).await?;
        let (part, sums) = match input.body {
            Some(body) => self.store_part(&at, up, body, declared_len, expected_md5, check, seal).await?,
            None => self.store_part(&at, up, futures::stream::empty::<Result<bytes::Bytes, GatewayError>>(), declared_len, expected_md5, check, seal).await?,
        };
        let mut out = UploadPartOutput {
            e_tag: Some(etag(&part.etag)),
            server_side_encryption: enc.sse,
            sse_customer_algorithm: enc.algorithm,
            sse_customer_key_md5: enc.key_md5,
            ..Default::default()
        };
        set_sum_fields!(out, sums);
        Ok(S3Response::new(out))
    }

    /// UploadPartCopy: a part made of (a byte range of) a stored object.
    pub(super) async fn upload_part_copy_impl(&self, input: UploadPartCopyInput, source_pin: Option<crate::access::Pin>) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let CopySource::Bucket { bucket: sb, key: sk, version_id } = &input.copy_source else {
            return Err(s3_error!(NotImplemented, "only bucket/key copy sources are supported"));
        };
        let given = encryption::customer_key(input.sse_customer_algorithm.as_deref(), input.sse_customer_key.as_deref(), input.sse_customer_key_md5.as_deref())?;
        let src_given = encryption::customer_key(
            input.copy_source_sse_customer_algorithm.as_deref(),
            input.copy_source_sse_customer_key.as_deref(),
            input.copy_source_sse_customer_key_md5.as_deref(),
        )?;
        let (sb, sk, sv) = (sb.to_string(), sk.to_string(), version_id.as_deref().map(str::to_owned));
        let at = PartAt::new(input.bucket, input.key, input.upload_id, input.part_number)?;
        // The upload must exist before the source is read.
        let up = self.upload_of(&at).await?;
        let (seal, enc) = self.upload_key(&up, given.as_ref()).await?;
        let (src, _, src_vref) = self.version_of(&sb, &sk, sv.as_deref()).await?;
        crate::access::Pin::check(source_pin.as_ref(), &src)?;
        let src_key = self.data_key(Sealed::of(&src.headers)?.as_ref(), src_given.as_ref()).await?;
        check_copy_source(
            &src,
            input.copy_source_if_match.as_ref(),
            input.copy_source_if_none_match.as_ref(),
            input.copy_source_if_modified_since.as_ref(),
            input.copy_source_if_unmodified_since.as_ref(),
        )?;
        let range = match &input.copy_source_range {
            Some(r) => parse_copy_range(r, src.size)?,
            None => 0..src.size,
        };
        let len = range.end - range.start;
        super::util::refuse_too_large(i64::try_from(len).ok())?;
        let stream = read_plain(self.store.clone(), sb, sk, std::sync::Arc::new(src), src_key, range)?;
        // An upload that keeps its parts' checksums gets this one's computed as it is copied.
        let (part, sums) = self.store_part(&at, up, stream, Some(len), None, None, seal).await?;
        let mut result = CopyPartResult { e_tag: Some(etag(&part.etag)), last_modified: Some(ts(part.modified_ms)), ..Default::default() };
        set_sum_fields!(result, sums);
        Ok(S3Response::new(UploadPartCopyOutput {
            copy_source_version_id: sv.map(|_| src_vref.to_string()),
            copy_part_result: Some(result),
            server_side_encryption: enc.sse,
            sse_customer_algorithm: enc.algorithm,
            sse_customer_key_md5: enc.key_md5,
            ..Default::default()
        }))
    }

    /// The data key an upload's parts are sealed with and its mode (`None`: it is not
    /// encrypted), and the encryption headers of a part's answer.
    async fn upload_key(&self, up: &UploadRecord, given: Option<&CustomerKey>) -> S3Result<(Option<(crate::sse::Key, crate::sse_io::Mode)>, encryption::Answer)> {
        let sealed = Sealed::of(&up.headers)?;
        let key = self.data_key(sealed.as_ref(), given).await?;
        Ok((key.zip(sealed.as_ref().map(|s| s.mode)), answer(sealed.as_ref(), given)))
    }

    /// The upload a part goes to (`NoSuchUpload` when there is none).
    async fn upload_of(&self, at: &PartAt) -> S3Result<UploadRecord> {
        let (b, k, u) = (at.bucket.clone(), at.key.clone(), at.upload_id.clone());
        Ok(self.meta(move |m| m.upload(&b, &k, &u)).await?)
    }

    /// Write a part's body (sealed under `data_key` when the upload is encrypted) and commit
    /// it to its upload `up` (replacing a part of that number). Returns the part and the
    /// checksums it was verified against or kept with (the upload's algorithm, computed).
    #[allow(clippy::too_many_arguments)]
    async fn store_part<S, E>(
        &self,
        at: &PartAt,
        up: UploadRecord,
        body: S,
        declared_len: Option<u64>,
        expected_md5: Option<[u8; 16]>,
        check: Option<ChecksumCheck>,
        seal: Option<(crate::sse::Key, crate::sse_io::Mode)>,
    ) -> S3Result<(PartRecord, Kept)>
    where
        S: futures::Stream<Item = Result<bytes::Bytes, E>> + Send + Unpin,
        E: std::fmt::Display,
    {
        let upload_sum = UploadSum::of(&up.headers);
        let check = match upload_sum {
            Some(u) => Some(ChecksumCheck::with_algorithm(check, u.alg)),
            None => check,
        };
        let label = ShardLabel {
            bucket: up.bucket,
            key: up.key,
            started_ms: now_ms(),
            declared_len,
            content_type: up.content_type,
            headers: up.headers,
            user_meta: up.user_meta,
            attrs_dropped: false,
        };
        let owner = Owner::labelled(at.owner_id, at.part_number, &label);
        let seal = seal.as_ref().map(|(k, m)| (k, *m));
        let (mut written, etag_md5) = match &check {
            Some(c) => write_body_sealed(&self.store, c.wrap(body), owner, seal).await?,
            None => write_body_sealed(&self.store, body, owner, seal).await?,
        };
        // Parts are never inline; were one, its bytes would be stored before the part's commit.
        written.keep_inline(&self.store).await?;
        let verified = match verify_body(check, expected_md5, written.md5) {
            Ok(v) => v,
            Err(e) => {
                self.discard(&written.segments).await;
                return Err(e.into());
            }
        };
        let checksum = upload_sum.and_then(|u| util::header(&verified, &format!("x-amz-checksum-{}", u.alg)).map(|value| PartChecksum { algorithm: u.alg.to_owned(), value }));
        let part = PartRecord {
            part_number: at.part_number,
            size: written.size,
            etag: hex::encode(etag_md5),
            modified_ms: now_ms(),
            coding: self.store.coding(),
            segments: written.segments,
            checksum,
        };
        let (b, k, u, p) = (at.bucket.clone(), at.key.clone(), at.upload_id.clone(), part.clone());
        if let Err(e) = self.meta(move |m| m.put_part(&b, &k, &u, &p)).await {
            // A commit that may still happen keeps its shards (their intents stay open).
            if !e.outcome_unknown() {
                self.discard(&part.segments).await;
            }
            return Err(e.into());
        }
        Ok((part, Kept::of(&verified)))
    }

    pub(super) async fn complete_multipart_impl(
        &self,
        input: CompleteMultipartUploadInput,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let listed: Vec<Listed> = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default()
            .into_iter()
            .map(|p| Listed {
                number: p.part_number.and_then(|n| u32::try_from(n).ok()).unwrap_or(0),
                etag: p.e_tag.map(|t| t.value().trim_matches('"').to_owned()).unwrap_or_default(),
                sums: Kept { crc32: p.checksum_crc32, crc32c: p.checksum_crc32c, sha1: p.checksum_sha1, sha256: p.checksum_sha256, crc64nvme: p.checksum_crc64nvme, composite: false },
            })
            .collect();
        let whole = Kept {
            crc32: input.checksum_crc32,
            crc32c: input.checksum_crc32c,
            sha1: input.checksum_sha1,
            sha256: input.checksum_sha256,
            crc64nvme: input.checksum_crc64nvme,
            composite: false,
        };
        if listed.is_empty() {
            return Err(s3_error!(MalformedXML, "The XML you provided was not well-formed or did not validate against our published schema: no parts"));
        }
        let cond = WriteCondition::parse(input.if_match, input.if_none_match)?;
        // An unknown upload is 404 whatever the conditions say (without conditions, the
        // completion itself finds it missing: no read spent on it here).
        if !cond.is_none() {
            let (b, k, u) = (input.bucket.clone(), input.key.clone(), input.upload_id.clone());
            if let Err(e) = self.meta(move |m| m.upload(&b, &k, &u)).await {
                if let Some(done) = self.repeated_completion(&input.bucket, &input.key, &input.upload_id, &e).await {
                    return done;
                }
                return Err(e.into());
            }
        }
        // Checked before the parts are read, and again by the commit.
        let expect = self.write_expect(&input.bucket, &input.key, &cond).await?;
        let versioning = self.versioning(&input.bucket).await?;
        let declared = match input.mpu_object_size {
            Some(s) => Some(u64::try_from(s).map_err(|_| s3_error!(InvalidArgument, "x-amz-mp-object-size may not be negative"))?),
            None => None,
        };
        let (b, k, u) = (input.bucket.clone(), input.key.clone(), input.upload_id.clone());
        let version_id: u128 = rand::random();
        let done = self
            .store
            .meta_call_with(move |m| {
                let mut built: Option<Manifest> = None;
                m.complete_upload_if::<GatewayError>(&b, &k, &u, expect, |up, parts| {
                    let mut man = assemble(up, parts, &listed, &whole, version_id)?;
                    man.headers.push((crate::sse_io::UPLOAD_HEADER.to_owned(), u.clone()));
                    if let Some(want) = declared.filter(|&w| w != man.size) {
                        return Err(GatewayError::InvalidArgument(format!(
                            "x-amz-mp-object-size says {want} bytes but the listed parts hold {}; the upload was not completed",
                            man.size
                        )));
                    }
                    built = Some(man.clone());
                    Ok((man, listed.iter().map(|l| l.number).collect()))
                })?;
                built.ok_or_else(|| GatewayError::Internal("complete produced no manifest".into()))
            })
            .await;
        let manifest = match done {
            Ok(m) => m,
            Err(e) => {
                if let Some(done) = self.repeated_completion(&input.bucket, &input.key, &input.upload_id, &e).await {
                    return done;
                }
                return Err(self.conditional_refusal(&input.bucket, &input.key, &cond, e).await);
            }
        };
        let mut done = completed(&input.bucket, &input.key, &manifest, super::versions::new_version_header(manifest.version_id, versioning))?;
        done.output.expiration = self.expiration_of_written(&input.bucket, &input.key, &manifest).await;
        Ok(done)
    }

    /// A completion repeated after it succeeded (its answer was lost) is answered again, as S3
    /// does, while the version it made is the key's current one: `error` (the completion's) is
    /// `NoSuchUpload` and that version names `upload_id`. The request's part list is not compared
    /// (the upload is gone).
    async fn repeated_completion(&self, bucket: &str, key: &str, upload_id: &str, error: &GatewayError) -> Option<S3Result<S3Response<CompleteMultipartUploadOutput>>> {
        if !error.is_no_such_upload() {
            return None;
        }
        // A key with no current version keeps the 404; a read that failed is answered as failed
        // (a 503 is retried, a 404 would be taken as final).
        let (m, tags, vref) = match self.version_of(bucket, key, None).await {
            Ok(found) => found,
            Err(e) if matches!(e.code().as_str(), "NoSuchKey" | "NoSuchVersion" | "NoSuchBucket" | "MethodNotAllowed") => return None,
            Err(e) => return Some(Err(e)),
        };
        if !m.headers.iter().any(|(k, v)| k == crate::sse_io::UPLOAD_HEADER && v == upload_id) {
            return None;
        }
        // The version as it is stored (`null` where it was written while versioning was suspended).
        let version = match self.versioning(bucket).await {
            Ok(v) => v.map(|_| vref.to_string()),
            Err(e) => return Some(Err(e.into())),
        };
        let mut done = completed(bucket, key, &m, version);
        if let Ok(d) = &mut done {
            // As the first answer said (the lifecycle rules as they are now).
            d.output.expiration = self.expiration_of(bucket, key, &m, &tags).await;
        }
        Some(done)
    }

    pub(super) async fn list_parts_impl(&self, input: ListPartsInput) -> S3Result<S3Response<ListPartsOutput>> {
        let (b, k, u) = (input.bucket.clone(), input.key.clone(), input.upload_id.clone());
        let up = self.meta(move |m| m.upload(&b, &k, &u)).await?;
        let sum = UploadSum::of(&up.headers);
        let (initiator, owner) = initiator_and_owner(&up);
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
            checksum_algorithm: sum.map(|s| s.algorithm()),
            checksum_type: sum.map(|s| s.kind()),
            initiator,
            owner,
            parts: Some(
                parts
                    .into_iter()
                    .map(|p| {
                        let mut part = Part {
                            part_number: i32::try_from(p.part_number).ok(),
                            size: i64::try_from(p.size).ok(),
                            e_tag: Some(etag(&p.etag)),
                            last_modified: Some(ts(p.modified_ms)),
                            ..Default::default()
                        };
                        if let Some(c) = p.checksum {
                            set_sum_fields!(part, Kept::one(&c.algorithm, c.value, false));
                        }
                        part
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
                    .map(|u| {
                        let sum = UploadSum::of(&u.headers);
                        let (initiator, owner) = initiator_and_owner(&u);
                        MultipartUpload {
                            initiator,
                            owner,
                            key: Some(u.key),
                            upload_id: Some(u.upload_id),
                            initiated: Some(ts(u.created_ms)),
                            checksum_algorithm: sum.map(|s| s.algorithm()),
                            checksum_type: sum.map(|s| s.kind()),
                            ..Default::default()
                        }
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }
}

/// CompleteMultipartUpload's answer for the version `manifest` it made.
fn completed(bucket: &str, key: &str, manifest: &Manifest, version_id: Option<String>) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    let enc = answer(Sealed::of(&manifest.headers)?.as_ref(), None);
    let mut out = CompleteMultipartUploadOutput {
        server_side_encryption: enc.sse,
        bucket: Some(bucket.to_owned()),
        key: Some(key.to_owned()),
        e_tag: Some(etag(&manifest.etag)),
        location: Some(format!("/{bucket}/{key}")),
        version_id,
        ..Default::default()
    };
    super::checksum::set_checksums!(out, Kept::of(&manifest.headers));
    Ok(S3Response::new(out))
}

/// The `Initiator` and `Owner` S3 answers for an upload: the key that created it.
fn initiator_and_owner(up: &UploadRecord) -> (Option<Initiator>, Option<s3s::dto::Owner>) {
    let id = crate::sse_io::initiator(&up.headers);
    (id.clone().map(|id| Initiator { display_name: Some(id.clone()), id: Some(id) }), id.map(|id| s3s::dto::Owner { display_name: Some(id.clone()), id: Some(id) }))
}

/// A part as a CompleteMultipartUpload lists it.
struct Listed {
    number: u32,
    /// Its ETag, unquoted.
    etag: String,
    /// The checksums the request gives for it.
    sums: Kept,
}

/// Check the checksums a completion gives (`listed` parts', `whole` the object's) against the
/// upload's, and the object's checksum and its parts' as its manifest keeps them (none when
/// the upload has no algorithm, or a part was stored before parts kept checksums).
fn object_checksum(up: &UploadRecord, used: &[(&Listed, &PartRecord)], whole: &Kept) -> Result<Vec<(String, String)>, GatewayError> {
    for (l, p) in used {
        // A part's checksum, when the request gives the one its upload keeps, must be it.
        if let Some(c) = &p.checksum {
            if l.sums.get(&c.algorithm).is_some_and(|g| g.trim() != c.value) {
                return Err(GatewayError::InvalidPart { part: l.number });
            }
        }
    }
    let Some(sum) = UploadSum::of(&up.headers) else {
        // Without an algorithm no part checksum was kept: an object checksum given now cannot
        // be checked without reading the object again, so it is not kept either.
        return Ok(Vec::new());
    };
    if let Some(other) = ALGS.iter().find(|a| **a != sum.alg && whole.get(a).is_some()) {
        return Err(GatewayError::InvalidArgument(format!("the upload was created with the {} checksum algorithm, not {other}", sum.alg)));
    }
    let parts: Option<Vec<(&str, u64)>> = used.iter().map(|(_, p)| p.checksum.as_ref().filter(|c| c.algorithm == sum.alg).map(|c| (c.value.as_str(), p.size))).collect();
    let Some(parts) = parts else { return Ok(Vec::new()) };
    let value = sum.combine(&parts)?;
    if let Some(given) = whole.get(sum.alg).map(str::trim) {
        // Clients send a composite checksum with its `-N` or without.
        if given != value && Some(given) != value.split_once('-').map(|(v, _)| v) {
            return Err(GatewayError::ChecksumMismatch { algorithm: sum.alg });
        }
    }
    let list: Vec<&str> = parts.iter().map(|(v, _)| *v).collect();
    Ok(vec![(format!("x-amz-checksum-{}", sum.alg), value), (crate::sse_io::PART_CHECKSUMS_HEADER.to_owned(), list.join(","))])
}

/// Build the final manifest from the stored parts the client listed (`whole`: the object
/// checksums the request gives).
fn assemble(up: &UploadRecord, parts: &[PartRecord], listed: &[Listed], whole: &Kept, version_id: u128) -> Result<Manifest, GatewayError> {
    let mut prev = 0u32;
    let mut md5s = Md5::new();
    let mut segments = Vec::new();
    let mut size = 0u64;
    let mut coding = None;
    let mut used = Vec::with_capacity(listed.len());
    for (i, l) in listed.iter().enumerate() {
        let n = &l.number;
        if *n <= prev {
            return Err(GatewayError::InvalidPartOrder);
        }
        prev = *n;
        let Some(p) = parts.iter().find(|p| p.part_number == *n) else {
            return Err(GatewayError::InvalidPart { part: *n });
        };
        if !p.etag.eq_ignore_ascii_case(&l.etag) {
            return Err(GatewayError::InvalidPart { part: *n });
        }
        if i + 1 < listed.len() && p.size < MIN_PART_SIZE {
            return Err(GatewayError::EntityTooSmall { part: *n, size: p.size });
        }
        used.push((l, p));
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
    // What only the upload needed stays with it.
    let mut headers: Vec<(String, String)> = up.headers.iter().filter(|(k, _)| !crate::sse_io::upload_only(k)).cloned().collect();
    headers.extend(object_checksum(up, &used, whole)?);
    let lens: Vec<String> = used.iter().map(|(_, p)| p.size.to_string()).collect();
    // An encrypted object's parts are sealed streams of their own: their lengths say where.
    // Any other multipart object keeps them for GET by partNumber.
    let name = if Sealed::of(&up.headers)?.is_some() { PARTS_HEADER } else { crate::sse_io::PART_SIZES_HEADER };
    headers.push((name.to_owned(), lens.join(",")));
    Ok(Manifest {
        version_id,
        size,
        etag: format!("{}-{}", hex::encode(digest), listed.len()),
        modified_ms: now_ms(),
        content_type: up.content_type.clone(),
        headers,
        user_meta: up.user_meta.clone(),
        parts: u32::try_from(listed.len()).unwrap_or(u32::MAX),
        coding,
        segments,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_copy_range;

    #[test]
    fn copy_ranges_are_inclusive_and_must_lie_within_the_source() {
        assert_eq!(parse_copy_range("bytes=0-0", 10).expect("one byte"), 0..1);
        assert_eq!(parse_copy_range("bytes=3-9", 10).expect("to the end"), 3..10);
        for (r, code) in [("bytes=3-10", "InvalidRange"), ("bytes=5-4", "InvalidRange"), ("bytes=-4", "InvalidArgument"), ("bytes=4-", "InvalidArgument"), ("3-4", "InvalidArgument"), ("bytes=a-b", "InvalidArgument")] {
            let e = parse_copy_range(r, 10).expect_err(r);
            assert_eq!(e.code().as_str(), code, "{r}");
        }
    }
}
