//! From an S3 operation to the policy action it needs, and the condition keys its request
//! carries.

use http::HeaderMap;

/// Operations only a bucket's owner (or an admin key) may call, whatever its policy says, so
/// that no policy can lock its owner out (S3 keeps them for the owning account too).
/// The bucket's public-access block and ownership controls are the owner's alone too: a
/// policy granting `s3:*` must not let others unlock the bucket.
pub(crate) const POLICY_ACTIONS: [&str; 9] = [
    "GetBucketPolicy",
    "PutBucketPolicy",
    "DeleteBucketPolicy",
    "GetPublicAccessBlock",
    "PutPublicAccessBlock",
    "DeletePublicAccessBlock",
    "GetBucketOwnershipControls",
    "PutBucketOwnershipControls",
    "DeleteBucketOwnershipControls",
];

/// The action a policy grants for operation `op` (s3s's operation name), as S3 names it;
/// `versioned`: the request names a `versionId` (S3 has actions of their own for those).
pub(crate) fn action_of(op: &str, versioned: bool) -> String {
    let version_op = match op {
        "GetObject" | "HeadObject" => Some("GetObjectVersion"),
        "DeleteObject" => Some("DeleteObjectVersion"),
        "GetObjectTagging" => Some("GetObjectVersionTagging"),
        "PutObjectTagging" => Some("PutObjectVersionTagging"),
        "DeleteObjectTagging" => Some("DeleteObjectVersionTagging"),
        "GetObjectAcl" => Some("GetObjectVersionAcl"),
        "PutObjectAcl" => Some("PutObjectVersionAcl"),
        "GetObjectAttributes" => Some("GetObjectVersionAttributes"),
        _ => None,
    };
    if let Some(v) = version_op.filter(|_| versioned) {
        return format!("s3:{v}");
    }
    let named = match op {
        "HeadObject" => "GetObject",
        "HeadBucket" | "ListObjects" | "ListObjectsV2" => "ListBucket",
        "ListObjectVersions" => "ListBucketVersions",
        "ListMultipartUploads" => "ListBucketMultipartUploads",
        "ListParts" => "ListMultipartUploadParts",
        "CreateMultipartUpload" | "UploadPart" | "CompleteMultipartUpload" | "CopyObject" | "UploadPartCopy" => "PutObject",
        "DeleteObjects" => "DeleteObject",
        "DeleteBucketTagging" => "PutBucketTagging",
        "GetBucketCors" => "GetBucketCORS",
        "PutBucketCors" | "DeleteBucketCors" => "PutBucketCORS",
        "GetBucketLifecycleConfiguration" => "GetLifecycleConfiguration",
        "PutBucketLifecycleConfiguration" | "DeleteBucketLifecycle" => "PutLifecycleConfiguration",
        "GetBucketEncryption" => "GetEncryptionConfiguration",
        "PutBucketEncryption" | "DeleteBucketEncryption" => "PutEncryptionConfiguration",
        "GetObjectLockConfiguration" => "GetBucketObjectLockConfiguration",
        "PutObjectLockConfiguration" => "PutBucketObjectLockConfiguration",
        "DeletePublicAccessBlock" => "PutBucketPublicAccessBlock",
        "GetPublicAccessBlock" => "GetBucketPublicAccessBlock",
        "PutPublicAccessBlock" => "PutBucketPublicAccessBlock",
        "DeleteBucketOwnershipControls" => "PutBucketOwnershipControls",
        other => other,
    };
    format!("s3:{named}")
}

/// The condition keys of a request (lower-cased names) from its query and headers.
pub(crate) fn request_keys(op: &str, query: Option<&str>, headers: &HeaderMap) -> Vec<(String, String)> {
    let mut keys = Vec::new();
    let (mut signed_by_query, mut v2) = (false, false);
    // Names and values decoded as s3s decodes them (so `pre%66ix` is `prefix` here too).
    let pairs: Vec<(String, String)> = query.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
    for (name, value) in pairs {
        match name.as_str() {
            "prefix" | "delimiter" | "max-keys" if op.starts_with("ListObjects") => keys.push((format!("s3:{name}"), value)),
            "versionId" => keys.push(("s3:versionid".to_owned(), value)),
            // SigV4 and SigV2 presigned URLs (s3s checks a SigV2 one first).
            "X-Amz-Signature" => signed_by_query = true,
            "Signature" => (signed_by_query, v2) = (true, true),
            _ => {}
        }
    }
    for (header, key) in [
        ("x-amz-acl", "s3:x-amz-acl"),
        ("x-amz-grant-read", "s3:x-amz-grant-read"),
        ("x-amz-grant-write", "s3:x-amz-grant-write"),
        ("x-amz-grant-read-acp", "s3:x-amz-grant-read-acp"),
        ("x-amz-grant-write-acp", "s3:x-amz-grant-write-acp"),
        ("x-amz-grant-full-control", "s3:x-amz-grant-full-control"),
        ("x-amz-content-sha256", "s3:x-amz-content-sha256"),
        ("x-amz-copy-source", "s3:x-amz-copy-source"),
        ("x-amz-metadata-directive", "s3:x-amz-metadata-directive"),
        ("x-amz-storage-class", "s3:x-amz-storage-class"),
        ("x-amz-server-side-encryption", "s3:x-amz-server-side-encryption"),
        ("user-agent", "aws:useragent"),
        ("referer", "aws:referer"),
    ] {
        if let Some(v) = headers.get(header).and_then(|v| v.to_str().ok()) {
            keys.push((key.to_owned(), v.to_owned()));
        }
    }
    let auth = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if signed_by_query || auth.is_some() {
        keys.push(("s3:authtype".to_owned(), if signed_by_query { "REST-QUERY-STRING" } else { "REST-HEADER" }.to_owned()));
        let v4 = !v2 && (signed_by_query || auth.is_some_and(|a| a.starts_with("AWS4-HMAC-SHA256")));
        keys.push(("s3:signatureversion".to_owned(), if v4 { "AWS4-HMAC-SHA256" } else { "AWS" }.to_owned()));
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_need_the_actions_s3_names() {
        assert_eq!(action_of("GetObject", false), "s3:GetObject");
        assert_eq!(action_of("GetObject", true), "s3:GetObjectVersion");
        assert_eq!(action_of("DeleteObject", true), "s3:DeleteObjectVersion");
        assert_eq!(action_of("ListObjectsV2", true), "s3:ListBucket");
        assert_eq!(action_of("HeadObject", false), "s3:GetObject");
        assert_eq!(action_of("ListObjectsV2", false), "s3:ListBucket");
        assert_eq!(action_of("UploadPart", false), "s3:PutObject");
        assert_eq!(action_of("DeleteObjects", false), "s3:DeleteObject");
        assert_eq!(action_of("DeleteBucketCors", false), "s3:PutBucketCORS");
        assert_eq!(action_of("GetBucketPolicyStatus", false), "s3:GetBucketPolicyStatus");
    }

    #[test]
    fn a_listing_carries_its_prefix_and_a_write_its_acl() {
        let mut h = HeaderMap::new();
        h.insert("x-amz-acl", "private".parse().expect("header"));
        h.insert("x-amz-grant-full-control", "id=OWNER".parse().expect("header"));
        h.insert("authorization", "AWS4-HMAC-SHA256 Credential=X".parse().expect("header"));
        let keys = request_keys("ListObjectsV2", Some("list-type=2&prefix=home%2Fann%2F&delimiter=%2F"), &h);
        for want in [("s3:prefix", "home/ann/"), ("s3:delimiter", "/"), ("s3:x-amz-acl", "private"), ("s3:x-amz-grant-full-control", "id=OWNER"), ("s3:authtype", "REST-HEADER"), ("s3:signatureversion", "AWS4-HMAC-SHA256")] {
            assert!(keys.iter().any(|(k, v)| k == want.0 && v == want.1), "{want:?} in {keys:?}");
        }
        let keys = request_keys("GetObject", Some("prefix=x&X-Amz-Signature=ab"), &HeaderMap::new());
        assert!(!keys.iter().any(|(k, _)| k == "s3:prefix"), "only listings have s3:prefix");
        assert!(keys.iter().any(|(k, v)| k == "s3:authtype" && v == "REST-QUERY-STRING"));
        // Percent-encoded names are the names s3s routes and signs by.
        let keys = request_keys("ListObjects", Some("pre%66ix=secret%2F&X-Amz-Signatur%65=ab"), &HeaderMap::new());
        assert!(keys.iter().any(|(k, v)| k == "s3:prefix" && v == "secret/"), "{keys:?}");
        assert!(keys.iter().any(|(k, v)| k == "s3:authtype" && v == "REST-QUERY-STRING"), "{keys:?}");
        let v2 = request_keys("GetObject", Some("AWSAccessKeyId=AK&Expires=1&Signature=x"), &HeaderMap::new());
        assert!(v2.iter().any(|(k, v)| k == "s3:authtype" && v == "REST-QUERY-STRING"), "a SigV2 presigned URL: {v2:?}");
        assert!(v2.iter().any(|(k, v)| k == "s3:signatureversion" && v == "AWS"), "a SigV2 presigned URL is no SigV4: {v2:?}");
        let mut h = HeaderMap::new();
        h.insert("authorization", "AWS4-HMAC-SHA256 Credential=X".parse().expect("header"));
        let both = request_keys("GetObject", Some("Signature=x"), &h);
        assert!(both.iter().any(|(k, v)| k == "s3:signatureversion" && v == "AWS"), "s3s verifies the SigV2 query first: {both:?}");
    }
}
