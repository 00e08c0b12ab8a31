"""Make garbage: delete the "gone/" objects, abort the upload in STATE, copy
"keep" and delete the copy. Usage: gc_ops.py BUCKET STATE"""

import json
import sys

from s3util import Checker, client

bucket, state = sys.argv[1], sys.argv[2]
s3 = client()
c = Checker("gc ops")


def main():
    gone = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="gone/").get("Contents", [])]
    c.eq(len(gone), 3, "three gone/ objects")
    s3.delete_object(Bucket=bucket, Key=gone[0])
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in gone[1:]]})
    c.eq(r.get("Errors", []), [], "DeleteObjects errors")
    st = json.load(open(state))
    s3.abort_multipart_upload(Bucket=bucket, Key="aborted-upload", UploadId=st["upload_id"])
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "keep"})
    s3.delete_object(Bucket=bucket, Key="copy")
    left = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    c.eq(left, ["keep"], "only keep is left")


c.run("main", main)
c.finish()
