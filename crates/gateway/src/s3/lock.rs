//! S3 object lock: Get/PutObjectLockConfiguration, Get/PutObjectRetention,
//! Get/PutObjectLegalHold, the lock headers of writes and reads, and the bypass of GOVERNANCE
//! retention. What a lock refuses is decided where the commands apply
//! (`crates/meta/src/lock.rs`), so two gateways cannot race past it.

use s3s::dto::*;
use s3s::{s3_error, S3Response, S3Result};

use kintsugi_meta::{now_ms, BucketLock, LockMode, MetaError, MetaRead, Retention, RetentionPeriod, VersionLock};

use super::KintsugiS3;
use crate::error::GatewayError;

/// How often a lock change is retried when its version moved between the lookup and the
/// commit (a newer write archived it meanwhile: its manifest id stays, so this is rare).
const ATTEMPTS: usize = 3;

pub(super) fn ms_of(t: &Timestamp) -> i64 {
    let nanos = time::OffsetDateTime::from(t.clone()).unix_timestamp_nanos();
    i64::try_from(nanos / 1_000_000).unwrap_or(if nanos < 0 { i64::MIN } else { i64::MAX })
}

fn mode_of(m: &str) -> Option<LockMode> {
    LockMode::parse(m)
}

/// A retention as S3 writes it: mode and date both, or neither (`None`); a malformed one is
/// `MalformedXML` (`malformed`: it came in a body) or `InvalidArgument` (in headers).
fn retention_of(mode: Option<&str>, until: Option<&Timestamp>, malformed: bool) -> S3Result<Option<Retention>> {
    let bad = |msg: String| if malformed { s3_error!(MalformedXML, "{msg}") } else { s3_error!(InvalidArgument, "{msg}") };
    match (mode, until) {
        (None, None) => Ok(None),
        (Some(m), Some(u)) => {
            let mode = mode_of(m).ok_or_else(|| bad(format!("unknown object lock mode {m:?}: give GOVERNANCE or COMPLIANCE")))?;
            let until_ms = ms_of(u);
            if until_ms <= now_ms() {
                return Err(s3_error!(InvalidArgument, "The retain until date must be in the future!"));
            }
            Ok(Some(Retention { mode, until_ms }))
        }
        _ => Err(bad("x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied".into())),
    }
}

fn legal_hold_of(status: &str) -> S3Result<bool> {
    match status {
        ObjectLockLegalHoldStatus::ON => Ok(true),
        ObjectLockLegalHoldStatus::OFF => Ok(false),
        other => Err(s3_error!(MalformedXML, "legal hold status {other:?} is neither ON nor OFF")),
    }
}

/// The lock a write asked for with its `x-amz-object-lock-*` headers (`None`: none). Checked
/// before the body is read.
pub(super) fn asked_lock(mode: Option<&ObjectLockMode>, until: Option<&Timestamp>, hold: Option<&ObjectLockLegalHoldStatus>) -> S3Result<Option<VersionLock>> {
    let retention = retention_of(mode.map(ObjectLockMode::as_str), until, false)?;
    let legal_hold = match hold {
        Some(h) => Some(legal_hold_of(h.as_str()).map_err(|_| s3_error!(InvalidArgument, "x-amz-object-lock-legal-hold must be ON or OFF"))?),
        None => None,
    };
    if retention.is_none() && legal_hold.is_none() {
        return Ok(None);
    }
    Ok(Some(VersionLock { retention, legal_hold: legal_hold.unwrap_or(false) }))
}

/// A version's lock as the headers of GET and HEAD carry it: all of it to the bucket's owner
/// (`visible: None`), to others what their policy lets them read.
pub(super) fn lock_headers(lock: &VersionLock, visible: Option<crate::access::LockVisible>) -> (Option<ObjectLockMode>, Option<Timestamp>, Option<ObjectLockLegalHoldStatus>) {
    let (retention, legal_hold) = visible.map_or((true, true), |v| (v.retention, v.legal_hold));
    let r = lock.retention.filter(|_| retention);
    (
        r.map(|r| ObjectLockMode::from(r.mode.as_str().to_owned())),
        r.map(|r| super::util::ts(r.until_ms)),
        (lock.legal_hold && legal_hold).then(|| ObjectLockLegalHoldStatus::from_static(ObjectLockLegalHoldStatus::ON)),
    )
}

/// `InvalidRequest` for a bucket without object lock, as S3 answers the lock operations.
fn missing_configuration(bucket: &str) -> s3s::S3Error {
    s3_error!(InvalidRequest, "Bucket is missing Object Lock Configuration: bucket {bucket} was not created with object lock and has none (PutObjectLockConfiguration)")
}

impl KintsugiS3 {
    /// A bucket's lock configuration (`NoSuchBucket` when it does not exist).
    async fn bucket_lock(&self, bucket: &str) -> Result<Option<BucketLock>, GatewayError> {
        let b = bucket.to_owned();
        // One metadata call: the bucket's read passes the read barrier, the lock is read after it.
        self.meta(move |m| match m.bucket(&b)? {
            Some(_) => m.local_bucket_lock(&b),
            None => Err(MetaError::NoSuchBucket { bucket: b }),
        })
        .await
    }

    /// Refuse, as S3, a lock asked for in a bucket without object lock.
    pub(super) async fn require_lock_configuration(&self, bucket: &str) -> S3Result<()> {
        match self.bucket_lock(bucket).await? {
            Some(_) => Ok(()),
            None => Err(missing_configuration(bucket)),
        }
    }

    /// A version's manifest id and lock, in a bucket with object lock.
    async fn locked_version(&self, bucket: &str, key: &str, version_id: Option<&str>) -> S3Result<(u128, VersionLock)> {
        if self.bucket_lock(bucket).await?.is_none() {
            return Err(missing_configuration(bucket));
        }
        let (manifest, _, _, lock) = self.version_with_lock(bucket, key, version_id).await?;
        Ok((manifest.version_id, lock))
    }

    /// Change one version's retention and/or legal hold, looking it up again when it moved.
    async fn change_lock(&self, bucket: &str, key: &str, version_id: Option<&str>, retention: Option<Option<Retention>>, legal_hold: Option<bool>, bypass: bool) -> S3Result<()> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (vid, _) = self.locked_version(bucket, key, version_id).await?;
            let (b, k) = (bucket.to_owned(), key.to_owned());
            match self.meta(move |m| m.put_version_lock(&b, &k, vid, retention, legal_hold, bypass)).await {
                Err(e) if e.is_version_conflict() && attempt < ATTEMPTS => continue,
                other => return other.map_err(Into::into),
            }
        }
    }

    pub(super) async fn get_object_lock_configuration_impl(&self, input: GetObjectLockConfigurationInput) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
        let Some(lock) = self.bucket_lock(&input.bucket).await? else {
            return Err(s3_error!(ObjectLockConfigurationNotFoundError, "Object Lock configuration does not exist for this bucket"));
        };
        let rule = lock.default.map(|(mode, period)| {
            let (days, years) = match period {
                RetentionPeriod::Days(d) => (i32::try_from(d).ok(), None),
                RetentionPeriod::Years(y) => (None, i32::try_from(y).ok()),
            };
            ObjectLockRule { default_retention: Some(DefaultRetention { days, years, mode: Some(ObjectLockRetentionMode::from(mode.as_str().to_owned())) }) }
        });
        Ok(S3Response::new(GetObjectLockConfigurationOutput {
            object_lock_configuration: Some(ObjectLockConfiguration { object_lock_enabled: Some(ObjectLockEnabled::from_static(ObjectLockEnabled::ENABLED)), rule }),
        }))
    }

    pub(super) async fn put_object_lock_configuration_impl(&self, input: PutObjectLockConfigurationInput) -> S3Result<S3Response<PutObjectLockConfigurationOutput>> {
        let conf = input.object_lock_configuration.ok_or_else(|| s3_error!(MalformedXML, "the request has no ObjectLockConfiguration"))?;
        if conf.object_lock_enabled.as_ref().map(ObjectLockEnabled::as_str) != Some(ObjectLockEnabled::ENABLED) {
            return Err(s3_error!(MalformedXML, "ObjectLockEnabled must be Enabled: object lock cannot be turned off once on"));
        }
        let default = match conf.rule {
            None => None,
            Some(ObjectLockRule { default_retention: None }) => return Err(s3_error!(MalformedXML, "a Rule needs a DefaultRetention")),
            Some(ObjectLockRule { default_retention: Some(d) }) => {
                let mode = d.mode.as_ref().and_then(|m| mode_of(m.as_str())).ok_or_else(|| s3_error!(MalformedXML, "a DefaultRetention needs a Mode of GOVERNANCE or COMPLIANCE"))?;
                let positive = |n: i32| u32::try_from(n).ok().filter(|n| *n > 0).ok_or_else(|| s3_error!(InvalidArgument, "Default retention period must be a positive integer value"));
                let period = match (d.days, d.years) {
                    (Some(n), None) => RetentionPeriod::Days(positive(n)?),
                    (None, Some(n)) => RetentionPeriod::Years(positive(n)?),
                    _ => return Err(s3_error!(MalformedXML, "a DefaultRetention needs either Days or Years, not both")),
                };
                Some((mode, period))
            }
        };
        self.require_bucket(&input.bucket).await?;
        let b = input.bucket;
        self.meta(move |m| m.put_bucket_lock(&b, &BucketLock { default })).await?;
        Ok(S3Response::new(PutObjectLockConfigurationOutput::default()))
    }

    pub(super) async fn get_object_retention_impl(&self, input: GetObjectRetentionInput) -> S3Result<S3Response<GetObjectRetentionOutput>> {
        let (_, lock) = self.locked_version(&input.bucket, &input.key, input.version_id.as_deref()).await?;
        let Some(r) = lock.retention else {
            return Err(s3_error!(NoSuchObjectLockConfiguration, "The specified object does not have a ObjectLock configuration"));
        };
        Ok(S3Response::new(GetObjectRetentionOutput {
            retention: Some(ObjectLockRetention { mode: Some(ObjectLockRetentionMode::from(r.mode.as_str().to_owned())), retain_until_date: Some(super::util::ts(r.until_ms)) }),
        }))
    }

    pub(super) async fn put_object_retention_impl(&self, input: PutObjectRetentionInput, bypass: bool) -> S3Result<S3Response<PutObjectRetentionOutput>> {
        let r = input.retention.ok_or_else(|| s3_error!(MalformedXML, "the request has no Retention"))?;
        let retention = retention_of(r.mode.as_ref().map(ObjectLockRetentionMode::as_str), r.retain_until_date.as_ref(), true)?;
        self.change_lock(&input.bucket, &input.key, input.version_id.as_deref(), Some(retention), None, bypass).await?;
        Ok(S3Response::new(PutObjectRetentionOutput::default()))
    }

    pub(super) async fn get_object_legal_hold_impl(&self, input: GetObjectLegalHoldInput) -> S3Result<S3Response<GetObjectLegalHoldOutput>> {
        let (_, lock) = self.locked_version(&input.bucket, &input.key, input.version_id.as_deref()).await?;
        let status = if lock.legal_hold { ObjectLockLegalHoldStatus::ON } else { ObjectLockLegalHoldStatus::OFF };
        Ok(S3Response::new(GetObjectLegalHoldOutput { legal_hold: Some(ObjectLockLegalHold { status: Some(ObjectLockLegalHoldStatus::from_static(status)) }) }))
    }

    pub(super) async fn put_object_legal_hold_impl(&self, input: PutObjectLegalHoldInput) -> S3Result<S3Response<PutObjectLegalHoldOutput>> {
        let status = input.legal_hold.and_then(|h| h.status).ok_or_else(|| s3_error!(MalformedXML, "the request has no LegalHold Status"))?;
        let on = legal_hold_of(status.as_str())?;
        self.change_lock(&input.bucket, &input.key, input.version_id.as_deref(), None, Some(on), false).await?;
        Ok(S3Response::new(PutObjectLegalHoldOutput::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Timestamp {
        super::super::util::ts(ms)
    }

    #[test]
    fn lock_headers_are_checked_as_s3_does() {
        let later = at(now_ms() + 60_000);
        assert_eq!(asked_lock(None, None, None).expect("none"), None);
        let gov = ObjectLockMode::from_static(ObjectLockMode::GOVERNANCE);
        let l = asked_lock(Some(&gov), Some(&later), None).expect("retention").expect("some");
        assert_eq!(l.retention.map(|r| r.mode), Some(LockMode::Governance));
        assert!(!l.legal_hold);
        assert_eq!(asked_lock(Some(&gov), None, None).expect_err("date missing").code().as_str(), "InvalidArgument");
        assert_eq!(asked_lock(Some(&gov), Some(&at(1000)), None).expect_err("past").code().as_str(), "InvalidArgument");
        let bad = ObjectLockMode::from("SOMETIMES".to_owned());
        assert_eq!(asked_lock(Some(&bad), Some(&later), None).expect_err("mode").code().as_str(), "InvalidArgument");
        let on = ObjectLockLegalHoldStatus::from_static(ObjectLockLegalHoldStatus::ON);
        assert_eq!(asked_lock(None, None, Some(&on)).expect("hold"), Some(VersionLock { retention: None, legal_hold: true }));
        let both = VersionLock { retention: Some(Retention { mode: LockMode::Compliance, until_ms: 5000 }), legal_hold: true };
        let (mode, until, hold) = lock_headers(&both, None);
        assert_eq!(mode.as_ref().map(ObjectLockMode::as_str), Some("COMPLIANCE"));
        assert_eq!(until.map(|t| ms_of(&t)), Some(5000));
        assert_eq!(hold.as_ref().map(ObjectLockLegalHoldStatus::as_str), Some("ON"));
        let (mode, until, hold) = lock_headers(&both, Some(crate::access::LockVisible { retention: false, legal_hold: true }));
        assert_eq!((mode, until, hold.is_some()), (None, None, true), "a reader not allowed s3:GetObjectRetention sees no retention");
    }
}
