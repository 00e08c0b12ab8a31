"""A store written by one release, read by the next (tests/upgrade.rs, made by
scripts/make-store-fixture.sh).

Usage:
  fixture.py make DIR    write the fixture's objects through the admin key (from the
                         environment) and, with TEAM_ACCESS_KEY/TEAM_SECRET_KEY set, the
                         team key's bucket; record what a reader must find in DIR/expect.json
  fixture.py check DIR   every object of DIR/expect.json reads back byte-exact, with the
                         same ETag, size, type and metadata, and every listing is the same"""

import json
import os
import sys

import boto3
from botocore.config import Config

from s3util import Checker, client, data, endpoint, md5_of, stream_md5

c = Checker("older store")
KiB = 1 << 10

# (key, seed, size, content type, user metadata)
OBJECTS = [
    ("small.txt", 1, 1000, "text/plain", {"origin": "fixture"}),
    ("dir/a.bin", 2, 300 * KiB, "application/octet-stream", {}),
    ("dir/sub/b.bin", 3, 64 * KiB + 7, None, {"n": "2"}),
    ("empty", 4, 0, None, {}),
    ("odd key é/%20+x", 5, 4 * KiB, None, {}),
]


def team_client():
    cfg = Config(region_name="us-east-1", signature_version="s3v4", s3={"addressing_style": "path"}, retries={"total_max_attempts": 1, "mode": "standard"})
    return boto3.client("s3", endpoint_url=endpoint(), config=cfg, aws_access_key_id=os.environ["TEAM_ACCESS_KEY"], aws_secret_access_key=os.environ["TEAM_SECRET_KEY"])


def describe(s3, bucket):
    """What a reader must find in `bucket`: every object's listing entry and head."""
    out = []
    for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        h = s3.head_object(Bucket=bucket, Key=o["Key"])
        out.append({
            "key": o["Key"],
            "size": o["Size"],
            "etag": o["ETag"],
            "content_type": h.get("ContentType"),
            "metadata": h.get("Metadata", {}),
        })
    return out


def make(d):
    s3 = client()
    s3.create_bucket(Bucket="old")
    for key, seed, size, ctype, meta in OBJECTS:
        kw = {"ContentType": ctype} if ctype else {}
        s3.put_object(Bucket="old", Key=key, Body=data(seed, size), Metadata=meta, **kw)
    # An overwritten object, a deleted one, and a multipart object of two parts.
    s3.put_object(Bucket="old", Key="over", Body=data(6, 10 * KiB))
    s3.put_object(Bucket="old", Key="over", Body=data(7, 20 * KiB))
    s3.put_object(Bucket="old", Key="gone", Body=b"deleted")
    s3.delete_object(Bucket="old", Key="gone")
    whole = mp_body()
    up = s3.create_multipart_upload(Bucket="old", Key="mp", ContentType="video/x-test")["UploadId"]
    e1 = s3.upload_part(Bucket="old", Key="mp", UploadId=up, PartNumber=1, Body=whole[: 5 * 1024 * KiB])["ETag"]
    e2 = s3.upload_part(Bucket="old", Key="mp", UploadId=up, PartNumber=2, Body=whole[5 * 1024 * KiB :])["ETag"]
    s3.complete_multipart_upload(Bucket="old", Key="mp", UploadId=up, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    # An upload left open.
    s3.create_multipart_upload(Bucket="old", Key="open-upload")
    seeds = {key: (seed, size) for key, seed, size, _, _ in OBJECTS}
    seeds["over"] = (7, 20 * KiB)
    seeds["mp"] = (8, len(whole))
    team = {}
    if os.environ.get("TEAM_ACCESS_KEY"):
        t = team_client()
        t.create_bucket(Bucket="team")
        t.put_object(Bucket="team", Key="t.txt", Body=data(9, 2 * KiB))
        team = {"bucket": "team", "objects": describe(t, "team"), "seeds": {"t.txt": (9, 2 * KiB)}}
    expect = {"bucket": "old", "objects": describe(s3, "old"), "seeds": seeds, "team": team}
    with open(os.path.join(d, "expect.json"), "w") as f:
        json.dump(expect, f, indent=1, sort_keys=True)
    print(f"fixture: {len(expect['objects'])} objects in old, team: {bool(team)}", flush=True)


def mp_body():
    """Two parts: 5 MiB of zeros (S3's smallest first part; zeros keep the fixture small)
    and 100 bytes of data."""
    return bytes(5 * 1024 * KiB) + data(8, 100)


def whole_object(s3, bucket, key, seed, size):
    r = s3.get_object(Bucket=bucket, Key=key)
    if key == "mp":
        body = r["Body"].read()
        return body == mp_body(), len(body)
    got = stream_md5(r["Body"])
    return got == (md5_of(seed, size), size), got[1]


def check(d):
    with open(os.path.join(d, "expect.json")) as f:
        expect = json.load(f)
    s3 = client()
    found = [o for o in describe(s3, expect["bucket"]) if o["key"] != "new-after-upgrade"]
    c.eq(found, expect["objects"], "the old bucket lists and heads as it did")
    for key, (seed, size) in expect["seeds"].items():
        ok, got = whole_object(s3, expect["bucket"], key, seed, size)
        c.check(ok, f"{key}: {got} bytes read back byte-exact")
    c.eq([u["Key"] for u in s3.list_multipart_uploads(Bucket="old").get("Uploads", [])], ["open-upload"], "the open upload is still open")
    c.expect_error(lambda: s3.head_object(Bucket="old", Key="gone"), "404", 404, "the deleted object stays deleted")
    team = expect["team"]
    if team:
        t = team_client()
        c.eq(describe(t, team["bucket"]), team["objects"], "the team key still owns and reads its bucket")
        for key, (seed, size) in team["seeds"].items():
            ok, got = whole_object(t, team["bucket"], key, seed, size)
            c.check(ok, f"team/{key}: {got} bytes read back byte-exact")
        c.expect_error(lambda: t.get_object(Bucket="old", Key="small.txt"), "AccessDenied", 403, "the team key still may not read the admin's bucket")
    # The old store takes new writes, tagged ones included.
    s3.put_object(Bucket="old", Key="new-after-upgrade", Body=b"new", Tagging="v=next")
    c.eq(s3.get_object_tagging(Bucket="old", Key="new-after-upgrade")["TagSet"], [{"Key": "v", "Value": "next"}], "a new tagged write")


verb, d = sys.argv[1], sys.argv[2]
{"make": lambda: c.run("make", lambda: make(d)), "check": lambda: c.run("check", lambda: check(d))}[verb]()
c.finish()
