"""Shared helpers for the boto3 scripts driven by tests/embedded.rs.

Every script reads its endpoint from S3_ENDPOINT and its credentials from the
standard AWS_* variables. Object contents are deterministic functions of
(seed, size), so a script can re-create the expected bytes (or their MD5)
without keeping them in memory.
"""

import hashlib
import io
import json
import os
import random
import sys
import traceback

import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

BLOCK = 1 << 20
MiB = 1 << 20


def endpoint():
    return os.environ["S3_ENDPOINT"]


def config(signature):
    """A path-style client configuration signing with `signature`, without retries."""
    return Config(region_name="us-east-1", signature_version=signature, s3={"addressing_style": "path"}, retries={"total_max_attempts": 1, "mode": "standard"})


def as_key(ak, sk):
    """A SigV4 client signing with the key `ak`/`sk`."""
    return boto3.client("s3", endpoint_url=endpoint(), config=config("s3v4"), aws_access_key_id=ak, aws_secret_access_key=sk)


def anonymous():
    """A client that signs nothing."""
    return boto3.client("s3", endpoint_url=endpoint(), config=config(UNSIGNED))


def client(single_pass=False, endpoint_url=None, **extra):
    """A path-style SigV4 client without retries (a retry would hide a failure;
    a request left unanswered for 60 s fails).

    single_pass=True makes botocore send the body in one pass: UNSIGNED-PAYLOAD
    and no client-side checksum, which a streamed multi-GiB upload needs.
    """
    s3cfg = {"addressing_style": "path"}
    kwargs = {}
    if single_pass:
        s3cfg["payload_signing_enabled"] = False
        # botocore >= 1.36 computes a CRC of every body by default (a second pass); older
        # versions do not and do not know these options.
        if "request_checksum_calculation" in getattr(Config, "OPTION_DEFAULTS", {}):
            kwargs["request_checksum_calculation"] = "when_required"
            kwargs["response_checksum_validation"] = "when_required"
    kwargs.update(extra)
    cfg = Config(
        region_name="us-east-1",
        signature_version="s3v4",
        s3=s3cfg,
        # total_max_attempts counts the first try ("max_attempts" would allow one retry).
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=10,
        read_timeout=60,
        **kwargs,
    )
    return boto3.client("s3", endpoint_url=endpoint_url or endpoint(), config=cfg)


def signed_put_head(path, length, body=b"", signed_payload=False, query=""):
    """The head of a SigV4-signed PUT of `path` announcing `length` body bytes (the payload
    hash is `body`'s when signed_payload, else UNSIGNED-PAYLOAD), for a test that then sends
    what it likes over a raw socket. Returns (host, port, head bytes)."""
    import urllib.parse

    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = f"{endpoint()}/{path}" + (f"?{query}" if query else "")
    req = AWSRequest(method="PUT", url=url, data=body, headers={"Content-Length": str(length)})
    if not signed_payload:
        req.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    creds = Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
    S3SigV4Auth(creds, "s3", "us-east-1").add_auth(req)
    prep = req.prepare()
    u = urllib.parse.urlsplit(prep.url)
    head = f"PUT {u.path}{'?' + u.query if u.query else ''} HTTP/1.1\r\nHost: {u.netloc}\r\n"
    for k, v in prep.headers.items():
        if k.lower() not in ("host", "content-length"):
            head += f"{k}: {v}\r\n"
    head += f"Content-Length: {length}\r\n\r\n"
    return u.hostname, u.port, head.encode()


def sigv4_headers(method, url, body=b"", headers=None, when=None, access_key=None, secret_key=None, region="us-east-1"):
    """Headers for a request signed with AWS SigV4 (payload hash of `body`) at time `when`
    (a UTC datetime; default now), written out from the public algorithm so that a test
    can sign at any time without reaching into a client library's internals."""
    import datetime
    import hmac
    import urllib.parse

    when = when or datetime.datetime.now(datetime.timezone.utc)
    ak = access_key or os.environ["AWS_ACCESS_KEY_ID"]
    sk = secret_key or os.environ["AWS_SECRET_ACCESS_KEY"]
    u = urllib.parse.urlsplit(url)
    amz_date, day = when.strftime("%Y%m%dT%H%M%SZ"), when.strftime("%Y%m%d")
    out = {k.lower(): str(v).strip() for k, v in (headers or {}).items()}
    out["host"] = u.netloc
    out["x-amz-date"] = amz_date
    out["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
    names = sorted(out)
    query = "&".join(
        f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
        for k, v in sorted(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
    )
    canonical = "\n".join(
        [method, urllib.parse.quote(u.path or "/", safe="/-_.~"), query]
        + [f"{k}:{out[k]}" for k in names]
        + ["", ";".join(names), out["x-amz-content-sha256"]]
    )
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + sk).encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out["authorization"] = f"AWS4-HMAC-SHA256 Credential={ak}/{scope}, SignedHeaders={';'.join(names)}, Signature={sig}"
    return out


def block(seed, i):
    """Block i (1 MiB) of the deterministic stream `seed`."""
    return random.Random(seed * 1_000_003 + i).randbytes(BLOCK)


def data(seed, size):
    """The first `size` bytes of stream `seed`, in memory (small objects only)."""
    out = bytearray()
    i = 0
    while len(out) < size:
        out += block(seed, i)
        i += 1
    return bytes(out[:size])


_md5_cache = {}


def md5_of(seed, size):
    key = (seed, size)
    if key not in _md5_cache:
        h = hashlib.md5()
        left, i = size, 0
        while left > 0:
            b = block(seed, i)[: min(BLOCK, left)]
            h.update(b)
            left -= len(b)
            i += 1
        _md5_cache[key] = h.hexdigest()
    return _md5_cache[key]


class GenStream(io.RawIOBase):
    """A seekable, read-only file of `size` bytes of stream `seed`, generated on
    the fly (nothing but one block is held). While it is read sequentially from
    0 it keeps a running MD5 (`full_md5` once it reached the end that way)."""

    def __init__(self, seed, size, on_read=None):
        super().__init__()
        self.seed, self.size, self.pos = seed, size, 0
        self._blk_i, self._blk = -1, b""
        self._md5, self._md5_pos = hashlib.md5(), 0
        self.full_md5 = None
        self.on_read = on_read

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self.pos

    def seek(self, off, whence=0):
        if whence == 0:
            self.pos = off
        elif whence == 1:
            self.pos += off
        else:
            self.pos = self.size + off
        self.pos = max(0, min(self.pos, self.size))
        if self.pos == 0 and self._md5_pos != 0 and self.full_md5 is None:
            self._md5, self._md5_pos = hashlib.md5(), 0
        return self.pos

    def __len__(self):
        return self.size

    def read(self, n=-1):
        if n is None or n < 0:
            n = self.size - self.pos
        n = min(n, self.size - self.pos)
        out = bytearray()
        while n > 0:
            i, off = divmod(self.pos, BLOCK)
            if i != self._blk_i:
                self._blk_i, self._blk = i, block(self.seed, i)
            take = min(n, BLOCK - off)
            out += self._blk[off : off + take]
            self.pos += take
            n -= take
        out = bytes(out)
        if out and self._md5_pos == self.pos - len(out):
            self._md5.update(out)
            self._md5_pos = self.pos
            if self._md5_pos == self.size:
                self.full_md5 = self._md5.hexdigest()
        if self.on_read:
            self.on_read(self.pos)
        return out

    def readinto(self, b):
        chunk = self.read(len(b))
        b[: len(chunk)] = chunk
        return len(chunk)


def stream_md5(body, chunk=BLOCK):
    """MD5 and length of a streaming body, read without holding it."""
    h = hashlib.md5()
    n = 0
    while True:
        b = body.read(chunk)
        if not b:
            break
        h.update(b)
        n += len(b)
    return h.hexdigest(), n


def err_code(e):
    return e.response.get("Error", {}).get("Code")


def err_status(e):
    return e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


class Checker:
    """Collects failed checks so one run reports every problem, then exits 1."""

    def __init__(self, name):
        self.name = name
        self.failures = []
        self.passed = 0

    def check(self, cond, what):
        if cond:
            self.passed += 1
            print(f"ok   {what}", flush=True)
        else:
            self.failures.append(what)
            print(f"FAIL {what}", flush=True)
        return cond

    def eq(self, got, want, what):
        return self.check(got == want, f"{what}: got {got!r}, want {want!r}")

    def expect_error(self, fn, code, status, what):
        """Run fn; it must raise a ClientError with this code and HTTP status."""
        try:
            fn()
        except ClientError as e:
            return self.check(
                err_code(e) == code and err_status(e) == status,
                f"{what}: got {err_code(e)} / HTTP {err_status(e)}, want {code} / HTTP {status}",
            )
        return self.check(False, f"{what}: succeeded, want {code} / HTTP {status}")

    def run(self, what, fn):
        """Run a step; an unexpected exception is a failure of that step only."""
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - reported, not swallowed
            self.failures.append(f"{what}: unexpected {type(e).__name__}: {e}")
            print(f"FAIL {what}: unexpected exception", flush=True)
            traceback.print_exc()

    def finish(self):
        print(f"{self.name}: {self.passed} checks passed, {len(self.failures)} failed", flush=True)
        if self.failures:
            print("FAILED CHECKS:", flush=True)
            for f in self.failures:
                print(f"  - {f}", flush=True)
            sys.exit(1)


def load_manifest(path):
    with open(path) as f:
        return json.load(f)
