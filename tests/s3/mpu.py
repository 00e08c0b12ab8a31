"""A multipart upload that spans a server restart.
  mpu.py start BUCKET KEY STATE    create the upload and upload two parts; save id+ETags to STATE
  mpu.py finish BUCKET KEY STATE   the upload and its parts must still be listed; complete; verify"""

import hashlib
import json
import sys

from botocore.exceptions import ClientError

from s3util import MiB, Checker, client, data, err_code

cmd, bucket, key, state = sys.argv[1:5]
s3 = client()
c = Checker(f"multipart across restart ({cmd})")
P1, P2 = (11, 5 * MiB), (12, MiB + 77)


def start():
    try:
        s3.create_bucket(Bucket=bucket)
    except ClientError as e:
        if err_code(e) != "BucketAlreadyOwnedByYou":
            raise
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    etags = [s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=data(*p))["ETag"] for n, p in ((1, P1), (2, P2))]
    with open(state, "w") as f:
        json.dump({"upload_id": uid, "etags": etags}, f)
    c.check(True, f"upload {uid} with 2 parts")


def finish():
    st = json.load(open(state))
    uid, etags = st["upload_id"], st["etags"]
    ups = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    c.check(any(u["UploadId"] == uid for u in ups), f"upload still listed after restart ({len(ups)} uploads)")
    parts = s3.list_parts(Bucket=bucket, Key=key, UploadId=uid).get("Parts", [])
    c.eq([(p["PartNumber"], p["ETag"]) for p in parts], [(1, etags[0]), (2, etags[1])], "parts still listed after restart")
    s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=uid, MultipartUpload={"Parts": [{"PartNumber": n + 1, "ETag": e} for n, e in enumerate(etags)]}
    )
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    c.check(body == data(*P1) + data(*P2), f"completed object is byte-exact ({len(body)} bytes)")


c.run(cmd, {"start": start, "finish": finish}[cmd])
c.finish()
