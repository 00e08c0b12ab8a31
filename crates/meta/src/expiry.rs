//! A bucket's lifecycle rules (S3's PutBucketLifecycleConfiguration) as pure values, and what
//! they decide for one key's versions, or one multipart upload, at one moment. No I/O here:
//! the stored record is `expiry_config.rs`, the worker that carries the decisions out is
//! `kintsugi-cluster`'s `expire.rs`.
//!
//! Times follow S3: an object expires `Days` after it was written, rounded up to the next
//! midnight (UTC); a noncurrent version `NoncurrentDays` after it stopped being current (when
//! its successor was written), rounded the same way; an upload `DaysAfterInitiation` after it
//! began. The length of a day is a parameter, so tests run lifecycles in seconds; a store
//! always uses [`DAY_MS`].

use serde::{Deserialize, Serialize};

use crate::versions::VersionRef;

/// One day, in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// One lifecycle rule, as checked by the S3 front end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleRule {
    /// Its id (S3 makes one up for a rule given none).
    pub id: String,
    /// `Status` is `Enabled`; a disabled rule is kept but decides nothing.
    pub enabled: bool,
    /// Which objects it applies to.
    pub filter: RuleFilter,
    /// Expiration of current versions (and of expired delete markers).
    pub expiration: Option<Expiration>,
    /// Expiration of noncurrent versions.
    pub noncurrent: Option<NoncurrentExpiration>,
    /// Abort multipart uploads this many days after they began.
    pub abort_upload_days: Option<u32>,
}

/// Which objects a rule applies to, in the form it was given (GET answers it the same way).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RuleFilter {
    /// The rule's own `Prefix` element, S3's older form (no `Filter`).
    Legacy(String),
    /// An empty `Filter`: every object.
    All,
    /// `Filter` with a `Prefix`.
    Prefix(String),
    /// `Filter` with one `Tag`.
    Tag(String, String),
    /// `Filter` with `ObjectSizeGreaterThan` (bytes).
    SizeGreater(u64),
    /// `Filter` with `ObjectSizeLessThan` (bytes).
    SizeLess(u64),
    /// `Filter` with `And`: every condition given must hold.
    And {
        /// Key prefix.
        prefix: Option<String>,
        /// Tags the object must have, each with this value.
        tags: Vec<(String, String)>,
        /// Size must be greater than this.
        size_greater: Option<u64>,
        /// Size must be less than this.
        size_less: Option<u64>,
    },
}

impl RuleFilter {
    /// The key prefix every matching object has ("" for none).
    pub fn prefix(&self) -> &str {
        match self {
            Self::Legacy(p) | Self::Prefix(p) | Self::And { prefix: Some(p), .. } => p,
            _ => "",
        }
    }

    /// Whether it asks for tags (so deciding needs each version's tags).
    pub fn has_tags(&self) -> bool {
        match self {
            Self::Tag(..) => true,
            Self::And { tags, .. } => !tags.is_empty(),
            _ => false,
        }
    }

    /// Whether an object version of `key`, `size` bytes with `tags`, matches.
    pub fn matches(&self, key: &str, size: u64, tags: &[(String, String)]) -> bool {
        let has = |k: &str, v: &str| tags.iter().any(|(tk, tv)| tk == k && tv == v);
        match self {
            Self::Legacy(p) | Self::Prefix(p) => key.starts_with(p.as_str()),
            Self::All => true,
            Self::Tag(k, v) => has(k, v),
            Self::SizeGreater(n) => size > *n,
            Self::SizeLess(n) => size < *n,
            Self::And { prefix, tags: want, size_greater, size_less } => {
                prefix.as_deref().is_none_or(|p| key.starts_with(p))
                    && want.iter().all(|(k, v)| has(k, v))
                    && size_greater.is_none_or(|n| size > n)
                    && size_less.is_none_or(|n| size < n)
            }
        }
    }

    /// Whether a delete marker of `key` matches: markers have no tags and no size, so only
    /// the prefix counts, and a filter asking for tags never matches one.
    pub fn matches_marker(&self, key: &str) -> bool {
        !self.has_tags() && key.starts_with(self.prefix())
    }
}

/// When current versions expire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpireAt {
    /// This many days after the version was written.
    Days(u32),
    /// From this midnight (UTC, ms since the epoch) on.
    Date(i64),
}

/// A rule's `Expiration`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expiration {
    /// When current versions expire (`None`: only expired delete markers are removed).
    pub at: Option<ExpireAt>,
    /// `ExpiredObjectDeleteMarker`: remove a delete marker that is all a key has left.
    pub expired_markers: bool,
}

/// A rule's `NoncurrentVersionExpiration`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoncurrentExpiration {
    /// Days after a version stopped being current.
    pub days: u32,
    /// `NewerNoncurrentVersions`: the newest this many noncurrent versions are kept anyway.
    pub keep: Option<u32>,
}

/// `t` rounded up to the next midnight, with days of `day_ms`.
pub fn midnight_after(t_ms: i64, day_ms: i64) -> i64 {
    let day = day_ms.max(1);
    t_ms.div_euclid(day).saturating_add(i64::from(t_ms.rem_euclid(day) != 0)).saturating_mul(day)
}

fn days_after(t_ms: i64, days: u32, day_ms: i64) -> i64 {
    midnight_after(t_ms.saturating_add(i64::from(days).saturating_mul(day_ms)), day_ms)
}

/// One version of a key as the lifecycle sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyVersion {
    /// Its S3 version id.
    pub vref: VersionRef,
    /// It is a delete marker.
    pub marker: bool,
    /// When it was written, ms since the epoch.
    pub modified_ms: i64,
    /// Its size in bytes (0 for a marker).
    pub size: u64,
    /// Its tags (empty when no rule asks for tags: they are not read then).
    pub tags: Vec<(String, String)>,
}

/// What the rules decide for a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expire {
    /// Expire the current version (written at `modified_ms`): delete it, or where the bucket
    /// has versioning, put a delete marker over it.
    Current {
        /// When the version to expire was written (the worker checks it is still current).
        modified_ms: i64,
    },
    /// Delete this version (noncurrent) for good.
    Noncurrent(VersionRef),
    /// Remove this delete marker, all the key has left.
    Marker(VersionRef),
}

impl Expire {
    /// Its name in `/metrics` and the admin status.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Current { .. } => "current",
            Self::Noncurrent(_) => "noncurrent",
            Self::Marker(_) => "delete_marker",
        }
    }
}

/// The enabled rules of a bucket.
fn enabled(rules: &[LifecycleRule]) -> impl Iterator<Item = &LifecycleRule> {
    rules.iter().filter(|r| r.enabled)
}

/// What `rules` decide at `now_ms` for `key`, whose versions are `versions`, newest first.
pub fn decide(rules: &[LifecycleRule], key: &str, versions: &[KeyVersion], now_ms: i64, day_ms: i64) -> Vec<Expire> {
    let mut out = Vec::new();
    let Some(latest) = versions.first() else { return out };
    if latest.marker {
        // A marker alone: expired by ExpiredObjectDeleteMarker, or by an Expiration in days
        // once they have passed for it, as S3 does.
        if versions.len() == 1
            && enabled(rules).any(|r| {
                r.filter.matches_marker(key)
                    && r.expiration.is_some_and(|e| {
                        e.expired_markers
                            || match e.at {
                                Some(ExpireAt::Days(d)) => now_ms >= days_after(latest.modified_ms, d, day_ms),
                                Some(ExpireAt::Date(_)) | None => false,
                            }
                    })
            })
        {
            out.push(Expire::Marker(latest.vref));
        }
    } else if enabled(rules).any(|r| {
        r.filter.matches(key, latest.size, &latest.tags)
            && match r.expiration.and_then(|e| e.at) {
                Some(ExpireAt::Days(d)) => now_ms >= days_after(latest.modified_ms, d, day_ms),
                Some(ExpireAt::Date(t)) => now_ms >= t,
                None => false,
            }
    }) {
        out.push(Expire::Current { modified_ms: latest.modified_ms });
    }
    for (i, v) in versions.iter().enumerate().skip(1) {
        // It stopped being current when the version after it was written; `i - 1` newer
        // noncurrent versions stand before it.
        let since = versions[i - 1].modified_ms;
        let newer = u32::try_from(i - 1).unwrap_or(u32::MAX);
        let due = enabled(rules).any(|r| {
            let matches = if v.marker { r.filter.matches_marker(key) } else { r.filter.matches(key, v.size, &v.tags) };
            matches && r.noncurrent.is_some_and(|n| n.keep.is_none_or(|keep| newer >= keep) && now_ms >= days_after(since, n.days, day_ms))
        });
        if due {
            out.push(Expire::Noncurrent(v.vref));
        }
    }
    out
}

/// Whether `rules` abort, at `now_ms`, an upload of `key` that began at `initiated_ms`. An
/// upload has no tags or size yet, so only a rule's prefix counts (rules that abort uploads
/// may filter on nothing else).
pub fn abort_upload(rules: &[LifecycleRule], key: &str, initiated_ms: i64, now_ms: i64, day_ms: i64) -> bool {
    enabled(rules).any(|r| r.filter.matches_marker(key) && r.abort_upload_days.is_some_and(|d| now_ms >= days_after(initiated_ms, d, day_ms)))
}

/// When the current version of `key` (`size` bytes with `tags`, written at `modified_ms`)
/// expires, and the id of the rule that expires it first (S3's `x-amz-expiration`).
pub fn expires_at<'r>(rules: &'r [LifecycleRule], key: &str, size: u64, tags: &[(String, String)], modified_ms: i64, day_ms: i64) -> Option<(i64, &'r str)> {
    enabled(rules)
        .filter(|r| r.filter.matches(key, size, tags))
        .filter_map(|r| {
            let at = match r.expiration?.at? {
                ExpireAt::Days(d) => days_after(modified_ms, d, day_ms),
                ExpireAt::Date(t) => t,
            };
            Some((at, r.id.as_str()))
        })
        .min_by_key(|(at, _)| *at)
}

/// The longest prefix every rule that expires versions shares: the part of the bucket a
/// pass must read (`None`: no enabled rule expires versions).
pub fn scan_prefix(rules: &[LifecycleRule]) -> Option<String> {
    let mut prefixes = enabled(rules).filter(|r| r.expiration.is_some() || r.noncurrent.is_some()).map(|r| r.filter.prefix());
    let first = prefixes.next()?;
    let mut common = first.to_owned();
    for p in prefixes {
        let n = common.char_indices().zip(p.chars()).take_while(|((_, a), b)| a == b).count();
        let end = common.char_indices().nth(n).map_or(common.len(), |(i, _)| i);
        common.truncate(end);
    }
    Some(common)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 1000;

    fn rule(filter: RuleFilter) -> LifecycleRule {
        LifecycleRule { id: "r".into(), enabled: true, filter, expiration: None, noncurrent: None, abort_upload_days: None }
    }

    fn obj(id: u128, at: i64, size: u64) -> KeyVersion {
        KeyVersion { vref: VersionRef::Id(id), marker: false, modified_ms: at, size, tags: vec![] }
    }

    fn marker(id: u128, at: i64) -> KeyVersion {
        KeyVersion { vref: VersionRef::Id(id), marker: true, modified_ms: at, size: 0, tags: vec![] }
    }

    #[test]
    fn midnights_round_up_and_keep_a_midnight() {
        assert_eq!(midnight_after(0, DAY), 0);
        assert_eq!(midnight_after(1, DAY), DAY);
        assert_eq!(midnight_after(DAY, DAY), DAY);
        assert_eq!(midnight_after(DAY + 1, DAY), 2 * DAY);
        assert_eq!(midnight_after(1_700_000_000_123, DAY_MS) % DAY_MS, 0);
        assert_eq!(midnight_after(i64::MAX - 5, DAY), i64::MAX, "saturates rather than overflow");
    }

    #[test]
    fn current_versions_expire_at_the_midnight_after_their_days() {
        let mut r = rule(RuleFilter::Prefix("logs/".into()));
        r.expiration = Some(Expiration { at: Some(ExpireAt::Days(2)), expired_markers: false });
        let rules = [r];
        let v = [obj(1, 1500, 10)];
        // 1500 + 2 days = 3500, rounded up to 4000.
        assert!(decide(&rules, "logs/a", &v, 3999, DAY).is_empty());
        assert_eq!(decide(&rules, "logs/a", &v, 4000, DAY), vec![Expire::Current { modified_ms: 1500 }]);
        assert!(decide(&rules, "other/a", &v, 9999, DAY).is_empty(), "outside the prefix");
        assert_eq!(expires_at(&rules, "logs/a", 10, &[], 1500, DAY), Some((4000, "r")));
        let mut off = rules[0].clone();
        off.enabled = false;
        assert!(decide(&[off], "logs/a", &v, 9999, DAY).is_empty(), "a disabled rule decides nothing");
    }

    #[test]
    fn a_date_expires_everything_matching_from_then_on() {
        let mut r = rule(RuleFilter::All);
        r.expiration = Some(Expiration { at: Some(ExpireAt::Date(5000)), expired_markers: false });
        assert!(decide(std::slice::from_ref(&r), "k", &[obj(1, 4900, 1)], 4999, DAY).is_empty());
        assert_eq!(decide(&[r], "k", &[obj(1, 4900, 1)], 5000, DAY).len(), 1);
    }

    #[test]
    fn filters_on_tags_and_size_as_s3() {
        let tags = vec![("class".to_owned(), "tmp".to_owned()), ("team".to_owned(), "a".to_owned())];
        assert!(RuleFilter::Tag("class".into(), "tmp".into()).matches("x", 1, &tags));
        assert!(!RuleFilter::Tag("class".into(), "keep".into()).matches("x", 1, &tags));
        assert!(RuleFilter::SizeGreater(10).matches("x", 11, &[]) && !RuleFilter::SizeGreater(10).matches("x", 10, &[]));
        assert!(RuleFilter::SizeLess(10).matches("x", 9, &[]) && !RuleFilter::SizeLess(10).matches("x", 10, &[]));
        let and = RuleFilter::And { prefix: Some("p/".into()), tags: tags.clone(), size_greater: Some(1), size_less: Some(100) };
        assert!(and.matches("p/x", 50, &tags));
        assert!(!and.matches("q/x", 50, &tags), "prefix");
        assert!(!and.matches("p/x", 50, &tags[..1]), "a tag missing");
        assert!(!and.matches("p/x", 100, &tags), "too big");
        assert!(!and.matches_marker("p/x"), "a marker has no tags");
        assert!(RuleFilter::Legacy("p/".into()).matches_marker("p/x"));
        assert!(RuleFilter::SizeGreater(10).matches_marker("anything"), "a marker has no size to filter");
    }

    #[test]
    fn noncurrent_versions_count_from_their_successor_and_keep_the_newest() {
        let mut r = rule(RuleFilter::All);
        r.noncurrent = Some(NoncurrentExpiration { days: 1, keep: Some(1) });
        let rules = [r];
        // Newest first: current (t=5000), then versions that stopped being current at 5000,
        // 3000 and 2000.
        let v = [obj(4, 5000, 1), obj(3, 3000, 1), obj(2, 2000, 1), obj(1, 1000, 1)];
        // Version 3 is the newest noncurrent one: kept. Version 2 is due at 3000+1 day = 4000,
        // version 1 at 2000+1 day = 3000.
        assert_eq!(decide(&rules, "k", &v, 3500, DAY), vec![Expire::Noncurrent(VersionRef::Id(1))]);
        assert_eq!(decide(&rules, "k", &v, 4000, DAY), vec![Expire::Noncurrent(VersionRef::Id(2)), Expire::Noncurrent(VersionRef::Id(1))]);
        assert_eq!(decide(&rules, "k", &v, 99_999, DAY).len(), 2, "the newest noncurrent version stays");
        // A noncurrent delete marker goes too.
        let v = [obj(4, 5000, 1), obj(3, 3000, 1), marker(2, 2000)];
        assert_eq!(decide(&rules, "k", &v, 9000, DAY), vec![Expire::Noncurrent(VersionRef::Id(2))]);
    }

    #[test]
    fn a_lone_delete_marker_is_removed_and_a_marker_is_never_expired_as_current() {
        let mut r = rule(RuleFilter::Prefix("a".into()));
        r.expiration = Some(Expiration { at: None, expired_markers: true });
        let rules = [r];
        assert_eq!(decide(&rules, "ab", &[marker(9, 100)], 101, DAY), vec![Expire::Marker(VersionRef::Id(9))]);
        assert!(decide(&rules, "ab", &[marker(9, 100), obj(1, 50, 1)], 99_999, DAY).is_empty(), "a marker over a version is not expired");
        assert!(decide(&rules, "b", &[marker(9, 100)], 99_999, DAY).is_empty());
        // With Days, a lone marker goes once its days have passed; the current-version
        // expiration never stacks a marker on a marker.
        let mut d = rule(RuleFilter::All);
        d.expiration = Some(Expiration { at: Some(ExpireAt::Days(1)), expired_markers: false });
        assert!(decide(std::slice::from_ref(&d), "k", &[marker(9, 100)], 999, DAY).is_empty());
        assert_eq!(decide(std::slice::from_ref(&d), "k", &[marker(9, 100)], 2000, DAY), vec![Expire::Marker(VersionRef::Id(9))]);
        assert!(decide(&[d], "k", &[marker(9, 100), obj(1, 50, 1)], 99_999, DAY).is_empty());
    }

    #[test]
    fn a_date_does_not_remove_a_lone_marker() {
        let mut r = rule(RuleFilter::All);
        r.expiration = Some(Expiration { at: Some(ExpireAt::Date(5000)), expired_markers: false });
        assert!(decide(&[r], "k", &[marker(9, 100)], 99_999, DAY).is_empty());
    }

    #[test]
    fn uploads_abort_by_prefix_after_their_days() {
        let mut r = rule(RuleFilter::Prefix("big/".into()));
        r.abort_upload_days = Some(1);
        let rules = [r];
        assert!(!abort_upload(&rules, "big/x", 100, 999, DAY));
        assert!(abort_upload(&rules, "big/x", 100, 2000, DAY));
        assert!(!abort_upload(&rules, "small/x", 100, 99_999, DAY));
    }

    #[test]
    fn a_pass_reads_the_prefix_every_expiring_rule_shares() {
        let with = |p: &str| {
            let mut r = rule(RuleFilter::Prefix(p.into()));
            r.expiration = Some(Expiration { at: Some(ExpireAt::Days(1)), expired_markers: false });
            r
        };
        assert_eq!(scan_prefix(&[]), None);
        assert_eq!(scan_prefix(&[with("logs/2024/"), with("logs/2025/")]), Some("logs/202".into()));
        assert_eq!(scan_prefix(&[with("logs/"), with("tmp/")]), Some(String::new()));
        assert_eq!(scan_prefix(&[with("é/a"), with("é/b")]), Some("é/".into()), "cut on a character boundary");
        let mut uploads_only = rule(RuleFilter::Prefix("x".into()));
        uploads_only.abort_upload_days = Some(1);
        assert_eq!(scan_prefix(&[uploads_only]), None);
    }
}
