//! The values of object lock (S3's write-once-read-many), without I/O: a version's retention
//! and legal hold, a bucket's default retention, and what a lock refuses. Where they are
//! stored and checked: `lock.rs`.

use serde::{Deserialize, Serialize};

const DAY_MS: i64 = 86_400_000;

/// How a retention protects a version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LockMode {
    /// Deletable, shortened or removed only by a caller allowed to bypass it.
    Governance,
    /// Nobody can delete it, shorten it or weaken it before it ends.
    Compliance,
}

impl LockMode {
    /// S3's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LockMode::Governance => "GOVERNANCE",
            LockMode::Compliance => "COMPLIANCE",
        }
    }

    /// From S3's spelling (`None`: neither mode).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "GOVERNANCE" => Some(LockMode::Governance),
            "COMPLIANCE" => Some(LockMode::Compliance),
            _ => None,
        }
    }
}

/// A version's retention: its mode and when it ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// The mode.
    pub mode: LockMode,
    /// When it ends, ms since the epoch.
    pub until_ms: i64,
}

/// A version's lock: its retention and legal hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionLock {
    /// Its retention, if it has one (it may have ended).
    pub retention: Option<Retention>,
    /// It is under a legal hold.
    pub legal_hold: bool,
}

impl VersionLock {
    /// It holds nothing (its record can go).
    pub fn is_empty(&self) -> bool {
        self.retention.is_none() && !self.legal_hold
    }

    /// Why the version may not be deleted at `now_ms` (`None`: it may), where `bypass` says
    /// the caller may bypass a GOVERNANCE retention and asked to.
    pub fn refusal(&self, now_ms: i64, bypass: bool) -> Option<String> {
        if self.legal_hold {
            return Some("it is under a legal hold (remove it with PutObjectLegalHold OFF first)".into());
        }
        let r = self.retention.filter(|r| r.until_ms > now_ms)?;
        match r.mode {
            LockMode::Compliance => Some(format!("it is retained in COMPLIANCE mode until {}, which nobody can shorten", rfc3339(r.until_ms))),
            LockMode::Governance if !bypass => Some(format!(
                "it is retained in GOVERNANCE mode until {}: send x-amz-bypass-governance-retention: true with a key allowed s3:BypassGovernanceRetention",
                rfc3339(r.until_ms)
            )),
            LockMode::Governance => None,
        }
    }
}

/// A bucket's default retention period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RetentionPeriod {
    /// Days.
    Days(u32),
    /// Years (of 365 days).
    Years(u32),
}

impl RetentionPeriod {
    pub(crate) fn ms(self) -> i64 {
        match self {
            RetentionPeriod::Days(d) => i64::from(d).saturating_mul(DAY_MS),
            RetentionPeriod::Years(y) => i64::from(y).saturating_mul(365 * DAY_MS),
        }
    }
}

/// A bucket's object lock configuration (its record exists: object lock is enabled).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketLock {
    /// The retention a new version gets when its write asks for none.
    pub default: Option<(LockMode, RetentionPeriod)>,
}

/// `ms` since the epoch as RFC 3339 (UTC, seconds), for messages.
pub fn rfc3339(ms: i64) -> String {
    let when = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    when.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| format!("{ms} ms after 1970"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_print_as_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_796_083_199_000), "2026-11-30T23:59:59Z");
    }

    #[test]
    fn a_lock_refuses_deletion_as_s3_does() {
        let gov = VersionLock { retention: Some(Retention { mode: LockMode::Governance, until_ms: 100 }), legal_hold: false };
        assert!(gov.refusal(99, false).is_some());
        assert!(gov.refusal(99, true).is_none(), "a bypass lifts GOVERNANCE");
        assert!(gov.refusal(100, false).is_none(), "an ended retention protects nothing");
        let comp = VersionLock { retention: Some(Retention { mode: LockMode::Compliance, until_ms: 100 }), legal_hold: false };
        assert!(comp.refusal(99, true).is_some(), "nothing lifts COMPLIANCE");
        let hold = VersionLock { retention: None, legal_hold: true };
        assert!(hold.refusal(i64::MAX, true).is_some());
        assert!(VersionLock::default().refusal(0, false).is_none());
    }
}
