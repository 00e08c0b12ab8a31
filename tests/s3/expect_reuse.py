"""A correctly signed request is never refused because of the request before it
on the same connection.

The sequence that used to fail: a PUT with a small body and `Expect:
100-continue` is answered with a final status (404, 403, 400) before its body
was read; the client, as RFC 9110 allows and botocore and curl do, then never
sends that body and reuses the connection. If the server keeps the
connection, it takes the first bytes of the next request as the unread body:
`HEAD /bucket` arrives as method `EAD` and is refused with
SignatureDoesNotMatch (1 in a few hundred with boto3, depending on timing).

Two clients drive it, each ROUNDS times:
  raw    one HTTP/1.1 socket, reused whenever the server keeps it: a PUT that
         withholds its body until `100 Continue`, answered 404 (no such
         bucket), 403 (wrong secret) or 400 (bad Content-MD5), then at once
         a correctly signed HEAD of a missing bucket, which must get 404;
  boto3  one pooled connection: PutObject of 1 byte into a missing bucket
         (404), then HeadBucket of it (404).
Usage: expect_reuse.py BUCKET ROUNDS"""

import base64
import os
import socket
import sys
import time
import urllib.parse

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError


from s3util import Checker, client, endpoint, err_code, err_status

bucket = sys.argv[1]
rounds = int(sys.argv[2])
c = Checker("reused connections after early answers")
AK, SK = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
URL = urllib.parse.urlsplit(endpoint())
HOST = f"{URL.hostname}:{URL.port}"
MISSING = f"{bucket}-missing"


def signed(method, path, body=b"", secret=SK, extra=None):
    """Request head bytes signed as botocore signs them (SigV4, payload hash)."""
    req = AWSRequest(method=method, url=f"{endpoint()}{path}", data=body, headers=dict(extra or {}))
    S3SigV4Auth(Credentials(AK, secret), "s3", "us-east-1").add_auth(req)
    head = [f"{method} {path} HTTP/1.1", f"Host: {HOST}"]
    head += [f"{k}: {v}" for k, v in req.headers.items() if k.lower() != "host"]
    return head


class Conn:
    """One HTTP/1.1 socket, reopened only when the server closes it or says so."""

    def __init__(self):
        self.sock, self.buf = None, b""
        self.opened = 0

    def ensure(self):
        if self.sock is None:
            self.sock = socket.create_connection((URL.hostname, URL.port), timeout=20)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.buf, self.opened = b"", self.opened + 1

    def close(self):
        if self.sock is not None:
            self.sock.close()
        self.sock = None

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("server closed the connection")
        self.buf += data

    def read_response(self, head_request=False):
        """(status, headers dict, body) of the next response on the socket."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        # A HEAD answer has no body, whatever its Content-Length says.
        n = 0 if head_request else int(headers.get("content-length", "0"))
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, headers, body

    def keep(self, headers):
        if headers.get("connection", "").lower() == "close":
            self.close()


def put_with_expect(conn, kind, size):
    """PUT whose body waits for `100 Continue`; returns the final (status, code)."""
    body = b"x" * size
    if kind == 404:
        head = signed("PUT", f"/{MISSING}/k", body)
    elif kind == 403:
        head = signed("PUT", f"/{bucket}/k", body, secret="not-the-secret-" + SK[:8])
    else:  # 400: a Content-MD5 that is not base64 of 16 bytes, refused before the body
        head = signed("PUT", f"/{bucket}/k", body, extra={"Content-MD5": base64.b64encode(b"short").decode()})
    head += [f"Content-Length: {size}", "Expect: 100-continue"]
    conn.ensure()
    conn.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    status, headers, resp = conn.read_response()
    if status == 100:
        conn.sock.sendall(body)
        status, headers, resp = conn.read_response()
    conn.keep(headers)
    code = resp.split(b"<Code>")[1].split(b"</Code>")[0].decode() if b"<Code>" in resp else ""
    return status, code


def head_missing(conn):
    conn.ensure()
    conn.sock.sendall(("\r\n".join(signed("HEAD", f"/{MISSING}")) + "\r\n\r\n").encode())
    status, headers, _ = conn.read_response(head_request=True)
    conn.keep(headers)
    return status


def retry_once(conn, fn):
    """Run fn(conn); when the server had closed the kept connection before the request went
    out (as a server may), retry once on a new one, as clients do. Returns (result, retried)."""
    try:
        return fn(conn), False
    except (ConnectionError, OSError):
        conn.close()
        return fn(conn), True


def raw_rounds():
    conn, refused, wrong_put, closed_under_us = Conn(), [], [], 0
    kinds = (404, 403, 400)
    t = time.time()
    for i in range(rounds):
        kind, size = kinds[i % 3], 1 + (i // 3) % 4
        try:
            (st, code), retried = retry_once(conn, lambda c: put_with_expect(c, kind, size))
            closed_under_us += retried
            if st != kind:
                wrong_put.append((i, kind, st, code))
            st, retried = retry_once(conn, head_missing)
            closed_under_us += retried
            if st != 404:
                refused.append((i, kind, size, st))
        except Exception as e:  # noqa: BLE001 - a garbled answer is a refusal too
            refused.append((i, kind, size, repr(e)[:120]))
            conn.close()
    conn.close()
    print(f"raw: {rounds} rounds in {time.time() - t:.1f}s on {conn.opened} connection(s), "
          f"{closed_under_us} closed under the client", flush=True)
    c.check(not wrong_put, f"raw: every PUT got its final status (404/403/400); wrong: {wrong_put[:5]}")
    c.check(not refused, f"raw: {len(refused)} of {rounds} signed HEADs after an early answer were not 404: {refused[:5]}")


def boto3_rounds():
    # Every request of the loop on the one pooled connection.
    s3 = client(max_pool_connections=1)
    refused, wrong_put = [], []
    t = time.time()
    for i in range(rounds):
        try:
            s3.put_object(Bucket=MISSING, Key="k", Body=b"x")
            wrong_put.append((i, "PUT succeeded"))
        except ClientError as e:
            if (err_status(e), err_code(e)) != (404, "NoSuchBucket"):
                wrong_put.append((i, err_status(e), err_code(e)))
        except Exception as e:  # noqa: BLE001 - no answer at all is wrong too
            wrong_put.append((i, repr(e)[:120]))
        try:
            s3.head_bucket(Bucket=MISSING)
            refused.append((i, "HEAD succeeded"))
        except ClientError as e:
            if err_status(e) != 404:
                refused.append((i, err_status(e), err_code(e)))
        except Exception as e:  # noqa: BLE001 - e.g. the connection closed on a garbled request
            refused.append((i, repr(e)[:120]))
    print(f"boto3: {rounds} rounds in {time.time() - t:.1f}s", flush=True)
    c.check(not wrong_put, f"boto3: every PUT into a missing bucket got 404 NoSuchBucket; wrong: {wrong_put[:5]}")
    c.check(not refused, f"boto3: {len(refused)} of {rounds} HeadBucket after a 404 PUT were not 404: {refused[:5]}")


def main():
    client().create_bucket(Bucket=bucket)


c.run("create bucket", main)
c.run("raw HTTP/1.1 client", raw_rounds)
c.run("boto3", boto3_rounds)
c.finish()
