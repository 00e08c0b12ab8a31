"""Small objects kept with the metadata (inline), driven with boto3: every size around the
server's inline limit (16 KiB by default) reads back byte-exact, whole and by range, through
every path that writes or reads an object's bytes — PUT, SSE-S3, CopyObject, UploadPartCopy,
versions, overwrites in both directions — and HEAD, listings and ETags say what S3 says.

Usage:
  inline.py write BUCKET   writes and checks everything
  inline.py still BUCKET   what `write` left reads back (after a restart)"""

import hashlib
import sys

from s3util import Checker, client, data

c = Checker("inline")
LIMIT = 16 * 1024
SIZES = [0, 1, 100, 4096, LIMIT - 1, LIMIT, LIMIT + 1, 200_000]


def get(s3, bucket, key, rng=None, **kw):
    extra = {"Range": rng} if rng else {}
    return s3.get_object(Bucket=bucket, Key=key, **extra, **kw)["Body"].read()


def reads_back(s3, bucket, key, want, what, **kw):
    c.eq(get(s3, bucket, key, **kw), want, f"{what}: whole")
    n = len(want)
    if n == 0:
        return
    for a, b in [(0, 0), (0, n - 1), (n // 3, (2 * n) // 3), (n - 1, n - 1), (1, n + 100)]:
        if a > b or a >= n:
            continue
        c.eq(get(s3, bucket, key, f"bytes={a}-{b}", **kw), want[a : min(b, n - 1) + 1], f"{what}: bytes {a}-{b}")
    c.eq(get(s3, bucket, key, "bytes=-7", **kw), want[-7:], f"{what}: the last 7 bytes")


def expected():
    """Every key `write` leaves in BUCKET, with its bytes."""
    out = {f"obj-{n}": data(n + 1, n) for n in SIZES}
    out["copy-4096"] = out["obj-4096"]
    out["mpu-copy"] = data(79, 7000)
    out["grew"] = data(77, 300_000)
    out["shrank"] = data(78, 9000)
    return out


def write(bucket):
    s3 = client()
    s3.create_bucket(Bucket=bucket)
    objs = expected()
    for n in SIZES:
        key = f"obj-{n}"
        r = s3.put_object(Bucket=bucket, Key=key, Body=objs[key], ContentType="application/x-test", Metadata={"size": str(n)})
        c.eq(r["ETag"].strip('"'), hashlib.md5(objs[key]).hexdigest(), f"{key}: PUT answers the MD5 as ETag")
        reads_back(s3, bucket, key, objs[key], key)
        h = s3.head_object(Bucket=bucket, Key=key)
        c.eq(h["ContentLength"], n, f"{key}: HEAD size")
        c.eq(h["ContentType"], "application/x-test", f"{key}: HEAD content type")
        c.eq(h["Metadata"].get("size"), str(n), f"{key}: HEAD user metadata")
    listed = {o["Key"]: o["Size"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
    for n in SIZES:
        c.eq(listed.get(f"obj-{n}"), n, f"obj-{n}: listed with its size")
    # A conditional read of an inline object.
    etag = s3.head_object(Bucket=bucket, Key="obj-4096")["ETag"]
    c.expect_error(lambda: s3.get_object(Bucket=bucket, Key="obj-4096", IfNoneMatch=etag), "304", 304, "If-None-Match on an inline object")
    # Copies: a small source into a new object, and into a part of a multipart upload.
    s3.copy_object(Bucket=bucket, Key="copy-4096", CopySource={"Bucket": bucket, "Key": "obj-4096"})
    reads_back(s3, bucket, "copy-4096", objs["copy-4096"], "copy of an inline object")
    up = s3.create_multipart_upload(Bucket=bucket, Key="mpu-copy")["UploadId"]
    p1 = s3.upload_part_copy(Bucket=bucket, Key="mpu-copy", UploadId=up, PartNumber=1, CopySource={"Bucket": bucket, "Key": "obj-4096"}, CopySourceRange="bytes=0-2999")
    s3.complete_multipart_upload(Bucket=bucket, Key="mpu-copy", UploadId=up, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p1["CopyPartResult"]["ETag"]}]})
    reads_back(s3, bucket, "mpu-copy", objs["obj-4096"][:3000], "a part copied from an inline object")
    s3.put_object(Bucket=bucket, Key="mpu-copy", Body=objs["mpu-copy"])
    reads_back(s3, bucket, "mpu-copy", objs["mpu-copy"], "an inline object over a multipart one")
    # Overwrites both ways: small over large and large over small.
    s3.put_object(Bucket=bucket, Key="grew", Body=b"tiny")
    s3.put_object(Bucket=bucket, Key="grew", Body=objs["grew"])
    reads_back(s3, bucket, "grew", objs["grew"], "a large object over an inline one")
    s3.put_object(Bucket=bucket, Key="shrank", Body=data(5, 500_000))
    s3.put_object(Bucket=bucket, Key="shrank", Body=objs["shrank"])
    reads_back(s3, bucket, "shrank", objs["shrank"], "an inline object over a large one")
    # SSE-S3: the sealed bytes are what is kept with the metadata.
    secret = data(9, 3000)
    r = s3.put_object(Bucket=bucket, Key="sse", Body=secret, ServerSideEncryption="AES256")
    c.eq(r.get("ServerSideEncryption"), "AES256", "an encrypted small object is answered as SSE-S3")
    reads_back(s3, bucket, "sse", secret, "an encrypted inline object")
    # Versions of a small object, each read by its id; one deleted for good.
    vb = bucket + "-v"
    s3.create_bucket(Bucket=vb)
    s3.put_bucket_versioning(Bucket=vb, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=vb, Key="v", Body=data(11, 1000))["VersionId"]
    v2 = s3.put_object(Bucket=vb, Key="v", Body=data(12, 2000))["VersionId"]
    v3 = s3.put_object(Bucket=vb, Key="v", Body=data(13, 3000))["VersionId"]
    c.eq(get(s3, vb, "v", VersionId=v1), data(11, 1000), "the first version by its id")
    c.eq(get(s3, vb, "v"), data(13, 3000), "the newest version")
    s3.delete_object(Bucket=vb, Key="v", VersionId=v2)
    c.expect_error(lambda: s3.get_object(Bucket=vb, Key="v", VersionId=v2), "NoSuchVersion", 404, "a deleted version is gone")
    c.eq(get(s3, vb, "v", VersionId=v3), data(13, 3000), "the newest version by its id")
    s3.delete_object(Bucket=bucket, Key="obj-1")
    c.expect_error(lambda: s3.get_object(Bucket=bucket, Key="obj-1"), "NoSuchKey", 404, "a deleted inline object is gone")
    c.finish()


def still(bucket):
    s3 = client()
    objs = expected()
    del objs["obj-1"]
    for key, want in objs.items():
        reads_back(s3, bucket, key, want, f"{key} after a restart")
    reads_back(s3, bucket, "sse", data(9, 3000), "the encrypted inline object after a restart")
    versions = [v for v in s3.list_object_versions(Bucket=bucket + "-v").get("Versions", []) if v["Key"] == "v"]
    c.eq(sorted(v["Size"] for v in versions), [1000, 3000], "two versions are left after a restart")
    for v in versions:
        c.eq(len(get(s3, bucket + "-v", "v", VersionId=v["VersionId"])), v["Size"], "each version reads back")
    c.finish()


if __name__ == "__main__":
    {"write": write, "still": still}[sys.argv[1]](sys.argv[2])
