"""CORS as S3 answers it: Get/Put/DeleteBucketCors through boto3, browsers' preflight
OPTIONS requests (unsigned) and the CORS headers of signed requests that name an Origin.
Usage: cors.py BUCKET"""

import http.client
import sys
import urllib.parse

from s3util import Checker, client, endpoint

bucket = sys.argv[1]
s3 = client()
c = Checker("cors")


def raw(method, path, headers):
    u = urllib.parse.urlsplit(endpoint())
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request(method, path, headers=headers)
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


def preflight(origin, method, req_headers=None, key="obj"):
    h = {"Origin": origin, "Access-Control-Request-Method": method}
    if req_headers:
        h["Access-Control-Request-Headers"] = req_headers
    return raw("OPTIONS", f"/{bucket}/{key}", h)


def main():
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="obj", Body=b"for the browser")

    status, _, body = preflight("https://app.example.com", "GET")
    c.check(status == 403 and b"CORSResponse" in body, f"a preflight to a bucket without CORS rules is refused: {status} {body[:120]!r}")
    c.expect_error(lambda: s3.get_bucket_cors(Bucket=bucket), "NoSuchCORSConfiguration", 404, "GetBucketCors of a bucket without rules")

    for what, rule in (
        ("an unsupported method", {"AllowedMethods": ["PATCH"], "AllowedOrigins": ["*"]}),
        ("an origin with two wildcards", {"AllowedMethods": ["GET"], "AllowedOrigins": ["https://*.*.example.com"]}),
    ):
        c.expect_error(lambda: s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [rule]}), "InvalidRequest", 400, f"PutBucketCors with {what}")
    c.expect_error(lambda: s3.get_bucket_cors(Bucket=bucket), "NoSuchCORSConfiguration", 404, "refused configurations stored nothing")

    rules = [
        {"ID": "app", "AllowedOrigins": ["https://*.example.com"], "AllowedMethods": ["GET", "HEAD"], "AllowedHeaders": ["x-amz-*", "range"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600},
        {"AllowedOrigins": ["*"], "AllowedMethods": ["PUT"], "AllowedHeaders": ["*"]},
    ]
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
    got = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    c.eq(got, rules, "GetBucketCors returns the rules as they were put")

    status, h, _ = preflight("https://app.example.com", "GET", "x-amz-date, Range")
    c.eq(status, 200, "an allowed preflight")
    c.eq(h.get("access-control-allow-origin"), "https://app.example.com", "preflight Allow-Origin names the origin")
    c.eq(h.get("access-control-allow-methods"), "GET, HEAD", "preflight Allow-Methods")
    c.eq(h.get("access-control-allow-headers"), "x-amz-date, range", "preflight Allow-Headers")
    c.eq(h.get("access-control-max-age"), "600", "preflight Max-Age")
    c.eq(h.get("access-control-expose-headers"), "ETag", "preflight Expose-Headers")
    status, h, _ = preflight("https://anywhere.test", "PUT", "content-type")
    c.eq((status, h.get("access-control-allow-origin")), (200, "*"), "the PUT rule allows any origin")
    for what, args in (
        ("another origin", ("https://evil.test", "GET")),
        ("another scheme", ("http://app.example.com", "GET")),
        ("a method no rule allows", ("https://app.example.com", "DELETE")),
        ("a header no rule allows", ("https://app.example.com", "GET", "authorization")),
    ):
        status, h, body = preflight(*args)
        c.check(status == 403 and "access-control-allow-origin" not in h, f"preflight with {what} refused: {status} {body[:100]!r}")
    status, _, _ = raw("OPTIONS", f"/{bucket}/obj", {"Origin": "https://app.example.com"})
    c.eq(status, 400, "a preflight without Access-Control-Request-Method")

    # Signed requests that name an Origin get the headers of the rule that allows them.
    def with_origin(origin):
        def add(request, **_):
            del request.headers["Origin"]
            request.headers["Origin"] = origin

        s3.meta.events.register("before-sign.s3.GetObject", add, unique_id="origin")
        try:
            r = s3.get_object(Bucket=bucket, Key="obj")
            r["Body"].read()
            return r["ResponseMetadata"]["HTTPHeaders"]
        finally:
            s3.meta.events.unregister("before-sign.s3.GetObject", unique_id="origin")

    h = with_origin("https://app.example.com")
    c.eq(h.get("access-control-allow-origin"), "https://app.example.com", "GET with an allowed Origin carries Allow-Origin")
    c.eq(h.get("access-control-expose-headers"), "ETag", "GET with an allowed Origin carries Expose-Headers")
    h = with_origin("https://evil.test")
    c.eq(h.get("access-control-allow-origin"), None, "GET with another Origin carries no CORS headers")

    r = s3.delete_bucket_cors(Bucket=bucket)
    c.eq(r["ResponseMetadata"]["HTTPStatusCode"], 204, "DeleteBucketCors answers 204")
    status, _, _ = preflight("https://app.example.com", "GET")
    c.eq(status, 403, "a preflight after DeleteBucketCors is refused")
    c.expect_error(lambda: s3.get_bucket_cors(Bucket=bucket), "NoSuchCORSConfiguration", 404, "GetBucketCors after DeleteBucketCors")


c.run("main", main)
c.finish()
