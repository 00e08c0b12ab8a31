"""boto3 over HTTPS (tests/tls.rs). The endpoint is https://...; the certificates trusted
come from AWS_CA_BUNDLE, as any boto3 user would give them.

  tls.py ok BUCKET TAG   create BUCKET if needed; put, read back and list objects named
                         TAG-* (one of them a multipart upload); print "ok"
  tls.py refused         the server's certificate must be refused (botocore SSLError)
"""

import sys

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError, SSLError

import s3util
from s3util import MiB


def ok(bucket, tag):
    s3 = s3util.client()
    try:
        s3.create_bucket(Bucket=bucket)
    except ClientError as e:
        if e.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    sizes = {f"{tag}-empty": 0, f"{tag}-small": 1000, f"{tag}-multipart": 12 * MiB + 17}
    cfg = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    for i, (key, size) in enumerate(sorted(sizes.items())):
        body = s3util.data(i + 1, size)
        s3.upload_fileobj(__import__("io").BytesIO(body), bucket, key, Config=cfg)
        got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert got == body, f"{key}: {len(got)} bytes back, not the {size} put"
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"{tag}-").get("Contents", [])}
    assert listed == set(sizes), f"listed {sorted(listed)}, want {sorted(sizes)}"
    print("ok")


def refused():
    s3 = s3util.client()
    try:
        s3.list_buckets()
    except SSLError as e:
        print(f"refused: {e}")
        return
    sys.exit("the server's certificate was accepted, but the CA bundle does not vouch for it")


if __name__ == "__main__":
    if sys.argv[1] == "ok":
        ok(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "refused":
        refused()
    else:
        sys.exit(f"unknown mode {sys.argv[1]}")
