//! GetObjectAttributes: what a HEAD tells, as the attributes the request names (ETag, size,
//! storage class, parts), in one XML answer. Its ETag element is unquoted, as S3 sends it
//! there (s3s quotes every ETag element: [`unquote_etag`] undoes it for this answer).

use s3s::dto::*;
use s3s::{s3_error, S3Response, S3Result};

use super::util::{etag, ts};
use super::KintsugiS3;

/// The attributes a request names; an unknown name is `400 InvalidArgument`, as S3 answers.
#[derive(Debug, Default, PartialEq, Eq)]
struct Wanted {
    etag: bool,
    size: bool,
    storage_class: bool,
    parts: bool,
    checksum: bool,
}

fn wanted(list: &[ObjectAttributes]) -> S3Result<Wanted> {
    let mut w = Wanted::default();
    // Clients send one header of comma-separated names, which s3s hands over as one value.
    let names: Vec<&str> = list.iter().flat_map(|a| a.as_str().split(',')).map(str::trim).filter(|n| !n.is_empty()).collect();
    for name in &names {
        match *name {
            ObjectAttributes::ETAG => w.etag = true,
            ObjectAttributes::OBJECT_SIZE => w.size = true,
            ObjectAttributes::STORAGE_CLASS => w.storage_class = true,
            ObjectAttributes::OBJECT_PARTS => w.parts = true,
            ObjectAttributes::CHECKSUM => w.checksum = true,
            other => {
                return Err(s3_error!(
                    InvalidArgument,
                    "Invalid attribute name specified: {other:?}; x-amz-object-attributes takes ETag, Checksum, ObjectParts, StorageClass and ObjectSize"
                ))
            }
        }
    }
    if names.is_empty() {
        // S3's answer when the header is missing (which s3s gives) or empty.
        return Err(s3_error!(InvalidRequest, "The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty"));
    }
    Ok(w)
}

/// Whether a request is a GetObjectAttributes (a GET of an object with `?attributes`).
pub(crate) fn is_attributes_request(method: &http::Method, uri: &http::Uri) -> bool {
    method == http::Method::GET && uri.query().is_some_and(|q| q.split('&').any(|p| p == "attributes" || p.starts_with("attributes=")))
}

/// The answer `xml` with its `<ETag>` element's quotes taken off (`None`: nothing to change).
pub(crate) fn unquote_etag(xml: &[u8]) -> Option<Vec<u8>> {
    const OPEN: &[u8] = b"<ETag>\"";
    const CLOSE: &[u8] = b"\"</ETag>";
    let start = xml.windows(OPEN.len()).position(|w| w == OPEN)?;
    let end = start + xml[start..].windows(CLOSE.len()).position(|w| w == CLOSE)?;
    let mut out = Vec::with_capacity(xml.len());
    out.extend_from_slice(&xml[..start + OPEN.len() - 1]);
    out.extend_from_slice(&xml[start + OPEN.len()..end]);
    out.extend_from_slice(&xml[end + 1..]);
    Some(out)
}

impl KintsugiS3 {
    pub(super) async fn get_object_attributes_impl(&self, input: GetObjectAttributesInput) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        // An SSE-C object's attributes need its key, as its HEAD does.
        let given = super::encryption::customer_key(input.sse_customer_algorithm.as_deref(), input.sse_customer_key.as_deref(), input.sse_customer_key_md5.as_deref())?;
        let w = wanted(&input.object_attributes)?;
        let (m, _, vref) = self.version_of(&input.bucket, &input.key, input.version_id.as_deref()).await?;
        self.data_key(crate::sse_io::Sealed::of(&m.headers)?.as_ref(), given.as_ref()).await?;
        let version_id = super::versions::read_version_header(vref, input.version_id.as_deref());
        let mut out = GetObjectAttributesOutput { last_modified: Some(ts(m.modified_ms)), version_id, ..Default::default() };
        if w.etag {
            out.e_tag = Some(etag(&m.etag));
        }
        if w.size {
            out.object_size = i64::try_from(m.size).ok();
        }
        if w.storage_class {
            out.storage_class = Some(StorageClass::from_static(StorageClass::STANDARD));
        }
        // A multipart object's parts: their count, and (when it kept them) their sizes and
        // checksums, a page at a time (`max-parts`, `part-number-marker`). An object uploaded
        // in one PUT has no parts, as in S3.
        if w.parts && m.parts > 0 {
            out.object_parts = Some(object_parts(&m, input.max_parts, input.part_number_marker));
        }
        // The object's checksum: a PutObject's, or a multipart upload's composite or
        // full-object one.
        let sums = super::checksum::Kept::of(&m.headers);
        if w.checksum && sums.kind().is_some() {
            let mut checksum = Checksum::default();
            super::checksum::set_checksums!(checksum, sums);
            out.checksum = Some(checksum);
        }
        Ok(S3Response::new(out))
    }
}

/// The `ObjectParts` of a multipart object `m`: `max` parts (1 to 1000, 1000 unless asked)
/// after part number `marker`. Only the count for an object completed before parts' sizes
/// were kept.
fn object_parts(m: &kintsugi_meta::Manifest, max: Option<i32>, marker: Option<i32>) -> GetObjectAttributesParts {
    let total = i32::try_from(m.parts).ok();
    let Some(lens) = crate::sse_io::part_lengths(&m.headers) else {
        return GetObjectAttributesParts { total_parts_count: total, ..Default::default() };
    };
    let sums = super::part_sums::part_checksums(&m.headers);
    let composite = super::checksum::Kept::of(&m.headers).composite;
    let max = usize::try_from(max.unwrap_or(1000).clamp(1, 1000)).unwrap_or(1000);
    let after = usize::try_from(marker.unwrap_or(0).max(0)).unwrap_or(0);
    let parts: Vec<ObjectPart> = lens
        .iter()
        .enumerate()
        .skip(after)
        .take(max)
        .map(|(i, len)| {
            let mut part = ObjectPart { part_number: i32::try_from(i + 1).ok(), size: i64::try_from(*len).ok(), ..Default::default() };
            if let Some(v) = sums.as_ref().and_then(|(alg, list)| list.get(i).map(|v| (*alg, v))) {
                super::checksum::set_sum_fields!(part, super::checksum::Kept::one(v.0, v.1.clone(), composite));
            }
            part
        })
        .collect();
    let truncated = after.saturating_add(parts.len()) < lens.len();
    GetObjectAttributesParts {
        total_parts_count: total,
        part_number_marker: marker,
        next_part_number_marker: if truncated { parts.last().and_then(|p| p.part_number) } else { None },
        max_parts: i32::try_from(max).ok(),
        is_truncated: Some(truncated),
        parts: Some(parts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_names_are_s3s_and_nothing_else() {
        let names = |v: &[&'static str]| v.iter().map(|s| ObjectAttributes::from_static(s)).collect::<Vec<_>>();
        let w = wanted(&names(&["ETag", "ObjectSize", "StorageClass", "ObjectParts", "Checksum"])).expect("every name S3 has");
        assert_eq!(w, Wanted { etag: true, size: true, storage_class: true, parts: true, checksum: true });
        assert_eq!(wanted(&names(&["ObjectSize"])).expect("one"), Wanted { size: true, ..Wanted::default() });
        // One header value, as clients send it.
        assert_eq!(wanted(&names(&["ETag, ObjectSize"])).expect("a list in one value"), Wanted { etag: true, size: true, ..Wanted::default() });
        for bad in [&["etag"][..], &["ETag", "Owner"][..], &["ETag,Owner"][..]] {
            let e = wanted(&names(bad)).expect_err("refused");
            assert_eq!(e.code().as_str(), "InvalidArgument", "{bad:?}");
        }
        for empty in [&[][..], &[" , "][..]] {
            assert_eq!(wanted(&names(empty)).expect_err("refused").code().as_str(), "InvalidRequest", "{empty:?}");
        }
    }

    #[test]
    fn the_etag_element_loses_its_quotes_and_nothing_else_changes() {
        let xml = br#"<?xml version="1.0"?><GetObjectAttributesResponse><ETag>"d41d8-2"</ETag><ObjectSize>5</ObjectSize></GetObjectAttributesResponse>"#;
        let out = unquote_etag(xml).expect("an ETag to unquote");
        assert_eq!(out, br#"<?xml version="1.0"?><GetObjectAttributesResponse><ETag>d41d8-2</ETag><ObjectSize>5</ObjectSize></GetObjectAttributesResponse>"#);
        assert_eq!(unquote_etag(&out), None, "already unquoted");
        assert_eq!(unquote_etag(b"<ObjectSize>5</ObjectSize>"), None);
        let get = |q: &str| is_attributes_request(&http::Method::GET, &q.parse().expect("uri"));
        assert!(get("/b/k?attributes") && get("/b/k?versionId=null&attributes="));
        assert!(!get("/b/k?attributes-x=1") && !get("/b/k") && !get("/b?acl"));
        assert!(!is_attributes_request(&http::Method::HEAD, &"/b/k?attributes".parse().expect("uri")));
    }
}
