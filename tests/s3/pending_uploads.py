"""Print the number of pending multipart uploads in a bucket (argv[1])."""

import sys

from s3util import client

resp = client().list_multipart_uploads(Bucket=sys.argv[1])
print(len(resp.get("Uploads", [])))
