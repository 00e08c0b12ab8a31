"""Server-side encryption as S3 answers it, driven with boto3: SSE-S3, SSE-C and default
bucket encryption on PUT, GET (whole and ranged), HEAD, multipart uploads, CopyObject and
UploadPartCopy, with every refusal S3 makes. Objects hold a marker string, so the test that
runs this can look for it on the disks (it must not be there).

Usage:
  sse.py write BUCKET MARKER   writes and checks; leaves BUCKET/s3 (SSE-S3) and BUCKET/c
                               (SSE-C, key KEY below), both holding MARKER
  sse.py still BUCKET MARKER   what `write` left reads back (after a restart, or through
                               another gateway)
  sse.py plain BUCKET MARKER   against a plain-HTTP server without --sse-c-over-http: every
                               request with a customer key is refused (400 InvalidRequest)
                               and stores nothing; SSE-S3 still works"""

import base64
import hashlib
import sys

from botocore.exceptions import ClientError

from s3util import Checker, client, data

c = Checker("sse")
MiB = 1 << 20
KEY = bytes(range(32))
OTHER = bytes(range(1, 33))


def ssec(key=KEY, prefix=""):
    return {
        f"{prefix}SSECustomerAlgorithm": "AES256",
        f"{prefix}SSECustomerKey": base64.b64encode(key).decode(),
        f"{prefix}SSECustomerKeyMD5": base64.b64encode(hashlib.md5(key).digest()).decode(),
    }


def body(marker, size, seed=1):
    m = marker.encode()
    raw = bytearray(data(seed, size))
    # The marker every 4 KiB, so any stored shard of it would show one.
    for at in range(0, max(size - len(m), 0), 4096):
        raw[at : at + len(m)] = m
    return bytes(raw)


def get(s3, bucket, key, rng=None, **kw):
    extra = {"Range": rng} if rng else {}
    return s3.get_object(Bucket=bucket, Key=key, **extra, **kw)["Body"].read()


def ranges_read(s3, bucket, key, want, what, **kw):
    n = len(want)
    for a, b in [(0, 0), (0, n - 1), (1, 70_000), (65_535, 65_536), (n // 2, n - 1), (n - 1, n - 1), (65_536 * 3 - 5, 65_536 * 3 + 5)]:
        if b >= n or a > b:
            continue
        c.check(get(s3, bucket, key, f"bytes={a}-{b}", **kw) == want[a : b + 1], f"{what}: bytes {a}-{b}")


def write(bucket, marker):
    s3 = client()
    s3.create_bucket(Bucket=bucket)
    # SSE-S3.
    small = body(marker, 1000)
    r = s3.put_object(Bucket=bucket, Key="s3-small", Body=small, ServerSideEncryption="AES256")
    c.eq(r.get("ServerSideEncryption"), "AES256", "PUT answers SSE-S3")
    c.eq(r["ETag"].strip('"'), hashlib.md5(small).hexdigest(), "an SSE-S3 object's ETag is its plaintext's MD5")
    big = body(marker, 3 * MiB + 12_345, seed=2)
    s3.put_object(Bucket=bucket, Key="s3", Body=big, ServerSideEncryption="AES256")
    c.check(get(s3, bucket, "s3") == big, "SSE-S3 reads back whole")
    ranges_read(s3, bucket, "s3", big, "SSE-S3")
    h = s3.head_object(Bucket=bucket, Key="s3")
    c.eq((h.get("ServerSideEncryption"), h["ContentLength"]), ("AES256", len(big)), "HEAD of SSE-S3: its plaintext length")
    empty = s3.put_object(Bucket=bucket, Key="s3-empty", Body=b"", ServerSideEncryption="AES256")
    c.eq(empty["ETag"].strip('"'), hashlib.md5(b"").hexdigest(), "an empty SSE-S3 object")
    c.eq(get(s3, bucket, "s3-empty"), b"", "an empty SSE-S3 object reads back")
    c.expect_error(lambda: get(s3, bucket, "s3", **ssec()), "InvalidRequest", 400, "a customer key for an SSE-S3 object")
    # x-amz-server-side-encryption asks for encryption of a write: S3 refuses it on a read.
    def sse_header(params, **_):
        params["headers"]["x-amz-server-side-encryption"] = "AES256"

    for op in ("GetObject", "HeadObject", "GetObjectAttributes"):
        s3.meta.events.register(f"before-call.s3.{op}", sse_header)
    try:
        c.expect_error(lambda: get(s3, bucket, "s3"), "InvalidArgument", 400, "GET with x-amz-server-side-encryption")
        c.expect_error(lambda: s3.head_object(Bucket=bucket, Key="s3"), "400", 400, "HEAD with x-amz-server-side-encryption")
        attrs = lambda: s3.get_object_attributes(Bucket=bucket, Key="s3", ObjectAttributes=["ObjectSize"])
        c.expect_error(attrs, "InvalidArgument", 400, "GetObjectAttributes with x-amz-server-side-encryption")
    finally:
        for op in ("GetObject", "HeadObject", "GetObjectAttributes"):
            s3.meta.events.unregister(f"before-call.s3.{op}", sse_header)

    # SSE-C.
    cb = body(marker, 2 * MiB + 7, seed=3)
    r = s3.put_object(Bucket=bucket, Key="c", Body=cb, **ssec())
    c.eq((r.get("SSECustomerAlgorithm"), r.get("SSECustomerKeyMD5")), ("AES256", ssec()["SSECustomerKeyMD5"]), "PUT answers SSE-C")
    c.check(r["ETag"].strip('"') != hashlib.md5(cb).hexdigest(), "an SSE-C object's ETag does not give away its plaintext's MD5")
    c.eq(s3.head_object(Bucket=bucket, Key="c", **ssec())["ETag"], r["ETag"], "and is the one HEAD answers")
    c.check(get(s3, bucket, "c", **ssec()) == cb, "SSE-C reads back with its key")
    ranges_read(s3, bucket, "c", cb, "SSE-C", **ssec())
    c.expect_error(lambda: get(s3, bucket, "c"), "InvalidRequest", 400, "SSE-C without the key")
    c.expect_error(lambda: get(s3, bucket, "c", **ssec(OTHER)), "AccessDenied", 403, "SSE-C with another key")
    c.expect_error(lambda: s3.head_object(Bucket=bucket, Key="c"), "400", 400, "HEAD of SSE-C without the key")
    h = s3.head_object(Bucket=bucket, Key="c", **ssec())
    c.eq((h.get("SSECustomerAlgorithm"), h["ContentLength"]), ("AES256", len(cb)), "HEAD of SSE-C with its key")
    bad_md5 = dict(ssec(), SSECustomerKeyMD5=base64.b64encode(b"0" * 16).decode())
    c.expect_error(lambda: s3.put_object(Bucket=bucket, Key="bad", Body=b"x", **bad_md5), "InvalidArgument", 400, "a key whose MD5 does not match")
    c.expect_error(lambda: s3.put_object(Bucket=bucket, Key="bad", Body=b"x", ServerSideEncryption="aws:kms"), "NotImplemented", 501, "SSE-KMS")
    c.expect_error(lambda: s3.head_object(Bucket=bucket, Key="bad"), "404", 404, "refused writes stored nothing")

    # Default bucket encryption.
    db = bucket + "-default"
    s3.create_bucket(Bucket=db)
    c.expect_error(lambda: s3.get_bucket_encryption(Bucket=db), "ServerSideEncryptionConfigurationNotFoundError", 404, "no default encryption yet")
    s3.put_bucket_encryption(Bucket=db, ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    got = s3.get_bucket_encryption(Bucket=db)["ServerSideEncryptionConfiguration"]["Rules"][0]
    c.eq(got["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"], "AES256", "GetBucketEncryption")
    r = s3.put_object(Bucket=db, Key="d", Body=small)
    c.eq(r.get("ServerSideEncryption"), "AES256", "a plain PUT into a bucket with default encryption is encrypted")
    c.eq(get(s3, db, "d"), small, "and reads back")
    kms = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]}
    c.expect_error(lambda: s3.put_bucket_encryption(Bucket=db, ServerSideEncryptionConfiguration=kms), "NotImplemented", 501, "default SSE-KMS")
    s3.delete_bucket_encryption(Bucket=db)
    c.expect_error(lambda: s3.get_bucket_encryption(Bucket=db), "ServerSideEncryptionConfigurationNotFoundError", 404, "default encryption deleted")
    c.eq(s3.put_object(Bucket=db, Key="p", Body=b"plain").get("ServerSideEncryption"), None, "then a plain PUT is plain")

    # Multipart, SSE-S3 and SSE-C.
    p1, p2 = body(marker, 5 * MiB, seed=4), body(marker, MiB + 3, seed=5)
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp-s3", ServerSideEncryption="AES256")
    c.eq(up.get("ServerSideEncryption"), "AES256", "CreateMultipartUpload answers SSE-S3")
    parts = [{"PartNumber": n, "ETag": s3.upload_part(Bucket=bucket, Key="mp-s3", UploadId=up["UploadId"], PartNumber=n, Body=b)["ETag"]} for n, b in ((1, p1), (2, p2))]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp-s3", UploadId=up["UploadId"], MultipartUpload={"Parts": parts})
    whole = p1 + p2
    c.check(get(s3, bucket, "mp-s3") == whole, "an SSE-S3 multipart object reads back")
    c.check(get(s3, bucket, "mp-s3", f"bytes={5 * MiB - 10}-{5 * MiB + 10}") == whole[5 * MiB - 10 : 5 * MiB + 11], "a range across its parts")
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp-c", **ssec())
    c.expect_error(
        lambda: s3.upload_part(Bucket=bucket, Key="mp-c", UploadId=up["UploadId"], PartNumber=1, Body=p1), "InvalidRequest", 400, "a part of an SSE-C upload without the key"
    )
    c.expect_error(
        lambda: s3.upload_part(Bucket=bucket, Key="mp-c", UploadId=up["UploadId"], PartNumber=1, Body=p1, **ssec(OTHER)), "AccessDenied", 403, "a part with another key"
    )
    e1 = s3.upload_part(Bucket=bucket, Key="mp-c", UploadId=up["UploadId"], PartNumber=1, Body=p1, **ssec())["ETag"]
    # A part uploaded twice under its number: the second is sealed with a salt of its own.
    e1 = s3.upload_part(Bucket=bucket, Key="mp-c", UploadId=up["UploadId"], PartNumber=1, Body=p1, **ssec())["ETag"]
    # The second part is a copy of a range of the SSE-S3 object.
    cp = s3.upload_part_copy(Bucket=bucket, Key="mp-c", UploadId=up["UploadId"], PartNumber=2, CopySource={"Bucket": bucket, "Key": "s3"}, CopySourceRange="bytes=100-200099", **ssec())
    parts = [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": cp["CopyPartResult"]["ETag"]}]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp-c", UploadId=up["UploadId"], MultipartUpload={"Parts": parts})
    c.check(get(s3, bucket, "mp-c", **ssec()) == p1 + big[100:200100], "an SSE-C multipart object with a copied part reads back")
    c.expect_error(lambda: get(s3, bucket, "mp-c"), "InvalidRequest", 400, "an SSE-C multipart object without the key")

    plain_up = s3.create_multipart_upload(Bucket=bucket, Key="mp-plain")["UploadId"]
    c.expect_error(
        lambda: s3.upload_part(Bucket=bucket, Key="mp-plain", UploadId=plain_up, PartNumber=1, Body=p1, **ssec()), "InvalidRequest", 400, "a part with a customer key into an upload without one"
    )
    c.eq(s3.list_parts(Bucket=bucket, Key="mp-plain", UploadId=plain_up).get("Parts", []), [], "the refused part stored nothing")
    s3.abort_multipart_upload(Bucket=bucket, Key="mp-plain", UploadId=plain_up)

    # Browser POST uploads with SSE-S3 and SSE-C form fields.
    from post import post

    for what, fields, kw in (
        ("SSE-S3", {"x-amz-server-side-encryption": "AES256"}, {}),
        ("SSE-C", {"x-amz-server-side-encryption-customer-algorithm": "AES256", "x-amz-server-side-encryption-customer-key": ssec()["SSECustomerKey"], "x-amz-server-side-encryption-customer-key-MD5": ssec()["SSECustomerKeyMD5"]}, ssec()),
    ):
        key = f"post-{what}"
        conditions = [{k: v} for k, v in fields.items()]
        form = s3.generate_presigned_post(Bucket=bucket, Key=key, Fields=dict(fields), Conditions=conditions, ExpiresIn=600)
        status, text = post(form["url"], form["fields"], small)
        c.check(status in (200, 204), f"a POST upload with {what}: {status} {text[:200]}")
        c.eq(get(s3, bucket, key, **kw), small, f"a POST upload with {what} reads back")
        h = s3.head_object(Bucket=bucket, Key=key, **kw)
        c.check(h.get("ServerSideEncryption") == "AES256" or h.get("SSECustomerAlgorithm") == "AES256", f"a POST upload with {what} is encrypted: {h}")

    # CopyObject between encryptions.
    s3.copy_object(Bucket=bucket, Key="c-to-s3", CopySource={"Bucket": bucket, "Key": "c"}, ServerSideEncryption="AES256", **ssec(prefix="CopySource"))
    c.check(get(s3, bucket, "c-to-s3") == cb, "SSE-C copied to SSE-S3")
    c.expect_error(lambda: s3.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "c"}), "InvalidRequest", 400, "copying SSE-C without the source's key")
    # (Without the marker: a plain copy's shards hold its plaintext, as they should.)
    unmarked = data(7, 1000)
    s3.put_object(Bucket=bucket, Key="s3-unmarked", Body=unmarked, ServerSideEncryption="AES256")
    s3.copy_object(Bucket=bucket, Key="s3-to-plain", CopySource={"Bucket": bucket, "Key": "s3-unmarked"})
    c.eq(s3.head_object(Bucket=bucket, Key="s3-to-plain").get("ServerSideEncryption"), None, "a copy asked without encryption is plain")
    c.eq(get(s3, bucket, "s3-to-plain"), unmarked, "and reads back")
    s3.copy_object(Bucket=bucket, Key="plain-to-c", CopySource={"Bucket": bucket, "Key": "s3-to-plain"}, **ssec(OTHER))
    c.eq(get(s3, bucket, "plain-to-c", **ssec(OTHER)), unmarked, "plain copied to SSE-C")
    # Re-encrypting an object in place is a copy to itself.
    s3.copy_object(Bucket=bucket, Key="s3-to-plain", CopySource={"Bucket": bucket, "Key": "s3-to-plain"}, ServerSideEncryption="AES256")
    c.eq(s3.head_object(Bucket=bucket, Key="s3-to-plain").get("ServerSideEncryption"), "AES256", "an object encrypted in place")


def still(bucket, marker):
    s3 = client()
    c.check(get(s3, bucket, "s3") == body(marker, 3 * MiB + 12_345, seed=2), "SSE-S3 still reads back")
    c.check(get(s3, bucket, "c", **ssec()) == body(marker, 2 * MiB + 7, seed=3), "SSE-C still reads back with its key")
    c.expect_error(lambda: get(s3, bucket, "c", **ssec(OTHER)), "AccessDenied", 403, "and still not with another")


def plain(bucket, marker):
    s3 = client()
    c.check(s3.meta.endpoint_url.startswith("http://"), f"plain runs against a plain-HTTP endpoint, not {s3.meta.endpoint_url}")
    s3.create_bucket(Bucket=bucket)
    small = body(marker, 10_000)
    refused = "InvalidRequest"

    def plain_refused(fn, what):
        """fn must be refused for carrying a customer key over plain HTTP, not for anything else."""
        try:
            fn()
        except ClientError as e:
            err = e.response.get("Error", {})
            return c.check(
                (err.get("Code"), e.response["ResponseMetadata"]["HTTPStatusCode"]) == (refused, 400) and "secure connection" in err.get("Message", ""),
                f"{what}: got {err}",
            )
        return c.check(False, f"{what}: succeeded, want {refused} / HTTP 400 for plain HTTP")

    plain_refused(lambda: s3.put_object(Bucket=bucket, Key="c", Body=small, **ssec()), "PUT with a customer key over plain HTTP")
    c.expect_error(lambda: s3.head_object(Bucket=bucket, Key="c"), "404", 404, "the refused PUT stored nothing")
    s3.put_object(Bucket=bucket, Key="s3", Body=small, ServerSideEncryption="AES256")
    c.check(get(s3, bucket, "s3") == small, "SSE-S3 works over plain HTTP")
    # Keys that do not exist: refused for the key, where a secure connection would answer 404.
    plain_refused(lambda: get(s3, bucket, "none", **ssec()), "GET with a customer key over plain HTTP")
    c.expect_error(lambda: s3.head_object(Bucket=bucket, Key="none", **ssec()), "400", 400, "HEAD with a customer key over plain HTTP")
    plain_refused(
        lambda: s3.copy_object(Bucket=bucket, Key="cp", CopySource={"Bucket": bucket, "Key": "none"}, **ssec(prefix="CopySource")),
        "a copy naming its source's customer key over plain HTTP",
    )
    plain_refused(lambda: s3.create_multipart_upload(Bucket=bucket, Key="mp", **ssec()), "CreateMultipartUpload with a customer key over plain HTTP")
    c.eq(s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []), [], "the refused upload was not created")
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp-plain")["UploadId"]
    plain_refused(lambda: s3.upload_part(Bucket=bucket, Key="mp-plain", UploadId=up, PartNumber=1, Body=small, **ssec()), "UploadPart with a customer key over plain HTTP")
    plain_refused(
        lambda: s3.upload_part_copy(Bucket=bucket, Key="mp-plain", UploadId=up, PartNumber=1, CopySource={"Bucket": bucket, "Key": "s3"}, **ssec(prefix="CopySource")),
        "UploadPartCopy with a source's customer key over plain HTTP",
    )
    c.eq(s3.list_parts(Bucket=bucket, Key="mp-plain", UploadId=up).get("Parts", []), [], "the refused parts stored nothing")
    s3.abort_multipart_upload(Bucket=bucket, Key="mp-plain", UploadId=up)
    # A browser POST whose form carries the key.
    from post import post

    fields = {"x-amz-server-side-encryption-customer-algorithm": "AES256", "x-amz-server-side-encryption-customer-key": ssec()["SSECustomerKey"], "x-amz-server-side-encryption-customer-key-MD5": ssec()["SSECustomerKeyMD5"]}
    form = s3.generate_presigned_post(Bucket=bucket, Key="post", Fields=dict(fields), Conditions=[{k: v} for k, v in fields.items()], ExpiresIn=600)
    status, text = post(form["url"], form["fields"], small)
    c.check(status == 400 and refused in text and "secure connection" in text, f"a POST form with a customer key over plain HTTP: {status} {text[:300]}")
    c.expect_error(lambda: s3.head_object(Bucket=bucket, Key="post"), "404", 404, "the refused POST stored nothing")


def main():
    cmd, bucket, marker = sys.argv[1], sys.argv[2], sys.argv[3]
    if cmd == "write":
        c.run("write", lambda: write(bucket, marker))
    elif cmd == "still":
        c.run("still", lambda: still(bucket, marker))
    elif cmd == "plain":
        c.run("plain", lambda: plain(bucket, marker))
    else:
        sys.exit(f"unknown command {cmd}")
    c.finish()


main()
