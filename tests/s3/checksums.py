"""Additional checksums kept and returned, driven with boto3: a PutObject's verified
x-amz-checksum-* is answered by PutObject, by GET and HEAD when asked (ChecksumMode ENABLED,
whole object only), by GetObjectAttributes, and kept by CopyObject; a wrong one stores
nothing. A multipart upload created with a checksum algorithm keeps its parts' checksums and
makes the object's (COMPOSITE, or FULL_OBJECT for a CRC), checked against what the
completion gives. Usage: checksums.py BUCKET"""

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


def sha256(b):
    return b64(hashlib.sha256(b).digest())


def multipart(s3, bucket):
    """COMPOSITE SHA-256: parts' checksums verified or computed, listed, combined, answered."""
    p1, p2 = data(21, 5 * MiB), data(22, 1 * MiB + 3)
    r = s3.create_multipart_upload(Bucket=bucket, Key="mp", ChecksumAlgorithm="SHA256")
    c.eq((r.get("ChecksumAlgorithm"), r.get("ChecksumType")), ("SHA256", "COMPOSITE"), "CreateMultipartUpload answers its algorithm and type")
    up = r["UploadId"]
    c.expect_error(lambda: s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=1, Body=p1, ChecksumSHA256=sha256(b"other")), "BadDigest", 400, "a part with a wrong checksum")
    r1 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=1, Body=p1, ChecksumSHA256=sha256(p1))
    c.eq(r1.get("ChecksumSHA256"), sha256(p1), "UploadPart answers the checksum it verified")
    # A part sent without a SHA-256 gets one computed: the upload keeps every part's.
    r2 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=2, Body=p2)
    c.eq(r2.get("ChecksumSHA256"), sha256(p2), "UploadPart answers the checksum it computed")
    lp = s3.list_parts(Bucket=bucket, Key="mp", UploadId=up)
    c.eq(lp.get("ChecksumAlgorithm"), "SHA256", "ListParts names the algorithm")
    c.eq([p.get("ChecksumSHA256") for p in lp["Parts"]], [sha256(p1), sha256(p2)], "ListParts lists each part's checksum")
    ups = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    c.eq([u.get("ChecksumAlgorithm") for u in ups if u["UploadId"] == up], ["SHA256"], "ListMultipartUploads names the algorithm")

    composite = b64(hashlib.sha256(hashlib.sha256(p1).digest() + hashlib.sha256(p2).digest()).digest()) + "-2"
    parts = [{"PartNumber": 1, "ETag": r1["ETag"], "ChecksumSHA256": sha256(p1)}, {"PartNumber": 2, "ETag": r2["ETag"], "ChecksumSHA256": sha256(p2)}]
    wrong = [parts[0], dict(parts[1], ChecksumSHA256=sha256(p1))]
    c.expect_error(lambda: s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload={"Parts": wrong}), "InvalidPart", 400, "a completion listing a part's checksum wrong")
    c.expect_error(
        lambda: s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, ChecksumSHA256=sha256(b"x") + "-2", MultipartUpload={"Parts": parts}),
        "BadDigest",
        400,
        "a completion giving a wrong object checksum",
    )
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, ChecksumSHA256=composite, MultipartUpload={"Parts": parts})
    c.eq((done.get("ChecksumSHA256"), done.get("ChecksumType")), (composite, "COMPOSITE"), "the completion answers the composite checksum")
    h = s3.head_object(Bucket=bucket, Key="mp", ChecksumMode="ENABLED")
    c.eq((h.get("ChecksumSHA256"), h.get("ChecksumType")), (composite, "COMPOSITE"), "HEAD answers the composite checksum")
    for n, body in ((1, p1), (2, p2)):
        g = s3.get_object(Bucket=bucket, Key="mp", PartNumber=n, ChecksumMode="ENABLED")
        c.eq((g.get("ChecksumSHA256"), g["Body"].read() == body), (sha256(body), True), f"GET of part {n} answers that part's checksum")
    a = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=["Checksum", "ObjectParts"], MaxParts=1)
    c.eq(a["Checksum"].get("ChecksumSHA256"), composite, "GetObjectAttributes answers the composite checksum")
    op = a["ObjectParts"]
    c.eq((op.get("TotalPartsCount"), op.get("IsTruncated"), op.get("NextPartNumberMarker")), (2, True, 1), "a first page of one part")
    c.eq([(p["PartNumber"], p["Size"], p.get("ChecksumSHA256")) for p in op["Parts"]], [(1, len(p1), sha256(p1))], "part 1 with its size and checksum")
    a = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=["ObjectParts"], PartNumberMarker=1)
    c.eq([(p["PartNumber"], p["Size"], p.get("ChecksumSHA256")) for p in a["ObjectParts"]["Parts"]], [(2, len(p2), sha256(p2))], "the page after part 1")
    # A copy is one object of no parts: it keeps no composite checksum.
    s3.copy_object(Bucket=bucket, Key="mp-copy", CopySource={"Bucket": bucket, "Key": "mp"})
    c.eq(s3.head_object(Bucket=bucket, Key="mp-copy", ChecksumMode="ENABLED").get("ChecksumSHA256"), None, "a copy keeps no composite checksum")

    # UploadPartCopy: the copied part's checksum is computed.
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp2", ChecksumAlgorithm="SHA256")["UploadId"]
    r = s3.upload_part_copy(Bucket=bucket, Key="mp2", UploadId=up, PartNumber=1, CopySource={"Bucket": bucket, "Key": "mp"}, CopySourceRange="bytes=0-99")
    c.eq(r["CopyPartResult"].get("ChecksumSHA256"), sha256(p1[:100]), "UploadPartCopy answers the copied part's checksum")
    s3.abort_multipart_upload(Bucket=bucket, Key="mp2", UploadId=up)
    c.expect_error(lambda: s3.create_multipart_upload(Bucket=bucket, Key="x", ChecksumAlgorithm="NOPE"), "InvalidRequest", 400, "an unknown algorithm")


def full_object(s3, bucket):
    """FULL_OBJECT CRC32: the object's CRC combined from its parts', as zlib computes it whole."""
    p1, p2 = data(31, 5 * MiB), data(32, 2 * MiB + 1)
    crc = lambda b: b64(zlib.crc32(b).to_bytes(4, "big"))
    r = s3.create_multipart_upload(Bucket=bucket, Key="full", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")
    c.eq(r.get("ChecksumType"), "FULL_OBJECT", "CreateMultipartUpload answers FULL_OBJECT")
    up = r["UploadId"]
    parts = []
    for n, body in ((1, p1), (2, p2)):
        rp = s3.upload_part(Bucket=bucket, Key="full", UploadId=up, PartNumber=n, Body=body, ChecksumCRC32=crc(body))
        parts.append({"PartNumber": n, "ETag": rp["ETag"], "ChecksumCRC32": crc(body)})
    done = s3.complete_multipart_upload(Bucket=bucket, Key="full", UploadId=up, ChecksumCRC32=crc(p1 + p2), ChecksumType="FULL_OBJECT", MultipartUpload={"Parts": parts})
    c.eq((done.get("ChecksumCRC32"), done.get("ChecksumType")), (crc(p1 + p2), "FULL_OBJECT"), "the completion answers the whole object's CRC32")
    # boto3 checks a FULL_OBJECT checksum against the body it reads.
    g = s3.get_object(Bucket=bucket, Key="full", ChecksumMode="ENABLED")
    c.eq((g.get("ChecksumCRC32"), g.get("ChecksumType"), g["Body"].read() == p1 + p2), (crc(p1 + p2), "FULL_OBJECT", True), "GET answers the whole object's CRC32")
    c.expect_error(lambda: s3.create_multipart_upload(Bucket=bucket, Key="x", ChecksumAlgorithm="SHA256", ChecksumType="FULL_OBJECT"), "InvalidRequest", 400, "FULL_OBJECT with SHA-256")


def main_multipart(bucket):
    s3 = client()
    s3.create_bucket(Bucket=bucket)
    multipart(s3, bucket)
    # x-amz-checksum-type came to boto3 in 1.36; an older one cannot send it.
    if "ChecksumType" in s3.meta.service_model.operation_model("CreateMultipartUpload").input_shape.members:
        full_object(s3, bucket)
    else:
        print("checksums: this boto3 cannot send x-amz-checksum-type; FULL_OBJECT not checked")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[2] == "multipart":
        c.run("multipart checksums", lambda: main_multipart(sys.argv[1]))
    else:
        c.run("checksums", lambda: main(sys.argv[1]))
    c.finish()
