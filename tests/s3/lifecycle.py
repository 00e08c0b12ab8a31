"""Bucket lifecycle as S3 answers it, driven with boto3: configurations checked and read back
as given, then carried out by the lifecycle worker. The server must run with a short
lifecycle day (`--lifecycle-day 2s --lifecycle-interval 500ms`), so a rule's day passes in
seconds.

Usage:
  lifecycle.py rules BUCKET    Put/Get/DeleteBucketLifecycleConfiguration and S3's errors
  lifecycle.py expire BUCKET   rules carried out: expiration by days with prefix, size and
                               tag filters, noncurrent versions (keeping the newest), lone
                               delete markers, unfinished uploads, object lock holding a
                               version; what no rule names stays"""

import sys
import time
from datetime import datetime, timedelta, timezone

from s3util import Checker, client, data, err_code

from botocore.exceptions import ClientError

c = Checker("lifecycle")
WAIT = 60


def rules_of(s3, bucket):
    return s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]


def rules(bucket):
    s3 = client()
    s3.create_bucket(Bucket=bucket)
    c.expect_error(lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket), "NoSuchLifecycleConfiguration", 404, "a bucket without a lifecycle")
    c.expect_error(lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket + "-none"), "NoSuchBucket", 404, "the lifecycle of no bucket")
    midnight = (datetime.now(timezone.utc) + timedelta(days=30)).replace(hour=0, minute=0, second=0, microsecond=0)
    given = [
        {"ID": "logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 30}},
        {
            "ID": "tmp",
            "Status": "Disabled",
            "Filter": {"And": {"Prefix": "tmp/", "Tags": [{"Key": "class", "Value": "scratch"}], "ObjectSizeGreaterThan": 10}},
            "Expiration": {"Date": midnight},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 2, "NewerNoncurrentVersions": 3},
        },
        {"ID": "uploads", "Status": "Enabled", "Filter": {}, "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}},
        {"ID": "markers", "Status": "Enabled", "Filter": {"Tag": {"Key": "k", "Value": "v"}}, "NoncurrentVersionExpiration": {"NoncurrentDays": 1}},
    ]
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": given})
    got = rules_of(s3, bucket)
    c.eq([r["ID"] for r in got], ["logs", "tmp", "uploads", "markers"], "the rules in order")
    by = {r["ID"]: r for r in got}
    c.eq(by["logs"].get("Filter"), {"Prefix": "logs/"}, "a prefix filter")
    c.eq(by["logs"].get("Expiration"), {"Days": 30}, "expiration by days")
    c.eq(by["tmp"]["Status"], "Disabled", "a disabled rule is kept")
    c.eq(by["tmp"]["Filter"]["And"]["Tags"], [{"Key": "class", "Value": "scratch"}], "And: tags")
    c.eq((by["tmp"]["Filter"]["And"]["Prefix"], by["tmp"]["Filter"]["And"]["ObjectSizeGreaterThan"]), ("tmp/", 10), "And: prefix and size")
    c.eq(by["tmp"]["Expiration"].get("Date"), midnight, "expiration by date")
    c.eq(by["tmp"]["NoncurrentVersionExpiration"], {"NoncurrentDays": 2, "NewerNoncurrentVersions": 3}, "noncurrent expiration")
    c.eq(by["uploads"]["AbortIncompleteMultipartUpload"], {"DaysAfterInitiation": 7}, "abort incomplete uploads")
    c.eq(by["markers"]["Filter"], {"Tag": {"Key": "k", "Value": "v"}}, "a tag filter")
    # x-amz-expiration names the rule that expires an object, on PUT, HEAD and GET.
    put = s3.put_object(Bucket=bucket, Key="logs/a", Body=b"log")
    c.check('rule-id="logs"' in put.get("Expiration", "") and "expiry-date=" in put.get("Expiration", ""), f"PUT answers x-amz-expiration: {put.get('Expiration')}")
    c.check('rule-id="logs"' in s3.head_object(Bucket=bucket, Key="logs/a").get("Expiration", ""), "HEAD answers x-amz-expiration")
    c.check('rule-id="logs"' in s3.get_object(Bucket=bucket, Key="logs/a").get("Expiration", ""), "GET answers x-amz-expiration")
    c.eq(s3.put_object(Bucket=bucket, Key="other", Body=b"o").get("Expiration"), None, "no x-amz-expiration where no rule applies")
    # ... and on the writes that make a version by other means: CopyObject, CompleteMultipartUpload.
    copied = s3.copy_object(Bucket=bucket, Key="logs/copy", CopySource={"Bucket": bucket, "Key": "other"})
    c.check('rule-id="logs"' in copied.get("Expiration", ""), f"CopyObject answers x-amz-expiration: {copied.get('Expiration')}")
    up = s3.create_multipart_upload(Bucket=bucket, Key="logs/mp")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="logs/mp", UploadId=up, PartNumber=1, Body=b"part")["ETag"]
    done = s3.complete_multipart_upload(Bucket=bucket, Key="logs/mp", UploadId=up, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part}]})
    c.check('rule-id="logs"' in done.get("Expiration", ""), f"CompleteMultipartUpload answers x-amz-expiration: {done.get('Expiration')}")
    again = s3.complete_multipart_upload(Bucket=bucket, Key="logs/mp", UploadId=up, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part}]})
    c.eq(again.get("Expiration"), done.get("Expiration"), "a repeated CompleteMultipartUpload (its answer lost) answers x-amz-expiration again")
    c.eq(s3.copy_object(Bucket=bucket, Key="other2", CopySource={"Bucket": bucket, "Key": "other"}).get("Expiration"), None, "no x-amz-expiration on a copy no rule applies to")

    # A rule given no id gets one.
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [{"Status": "Enabled", "Filter": {}, "Expiration": {"Days": 1}}]})
    got = rules_of(s3, bucket)
    c.check(len(got) == 1 and len(got[0].get("ID", "")) > 0, f"a rule without an id is named: {got}")

    def bad(what, rule, code, status=400):
        c.expect_error(lambda: s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rule if isinstance(rule, list) else [rule]}), code, status, what)

    one = {"ID": "x", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 1}}
    bad("zero days", {**one, "Expiration": {"Days": 0}}, "InvalidArgument")
    bad("a status that is not Enabled or Disabled", {**one, "Status": "enabled"}, "MalformedXML")
    bad("the same id twice", [one, dict(one)], "InvalidArgument")
    bad("an id of 256 characters", {**one, "ID": "i" * 256}, "InvalidArgument")
    bad("a rule without an action", {"ID": "x", "Status": "Enabled", "Filter": {}}, "InvalidRequest")
    bad("a date that is not midnight", {**one, "Expiration": {"Date": midnight + timedelta(hours=5)}}, "InvalidArgument")
    bad("ExpiredObjectDeleteMarker with Days", {**one, "Expiration": {"Days": 1, "ExpiredObjectDeleteMarker": True}}, "MalformedXML")
    bad("aborting uploads with a tag filter", {**one, "Filter": {"Tag": {"Key": "a", "Value": "b"}}, "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}, "InvalidRequest")
    bad("NewerNoncurrentVersions 0", {**one, "NoncurrentVersionExpiration": {"NoncurrentDays": 1, "NewerNoncurrentVersions": 0}}, "InvalidArgument")
    bad("a transition (one storage class)", {**one, "Transitions": [{"Days": 1, "StorageClass": "GLACIER"}]}, "NotImplemented", 501)
    c.check(len(rules_of(s3, bucket)) == 1, "refused configurations changed nothing")

    s3.delete_bucket_lifecycle(Bucket=bucket)
    c.expect_error(lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket), "NoSuchLifecycleConfiguration", 404, "a deleted lifecycle")
    s3.delete_bucket_lifecycle(Bucket=bucket)
    c.expect_error(lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket), "NoSuchLifecycleConfiguration", 404, "deleting a lifecycle twice is no error")


def exists(s3, bucket, key, version=None):
    kw = {"VersionId": version} if version else {}
    try:
        s3.head_object(Bucket=bucket, Key=key, **kw)
        return True
    except ClientError as e:
        if err_code(e) in ("404", "NoSuchKey", "NoSuchVersion", "405"):
            return False
        raise


def versions(s3, bucket, key):
    r = s3.list_object_versions(Bucket=bucket, Prefix=key)
    vs = [(v["VersionId"], "object") for v in r.get("Versions", []) if v["Key"] == key]
    ms = [(m["VersionId"], "marker") for m in r.get("DeleteMarkers", []) if m["Key"] == key]
    return vs + ms


def uploads(s3, bucket):
    return sorted(u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []))


def until(what, cond):
    deadline = time.time() + WAIT
    while time.time() < deadline:
        if cond():
            return c.check(True, what)
        time.sleep(0.25)
    return c.check(False, f"{what}: not within {WAIT} s")


def expire(bucket):
    s3 = client()
    # A bucket without versioning: prefix + size, tag, and upload rules.
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="tmp/small", Body=b"s" * 100)
    s3.put_object(Bucket=bucket, Key="tmp/big", Body=data(1, 5000))
    s3.put_object(Bucket=bucket, Key="keep/a", Body=b"keep")
    s3.put_object(Bucket=bucket, Key="tagged/x", Body=b"x", Tagging="class=scratch")
    s3.put_object(Bucket=bucket, Key="tagged/y", Body=b"y", Tagging="class=keep")
    s3.create_multipart_upload(Bucket=bucket, Key="up/m")
    s3.create_multipart_upload(Bucket=bucket, Key="other/m")
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [
                {"ID": "small-tmp", "Status": "Enabled", "Filter": {"And": {"Prefix": "tmp/", "ObjectSizeLessThan": 1000}}, "Expiration": {"Days": 1}},
                {"ID": "scratch", "Status": "Enabled", "Filter": {"Tag": {"Key": "class", "Value": "scratch"}}, "Expiration": {"Days": 1}},
                {"ID": "uploads", "Status": "Enabled", "Filter": {"Prefix": "up/"}, "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}},
                {"ID": "off", "Status": "Disabled", "Filter": {"Prefix": "keep/"}, "Expiration": {"Days": 1}},
            ]
        },
    )
    # A bucket with versioning: noncurrent versions (the newest kept), a delete marker left
    # alone once its version expired, and current versions put under a delete marker.
    vb = bucket + "-v"
    s3.create_bucket(Bucket=vb)
    s3.put_bucket_versioning(Bucket=vb, VersioningConfiguration={"Status": "Enabled"})
    ids = [s3.put_object(Bucket=vb, Key="nc/k", Body=f"v{i}".encode())["VersionId"] for i in range(3)]
    s3.put_object(Bucket=vb, Key="gone/k", Body=b"soon deleted")
    marker = s3.delete_object(Bucket=vb, Key="gone/k")["VersionId"]
    cur = s3.put_object(Bucket=vb, Key="cur/k", Body=b"current")["VersionId"]
    s3.put_bucket_lifecycle_configuration(
        Bucket=vb,
        LifecycleConfiguration={
            "Rules": [
                {"ID": "nc", "Status": "Enabled", "Filter": {"Prefix": "nc/"}, "NoncurrentVersionExpiration": {"NoncurrentDays": 1, "NewerNoncurrentVersions": 1}},
                {
                    "ID": "gone",
                    "Status": "Enabled",
                    "Filter": {"Prefix": "gone/"},
                    "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
                    "Expiration": {"ExpiredObjectDeleteMarker": True},
                },
                {"ID": "cur", "Status": "Enabled", "Filter": {"Prefix": "cur/"}, "Expiration": {"Days": 1}},
            ]
        },
    )
    # Object lock keeps a version due for expiry; its unlocked neighbour goes.
    lb = bucket + "-l"
    s3.create_bucket(Bucket=lb, ObjectLockEnabledForBucket=True)
    held = s3.put_object(Bucket=lb, Key="k", Body=b"held", ObjectLockLegalHoldStatus="ON")["VersionId"]
    s3.put_object(Bucket=lb, Key="k", Body=b"newer")
    free = s3.put_object(Bucket=lb, Key="j", Body=b"free")["VersionId"]
    s3.put_object(Bucket=lb, Key="j", Body=b"newer")
    s3.put_bucket_lifecycle_configuration(Bucket=lb, LifecycleConfiguration={"Rules": [{"ID": "nc", "Status": "Enabled", "Filter": {}, "NoncurrentVersionExpiration": {"NoncurrentDays": 1}}]})

    until("a small object under tmp/ expired", lambda: not exists(s3, bucket, "tmp/small"))
    until("an object tagged class=scratch expired", lambda: not exists(s3, bucket, "tagged/x"))
    until("an unfinished upload under up/ aborted", lambda: "up/m" not in uploads(s3, bucket))
    until("the oldest noncurrent version expired", lambda: not exists(s3, vb, "nc/k", ids[0]))
    until("a delete marker with no version left removed", lambda: versions(s3, vb, "gone/k") == [])
    until("a current version put under a delete marker", lambda: not exists(s3, vb, "cur/k"))
    until("a noncurrent version without a lock expired", lambda: not exists(s3, lb, "j", free))
    c.check(exists(s3, bucket, "tmp/big"), "an object too big for the size filter stays")
    c.check(exists(s3, bucket, "keep/a"), "an object only a disabled rule names stays")
    c.check(exists(s3, bucket, "tagged/y"), "an object with another tag value stays")
    c.eq(uploads(s3, bucket), ["other/m"], "an upload outside the rule's prefix stays")
    c.check(exists(s3, vb, "nc/k", ids[1]) and exists(s3, vb, "nc/k", ids[2]), "the newest noncurrent version and the current one stay")
    got = versions(s3, vb, "cur/k")
    c.check((cur, "object") in got and any(kind == "marker" for _, kind in got), f"the expired current version is kept as noncurrent under a marker: {got}")
    c.check(marker not in [v for v, _ in versions(s3, vb, "gone/k")], "the marker went")
    c.check(exists(s3, lb, "k", held), "a version under a legal hold stays")
    c.eq(s3.get_object(Bucket=lb, Key="k")["Body"].read(), b"newer", "the current version of a locked key stays")


def main():
    cmd, bucket = sys.argv[1], sys.argv[2]
    if cmd == "rules":
        c.run("rules", lambda: rules(bucket))
    elif cmd == "expire":
        c.run("expire", lambda: expire(bucket))
    else:
        sys.exit(f"unknown command {cmd}")
    c.finish()


main()
