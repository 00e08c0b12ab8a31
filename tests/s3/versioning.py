"""Bucket versioning as S3 answers it, driven with boto3.

Usage:
  versioning.py set BUCKET     turn versioning on and off, write, overwrite, delete and read
                               versions every way S3 offers, with S3's errors; leaves
                               BUCKET/kept with three versions (newest first: MiB of seed 3,
                               MiB of seed 2, the null version "before versioning") and
                               BUCKET/gone hidden by a delete marker over "was here"; prints
                               the version ids as `ids KEPT2 KEPT3`
  versioning.py still BUCKET   what `set` left is still there, byte for byte (after a
                               restart, a lost node, a drain, or through another gateway)"""

import sys

from s3util import Checker, client, data, err_code, err_status
from botocore.exceptions import ClientError

c = Checker("versioning")
MiB = 1 << 20


def status(s3, bucket):
    return s3.get_bucket_versioning(Bucket=bucket).get("Status")


def versions(s3, bucket, **kw):
    r = s3.list_object_versions(Bucket=bucket, **kw)
    v = [(x["Key"], x["VersionId"], x["IsLatest"], "object") for x in r.get("Versions", [])]
    m = [(x["Key"], x["VersionId"], x["IsLatest"], "marker") for x in r.get("DeleteMarkers", [])]
    return r, v, m


def set_(bucket):
    s3 = client()
    s3.create_bucket(Bucket=bucket)
    c.eq(status(s3, bucket), None, "a new bucket never had versioning")
    s3.put_object(Bucket=bucket, Key="kept", Body=b"before versioning")
    r = s3.put_object(Bucket=bucket, Key="plain", Body=b"x")
    c.eq(r.get("VersionId"), None, "no x-amz-version-id where versioning never was on")
    c.expect_error(lambda: s3.get_object(Bucket=bucket, Key="kept", VersionId="nonsense"), "InvalidArgument", 400, "a version id this store cannot have made")
    c.eq(s3.get_object(Bucket=bucket, Key="kept", VersionId="null")["Body"].read(), b"before versioning", "an object written before versioning is the null version")

    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    c.eq(status(s3, bucket), "Enabled", "GetBucketVersioning after enabling")
    v2 = s3.put_object(Bucket=bucket, Key="kept", Body=data(2, MiB))["VersionId"]
    v3 = s3.put_object(Bucket=bucket, Key="kept", Body=data(3, MiB))["VersionId"]
    c.check(v2 != v3 and v2 != "null" and len(v2) == 32, f"PUT answers a new version id each time ({v2}, {v3})")
    got = s3.get_object(Bucket=bucket, Key="kept")
    c.eq((got["VersionId"], got["Body"].read() == data(3, MiB)), (v3, True), "GET without a version id reads the newest")
    for vid, want in [(v2, data(2, MiB)), ("null", b"before versioning"), (v3, data(3, MiB))]:
        c.eq(s3.get_object(Bucket=bucket, Key="kept", VersionId=vid)["Body"].read() == want, True, f"GET of version {vid}")
        h = s3.head_object(Bucket=bucket, Key="kept", VersionId=vid)
        c.eq((h["ContentLength"], h["VersionId"]), (len(want), vid), f"HEAD of version {vid}")
    rng = s3.get_object(Bucket=bucket, Key="kept", VersionId=v2, Range="bytes=10-19")["Body"].read()
    c.eq(rng, data(2, MiB)[10:20], "a range of an older version")
    c.expect_error(lambda: s3.get_object(Bucket=bucket, Key="kept", VersionId="0" * 32), "NoSuchVersion", 404, "GET of a version that does not exist")

    # Copy from an older version makes a new version.
    r = s3.copy_object(Bucket=bucket, Key="copied", CopySource={"Bucket": bucket, "Key": "kept", "VersionId": v2})
    c.eq(r.get("CopySourceVersionId"), v2, "CopyObject names the source version")
    c.check(len(r.get("VersionId", "")) == 32, "CopyObject answers the new version's id")
    c.eq(s3.get_object(Bucket=bucket, Key="copied")["Body"].read() == data(2, MiB), True, "the copy holds the older version's bytes")

    # A multipart upload completes as a new version.
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    e = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=1, Body=b"multipart")["ETag"]
    r = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e}]})
    c.check(len(r.get("VersionId", "")) == 32, "CompleteMultipartUpload answers a version id")

    # A delete without a version id hides the key behind a marker.
    s3.put_object(Bucket=bucket, Key="gone", Body=b"was here")
    d = s3.delete_object(Bucket=bucket, Key="gone")
    marker = d.get("VersionId")
    c.eq((d.get("DeleteMarker"), len(marker or "")), (True, 32), "DELETE makes a delete marker")
    try:
        s3.get_object(Bucket=bucket, Key="gone")
        c.check(False, "GET of a deleted key fails")
    except ClientError as ex:
        h = ex.response["ResponseMetadata"]["HTTPHeaders"]
        c.eq((err_code(ex), err_status(ex), h.get("x-amz-delete-marker"), h.get("x-amz-version-id")), ("NoSuchKey", 404, "true", marker), "GET of a key behind a marker")
    c.expect_error(lambda: s3.get_object(Bucket=bucket, Key="gone", VersionId=marker), "MethodNotAllowed", 405, "GET of the marker itself")
    names = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    c.check("gone" not in names and "kept" in names, f"ListObjects hides the deleted key ({names})")

    r, vs, ms = versions(s3, bucket, Prefix="gone")
    c.eq(ms, [("gone", marker, True, "marker")], "the marker is listed as latest")
    c.eq([x[2] for x in vs], [False], "the deleted version is listed, not latest")
    r, vs, ms = versions(s3, bucket, Prefix="kept")
    c.eq([(x[1], x[2]) for x in vs], [(v3, True), (v2, False), ("null", False)], "ListObjectVersions: newest first, one latest")

    # Paging one entry at a time visits every version once.
    seen, kw = [], {"MaxKeys": 1}
    while True:
        r, vs, ms = versions(s3, bucket, **kw)
        seen += [(x[0], x[1]) for x in vs + ms]
        if not r.get("IsTruncated"):
            break
        kw = {"MaxKeys": 1, "KeyMarker": r["NextKeyMarker"], "VersionIdMarker": r["NextVersionIdMarker"]}
    r, vs, ms = versions(s3, bucket)
    c.eq(sorted(seen), sorted((x[0], x[1]) for x in vs + ms), "paging with key and version-id markers sees every version once")
    c.eq(len(seen), len(set(seen)), "no version twice across pages")
    r, vs, ms = versions(s3, bucket, Delimiter="/", Prefix="")
    c.check(all("/" not in x[0] for x in vs), "a delimiter groups keys")

    # Deleting a version for good; a deleted current version makes the previous one current.
    s3.put_object(Bucket=bucket, Key="roll", Body=b"one")
    top = s3.put_object(Bucket=bucket, Key="roll", Body=b"two")["VersionId"]
    d = s3.delete_object(Bucket=bucket, Key="roll", VersionId=top)
    c.eq((d.get("VersionId"), d.get("DeleteMarker")), (top, None), "DELETE of a version names it")
    c.eq(s3.get_object(Bucket=bucket, Key="roll")["Body"].read(), b"one", "the previous version is current again")
    d2 = s3.delete_object(Bucket=bucket, Key="roll")
    s3.delete_object(Bucket=bucket, Key="roll", VersionId=d2["VersionId"])
    c.eq(s3.get_object(Bucket=bucket, Key="roll")["Body"].read(), b"one", "removing the marker brings the object back")

    # DeleteObjects with and without version ids.
    s3.put_object(Bucket=bucket, Key="batch", Body=b"b1")
    vb = s3.put_object(Bucket=bucket, Key="batch", Body=b"b2")["VersionId"]
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "batch", "VersionId": vb}, {"Key": "batch"}]})
    dl = sorted(r.get("Deleted", []), key=lambda x: "VersionId" in x)
    c.eq(len(dl), 2, f"DeleteObjects deleted both ({r.get('Errors')})")
    c.check(any(x.get("DeleteMarker") and len(x.get("DeleteMarkerVersionId", "")) == 32 for x in dl), "DeleteObjects without a version id makes a marker")
    c.check(any(x.get("VersionId") == vb for x in dl), "DeleteObjects with a version id names it")

    # Tags belong to a version.
    s3.put_object_tagging(Bucket=bucket, Key="kept", Tagging={"TagSet": [{"Key": "v", "Value": "3"}]})
    c.eq(s3.get_object_tagging(Bucket=bucket, Key="kept", VersionId=v2)["TagSet"], [], "an older version has its own (no) tags")
    r = s3.put_object_tagging(Bucket=bucket, Key="kept", VersionId=v2, Tagging={"TagSet": [{"Key": "old", "Value": "yes"}]})
    c.eq(r.get("VersionId"), v2, "PutObjectTagging of an older version names it")
    c.eq(s3.get_object_tagging(Bucket=bucket, Key="kept", VersionId=v2)["TagSet"], [{"Key": "old", "Value": "yes"}], "an older version's tags are set")
    c.eq(s3.get_object_tagging(Bucket=bucket, Key="kept")["TagSet"], [{"Key": "v", "Value": "3"}], "the current version keeps its own tags")
    c.expect_error(lambda: s3.put_object_tagging(Bucket=bucket, Key="gone", VersionId=marker, Tagging={"TagSet": []}), "MethodNotAllowed", 405, "a delete marker has no tags to set")

    # A bucket with versions is not empty.
    c.expect_error(lambda: s3.delete_bucket(Bucket=bucket), "BucketNotEmpty", 409, "a bucket holding versions cannot be deleted")

    # Suspended: writes make the null version and replace it.
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    c.eq(status(s3, bucket), "Suspended", "GetBucketVersioning after suspending")
    r1 = s3.put_object(Bucket=bucket, Key="susp", Body=b"n1")
    s3.put_object(Bucket=bucket, Key="susp", Body=b"n2")
    c.eq(r1.get("VersionId"), "null", "a PUT while suspended writes the null version")
    r, vs, ms = versions(s3, bucket, Prefix="susp")
    c.eq([(x[1], x[2]) for x in vs], [("null", True)], "a second PUT replaced the null version")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    c.expect_error(lambda: s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={}), "MalformedXML", 400, "a configuration without a status")

    # A small cleanup-able bucket: delete every version, then the bucket.
    tmp = bucket + "-tmp"
    s3.create_bucket(Bucket=tmp)
    s3.put_bucket_versioning(Bucket=tmp, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"a", b"b"):
        s3.put_object(Bucket=tmp, Key="k", Body=body)
    s3.delete_object(Bucket=tmp, Key="k")
    r, vs, ms = versions(s3, tmp)
    for key, vid, _, _ in vs + ms:
        s3.delete_object(Bucket=tmp, Key=key, VersionId=vid)
    s3.delete_bucket(Bucket=tmp)
    c.expect_error(lambda: s3.head_bucket(Bucket=tmp), "404", 404, "a bucket emptied of every version can be deleted")
    print(f"ids {v2} {v3}", flush=True)


def still(bucket):
    s3 = client()
    c.eq(status(s3, bucket), "Enabled", "versioning is still enabled")
    r, vs, ms = versions(s3, bucket, Prefix="kept")
    c.eq(len(vs), 3, "kept still has three versions")
    if len(vs) == 3:
        want = [data(3, MiB), data(2, MiB), b"before versioning"]
        for (key, vid, latest, _), body in zip(vs, want):
            c.eq(s3.get_object(Bucket=bucket, Key=key, VersionId=vid)["Body"].read() == body, True, f"version {vid} of kept reads byte-exact")
    r, vs, ms = versions(s3, bucket, Prefix="gone")
    c.eq([x[2] for x in ms], [True], "gone is still hidden by its marker")
    if vs:
        c.eq(s3.get_object(Bucket=bucket, Key="gone", VersionId=vs[0][1])["Body"].read(), b"was here", "the deleted version still reads")


if __name__ == "__main__":
    cmd, bucket = sys.argv[1], sys.argv[2]
    c.run(cmd, lambda: {"set": set_, "still": still}[cmd](bucket))
    c.finish()
