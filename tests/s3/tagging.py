"""Object and bucket tagging as S3 answers it.

Usage:
  tagging.py set BUCKET     tags through every way S3 offers, S3's limits and errors;
                            leaves BUCKET/kept tagged {"keep": "me", "n": "2"} and BUCKET
                            tagged {"team": "data"}
  tagging.py still BUCKET   what `set` left is still there (after a restart, or through
                            another gateway)"""

import sys

from s3util import Checker, client

c = Checker("tagging")
MiB = 1 << 20


def tagset(d):
    return [{"Key": k, "Value": v} for k, v in d.items()]


def as_dict(ts):
    return {t["Key"]: t["Value"] for t in ts}


def set_(bucket):
    s3 = client()
    s3.create_bucket(Bucket=bucket)

    # The x-amz-tagging header of a PUT; the tag count on GET.
    s3.put_object(Bucket=bucket, Key="obj", Body=b"tagged", Tagging="a=1&two%20words=x%26y&empty=")
    listed = s3.get_object_tagging(Bucket=bucket, Key="obj")["TagSet"]
    c.eq([t["Key"] for t in listed], ["a", "empty", "two words"], "tags are answered sorted by key, not in the header's order")
    got = as_dict(listed)
    c.eq(got, {"a": "1", "two words": "x&y", "empty": ""}, "tags of a PUT with x-amz-tagging")
    c.eq(s3.get_object(Bucket=bucket, Key="obj").get("TagCount"), 3, "GET's x-amz-tagging-count")
    head = s3.head_object(Bucket=bucket, Key="obj")["ResponseMetadata"]["HTTPHeaders"]
    c.eq(head.get("x-amz-tagging-count"), "3", "HEAD's x-amz-tagging-count")

    # Replace and delete.
    s3.put_object_tagging(Bucket=bucket, Key="obj", Tagging={"TagSet": tagset({"k": "v"})})
    c.eq(as_dict(s3.get_object_tagging(Bucket=bucket, Key="obj")["TagSet"]), {"k": "v"}, "PutObjectTagging replaces the tag set")
    r = s3.delete_object_tagging(Bucket=bucket, Key="obj")
    c.eq(r["ResponseMetadata"]["HTTPStatusCode"], 204, "DeleteObjectTagging answers 204")
    c.eq(s3.get_object_tagging(Bucket=bucket, Key="obj")["TagSet"], [], "no tags after DeleteObjectTagging")
    c.eq(s3.get_object(Bucket=bucket, Key="obj").get("TagCount"), None, "an untagged object has no tag count")
    head = s3.head_object(Bucket=bucket, Key="obj")["ResponseMetadata"]["HTTPHeaders"]
    c.eq(head.get("x-amz-tagging-count"), None, "an untagged object has no tag count on HEAD either")
    c.eq(s3.get_object(Bucket=bucket, Key="obj")["Body"].read(), b"tagged", "tagging left the data alone")

    # Limits and errors.
    ten = {f"k{i}": "v" * 256 for i in range(10)}
    ten["k0"] = "v"
    s3.put_object_tagging(Bucket=bucket, Key="obj", Tagging={"TagSet": tagset(ten)})
    c.eq(len(s3.get_object_tagging(Bucket=bucket, Key="obj")["TagSet"]), 10, "10 tags of 256-character values")
    for what, tags in (
        ("11 tags", {f"k{i}": "v" for i in range(11)}),
        ("a 129-character key", {"k" * 129: "v"}),
        ("a 257-character value", {"k": "v" * 257}),
        ("an aws: key", {"aws:cloudformation": "v"}),
    ):
        c.expect_error(lambda: s3.put_object_tagging(Bucket=bucket, Key="obj", Tagging={"TagSet": tagset(tags)}), "InvalidTag", 400, f"PutObjectTagging with {what}")
    c.expect_error(
        lambda: s3.put_object_tagging(Bucket=bucket, Key="obj", Tagging={"TagSet": [{"Key": "d", "Value": "1"}, {"Key": "d", "Value": "2"}]}),
        "InvalidTag", 400, "PutObjectTagging with a key twice",
    )
    c.expect_error(lambda: s3.put_object(Bucket=bucket, Key="refused", Body=b"x", Tagging="&".join(f"k{i}=v" for i in range(11))), "InvalidTag", 400, "PUT with 11 tags")
    c.expect_error(lambda: s3.head_object(Bucket=bucket, Key="refused"), "404", 404, "the refused tagged PUT stored nothing")
    c.eq(len(s3.get_object_tagging(Bucket=bucket, Key="obj")["TagSet"]), 10, "refused taggings changed nothing")
    c.expect_error(lambda: s3.get_object_tagging(Bucket=bucket, Key="nope"), "NoSuchKey", 404, "GetObjectTagging of a missing key")
    c.expect_error(lambda: s3.put_object_tagging(Bucket=bucket, Key="nope", Tagging={"TagSet": tagset({"a": "b"})}), "NoSuchKey", 404, "PutObjectTagging of a missing key")
    c.expect_error(lambda: s3.get_object_tagging(Bucket=bucket + "-none", Key="obj"), "NoSuchBucket", 404, "GetObjectTagging in a missing bucket")

    # An overwrite starts untagged; a delete and re-create too.
    s3.put_object(Bucket=bucket, Key="obj", Body=b"new")
    c.eq(s3.get_object_tagging(Bucket=bucket, Key="obj")["TagSet"], [], "an overwrite without tags has none")
    s3.put_object(Bucket=bucket, Key="gone", Body=b"x", Tagging="a=1")
    s3.delete_object(Bucket=bucket, Key="gone")
    s3.put_object(Bucket=bucket, Key="gone", Body=b"y")
    c.eq(s3.get_object_tagging(Bucket=bucket, Key="gone")["TagSet"], [], "a re-created key has none of the old tags")

    # CopyObject copies tags, or replaces them.
    s3.put_object(Bucket=bucket, Key="src", Body=b"source", Tagging="from=src")
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "src"})
    c.eq(as_dict(s3.get_object_tagging(Bucket=bucket, Key="copy")["TagSet"]), {"from": "src"}, "CopyObject copies the tags")
    s3.copy_object(Bucket=bucket, Key="copy2", CopySource={"Bucket": bucket, "Key": "src"}, TaggingDirective="REPLACE", Tagging="new=1")
    c.eq(as_dict(s3.get_object_tagging(Bucket=bucket, Key="copy2")["TagSet"]), {"new": "1"}, "CopyObject with TaggingDirective=REPLACE")

    # A multipart upload's tags reach its object; an aborted one's go with it.
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", Tagging="parts=2")["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=1, Body=b"a" * (5 * MiB))["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=2, Body=b"b")["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    c.eq(as_dict(s3.get_object_tagging(Bucket=bucket, Key="mp")["TagSet"]), {"parts": "2"}, "CreateMultipartUpload's tags on the completed object")
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp2", Tagging="x=y")["UploadId"]
    s3.abort_multipart_upload(Bucket=bucket, Key="mp2", UploadId=up)

    # Bucket tags.
    c.expect_error(lambda: s3.get_bucket_tagging(Bucket=bucket), "NoSuchTagSet", 404, "GetBucketTagging of an untagged bucket")
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tagset({"team": "data", "cost": "7"})})
    c.eq(as_dict(s3.get_bucket_tagging(Bucket=bucket)["TagSet"]), {"team": "data", "cost": "7"}, "GetBucketTagging")
    c.expect_error(lambda: s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tagset({f"k{i}": "v" for i in range(51)})}), "InvalidTag", 400, "51 bucket tags")
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tagset({f"k{i}": "v" for i in range(50)})})
    c.eq(len(s3.get_bucket_tagging(Bucket=bucket)["TagSet"]), 50, "50 bucket tags")
    r = s3.delete_bucket_tagging(Bucket=bucket)
    c.eq(r["ResponseMetadata"]["HTTPStatusCode"], 204, "DeleteBucketTagging answers 204")
    c.expect_error(lambda: s3.get_bucket_tagging(Bucket=bucket), "NoSuchTagSet", 404, "no tag set after DeleteBucketTagging")
    c.expect_error(lambda: s3.put_bucket_tagging(Bucket=bucket + "-none", Tagging={"TagSet": tagset({"a": "b"})}), "NoSuchBucket", 404, "PutBucketTagging of a missing bucket")
    other = bucket + "-short"
    s3.create_bucket(Bucket=other)
    s3.put_bucket_tagging(Bucket=other, Tagging={"TagSet": tagset({"a": "b"})})
    s3.delete_bucket(Bucket=other)
    s3.create_bucket(Bucket=other)
    c.expect_error(lambda: s3.get_bucket_tagging(Bucket=other), "NoSuchTagSet", 404, "a re-created bucket has none of the old tags")

    # What `still` checks.
    s3.put_object(Bucket=bucket, Key="kept", Body=b"kept", Tagging="keep=me&n=2")
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tagset({"team": "data"})})


def still(bucket):
    s3 = client()
    c.eq(as_dict(s3.get_object_tagging(Bucket=bucket, Key="kept")["TagSet"]), {"keep": "me", "n": "2"}, "the object's tags are still there")
    c.eq(as_dict(s3.get_bucket_tagging(Bucket=bucket)["TagSet"]), {"team": "data"}, "the bucket's tags are still there")
    c.eq(as_dict(s3.get_object_tagging(Bucket=bucket, Key="mp")["TagSet"]), {"parts": "2"}, "the multipart object's tags are still there")


verb, bucket = sys.argv[1], sys.argv[2]
if verb == "set":
    c.run("set", lambda: set_(bucket))
elif verb == "still":
    c.run("still", lambda: still(bucket))
else:
    sys.exit(f"unknown verb {verb}")
c.finish()
