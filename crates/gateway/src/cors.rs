//! CORS as S3 does it, for browsers: a preflight `OPTIONS` is answered from the bucket's
//! rules (it carries no signature), and a request that names an `Origin` gets the CORS
//! headers of the first rule that allows its origin and method. The rules are stored by
//! PutBucketCors (`s3/cors.rs`, `kintsugi_meta::CorsRule`).

use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Method, StatusCode};
use kintsugi_cluster::Store;
use kintsugi_meta::CorsRule;

/// The bucket a path-style request names (the first path segment, percent-decoded).
pub(crate) fn bucket_of(path: &str) -> Option<String> {
    let first = path.trim_start_matches('/').split('/').next().filter(|s| !s.is_empty())?;
    Some(crate::admin_util::percent_decode(first))
}

/// `pattern` (with at most one `*`, which matches any run of characters) against `s`.
fn wildcard(pattern: &str, s: &str, fold_case: bool) -> bool {
    let (p, s) = if fold_case { (pattern.to_ascii_lowercase(), s.to_ascii_lowercase()) } else { (pattern.to_owned(), s.to_owned()) };
    match p.split_once('*') {
        None => p == s,
        Some((head, tail)) => s.len() >= head.len() + tail.len() && s.starts_with(head) && s.ends_with(tail),
    }
}

/// The first rule allowing `origin` to use `method` with the request headers `headers`.
pub(crate) fn matching<'a>(rules: &'a [CorsRule], origin: &str, method: &str, headers: &[String]) -> Option<&'a CorsRule> {
    rules.iter().find(|r| {
        r.allowed_origins.iter().any(|o| wildcard(o, origin, false))
            && r.allowed_methods.iter().any(|m| m == method)
            && headers.iter().all(|h| r.allowed_headers.iter().any(|a| wildcard(a, h, true)))
    })
}

/// The CORS headers of an answer allowed by `rule`.
fn allow_headers(h: &mut HeaderMap, rule: &CorsRule, origin: &str, preflight_headers: Option<&[String]>) {
    let mut set = |name: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(name, v);
        }
    };
    let any_origin = rule.allowed_origins.iter().any(|o| o == "*");
    set("access-control-allow-origin", if any_origin { "*".to_owned() } else { origin.to_owned() });
    if !any_origin {
        set("access-control-allow-credentials", "true".to_owned());
    }
    set("access-control-allow-methods", rule.allowed_methods.join(", "));
    if let Some(asked) = preflight_headers.filter(|a| !a.is_empty()) {
        set("access-control-allow-headers", asked.join(", "));
    }
    if !rule.expose_headers.is_empty() {
        set("access-control-expose-headers", rule.expose_headers.join(", "));
    }
    if let Some(age) = rule.max_age_seconds {
        set("access-control-max-age", age.to_string());
    }
    set("vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method".to_owned());
}

async fn rules_of(store: &Arc<Store>, bucket: &str) -> Option<Vec<CorsRule>> {
    let b = bucket.to_owned();
    match store.meta_call(move |m| m.local_bucket_cors(&b)).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(bucket, error = %e, "could not read the bucket's CORS rules; answering as if it had none");
            None
        }
    }
}

/// An S3 error answer made outside s3s.
pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> http::Response<s3s::Body> {
    let body = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>");
    let mut resp = http::Response::new(s3s::Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    resp
}

/// The answer to a preflight `OPTIONS` request to `bucket` (request headers `h`).
pub(crate) async fn preflight(store: &Arc<Store>, bucket: Option<String>, h: &HeaderMap) -> http::Response<s3s::Body> {
    let text = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (Some(origin), Some(method)) = (text("origin"), text("access-control-request-method")) else {
        return error(StatusCode::BAD_REQUEST, "BadRequest", "Insufficient information. Origin and Access-Control-Request-Method request headers needed.");
    };
    let asked: Vec<String> = text("access-control-request-headers")
        .map(|v| v.split(',').map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let rules = match bucket {
        Some(b) => rules_of(store, &b).await,
        None => None,
    };
    let Some(rules) = rules else {
        return error(StatusCode::FORBIDDEN, "AccessForbidden", "CORSResponse: CORS is not enabled for this bucket.");
    };
    match matching(&rules, &origin, &method, &asked) {
        Some(rule) => {
            let mut resp = http::Response::new(s3s::Body::empty());
            allow_headers(resp.headers_mut(), rule, &origin, Some(&asked));
            resp
        }
        None => error(
            StatusCode::FORBIDDEN,
            "AccessForbidden",
            "CORSResponse: This CORS request is not allowed. The origin, the method (Access-Control-Request-Method) or the headers (Access-Control-Request-Headers) are not allowed by the bucket's CORS rules.",
        ),
    }
}

/// Add the CORS headers of the rule allowing `origin` to use `method` on `bucket`, if any.
pub(crate) async fn decorate(store: &Arc<Store>, bucket: &str, origin: &str, method: &Method, h: &mut HeaderMap) {
    let Some(rules) = rules_of(store, bucket).await else { return };
    if let Some(rule) = matching(&rules, origin, method.as_str(), &[]) {
        allow_headers(h, rule, origin, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> CorsRule {
        let v = |x: &[&str]| x.iter().map(|s| (*s).to_owned()).collect();
        CorsRule { allowed_origins: v(origins), allowed_methods: v(methods), allowed_headers: v(headers), ..CorsRule::default() }
    }

    #[test]
    fn rules_match_origin_method_and_headers_with_one_wildcard() {
        let rules = vec![rule(&["https://*.example.com"], &["GET", "HEAD"], &["x-amz-*"]), rule(&["*"], &["PUT"], &["*"])];
        let hs = |x: &[&str]| x.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(matching(&rules, "https://app.example.com", "GET", &[]).is_some_and(|r| r.allowed_methods[0] == "GET"));
        assert!(matching(&rules, "https://app.example.com", "GET", &hs(&["x-amz-date"])).is_some());
        assert!(matching(&rules, "https://app.example.com", "GET", &hs(&["authorization"])).is_none(), "a header no rule allows");
        assert!(matching(&rules, "http://app.example.com", "GET", &[]).is_none(), "another scheme");
        assert!(matching(&rules, "https://example.org", "GET", &[]).is_none());
        assert!(matching(&rules, "https://anything", "PUT", &hs(&["content-type"])).is_some_and(|r| r.allowed_origins[0] == "*"));
        assert!(matching(&rules, "https://anything", "DELETE", &[]).is_none());
        assert!(matching(&rules, "https://app.example.com", "get", &[]).is_none(), "methods are case-sensitive, as HTTP's");
        assert!(wildcard("X-Amz-*", "x-amz-meta-a", true), "header names fold case");
        assert!(!wildcard("https://*.example.com", "https://.example.co", false));
    }

    #[test]
    fn an_allowed_answer_names_the_origin_or_star() {
        let mut h = HeaderMap::new();
        let mut r = rule(&["https://a.test"], &["GET", "PUT"], &["*"]);
        r.expose_headers = vec!["ETag".into()];
        r.max_age_seconds = Some(600);
        allow_headers(&mut h, &r, "https://a.test", Some(&["content-type".to_owned()]));
        let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
        assert_eq!(get("access-control-allow-origin").as_deref(), Some("https://a.test"));
        assert_eq!(get("access-control-allow-credentials").as_deref(), Some("true"));
        assert_eq!(get("access-control-allow-methods").as_deref(), Some("GET, PUT"));
        assert_eq!(get("access-control-allow-headers").as_deref(), Some("content-type"));
        assert_eq!(get("access-control-expose-headers").as_deref(), Some("ETag"));
        assert_eq!(get("access-control-max-age").as_deref(), Some("600"));
        let mut h = HeaderMap::new();
        allow_headers(&mut h, &rule(&["*"], &["GET"], &[]), "https://b.test", None);
        assert_eq!(h.get("access-control-allow-origin").and_then(|v| v.to_str().ok()), Some("*"));
        assert!(h.get("access-control-allow-credentials").is_none());
    }

    #[test]
    fn the_bucket_is_the_first_path_segment() {
        assert_eq!(bucket_of("/b/k/x").as_deref(), Some("b"));
        assert_eq!(bucket_of("/b").as_deref(), Some("b"));
        assert_eq!(bucket_of("/"), None);
        assert_eq!(bucket_of("/my%2Dbucket/k").as_deref(), Some("my-bucket"));
    }
}
