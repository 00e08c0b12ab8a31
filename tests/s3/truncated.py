"""Bodies shorter than their Content-Length, sent over a raw socket, must not
create (or replace) an object. Usage: truncated.py BUCKET"""

import socket
import sys
import time
import urllib.parse

from botocore.exceptions import ClientError

from s3util import Checker, client, data, err_status, signed_put_head

bucket = sys.argv[1]
s3 = client()
c = Checker("truncated bodies")
FULL = 1 << 20


def send_truncated(path, full_body, send_bytes, signed_payload, half_close, query=""):
    """Send a PUT announcing len(full_body) bytes but only send_bytes of them.
    Returns the status line the server answered with, or None."""
    host, port, head = signed_put_head(path, len(full_body), full_body, signed_payload, query)
    s = socket.create_connection((host, port), timeout=15)
    s.sendall(head + full_body[:send_bytes])
    status = None
    if half_close:
        s.shutdown(socket.SHUT_WR)
        try:
            resp = s.recv(4096)
            status = resp.split(b"\r\n", 1)[0].decode(errors="replace") if resp else None
        except (socket.timeout, ConnectionError):
            pass
    else:
        time.sleep(0.3)
    s.close()
    return status


def absent(key, what):
    # Check more than once: a server still draining the dead request must not commit later.
    for delay in (0.2, 1.0):
        time.sleep(delay)
        try:
            s3.head_object(Bucket=bucket, Key=key)
            c.check(False, f"{what}: object {key!r} exists after a truncated body")
            return
        except ClientError as e:
            if err_status(e) != 404:
                c.check(False, f"{what}: HEAD gave HTTP {err_status(e)}")
                return
    c.check(True, f"{what}: no object")


def main():
    s3.create_bucket(Bucket=bucket)
    body = data(4242, FULL)
    st = send_truncated(f"{bucket}/t1", body, 100 * 1024, signed_payload=False, half_close=True)
    print(f"server answered half-closed truncated UNSIGNED-PAYLOAD PUT with: {st}")
    c.check(st is None or " 4" in st, f"truncated PUT is answered with a 4xx or a closed connection: {st}")
    absent("t1", "UNSIGNED-PAYLOAD, half-close after 100 KiB")

    st = send_truncated(f"{bucket}/t2", body, 300 * 1024, signed_payload=True, half_close=False)
    absent("t2", "signed payload, socket closed after 300 KiB")

    # Right up to the last byte.
    st = send_truncated(f"{bucket}/t3", body, FULL - 1, signed_payload=False, half_close=True)
    c.check(st is None or " 4" in st, f"PUT missing its last byte is answered with a 4xx or a closed connection: {st}")
    absent("t3", "UNSIGNED-PAYLOAD, one byte short")

    # A truncated overwrite leaves the old object intact.
    s3.put_object(Bucket=bucket, Key="keep", Body=b"old and intact")
    send_truncated(f"{bucket}/keep", body, 500 * 1024, signed_payload=False, half_close=True)
    time.sleep(0.5)
    c.eq(s3.get_object(Bucket=bucket, Key="keep")["Body"].read(), b"old and intact", "truncated overwrite keeps the old object")

    # A truncated UploadPart leaves no part behind.
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    q = "partNumber=1&uploadId=" + urllib.parse.quote(uid, safe="")
    send_truncated(f"{bucket}/mp", body, 200 * 1024, signed_payload=False, half_close=True, query=q)
    time.sleep(0.5)
    parts = s3.list_parts(Bucket=bucket, Key="mp", UploadId=uid).get("Parts", [])
    c.eq(parts, [], "truncated UploadPart stored no part")
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid)

    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    c.eq(keys, ["keep"], "bucket holds only the intact object")


c.run("main", main)
c.finish()
