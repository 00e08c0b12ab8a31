"""Details of S3's answers that clients and conformance suites read: ListObjects (version 1)
always answers a Marker and names every entry's Owner; ListObjectsV2 names owners only with
FetchOwner; an empty delimiter is not echoed; every answer carries x-amz-request-id, and an
error's XML body the same id in <RequestId>; a CompleteMultipartUpload repeated after it
succeeded (its answer lost) is answered again with the same ETag and version, while a completion
of an upload that never existed stays 404. Usage: answers.py BUCKET"""

import sys
import xml.etree.ElementTree as ET

from s3util import Checker, client

bucket = sys.argv[1]
s3 = client()
c = Checker("answers")
MiB = 1 << 20


def listings():
    for k in ("a/1", "a/2", "b"):
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    owner = s3.get_bucket_acl(Bucket=bucket)["Owner"]
    v1 = s3.list_objects(Bucket=bucket)
    c.eq(v1.get("Marker"), "", "ListObjects without a marker answers an empty Marker")
    c.eq([o.get("Owner", {}).get("ID") for o in v1["Contents"]], [owner["ID"]] * 3, "ListObjects names every entry's owner (the bucket's)")
    v2 = s3.list_objects_v2(Bucket=bucket)
    c.eq(["Owner" in o for o in v2["Contents"]], [False] * 3, "ListObjectsV2 names no owner without FetchOwner")
    v2 = s3.list_objects_v2(Bucket=bucket, FetchOwner=True)
    c.eq([o.get("Owner", {}).get("ID") for o in v2["Contents"]], [owner["ID"]] * 3, "ListObjectsV2 with FetchOwner names the owner")
    for what, r in (("ListObjects", s3.list_objects(Bucket=bucket, Delimiter="")), ("ListObjectsV2", s3.list_objects_v2(Bucket=bucket, Delimiter=""))):
        c.check("Delimiter" not in r, f"{what} with an empty delimiter does not echo it: {r.get('Delimiter')!r}")
        c.eq(len(r.get("Contents", [])), 3, f"{what} with an empty delimiter lists every key")
    r = s3.list_objects(Bucket=bucket, Delimiter="/")
    c.eq((r.get("Delimiter"), [p["Prefix"] for p in r.get("CommonPrefixes", [])]), ("/", ["a/"]), "a delimiter is echoed and groups")


def request_ids():
    seen = {}

    def keep(http_response, **_):
        seen["body"] = http_response.content

    s3.meta.events.register("after-call.s3.GetObject", keep)
    try:
        s3.get_object(Bucket=bucket, Key="no-such-key")
        c.check(False, "GET of a missing key succeeded")
    except Exception as e:  # noqa: BLE001 - a ClientError is expected
        rid = getattr(e, "response", {}).get("ResponseMetadata", {}).get("RequestId")
        body_id = ET.fromstring(seen["body"]).findtext(".//RequestId")
        c.check(bool(rid) and len(rid) >= 16, f"an error answer carries x-amz-request-id: {rid!r}")
        c.eq(body_id, rid, "the error body's RequestId is the header's")
    finally:
        s3.meta.events.unregister("after-call.s3.GetObject", keep)
    a = s3.head_object(Bucket=bucket, Key="b")["ResponseMetadata"].get("RequestId")
    b = s3.head_object(Bucket=bucket, Key="b")["ResponseMetadata"].get("RequestId")
    c.check(bool(a) and bool(b) and a != b, f"every answer has its own request id: {a!r}, {b!r}")


def repeated_complete():
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    parts = []
    for n in (1, 2):
        body = bytes([n]) * (5 * MiB if n == 1 else 1000)
        parts.append({"PartNumber": n, "ETag": s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=n, Body=body)["ETag"]})
    first = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload={"Parts": parts})
    again = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload={"Parts": parts})
    c.eq((again["ETag"], again.get("VersionId")), (first["ETag"], first.get("VersionId")), "a repeated completion is answered with the same ETag and version")
    h = s3.head_object(Bucket=bucket, Key="mp")
    c.eq((h["ETag"], h["ContentLength"]), (first["ETag"], 5 * MiB + 1000), "the repeated completion changed nothing")
    c.expect_error(lambda: s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId="0" * 32, MultipartUpload={"Parts": parts}), "NoSuchUpload", 404, "completing an upload that never existed")
    # A copy of the completed object is not that completion (internal headers are not copied).
    s3.copy_object(Bucket=bucket, Key="mp2", CopySource={"Bucket": bucket, "Key": "mp"})
    c.expect_error(lambda: s3.complete_multipart_upload(Bucket=bucket, Key="mp2", UploadId=up, MultipartUpload={"Parts": parts}), "NoSuchUpload", 404, "the completion is not answered for a copy of its object")
    # Once another version replaces it, the old completion is no longer answered as done.
    s3.put_object(Bucket=bucket, Key="mp", Body=b"replaced")
    c.expect_error(lambda: s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload={"Parts": parts}), "NoSuchUpload", 404, "repeating a completion whose version was replaced")


def repeated_complete_versioned():
    vb = bucket + "-v"
    s3.create_bucket(Bucket=vb)
    s3.put_bucket_versioning(Bucket=vb, VersioningConfiguration={"Status": "Enabled"})

    def complete(key, status):
        s3.put_bucket_versioning(Bucket=vb, VersioningConfiguration={"Status": status})
        up = s3.create_multipart_upload(Bucket=vb, Key=key)["UploadId"]
        parts = [{"PartNumber": 1, "ETag": s3.upload_part(Bucket=vb, Key=key, UploadId=up, PartNumber=1, Body=b"v" * 1000)["ETag"]}]
        first = s3.complete_multipart_upload(Bucket=vb, Key=key, UploadId=up, MultipartUpload={"Parts": parts})
        return up, parts, first

    # Completed while versioning was suspended: the version is `null`, also when repeated after
    # versioning is enabled again.
    up, parts, first = complete("susp", "Suspended")
    s3.put_bucket_versioning(Bucket=vb, VersioningConfiguration={"Status": "Enabled"})
    again = s3.complete_multipart_upload(Bucket=vb, Key="susp", UploadId=up, MultipartUpload={"Parts": parts})
    c.eq((first.get("VersionId"), again.get("VersionId")), ("null", "null"), "a repeat names the version as stored (null, written while suspended)")
    # Completed while enabled, repeated with a condition that held at first.
    up, parts, first = complete("cond", "Enabled")
    again = s3.complete_multipart_upload(Bucket=vb, Key="cond", UploadId=up, MultipartUpload={"Parts": parts}, IfNoneMatch="*")
    c.eq((again["ETag"], again.get("VersionId")), (first["ETag"], first.get("VersionId")), "a repeated conditional completion is answered too")
    got = s3.get_object(Bucket=vb, Key="cond", VersionId=again["VersionId"])
    c.eq(got["ETag"], first["ETag"], "the repeat's version id names the version")
    # ListObjectVersions names the owner of every version and delete marker, and does not echo
    # an empty delimiter.
    s3.delete_object(Bucket=vb, Key="cond")
    owner = s3.get_bucket_acl(Bucket=vb)["Owner"]["ID"]
    lv = s3.list_object_versions(Bucket=vb, Delimiter="")
    c.eq({v.get("Owner", {}).get("ID") for v in lv.get("Versions", []) + lv.get("DeleteMarkers", [])}, {owner}, "every version and marker names its owner")
    c.eq((len(lv.get("DeleteMarkers", [])), "Delimiter" in lv), (1, False), "a marker listed, the empty delimiter not echoed")


def main():
    s3.create_bucket(Bucket=bucket)
    c.run("listings", listings)
    c.run("request ids", request_ids)
    c.run("repeated completion", repeated_complete)
    c.run("repeated completion, versioned", repeated_complete_versioned)


main()
c.finish()
