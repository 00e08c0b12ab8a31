"""Virtual-hosted-style addressing (`--domain DOMAIN`): boto3 addressing buckets as
BUCKET.DOMAIN, presigned URLs of that form, unsigned requests by Host (a policy's public
object, a CORS preflight), and path-style clients on the same endpoint.

No DNS serves DOMAIN here, so this process resolves DOMAIN and every name under it to
127.0.0.1 itself (as a wildcard DNS record would).

Usage: vhost.py DOMAIN BUCKET
"""

import http.client
import json
import socket
import sys
import urllib.parse
import urllib.request

import boto3
from botocore.config import Config

from s3util import Checker, client, endpoint

domain, bucket = sys.argv[1], sys.argv[2]
c = Checker("virtual-hosted-style addressing")

_getaddrinfo = socket.getaddrinfo


def _resolve(host, *args, **kw):
    if isinstance(host, str) and (host == domain or host.endswith("." + domain)):
        host = "127.0.0.1"
    return _getaddrinfo(host, *args, **kw)


socket.getaddrinfo = _resolve

port = urllib.parse.urlsplit(endpoint()).port
by_name = f"http://{domain}:{port}"


def s3_client(style):
    cfg = Config(region_name="us-east-1", signature_version="s3v4", s3={"addressing_style": style}, retries={"total_max_attempts": 1, "mode": "standard"})
    return boto3.client("s3", endpoint_url=by_name, config=cfg)


def raw(method, host, path, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, headers=dict(headers or {}, Host=host))
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


def main():
    vh, path_ip, path_name = s3_client("virtual"), client(), s3_client("path")
    seen = []
    vh.meta.events.register("before-send.s3", lambda request, **kw: seen.append(urllib.parse.urlsplit(request.url).hostname))

    vh.create_bucket(Bucket=bucket)
    c.check(seen and seen[-1] == f"{bucket}.{domain}", f"boto3 sent CreateBucket to the bucket's host name: {seen[-1:]}")
    c.check(bucket in [b["Name"] for b in vh.list_buckets()["Buckets"]], "ListBuckets at the domain itself")
    vh.put_object(Bucket=bucket, Key="dir/a.txt", Body=b"virtual bytes")
    c.eq(path_ip.get_object(Bucket=bucket, Key="dir/a.txt")["Body"].read(), b"virtual bytes", "a path-style client by address reads a virtual-hosted write")
    path_ip.put_object(Bucket=bucket, Key="dir/b.txt", Body=b"path bytes")
    c.eq(vh.get_object(Bucket=bucket, Key="dir/b.txt")["Body"].read(), b"path bytes", "a virtual-hosted client reads a path-style write")
    c.eq(path_name.get_object(Bucket=bucket, Key="dir/a.txt")["Body"].read(), b"virtual bytes", "a path-style client at the domain itself")
    c.eq(vh.head_object(Bucket=bucket, Key="dir/a.txt")["ContentLength"], 13, "HEAD")
    c.eq([o["Key"] for o in vh.list_objects_v2(Bucket=bucket, Prefix="dir/")["Contents"]], ["dir/a.txt", "dir/b.txt"], "ListObjectsV2")
    vh.copy_object(Bucket=bucket, Key="copy.txt", CopySource={"Bucket": bucket, "Key": "dir/a.txt"})
    c.eq(vh.get_object(Bucket=bucket, Key="copy.txt")["Body"].read(), b"virtual bytes", "CopyObject")

    # Multipart, all by host name.
    up = vh.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    parts = []
    for n, body in ((1, b"a" * (5 << 20)), (2, b"tail")):
        parts.append({"PartNumber": n, "ETag": vh.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=n, Body=body)["ETag"]})
    vh.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload={"Parts": parts})
    c.eq(vh.head_object(Bucket=bucket, Key="mp")["ContentLength"], (5 << 20) + 4, "a multipart upload")

    # Under a bucket's host the path is a key, even one that looks like the admin API's.
    vh.put_object(Bucket=bucket, Key="kintsugi-admin/v1/status", Body=b"just an object")
    c.eq(vh.get_object(Bucket=bucket, Key="kintsugi-admin/v1/status")["Body"].read(), b"just an object", "a key under kintsugi-admin/ is an object")
    c.eq([o["Key"] for o in path_ip.list_objects_v2(Bucket=bucket, Prefix="kintsugi-admin/")["Contents"]], ["kintsugi-admin/v1/status"], "stored in the bucket")

    # Presigned URLs of the virtual-hosted form.
    url = vh.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "dir/a.txt"}, ExpiresIn=300)
    c.check(urllib.parse.urlsplit(url).hostname == f"{bucket}.{domain}", f"the presigned URL names the bucket's host: {url}")
    with urllib.request.urlopen(url, timeout=30) as r:
        c.eq(r.read(), b"virtual bytes", "a presigned virtual-hosted GET")

    # Unsigned requests find their bucket by Host too.
    vh.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/dir/*"}]}))
    status, _, body = raw("GET", f"{bucket}.{domain}:{port}", "/dir/a.txt")
    c.eq((status, body), (200, b"virtual bytes"), "an unsigned GET of a public object by host name")
    status, _, _ = raw("GET", f"{bucket}.{domain}:{port}", "/copy.txt")
    c.eq(status, 403, "an unsigned GET outside the policy's prefix by host name")
    vh.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [{"AllowedOrigins": ["https://app.test"], "AllowedMethods": ["GET"]}]})
    status, h, _ = raw("OPTIONS", f"{bucket}.{domain}:{port}", "/dir/a.txt", {"Origin": "https://app.test", "Access-Control-Request-Method": "GET"})
    c.eq((status, h.get("access-control-allow-origin")), (200, "https://app.test"), "a CORS preflight by host name")
    status, _, _ = raw("GET", f"nosuch-{bucket}.{domain}:{port}", "/k")
    c.eq(status, 404, "a host naming no bucket is 404 NoSuchBucket")

    for key in ("dir/a.txt", "dir/b.txt", "copy.txt", "mp", "kintsugi-admin/v1/status"):
        vh.delete_object(Bucket=bucket, Key=key)
    vh.delete_bucket(Bucket=bucket)
    c.check(bucket not in [b["Name"] for b in path_ip.list_buckets()["Buckets"]], "DeleteBucket by host name")
    c.finish()


if __name__ == "__main__":
    main()
