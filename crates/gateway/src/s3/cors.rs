//! Get/Put/DeleteBucketCors: a bucket's CORS rules, checked as S3 checks them. Browsers'
//! preflights and the CORS headers of answers are `crate::cors`.

use kintsugi_meta::{CorsRule, MetaRead};
use s3s::dto::*;
use s3s::{s3_error, S3Response, S3Result};

use super::KintsugiS3;

/// Most rules one configuration may hold (S3's limit).
const MAX_RULES: usize = 100;
/// Most bytes of origins, methods and headers one configuration may hold (S3 caps the
/// configuration at 64 KB): every preflight reads it, so it must stay small.
const MAX_BYTES: usize = 64 * 1024;
const METHODS: [&str; 5] = ["GET", "PUT", "HEAD", "POST", "DELETE"];

/// A PutBucketCors body as checked rules.
fn rules_of(cfg: CORSConfiguration) -> S3Result<Vec<CorsRule>> {
    if cfg.cors_rules.is_empty() {
        return Err(s3_error!(MalformedXML, "a CORS configuration needs at least one CORSRule"));
    }
    if cfg.cors_rules.len() > MAX_RULES {
        return Err(s3_error!(InvalidRequest, "a CORS configuration may hold at most {MAX_RULES} rules; this one has {}", cfg.cors_rules.len()));
    }
    let bytes: usize = cfg
        .cors_rules
        .iter()
        .map(|r| {
            let list = |v: Option<&Vec<String>>| v.map_or(0, |v| v.iter().map(String::len).sum::<usize>());
            list(Some(&r.allowed_origins)) + list(Some(&r.allowed_methods)) + list(r.allowed_headers.as_ref()) + list(r.expose_headers.as_ref()) + r.id.as_ref().map_or(0, String::len)
        })
        .sum();
    if bytes > MAX_BYTES {
        return Err(s3_error!(InvalidRequest, "a CORS configuration may hold at most {MAX_BYTES} bytes of origins, methods and headers; this one holds {bytes}"));
    }
    let mut out = Vec::with_capacity(cfg.cors_rules.len());
    for r in cfg.cors_rules {
        if r.allowed_methods.is_empty() || r.allowed_origins.is_empty() {
            return Err(s3_error!(MalformedXML, "every CORSRule needs at least one AllowedMethod and one AllowedOrigin"));
        }
        if let Some(m) = r.allowed_methods.iter().find(|m| !METHODS.contains(&m.as_str())) {
            return Err(s3_error!(InvalidRequest, "Found unsupported HTTP method in CORS config. Unsupported method is {m}"));
        }
        let headers = r.allowed_headers.unwrap_or_default();
        if let Some(o) = r.allowed_origins.iter().chain(headers.iter()).find(|o| o.matches('*').count() > 1) {
            return Err(s3_error!(InvalidRequest, "\"{o}\" can not have more than one wildcard"));
        }
        if r.max_age_seconds.is_some_and(|a| a < 0) {
            return Err(s3_error!(InvalidRequest, "MaxAgeSeconds may not be negative"));
        }
        out.push(CorsRule {
            id: r.id,
            allowed_origins: r.allowed_origins,
            allowed_methods: r.allowed_methods,
            allowed_headers: headers,
            expose_headers: r.expose_headers.unwrap_or_default(),
            max_age_seconds: r.max_age_seconds,
        });
    }
    Ok(out)
}

fn to_dto(rules: Vec<CorsRule>) -> Vec<CORSRule> {
    rules
        .into_iter()
        .map(|r| CORSRule {
            id: r.id,
            allowed_origins: r.allowed_origins,
            allowed_methods: r.allowed_methods,
            allowed_headers: (!r.allowed_headers.is_empty()).then_some(r.allowed_headers),
            expose_headers: (!r.expose_headers.is_empty()).then_some(r.expose_headers),
            max_age_seconds: r.max_age_seconds,
        })
        .collect()
}

impl KintsugiS3 {
    pub(super) async fn get_bucket_cors_impl(&self, input: GetBucketCorsInput) -> S3Result<S3Response<GetBucketCorsOutput>> {
        self.require_bucket(&input.bucket).await?;
        let b = input.bucket.clone();
        match self.meta(move |m| m.bucket_cors(&b)).await? {
            Some(rules) => Ok(S3Response::new(GetBucketCorsOutput { cors_rules: Some(to_dto(rules)) })),
            None => Err(s3_error!(NoSuchCORSConfiguration, "The CORS configuration does not exist: bucket {} has none", input.bucket)),
        }
    }

    pub(super) async fn put_bucket_cors_impl(&self, input: PutBucketCorsInput) -> S3Result<S3Response<PutBucketCorsOutput>> {
        let rules = rules_of(input.cors_configuration)?;
        let b = input.bucket;
        self.meta(move |m| m.put_bucket_cors(&b, &rules)).await?;
        Ok(S3Response::new(PutBucketCorsOutput {}))
    }

    pub(super) async fn delete_bucket_cors_impl(&self, input: DeleteBucketCorsInput) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
        let b = input.bucket;
        self.meta(move |m| m.put_bucket_cors(&b, &[])).await?;
        Ok(S3Response::new(DeleteBucketCorsOutput {}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(origins: &[&str], methods: &[&str]) -> CORSRule {
        CORSRule {
            allowed_origins: origins.iter().map(|s| (*s).to_owned()).collect(),
            allowed_methods: methods.iter().map(|s| (*s).to_owned()).collect(),
            ..Default::default()
        }
    }

    fn code(r: S3Result<Vec<CorsRule>>) -> String {
        match r {
            Ok(v) => format!("{} rules", v.len()),
            Err(e) => e.code().as_str().to_owned(),
        }
    }

    #[test]
    fn configurations_are_checked_as_s3_checks_them() {
        let cfg = |rules: Vec<CORSRule>| CORSConfiguration { cors_rules: rules };
        assert_eq!(code(rules_of(cfg(vec![rule(&["*"], &["GET", "PUT", "HEAD", "POST", "DELETE"])]))), "1 rules");
        assert_eq!(code(rules_of(cfg(vec![]))), "MalformedXML");
        assert_eq!(code(rules_of(cfg(vec![rule(&["*"], &["PATCH"])]))), "InvalidRequest");
        assert_eq!(code(rules_of(cfg(vec![rule(&["https://*.*.test"], &["GET"])]))), "InvalidRequest");
        assert_eq!(code(rules_of(cfg(vec![rule(&[], &["GET"])]))), "MalformedXML");
        assert_eq!(code(rules_of(cfg((0..101).map(|_| rule(&["*"], &["GET"])).collect()))), "InvalidRequest");
        let big = "o".repeat(700);
        let many: Vec<&str> = (0..100).map(|_| big.as_str()).collect();
        assert_eq!(code(rules_of(cfg(vec![rule(&many, &["GET"])]))), "InvalidRequest", "70 KB of origins");
        let mut r = rule(&["*"], &["GET"]);
        r.max_age_seconds = Some(-1);
        assert_eq!(code(rules_of(cfg(vec![r]))), "InvalidRequest");
    }
}
