"""Conditional GET/HEAD (If-Match, If-None-Match, If-Modified-Since,
If-Unmodified-Since) as S3 answers them. Usage: conditional.py BUCKET"""

import datetime
import sys

from s3util import Checker, client

bucket = sys.argv[1]
s3 = client()
c = Checker("conditional requests")


def main():
    s3.create_bucket(Bucket=bucket)
    etag = s3.put_object(Bucket=bucket, Key="obj", Body=b"conditional body")["ETag"]
    lm = s3.head_object(Bucket=bucket, Key="obj")["LastModified"]
    past = lm - datetime.timedelta(days=1)
    future = lm + datetime.timedelta(days=1)
    for op, fn in (("GET", s3.get_object), ("HEAD", s3.head_object)):
        c.expect_error(lambda: fn(Bucket=bucket, Key="obj", IfNoneMatch=etag), "304", 304, f"{op} If-None-Match: <current etag>")
        c.expect_error(lambda: fn(Bucket=bucket, Key="obj", IfMatch='"0123456789abcdef0123456789abcdef"'), "PreconditionFailed" if op == "GET" else "412", 412, f"{op} If-Match: <other etag>")
        c.expect_error(lambda: fn(Bucket=bucket, Key="obj", IfModifiedSince=future), "304", 304, f"{op} If-Modified-Since: <tomorrow>")
        c.expect_error(lambda: fn(Bucket=bucket, Key="obj", IfUnmodifiedSince=past), "PreconditionFailed" if op == "GET" else "412", 412, f"{op} If-Unmodified-Since: <yesterday>")
        r = fn(Bucket=bucket, Key="obj", IfMatch=etag, IfModifiedSince=past)
        c.eq(r["ResponseMetadata"]["HTTPStatusCode"], 200, f"{op} If-Match: <current etag> + If-Modified-Since: <yesterday>")


c.run("main", main)
c.finish()
