//! The freshness of requests signed with signature version 2 in the Authorization header
//! (`AWS KEY:SIGNATURE`). s3s checks such a signature but not the date it covers, so a request
//! captured once could be replayed for ever. S3 refuses one whose date (`x-amz-date`, else
//! `Date`) is missing or unreadable (`403 AccessDenied`) or more than 15 minutes from the
//! server's clock (`403 RequestTimeTooSkewed`); so does this check, before s3s sees the request.
//! Signature version 4 carries its own date, which s3s checks.

use std::time::{Duration, SystemTime};

use hyper::header::{HeaderMap, AUTHORIZATION, DATE};
use hyper::StatusCode;

/// The furthest a request's date may be from the server's clock, as S3 allows.
pub const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// Why a SigV2 header-signed request is refused for its date (status, S3 code, message);
/// `None` for any other request, or a fresh one.
pub fn refusal(headers: &HeaderMap, now: SystemTime) -> Option<(StatusCode, &'static str, &'static str)> {
    let auth = headers.get(AUTHORIZATION)?.to_str().ok()?;
    if !auth.starts_with("AWS ") {
        return None;
    }
    let invalid = (StatusCode::FORBIDDEN, "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header");
    // x-amz-date, when sent, is the date the signature covers (Date is then ignored, as S3 does).
    let given = headers.get("x-amz-date").or_else(|| headers.get(DATE));
    let Some(text) = given.and_then(|v| v.to_str().ok()).map(str::trim).filter(|t| !t.is_empty()) else {
        return Some(invalid);
    };
    let Some(at) = parse_date(text) else { return Some(invalid) };
    let skew = match now.duration_since(at) {
        Ok(d) => d,
        Err(e) => e.duration(),
    };
    if skew > MAX_SKEW {
        return Some((StatusCode::FORBIDDEN, "RequestTimeTooSkewed", "The difference between the request time and the server's time is too large (more than 15 minutes); check the client's clock"));
    }
    None
}

/// An HTTP date (RFC 9110: `Sun, 06 Nov 1994 08:49:37 GMT`, or its obsolete forms). The weekday
/// is not held against the date (clients compute it; a wrong one is no reason to refuse), and
/// no date before 1970 is valid.
fn parse_date(text: &str) -> Option<SystemTime> {
    if let Ok(t) = httpdate::parse_http_date(text) {
        return Some(t);
    }
    // IMF-fixdate with any weekday: "Www, DD Mon YYYY HH:MM:SS GMT".
    let rest = text.split_once(", ").map_or(text, |(_, r)| r);
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, clock, "GMT"] = parts[..] else { return None };
    let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"].iter().position(|m| *m == month)?;
    let month = time::Month::try_from(u8::try_from(month + 1).ok()?).ok()?;
    let date = time::Date::from_calendar_date(year.parse().ok()?, month, day.parse().ok()?).ok()?;
    let hms: Vec<u8> = clock.split(':').map(str::parse).collect::<Result<_, _>>().ok()?;
    let [h, m, sec] = hms[..] else { return None };
    let at = date.with_hms(h, m, sec).ok()?.assume_utc().unix_timestamp();
    let secs = u64::try_from(at).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(auth: &str, pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(auth).expect("value"));
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    #[test]
    fn a_sigv2_request_needs_a_fresh_readable_date_and_others_are_not_judged_here() {
        let now = httpdate::parse_http_date("Sun, 06 Dec 2026 18:00:00 GMT").expect("date");
        let v2 = "AWS KTKEY:c2lnbmF0dXJl";
        let code = |pairs: &[(&'static str, &str)]| refusal(&headers(v2, pairs), now).map(|(_, c, _)| c);
        assert_eq!(code(&[("date", "Sun, 06 Dec 2026 18:00:00 GMT")]), None);
        assert_eq!(code(&[("x-amz-date", "Sun, 06 Dec 2026 18:14:00 GMT")]), None, "14 minutes ahead");
        assert_eq!(code(&[("x-amz-date", "Sun, 06 Dec 2026 17:46:00 GMT")]), None, "14 minutes behind");
        assert_eq!(code(&[("x-amz-date", "Sun, 06 Dec 2026 17:44:00 GMT")]), Some("RequestTimeTooSkewed"), "16 minutes behind: a replay");
        assert_eq!(code(&[("x-amz-date", "Tue, 07 Jul 9999 21:53:04 GMT")]), Some("RequestTimeTooSkewed"));
        // x-amz-date wins over Date.
        assert_eq!(code(&[("date", "Sun, 06 Dec 2026 18:00:00 GMT"), ("x-amz-date", "Sun, 06 Dec 2026 10:00:00 GMT")]), Some("RequestTimeTooSkewed"));
        // A weekday that does not match its date is not held against it.
        assert_eq!(code(&[("x-amz-date", "Mon, 06 Dec 2026 18:01:00 GMT")]), None);
        for bad in ["Bad Date", "", "Tue, 07 Jul 1950 21:53:04 GMT", "2026-12-06T18:00:00Z", "Sun, 32 Dec 2026 18:00:00 GMT", "Sun, 06 Dec 2026 25:00:00 GMT"] {
            assert_eq!(code(&[("x-amz-date", bad)]), Some("AccessDenied"), "{bad:?}");
        }
        assert_eq!(code(&[]), Some("AccessDenied"), "no date at all");
        // SigV4, anonymous and presigned requests are not judged here.
        assert_eq!(refusal(&headers("AWS4-HMAC-SHA256 Credential=K/20261206/us-east-1/s3/aws4_request", &[]), now), None);
        assert_eq!(refusal(&HeaderMap::new(), now), None);
    }
}
