"""One odd object key through PUT/GET/HEAD/LIST/DELETE.
Usage: keys.py BUCKET KEY_HEX EXPECT
EXPECT: "ok" (must round-trip), "KeyTooLongError" (PUT must fail with it),
"ok-or-rejected" (either round-trips or is refused with a 4xx; never a 5xx)."""

import sys

from botocore.exceptions import ClientError

from s3util import Checker, client, err_code, err_status

bucket, key_hex, expect = sys.argv[1], sys.argv[2], sys.argv[3]
key = bytes.fromhex(key_hex).decode("utf-8")
s3 = client()
c = Checker(f"key {key[:60]!r}{'...' if len(key) > 60 else ''} ({len(key.encode())} bytes)")
body = b"content of " + key.encode()[:200]


def buckets():
    try:
        s3.create_bucket(Bucket=bucket)
    except ClientError as e:
        if err_code(e) != "BucketAlreadyOwnedByYou":
            raise


def round_trip():
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    c.eq(s3.get_object(Bucket=bucket, Key=key)["Body"].read(), body, "GET returns the bytes")
    c.eq(s3.head_object(Bucket=bucket, Key=key)["ContentLength"], len(body), "HEAD size")
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=key).get("Contents", [])]
    c.eq(listed, [key], "ListObjectsV2 with Prefix=key lists exactly the key")
    all_keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    c.eq(all_keys, [key], "the bucket holds only this key")
    s3.delete_object(Bucket=bucket, Key=key)
    try:
        s3.head_object(Bucket=bucket, Key=key)
        c.check(False, "HEAD after DELETE: object still there")
    except ClientError as e:
        c.eq(err_status(e), 404, "HEAD after DELETE")


def main():
    buckets()
    if expect == "ok":
        round_trip()
    elif expect == "ok-or-rejected":
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=body)
        except ClientError as e:
            st = err_status(e)
            c.check(400 <= st < 500, f"PUT refused with a client error: {err_code(e)} / HTTP {st}")
            print(f"RESULT rejected {err_code(e)} {st}")
            return
        print("RESULT accepted")
        round_trip()
    else:
        c.expect_error(lambda: s3.put_object(Bucket=bucket, Key=key, Body=body), expect, 400, "PUT")
        all_keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        c.eq(all_keys, [], "refused key created no object")
        c.expect_error(
            lambda: s3.create_multipart_upload(Bucket=bucket, Key=key), expect, 400, "CreateMultipartUpload"
        )


c.run("main", main)
c.finish()
