"""boto3 sends "Expect: 100-continue" with every PutObject, also with an empty
body. When the server answers an empty PUT with its final response and no
"100 Continue" first (RFC-legal, but AWS S3 always sends the 100), botocore
keeps that response's status line on the pooled connection (boto/botocore#3755)
and the next PUT on that connection hangs until the read timeout, then is
silently retried. Usage: empty_put.py BUCKET"""

import sys
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ReadTimeoutError

from s3util import Checker, endpoint

bucket = sys.argv[1]
c = Checker("empty PUT then PUT on one connection")
s3 = boto3.client(
    "s3",
    endpoint_url=endpoint(),
    config=Config(
        region_name="us-east-1",
        s3={"addressing_style": "path"},
        retries={"total_max_attempts": 1},
        read_timeout=10,
        max_pool_connections=1,  # one connection: the second PUT reuses it
    ),
)


def main():
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    t = time.time()
    try:
        s3.put_object(Bucket=bucket, Key="after-empty", Body=b"x")
        c.check(True, f"PUT after an empty PUT answered in {time.time() - t:.2f}s")
    except ReadTimeoutError:
        c.check(
            False,
            "PUT after an empty PUT on the same connection got no usable response within 10 s "
            "(the server answered the empty Expect: 100-continue PUT without a 100 Continue)",
        )
    for k, want in (("empty", b""), ("after-empty", b"x")):
        c.eq(s3.get_object(Bucket=bucket, Key=k)["Body"].read(), want, f"{k} round-trips")


c.run("main", main)
c.finish()
