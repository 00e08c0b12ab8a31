//! Get/Put/DeleteBucketLifecycle(Configuration): a bucket's lifecycle rules, checked as S3
//! checks them and stored as `kintsugi_meta::LifecycleRule`s. The lifecycle worker
//! (`kintsugi_cluster::expire`) carries them out. Kintsugi has one storage class, so
//! transitions are refused (`501`), never accepted and ignored.

use kintsugi_meta::{Expiration, ExpireAt, LifecycleRule, MetaRead, NoncurrentExpiration, RuleFilter, DAY_MS};
use s3s::dto::*;
use s3s::{s3_error, S3Response, S3Result};

use super::KintsugiS3;

/// Most rules one configuration may hold (S3's limit).
const MAX_RULES: usize = 1000;
/// Longest rule id (S3's limit).
const MAX_ID: usize = 255;
/// Most noncurrent versions `NewerNoncurrentVersions` may keep (S3's limit).
const MAX_NEWER_NONCURRENT: i32 = 100;

fn days(d: i32, what: &str) -> S3Result<u32> {
    u32::try_from(d).ok().filter(|d| *d > 0).ok_or_else(|| s3_error!(InvalidArgument, "'{what}' must be a positive integer; it is {d}"))
}

fn size(n: i64, what: &str) -> S3Result<u64> {
    u64::try_from(n).map_err(|_| s3_error!(InvalidArgument, "'{what}' may not be negative; it is {n}"))
}

fn tag(t: Tag) -> (String, String) {
    (t.key.unwrap_or_default(), t.value.unwrap_or_default())
}

fn filter_of(rule_prefix: Option<String>, f: Option<LifecycleRuleFilter>) -> S3Result<RuleFilter> {
    let f = match (rule_prefix, f) {
        (Some(_), Some(_)) => return Err(s3_error!(MalformedXML, "a rule may have a Prefix or a Filter, not both")),
        (Some(p), None) => return Ok(RuleFilter::Legacy(p)),
        (None, None) => return Err(s3_error!(MalformedXML, "every rule needs a Filter (it may be empty) or a Prefix")),
        (None, Some(f)) => f,
    };
    let given = usize::from(f.prefix.is_some()) + usize::from(f.tag.is_some()) + usize::from(f.and.is_some()) + usize::from(f.object_size_greater_than.is_some()) + usize::from(f.object_size_less_than.is_some());
    if given > 1 {
        return Err(s3_error!(MalformedXML, "a Filter holds one condition; put several in an And"));
    }
    Ok(if let Some(p) = f.prefix {
        RuleFilter::Prefix(p)
    } else if let Some(t) = f.tag {
        let t = tag(t);
        super::tagging::validate(std::slice::from_ref(&t), 1)?;
        RuleFilter::Tag(t.0, t.1)
    } else if let Some(n) = f.object_size_greater_than {
        RuleFilter::SizeGreater(size(n, "ObjectSizeGreaterThan")?)
    } else if let Some(n) = f.object_size_less_than {
        RuleFilter::SizeLess(size(n, "ObjectSizeLessThan")?)
    } else if let Some(a) = f.and {
        let tags: Vec<(String, String)> = a.tags.unwrap_or_default().into_iter().map(tag).collect();
        super::tagging::validate(&tags, usize::MAX)?;
        let size_greater = a.object_size_greater_than.map(|n| size(n, "ObjectSizeGreaterThan")).transpose()?;
        let size_less = a.object_size_less_than.map(|n| size(n, "ObjectSizeLessThan")).transpose()?;
        if let (Some(gt), Some(lt)) = (size_greater, size_less) {
            if gt >= lt {
                return Err(s3_error!(InvalidArgument, "ObjectSizeGreaterThan ({gt}) must be less than ObjectSizeLessThan ({lt})"));
            }
        }
        RuleFilter::And { prefix: a.prefix, tags, size_greater, size_less }
    } else {
        RuleFilter::All
    })
}

fn expiration_of(e: LifecycleExpiration) -> S3Result<Expiration> {
    let expired_markers = e.expired_object_delete_marker;
    let at = match (e.days, e.date) {
        (Some(_), Some(_)) => return Err(s3_error!(MalformedXML, "an Expiration has Days or Date, not both")),
        (Some(d), None) => Some(ExpireAt::Days(days(d, "Days")?)),
        (None, Some(t)) => {
            let ms = super::lock::ms_of(&t);
            if ms < 0 {
                return Err(s3_error!(InvalidArgument, "'Date' must be after 1970-01-01"));
            }
            if ms.rem_euclid(DAY_MS) != 0 {
                return Err(s3_error!(InvalidArgument, "'Date' must be at midnight GMT"));
            }
            Some(ExpireAt::Date(ms))
        }
        (None, None) => None,
    };
    match (at, expired_markers) {
        (Some(_), Some(_)) => Err(s3_error!(MalformedXML, "ExpiredObjectDeleteMarker cannot be specified with Days or Date in a Lifecycle Expiration Policy")),
        (None, None | Some(false)) => Err(s3_error!(MalformedXML, "an Expiration needs Days, Date or ExpiredObjectDeleteMarker true")),
        (at, m) => Ok(Expiration { at, expired_markers: m.unwrap_or(false) }),
    }
}

fn rule_of(r: LifecycleRule_) -> S3Result<LifecycleRule> {
    let enabled = match r.status.as_str() {
        ExpirationStatus::ENABLED => true,
        ExpirationStatus::DISABLED => false,
        other => return Err(s3_error!(MalformedXML, "a rule's Status is Enabled or Disabled, not {other:?}")),
    };
    if r.transitions.as_ref().is_some_and(|t| !t.is_empty()) || r.noncurrent_version_transitions.as_ref().is_some_and(|t| !t.is_empty()) {
        return Err(s3_error!(NotImplemented, "lifecycle transitions are not supported: Kintsugi has one storage class (STANDARD); use Expiration instead"));
    }
    let id = match r.id {
        Some(id) if id.chars().count() > MAX_ID => return Err(s3_error!(InvalidArgument, "a rule's ID may be at most {MAX_ID} characters long")),
        Some(id) if !id.is_empty() => id,
        // S3 names a rule given no id.
        _ => format!("{:032x}", rand::random::<u128>()),
    };
    let filter = filter_of(r.prefix, r.filter)?;
    let expiration = r.expiration.map(expiration_of).transpose()?;
    let noncurrent = match r.noncurrent_version_expiration {
        Some(n) => {
            let Some(d) = n.noncurrent_days else { return Err(s3_error!(MalformedXML, "a NoncurrentVersionExpiration needs NoncurrentDays")) };
            let keep = match n.newer_noncurrent_versions {
                Some(k) if !(1..=MAX_NEWER_NONCURRENT).contains(&k) => {
                    return Err(s3_error!(InvalidArgument, "'NewerNoncurrentVersions' must be from 1 to {MAX_NEWER_NONCURRENT}; it is {k}"))
                }
                Some(k) => u32::try_from(k).ok(),
                None => None,
            };
            Some(NoncurrentExpiration { days: days(d, "NoncurrentDays")?, keep })
        }
        None => None,
    };
    let abort_upload_days = match r.abort_incomplete_multipart_upload {
        Some(a) => match a.days_after_initiation {
            Some(d) => Some(days(d, "DaysAfterInitiation")?),
            None => return Err(s3_error!(MalformedXML, "an AbortIncompleteMultipartUpload needs DaysAfterInitiation")),
        },
        None => None,
    };
    if expiration.is_none() && noncurrent.is_none() && abort_upload_days.is_none() {
        return Err(s3_error!(InvalidRequest, "At least one action needs to be specified in a rule (rule {id})"));
    }
    if filter.has_tags() && abort_upload_days.is_some() {
        return Err(s3_error!(InvalidRequest, "AbortIncompleteMultipartUpload cannot be specified with Tags (rule {id})"));
    }
    let sized = matches!(filter, RuleFilter::SizeGreater(_) | RuleFilter::SizeLess(_) | RuleFilter::And { size_greater: Some(_), .. } | RuleFilter::And { size_less: Some(_), .. });
    if sized && abort_upload_days.is_some() {
        return Err(s3_error!(InvalidRequest, "AbortIncompleteMultipartUpload cannot be specified with an object size filter (rule {id}): an unfinished upload has no size yet"));
    }
    if filter.has_tags() && expiration.is_some_and(|e| e.expired_markers) {
        return Err(s3_error!(InvalidRequest, "ExpiredObjectDeleteMarker cannot be specified with Tags (rule {id})"));
    }
    Ok(LifecycleRule { id, enabled, filter, expiration, noncurrent, abort_upload_days })
}

/// S3's DTO of one rule (named apart from ours).
type LifecycleRule_ = s3s::dto::LifecycleRule;

/// A PutBucketLifecycleConfiguration body as checked rules.
fn rules_of(cfg: Option<BucketLifecycleConfiguration>) -> S3Result<Vec<LifecycleRule>> {
    let Some(cfg) = cfg else { return Err(s3_error!(MalformedXML, "the request has no LifecycleConfiguration")) };
    if cfg.rules.is_empty() {
        return Err(s3_error!(MalformedXML, "a lifecycle configuration needs at least one Rule"));
    }
    if cfg.rules.len() > MAX_RULES {
        return Err(s3_error!(InvalidRequest, "a lifecycle configuration may hold at most {MAX_RULES} rules; this one has {}", cfg.rules.len()));
    }
    let mut out: Vec<LifecycleRule> = Vec::with_capacity(cfg.rules.len());
    for r in cfg.rules {
        let rule = rule_of(r)?;
        if out.iter().any(|o| o.id == rule.id) {
            return Err(s3_error!(InvalidArgument, "Rule ID must be unique. Found same ID for more than one rule: {}", rule.id));
        }
        out.push(rule);
    }
    Ok(out)
}

fn dto_tag((key, value): (String, String)) -> Tag {
    Tag { key: Some(key), value: Some(value) }
}

fn to_dto(r: LifecycleRule) -> LifecycleRule_ {
    let filter = |f: LifecycleRuleFilter| Some(f);
    let (prefix, filter) = match r.filter {
        RuleFilter::Legacy(p) => (Some(p), None),
        RuleFilter::All => (None, filter(LifecycleRuleFilter::default())),
        RuleFilter::Prefix(p) => (None, filter(LifecycleRuleFilter { prefix: Some(p), ..Default::default() })),
        RuleFilter::Tag(k, v) => (None, filter(LifecycleRuleFilter { tag: Some(dto_tag((k, v))), ..Default::default() })),
        RuleFilter::SizeGreater(n) => (None, filter(LifecycleRuleFilter { object_size_greater_than: i64::try_from(n).ok(), ..Default::default() })),
        RuleFilter::SizeLess(n) => (None, filter(LifecycleRuleFilter { object_size_less_than: i64::try_from(n).ok(), ..Default::default() })),
        RuleFilter::And { prefix, tags, size_greater, size_less } => (
            None,
            filter(LifecycleRuleFilter {
                and: Some(LifecycleRuleAndOperator {
                    prefix,
                    tags: (!tags.is_empty()).then(|| tags.into_iter().map(dto_tag).collect()),
                    object_size_greater_than: size_greater.and_then(|n| i64::try_from(n).ok()),
                    object_size_less_than: size_less.and_then(|n| i64::try_from(n).ok()),
                }),
                ..Default::default()
            }),
        ),
    };
    let days = |d: u32| i32::try_from(d).ok();
    LifecycleRule_ {
        id: Some(r.id),
        status: ExpirationStatus::from_static(if r.enabled { ExpirationStatus::ENABLED } else { ExpirationStatus::DISABLED }),
        prefix,
        filter,
        expiration: r.expiration.map(|e| LifecycleExpiration {
            days: match e.at {
                Some(ExpireAt::Days(d)) => days(d),
                _ => None,
            },
            date: match e.at {
                Some(ExpireAt::Date(ms)) => Some(super::util::ts(ms)),
                _ => None,
            },
            expired_object_delete_marker: e.expired_markers.then_some(true),
        }),
        noncurrent_version_expiration: r
            .noncurrent
            .map(|n| NoncurrentVersionExpiration { noncurrent_days: days(n.days), newer_noncurrent_versions: n.keep.and_then(|k| i32::try_from(k).ok()) }),
        abort_incomplete_multipart_upload: r.abort_upload_days.map(|d| AbortIncompleteMultipartUpload { days_after_initiation: days(d) }),
        transitions: None,
        noncurrent_version_transitions: None,
    }
}

/// S3's `x-amz-expiration` value: when a rule expires the object, and which rule.
fn expiration_header(at_ms: i64, rule: &str) -> Option<String> {
    let mut date = Vec::new();
    super::util::ts(at_ms).format(TimestampFormat::HttpDate, &mut date).ok()?;
    let date = String::from_utf8(date).ok()?;
    // The id is URL-encoded, as S3 does: a quote or a line break in it cannot break the header.
    let rule: String = rule
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { char::from(b).to_string() } else { format!("%{b:02X}") })
        .collect();
    Some(format!("expiry-date=\"{date}\", rule-id=\"{rule}\""))
}

impl KintsugiS3 {
    /// The rules `x-amz-expiration` is computed from (`None`: the bucket has none). Read from
    /// this gateway's own copy, with no read barrier: the header is advice, and a GET must not
    /// pay a quorum round trip for it. A failed read is logged and answers no header: the request
    /// itself has succeeded.
    async fn rules_for_header(&self, bucket: &str) -> Option<Vec<kintsugi_meta::LifecycleRule>> {
        let b = bucket.to_owned();
        match self.meta(move |meta| meta.local_bucket_lifecycle(&b)).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(bucket, error = %e, "could not read the lifecycle rules for x-amz-expiration");
                None
            }
        }
    }

    /// The `x-amz-expiration` of the current version `m` of `key` with `tags` under `rules`.
    fn expiration_under(&self, rules: &[kintsugi_meta::LifecycleRule], key: &str, m: &kintsugi_meta::Manifest, tags: &[(String, String)]) -> Option<String> {
        kintsugi_meta::lifecycle_expires_at(rules, key, m.size, tags, m.modified_ms, self.lifecycle_day_ms).and_then(|(at, id)| expiration_header(at, id))
    }

    /// The `x-amz-expiration` of the current version `m` of `key` with `tags` (`None`: no
    /// enabled rule expires it; see [`KintsugiS3::rules_for_header`]).
    pub(super) async fn expiration_of(&self, bucket: &str, key: &str, m: &kintsugi_meta::Manifest, tags: &[(String, String)]) -> Option<String> {
        let rules = self.rules_for_header(bucket).await?;
        self.expiration_under(&rules, key, m, tags)
    }

    /// [`KintsugiS3::expiration_of`] for a version just written whose tags the caller does not
    /// hold (a completed multipart upload): its tags are read only when the bucket has rules.
    pub(super) async fn expiration_of_written(&self, bucket: &str, key: &str, m: &kintsugi_meta::Manifest) -> Option<String> {
        let rules = self.rules_for_header(bucket).await?;
        // (Rules apply to current versions: one overwritten meanwhile gets no header.)
        let tags = match self.version_of(bucket, key, None).await {
            Ok((cur, tags, _)) if cur.version_id == m.version_id => tags,
            _ => return None,
        };
        self.expiration_under(&rules, key, m, &tags)
    }

    pub(super) async fn get_bucket_lifecycle_impl(&self, input: GetBucketLifecycleConfigurationInput) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
        self.require_bucket(&input.bucket).await?;
        let b = input.bucket.clone();
        match self.meta(move |m| m.bucket_lifecycle(&b)).await? {
            Some(rules) => Ok(S3Response::new(GetBucketLifecycleConfigurationOutput { rules: Some(rules.into_iter().map(to_dto).collect()), ..Default::default() })),
            None => {
                let mut e = s3_error!(NoSuchLifecycleConfiguration, "The lifecycle configuration does not exist: bucket {} has none", input.bucket);
                e.set_status_code(http::StatusCode::NOT_FOUND);
                Err(e)
            }
        }
    }

    pub(super) async fn put_bucket_lifecycle_impl(&self, input: PutBucketLifecycleConfigurationInput) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
        let rules = rules_of(input.lifecycle_configuration)?;
        let b = input.bucket;
        self.meta(move |m| m.put_bucket_lifecycle(&b, &rules)).await?;
        Ok(S3Response::new(PutBucketLifecycleConfigurationOutput::default()))
    }

    pub(super) async fn delete_bucket_lifecycle_impl(&self, input: DeleteBucketLifecycleInput) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
        let b = input.bucket;
        self.meta(move |m| m.put_bucket_lifecycle(&b, &[])).await?;
        Ok(S3Response::new(DeleteBucketLifecycleOutput {}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(f: impl FnOnce(&mut LifecycleRule_)) -> LifecycleRule_ {
        let mut r = LifecycleRule_ {
            id: Some("r".into()),
            status: ExpirationStatus::from_static(ExpirationStatus::ENABLED),
            filter: Some(LifecycleRuleFilter { prefix: Some("logs/".into()), ..Default::default() }),
            expiration: Some(LifecycleExpiration { days: Some(1), ..Default::default() }),
            abort_incomplete_multipart_upload: None,
            noncurrent_version_expiration: None,
            noncurrent_version_transitions: None,
            prefix: None,
            transitions: None,
        };
        f(&mut r);
        r
    }

    fn code(rules: Vec<LifecycleRule_>) -> String {
        match rules_of(Some(BucketLifecycleConfiguration { rules })) {
            Ok(v) => format!("{} rules", v.len()),
            Err(e) => e.code().as_str().to_owned(),
        }
    }

    #[test]
    fn configurations_are_checked_as_s3_checks_them() {
        assert_eq!(code(vec![rule(|_| {})]), "1 rules");
        assert_eq!(code(vec![]), "MalformedXML");
        assert_eq!(code(vec![rule(|_| {}), rule(|_| {})]), "InvalidArgument", "the same id twice");
        assert_eq!(code(vec![rule(|r| r.id = Some("x".repeat(256)))]), "InvalidArgument");
        assert_eq!(code(vec![rule(|r| r.status = ExpirationStatus::from("enabled".to_owned()))]), "MalformedXML");
        assert_eq!(code(vec![rule(|r| r.expiration = Some(LifecycleExpiration { days: Some(0), ..Default::default() }))]), "InvalidArgument");
        assert_eq!(code(vec![rule(|r| r.expiration = Some(LifecycleExpiration { days: Some(1), expired_object_delete_marker: Some(true), ..Default::default() }))]), "MalformedXML");
        let noon = super::super::util::ts(DAY_MS * 20_000 + DAY_MS / 2);
        assert_eq!(code(vec![rule(|r| r.expiration = Some(LifecycleExpiration { date: Some(noon), ..Default::default() }))]), "InvalidArgument", "not midnight");
        assert_eq!(code(vec![rule(|r| r.expiration = None)]), "InvalidRequest", "no action");
        assert_eq!(code(vec![rule(|r| r.prefix = Some("x".into()))]), "MalformedXML", "Prefix and Filter");
        assert_eq!(code(vec![rule(|r| r.expiration = Some(LifecycleExpiration { expired_object_delete_marker: Some(false), ..Default::default() }))]), "MalformedXML");
        assert_eq!(
            code(vec![rule(|r| {
                r.filter = Some(LifecycleRuleFilter { object_size_greater_than: Some(5), ..Default::default() });
                r.abort_incomplete_multipart_upload = Some(AbortIncompleteMultipartUpload { days_after_initiation: Some(1) });
            })]),
            "InvalidRequest"
        );
        assert_eq!(code(vec![rule(|r| r.filter = None)]), "MalformedXML", "neither");
        assert_eq!(code(vec![rule(|r| r.transitions = Some(vec![Transition::default()]))]), "NotImplemented");
        let tagged = Some(LifecycleRuleFilter { tag: Some(Tag { key: Some("k".into()), value: Some("v".into()) }), ..Default::default() });
        assert_eq!(code(vec![rule(|r| r.filter = tagged.clone())]), "1 rules");
        assert_eq!(
            code(vec![rule(|r| {
                r.filter = tagged.clone();
                r.abort_incomplete_multipart_upload = Some(AbortIncompleteMultipartUpload { days_after_initiation: Some(1) });
            })]),
            "InvalidRequest"
        );
        let both = Some(LifecycleRuleFilter { prefix: Some("a".into()), tag: Some(Tag { key: Some("k".into()), value: Some("v".into()) }), ..Default::default() });
        assert_eq!(code(vec![rule(|r| r.filter = both)]), "MalformedXML");
        let sizes = Some(LifecycleRuleFilter { and: Some(LifecycleRuleAndOperator { object_size_greater_than: Some(10), object_size_less_than: Some(10), ..Default::default() }), ..Default::default() });
        assert_eq!(code(vec![rule(|r| r.filter = sizes)]), "InvalidArgument");
        let newer = |k| Some(NoncurrentVersionExpiration { noncurrent_days: Some(1), newer_noncurrent_versions: Some(k) });
        assert_eq!(code(vec![rule(|r| r.noncurrent_version_expiration = newer(5))]), "1 rules");
        assert_eq!(code(vec![rule(|r| r.noncurrent_version_expiration = newer(0))]), "InvalidArgument");
        assert_eq!(code(vec![rule(|r| r.noncurrent_version_expiration = newer(101))]), "InvalidArgument");
    }

    #[test]
    fn the_expiration_header_is_s3s() {
        assert_eq!(expiration_header(DAY_MS * 15_697, "rule-1").as_deref(), Some("expiry-date=\"Sun, 23 Dec 2012 00:00:00 GMT\", rule-id=\"rule-1\""));
        assert_eq!(expiration_header(0, "a\"b c").as_deref(), Some("expiry-date=\"Thu, 01 Jan 1970 00:00:00 GMT\", rule-id=\"a%22b%20c\""));
    }

    #[test]
    fn rules_read_back_as_they_were_given() {
        let given = vec![
            rule(|r| r.id = Some("a".into())),
            rule(|r| {
                r.id = Some("b".into());
                r.filter = None;
                r.prefix = Some("old/".into());
            }),
            rule(|r| {
                r.id = Some("c".into());
                r.filter = Some(LifecycleRuleFilter {
                    and: Some(LifecycleRuleAndOperator { prefix: Some("p".into()), tags: Some(vec![Tag { key: Some("k".into()), value: Some("v".into()) }]), object_size_greater_than: Some(5), object_size_less_than: None }),
                    ..Default::default()
                });
                r.noncurrent_version_expiration = Some(NoncurrentVersionExpiration { noncurrent_days: Some(3), newer_noncurrent_versions: Some(2) });
            }),
            rule(|r| {
                r.id = Some("d".into());
                r.filter = Some(LifecycleRuleFilter::default());
                r.expiration = Some(LifecycleExpiration { date: Some(super::super::util::ts(DAY_MS * 20_000)), ..Default::default() });
                r.abort_incomplete_multipart_upload = Some(AbortIncompleteMultipartUpload { days_after_initiation: Some(7) });
            }),
        ];
        let stored = rules_of(Some(BucketLifecycleConfiguration { rules: given.clone() })).expect("valid");
        let back: Vec<LifecycleRule_> = stored.into_iter().map(to_dto).collect();
        assert_eq!(back, given);
        let unnamed = rules_of(Some(BucketLifecycleConfiguration { rules: vec![rule(|r| r.id = None)] })).expect("valid");
        assert_eq!(unnamed[0].id.len(), 32, "S3 names a rule given no id");
    }
}
