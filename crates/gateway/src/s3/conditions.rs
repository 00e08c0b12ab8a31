//! Conditional requests as S3 evaluates them: reads (If-Match, If-None-Match,
//! If-(Un)Modified-Since → 412 or 304), copy sources (the `x-amz-copy-source-if-*`
//! headers → 412) and writes (If-None-Match — `*` or ETags — and If-Match on PUT and
//! CompleteMultipartUpload → the compare-and-swap the commit carries).
//!
//! Everything here is pure: it looks at the current manifest (or its absence) and the
//! request's headers. The write conditions are checked twice: before the body is read
//! (so a write that cannot succeed costs no upload) and by the commit itself, whose
//! [`Expect`] makes the check and the write one atomic step.

use http::{HeaderMap, HeaderValue};
use kintsugi_meta::{Expect, Manifest};
use s3s::dto::{ETagCondition, Timestamp};
use s3s::{s3_error, S3Error, S3Result};

/// Why a read's conditions failed.
#[derive(Debug, PartialEq, Eq)]
enum Failed {
    /// If-Match or If-Unmodified-Since: 412.
    Precondition,
    /// If-None-Match or If-Modified-Since: 304 for a read.
    NotModified,
}

/// Whether the condition names `m`'s ETag. s3s hands a header's whole value over as one ETag,
/// so a list (`"a", "b"`, RFC 9110) arrives as one value with quotes and commas inside: it is
/// split here, each entry compared without its `W/` and quotes, and any match counts.
fn etag_matches(c: &ETagCondition, m: &Manifest) -> bool {
    match c {
        ETagCondition::Any => true,
        ETagCondition::ETag(e) => e.value().split(',').map(|t| t.trim().trim_start_matches("W/").trim_matches('"')).any(|t| t == "*" || t == m.etag),
    }
}

fn unix_secs(t: &Timestamp) -> i64 {
    time::OffsetDateTime::from(t.clone()).unix_timestamp()
}

/// The four conditions in RFC 7232's order, as S3 applies them: If-Match wins over
/// If-Unmodified-Since, If-None-Match over If-Modified-Since.
fn evaluate(
    m: &Manifest,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> Option<Failed> {
    let modified_s = m.modified_ms.div_euclid(1000);
    if let Some(c) = if_match {
        if !etag_matches(c, m) {
            return Some(Failed::Precondition);
        }
    } else if let Some(t) = if_unmodified_since {
        if modified_s > unix_secs(t) {
            return Some(Failed::Precondition);
        }
    }
    if let Some(c) = if_none_match {
        if etag_matches(c, m) {
            return Some(Failed::NotModified);
        }
    } else if let Some(t) = if_modified_since {
        if modified_s <= unix_secs(t) {
            return Some(Failed::NotModified);
        }
    }
    None
}

fn precondition_failed() -> S3Error {
    s3_error!(PreconditionFailed, "At least one of the pre-conditions you specified did not hold")
}

/// A GET's or HEAD's conditions: 412 PreconditionFailed, or 304 NotModified carrying the
/// object's ETag and Last-Modified (as RFC 7232 asks of a 304).
pub(super) fn check_read(
    m: &Manifest,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> S3Result<()> {
    match evaluate(m, if_match, if_none_match, if_modified_since, if_unmodified_since) {
        None => Ok(()),
        Some(Failed::Precondition) => Err(precondition_failed()),
        Some(Failed::NotModified) => {
            let mut e = s3_error!(NotModified);
            let mut h = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", m.etag)) {
                h.insert(http::header::ETAG, v);
            }
            let when = super::util::ts(m.modified_ms);
            let mut fmt = Vec::new();
            if when.format(s3s::dto::TimestampFormat::HttpDate, &mut fmt).is_ok() {
                if let Ok(v) = HeaderValue::from_bytes(&fmt) {
                    h.insert(http::header::LAST_MODIFIED, v);
                }
            }
            e.set_headers(h);
            Err(e)
        }
    }
}

/// A copy source's `x-amz-copy-source-if-*` conditions: every failure is a 412.
pub(super) fn check_copy_source(
    m: &Manifest,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> S3Result<()> {
    match evaluate(m, if_match, if_none_match, if_modified_since, if_unmodified_since) {
        None => Ok(()),
        Some(_) => Err(precondition_failed()),
    }
}

/// The conditions of a write (PUT, CompleteMultipartUpload, or a DELETE).
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct WriteCondition {
    /// `If-Match`: the key must exist with this ETag (`*`: exist at all).
    if_match: Option<ETagCondition>,
    /// `If-None-Match`: `*`, the key must not exist; an ETag, the key must not exist with that
    /// ETag (S3 itself takes only `*`; RFC 9110, MinIO and Ceph take ETags too, and a client
    /// that sends one means it).
    if_none_match: Option<ETagCondition>,
    /// A DELETE's `x-amz-if-match-last-modified-time`: the key must exist, last modified
    /// then (to the second, as S3 shows times).
    modified_s: Option<i64>,
    /// A DELETE's `x-amz-if-match-size`: the key must exist with this size.
    size: Option<i64>,
}

impl WriteCondition {
    /// A write's conditions from its headers.
    pub(super) fn parse(if_match: Option<ETagCondition>, if_none_match: Option<ETagCondition>) -> S3Result<Self> {
        Ok(Self { if_match, if_none_match, modified_s: None, size: None })
    }

    /// A DELETE's conditions (`If-Match` and its `x-amz-if-match-*` companions, or a
    /// DeleteObjects entry's ETag, LastModifiedTime and Size).
    pub(super) fn delete(if_match: Option<ETagCondition>, last_modified: Option<&Timestamp>, size: Option<i64>) -> Self {
        Self { if_match, if_none_match: None, modified_s: last_modified.map(unix_secs), size }
    }

    /// Whether the write is unconditional (last writer wins).
    pub(super) fn is_none(&self) -> bool {
        self.if_match.is_none() && self.if_none_match.is_none() && self.modified_s.is_none() && self.size.is_none()
    }

    /// The compare-and-swap to commit with, given the key's current version; or the
    /// answer S3 gives when the condition does not hold now (412, or 404 for If-Match
    /// on a key that does not exist).
    pub(super) fn expect(&self, bucket: &str, key: &str, current: Option<&Manifest>) -> S3Result<Expect> {
        if self.is_none() {
            return Ok(Expect::Any);
        }
        if let (Some(c), Some(m)) = (&self.if_none_match, current) {
            if etag_matches(c, m) {
                return Err(precondition_failed());
            }
        }
        if self.if_match.is_some() || self.modified_s.is_some() || self.size.is_some() {
            let Some(m) = current else {
                return Err(s3_error!(NoSuchKey, "If-Match: there is no object {key} in bucket {bucket}"));
            };
            let etag_ok = self.if_match.as_ref().is_none_or(|c| etag_matches(c, m));
            let time_ok = self.modified_s.is_none_or(|t| m.modified_ms.div_euclid(1000) == t);
            let size_ok = self.size.is_none_or(|sz| i64::try_from(m.size).ok() == Some(sz));
            if !(etag_ok && time_ok && size_ok) {
                return Err(precondition_failed());
            }
        }
        Ok(Expect::Version(current.map(|m| m.version_id)))
    }

    /// The answer for a conditional commit that lost its compare-and-swap: the condition
    /// re-checked against the version that won (412 or 404 if it no longer holds), or
    /// 409 ConditionalRequestConflict when it still holds (another version was written
    /// meanwhile that the condition also allows: the same ETag for If-Match, another ETag for
    /// If-None-Match with an ETag); a retry decides.
    pub(super) fn lost_race(&self, bucket: &str, key: &str, current: Option<&Manifest>) -> S3Error {
        match self.expect(bucket, key, current) {
            Err(e) => e,
            Ok(_) => s3_error!(
                ConditionalRequestConflict,
                "object {key} in bucket {bucket} changed while this conditional write was in flight; retry the request"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3s::dto::ETag;

    fn manifest(etag: &str, version_id: u128, modified_ms: i64) -> Manifest {
        Manifest {
            version_id,
            size: 1,
            etag: etag.into(),
            modified_ms,
            content_type: None,
            headers: vec![],
            user_meta: vec![],
            parts: 0,
            coding: kintsugi_meta::Coding { codec: 0, k: 2, m: 1, chunk_size: 1024 },
            segments: vec![],
        }
    }

    fn tag(s: &str) -> ETagCondition {
        ETagCondition::ETag(ETag::Strong(s.into()))
    }

    fn code(r: S3Result<Expect>) -> String {
        match r {
            Ok(e) => format!("{e:?}"),
            Err(e) => e.code().as_str().to_owned(),
        }
    }

    #[test]
    fn write_conditions_become_the_commit_compare_or_s3_answers() {
        let m = manifest("aa", 7, 0);
        let none = WriteCondition::default();
        assert_eq!(code(none.expect("b", "k", Some(&m))), "Any");
        let inm = WriteCondition::parse(None, Some(ETagCondition::Any)).expect("parse");
        assert_eq!(code(inm.expect("b", "k", None)), "Version(None)");
        assert_eq!(code(inm.expect("b", "k", Some(&m))), "PreconditionFailed");
        let im = WriteCondition::parse(Some(tag("aa")), None).expect("parse");
        assert_eq!(code(im.expect("b", "k", Some(&m))), "Version(Some(7))");
        assert_eq!(code(im.expect("b", "k", None)), "NoSuchKey");
        let other = WriteCondition::parse(Some(tag("bb")), None).expect("parse");
        assert_eq!(code(other.expect("b", "k", Some(&m))), "PreconditionFailed");
        let any = WriteCondition::parse(Some(ETagCondition::Any), None).expect("parse");
        assert_eq!(code(any.expect("b", "k", Some(&m))), "Version(Some(7))");
        assert_eq!(code(any.expect("b", "k", None)), "NoSuchKey");
        // Both: must exist and must not exist; never holds.
        let both = WriteCondition::parse(Some(ETagCondition::Any), Some(ETagCondition::Any)).expect("parse");
        assert_eq!(code(both.expect("b", "k", Some(&m))), "PreconditionFailed");
        assert_eq!(code(both.expect("b", "k", None)), "NoSuchKey");
        // An ETag in If-None-Match: refused only when the key exists with that ETag.
        let not_aa = WriteCondition::parse(None, Some(tag("aa"))).expect("parse");
        assert_eq!(code(not_aa.expect("b", "k", Some(&m))), "PreconditionFailed");
        assert_eq!(code(not_aa.expect("b", "k", None)), "Version(None)");
        let not_bb = WriteCondition::parse(None, Some(tag("bb"))).expect("parse");
        assert_eq!(code(not_bb.expect("b", "k", Some(&m))), "Version(Some(7))");
        // A list (one value to s3s): any entry that matches refuses; weak tags compare too.
        let list = |v: &str| ETagCondition::ETag(ETag::Strong(v.to_owned()));
        let listed = WriteCondition::parse(None, Some(list(r#"bb", W/"aa"#))).expect("parse");
        assert_eq!(code(listed.expect("b", "k", Some(&m))), "PreconditionFailed");
        let others = WriteCondition::parse(None, Some(list(r#"bb", "cc"#))).expect("parse");
        assert_eq!(code(others.expect("b", "k", Some(&m))), "Version(Some(7))");
        let im_list = WriteCondition::parse(Some(list(r#"bb", "aa"#)), None).expect("parse");
        assert_eq!(code(im_list.expect("b", "k", Some(&m))), "Version(Some(7))");
    }

    #[test]
    fn delete_conditions_name_the_version_they_saw() {
        let m = manifest("aa", 7, 12_345);
        let secs = |s: u64| Timestamp::from(std::time::UNIX_EPOCH + std::time::Duration::from_secs(s));
        assert_eq!(code(WriteCondition::delete(None, None, None).expect("b", "k", Some(&m))), "Any");
        assert_eq!(code(WriteCondition::delete(Some(tag("aa")), Some(&secs(12)), Some(1)).expect("b", "k", Some(&m))), "Version(Some(7))");
        assert_eq!(code(WriteCondition::delete(Some(tag("bb")), None, None).expect("b", "k", Some(&m))), "PreconditionFailed");
        assert_eq!(code(WriteCondition::delete(None, Some(&secs(13)), None).expect("b", "k", Some(&m))), "PreconditionFailed");
        assert_eq!(code(WriteCondition::delete(None, None, Some(2)).expect("b", "k", Some(&m))), "PreconditionFailed");
        assert_eq!(code(WriteCondition::delete(None, None, Some(1)).expect("b", "k", None)), "NoSuchKey");
    }

    #[test]
    fn a_lost_race_is_412_when_the_winner_breaks_the_condition_and_409_when_it_does_not() {
        let winner = manifest("aa", 8, 0);
        let inm = WriteCondition::parse(None, Some(ETagCondition::Any)).expect("parse");
        assert_eq!(inm.lost_race("b", "k", Some(&winner)).code().as_str(), "PreconditionFailed");
        let same = WriteCondition::parse(Some(tag("aa")), None).expect("parse");
        assert_eq!(same.lost_race("b", "k", Some(&winner)).code().as_str(), "ConditionalRequestConflict");
        assert_eq!(same.lost_race("b", "k", None).code().as_str(), "NoSuchKey");
    }

    #[test]
    fn copy_source_conditions_follow_s3s_precedence_and_are_all_412() {
        let m = manifest("aa", 1, 10_000);
        let secs = |s: u64| Timestamp::from(std::time::UNIX_EPOCH + std::time::Duration::from_secs(s));
        let (past, future) = (secs(5), secs(50));
        // If-Match true wins over If-Unmodified-Since false: the copy goes ahead.
        assert!(check_copy_source(&m, Some(&tag("aa")), None, None, Some(&past)).is_ok());
        // If-None-Match false wins over If-Modified-Since true: 412.
        let e = check_copy_source(&m, None, Some(&tag("aa")), Some(&past), None).expect_err("412");
        assert_eq!(e.code().as_str(), "PreconditionFailed");
        let e = check_copy_source(&m, None, None, Some(&future), None).expect_err("412");
        assert_eq!(e.code().as_str(), "PreconditionFailed");
        assert!(check_copy_source(&m, None, Some(&tag("bb")), None, None).is_ok());
    }

    #[test]
    fn a_304_carries_the_etag_and_last_modified() {
        let m = manifest("aa", 1, 10_000);
        let e = check_read(&m, None, Some(&tag("aa")), None, None).expect_err("304");
        assert_eq!(e.code().as_str(), "NotModified");
        let h = e.headers().expect("headers");
        assert_eq!(h.get(http::header::ETAG).and_then(|v| v.to_str().ok()), Some("\"aa\""));
        assert_eq!(h.get(http::header::LAST_MODIFIED).and_then(|v| v.to_str().ok()), Some("Thu, 01 Jan 1970 00:00:10 GMT"));
    }
}
