"""S3's size and count limits, as S3 answers them: a single PUT or a part announcing more
than 5 GiB is refused (EntityTooLarge) before its body is read, and DeleteObjects with more
than 1000 keys is MalformedXML and deletes nothing. Usage: limits.py BUCKET"""

import socket
import sys

from s3util import Checker, client, signed_put_head

bucket = sys.argv[1]
s3 = client()
c = Checker("limits")
TOO_BIG = (5 << 30) + 1


def announce(path, length, query=""):
    """Send only the head of a signed UNSIGNED-PAYLOAD PUT announcing `length` body bytes;
    return the status line and body of the server's answer (it must answer without the body)."""
    host, port, head = signed_put_head(path, length, query=query)
    s = socket.create_connection((host, port), timeout=30)
    s.sendall(head + b"x" * 4096)
    resp = b""
    try:
        while b"</Error>" not in resp:
            chunk = s.recv(65536)
            if not chunk:
                break
            resp += chunk
    except socket.timeout:
        pass
    s.close()
    text = resp.decode(errors="replace")
    return text.split("\r\n", 1)[0], text


def main():
    s3.create_bucket(Bucket=bucket)
    status, text = announce(f"{bucket}/huge", TOO_BIG)
    c.check(" 400" in status and "EntityTooLarge" in text, f"PUT announcing 5 GiB + 1 byte: {status} {text[-300:]!r}")
    objs = s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0)
    c.eq(objs, 0, "objects after the refused PUT")

    up = s3.create_multipart_upload(Bucket=bucket, Key="parts")["UploadId"]
    status, text = announce(f"{bucket}/parts", TOO_BIG, f"partNumber=1&uploadId={up}")
    c.check(" 400" in status and "EntityTooLarge" in text, f"UploadPart announcing 5 GiB + 1 byte: {status} {text[-300:]!r}")
    parts = s3.list_parts(Bucket=bucket, Key="parts", UploadId=up).get("Parts", [])
    c.eq(len(parts), 0, "parts after the refused UploadPart")
    s3.abort_multipart_upload(Bucket=bucket, Key="parts", UploadId=up)

    for i in range(3):
        s3.put_object(Bucket=bucket, Key=f"k{i}", Body=b"kept")
    keys = [{"Key": f"k{i}"} for i in range(1001)]
    c.expect_error(lambda: s3.delete_objects(Bucket=bucket, Delete={"Objects": keys}), "MalformedXML", 400, "DeleteObjects of 1001 keys")
    c.eq(s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0), 3, "objects after the refused DeleteObjects")
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": keys[:1000]})
    c.eq(len(r.get("Deleted", [])), 1000, "DeleteObjects of 1000 keys")
    c.eq(s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0), 0, "objects after it")
    c.finish()


main()
