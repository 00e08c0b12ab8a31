"""Additional checksums kept and returned, driven with boto3: a PutObject's verified
x-amz-checksum-* is answered by PutObject, by GET and HEAD when asked (ChecksumMode ENABLED,
whole object only), by GetObjectAttributes, and kept by CopyObject; a wrong one stores
nothing. Usage: checksums.py BUCKET"""

import base64
import hashlib
import sys
import zlib

from s3util import Checker, client, data

c = Checker("checksums")
MiB = 1 << 20


def b64(raw):
    return base64.b64encode(raw).decode()


def main(bucket):
    s3 = client()
    s3.create_bucket(Bucket=bucket)
    body = data(11, 2 * MiB + 17)
    sha = b64(hashlib.sha256(body).digest())
    crc = b64(zlib.crc32(body).to_bytes(4, "big"))

    r = s3.put_object(Bucket=bucket, Key="sha", Body=body, ChecksumSHA256=sha)
    c.eq(r.get("ChecksumSHA256"), sha, "PutObject answers the SHA-256 it verified")
    r = s3.put_object(Bucket=bucket, Key="crc", Body=body, ChecksumCRC32=crc)
    c.eq(r.get("ChecksumCRC32"), crc, "PutObject answers the CRC32 it verified")

    h = s3.head_object(Bucket=bucket, Key="sha", ChecksumMode="ENABLED")
    c.eq((h.get("ChecksumSHA256"), h.get("ChecksumType")), (sha, "FULL_OBJECT"), "HEAD with ChecksumMode ENABLED")
    c.eq(s3.head_object(Bucket=bucket, Key="sha").get("ChecksumSHA256"), None, "HEAD without ChecksumMode answers no checksum")
    # boto3 checks a returned checksum against the body it reads.
    g = s3.get_object(Bucket=bucket, Key="crc", ChecksumMode="ENABLED")
    c.eq((g.get("ChecksumCRC32"), g["Body"].read() == body), (crc, True), "GET with ChecksumMode ENABLED")
    g = s3.get_object(Bucket=bucket, Key="crc", ChecksumMode="ENABLED", Range="bytes=0-99")
    c.eq((g.get("ChecksumCRC32"), len(g["Body"].read())), (None, 100), "a ranged GET answers no whole-object checksum")

    a = s3.get_object_attributes(Bucket=bucket, Key="sha", ObjectAttributes=["Checksum", "ETag"])
    c.eq(a.get("Checksum", {}).get("ChecksumSHA256"), sha, "GetObjectAttributes answers the checksum")

    for directive in ("COPY", "REPLACE"):
        r = s3.copy_object(Bucket=bucket, Key=f"copy-{directive}", CopySource={"Bucket": bucket, "Key": "sha"}, MetadataDirective=directive)
        c.eq(r["CopyObjectResult"].get("ChecksumSHA256"), sha, f"CopyObject ({directive}) keeps the source's checksum")
        h = s3.head_object(Bucket=bucket, Key=f"copy-{directive}", ChecksumMode="ENABLED")
        c.eq(h.get("ChecksumSHA256"), sha, f"HEAD of the copy ({directive})")

    c.expect_error(lambda: s3.put_object(Bucket=bucket, Key="bad", Body=body, ChecksumSHA256=b64(hashlib.sha256(b"other").digest())), "BadDigest", 400, "a wrong checksum")
    c.expect_error(lambda: s3.head_object(Bucket=bucket, Key="bad"), "404", 404, "a wrong checksum stored nothing")


if __name__ == "__main__":
    c.run("checksums", lambda: main(sys.argv[1]))
    c.finish()
