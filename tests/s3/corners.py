"""What Kintsugi does not do yet is refused, never silently dropped: a PUT asking for
SSE-KMS is 501 and stores nothing (as is one asking for object lock in a bucket
without it, or granting to a key or e-mail address the store does not have: 400); in a bucket that
never had versioning only the `null` version exists; GET/HEAD by partNumber answer as S3; GetObjectAttributes answers what HEAD does. Usage: corners.py BUCKET"""

import sys

from botocore.exceptions import ClientError

from s3util import Checker, client, err_code, err_status

bucket = sys.argv[1]
s3 = client()
c = Checker("unbuilt features refused")
MiB = 1 << 20


def attributes(s3):
    every = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]
    one = s3.head_object(Bucket=bucket, Key="one")
    a = s3.get_object_attributes(Bucket=bucket, Key="one", ObjectAttributes=every)
    # S3 sends this ETag unquoted (HEAD's is quoted).
    c.eq((a.get("ETag"), a.get("ObjectSize"), a.get("StorageClass"), "ObjectParts" in a), (one["ETag"].strip('"'), 8, "STANDARD", False), "GetObjectAttributes of a one-part object")
    c.eq(a.get("LastModified"), one["LastModified"], "GetObjectAttributes' Last-Modified is HEAD's")
    mp = s3.head_object(Bucket=bucket, Key="mp")
    a = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=["ObjectParts", "ObjectSize", "ETag"])
    c.eq((a.get("ObjectSize"), a.get("ObjectParts", {}).get("TotalPartsCount"), a.get("ETag")), (MiB, 1, mp["ETag"].strip('"')), "GetObjectAttributes of a multipart object")
    a = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=["ObjectSize"])
    c.eq([k for k in ("ETag", "StorageClass", "ObjectParts") if k in a], [], "GetObjectAttributes answers only what was asked for")
    c.expect_error(lambda: s3.get_object_attributes(Bucket=bucket, Key="absent", ObjectAttributes=["ETag"]), "NoSuchKey", 404, "GetObjectAttributes of a missing key")
    c.expect_error(lambda: s3.get_object_attributes(Bucket=bucket, Key="one", ObjectAttributes=["ETag"], VersionId="0" * 32), "NoSuchVersion", 404, "GetObjectAttributes of another version")


def main():
    s3.create_bucket(Bucket=bucket)
    for what, extra in (
        ("SSE-KMS", {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "k"}),
        ("SSE-KMS without a key id", {"ServerSideEncryption": "aws:kms"}),
    ):
        c.expect_error(lambda: s3.put_object(Bucket=bucket, Key="plain", Body=b"secret", **extra), "NotImplemented", 501, f"PUT with {what}")
        c.expect_error(lambda: s3.create_multipart_upload(Bucket=bucket, Key="plain", **extra), "NotImplemented", 501, f"CreateMultipartUpload with {what}")
    for what, extra in (
        ("object lock", {"ObjectLockMode": "GOVERNANCE", "ObjectLockRetainUntilDate": "2030-01-01T00:00:00Z"}),
        ("legal hold", {"ObjectLockLegalHoldStatus": "ON"}),
    ):
        c.expect_error(lambda: s3.put_object(Bucket=bucket, Key="plain", Body=b"secret", **extra), "InvalidRequest", 400, f"PUT with {what} where the bucket has none")
        c.expect_error(lambda: s3.create_multipart_upload(Bucket=bucket, Key="plain", **extra), "InvalidRequest", 400, f"CreateMultipartUpload with {what} where the bucket has none")
    c.expect_error(lambda: s3.put_object(Bucket=bucket, Key="plain", Body=b"x", GrantRead='id="NOSUCHKEY"'), "InvalidArgument", 400, "PUT granting to an unknown key")
    c.expect_error(lambda: s3.put_object(Bucket=bucket, Key="plain", Body=b"x", GrantRead='emailAddress="a@example.com"'), "UnresolvableGrantByEmailAddress", 400, "PUT granting by e-mail")
    c.expect_error(lambda: s3.put_object(Bucket=bucket, Key="plain", Body=b"x", GrantRead='uri="http://example.com/group"'), "InvalidArgument", 400, "PUT granting to an unknown group")
    c.expect_error(lambda: s3.create_bucket(Bucket=bucket + "-acl", GrantWrite='id="NOSUCHKEY"'), "InvalidArgument", 400, "CreateBucket granting to an unknown key")
    c.expect_error(lambda: s3.head_bucket(Bucket=bucket + "-acl"), "404", 404, "the refused CreateBucket made nothing")
    c.expect_error(lambda: s3.head_object(Bucket=bucket, Key="plain"), "404", 404, "the refused PUTs stored nothing")
    s3.put_object(Bucket=bucket, Key="private", Body=b"p", ACL="private")
    s3.put_object(Bucket=bucket, Key="private", Body=b"p", ACL="bucket-owner-full-control")
    c.eq(s3.get_object(Bucket=bucket, Key="private")["Body"].read(), b"p", "PUT with ACL private or bucket-owner-full-control")
    c.eq(s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []), [], "the refused creates started no upload")

    s3.put_object(Bucket=bucket, Key="one", Body=b"one part")
    c.eq(s3.head_object(Bucket=bucket, Key="one").get("ContentType"), "binary/octet-stream", "a PUT without a Content-Type is stored as binary/octet-stream, as S3 stores it")
    c.expect_error(
        lambda: s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "one"}, ServerSideEncryption="aws:kms"),
        "NotImplemented", 501, "CopyObject with SSE-KMS",
    )

    # Settings Kintsugi cannot set read as "never set", as S3 answers for such a bucket.
    c.eq(s3.get_bucket_versioning(Bucket=bucket).get("Status"), None, "GetBucketVersioning: never enabled")
    for what, fn, code in (
        ("GetBucketPolicy", s3.get_bucket_policy, "NoSuchBucketPolicy"),
        ("GetBucketLifecycleConfiguration", s3.get_bucket_lifecycle_configuration, "NoSuchLifecycleConfiguration"),
        ("GetBucketEncryption", s3.get_bucket_encryption, "ServerSideEncryptionConfigurationNotFoundError"),
        ("GetObjectLockConfiguration", s3.get_object_lock_configuration, "ObjectLockConfigurationNotFoundError"),
        ("GetBucketOwnershipControls", s3.get_bucket_ownership_controls, "OwnershipControlsNotFoundError"),
    ):
        c.expect_error(lambda: fn(Bucket=bucket), code, 404, f"{what} of a bucket without one")
        c.expect_error(lambda: fn(Bucket=bucket + "-none"), "NoSuchBucket", 404, f"{what} of a missing bucket")

    # Versions of a bucket that never had versioning: only `null` exists. A version id this
    # store cannot have made is 400, one it could have made but did not 404 (or, for a
    # delete, nothing to do), as S3 answers.
    other = "0" * 32
    c.eq(s3.get_object(Bucket=bucket, Key="one", VersionId="null")["Body"].read(), b"one part", "GET versionId=null is the object")
    c.expect_error(lambda: s3.get_object(Bucket=bucket, Key="one", VersionId=other), "NoSuchVersion", 404, "GET of another version")
    c.expect_error(lambda: s3.head_object(Bucket=bucket, Key="one", VersionId=other), "404", 404, "HEAD of another version")
    c.expect_error(lambda: s3.get_object(Bucket=bucket, Key="one", VersionId="3HL4kqtJlcpXroDTDmJ"), "InvalidArgument", 400, "GET of a version id this store cannot have made")
    c.expect_error(lambda: s3.delete_object(Bucket=bucket, Key="one", VersionId="3HL4kqtJlcpXroDTDmJ"), "InvalidArgument", 400, "DELETE of a version id this store cannot have made")
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "one", "VersionId": "3HL4kqtJlcpXroDTDmJ"}]})
    c.eq([e.get("Code") for e in r.get("Errors", [])], ["InvalidArgument"], "DeleteObjects of a version id this store cannot have made")
    c.eq(s3.delete_object(Bucket=bucket, Key="one", VersionId=other)["ResponseMetadata"]["HTTPStatusCode"], 204, "DELETE of a version that is not there")
    c.eq(s3.get_object(Bucket=bucket, Key="one")["Body"].read(), b"one part", "the version deletes deleted nothing")

    # partNumber.
    r = s3.get_object(Bucket=bucket, Key="one", PartNumber=1)
    c.eq(r["Body"].read(), b"one part", "GET partNumber=1 of a one-part object is the object")
    c.expect_error(lambda: s3.get_object(Bucket=bucket, Key="one", PartNumber=2), "InvalidPartNumber", 416, "GET partNumber=2 of a one-part object")
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    e = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=1, Body=b"x" * MiB)["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e}]})
    r = s3.get_object(Bucket=bucket, Key="mp", PartNumber=1)
    c.eq((r["Body"].read() == b"x" * MiB, r.get("PartsCount")), (True, 1), "GET partNumber=1 of a multipart object of one part")
    # Two parts: each is served by its number, with its range and the part count.
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp2")["UploadId"]
    p1, p2 = b"a" * (5 * MiB), b"b" * 1000
    tags = [s3.upload_part(Bucket=bucket, Key="mp2", UploadId=up, PartNumber=n, Body=b)["ETag"] for n, b in ((1, p1), (3, p2))]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp2", UploadId=up, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": tags[0]}, {"PartNumber": 3, "ETag": tags[1]}]})
    r = s3.get_object(Bucket=bucket, Key="mp2", PartNumber=2)
    c.eq((r["Body"].read() == p2, r.get("ContentRange"), r.get("PartsCount")), (True, f"bytes {5 * MiB}-{5 * MiB + 999}/{5 * MiB + 1000}", 2), "GET partNumber=2 is the second part listed")
    h = s3.head_object(Bucket=bucket, Key="mp2", PartNumber=1)
    c.eq((h["ContentLength"], h.get("ContentRange"), h.get("PartsCount")), (5 * MiB, f"bytes 0-{5 * MiB - 1}/{5 * MiB + 1000}", 2), "HEAD partNumber=1 of a multipart object")
    c.expect_error(lambda: s3.get_object(Bucket=bucket, Key="mp2", PartNumber=3), "InvalidPartNumber", 416, "GET of a part the object does not have")
    c.expect_error(lambda: s3.get_object(Bucket=bucket, Key="mp2", PartNumber=1, Range="bytes=0-1"), "InvalidRequest", 400, "GET with both a Range and a partNumber")

    # GetObjectAttributes: what HEAD tells, as the attributes asked for (botocore has it since
    # 1.24; an older one skips these checks and says so).
    if hasattr(s3, "get_object_attributes"):
        attributes(s3)
    else:
        print("skipped: this botocore has no get_object_attributes")

    # Headers that would change what is stored are refused, not dropped.
    def put_with(headers):
        def add(request, **_):
            for k, v in headers.items():
                del request.headers[k]
                request.headers[k] = v

        s3.meta.events.register("before-sign.s3.PutObject", add, unique_id="corner")
        try:
            return s3.put_object(Bucket=bucket, Key="append", Body=b"more")
        finally:
            s3.meta.events.unregister("before-sign.s3.PutObject", unique_id="corner")

    c.expect_error(lambda: put_with({"x-amz-write-offset-bytes": "0"}), "NotImplemented", 501, "PUT with x-amz-write-offset-bytes (append)")
    c.expect_error(lambda: put_with({"x-amz-website-redirect-location": "/elsewhere"}), "NotImplemented", 501, "PUT with a website redirect")
    c.expect_error(lambda: s3.put_object(Bucket=bucket, Key="append", Body=b"x", StorageClass="GLACIER"), "InvalidStorageClass", 400, "PUT with storage class GLACIER")
    c.expect_error(lambda: s3.head_object(Bucket=bucket, Key="append"), "404", 404, "the refused PUTs stored nothing")
    s3.put_object(Bucket=bucket, Key="append", Body=b"x", StorageClass="STANDARD")
    up = s3.create_multipart_upload(Bucket=bucket, Key="ssec")["UploadId"]
    c.expect_error(
        lambda: s3.upload_part(Bucket=bucket, Key="ssec", UploadId=up, PartNumber=1, Body=b"x", SSECustomerAlgorithm="AES256", SSECustomerKey="k" * 32),
        "InvalidRequest", 400, "UploadPart with SSE-C into an upload without it",
    )
    c.eq(s3.list_parts(Bucket=bucket, Key="ssec", UploadId=up).get("Parts", []), [], "the refused part stored nothing")
    # x-amz-mp-object-size must be the parts' total.
    e = s3.upload_part(Bucket=bucket, Key="ssec", UploadId=up, PartNumber=1, Body=b"12345")["ETag"]
    def complete_declaring(size):
        def add(request, **_):
            del request.headers["x-amz-mp-object-size"]
            request.headers["x-amz-mp-object-size"] = str(size)

        s3.meta.events.register("before-sign.s3.CompleteMultipartUpload", add, unique_id="mpsize")
        try:
            return s3.complete_multipart_upload(Bucket=bucket, Key="ssec", UploadId=up, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e}]})
        finally:
            s3.meta.events.unregister("before-sign.s3.CompleteMultipartUpload", unique_id="mpsize")

    c.expect_error(lambda: complete_declaring(6), "InvalidArgument", 400, "Complete with a wrong x-amz-mp-object-size")
    complete_declaring(5)
    c.eq(s3.get_object(Bucket=bucket, Key="ssec")["Body"].read(), b"12345", "Complete with the right x-amz-mp-object-size")

    # HEAD with a Range answers as the ranged GET; response-* overrides on GET and HEAD.
    r = s3.head_object(Bucket=bucket, Key="one", Range="bytes=1-3")
    c.eq((r["ResponseMetadata"]["HTTPStatusCode"], r["ContentLength"], r.get("ContentRange")), (206, 3, "bytes 1-3/8"), "HEAD with a Range")
    r = s3.get_object(Bucket=bucket, Key="one", ResponseContentType="text/x-override", ResponseContentDisposition="attachment; filename=x.txt")
    r["Body"].read()
    c.eq((r["ContentType"], r["ContentDisposition"]), ("text/x-override", "attachment; filename=x.txt"), "GET response-content-type/-disposition")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "one", "ResponseContentDisposition": "attachment"}, ExpiresIn=60)
    import urllib.request
    with urllib.request.urlopen(url) as resp:
        c.eq(resp.headers.get("Content-Disposition"), "attachment", "a presigned link's response-content-disposition")

    # Expires is kept and returned.
    import datetime
    when = datetime.datetime(2031, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc)
    s3.put_object(Bucket=bucket, Key="expiring", Body=b"e", Expires=when)
    h = s3.head_object(Bucket=bucket, Key="expiring")["ResponseMetadata"]["HTTPHeaders"]
    c.eq(h.get("expires"), "Tue, 06 May 2031 07:08:09 GMT", "Expires is kept and returned")

    # x-amz-expected-bucket-owner: the owner's key passes, another is 403.
    own = s3.list_buckets()["Owner"]["ID"]
    c.eq(s3.get_object(Bucket=bucket, Key="one", ExpectedBucketOwner=own)["Body"].read(), b"one part", "GET with the right expected bucket owner")
    c.expect_error(lambda: s3.get_object(Bucket=bucket, Key="one", ExpectedBucketOwner="111122223333"), "AccessDenied", 403, "GET with another expected bucket owner")

    c.expect_error(
        lambda: s3.copy_object(Bucket=bucket, Key="c2", CopySource={"Bucket": bucket, "Key": "one"}, ExpectedSourceBucketOwner="111122223333"),
        "AccessDenied", 403, "CopyObject with another expected source owner",
    )
    c.expect_error(lambda: s3.copy_object(Bucket=bucket, Key="c2", CopySource={"Bucket": bucket, "Key": "one"}, WebsiteRedirectLocation="/x"), "NotImplemented", 501, "CopyObject with a website redirect")
    c.expect_error(lambda: s3.create_multipart_upload(Bucket=bucket, Key="c3", WebsiteRedirectLocation="/x"), "NotImplemented", 501, "CreateMultipartUpload with a website redirect")
    c.expect_error(lambda: s3.head_object(Bucket=bucket, Key="c2"), "404", 404, "the refused copies wrote nothing")
    for bad in ("a\r\nX-Injected: 1", "a\x01b"):
        try:
            s3.get_object(Bucket=bucket, Key="one", ResponseContentType=bad)
            c.check(False, f"GET with response-content-type {bad!r} succeeded")
        except ClientError as e:
            c.check(err_status(e) == 400 and err_code(e) in ("InvalidArgument", "InvalidRequest"), f"GET with response-content-type {bad!r}: {err_code(e)} / HTTP {err_status(e)}, want 400")

    s3.delete_object(Bucket=bucket, Key="one", VersionId="null")
    c.expect_error(lambda: s3.head_object(Bucket=bucket, Key="one"), "404", 404, "DELETE versionId=null deletes the object")


c.run("main", main)
c.finish()
