"""Authentication and malformed requests. Usage: auth.py BUCKET"""

import base64
import datetime
import hashlib
import http.client
import os
import sys
import time
import urllib.parse

import boto3
from botocore import UNSIGNED
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from s3util import Checker, client, endpoint, sigv4_headers

bucket = sys.argv[1]
s3 = client()
c = Checker("auth")
AK, SK = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]


def other_client(ak, sk):
    return boto3.client(
        "s3",
        endpoint_url=endpoint(),
        aws_access_key_id=ak,
        aws_secret_access_key=sk,
        config=Config(region_name="us-east-1", s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}),
    )


def raw(method, path, body=b"", headers=None, sign=True, query=""):
    """Send one request; signed with SigV4 (payload hash of `body`) unless sign=False.
    Returns (status, body bytes)."""
    url = f"{endpoint()}/{path}" + (f"?{query}" if query else "")
    req = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    if sign:
        S3SigV4Auth(Credentials(AK, SK), "s3", "us-east-1").add_auth(req)
    prep = req.prepare()
    u = urllib.parse.urlsplit(prep.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    target = u.path + (f"?{u.query}" if u.query else "")
    conn.request(method, target, body=prep.body, headers=dict(prep.headers.items()))
    resp = conn.getresponse()
    out = resp.status, resp.read()
    conn.close()
    return out


def code_of(xml):
    s = xml.decode(errors="replace")
    if "<Code>" in s:
        return s.split("<Code>", 1)[1].split("</Code>", 1)[0]
    return None


def setup():
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="secret.txt", Body=b"top secret")


def bad_credentials():
    wrong = other_client(AK, SK[:-1] + ("A" if SK[-1] != "A" else "B"))
    c.expect_error(lambda: wrong.list_buckets(), "SignatureDoesNotMatch", 403, "wrong secret: ListBuckets")
    c.expect_error(lambda: wrong.get_object(Bucket=bucket, Key="secret.txt"), "SignatureDoesNotMatch", 403, "wrong secret: GetObject")
    c.expect_error(lambda: wrong.put_object(Bucket=bucket, Key="by-wrong", Body=b"x"), "SignatureDoesNotMatch", 403, "wrong secret: PutObject")
    c.expect_error(lambda: s3.head_object(Bucket=bucket, Key="by-wrong"), "404", 404, "wrong secret PUT created nothing")

    unknown = other_client("AKIAUNKNOWNKEY000000", SK)
    c.expect_error(lambda: unknown.list_buckets(), "InvalidAccessKeyId", 403, "unknown access key: ListBuckets")
    c.expect_error(lambda: unknown.put_object(Bucket=bucket, Key="by-unknown", Body=b"x"), "InvalidAccessKeyId", 403, "unknown access key: PutObject")
    c.expect_error(lambda: s3.head_object(Bucket=bucket, Key="by-unknown"), "404", 404, "unknown key PUT created nothing")


def anonymous():
    anon = boto3.client(
        "s3",
        endpoint_url=endpoint(),
        config=Config(signature_version=UNSIGNED, region_name="us-east-1", s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}),
    )
    c.expect_error(lambda: anon.list_buckets(), "AccessDenied", 403, "anonymous ListBuckets")
    c.expect_error(lambda: anon.get_object(Bucket=bucket, Key="secret.txt"), "AccessDenied", 403, "anonymous GetObject")
    c.expect_error(lambda: anon.put_object(Bucket=bucket, Key="by-anon", Body=b"x"), "AccessDenied", 403, "anonymous PutObject")
    c.expect_error(lambda: anon.list_objects_v2(Bucket=bucket), "AccessDenied", 403, "anonymous ListObjectsV2")
    c.expect_error(lambda: s3.head_object(Bucket=bucket, Key="by-anon"), "404", 404, "anonymous PUT created nothing")
    st, body = raw("GET", f"{bucket}/secret.txt", sign=False)
    c.check(st == 403 and code_of(body) == "AccessDenied" and b"top secret" not in body, f"raw unsigned GET: HTTP {st} {code_of(body)}")
    st, body = raw("DELETE", f"{bucket}/secret.txt", sign=False)
    c.check(st == 403, f"raw unsigned DELETE: HTTP {st} {code_of(body)}")
    c.eq(s3.get_object(Bucket=bucket, Key="secret.txt")["Body"].read(), b"top secret", "object intact after anonymous attempts")


def presigned():
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "secret.txt"}, ExpiresIn=300)
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request("GET", f"{u.path}?{u.query}")
    r = conn.getresponse()
    c.check(r.status == 200 and r.read() == b"top secret", f"presigned GET works (HTTP {r.status})")
    conn.close()
    tampered = url.replace("secret.txt", "secret.tx")
    u = urllib.parse.urlsplit(tampered)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request("GET", f"{u.path}?{u.query}")
    r = conn.getresponse()
    body = r.read()
    c.check(r.status == 403 and code_of(body) == "SignatureDoesNotMatch", f"tampered presigned URL: HTTP {r.status} {code_of(body)}")
    conn.close()
    short = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "secret.txt"}, ExpiresIn=1)
    time.sleep(2.5)
    u = urllib.parse.urlsplit(short)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request("GET", f"{u.path}?{u.query}")
    r = conn.getresponse()
    body = r.read()
    c.check(r.status == 403 and b"top secret" not in body, f"expired presigned URL refused: HTTP {r.status} {code_of(body)}")
    conn.close()
    # S3 signs URLs for at most seven days: 604800 s works, a second more is refused.
    for secs, want in ((604800, 200), (604801, 400)):
        url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "secret.txt"}, ExpiresIn=secs)
        u = urllib.parse.urlsplit(url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        conn.request("GET", f"{u.path}?{u.query}")
        r = conn.getresponse()
        body = r.read()
        c.eq(r.status, want, f"presigned URL valid for {secs} s: HTTP {r.status} {code_of(body)}")
        if want == 400:
            c.eq(code_of(body), "AuthorizationQueryParametersError", "the error of a URL valid for more than 7 days")
            c.check(b"top secret" not in body, "the over-long URL read nothing")
        conn.close()


def skewed_clock_and_presigned_put():
    # A request signed 20 minutes ago (S3 allows 15) is refused: no replay of old requests.
    now = datetime.datetime.now(datetime.timezone.utc)

    def signed_at(when, method, path, body=b""):
        url = f"{endpoint()}/{path}"
        u = urllib.parse.urlsplit(url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        conn.request(method, u.path, body=body, headers=sigv4_headers(method, url, body, when=when))
        resp = conn.getresponse()
        out = resp.status, resp.read()
        conn.close()
        return out

    # The same signer at the current time is accepted: only the age is refused below.
    st0, _ = signed_at(now, "GET", f"{bucket}/secret.txt")
    c.check(st0 == 200, f"GET signed now by the test's own SigV4 signer: HTTP {st0}, want 200")
    past = now - datetime.timedelta(minutes=20)
    st, body = signed_at(past, "GET", f"{bucket}/secret.txt")
    st2, body2 = signed_at(past, "PUT", f"{bucket}/skewed", body=b"old request")
    c.check(st == 403 and code_of(body) == "RequestTimeTooSkewed", f"GET signed 20 min ago: HTTP {st} {code_of(body)}, want 403 RequestTimeTooSkewed")
    c.check(st2 == 403, f"PUT signed 20 min ago: HTTP {st2} {code_of(body2)}, want 403")
    c.expect_error(lambda: s3.head_object(Bucket=bucket, Key="skewed"), "404", 404, "skewed PUT created nothing")

    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "presigned-put"}, ExpiresIn=300)
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request("PUT", f"{u.path}?{u.query}", body=b"via presigned PUT")
    r = conn.getresponse()
    r.read()
    conn.close()
    c.eq(r.status, 200, "presigned PUT status")
    c.eq(s3.get_object(Bucket=bucket, Key="presigned-put")["Body"].read(), b"via presigned PUT", "presigned PUT stored the body")


def malformed_xml():
    key = "mp/xml"
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=1, Body=b"part one")["ETag"]
    q = "uploadId=" + urllib.parse.quote(uid, safe="")
    for what, body in (
        ("truncated XML", b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"),
        ("not XML at all", b"this is not xml \x00\xff"),
        ("wrong root element", b"<Nope><Part><PartNumber>1</PartNumber></Part></Nope>"),
    ):
        st, resp = raw("POST", f"{bucket}/{key}", body=body, query=q, headers={"Content-Type": "application/xml"})
        c.check((st, code_of(resp)) == (400, "MalformedXML"), f"CompleteMultipartUpload with {what}: HTTP {st} {code_of(resp)}, want 400 MalformedXML")
    c.expect_error(lambda: s3.head_object(Bucket=bucket, Key=key), "404", 404, "malformed Complete created no object")
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    c.eq(s3.get_object(Bucket=bucket, Key=key)["Body"].read(), b"part one", "upload completes normally after malformed attempts")

    bad = b"<Delete><Object><Key>secret.txt"
    md5 = base64.b64encode(hashlib.md5(bad).digest()).decode()
    st, resp = raw("POST", bucket, body=bad, query="delete=", headers={"Content-MD5": md5})
    c.check((st, code_of(resp)) == (400, "MalformedXML"), f"DeleteObjects with malformed XML: HTTP {st} {code_of(resp)}, want 400 MalformedXML")
    c.eq(s3.get_object(Bucket=bucket, Key="secret.txt")["Body"].read(), b"top secret", "object intact after malformed DeleteObjects")


def sigv2_dates():
    """A request signed with signature version 2 (Authorization: AWS KEY:SIG) is taken only with
    a readable date within 15 minutes of the server's clock, as S3 does: the signature covers
    the date, so a stale one is a replayed request."""
    v2 = boto3.client(
        "s3",
        endpoint_url=endpoint(),
        config=Config(signature_version="s3", region_name="us-east-1", s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}),
    )
    v2.put_object(Bucket=bucket, Key="v2-fresh", Body=b"v2")
    c.eq(v2.get_object(Bucket=bucket, Key="v2-fresh")["Body"].read(), b"v2", "a fresh SigV2 request is taken")

    def with_date(value):
        def add(params, **_):
            params["headers"]["x-amz-date"] = value

        return add

    stale = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    ahead = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=20)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    for value, code, what in (
        (stale, "RequestTimeTooSkewed", "signed 20 minutes ago (a replay)"),
        (ahead, "RequestTimeTooSkewed", "dated 20 minutes ahead"),
        ("Bad Date", "AccessDenied", "with an unreadable date"),
        ("", "AccessDenied", "with an empty date"),
        ("Tue, 07 Jul 1950 21:53:04 GMT", "AccessDenied", "dated before 1970"),
    ):
        hook = with_date(value)
        v2.meta.events.register("before-call.s3.PutObject", hook)
        try:
            c.expect_error(lambda: v2.put_object(Bucket=bucket, Key="v2-refused", Body=b"no"), code, 403, f"a SigV2 PUT {what}")
        finally:
            v2.meta.events.unregister("before-call.s3.PutObject", hook)
    c.expect_error(lambda: s3.head_object(Bucket=bucket, Key="v2-refused"), "404", 404, "the refused SigV2 PUTs stored nothing")

    # A request signed by hand (Authorization: AWS KEY:SIG over its Date), as one captured on the
    # wire and sent again: taken while its date is fresh, refused once it is 20 minutes old.
    import hmac

    def v2_put(key, date):
        path = f"/{bucket}/{key}"
        sts = f"PUT\n\napplication/octet-stream\n{date}\n{path}"
        sig = base64.b64encode(hmac.new(SK.encode(), sts.encode(), hashlib.sha1).digest()).decode()
        u = urllib.parse.urlsplit(endpoint())
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        conn.request("PUT", path, body=b"replayed", headers={"Date": date, "Content-Type": "application/octet-stream", "Authorization": f"AWS {AK}:{sig}"})
        r = conn.getresponse()
        body = r.read()
        conn.close()
        return r.status, code_of(body)

    fmt = "%a, %d %b %Y %H:%M:%S GMT"
    now = datetime.datetime.now(datetime.timezone.utc)
    c.eq(v2_put("v2-by-hand", now.strftime(fmt))[0], 200, "a SigV2 request signed by hand over a fresh Date is taken")
    c.eq(v2_put("v2-replayed", (now - datetime.timedelta(minutes=20)).strftime(fmt)), (403, "RequestTimeTooSkewed"), "the same request signed 20 minutes ago (a replay) is refused")
    c.expect_error(lambda: s3.head_object(Bucket=bucket, Key="v2-replayed"), "404", 404, "the replay stored nothing")


for step in (setup, bad_credentials, anonymous, presigned, skewed_clock_and_presigned_put, malformed_xml, sigv2_dates):
    c.run(step.__name__, step)
c.finish()
