//! The lifetime of a presigned URL: at most seven days, as S3 allows (s3s checks only that it
//! has not expired yet).

use s3s::{s3_error, S3Result};

/// Longest validity of a presigned URL, as S3 allows (seven days).
const MAX_PRESIGNED_SECS: u64 = 7 * 24 * 3600;

/// Refuse a presigned URL valid for more than seven days, as S3 does (s3s checks only that
/// it has not expired yet): SigV4's `X-Amz-Expires` seconds, or SigV2's `Expires` instant,
/// their names decoded as s3s decodes them.
pub(super) fn check_presigned_expiry(query: Option<&str>) -> S3Result<()> {
    let Some(q) = query else { return Ok(()) };
    let pairs: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes()).into_owned().collect();
    let sigv2 = pairs.iter().any(|(k, _)| k == "Signature");
    for (name, v) in &pairs {
        let ok = match name.as_str() {
            "X-Amz-Expires" => v.parse::<u64>().is_ok_and(|secs| secs <= MAX_PRESIGNED_SECS),
            "Expires" if sigv2 => {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
                v.parse::<u64>().is_ok_and(|at| at <= now.saturating_add(MAX_PRESIGNED_SECS))
            }
            _ => true,
        };
        if !ok {
            return Err(s3_error!(
                AuthorizationQueryParametersError,
                "a presigned URL may be valid for at most {MAX_PRESIGNED_SECS} seconds (seven days); {name}={v} is beyond that"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_presigned_expiry;

    #[test]
    fn presigned_urls_may_last_seven_days_and_no_longer() {
        assert!(check_presigned_expiry(None).is_ok());
        assert!(check_presigned_expiry(Some("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=604800")).is_ok());
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
        let soon = format!("AWSAccessKeyId=AK&Expires={}&Signature=x", now + 3600);
        assert!(check_presigned_expiry(Some(&soon)).is_ok(), "a SigV2 URL valid for an hour");
        let late = format!("AWSAccessKeyId=AK&Expires={}&Signature=x", now + 8 * 24 * 3600);
        for q in ["X-Amz-Expires=604801", "a=b&X-Amz-Expires=99999999999999999999", "X-Amz-Expires=-1", "X-Amz-Expire%73=604801", late.as_str()] {
            let e = check_presigned_expiry(Some(q)).expect_err(q);
            assert_eq!(e.code().as_str(), "AuthorizationQueryParametersError", "{q}");
        }
    }
}
