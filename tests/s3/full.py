"""Full-disk drills (tests/full.rs), with boto3.

fill BUCKET SIZE: PUT objects of SIZE bytes until one is refused. The refusal must be 507
    XKintsugiStorageFull with a message saying what to do; the refused key must not exist; a
    multipart part is refused the same way and its upload can still be aborted; every object
    stored reads back byte-exact. Prints "stored N".
free BUCKET SIZE N: on the full store, delete the N stored objects (each delete must work),
    then PUT again until one succeeds (garbage collection gives the space back) and read it
    back.
put BUCKET SIZE N: PUT N objects (every one must succeed) and read each back byte-exact.
"""

import sys
import time

from botocore.exceptions import ClientError

import s3util


def key(i):
    return f"obj-{i:04d}"


def read_back(s3, bucket, n, size, check):
    for i in range(n):
        got = s3.get_object(Bucket=bucket, Key=key(i))["Body"].read()
        check.check(got == s3util.data(i, size), f"{key(i)} reads back as written ({len(got)} bytes)")


def fill(s3, bucket, size):
    check = s3util.Checker("fill")
    s3.create_bucket(Bucket=bucket)
    refused = None
    for i in range(10_000):
        try:
            s3.put_object(Bucket=bucket, Key=key(i), Body=s3util.data(i, size))
        except ClientError as e:
            refused = (i, e)
            break
    if refused is None:
        raise SystemExit("FAIL no PUT was refused in 10,000 objects")
    n, e = refused
    code, status = s3util.err_code(e), s3util.err_status(e)
    message = e.response.get("Error", {}).get("Message", "")
    check.check(code == "XKintsugiStorageFull" and status == 507, f"the refusal is 507 XKintsugiStorageFull, not {status} {code}: {message}")
    check.check("delete objects or add disks" in message, f"the refusal says what to do: {message!r}")
    try:
        s3.head_object(Bucket=bucket, Key=key(n))
        check.check(False, "the refused object must not exist")
    except ClientError as e2:
        check.check(s3util.err_status(e2) == 404, f"HEAD of the refused key is 404, not {s3util.err_status(e2)}")
    # A multipart part is refused the same way; the upload can still be aborted.
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    try:
        s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=1, Body=s3util.data(99, size))
        check.check(False, "a part on the full store must be refused")
    except ClientError as e3:
        check.check(s3util.err_code(e3) == "XKintsugiStorageFull", f"the part's refusal is XKintsugiStorageFull, not {s3util.err_code(e3)}")
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=up)
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    check.check(listed == [key(i) for i in range(n)], f"the listing holds exactly the {n} stored objects, not {len(listed)}")
    read_back(s3, bucket, n, size, check)
    check.finish()
    print(f"stored {n}")


def free(s3, bucket, size, n):
    check = s3util.Checker("free")
    for i in range(n):
        s3.delete_object(Bucket=bucket, Key=key(i))
    check.check(s3.list_objects_v2(Bucket=bucket).get("KeyCount", -1) == 0, "every object is deleted")
    deadline = time.time() + 60
    while True:
        try:
            s3.put_object(Bucket=bucket, Key=key(0), Body=s3util.data(0, size))
            break
        except ClientError as e:
            if s3util.err_code(e) != "XKintsugiStorageFull" or time.time() > deadline:
                raise
            time.sleep(0.5)
    read_back(s3, bucket, 1, size, check)
    check.finish()


def put(s3, bucket, size, n):
    check = s3util.Checker("put")
    s3.create_bucket(Bucket=bucket)
    for i in range(n):
        s3.put_object(Bucket=bucket, Key=key(i), Body=s3util.data(i, size))
    read_back(s3, bucket, n, size, check)
    check.finish()


def main():
    what, bucket, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    s3 = s3util.client()
    if what == "fill":
        fill(s3, bucket, size)
    elif what == "free":
        free(s3, bucket, size, int(sys.argv[4]))
    elif what == "put":
        put(s3, bucket, size, int(sys.argv[4]))
    else:
        raise SystemExit(f"unknown drill {what}")


if __name__ == "__main__":
    main()
