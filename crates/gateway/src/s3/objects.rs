//! Object operations: PUT, GET, HEAD, COPY and batch DELETE (listings: `listing.rs`).

use std::sync::Arc;

use futures::StreamExt;

use kintsugi_meta::{now_ms, Expect, Manifest, MetaRead, SegmentMeta, ShardLabel, VersionLock};
use s3s::dto::*;
use s3s::{s3_error, S3Error, S3Response, S3Result};

use super::checksum::{checksum_headers, set_checksums, verify_body, without_composite, ChecksumCheck, Kept};
use super::encryption::{self, answer, Asked};
use super::conditions::{check_copy_source, check_read, WriteCondition};
use super::util::{self, etag, ts};
use crate::access::{Pin, Principal};
use super::lock::{asked_lock, lock_headers};
use super::versions::{new_version_header, read_version_header};
use super::KintsugiS3;
use crate::error::GatewayError;
use crate::put::Owner;
use crate::sse_io::{read_plain, write_body_sealed, Sealed};

/// Most keys one DeleteObjects request may name (S3's limit).
const MAX_DELETE_KEYS: usize = 1000;

/// Which versions of a DeleteObjects request may bypass GOVERNANCE retention.
pub(super) enum Bypass {
    /// Every one (an admin key asked).
    All,
    /// Those the access check allowed, key by key (none when it was not asked).
    Keys(crate::access::BypassKeys),
}

/// Fields of a new manifest that come from the request rather than the data.
pub(super) struct ObjectAttrs {
    pub content_type: Option<String>,
    pub headers: Vec<(String, String)>,
    pub user_meta: Vec<(String, String)>,
    /// The body's length as the client declared it (written into shard labels).
    pub declared_len: Option<u64>,
    /// The new version's tags.
    pub tags: Vec<(String, String)>,
    /// The retention and legal hold its write asked for.
    pub lock: Option<VersionLock>,
    /// The encryption its write asked for.
    pub sse: Asked,
    /// Its ACL, as stored (`None`: the default).
    pub acl: Option<String>,
}

impl KintsugiS3 {
    /// Hand segments that will not be committed to garbage collection.
    pub(super) async fn discard(&self, segments: &[SegmentMeta]) {
        let ids: Vec<u128> = segments.iter().map(|s| s.id).collect();
        if ids.is_empty() {
            return;
        }
        if let Err(e) = self.meta(move |m| m.intents_to_garbage(&ids)).await {
            tracing::warn!(error = %e, "could not queue discarded shards for GC; the intent sweep collects them later");
        }
    }

    /// The key's current version, for a write's conditions (`None` when it is unconditional).
    pub(super) async fn write_expect(&self, bucket: &str, key: &str, cond: &WriteCondition) -> S3Result<Expect> {
        if cond.is_none() {
            return Ok(Expect::Any);
        }
        let (b, k) = (bucket.to_owned(), key.to_owned());
        let current = self.meta(move |m| m.object(&b, &k)).await?;
        cond.expect(bucket, key, current.as_ref())
    }

    /// The answer to a conditional commit refused by its compare-and-swap.
    pub(super) async fn conditional_refusal(&self, bucket: &str, key: &str, cond: &WriteCondition, e: GatewayError) -> S3Error {
        if !e.is_version_conflict() {
            return e.into();
        }
        let (b, k) = (bucket.to_owned(), key.to_owned());
        match self.meta(move |m| m.object(&b, &k)).await {
            Ok(current) => cond.lost_race(bucket, key, current.as_ref()),
            Err(e) => e.into(),
        }
    }

    /// Write a body and commit it as `bucket/key` if `cond` holds. Returns the new manifest
    /// and its `x-amz-version-id`.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn store_object<S, E>(
        &self,
        bucket: &str,
        key: &str,
        body: S,
        expected_md5: Option<[u8; 16]>,
        check: Option<ChecksumCheck>,
        attrs: ObjectAttrs,
        cond: &WriteCondition,
    ) -> S3Result<(Manifest, Option<String>)>
    where
        S: futures::Stream<Item = Result<bytes::Bytes, E>> + Send + Unpin,
        E: std::fmt::Display,
    {
        let versioning = self.versioning(bucket).await?;
        if attrs.lock.is_some() {
            // Checked before the body is read (and again by the commit).
            self.require_lock_configuration(bucket).await?;
        }
        // Checked before the body is read, and again by the commit.
        let expect = self.write_expect(bucket, key, cond).await?;
        let version_id: u128 = rand::random();
        // An encrypted version's description is among its headers (and its shards' labels);
        // one a copy brought from its source is dropped: the new version is sealed anew.
        let sealed = self.new_sealed(bucket, &attrs.sse).await?;
        let mut headers: Vec<(String, String)> = attrs.headers.into_iter().filter(|(k, _)| !crate::sse_io::is_internal(k)).collect();
        headers.extend(sealed.as_ref().map(|(_, s)| s.header()));
        headers.extend(attrs.acl.map(|a| (crate::acl::HEADER.to_owned(), a)));
        let seal = sealed.map(|(k, s)| (k, s.mode));
        let content_type = util::content_type_or_default(attrs.content_type);
        let label = ShardLabel {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            started_ms: now_ms(),
            declared_len: attrs.declared_len,
            content_type: content_type.clone(),
            headers: headers.clone(),
            user_meta: attrs.user_meta.clone(),
            attrs_dropped: false,
        };
        let owner = Owner::labelled(version_id, 0, &label);
        let seal = seal.as_ref().map(|(k, m)| (k, *m));
        let (mut written, etag_md5) = match &check {
            Some(c) => write_body_sealed(&self.store, c.wrap(body), owner, seal).await?,
            None => write_body_sealed(&self.store, body, owner, seal).await?,
        };
        // A small body's bytes go with the commit (nothing stored if it is refused).
        let inline = written.inline.take();
        let verified = match verify_body(check, expected_md5, written.md5) {
            Ok(v) => v,
            Err(e) => {
                self.discard(&written.segments).await;
                return Err(e.into());
            }
        };
        // The checksums verified are kept with the version (a copy brings its source's).
        headers.extend(verified);
        let manifest = Manifest {
            version_id,
            size: written.size,
            etag: hex::encode(etag_md5),
            modified_ms: now_ms(),
            content_type,
            headers,
            user_meta: attrs.user_meta,
            parts: 0,
            coding: self.store.coding(),
            segments: written.segments,
        };
        let (b, k, m, t, l) = (bucket.to_owned(), key.to_owned(), manifest.clone(), attrs.tags, attrs.lock);
        let commit = move |meta: &kintsugi_meta::RocksMeta| match inline {
            Some(i) => meta.put_object_inline(&b, &k, &m, expect, &t, l.as_ref(), i.segment, i.data),
            None => meta.put_object_locked(&b, &k, &m, expect, &t, l.as_ref()),
        };
        if let Err(e) = self.meta(commit).await {
            // A commit that may still happen keeps its shards (their intents stay open).
            if !e.outcome_unknown() {
                self.discard(&manifest.segments).await;
            }
            return Err(self.conditional_refusal(bucket, key, cond, e).await);
        }
        let version = new_version_header(manifest.version_id, versioning);
        Ok((manifest, version))
    }

    pub(super) async fn put_object_impl(&self, input: PutObjectInput, check: Option<ChecksumCheck>, writer: &Principal) -> S3Result<S3Response<PutObjectOutput>> {
        util::refuse_too_large(input.content_length)?;
        let expected_md5 = util::parse_content_md5(input.content_md5.as_ref())?;
        util::refuse_unbuilt_write!(input);
        let acl = self.object_write_acl(&input.bucket, writer, &util::acl_asked!(input)).await?;
        let sse = util::sse_asked!(input);
        let given = sse.customer().cloned();
        let cond = WriteCondition::parse(input.if_match, input.if_none_match)?;
        if input.write_offset_bytes.is_some() {
            return Err(s3_error!(NotImplemented, "appends (x-amz-write-offset-bytes) are not supported, so nothing was stored: write the whole object"));
        }
        let attrs = ObjectAttrs {
            content_type: input.content_type,
            headers: util::with_expires(util::std_headers(input.cache_control, input.content_disposition, input.content_encoding, input.content_language), input.expires),
            user_meta: util::meta_to_vec(input.metadata),
            declared_len: input.content_length.and_then(|l| u64::try_from(l).ok()),
            tags: super::tagging::parse_header(input.tagging.as_deref())?,
            lock: asked_lock(input.object_lock_mode.as_ref(), input.object_lock_retain_until_date.as_ref(), input.object_lock_legal_hold_status.as_ref())?,
            sse,
            acl,
        };
        let tags = attrs.tags.clone();
        let (manifest, version_id) = match input.body {
            Some(body) => self.store_object(&input.bucket, &input.key, body, expected_md5, check, attrs, &cond).await?,
            None => {
                let empty = futures::stream::empty::<Result<bytes::Bytes, GatewayError>>();
                self.store_object(&input.bucket, &input.key, empty, expected_md5, check, attrs, &cond).await?
            }
        };
        let expiration = self.expiration_of(&input.bucket, &input.key, &manifest, &tags).await;
        let enc = answer(Sealed::of(&manifest.headers)?.as_ref(), given.as_ref());
        let mut out = PutObjectOutput {
            e_tag: Some(etag(&manifest.etag)),
            size: i64::try_from(manifest.size).ok(),
            version_id,
            expiration,
            server_side_encryption: enc.sse,
            sse_customer_algorithm: enc.algorithm,
            sse_customer_key_md5: enc.key_md5,
            ..Default::default()
        };
        set_checksums!(out, Kept::of(&manifest.headers));
        Ok(S3Response::new(out))
    }

    pub(super) async fn get_object_impl(&self, input: GetObjectInput, visible: Option<crate::access::LockVisible>, pin: Option<Pin>) -> S3Result<S3Response<GetObjectOutput>> {
        util::check_overrides(&[
            input.response_content_type.as_ref(),
            input.response_cache_control.as_ref(),
            input.response_content_disposition.as_ref(),
            input.response_content_encoding.as_ref(),
            input.response_content_language.as_ref(),
        ])?;
        let given = encryption::customer_key(input.sse_customer_algorithm.as_deref(), input.sse_customer_key.as_deref(), input.sse_customer_key_md5.as_deref())?;
        let (manifest, tags, vref, lock) = self.version_with_lock(&input.bucket, &input.key, input.version_id.as_deref()).await?;
        Pin::check(pin.as_ref(), &manifest)?;
        let sealed = Sealed::of(&manifest.headers)?;
        let data_key = self.data_key(sealed.as_ref(), given.as_ref()).await?;
        let enc = answer(sealed.as_ref(), given.as_ref());
        let part = part_range(&manifest, input.part_number, input.range.as_ref())?;
        check_read(
            &manifest,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        )?;
        let size = manifest.size;
        let (range, content_range) = match (&input.range, part) {
            (_, Some(p)) => {
                let cr = format!("bytes {}-{}/{}", p.start, p.end.max(p.start + 1) - 1, size);
                (p, Some(cr))
            }
            (Some(r), None) => {
                let rg = r.check(size).map_err(|_| s3_error!(InvalidRange, "range not satisfiable for object of {size} bytes"))?;
                let cr = format!("bytes {}-{}/{}", rg.start, rg.end - 1, size);
                (rg, Some(cr))
            }
            (None, None) => (0..size, None),
        };
        let len = range.end - range.start;
        let expiration = match input.version_id {
            None => self.expiration_of(&input.bucket, &input.key, &manifest, &tags).await,
            Some(_) => None,
        };
        let manifest = Arc::new(manifest);
        let mut stream = read_plain(self.store.clone(), input.bucket, input.key, manifest.clone(), data_key, range)?;
        // Read the first stripe before the status line goes out, so an object
        // that cannot be read (more than m shards gone) gets a 503, not a 200
        // with a cut-off body. Later failures can only cut the body short.
        let first = match futures::StreamExt::next(&mut stream).await {
            Some(Err(e)) => return Err(e.into()),
            other => other,
        };
        let stream = futures::stream::iter(first).chain(stream);
        let (object_lock_mode, object_lock_retain_until_date, object_lock_legal_hold_status) = lock_headers(&lock, visible);
        let sums = Kept::for_read(&manifest.headers, input.checksum_mode.as_ref(), content_range.is_none(), input.part_number);
        let mut out = GetObjectOutput {
            body: Some(StreamingBlob::wrap(stream)),
            content_length: i64::try_from(len).ok(),
            content_range,
            accept_ranges: Some("bytes".into()),
            e_tag: Some(etag(&manifest.etag)),
            last_modified: Some(ts(manifest.modified_ms)),
            metadata: util::vec_to_meta(&manifest.user_meta),
            // A signed request may override the stored headers (S3's response-* parameters).
            content_type: input.response_content_type.or_else(|| manifest.content_type.clone()),
            cache_control: input.response_cache_control.or_else(|| util::header(&manifest.headers, "cache-control")),
            content_disposition: input.response_content_disposition.or_else(|| util::header(&manifest.headers, "content-disposition")),
            content_encoding: input.response_content_encoding.or_else(|| util::header(&manifest.headers, "content-encoding")),
            content_language: input.response_content_language.or_else(|| util::header(&manifest.headers, "content-language")),
            expires: input.response_expires.or_else(|| util::expires_of(&manifest.headers)),
            parts_count: (manifest.parts > 0).then(|| i32::try_from(manifest.parts).unwrap_or(i32::MAX)),
            tag_count: (!tags.is_empty()).then(|| i32::try_from(tags.len()).unwrap_or(i32::MAX)),
            version_id: read_version_header(vref, input.version_id.as_deref()),
            object_lock_mode,
            object_lock_retain_until_date,
            object_lock_legal_hold_status,
            expiration,
            server_side_encryption: enc.sse,
            sse_customer_algorithm: enc.algorithm,
            sse_customer_key_md5: enc.key_md5,
            ..Default::default()
        };
        set_checksums!(out, sums);
        Ok(S3Response::new(out))
    }

    pub(super) async fn head_object_impl(&self, input: HeadObjectInput, visible: Option<crate::access::LockVisible>, pin: Option<Pin>) -> S3Result<S3Response<HeadObjectOutput>> {
        util::check_overrides(&[
            input.response_content_type.as_ref(),
            input.response_cache_control.as_ref(),
            input.response_content_disposition.as_ref(),
            input.response_content_encoding.as_ref(),
            input.response_content_language.as_ref(),
        ])?;
        let given = encryption::customer_key(input.sse_customer_algorithm.as_deref(), input.sse_customer_key.as_deref(), input.sse_customer_key_md5.as_deref())?;
        let (manifest, tags, vref, lock) = self.version_with_lock(&input.bucket, &input.key, input.version_id.as_deref()).await?;
        Pin::check(pin.as_ref(), &manifest)?;
        let sealed = Sealed::of(&manifest.headers)?;
        self.data_key(sealed.as_ref(), given.as_ref()).await?;
        let enc = answer(sealed.as_ref(), given.as_ref());
        let part = part_range(&manifest, input.part_number, input.range.as_ref())?;
        check_read(
            &manifest,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        )?;
        // HEAD with a Range (or a part) answers as the ranged GET would: 206, the range's length.
        let (len, content_range) = match (&input.range, part) {
            (_, Some(p)) => (p.end - p.start, Some(format!("bytes {}-{}/{}", p.start, p.end.max(p.start + 1) - 1, manifest.size))),
            (Some(r), None) => {
                let rg = r.check(manifest.size).map_err(|_| s3_error!(InvalidRange, "range not satisfiable for object of {} bytes", manifest.size))?;
                (rg.end - rg.start, Some(format!("bytes {}-{}/{}", rg.start, rg.end - 1, manifest.size)))
            }
            (None, None) => (manifest.size, None),
        };
        let (object_lock_mode, object_lock_retain_until_date, object_lock_legal_hold_status) = lock_headers(&lock, visible);
        let sums = Kept::for_read(&manifest.headers, input.checksum_mode.as_ref(), content_range.is_none(), input.part_number);
        // (s3s sends HeadObject as 200 whatever the output says: `http.rs` makes a HEAD that
        // carries a Content-Range a 206.)
        let mut out = HeadObjectOutput {
            content_length: i64::try_from(len).ok(),
            content_range,
            accept_ranges: Some("bytes".into()),
            e_tag: Some(etag(&manifest.etag)),
            last_modified: Some(ts(manifest.modified_ms)),
            metadata: util::vec_to_meta(&manifest.user_meta),
            content_type: input.response_content_type.or_else(|| manifest.content_type.clone()),
            cache_control: input.response_cache_control.or_else(|| util::header(&manifest.headers, "cache-control")),
            content_disposition: input.response_content_disposition.or_else(|| util::header(&manifest.headers, "content-disposition")),
            content_encoding: input.response_content_encoding.or_else(|| util::header(&manifest.headers, "content-encoding")),
            content_language: input.response_content_language.or_else(|| util::header(&manifest.headers, "content-language")),
            expires: input.response_expires.or_else(|| util::expires_of(&manifest.headers)),
            parts_count: (manifest.parts > 0).then(|| i32::try_from(manifest.parts).unwrap_or(i32::MAX)),
            version_id: read_version_header(vref, input.version_id.as_deref()),
            object_lock_mode,
            object_lock_retain_until_date,
            object_lock_legal_hold_status,
            expiration: match input.version_id {
                None => self.expiration_of(&input.bucket, &input.key, &manifest, &tags).await,
                Some(_) => None,
            },
            server_side_encryption: enc.sse,
            sse_customer_algorithm: enc.algorithm,
            sse_customer_key_md5: enc.key_md5,
            ..Default::default()
        };
        set_checksums!(out, sums);
        let mut resp = S3Response::new(out);
        // As GET answers it (s3s's HeadObject output has no field for it; S3 and Ceph send it).
        if !tags.is_empty() {
            resp.headers.insert(http::HeaderName::from_static("x-amz-tagging-count"), http::HeaderValue::from(tags.len()));
        }
        Ok(resp)
    }

    pub(super) async fn copy_object_impl(&self, input: CopyObjectInput, writer: &Principal, source_pin: Option<Pin>) -> S3Result<S3Response<CopyObjectOutput>> {
        let CopySource::Bucket { bucket: sb, key: sk, version_id } = &input.copy_source else {
            return Err(s3_error!(NotImplemented, "only bucket/key copy sources are supported"));
        };
        util::refuse_unbuilt_write!(input);
        // A copy's ACL is what its request asks for, never its source's.
        let acl = self.object_write_acl(&input.bucket, writer, &util::acl_asked!(input)).await?;
        let sse = util::sse_asked!(input);
        let given = sse.customer().cloned();
        let src_given = encryption::customer_key(
            input.copy_source_sse_customer_algorithm.as_deref(),
            input.copy_source_sse_customer_key.as_deref(),
            input.copy_source_sse_customer_key_md5.as_deref(),
        )?;
        let (sb, sk, sv) = (sb.to_string(), sk.to_string(), version_id.as_deref().map(str::to_owned));
        let (src, src_tags, src_vref) = self.version_of(&sb, &sk, sv.as_deref()).await?;
        Pin::check(source_pin.as_ref(), &src)?;
        let src_key = self.data_key(Sealed::of(&src.headers)?.as_ref(), src_given.as_ref()).await?;
        check_copy_source(
            &src,
            input.copy_source_if_match.as_ref(),
            input.copy_source_if_none_match.as_ref(),
            input.copy_source_if_modified_since.as_ref(),
            input.copy_source_if_unmodified_since.as_ref(),
        )?;
        let replace = input.metadata_directive.as_ref().is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        if sb == input.bucket && sk == input.key && !replace && sv.is_none() && matches!(sse, Asked::Default) {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata"
            ));
        }
        // Tags are copied unless the request replaces them (x-amz-tagging-directive: REPLACE).
        let tags = match input.tagging_directive.as_ref().map(TaggingDirective::as_str) {
            Some(TaggingDirective::REPLACE) => super::tagging::parse_header(input.tagging.as_deref())?,
            _ => src_tags,
        };
        let lock = asked_lock(input.object_lock_mode.as_ref(), input.object_lock_retain_until_date.as_ref(), input.object_lock_legal_hold_status.as_ref())?;
        let copy_tags = tags.clone();
        let attrs = if replace {
            ObjectAttrs {
                content_type: input.content_type,
                // The bytes are the source's, so are their checksums.
                headers: [util::with_expires(util::std_headers(input.cache_control, input.content_disposition, input.content_encoding, input.content_language), input.expires), checksum_headers(&src.headers)].concat(),
                user_meta: util::meta_to_vec(input.metadata),
                declared_len: Some(src.size),
                tags,
                lock,
                sse,
                acl,
            }
        } else {
            // The source's encryption is not copied (`store_object` drops its internal headers):
            // the copy is encrypted as its request asks.
            ObjectAttrs { content_type: src.content_type.clone(), headers: without_composite(&src.headers), user_meta: src.user_meta.clone(), declared_len: Some(src.size), tags, lock, sse, acl }
        };
        let size = src.size;
        let stream = read_plain(self.store.clone(), sb, sk, Arc::new(src), src_key, 0..size)?;
        let (manifest, version_id) = self.store_object(&input.bucket, &input.key, stream, None, None, attrs, &WriteCondition::default()).await?;
        let enc = answer(Sealed::of(&manifest.headers)?.as_ref(), given.as_ref());
        let expiration = self.expiration_of(&input.bucket, &input.key, &manifest, &copy_tags).await;
        Ok(S3Response::new(CopyObjectOutput {
            expiration,
            copy_object_result: Some({
                let mut result = CopyObjectResult { e_tag: Some(etag(&manifest.etag)), last_modified: Some(ts(manifest.modified_ms)), ..Default::default() };
                set_checksums!(result, Kept::of(&manifest.headers));
                result
            }),
            copy_source_version_id: read_version_header(src_vref, sv.as_deref()),
            version_id,
            server_side_encryption: enc.sse,
            sse_customer_algorithm: enc.algorithm,
            sse_customer_key_md5: enc.key_md5,
            ..Default::default()
        }))
    }

    /// DeleteObjects; the keys in `denied` are answered `AccessDenied` (the access check found
    /// the caller may not delete them) and kept.
    pub(super) async fn delete_objects_impl(&self, input: DeleteObjectsInput, denied: &crate::access::DeniedKeys, bypass: &Bypass) -> S3Result<S3Response<DeleteObjectsOutput>> {
        if input.delete.objects.len() > MAX_DELETE_KEYS {
            return Err(s3_error!(MalformedXML, "a DeleteObjects request names {} keys; at most {MAX_DELETE_KEYS} per request", input.delete.objects.len()));
        }
        self.require_bucket(&input.bucket).await?;
        let quiet = input.delete.quiet.unwrap_or(false);
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for obj in input.delete.objects {
            let cond = WriteCondition::delete(obj.e_tag.map(ETagCondition::ETag), obj.last_modified_time.as_ref(), obj.size);
            let done = match super::versions::parse_version(obj.version_id.as_deref()) {
                Ok(_) if denied.0.contains(&(obj.key.clone(), obj.version_id.clone())) => Err(s3_error!(AccessDenied, "the policy of bucket {} does not let you delete {}", input.bucket, obj.key)),
                Ok(Some(v)) => {
                    let may = match bypass {
                        Bypass::All => true,
                        Bypass::Keys(k) => k.0.contains(&(obj.key.clone(), obj.version_id.clone())),
                    };
                    self.delete_version(&input.bucket, &obj.key, v, may).await
                }
                Ok(None) => self.delete_one(&input.bucket, &obj.key, &cond).await,
                Err(e) => Err(e),
            };
            match done {
                Ok((version, marker)) => {
                    if !quiet {
                        // A marker made is named in DeleteMarkerVersionId; a version removed in VersionId.
                        let (version_id, delete_marker_version_id) = match (&obj.version_id, marker) {
                            (Some(_), true) => (version.clone(), version),
                            (Some(_), false) => (version, None),
                            (None, _) => (None, version),
                        };
                        deleted.push(DeletedObject { key: Some(obj.key), version_id, delete_marker: marker.then_some(true), delete_marker_version_id });
                    }
                }
                Err(e) => errors.push(Error {
                    code: Some(e.code().as_str().to_owned()),
                    key: Some(obj.key),
                    message: e.message().map(str::to_owned),
                    version_id: obj.version_id,
                }),
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput { deleted: Some(deleted), errors: Some(errors), ..Default::default() }))
    }

    /// Delete `bucket/key` if `cond` holds (a missing key is no error unless a condition
    /// names it, as S3). Returns the delete marker made, if any (its id, and `true`).
    pub(super) async fn delete_one(&self, bucket: &str, key: &str, cond: &WriteCondition) -> S3Result<(Option<String>, bool)> {
        let expect = self.write_expect(bucket, key, cond).await?;
        let (b, k) = (bucket.to_owned(), key.to_owned());
        match self.meta(move |m| m.delete_object(&b, &k, expect)).await {
            Ok(d) => Ok((d.vref.map(|v| v.to_string()), d.marker)),
            Err(e) => Err(self.conditional_refusal(bucket, key, cond, e).await),
        }
    }
}

/// The bytes GET or HEAD `?partNumber=` names: `None` for the whole object (no part number,
/// or part 1 of an object of one part), else that part's range of a multipart object.
fn part_range(m: &Manifest, part_number: Option<i32>, range: Option<&Range>) -> S3Result<Option<std::ops::Range<u64>>> {
    let Some(n) = part_number else { return Ok(None) };
    if range.is_some() {
        return Err(s3_error!(InvalidRequest, "Cannot specify both Range header and partNumber query parameter"));
    }
    let unsatisfiable = |what: &str| {
        // S3's code for it; s3s has no variant of its own.
        let mut e = S3Error::with_message(s3s::S3ErrorCode::Custom("InvalidPartNumber".into()), format!("The requested partnumber {n} is not satisfiable: {what}"));
        e.set_status_code(http::StatusCode::RANGE_NOT_SATISFIABLE);
        e
    };
    if m.parts == 0 {
        return if n == 1 { Ok(None) } else { Err(unsatisfiable("the object has one part")) };
    }
    let Some(lens) = crate::sse_io::part_lengths(&m.headers) else {
        return Err(s3_error!(NotImplemented, "GET and HEAD by partNumber are not supported for a multipart object completed before this version kept its parts' sizes; use a Range"));
    };
    let i = usize::try_from(n).ok().and_then(|n| n.checked_sub(1)).filter(|i| *i < lens.len()).ok_or_else(|| unsatisfiable(&format!("the object has {} parts", lens.len())))?;
    let start: u64 = lens[..i].iter().sum();
    Ok(Some(start..start + lens[i]))
}
