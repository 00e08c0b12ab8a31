"""Bucket-name validation. Usage: names.py"""

from s3util import Checker, client

s3 = client()
c = Checker("bucket names")

invalid = [
    "UPPERCASE",
    "Mixed-Case",
    "ab",
    "a" * 64,
    "a..b",
    "192.168.1.1",
    "-leading-dash",
    "trailing-dash-",
    "under_score",
    "xn--punycode-prefix",  # reserved prefix (AWS naming rules)
    "bucket-s3alias",  # reserved suffix
]
valid = ["abc", "a" * 63, "my.bucket-1", "0-numeric-start"]


def check_invalid():
    for name in invalid:
        c.expect_error(lambda: s3.create_bucket(Bucket=name), "InvalidBucketName", 400, f"CreateBucket {name!r}")
    names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    made = sorted(n for n in invalid if n in names)
    c.eq(made, [], "no invalid bucket was created")


def check_valid():
    for name in valid:
        s3.create_bucket(Bucket=name)
        s3.put_object(Bucket=name, Key="k", Body=b"v")
        c.eq(s3.get_object(Bucket=name, Key="k")["Body"].read(), b"v", f"valid bucket {name!r} works")
        s3.delete_object(Bucket=name, Key="k")
        s3.delete_bucket(Bucket=name)


c.run("invalid", check_invalid)
c.run("valid", check_valid)
c.finish()
