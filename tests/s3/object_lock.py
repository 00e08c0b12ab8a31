"""Object lock as S3 answers it, driven with boto3: the bucket's lock configuration and default
retention, GOVERNANCE and COMPLIANCE retention, legal holds, the bypass header, and every
delete and change S3 refuses.

Usage:
  object_lock.py set BUCKET     makes BUCKET with object lock and exercises it; leaves
                                BUCKET/held (a version under a legal hold), BUCKET/comp (a
                                version retained in COMPLIANCE mode for a day) and the
                                bucket's default retention (GOVERNANCE, 1 day)
  object_lock.py still BUCKET   what `set` left still holds (after a restart, or through
                                another gateway)"""

import sys
from datetime import datetime, timedelta, timezone

from s3util import Checker, client, data

c = Checker("object lock")
MiB = 1 << 20
DAY = timedelta(days=1)


def later(d=DAY):
    return (datetime.now(timezone.utc) + d).replace(microsecond=0)


def near(a, b, slack=timedelta(minutes=10)):
    return a is not None and abs(a - b) < slack


def vid(s3, bucket, key):
    return s3.head_object(Bucket=bucket, Key=key)["VersionId"]


def refused_delete(s3, bucket, key, version, what, bypass=False):
    kw = {"BypassGovernanceRetention": True} if bypass else {}
    c.expect_error(lambda: s3.delete_object(Bucket=bucket, Key=key, VersionId=version, **kw), "AccessDenied", 403, what)
    c.eq(s3.head_object(Bucket=bucket, Key=key, VersionId=version)["VersionId"], version, f"{what}: the version is still there")


def configuration(s3, bucket):
    plain = bucket + "-plain"
    s3.create_bucket(Bucket=plain)
    cfg = {"ObjectLockEnabled": "Enabled"}
    c.expect_error(lambda: s3.put_object_lock_configuration(Bucket=plain, ObjectLockConfiguration=cfg), "InvalidBucketState", 409, "object lock on a bucket without versioning")
    c.expect_error(
        lambda: s3.put_object(Bucket=plain, Key="k", Body=b"x", ObjectLockLegalHoldStatus="ON"), "InvalidRequest", 400, "a legal hold in a bucket without object lock"
    )
    c.expect_error(
        lambda: s3.put_object(Bucket=plain, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=later()),
        "InvalidRequest", 400, "a retention in a bucket without object lock",
    )
    c.expect_error(lambda: s3.head_object(Bucket=plain, Key="k"), "404", 404, "the refused locked writes stored nothing")
    c.expect_error(lambda: s3.get_object_retention(Bucket=plain, Key="k"), "InvalidRequest", 400, "GetObjectRetention in a bucket without object lock")
    s3.put_bucket_versioning(Bucket=plain, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object_lock_configuration(Bucket=plain, ObjectLockConfiguration=cfg)
    got = s3.get_object_lock_configuration(Bucket=plain)["ObjectLockConfiguration"]
    c.eq(got.get("ObjectLockEnabled"), "Enabled", "object lock enabled on an existing bucket with versioning")

    for what, bad, code in (
        ("ObjectLockEnabled Disabled", {"ObjectLockEnabled": "Disabled"}, "MalformedXML"),
        ("zero days", {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 0}}}, "InvalidArgument"),
        ("days and years", {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1, "Years": 1}}}, "MalformedXML"),
        ("an unknown mode", {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "SOMETIMES", "Days": 1}}}, "MalformedXML"),
    ):
        c.expect_error(lambda: s3.put_object_lock_configuration(Bucket=plain, ObjectLockConfiguration=bad), code, 400, f"a lock configuration with {what}")


def set_(bucket):
    s3 = client()
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    c.eq(s3.get_bucket_versioning(Bucket=bucket).get("Status"), "Enabled", "a bucket made with object lock has versioning")
    got = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    c.eq((got.get("ObjectLockEnabled"), got.get("Rule")), ("Enabled", None), "GetObjectLockConfiguration of a new locked bucket")
    c.expect_error(
        lambda: s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"}), "InvalidBucketState", 409, "versioning suspended under object lock"
    )
    configuration(s3, bucket)

    # No retention, no hold: an ordinary version, deletable; its retention reads 404.
    s3.put_object(Bucket=bucket, Key="free", Body=b"free")
    free = vid(s3, bucket, "free")
    c.expect_error(lambda: s3.get_object_retention(Bucket=bucket, Key="free"), "NoSuchObjectLockConfiguration", 404, "GetObjectRetention of a version without one")
    c.eq(s3.get_object_legal_hold(Bucket=bucket, Key="free")["LegalHold"]["Status"], "OFF", "GetObjectLegalHold of a version without one")
    s3.delete_object(Bucket=bucket, Key="free", VersionId=free)

    # Bad lock headers on a write.
    c.expect_error(lambda: s3.put_object(Bucket=bucket, Key="bad", Body=b"x", ObjectLockMode="GOVERNANCE"), "InvalidArgument", 400, "a mode without a date")
    c.expect_error(
        lambda: s3.put_object(Bucket=bucket, Key="bad", Body=b"x", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=later(-DAY)),
        "InvalidArgument", 400, "a retention that ended before it began",
    )

    # A legal hold: no delete of the version, with or without a bypass; a delete without a
    # version id still makes a delete marker, as S3.
    s3.put_object(Bucket=bucket, Key="held", Body=data(7, MiB), ObjectLockLegalHoldStatus="ON")
    held = vid(s3, bucket, "held")
    c.eq(s3.head_object(Bucket=bucket, Key="held").get("ObjectLockLegalHoldStatus"), "ON", "HEAD shows the legal hold")
    c.eq(s3.get_object_legal_hold(Bucket=bucket, Key="held", VersionId=held)["LegalHold"]["Status"], "ON", "GetObjectLegalHold")
    refused_delete(s3, bucket, "held", held, "DELETE of a version under a legal hold")
    refused_delete(s3, bucket, "held", held, "DELETE with a bypass of a version under a legal hold", bypass=True)
    marker = s3.delete_object(Bucket=bucket, Key="held")
    c.eq(marker.get("DeleteMarker"), True, "a DELETE without a version id makes a marker over a held version")
    s3.delete_object(Bucket=bucket, Key="held", VersionId=marker["VersionId"])
    s3.put_object_legal_hold(Bucket=bucket, Key="held", VersionId=held, LegalHold={"Status": "OFF"})
    c.eq(s3.get_object_legal_hold(Bucket=bucket, Key="held")["LegalHold"]["Status"], "OFF", "the legal hold lifted")
    s3.put_object_legal_hold(Bucket=bucket, Key="held", LegalHold={"Status": "ON"})

    # GOVERNANCE: only a bypass deletes the version or shortens its retention; anyone may
    # extend it.
    until = later()
    s3.put_object(Bucket=bucket, Key="gov", Body=b"governed", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until)
    gov = vid(s3, bucket, "gov")
    r = s3.get_object_retention(Bucket=bucket, Key="gov", VersionId=gov)["Retention"]
    c.eq((r["Mode"], r["RetainUntilDate"] == until), ("GOVERNANCE", True), "GetObjectRetention answers what the PUT asked")
    h = s3.head_object(Bucket=bucket, Key="gov")
    c.eq((h.get("ObjectLockMode"), h.get("ObjectLockRetainUntilDate") == until), ("GOVERNANCE", True), "HEAD shows the retention")
    g = s3.get_object(Bucket=bucket, Key="gov")
    c.eq((g.get("ObjectLockMode"), g["Body"].read()), ("GOVERNANCE", b"governed"), "GET shows the retention")
    refused_delete(s3, bucket, "gov", gov, "DELETE of a version under GOVERNANCE retention")
    c.expect_error(
        lambda: s3.put_object_retention(Bucket=bucket, Key="gov", VersionId=gov, Retention={"Mode": "GOVERNANCE", "RetainUntilDate": later(timedelta(hours=1))}),
        "AccessDenied", 403, "GOVERNANCE retention shortened without a bypass",
    )
    s3.put_object_retention(Bucket=bucket, Key="gov", VersionId=gov, Retention={"Mode": "GOVERNANCE", "RetainUntilDate": later(2 * DAY)})
    s3.put_object_retention(Bucket=bucket, Key="gov", VersionId=gov, Retention={"Mode": "GOVERNANCE", "RetainUntilDate": later(timedelta(hours=1))}, BypassGovernanceRetention=True)
    r = s3.get_object_retention(Bucket=bucket, Key="gov", VersionId=gov)["Retention"]
    c.check(near(r["RetainUntilDate"], later(timedelta(hours=1))), f"a bypass shortened the GOVERNANCE retention ({r})")
    s3.delete_object(Bucket=bucket, Key="gov", VersionId=gov, BypassGovernanceRetention=True)
    c.expect_error(lambda: s3.head_object(Bucket=bucket, Key="gov", VersionId=gov), "404", 404, "a bypass deleted the GOVERNANCE version")

    # COMPLIANCE: nothing deletes it, shortens it or turns it into GOVERNANCE; extending is fine.
    s3.put_object(Bucket=bucket, Key="comp", Body=data(8, 3 * MiB + 5), ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=later(timedelta(hours=12)))
    comp = vid(s3, bucket, "comp")
    refused_delete(s3, bucket, "comp", comp, "DELETE with a bypass of a COMPLIANCE version", bypass=True)
    for what, ret in (
        ("shortened", {"Mode": "COMPLIANCE", "RetainUntilDate": later(timedelta(hours=1))}),
        ("made GOVERNANCE", {"Mode": "GOVERNANCE", "RetainUntilDate": later(2 * DAY)}),
    ):
        c.expect_error(
            lambda: s3.put_object_retention(Bucket=bucket, Key="comp", VersionId=comp, Retention=ret, BypassGovernanceRetention=True),
            "AccessDenied", 403, f"COMPLIANCE retention {what}",
        )
    s3.put_object_retention(Bucket=bucket, Key="comp", VersionId=comp, Retention={"Mode": "COMPLIANCE", "RetainUntilDate": later()})
    # An overwrite makes a new version and keeps the locked one.
    s3.put_object(Bucket=bucket, Key="comp", Body=b"newer")
    c.eq(s3.get_object(Bucket=bucket, Key="comp", VersionId=comp)["Body"].read() == data(8, 3 * MiB + 5), True, "an overwrite keeps the locked version")

    # DeleteObjects: the locked version is refused per key, the free one goes.
    s3.put_object(Bucket=bucket, Key="batch-free", Body=b"f")
    s3.put_object(Bucket=bucket, Key="batch-gov", Body=b"g", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=later())
    objs = [{"Key": k, "VersionId": vid(s3, bucket, k)} for k in ("batch-free", "batch-gov")]
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": objs})
    c.eq(([d["Key"] for d in r.get("Deleted", [])], [(e["Key"], e["Code"]) for e in r.get("Errors", [])]), (["batch-free"], [("batch-gov", "AccessDenied")]), "DeleteObjects refuses the locked version only")
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": objs[1:]}, BypassGovernanceRetention=True)
    c.eq([d["Key"] for d in r.get("Deleted", [])], ["batch-gov"], "DeleteObjects with a bypass")

    # The bucket's default retention: new versions get it from their own time unless they ask
    # for another; multipart uploads and copies take their lock headers.
    rule = {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}
    s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": rule})
    got = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    c.eq(got.get("Rule"), rule, "GetObjectLockConfiguration shows the default retention")
    s3.put_object(Bucket=bucket, Key="dflt", Body=b"d")
    r = s3.get_object_retention(Bucket=bucket, Key="dflt")["Retention"]
    c.check(r["Mode"] == "GOVERNANCE" and near(r["RetainUntilDate"], later()), f"a new version gets the default retention ({r})")
    refused_delete(s3, bucket, "dflt", vid(s3, bucket, "dflt"), "DELETE of a version under the default retention")
    s3.put_object(Bucket=bucket, Key="own", Body=b"o", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=later(timedelta(hours=2)))
    r = s3.get_object_retention(Bucket=bucket, Key="own")["Retention"]
    c.eq(r["Mode"], "COMPLIANCE", "a write's own retention beats the default")
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", ObjectLockLegalHoldStatus="ON")
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=data(9, MiB))
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"], MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    h = s3.head_object(Bucket=bucket, Key="mp")
    c.eq((h.get("ObjectLockLegalHoldStatus"), h.get("ObjectLockMode")), ("ON", "GOVERNANCE"), "a completed upload has the hold it asked for and the default retention")
    s3.copy_object(Bucket=bucket, Key="copied", CopySource={"Bucket": bucket, "Key": "held"}, ObjectLockLegalHoldStatus="ON")
    c.eq(s3.head_object(Bucket=bucket, Key="copied").get("ObjectLockLegalHoldStatus"), "ON", "a copy has the hold it asked for")
    print(f"ids {held} {comp}", flush=True)


def still(bucket):
    s3 = client()
    got = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    c.eq(got.get("Rule"), {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}, "the default retention is still there")
    held = s3.head_object(Bucket=bucket, Key="held")
    c.eq(held.get("ObjectLockLegalHoldStatus"), "ON", "the legal hold is still there")
    refused_delete(s3, bucket, "held", held["VersionId"], "DELETE of the held version", bypass=True)
    versions = s3.list_object_versions(Bucket=bucket, Prefix="comp").get("Versions", [])
    comp = [v["VersionId"] for v in versions if v["Key"] == "comp" and not v["IsLatest"]]
    c.eq(len(comp), 1, "the COMPLIANCE version is listed")
    if comp:
        r = s3.get_object_retention(Bucket=bucket, Key="comp", VersionId=comp[0])["Retention"]
        c.eq(r["Mode"], "COMPLIANCE", "the COMPLIANCE retention is still there")
        refused_delete(s3, bucket, "comp", comp[0], "DELETE of the COMPLIANCE version", bypass=True)
        body = s3.get_object(Bucket=bucket, Key="comp", VersionId=comp[0])["Body"].read()
        c.eq(body == data(8, 3 * MiB + 5), True, "the COMPLIANCE version reads back byte for byte")


if __name__ == "__main__":
    mode, bucket = sys.argv[1], sys.argv[2]
    c.run(mode, lambda: {"set": set_, "still": still}[mode](bucket))
    c.finish()
