"""Streaming uploads as the AWS SDKs send them (Content-Encoding: aws-chunked):
STREAMING-AWS4-HMAC-SHA256-PAYLOAD (per-chunk signatures) and
STREAMING-UNSIGNED-PAYLOAD-TRAILER (CRC32 in a trailer), and the flexible
checksum headers (x-amz-checksum-*) that boto3 sends with every PutObject; and
PUTs sent with HTTP's own chunking (Transfer-Encoding: chunked) and no length.
Usage: chunked.py BUCKET"""

import base64
import hashlib
import hmac
import http.client
import os
import socket
import sys
import urllib.parse
import zlib

from botocore.auth import HmacV1Auth, S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from s3util import Checker, client, data, endpoint, err_status

bucket = sys.argv[1]
s3 = client()
c = Checker("aws-chunked")
AK, SK = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
EMPTY_SHA = hashlib.sha256(b"").hexdigest()


class SeedAuth(S3SigV4Auth):
    def __init__(self, payload_marker):
        super().__init__(Credentials(AK, SK), "s3", "us-east-1")
        self.marker = payload_marker

    def payload(self, request):
        return self.marker


def signing_key(date):
    k = hmac.new(("AWS4" + SK).encode(), date.encode(), hashlib.sha256).digest()
    for part in ("us-east-1", "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def send(method, path, headers, body):
    u = urllib.parse.urlsplit(f"{endpoint()}/{path}")
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    try:
        conn.request(method, u.path, body=body, headers=headers)
    except (BrokenPipeError, ConnectionResetError):
        # The server may refuse a body midway (a bad chunk signature) and close while we are
        # still sending; its answer is already on the socket, so read it as curl would.
        pass
    r = conn.getresponse()
    out = r.status, r.read()
    conn.close()
    return out


def signed_chunked(key, payload, chunk, tamper=False):
    encoded_len = 0  # computed below, after signatures (they have a fixed length)
    headers = {
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(payload)),
    }
    pieces = [payload[i : i + chunk] for i in range(0, len(payload), chunk)] + [b""]
    sig_len = 64
    encoded_len = sum(len(f"{len(p):x};chunk-signature=") + sig_len + 2 + len(p) + 2 for p in pieces)
    headers["Content-Length"] = str(encoded_len)
    req = AWSRequest(method="PUT", url=f"{endpoint()}/{bucket}/{key}", data=b"", headers=headers)
    SeedAuth("STREAMING-AWS4-HMAC-SHA256-PAYLOAD").add_auth(req)
    prep = req.prepare()
    auth = prep.headers["Authorization"]
    prev = auth.split("Signature=")[1].strip()
    amz_date = prep.headers["X-Amz-Date"]
    date = amz_date[:8]
    scope = f"{date}/us-east-1/s3/aws4_request"
    key_bytes = signing_key(date)
    body = bytearray()
    for i, p in enumerate(pieces):
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, prev, EMPTY_SHA, hashlib.sha256(p).hexdigest()])
        sig = hmac.new(key_bytes, sts.encode(), hashlib.sha256).hexdigest()
        if tamper and i == 1:
            sig = ("0" if sig[0] != "0" else "1") + sig[1:]
        body += f"{len(p):x};chunk-signature={sig}\r\n".encode() + p + b"\r\n"
        prev = sig
    assert len(body) == encoded_len
    hdrs = {k: v for k, v in prep.headers.items()}
    return send("PUT", f"{bucket}/{key}", hdrs, bytes(body))


def unsigned_trailer(key, payload, chunk, crc=None):
    crc_b64 = crc or base64.b64encode(zlib.crc32(payload).to_bytes(4, "big")).decode()
    pieces = [payload[i : i + chunk] for i in range(0, len(payload), chunk)]
    body = bytearray()
    for p in pieces:
        body += f"{len(p):x}\r\n".encode() + p + b"\r\n"
    body += f"0\r\nx-amz-checksum-crc32:{crc_b64}\r\n\r\n".encode()
    headers = {
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(payload)),
        "x-amz-trailer": "x-amz-checksum-crc32",
        "x-amz-sdk-checksum-algorithm": "CRC32",
        "Content-Length": str(len(body)),
    }
    req = AWSRequest(method="PUT", url=f"{endpoint()}/{bucket}/{key}", data=b"", headers=headers)
    SeedAuth("STREAMING-UNSIGNED-PAYLOAD-TRAILER").add_auth(req)
    prep = req.prepare()
    return send("PUT", f"{bucket}/{key}", dict(prep.headers.items()), bytes(body))


def absent(key):
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return False
    except ClientError as e:
        return err_status(e) == 404


def code_of(xml):
    s = xml.decode(errors="replace")
    return s.split("<Code>", 1)[1].split("</Code>", 1)[0] if "<Code>" in s else None


def main():
    s3.create_bucket(Bucket=bucket)
    payload = data(8080, 3 * 1024 * 1024 + 123)

    st, resp = signed_chunked("signed", payload, 64 * 1024)
    c.check(st == 200, f"STREAMING-AWS4-HMAC-SHA256-PAYLOAD PUT: HTTP {st} {code_of(resp)}")
    if st == 200:
        got = s3.get_object(Bucket=bucket, Key="signed")
        c.check(got["Body"].read() == payload, "aws-chunked signed upload is byte-exact (no chunk framing stored)")
        c.eq(got["ETag"], f'"{hashlib.md5(payload).hexdigest()}"', "aws-chunked signed upload ETag is the MD5 of the decoded body")

    st, resp = signed_chunked("tampered", payload, 64 * 1024, tamper=True)
    c.check(st == 403 and code_of(resp) == "SignatureDoesNotMatch", f"tampered chunk signature: HTTP {st} {code_of(resp)}, want 403 SignatureDoesNotMatch")
    c.check(absent("tampered"), "tampered chunked upload created no object")

    st, resp = unsigned_trailer("trailer", payload, 64 * 1024)
    c.check(st == 200, f"STREAMING-UNSIGNED-PAYLOAD-TRAILER PUT: HTTP {st} {code_of(resp)}")
    if st == 200:
        c.check(s3.get_object(Bucket=bucket, Key="trailer")["Body"].read() == payload, "unsigned-trailer upload is byte-exact")

    st, resp = unsigned_trailer("badcrc", payload, 64 * 1024, crc="AAAAAA==")
    c.check(400 <= st < 500, f"trailer with a wrong CRC32 is refused: HTTP {st} {code_of(resp)}")
    c.check(absent("badcrc"), "upload with a wrong trailing CRC32 created no object")


def checksum_headers():
    payload = data(8081, 200_000)
    good = base64.b64encode(zlib.crc32(payload).to_bytes(4, "big")).decode()
    for what, hdrs, ok in (
        ("right x-amz-checksum-crc32", {"x-amz-checksum-crc32": good}, True),
        ("wrong x-amz-checksum-crc32", {"x-amz-checksum-crc32": "AAAAAA=="}, False),
        ("wrong x-amz-checksum-sha256", {"x-amz-checksum-sha256": base64.b64encode(hashlib.sha256(b"other").digest()).decode()}, False),
    ):
        key = "ck-" + what.replace(" ", "-")
        req = AWSRequest(method="PUT", url=f"{endpoint()}/{bucket}/{key}", data=payload, headers=hdrs)
        S3SigV4Auth(Credentials(AK, SK), "s3", "us-east-1").add_auth(req)
        prep = req.prepare()
        st, resp = send("PUT", f"{bucket}/{key}", dict(prep.headers.items()), payload)
        if ok:
            c.check(st == 200, f"PUT with the {what}: HTTP {st} {code_of(resp)}")
        else:
            c.check((st, code_of(resp)) == (400, "BadDigest"), f"PUT with a {what}: HTTP {st} {code_of(resp)}, want 400 BadDigest")
            c.check(absent(key), f"PUT with a {what} created no object")


def chunked_headers(url, payload, how):
    """Headers of a PUT of `payload` to `url` sent with Transfer-Encoding: chunked and no
    Content-Length, signed `how`: "sha256" (SigV4 over the body), "unsigned" (SigV4,
    UNSIGNED-PAYLOAD) or "sigv2"."""
    headers = {"Transfer-Encoding": "chunked"}
    if how == "unsigned":
        req = AWSRequest(method="PUT", url=url, data=b"", headers=headers)
        SeedAuth("UNSIGNED-PAYLOAD").add_auth(req)
    elif how == "sigv2":
        req = AWSRequest(method="PUT", url=url, data=b"", headers=headers)
        HmacV1Auth(Credentials(AK, SK)).add_auth(req)
    else:
        req = AWSRequest(method="PUT", url=url, data=payload, headers=headers)
        S3SigV4Auth(Credentials(AK, SK), "s3", "us-east-1").add_auth(req)
    return {k: v for k, v in req.prepare().headers.items() if k.lower() != "content-length"}


def http_chunked(key, payload, unsigned=False, query="", how=None, path=None):
    """A PUT whose body is sent with HTTP's own chunking (Transfer-Encoding: chunked) and no
    Content-Length, as a client streaming from a pipe sends it (to BUCKET/KEY, or `path`)."""
    url = f"{endpoint()}/{path or f'{bucket}/{key}'}" + (f"?{query}" if query else "")
    hdrs = chunked_headers(url, payload, how or ("unsigned" if unsigned else "sha256"))
    pieces = (payload[i : i + 100_000] for i in range(0, len(payload), 100_000))
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    try:
        conn.request("PUT", u.path + (f"?{u.query}" if u.query else ""), body=pieces, headers=hdrs, encode_chunked=True)
    except (BrokenPipeError, ConnectionResetError):
        pass  # refused midway: the answer is on the socket
    r = conn.getresponse()
    out = r.status, r.read()
    conn.close()
    return out


def expect_chunked(key, payload):
    """As http_chunked (UNSIGNED-PAYLOAD), with `Expect: 100-continue`, as curl sends an upload
    of unknown size: the body goes only after the 100, in 1 MiB chunks, and the answer is read
    even if it comes while the body is still being sent. Returns (status, body)."""
    url = f"{endpoint()}/{bucket}/{key}"
    u = urllib.parse.urlsplit(url)
    hdrs = chunked_headers(url, payload, "unsigned")
    head = f"PUT {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\nExpect: 100-continue\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in hdrs.items() if k.lower() != "host") + "\r\n"
    sock = socket.create_connection((u.hostname, u.port), timeout=60)
    f = sock.makefile("rb")
    try:
        sock.sendall(head.encode())
        first = f.readline()
        while f.readline() not in (b"\r\n", b""):
            pass
        if not first.startswith(b"HTTP/1.1 100"):
            return (int(first.split()[1]) if len(first.split()) > 1 else None), b""
        try:
            for i in range(0, len(payload), 1 << 20):
                piece = payload[i : i + (1 << 20)]
                sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        line = f.readline().split()
        if len(line) < 2:
            return None, b"the connection closed without an answer"
        status = int(line[1])
        length = 0
        while (line := f.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        return status, f.read(length)
    finally:
        f.close()
        sock.close()


def transfer_chunked():
    payload = data(8082, 3 * 1024 * 1024 + 17)
    for key, unsigned in (("te-signed", False), ("te-unsigned", True)):
        st, resp = http_chunked(key, payload, unsigned=unsigned)
        c.check(st == 200, f"PUT {key} with Transfer-Encoding: chunked: HTTP {st} {code_of(resp)}")
        if st == 200:
            got = s3.get_object(Bucket=bucket, Key=key)
            c.check(got["Body"].read() == payload, f"{key} is byte-exact")
            c.eq(got["ETag"], f'"{hashlib.md5(payload).hexdigest()}"', f"{key}'s ETag is its MD5")
    # A signed body that is not the one signed is refused and stores nothing.
    req = AWSRequest(method="PUT", url=f"{endpoint()}/{bucket}/te-tampered", data=b"other bytes", headers={"Transfer-Encoding": "chunked"})
    S3SigV4Auth(Credentials(AK, SK), "s3", "us-east-1").add_auth(req)
    hdrs = {k: v for k, v in req.prepare().headers.items() if k.lower() != "content-length"}
    u = urllib.parse.urlsplit(f"{endpoint()}/{bucket}/te-tampered")
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    conn.request("PUT", u.path, body=iter([b"these are not the bytes signed"]), headers=hdrs, encode_chunked=True)
    r = conn.getresponse()
    st, resp = r.status, r.read()
    conn.close()
    c.check((st, code_of(resp)) == (400, "XAmzContentSHA256Mismatch"), f"a chunked body that is not the one signed: HTTP {st} {code_of(resp)}, want 400 XAmzContentSHA256Mismatch")
    c.check(absent("te-tampered"), "the refused chunked PUT stored nothing")
    # An XML body (PutObjectTagging) sent the same way.
    xml = b'<Tagging><TagSet><Tag><Key>sent</Key><Value>chunked</Value></Tag></TagSet></Tagging>'
    st, resp = http_chunked("te-signed", xml, query="tagging")
    c.check(st == 200, f"PutObjectTagging with Transfer-Encoding: chunked: HTTP {st} {code_of(resp)}")
    c.eq(s3.get_object_tagging(Bucket=bucket, Key="te-signed")["TagSet"], [{"Key": "sent", "Value": "chunked"}], "the chunked tag set is stored")
    # XML bodies however signed: s3s reads them only with a length. SigV2 here.
    xml2 = xml.replace(b"chunked", b"sigv2")
    st, resp = http_chunked("te-signed", xml2, query="tagging", how="sigv2")
    c.check(st == 200, f"a SigV2 PutObjectTagging with Transfer-Encoding: chunked: HTTP {st} {code_of(resp)}")
    c.eq(s3.get_object_tagging(Bucket=bucket, Key="te-signed")["TagSet"], [{"Key": "sent", "Value": "sigv2"}], "the SigV2 chunked tag set is stored")
    made = f"{bucket}-te-made"
    conf = b"<CreateBucketConfiguration><LocationConstraint>us-east-1</LocationConstraint></CreateBucketConfiguration>"
    st, resp = http_chunked(None, conf, how="sigv2", path=made)
    c.check(st == 200, f"a SigV2 CreateBucket with a chunked body: HTTP {st} {code_of(resp)}")
    c.check(made in [b["Name"] for b in s3.list_buckets()["Buckets"]], "the bucket made with a chunked body exists")
    # A part of a multipart upload, sent the same way.
    up = s3.create_multipart_upload(Bucket=bucket, Key="te-mp")["UploadId"]
    part = data(8083, 5 * 1024 * 1024)
    st, resp = http_chunked("te-mp", part, unsigned=True, query=f"partNumber=1&uploadId={up}")
    c.check(st == 200, f"UploadPart with Transfer-Encoding: chunked: HTTP {st} {code_of(resp)}")
    parts = s3.list_parts(Bucket=bucket, Key="te-mp", UploadId=up).get("Parts", [])
    c.eq([(p["PartNumber"], p["Size"]) for p in parts], [(1, len(part))], "the chunked part is stored whole")
    s3.abort_multipart_upload(Bucket=bucket, Key="te-mp", UploadId=up)
    # Past the limit of a body without a length: 411, as S3 answers a PUT without one.
    # (8 MiB past the limit: the rest is read away, so the client, still sending, gets the answer.)
    st, resp = http_chunked("te-big", data(8084, 24 * 1024 * 1024), unsigned=True)
    c.check((st, code_of(resp)) == (411, "MissingContentLength"), f"a chunked PUT past 16 MiB: HTTP {st} {code_of(resp)}, want 411 MissingContentLength")
    c.check(absent("te-big"), "the refused large chunked PUT stored nothing")
    # The same with Expect: 100-continue: the answer still reaches the client.
    st, resp = expect_chunked("te-big-expect", data(8085, 24 * 1024 * 1024))
    c.check((st, code_of(resp)) == (411, "MissingContentLength"), f"a chunked PUT past 16 MiB with Expect: 100-continue: HTTP {st} {code_of(resp)}, want 411")
    st, resp = expect_chunked("te-expect", payload)
    c.check(st == 200, f"a chunked PUT with Expect: 100-continue: HTTP {st} {code_of(resp)}")
    if st == 200:
        c.check(s3.get_object(Bucket=bucket, Key="te-expect")["Body"].read() == payload, "the chunked PUT with Expect is byte-exact")
    # SigV2 bodies are streamed as they come: no limit but S3's (s3s checks no length for them).
    big = data(8086, 20 * 1024 * 1024 + 3)
    st, resp = http_chunked("te-sigv2", big, how="sigv2")
    c.check(st == 200, f"a SigV2 chunked PUT of 20 MiB streams: HTTP {st} {code_of(resp)}")
    if st == 200:
        c.check(s3.get_object(Bucket=bucket, Key="te-sigv2")["Body"].read() == big, "the SigV2 chunked PUT is byte-exact")


c.run("main", main)
c.run("checksum_headers", checksum_headers)
c.run("transfer_chunked", transfer_chunked)
c.finish()
