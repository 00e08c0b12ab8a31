"""Browser POST uploads (PostObject) as a browser sends them: a form signed with boto3's
generate_presigned_post, posted as multipart/form-data with nothing but the standard library.
A good form stores the object with its fields; a form whose key, size, expiry or signature is
off stores nothing. Usage: post.py BUCKET"""

import base64
import http.client
import os
import ssl
import sys
import urllib.parse
import uuid

from s3util import Checker, client, data

c = Checker("POST uploads")


def post(url, fields, file_bytes, filename="upload.bin"):
    """POST a multipart form (fields in order, the file last, as browsers do): (status, body)."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode())
    parts.append(file_bytes)
    parts.append(f"\r\n--{boundary}--\r\n".encode())
    body = b"".join(parts)
    u = urllib.parse.urlsplit(url)
    if u.scheme == "https":
        # Trusting what the other clients are told to trust (AWS_CA_BUNDLE), as a browser would.
        ctx = ssl.create_default_context(cafile=os.environ.get("AWS_CA_BUNDLE"))
        conn = http.client.HTTPSConnection(u.hostname, u.port, timeout=60, context=ctx)
    else:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    conn.request("POST", u.path or "/", body=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}", "Content-Length": str(len(body))})
    r = conn.getresponse()
    out = r.read()
    conn.close()
    return r.status, out.decode(errors="replace")


def signed(s3, bucket, key, expires=600, max_len=1 << 20):
    fields = {"Content-Type": "text/plain", "x-amz-meta-who": "browser", "success_action_status": "201"}
    conditions = [{"Content-Type": "text/plain"}, {"x-amz-meta-who": "browser"}, {"success_action_status": "201"}, ["content-length-range", 1, max_len]]
    return s3.generate_presigned_post(Bucket=bucket, Key=key, Fields=fields, Conditions=conditions, ExpiresIn=expires)


def main(bucket):
    s3 = client()
    s3.create_bucket(Bucket=bucket)
    body = data(21, 300_000)
    form = signed(s3, bucket, "from-browser")
    status, text = post(form["url"], form["fields"], body)
    c.eq(status, 201, f"a signed POST upload is stored: {text[:300]}")
    c.check("<Key>from-browser</Key>" in text and "<ETag>" in text, f"success_action_status 201 answers the PostResponse document: {text[:300]}")
    got = s3.get_object(Bucket=bucket, Key="from-browser")
    c.eq((got["Body"].read() == body, got.get("ContentType"), got.get("Metadata")), (True, "text/plain", {"who": "browser"}), "the object has the form's bytes and fields")

    def refused(what, fields, file_bytes, want):
        status, text = post(form["url"], fields, file_bytes)
        c.eq(status, want, f"{what}: {text[:200]}")
        return text

    other_key = dict(form["fields"], key="elsewhere")
    # A form its policy refuses is 403, as S3 answers it; a policy that cannot be read is 400.
    text = refused("a key the policy does not sign", other_key, body, 403)
    c.check("AccessDenied" in text and "Invalid according to Policy" in text and "key" in text, f"a condition the form fails is named: {text[:300]}")
    text = refused("a metadata field the policy does not allow", dict(form["fields"], **{"x-amz-meta-who": "robot"}), body, 403)
    c.check("AccessDenied" in text, f"a field that fails its condition: {text[:300]}")
    garbled = dict(form["fields"], policy=base64.b64encode(b"{not a policy").decode())
    text = refused("a policy that is not JSON", garbled, body, 400)
    c.check("InvalidPolicyDocument" in text, f"an unreadable policy is InvalidPolicyDocument: {text[:300]}")
    bad_sig = dict(form["fields"], **{"x-amz-signature": "0" * 64})
    refused("a wrong signature", bad_sig, body, 403)
    text = refused("a file above content-length-range", form["fields"], data(22, (1 << 20) + 1), 400)
    c.check("EntityTooLarge" in text, f"a file above content-length-range is EntityTooLarge: {text[:200]}")
    expired = signed(s3, bucket, "late", expires=-60)
    status, text = post(expired["url"], expired["fields"], body)
    c.eq(status, 403, f"an expired policy: {text[:200]}")
    unsigned = {"key": "anonymous", "Content-Type": "text/plain"}
    status, text = post(form["url"], unsigned, body)
    c.eq(status, 403, f"an unsigned POST to a private bucket: {text[:200]}")
    for k in ("elsewhere", "late", "anonymous"):
        c.expect_error(lambda: s3.head_object(Bucket=bucket, Key=k), "404", 404, f"a refused POST stored nothing ({k})")


if __name__ == "__main__":
    c.run("post", lambda: main(sys.argv[1]))
    c.finish()
