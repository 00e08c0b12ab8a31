"""Access keys as principals, through boto3: an admin key (AWS_* in the environment) and
two plain keys, each using only the buckets it owns.

Usage:
  access.py matrix TEAM_AK TEAM_SK OTHER_AK OTHER_SK
      buckets root-b (admin), team-b (team), other-b (other), and every cross-principal
      request refused (403 AccessDenied) while nothing is changed by it
  access.py still OTHER_AK OTHER_SK TEAM_AK TEAM_SK
      after the team key was deleted (and a restart): the team key is refused as unknown,
      the other key still owns and reads other-b and still may not touch team-b
"""

import sys

import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from s3util import Checker, client, endpoint, err_code, err_status

c = Checker("access keys as principals")


def as_key(ak, sk):
    cfg = Config(region_name="us-east-1", signature_version="s3v4", s3={"addressing_style": "path"}, retries={"total_max_attempts": 1, "mode": "standard"})
    return boto3.client("s3", endpoint_url=endpoint(), config=cfg, aws_access_key_id=ak, aws_secret_access_key=sk)


def anonymous():
    cfg = Config(region_name="us-east-1", signature_version=UNSIGNED, s3={"addressing_style": "path"}, retries={"total_max_attempts": 1, "mode": "standard"})
    return boto3.client("s3", endpoint_url=endpoint(), config=cfg)


def bucket_names(s3):
    return sorted(b["Name"] for b in s3.list_buckets().get("Buckets", []))


def denied(fn, what, code="AccessDenied"):
    c.expect_error(fn, code, 403, what)


def head_denied(fn, what):
    # A HEAD answer has no body, so only its status tells.
    try:
        fn()
        c.check(False, f"{what}: succeeded, want HTTP 403")
    except ClientError as e:
        c.eq(err_status(e), 403, what)


def foreign_requests_refused(s3, who, bucket, key):
    """Every kind of request `who` may make against a bucket it does not own."""
    denied(lambda: s3.get_object(Bucket=bucket, Key=key), f"{who}: GET {bucket}/{key}")
    head_denied(lambda: s3.head_object(Bucket=bucket, Key=key), f"{who}: HEAD {bucket}/{key}")
    head_denied(lambda: s3.head_bucket(Bucket=bucket), f"{who}: HEAD bucket {bucket}")
    denied(lambda: s3.list_objects_v2(Bucket=bucket), f"{who}: ListObjectsV2 {bucket}")
    denied(lambda: s3.list_objects(Bucket=bucket), f"{who}: ListObjects {bucket}")
    denied(lambda: s3.put_object(Bucket=bucket, Key="planted", Body=b"x"), f"{who}: PUT into {bucket}")
    denied(lambda: s3.delete_object(Bucket=bucket, Key=key), f"{who}: DELETE {bucket}/{key}")
    denied(lambda: s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key}]}), f"{who}: DeleteObjects in {bucket}")
    denied(lambda: s3.create_multipart_upload(Bucket=bucket, Key="mp"), f"{who}: CreateMultipartUpload in {bucket}")
    denied(lambda: s3.list_multipart_uploads(Bucket=bucket), f"{who}: ListMultipartUploads {bucket}")
    denied(lambda: s3.delete_bucket(Bucket=bucket), f"{who}: DeleteBucket {bucket}")
    denied(lambda: s3.get_object_tagging(Bucket=bucket, Key=key), f"{who}: GetObjectTagging {bucket}/{key}")
    denied(lambda: s3.put_object_tagging(Bucket=bucket, Key=key, Tagging={"TagSet": [{"Key": "planted", "Value": "x"}]}), f"{who}: PutObjectTagging {bucket}/{key}")
    denied(lambda: s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "planted", "Value": "x"}]}), f"{who}: PutBucketTagging {bucket}")
    denied(lambda: s3.get_bucket_tagging(Bucket=bucket), f"{who}: GetBucketTagging {bucket}")
    c.expect_error(lambda: s3.create_bucket(Bucket=bucket), "BucketAlreadyExists", 409, f"{who}: CreateBucket {bucket} (another's)")


def matrix(team_ak, team_sk, other_ak, other_sk):
    root, team, other = client(), as_key(team_ak, team_sk), as_key(other_ak, other_sk)
    root.create_bucket(Bucket="root-b")
    root.put_object(Bucket="root-b", Key="secret.txt", Body=b"the admin's")
    team.create_bucket(Bucket="team-b")
    team.put_object(Bucket="team-b", Key="mine.txt", Body=b"the team's")
    other.create_bucket(Bucket="other-b")
    other.put_object(Bucket="other-b", Key="theirs.txt", Body=b"the other's")

    c.eq(team.get_object(Bucket="team-b", Key="mine.txt")["Body"].read(), b"the team's", "team reads its own bucket")
    c.eq(bucket_names(team), ["team-b"], "team lists only its own bucket")
    c.eq(team.list_buckets()["Owner"]["ID"], team_ak, "ListBuckets names the caller as owner")
    c.eq(bucket_names(other), ["other-b"], "other lists only its own bucket")
    c.eq(bucket_names(root), ["other-b", "root-b", "team-b"], "the admin key lists every bucket")
    c.expect_error(lambda: team.create_bucket(Bucket="team-b"), "BucketAlreadyOwnedByYou", 409, "team: CreateBucket of its own bucket")

    foreign_requests_refused(team, "team", "root-b", "secret.txt")
    foreign_requests_refused(team, "team", "other-b", "theirs.txt")
    foreign_requests_refused(other, "other", "team-b", "mine.txt")
    # A copy needs the source too: team may not copy the admin's object into its bucket.
    denied(lambda: team.copy_object(Bucket="team-b", Key="stolen", CopySource={"Bucket": "root-b", "Key": "secret.txt"}), "team: COPY from root-b")
    c.eq([o["Key"] for o in team.list_objects_v2(Bucket="team-b").get("Contents", [])], ["mine.txt"], "the refused copy wrote nothing")
    # So does a part copy.
    up = team.create_multipart_upload(Bucket="team-b", Key="parts")["UploadId"]
    denied(lambda: team.upload_part_copy(Bucket="team-b", Key="parts", UploadId=up, PartNumber=1, CopySource={"Bucket": "root-b", "Key": "secret.txt"}), "team: UploadPartCopy from root-b")
    c.eq(team.list_parts(Bucket="team-b", Key="parts", UploadId=up).get("Parts", []), [], "the refused part copy stored no part")
    team.abort_multipart_upload(Bucket="team-b", Key="parts", UploadId=up)
    # A copy within its own bucket is fine.
    team.copy_object(Bucket="team-b", Key="copy.txt", CopySource={"Bucket": "team-b", "Key": "mine.txt"})
    c.eq(team.get_object(Bucket="team-b", Key="copy.txt")["Body"].read(), b"the team's", "team copies within its own bucket")
    c.expect_error(lambda: team.get_object(Bucket="no-such-bucket", Key="k"), "NoSuchBucket", 404, "team: a bucket that does not exist")
    denied(lambda: anonymous().get_object(Bucket="team-b", Key="mine.txt"), "anonymous GET")

    # Nothing the refused requests asked for happened.
    c.eq(root.get_object(Bucket="root-b", Key="secret.txt")["Body"].read(), b"the admin's", "root-b/secret.txt unchanged")
    c.eq(root.get_object_tagging(Bucket="root-b", Key="secret.txt")["TagSet"], [], "root-b/secret.txt has no planted tags")
    c.expect_error(lambda: root.get_bucket_tagging(Bucket="root-b"), "NoSuchTagSet", 404, "root-b has no planted tags")
    c.eq(other.get_object(Bucket="other-b", Key="theirs.txt")["Body"].read(), b"the other's", "other-b/theirs.txt unchanged")
    c.eq([o["Key"] for o in root.list_objects_v2(Bucket="root-b").get("Contents", [])], ["secret.txt"], "nothing planted in root-b")
    c.eq([u["Key"] for u in root.list_multipart_uploads(Bucket="root-b").get("Uploads", [])], [], "no upload started in root-b")
    # The admin key uses every bucket.
    c.eq(root.get_object(Bucket="team-b", Key="mine.txt")["Body"].read(), b"the team's", "the admin key reads team-b")


def still(other_ak, other_sk, team_ak, team_sk):
    other, team = as_key(other_ak, other_sk), as_key(team_ak, team_sk)
    c.expect_error(lambda: team.list_buckets(), "InvalidAccessKeyId", 403, "the deleted team key: ListBuckets")
    c.expect_error(lambda: team.get_object(Bucket="team-b", Key="mine.txt"), "InvalidAccessKeyId", 403, "the deleted team key: GET")
    c.eq(other.get_object(Bucket="other-b", Key="theirs.txt")["Body"].read(), b"the other's", "other still reads its bucket")
    c.eq(bucket_names(other), ["other-b"], "other still lists only its bucket")
    denied(lambda: other.get_object(Bucket="team-b", Key="mine.txt"), "other: GET team-b (owned by a deleted key)")
    c.eq(client().get_object(Bucket="team-b", Key="mine.txt")["Body"].read(), b"the team's", "the admin key reads the deleted key's bucket")


def main():
    verb, args = sys.argv[1], sys.argv[2:]
    {"matrix": matrix, "still": still}[verb](*args)
    c.finish()


if __name__ == "__main__":
    main()
