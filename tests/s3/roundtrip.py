"""boto3 round trips against a server started with --chunk-size 65536 --ec 4+2
(one stripe = 256 KiB of data). Usage: roundtrip.py BUCKET STRIPE_BYTES"""

import hashlib
import sys

from boto3.s3.transfer import TransferConfig

from botocore.exceptions import ClientError

from s3util import MiB, Checker, GenStream, client, data, err_code, err_status, md5_of, stream_md5

bucket = sys.argv[1]
S = int(sys.argv[2])
s3 = client()
c = Checker("roundtrip")


def status(resp):
    return resp["ResponseMetadata"]["HTTPStatusCode"]


def buckets_and_sizes():
    s3.create_bucket(Bucket=bucket)
    s3.head_bucket(Bucket=bucket)
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    c.check(bucket in names, f"ListBuckets contains {bucket} ({names})")
    # us-east-1 answers 200 to re-creating your own bucket, other regions 409 BucketAlreadyOwnedByYou.
    try:
        s3.create_bucket(Bucket=bucket)
        c.check(True, "CreateBucket twice: 200")
    except ClientError as e:
        c.eq((err_code(e), err_status(e)), ("BucketAlreadyOwnedByYou", 409), "CreateBucket twice")
    loc = s3.get_bucket_location(Bucket=bucket)
    c.check(loc.get("LocationConstraint") in (None, "", "us-east-1"), f"GetBucketLocation: {loc.get('LocationConstraint')!r}")

    sizes = [0, 1, 2, 100, 4096, 65535, 65536, 65537, S - 1, S, S + 1, 2 * S, 3 * S + 12345, MiB + 7]
    for i, size in enumerate(sizes):
        key = f"sizes/obj-{size}"
        body = data(1000 + i, size)
        md5 = hashlib.md5(body).hexdigest()
        put = s3.put_object(Bucket=bucket, Key=key, Body=body)
        c.eq(put["ETag"], f'"{md5}"', f"PUT {size} B: ETag is the MD5")
        got = s3.get_object(Bucket=bucket, Key=key)
        b = got["Body"].read()
        c.check(b == body, f"GET {size} B: byte-exact ({len(b)} bytes back)")
        c.eq(got["ContentLength"], size, f"GET {size} B: Content-Length")
        c.eq(got["ETag"], f'"{md5}"', f"GET {size} B: ETag")
        head = s3.head_object(Bucket=bucket, Key=key)
        c.eq(head["ContentLength"], size, f"HEAD {size} B: Content-Length")
        c.eq(head["ETag"], f'"{md5}"', f"HEAD {size} B: ETag")

    # Overwrite: the second version wins.
    s3.put_object(Bucket=bucket, Key="sizes/obj-1", Body=b"second version")
    c.eq(s3.get_object(Bucket=bucket, Key="sizes/obj-1")["Body"].read(), b"second version", "overwrite returns new bytes")

    c.expect_error(lambda: s3.get_object(Bucket=bucket, Key="no/such/key"), "NoSuchKey", 404, "GET missing key")
    c.expect_error(lambda: s3.head_object(Bucket=bucket, Key="no/such/key"), "404", 404, "HEAD missing key")
    c.expect_error(lambda: s3.get_object(Bucket="no-such-bucket-kt", Key="x"), "NoSuchBucket", 404, "GET in missing bucket")
    c.expect_error(lambda: s3.list_objects_v2(Bucket="no-such-bucket-kt"), "NoSuchBucket", 404, "ListObjectsV2 of a missing bucket")
    c.expect_error(lambda: s3.put_object(Bucket="no-such-bucket-kt", Key="x", Body=b"x"), "NoSuchBucket", 404, "PUT into a missing bucket")
    c.expect_error(lambda: s3.head_bucket(Bucket="no-such-bucket-kt"), "404", 404, "HEAD of a missing bucket")
    c.expect_error(
        lambda: s3.copy_object(Bucket=bucket, Key="copy-of-nothing", CopySource={"Bucket": bucket, "Key": "no/such/key"}),
        "NoSuchKey",
        404,
        "CopyObject from a missing key",
    )
    # "Folder" placeholder objects, as consoles and sync tools create them.
    s3.put_object(Bucket=bucket, Key="folder/", Body=b"")
    r = s3.list_objects_v2(Bucket=bucket, Prefix="folder/", Delimiter="/")
    c.eq([o["Key"] for o in r.get("Contents", [])], ["folder/"], "a key ending in / lists under its own prefix")
    r = s3.list_objects_v2(Bucket=bucket, Prefix="fold", Delimiter="/")
    c.eq([p["Prefix"] for p in r.get("CommonPrefixes", [])], ["folder/"], "a key ending in / rolls up into a CommonPrefix")
    s3.delete_object(Bucket=bucket, Key="folder/")
    c.expect_error(
        # 1B2M... is the MD5 of b"", not of b"hello".
        lambda: s3.put_object(Bucket=bucket, Key="bad-md5", Body=b"hello", ContentMD5="1B2M2Y8AsgTpgAmY7PhCfg=="),
        "BadDigest",
        400,
        "PUT with wrong Content-MD5",
    )
    c.expect_error(lambda: s3.head_object(Bucket=bucket, Key="bad-md5"), "404", 404, "PUT with wrong Content-MD5 stored nothing")

    # An empty Content-MD5 is not a digest (s3s alone would take it for none).
    def empty_md5(params, **_):
        params["headers"]["Content-MD5"] = ""

    s3.meta.events.register("before-call.s3.PutObject", empty_md5)
    try:
        c.expect_error(lambda: s3.put_object(Bucket=bucket, Key="empty-md5", Body=b"hello"), "InvalidDigest", 400, "PUT with an empty Content-MD5")
    finally:
        s3.meta.events.unregister("before-call.s3.PutObject", empty_md5)
    c.expect_error(lambda: s3.head_object(Bucket=bucket, Key="empty-md5"), "404", 404, "PUT with an empty Content-MD5 stored nothing")


def ranges():
    size = 3 * S + 12345
    key = f"sizes/obj-{size}"
    body = data(1000 + 12, size)
    cases = [
        ("bytes=0-9", 0, 10),
        (f"bytes={S - 100}-{S + 99}", S - 100, S + 100),  # across the first stripe boundary
        (f"bytes={S - 1}-{2 * S}", S - 1, 2 * S + 1),  # spans a whole stripe and both edges
        ("bytes=-100", size - 100, size),
        (f"bytes={3 * S}-", 3 * S, size),
        (f"bytes={size - 1}-{size + 1000}", size - 1, size),  # end past EOF is clipped
    ]
    for rng, lo, hi in cases:
        r = s3.get_object(Bucket=bucket, Key=key, Range=rng)
        b = r["Body"].read()
        c.check(b == body[lo:hi], f"Range {rng}: byte-exact ({len(b)} bytes, want {hi - lo})")
        c.eq(status(r), 206, f"Range {rng}: status")
        c.eq(r.get("ContentRange"), f"bytes {lo}-{hi - 1}/{size}", f"Range {rng}: Content-Range")
    c.expect_error(lambda: s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={size + 10}-"), "InvalidRange", 416, "unsatisfiable range")
    r = s3.get_object(Bucket=bucket, Key=key, Range="bytes=0-0")
    c.check(r["Body"].read() == body[:1] and r.get("ContentRange") == f"bytes 0-0/{size}", "Range bytes=0-0")
    c.expect_error(lambda: s3.get_object(Bucket=bucket, Key="sizes/obj-0", Range="bytes=0-"), "InvalidRange", 416, "Range on an empty object")


def metadata_and_copy():
    body = b"metadata object body"
    s3.put_object(
        Bucket=bucket,
        Key="meta/src",
        Body=body,
        ContentType="text/x-kintsugi",
        CacheControl="max-age=60",
        ContentDisposition='attachment; filename="a.txt"',
        Metadata={"color": "blue", "shape": "round-ish"},
    )
    for op, r in (("HEAD", s3.head_object(Bucket=bucket, Key="meta/src")), ("GET", s3.get_object(Bucket=bucket, Key="meta/src"))):
        c.eq(r.get("ContentType"), "text/x-kintsugi", f"{op}: Content-Type")
        c.eq(r.get("Metadata"), {"color": "blue", "shape": "round-ish"}, f"{op}: user metadata")
        c.eq(r.get("CacheControl"), "max-age=60", f"{op}: Cache-Control")
        c.eq(r.get("ContentDisposition"), 'attachment; filename="a.txt"', f"{op}: Content-Disposition")

    s3.copy_object(Bucket=bucket, Key="meta/copy", CopySource={"Bucket": bucket, "Key": "meta/src"})
    h = s3.head_object(Bucket=bucket, Key="meta/copy")
    c.eq(h.get("Metadata"), {"color": "blue", "shape": "round-ish"}, "CopyObject COPY keeps metadata")
    c.eq(h.get("ContentType"), "text/x-kintsugi", "CopyObject COPY keeps Content-Type")
    c.eq(s3.get_object(Bucket=bucket, Key="meta/copy")["Body"].read(), body, "CopyObject COPY bytes")

    s3.copy_object(
        Bucket=bucket,
        Key="meta/replaced",
        CopySource={"Bucket": bucket, "Key": "meta/src"},
        MetadataDirective="REPLACE",
        ContentType="application/x-new",
        Metadata={"color": "red"},
    )
    h = s3.head_object(Bucket=bucket, Key="meta/replaced")
    c.eq(h.get("Metadata"), {"color": "red"}, "CopyObject REPLACE changes metadata")
    c.eq(h.get("ContentType"), "application/x-new", "CopyObject REPLACE changes Content-Type")
    c.eq(s3.get_object(Bucket=bucket, Key="meta/replaced")["Body"].read(), body, "CopyObject REPLACE bytes")
    c.eq(s3.head_object(Bucket=bucket, Key="meta/src").get("Metadata"), {"color": "blue", "shape": "round-ish"}, "copy source unchanged")

    # A large copy crosses stripes and segments of the source.
    size = 3 * S + 12345
    s3.copy_object(Bucket=bucket, Key="meta/bigcopy", CopySource={"Bucket": bucket, "Key": f"sizes/obj-{size}"})
    got = s3.get_object(Bucket=bucket, Key="meta/bigcopy")["Body"].read()
    c.check(got == data(1000 + 12, size), f"CopyObject of {size} B is byte-exact")
    c.expect_error(
        lambda: s3.copy_object(Bucket=bucket, Key="meta/src", CopySource={"Bucket": bucket, "Key": "meta/src"}),
        "InvalidRequest",
        400,
        "CopyObject onto itself without REPLACE",
    )


def multipart_transfer():
    size, seed = 40 * MiB, 77
    cfg = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB, max_concurrency=4, use_threads=True)
    s3.upload_fileobj(GenStream(seed, size), bucket, "mp/forty", Config=cfg)
    whole = data(seed, size)
    parts = [hashlib.md5(whole[i : i + 8 * MiB]).digest() for i in range(0, size, 8 * MiB)]
    want_etag = f'"{hashlib.md5(b"".join(parts)).hexdigest()}-{len(parts)}"'
    h = s3.head_object(Bucket=bucket, Key="mp/forty")
    c.eq(h["ETag"], want_etag, "40 MiB multipart ETag is md5-of-md5s-5")
    c.eq(h["ContentLength"], size, "40 MiB multipart size")
    md5, n = stream_md5(s3.get_object(Bucket=bucket, Key="mp/forty")["Body"])
    c.eq((md5, n), (md5_of(seed, size), size), "40 MiB multipart GET byte-exact (MD5, length)")
    lo, hi = 8 * MiB - 50, 8 * MiB + 50
    b = s3.get_object(Bucket=bucket, Key="mp/forty", Range=f"bytes={lo}-{hi - 1}")["Body"].read()
    c.check(b == whole[lo:hi], "Range across a part boundary is byte-exact")


def multipart_api():
    key = "mp/manual"
    up = s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType="application/x-mp", Metadata={"m": "1"})
    uid = up["UploadId"]
    p1 = data(501, 5 * MiB)
    p2 = data(502, MiB + 3)
    e1 = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=1, Body=p1)["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=2, Body=p2)["ETag"]
    c.eq(e1, f'"{hashlib.md5(p1).hexdigest()}"', "UploadPart ETag is the part MD5")
    lp = s3.list_parts(Bucket=bucket, Key=key, UploadId=uid)
    c.eq([(p["PartNumber"], p["ETag"], p["Size"]) for p in lp.get("Parts", [])], [(1, e1, len(p1)), (2, e2, len(p2))], "ListParts")
    ups = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    c.check(any(u["UploadId"] == uid and u["Key"] == key for u in ups), f"ListMultipartUploads shows the upload ({len(ups)} uploads)")
    c.expect_error(lambda: s3.head_object(Bucket=bucket, Key=key), "404", 404, "an unfinished upload is not visible")
    c.expect_error(
        lambda: s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=uid, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e2}, {"PartNumber": 2, "ETag": e2}]}
        ),
        "InvalidPart",
        400,
        "Complete with a wrong part ETag",
    )
    # A third 5 MiB part: listed out of order no part is too small, so the only problem is the order.
    p3 = data(503, 5 * MiB)
    e3 = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=3, Body=p3)["ETag"]
    c.expect_error(
        lambda: s3.complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 3, "ETag": e3}, {"PartNumber": 2, "ETag": e2}]},
        ),
        "InvalidPartOrder",
        400,
        "Complete with parts out of order",
    )
    lp1 = s3.list_parts(Bucket=bucket, Key=key, UploadId=uid, MaxParts=1)
    c.check(lp1.get("IsTruncated") is True and [p["PartNumber"] for p in lp1.get("Parts", [])] == [1], f"ListParts MaxParts=1: first page {[p['PartNumber'] for p in lp1.get('Parts', [])]}, truncated {lp1.get('IsTruncated')}")
    lp2 = s3.list_parts(Bucket=bucket, Key=key, UploadId=uid, MaxParts=1, PartNumberMarker=lp1.get("NextPartNumberMarker", 0))
    c.eq([p["PartNumber"] for p in lp2.get("Parts", [])], [2], "ListParts PartNumberMarker: second page")
    c.expect_error(
        lambda: s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=4, Body=b"abc", ContentMD5="1B2M2Y8AsgTpgAmY7PhCfg=="),
        "BadDigest",
        400,
        "UploadPart with a wrong Content-MD5",
    )
    c.eq([p["PartNumber"] for p in s3.list_parts(Bucket=bucket, Key=key, UploadId=uid).get("Parts", [])], [1, 2, 3], "a refused part is not listed")
    s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=uid, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]}
    )
    md5s = hashlib.md5(p1).digest() + hashlib.md5(p2).digest()
    c.eq(s3.head_object(Bucket=bucket, Key=key)["ETag"], f'"{hashlib.md5(md5s).hexdigest()}-2"', "multipart ETag is md5-of-md5s-2")
    g = s3.get_object(Bucket=bucket, Key=key)
    c.check(g["Body"].read() == p1 + p2, "completed multipart object is byte-exact (unlisted part 3 left out)")
    c.eq(g.get("ContentType"), "application/x-mp", "multipart keeps Content-Type from Create")
    c.eq(g.get("Metadata"), {"m": "1"}, "multipart keeps metadata from Create")
    ups = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    c.check(all(u["UploadId"] != uid for u in ups), "completed upload leaves ListMultipartUploads")

    # Abort.
    uid2 = s3.create_multipart_upload(Bucket=bucket, Key="mp/aborted")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="mp/aborted", UploadId=uid2, PartNumber=1, Body=b"x" * 1000)
    s3.abort_multipart_upload(Bucket=bucket, Key="mp/aborted", UploadId=uid2)
    ups = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    c.check(all(u["UploadId"] != uid2 for u in ups), "aborted upload leaves ListMultipartUploads")
    c.expect_error(lambda: s3.list_parts(Bucket=bucket, Key="mp/aborted", UploadId=uid2), "NoSuchUpload", 404, "ListParts after abort")
    c.expect_error(
        lambda: s3.complete_multipart_upload(
            Bucket=bucket, Key="mp/aborted", UploadId=uid2, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"x"'}]}
        ),
        "NoSuchUpload",
        404,
        "Complete after abort",
    )
    c.expect_error(lambda: s3.head_object(Bucket=bucket, Key="mp/aborted"), "404", 404, "aborted upload created no object")

    # A part other than the last below 5 MiB.
    uid3 = s3.create_multipart_upload(Bucket=bucket, Key="mp/small")["UploadId"]
    a = s3.upload_part(Bucket=bucket, Key="mp/small", UploadId=uid3, PartNumber=1, Body=b"a" * 1000)["ETag"]
    b = s3.upload_part(Bucket=bucket, Key="mp/small", UploadId=uid3, PartNumber=2, Body=b"b" * 1000)["ETag"]
    c.expect_error(
        lambda: s3.complete_multipart_upload(
            Bucket=bucket, Key="mp/small", UploadId=uid3, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": a}, {"PartNumber": 2, "ETag": b}]}
        ),
        "EntityTooSmall",
        400,
        "Complete with a 1000-byte first part",
    )
    s3.abort_multipart_upload(Bucket=bucket, Key="mp/small", UploadId=uid3)


def delete_objects_and_bucket():
    keys = [f"batch/{i:03d}" for i in range(50)]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="batch/").get("KeyCount")
    c.eq(listed, 50, "50 objects written before DeleteObjects")
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys + ["batch/never-existed"]]})
    c.eq(sorted(d["Key"] for d in r.get("Deleted", [])), sorted(keys + ["batch/never-existed"]), "DeleteObjects reports every key deleted")
    c.eq(r.get("Errors", []), [], "DeleteObjects has no errors")
    c.eq(s3.list_objects_v2(Bucket=bucket, Prefix="batch/").get("KeyCount"), 0, "no batch/ keys left")
    c.expect_error(lambda: s3.get_object(Bucket=bucket, Key="batch/007"), "NoSuchKey", 404, "deleted object is gone")
    for k in keys[:5]:
        s3.put_object(Bucket=bucket, Key=k, Body=b"q")
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[:5]], "Quiet": True})
    c.check(not r.get("Deleted") and not r.get("Errors"), f"DeleteObjects Quiet reports nothing: {r.get('Deleted')} {r.get('Errors')}")
    c.eq(s3.list_objects_v2(Bucket=bucket, Prefix="batch/").get("KeyCount"), 0, "Quiet DeleteObjects deleted")
    s3.delete_object(Bucket=bucket, Key="meta/copy")
    c.expect_error(lambda: s3.head_object(Bucket=bucket, Key="meta/copy"), "404", 404, "DeleteObject")
    s3.delete_object(Bucket=bucket, Key="meta/copy")  # deleting again is not an error in S3

    c.expect_error(lambda: s3.delete_bucket(Bucket=bucket), "BucketNotEmpty", 409, "DeleteBucket on a non-empty bucket")
    # "metrics" is an ordinary bucket name for signed requests (/metrics unsigned is the Prometheus page).
    s3.create_bucket(Bucket="metrics")
    s3.put_object(Bucket="metrics", Key="m1", Body=b"not prometheus")
    c.eq([o["Key"] for o in s3.list_objects_v2(Bucket="metrics").get("Contents", [])], ["m1"], "bucket named metrics lists")
    c.eq([o["Key"] for o in s3.list_objects(Bucket="metrics").get("Contents", [])], ["m1"], "bucket named metrics lists (v1)")
    s3.delete_object(Bucket="metrics", Key="m1")
    s3.delete_bucket(Bucket="metrics")
    other = bucket + "-empty"
    s3.create_bucket(Bucket=other)
    s3.delete_bucket(Bucket=other)
    c.expect_error(lambda: s3.head_bucket(Bucket=other), "404", 404, "deleted bucket is gone")


for step in (buckets_and_sizes, ranges, metadata_and_copy, multipart_transfer, multipart_api, delete_objects_and_bucket):
    c.run(step.__name__, step)
c.finish()
