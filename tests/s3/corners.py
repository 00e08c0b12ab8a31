"""What Kintsugi does not do yet is refused, never silently dropped: a PUT asking for
server-side encryption, object lock or a public ACL is 501 and stores nothing; a version other than
`null` is 404 NoSuchVersion; GET/HEAD by partNumber answer as S3 for an object of one
part. Usage: corners.py BUCKET"""

import sys

from s3util import Checker, client

bucket = sys.argv[1]
s3 = client()
c = Checker("unbuilt features refused")
MiB = 1 << 20


def main():
    s3.create_bucket(Bucket=bucket)
    for what, extra in (
        ("SSE-S3", {"ServerSideEncryption": "AES256"}),
        ("SSE-KMS", {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "k"}),
        ("SSE-C", {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": "k" * 32}),
        ("object lock", {"ObjectLockMode": "GOVERNANCE", "ObjectLockRetainUntilDate": "2030-01-01T00:00:00Z"}),
        ("legal hold", {"ObjectLockLegalHoldStatus": "ON"}),
    ):
        c.expect_error(lambda: s3.put_object(Bucket=bucket, Key="plain", Body=b"secret", **extra), "NotImplemented", 501, f"PUT with {what}")
        c.expect_error(lambda: s3.create_multipart_upload(Bucket=bucket, Key="plain", **extra), "NotImplemented", 501, f"CreateMultipartUpload with {what}")
    for acl in ("public-read", "public-read-write", "authenticated-read"):
        c.expect_error(lambda: s3.put_object(Bucket=bucket, Key="plain", Body=b"x", ACL=acl), "NotImplemented", 501, f"PUT with ACL {acl}")
        c.expect_error(lambda: s3.create_bucket(Bucket=bucket + "-acl", ACL=acl), "NotImplemented", 501, f"CreateBucket with ACL {acl}")
    c.expect_error(lambda: s3.put_object(Bucket=bucket, Key="plain", Body=b"x", GrantRead='uri="http://acs.amazonaws.com/groups/global/AllUsers"'), "NotImplemented", 501, "PUT with a grant")
    c.expect_error(lambda: s3.create_bucket(Bucket=bucket + "-lock", ObjectLockEnabledForBucket=True), "NotImplemented", 501, "CreateBucket with object lock")
    c.expect_error(lambda: s3.head_bucket(Bucket=bucket + "-acl"), "404", 404, "the refused CreateBucket made nothing")
    c.expect_error(lambda: s3.head_bucket(Bucket=bucket + "-lock"), "404", 404, "the refused locked CreateBucket made nothing")
    c.expect_error(lambda: s3.head_object(Bucket=bucket, Key="plain"), "404", 404, "the refused PUTs stored nothing")
    s3.put_object(Bucket=bucket, Key="private", Body=b"p", ACL="private")
    s3.put_object(Bucket=bucket, Key="private", Body=b"p", ACL="bucket-owner-full-control")
    c.eq(s3.get_object(Bucket=bucket, Key="private")["Body"].read(), b"p", "PUT with ACL private, which is what every object is")
    c.eq(s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []), [], "the refused creates started no upload")

    s3.put_object(Bucket=bucket, Key="one", Body=b"one part")
    c.expect_error(
        lambda: s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "one"}, ServerSideEncryption="AES256"),
        "NotImplemented", 501, "CopyObject with SSE",
    )

    # Versions: only `null` exists.
    c.eq(s3.get_object(Bucket=bucket, Key="one", VersionId="null")["Body"].read(), b"one part", "GET versionId=null is the object")
    c.expect_error(lambda: s3.get_object(Bucket=bucket, Key="one", VersionId="3HL4kqtJlcpXroDTDmJ"), "NoSuchVersion", 404, "GET of another version")
    c.expect_error(lambda: s3.head_object(Bucket=bucket, Key="one", VersionId="3HL4kqtJlcpXroDTDmJ"), "404", 404, "HEAD of another version")
    c.expect_error(lambda: s3.delete_object(Bucket=bucket, Key="one", VersionId="3HL4kqtJlcpXroDTDmJ"), "NoSuchVersion", 404, "DELETE of another version")
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "one", "VersionId": "3HL4kqtJlcpXroDTDmJ"}]})
    c.eq([e.get("Code") for e in r.get("Errors", [])], ["NoSuchVersion"], "DeleteObjects of another version")
    c.eq(s3.get_object(Bucket=bucket, Key="one")["Body"].read(), b"one part", "the refused version deletes deleted nothing")

    # partNumber.
    r = s3.get_object(Bucket=bucket, Key="one", PartNumber=1)
    c.eq(r["Body"].read(), b"one part", "GET partNumber=1 of a one-part object is the object")
    c.expect_error(lambda: s3.get_object(Bucket=bucket, Key="one", PartNumber=2), "InvalidPartNumber", 416, "GET partNumber=2 of a one-part object")
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    e = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=1, Body=b"x" * MiB)["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e}]})
    c.expect_error(lambda: s3.get_object(Bucket=bucket, Key="mp", PartNumber=1), "NotImplemented", 501, "GET partNumber of a multipart object (not built)")

    s3.delete_object(Bucket=bucket, Key="one", VersionId="null")
    c.expect_error(lambda: s3.head_object(Bucket=bucket, Key="one"), "404", 404, "DELETE versionId=null deletes the object")


c.run("main", main)
c.finish()
