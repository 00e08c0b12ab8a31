"""Deterministic objects for degraded, crash and memory tests.

A manifest is a JSON file {"bucket": B, "objects": [{"key": K, "seed": S, "size": N}, ...]};
object bytes are s3util.data(seed, size).

  data.py write MANIFEST            create the bucket if needed and PUT every object
  data.py verify MANIFEST           GET every object; each must be byte-exact
  data.py verify-unavailable MANIFEST
                                    GET every object; none may return wrong bytes.
                                    Prints one line per object: RESULT <key> <exact|http-NNN-Code|truncated|error>
  data.py put-fails BUCKET KEY SIZE CODE STATUS
                                    a PUT must fail with this S3 error code and HTTP status
  data.py big-put BUCKET KEY SEED SIZE
                                    single streamed PutObject (one pass, nothing held in memory)
  data.py big-get BUCKET KEY SEED SIZE
                                    streamed GET, checked by a running MD5
  data.py head BUCKET KEY           prints "absent" or "present SIZE ETAG"
  data.py slow-get BUCKET KEY SEED SIZE
                                    streamed GET that prints STARTED after 1 MiB, then reads
                                    slowly (~3 s); the bytes must be those of SEED
  data.py write-mp MANIFEST          like write, but objects of 8 MiB and more go up as
                                    multipart uploads (boto3's managed transfer, 8 MiB parts)
  data.py latency BUCKET KEY N      N GETs of one object; prints "LATENCY p50 p99 max" in ms
  data.py listing BUCKET            prints "KEY SIZE ETAG" for every object, in key order
  data.py write-acked MANIFEST      PUT every object (the bucket must exist), going on after a
                                    failure; prints "acked KEY" for each PUT answered 200 and
                                    "failed KEY ..." for the others
  data.py ranges MANIFEST STRIPE [SEGMENT]
                                    range GETs of every object (edges, across stripe
                                    boundaries, random) must be byte-exact
"""

import hashlib
import random
import sys
import time

from botocore.exceptions import ClientError

from s3util import MiB, Checker, GenStream, client, data, err_code, err_status, load_manifest, md5_of, stream_md5


def ensure_bucket(s3, bucket):
    try:
        s3.create_bucket(Bucket=bucket)
    except ClientError as e:
        if err_code(e) != "BucketAlreadyOwnedByYou":
            raise


def write(path):
    m = load_manifest(path)
    s3 = client(single_pass=True)
    ensure_bucket(s3, m["bucket"])
    for o in m["objects"]:
        s3.put_object(Bucket=m["bucket"], Key=o["key"], Body=GenStream(o["seed"], o["size"]), ContentLength=o["size"])
        print(f"put {o['key']} {o['size']}", flush=True)


def write_mp(path):
    from boto3.s3.transfer import TransferConfig
    m = load_manifest(path)
    s3 = client()
    ensure_bucket(s3, m["bucket"])
    cfg = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB, max_concurrency=4)
    for o in m["objects"]:
        if o["size"] >= 8 * MiB:
            s3.upload_fileobj(GenStream(o["seed"], o["size"]), m["bucket"], o["key"], Config=cfg)
        else:
            s3.put_object(Bucket=m["bucket"], Key=o["key"], Body=data(o["seed"], o["size"]))
    print(f"wrote {len(m['objects'])} objects", flush=True)


def latency(bucket, key, n):
    s3 = client()
    times = []
    for _ in range(int(n)):
        t = time.monotonic()
        s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        times.append((time.monotonic() - t) * 1000)
    times.sort()
    p = lambda q: times[min(len(times) - 1, int(q * len(times)))]
    print(f"LATENCY {p(0.5):.1f} {p(0.99):.1f} {times[-1]:.1f}", flush=True)


def verify(path):
    m = load_manifest(path)
    s3 = client()
    c = Checker("verify")
    for o in m["objects"]:
        def one(o=o):
            r = s3.get_object(Bucket=m["bucket"], Key=o["key"])
            got = stream_md5(r["Body"])
            c.eq(got, (md5_of(o["seed"], o["size"]), o["size"]), f"{o['key']} byte-exact (md5, length)")
        c.run(o["key"], one)
    c.finish()


def verify_unavailable(path):
    m = load_manifest(path)
    s3 = client()
    c = Checker("verify-unavailable")
    for o in m["objects"]:
        want = (md5_of(o["seed"], o["size"]), o["size"])
        try:
            r = s3.get_object(Bucket=m["bucket"], Key=o["key"])
        except ClientError as e:
            print(f"RESULT {o['key']} http-{err_status(e)}-{err_code(e)}", flush=True)
            continue
        except Exception as e:  # noqa: BLE001 - connection reset before headers
            print(f"RESULT {o['key']} error-{type(e).__name__}", flush=True)
            continue
        try:
            got = stream_md5(r["Body"])
        except Exception as e:  # noqa: BLE001 - body cut off: allowed, wrong bytes are not
            print(f"RESULT {o['key']} truncated ({type(e).__name__})", flush=True)
            continue
        if got[1] < o["size"]:
            print(f"RESULT {o['key']} truncated (short body {got[1]} of {o['size']})", flush=True)
            continue
        c.eq(got, want, f"{o['key']}: a fully received body must be the original")
        print(f"RESULT {o['key']} {'exact' if got == want else 'WRONG'}", flush=True)
    c.finish()


def put_fails(bucket, key, size, code, status):
    s3 = client()
    c = Checker("put-fails")
    c.expect_error(lambda: s3.put_object(Bucket=bucket, Key=key, Body=b"z" * int(size)), code, int(status), f"PUT {key}")
    try:
        s3.head_object(Bucket=bucket, Key=key)
        c.check(False, "failed PUT left an object")
    except ClientError as e:
        c.eq(err_status(e), 404, "failed PUT left no object")
    c.finish()


def big_put(bucket, key, seed, size):
    s3 = client(single_pass=True)
    ensure_bucket(s3, bucket)
    stream = GenStream(int(seed), int(size))
    t = time.time()
    r = s3.put_object(Bucket=bucket, Key=key, Body=stream, ContentLength=int(size))
    dt = time.time() - t
    want = stream.full_md5 or md5_of(int(seed), int(size))
    print(f"PUT {size} bytes in {dt:.1f}s ({int(size) / MiB / dt:.0f} MiB/s)", flush=True)
    c = Checker("big-put")
    c.eq(r["ETag"], f'"{want}"', "PUT ETag is the MD5 of what was sent")
    c.finish()


def big_ranges(bucket, key, seed, size, segment):
    """Range GETs across every segment boundary of a large object, checked
    against the generator (the object is never held in memory)."""
    seed, size, segment = int(seed), int(size), int(segment)
    s3 = client()
    c = Checker("big-ranges")
    want = [(0, 10), (size - 10, size)]
    for b in range(segment, size, segment):
        want.append((b - 3, b + 3))
    for lo, hi in want:
        g = GenStream(seed, size)
        g.seek(lo)
        exp = g.read(hi - lo)
        got = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={lo}-{hi - 1}")["Body"].read()
        c.check(got == exp, f"bytes={lo}-{hi - 1} byte-exact")
    c.finish()


def big_get(bucket, key, seed, size):
    s3 = client(single_pass=True)
    t = time.time()
    r = s3.get_object(Bucket=bucket, Key=key)
    got = stream_md5(r["Body"], chunk=4 * MiB)
    dt = time.time() - t
    print(f"GET {size} bytes in {dt:.1f}s ({int(size) / MiB / dt:.0f} MiB/s)", flush=True)
    c = Checker("big-get")
    c.eq(got, (md5_of(int(seed), int(size)), int(size)), "GET byte-exact (md5, length)")
    c.finish()


def head(bucket, key):
    s3 = client()
    try:
        r = s3.head_object(Bucket=bucket, Key=key)
        print(f"present {r['ContentLength']} {r['ETag']}")
    except ClientError as e:
        if err_status(e) == 404:
            print("absent")
        else:
            raise


def slow_get(bucket, key, seed, size):
    seed, size = int(seed), int(size)
    s3 = client()
    r = s3.get_object(Bucket=bucket, Key=key)
    h, n = hashlib.md5(), 0
    body = r["Body"]
    steps = max(1, size // MiB)
    while True:
        b = body.read(MiB)
        if not b:
            break
        h.update(b)
        n += len(b)
        if n == len(b):
            print("STARTED", flush=True)
        time.sleep(3.0 / steps)
    c = Checker("slow-get")
    c.eq((h.hexdigest(), n), (md5_of(seed, size), size), "a GET that started before an overwrite returns the old bytes")
    c.finish()


def ranges(path, stripe, segment=None):
    m = load_manifest(path)
    stripe = int(stripe)
    segment = int(segment) if segment else None
    s3 = client()
    c = Checker("ranges")
    rnd = random.Random(7)
    for o in m["objects"]:
        size = o["size"]
        if size == 0:
            continue
        body = data(o["seed"], size)
        want = []
        for lo, hi in ((0, 1), (max(0, size - 100), size), (size // 2, size // 2 + 1)):
            want.append((lo, hi))
        for b in range(stripe, size, stripe)[:3]:
            want.append((max(0, b - 7), min(size, b + 9)))  # across a stripe boundary
        if segment:
            for b in range(segment, size, segment):
                want.append((b - 5, min(size, b + 5)))  # across a segment boundary
                want.append((b - stripe - 3, min(size, b + stripe + 3)))
        for _ in range(3):
            lo = rnd.randrange(size)
            want.append((lo, min(size, lo + 1 + rnd.randrange(3 * stripe))))
        for lo, hi in want:
            def one(lo=lo, hi=hi):
                r = s3.get_object(Bucket=m["bucket"], Key=o["key"], Range=f"bytes={lo}-{hi - 1}")
                got = r["Body"].read()
                c.check(got == body[lo:hi], f"{o['key']} bytes={lo}-{hi - 1}: byte-exact ({len(got)} bytes, want {hi - lo})")
            c.run(f"{o['key']} range {lo}-{hi - 1}", one)
    c.finish()


def write_acked(path):
    m = load_manifest(path)
    s3 = client(single_pass=True)
    for o in m["objects"]:
        try:
            s3.put_object(Bucket=m["bucket"], Key=o["key"], Body=data(o["seed"], o["size"]), ContentLength=o["size"])
            print(f"acked {o['key']}", flush=True)
        except Exception as e:  # any failure: the object is simply not acknowledged
            print(f"failed {o['key']} {type(e).__name__}", flush=True)


def listing(bucket):
    s3 = client()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            print(f"{o['Key']} {o['Size']} {o['ETag']}", flush=True)


cmds = {
    "listing": listing,
    "write-acked": write_acked,
    "ranges": ranges,
    "big-ranges": big_ranges,
    "slow-get": slow_get,
    "write": write,
    "write-mp": write_mp,
    "latency": latency,
    "verify": verify,
    "verify-unavailable": verify_unavailable,
    "put-fails": put_fails,
    "big-put": big_put,
    "big-get": big_get,
    "head": head,
}
cmds[sys.argv[1]](*sys.argv[2:])
