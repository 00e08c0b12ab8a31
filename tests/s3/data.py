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
"""

import sys
import time

from botocore.exceptions import ClientError

from s3util import MiB, Checker, GenStream, client, err_code, err_status, load_manifest, md5_of, stream_md5


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


cmds = {
    "write": write,
    "verify": verify,
    "verify-unavailable": verify_unavailable,
    "put-fails": put_fails,
    "big-put": big_put,
    "big-get": big_get,
    "head": head,
}
cmds[sys.argv[1]](*sys.argv[2:])
