"""Bucket policies as S3 evaluates them, through boto3 and unsigned HTTP: a bucket owned by
a plain key (OWNER), a second plain key (TEAM) and anonymous callers, with the admin key
(AWS_* in the environment) above every policy.

Usage:
  policy.py rules BUCKET OWNER_AK OWNER_SK TEAM_AK TEAM_SK
      the whole drill: documents S3 refuses, grants to a key and to everyone, an explicit
      Deny that binds the owner too, conditions on the prefix, the transport and the
      address, DeleteObjects key by key, copies, 403 for missing keys to callers who may
      not list, the owner's hold on the policy itself, and the policy going with its bucket
  policy.py controls BUCKET OWNER_AK OWNER_SK TEAM_AK TEAM_SK
      PublicAccessBlock (BlockPublicPolicy, BlockPublicAcls, RestrictPublicBuckets) and
      OwnershipControls (BucketOwnerEnforced refusing ACLs), also set at CreateBucket, and
      the owner's ACL read and written back (tests/s3/acl.py drives grants)
  policy.py versions BUCKET OWNER_AK OWNER_SK TEAM_AK TEAM_SK
      the actions of versions: a key allowed s3:GetObject and s3:DeleteObject but denied
      s3:GetObjectVersion and s3:DeleteObjectVersion reads and deletes the current version
      (a delete marker) but no older one: not by GET, DELETE, DeleteObjects or as a copy source
  policy.py lock BUCKET OWNER_AK OWNER_SK TEAM_AK TEAM_SK
      object lock's permissions: a key without s3:BypassGovernanceRetention cannot bypass a
      GOVERNANCE retention (delete or shorten), nor lock what it writes without
      s3:PutObjectRetention / s3:PutObjectLegalHold; once the policy allows it, it can; the
      bucket's owner can without a policy; GET and HEAD show the lock only to who may read it
  policy.py grant BUCKET AK
      (admin key) let AK read every object of BUCKET
"""

import http.client
import json
import sys
import urllib.parse
from datetime import datetime, timedelta, timezone

from botocore.exceptions import ClientError

from s3util import Checker, anonymous, as_key, client, endpoint, err_status

c = Checker("bucket policies")


def raw_get(path):
    """An unsigned GET with nothing but the standard library, as a browser or curl sends it."""
    u = urllib.parse.urlsplit(endpoint())
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, body


def denied(fn, what):
    c.expect_error(fn, "AccessDenied", 403, what)


def head_status(fn):
    try:
        fn()
        return 200
    except ClientError as e:
        return err_status(e)


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def arn(bucket, key=None):
    return f"arn:aws:s3:::{bucket}" if key is None else f"arn:aws:s3:::{bucket}/{key}"


def keys_of(s3, bucket, **kw):
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, **kw).get("Contents", [])]


def rules(bucket, owner_ak, owner_sk, team_ak, team_sk):
    root, owner, team, anon = client(), as_key(owner_ak, owner_sk), as_key(team_ak, team_sk), anonymous()
    owner.create_bucket(Bucket=bucket)
    for key, body in (("pub/a.txt", b"for everyone"), ("priv/b.txt", b"for the owner"), ("home/team/c.txt", b"for the team")):
        owner.put_object(Bucket=bucket, Key=key, Body=body)

    # No policy: S3's 404s, and the bucket is the owner's alone.
    c.expect_error(lambda: owner.get_bucket_policy(Bucket=bucket), "NoSuchBucketPolicy", 404, "GetBucketPolicy without a policy")
    c.expect_error(lambda: owner.get_bucket_policy_status(Bucket=bucket), "NoSuchBucketPolicy", 404, "GetBucketPolicyStatus without a policy")
    denied(lambda: team.get_object(Bucket=bucket, Key="pub/a.txt"), "team reads nothing without a policy")
    denied(lambda: anon.get_object(Bucket=bucket, Key="pub/a.txt"), "anonymous reads nothing without a policy")
    c.expect_error(lambda: anon.get_object(Bucket=bucket + "-none", Key="k"), "NoSuchBucket", 404, "anonymous: a bucket that does not exist is 404")
    denied(lambda: anon.list_buckets(), "anonymous ListBuckets")

    # Documents S3 refuses store nothing.
    pub = {"Sid": "public", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": arn(bucket, "pub/*")}
    for what, bad in (
        ("not JSON", "{nope"),
        ("a resource in another bucket", doc(dict(pub, Resource=arn(bucket + "-other", "*")))),
        ("an action of another service", doc(dict(pub, Action="ec2:RunInstances"))),
        ("an unknown condition operator", doc(dict(pub, Condition={"StringAlmost": {"s3:prefix": "x"}}))),
        ("no Principal", doc({k: v for k, v in pub.items() if k != "Principal"})),
    ):
        c.expect_error(lambda: owner.put_bucket_policy(Bucket=bucket, Policy=bad), "MalformedPolicy", 400, f"PutBucketPolicy with {what}")
    c.expect_error(lambda: owner.get_bucket_policy(Bucket=bucket), "NoSuchBucketPolicy", 404, "the refused documents stored nothing")

    policy = doc(
        pub,
        {"Sid": "team-list", "Effect": "Allow", "Principal": {"AWS": [team_ak]}, "Action": "s3:ListBucket", "Resource": arn(bucket), "Condition": {"StringLike": {"s3:prefix": ["home/team/*"]}}},
        {"Sid": "team-rw", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{team_ak}:root"}, "Action": ["s3:GetObject", "s3:PutObject"], "Resource": arn(bucket, "home/team/*")},
        {"Sid": "keep", "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject", "Resource": arn(bucket, "priv/*")},
    )
    owner.put_bucket_policy(Bucket=bucket, Policy=policy)
    c.eq(owner.get_bucket_policy(Bucket=bucket)["Policy"], policy, "GetBucketPolicy answers the document as it was put")
    c.eq(owner.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"], True, "a policy allowing * is public")

    # Anonymous callers get what the policy gives everyone, and nothing else.
    c.eq(anon.get_object(Bucket=bucket, Key="pub/a.txt")["Body"].read(), b"for everyone", "anonymous GET of a public object")
    c.eq(raw_get(f"/{bucket}/pub/a.txt"), (200, b"for everyone"), "an unsigned plain-HTTP GET of a public object")
    c.eq(head_status(lambda: anon.head_object(Bucket=bucket, Key="pub/a.txt")), 200, "anonymous HEAD of a public object")
    denied(lambda: anon.get_object(Bucket=bucket, Key="priv/b.txt"), "anonymous GET outside the public prefix")
    denied(lambda: anon.get_object(Bucket=bucket, Key="pub/missing"), "anonymous GET of a missing key is 403 (it may not list)")
    c.eq(head_status(lambda: anon.head_object(Bucket=bucket, Key="pub/missing")), 403, "anonymous HEAD of a missing key is 403")
    denied(lambda: anon.list_objects_v2(Bucket=bucket), "anonymous listing")
    denied(lambda: anon.put_object(Bucket=bucket, Key="pub/planted", Body=b"x"), "anonymous PUT")
    denied(lambda: anon.delete_object(Bucket=bucket, Key="pub/a.txt"), "anonymous DELETE")

    # The team key gets its prefix and the public objects.
    c.eq(team.get_object(Bucket=bucket, Key="home/team/c.txt")["Body"].read(), b"for the team", "team reads its prefix")
    team.put_object(Bucket=bucket, Key="home/team/new.txt", Body=b"written by the team")
    c.eq(owner.get_object(Bucket=bucket, Key="home/team/new.txt")["Body"].read(), b"written by the team", "the owner reads the team's write")
    c.eq(team.get_object(Bucket=bucket, Key="pub/a.txt")["Body"].read(), b"for everyone", "team reads a public object")
    c.eq(keys_of(team, bucket, Prefix="home/team/"), ["home/team/c.txt", "home/team/new.txt"], "team lists its prefix")
    denied(lambda: team.list_objects_v2(Bucket=bucket), "team lists the whole bucket")
    denied(lambda: team.list_objects_v2(Bucket=bucket, Prefix="priv/"), "team lists another prefix")
    denied(lambda: team.put_object(Bucket=bucket, Key="priv/planted", Body=b"x"), "team writes outside its prefix")
    denied(lambda: team.delete_object(Bucket=bucket, Key="home/team/new.txt"), "team deletes (not granted)")
    out = team.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "home/team/c.txt"}, {"Key": "pub/a.txt"}]})
    c.eq(sorted((e["Key"], e["Code"]) for e in out.get("Errors", [])), [("home/team/c.txt", "AccessDenied"), ("pub/a.txt", "AccessDenied")], "DeleteObjects refuses the team key by key")
    c.eq(out.get("Deleted", []), [], "DeleteObjects deleted nothing for the team")
    for what, fn in (
        ("GetBucketPolicy", lambda: team.get_bucket_policy(Bucket=bucket)),
        ("PutBucketPolicy", lambda: team.put_bucket_policy(Bucket=bucket, Policy=doc(dict(pub, Action="s3:*", Resource=arn(bucket, "*"))))),
        ("DeleteBucketPolicy", lambda: team.delete_bucket_policy(Bucket=bucket)),
    ):
        denied(fn, f"team: {what} (only the owner touches the policy)")
    c.eq(owner.get_bucket_policy(Bucket=bucket)["Policy"], policy, "the team changed nothing")
    # Copies need the source: a public object may be copied, a private one not.
    team.create_bucket(Bucket=bucket + "-team")
    team.copy_object(Bucket=bucket + "-team", Key="copied", CopySource={"Bucket": bucket, "Key": "pub/a.txt"})
    c.eq(team.get_object(Bucket=bucket + "-team", Key="copied")["Body"].read(), b"for everyone", "team copies a public object into its bucket")
    denied(lambda: team.copy_object(Bucket=bucket + "-team", Key="stolen", CopySource={"Bucket": bucket, "Key": "priv/b.txt"}), "team copies a private object")

    # An explicit Deny binds the owner too; admin keys stand above policies.
    denied(lambda: owner.delete_object(Bucket=bucket, Key="priv/b.txt"), "the owner deletes under an explicit Deny")
    out = owner.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "priv/b.txt"}, {"Key": "home/team/new.txt"}]})
    c.eq([(e["Key"], e["Code"]) for e in out.get("Errors", [])], [("priv/b.txt", "AccessDenied")], "DeleteObjects: the denied key is refused")
    c.eq([d["Key"] for d in out.get("Deleted", [])], ["home/team/new.txt"], "DeleteObjects: the other key is deleted")
    c.eq(owner.get_object(Bucket=bucket, Key="priv/b.txt")["Body"].read(), b"for the owner", "the denied object is still there")
    root.put_object(Bucket=bucket, Key="priv/by-admin", Body=b"x")
    root.delete_object(Bucket=bucket, Key="priv/by-admin")
    c.eq(keys_of(root, bucket, Prefix="priv/"), ["priv/b.txt"], "an admin key deletes despite the Deny")

    # Conditions: the transport and the address.
    owner.put_bucket_policy(Bucket=bucket, Policy=doc(
        {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": [arn(bucket), arn(bucket, "*")], "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    ))
    denied(lambda: owner.get_object(Bucket=bucket, Key="priv/b.txt"), "a Deny of plain HTTP binds the owner")
    denied(lambda: owner.list_objects_v2(Bucket=bucket), "a Deny of plain HTTP: listing")
    owner.delete_bucket_policy(Bucket=bucket)  # the owner may always change the policy
    c.eq(owner.get_object(Bucket=bucket, Key="priv/b.txt")["Body"].read(), b"for the owner", "DeleteBucketPolicy lifts the Deny")
    c.expect_error(lambda: owner.get_bucket_policy(Bucket=bucket), "NoSuchBucketPolicy", 404, "DeleteBucketPolicy removed it")
    for net, allowed in (("10.0.0.0/8", False), ("127.0.0.0/8", True)):
        owner.put_bucket_policy(Bucket=bucket, Policy=doc(dict(pub, Condition={"IpAddress": {"aws:SourceIp": [net, "::1/128"]}})))
        if allowed:
            c.eq(anon.get_object(Bucket=bucket, Key="pub/a.txt")["Body"].read(), b"for everyone", f"anonymous GET from an address in {net}")
        else:
            denied(lambda: anon.get_object(Bucket=bucket, Key="pub/a.txt"), f"anonymous GET from an address outside {net}")
        c.eq(owner.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"], False, f"a grant to * limited to {net} is not public")

    # A caller who may list gets the 404 of a missing key (only those who may not get 403).
    owner.put_bucket_policy(Bucket=bucket, Policy=doc(pub, {"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket", "Resource": arn(bucket)}))
    c.expect_error(lambda: anon.get_object(Bucket=bucket, Key="pub/missing"), "NoSuchKey", 404, "anonymous GET of a missing key when it may list")
    c.eq(keys_of(anon, bucket, Prefix="pub/"), ["pub/a.txt"], "anonymous listing where the policy allows it")
    # Listing allowed under a prefix only, and no read at all: a missing key the caller could
    # list is 404; one it could not list, and a key that exists, stay 403.
    prefixed = {"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket", "Resource": arn(bucket), "Condition": {"StringLike": {"s3:prefix": "pub/*"}}}
    owner.put_bucket_policy(Bucket=bucket, Policy=doc(prefixed))
    c.eq(head_status(lambda: anon.head_object(Bucket=bucket, Key="pub/missing")), 404, "anonymous HEAD of a missing key it may list under its prefix")
    c.expect_error(lambda: anon.get_object(Bucket=bucket, Key="pub/missing"), "NoSuchKey", 404, "anonymous GET of a missing key it may list under its prefix")
    c.eq(head_status(lambda: anon.head_object(Bucket=bucket, Key="priv/missing")), 403, "anonymous HEAD of a missing key outside the listable prefix")
    c.eq(head_status(lambda: anon.head_object(Bucket=bucket, Key="pub/a.txt")), 403, "anonymous HEAD of an existing key it may list but not read")
    owner.put_bucket_policy(Bucket=bucket, Policy=doc(pub, prefixed))
    c.expect_error(lambda: anon.get_object(Bucket=bucket, Key="pub/missing"), "NoSuchKey", 404, "anonymous GET of a missing key it may read and list under its prefix")
    owner.put_bucket_policy(Bucket=bucket, Policy=doc(pub, {"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket", "Resource": arn(bucket)}))

    # Browser form (POST) uploads: a form signed by the team key is a PutObject of its key,
    # refused where the policy does not allow the team to write it.
    owner.put_bucket_policy(Bucket=bucket, Policy=doc(pub, {"Effect": "Allow", "Principal": {"AWS": [team_ak]}, "Action": "s3:PutObject", "Resource": arn(bucket, "home/team/*")}))
    form = team.generate_presigned_post(Bucket=bucket, Key="pub/posted")
    boundary = "kintsugi-form-boundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in form["fields"].items()]
    body = ("".join(parts) + f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f"\r\nContent-Type: application/octet-stream\r\n\r\nposted\r\n--{boundary}--\r\n').encode()
    u = urllib.parse.urlsplit(endpoint())
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request("POST", f"/{bucket}", body=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    status = conn.getresponse().status
    conn.close()
    c.eq(status, 403, "a POST form upload by a key the policy does not let write there")
    c.eq(keys_of(root, bucket, Prefix="pub/posted"), [], "the POST stored nothing")
    form = team.generate_presigned_post(Bucket=bucket, Key="home/team/posted")
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in form["fields"].items()]
    body = ("".join(parts) + f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f"\r\nContent-Type: application/octet-stream\r\n\r\nposted\r\n--{boundary}--\r\n').encode()
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request("POST", f"/{bucket}", body=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    status = conn.getresponse().status
    conn.close()
    c.eq(status, 204, "a POST form upload by the team where the policy lets it write")
    c.eq(owner.get_object(Bucket=bucket, Key="home/team/posted")["Body"].read(), b"posted", "the team's POST stored its file")
    # An unsigned one announcing 4 GiB is refused before its body: the answer comes at once.
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    conn.putrequest("POST", f"/{bucket}")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(4 << 30))
    conn.endheaders()
    conn.send(b"--" + boundary.encode() + b"\r\n")
    r = conn.getresponse()
    c.eq((r.status, r.getheader("Connection")), (400, "close"), "a huge unsigned POST upload is refused unread")
    conn.close()

    # The policy goes with its bucket.
    owner.put_bucket_policy(Bucket=bucket, Policy=doc(pub))
    for key in keys_of(root, bucket):
        root.delete_object(Bucket=bucket, Key=key)
    owner.delete_bucket(Bucket=bucket)
    owner.create_bucket(Bucket=bucket)
    c.expect_error(lambda: owner.get_bucket_policy(Bucket=bucket), "NoSuchBucketPolicy", 404, "a new bucket of the same name has no policy")
    owner.put_object(Bucket=bucket, Key="pub/a.txt", Body=b"new")
    denied(lambda: anon.get_object(Bucket=bucket, Key="pub/a.txt"), "the old policy grants nothing on the new bucket")


def controls(bucket, owner_ak, owner_sk, team_ak, team_sk):
    owner, team, anon = as_key(owner_ak, owner_sk), as_key(team_ak, team_sk), anonymous()
    owner.create_bucket(Bucket=bucket)
    owner.put_object(Bucket=bucket, Key="pub/a.txt", Body=b"for everyone")
    public = doc({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": arn(bucket, "pub/*")})

    # PublicAccessBlock.
    c.expect_error(lambda: owner.get_public_access_block(Bucket=bucket), "NoSuchPublicAccessBlockConfiguration", 404, "GetPublicAccessBlock without one")
    denied(lambda: team.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={"BlockPublicPolicy": False}), "team: PutPublicAccessBlock on another's bucket")
    owner.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={"BlockPublicPolicy": True, "BlockPublicAcls": True})
    got = owner.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    c.eq(got, {"BlockPublicAcls": True, "IgnorePublicAcls": False, "BlockPublicPolicy": True, "RestrictPublicBuckets": False}, "GetPublicAccessBlock answers the switches")
    denied(lambda: owner.put_bucket_policy(Bucket=bucket, Policy=public), "BlockPublicPolicy refuses a public policy")
    c.expect_error(lambda: owner.get_bucket_policy(Bucket=bucket), "NoSuchBucketPolicy", 404, "the refused policy was not stored")
    owner.put_bucket_policy(Bucket=bucket, Policy=doc({"Effect": "Allow", "Principal": {"AWS": team_ak}, "Action": "s3:GetObject", "Resource": arn(bucket, "*")}))
    c.eq(team.get_object(Bucket=bucket, Key="pub/a.txt")["Body"].read(), b"for everyone", "BlockPublicPolicy lets a policy naming keys through")
    denied(lambda: owner.put_object(Bucket=bucket, Key="acl", Body=b"x", ACL="public-read"), "BlockPublicAcls refuses a public ACL")
    owner.put_object(Bucket=bucket, Key="acl", Body=b"x", ACL="private")
    owner.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={"RestrictPublicBuckets": True})
    owner.put_bucket_policy(Bucket=bucket, Policy=public)
    denied(lambda: anon.get_object(Bucket=bucket, Key="pub/a.txt"), "RestrictPublicBuckets: a public policy grants anonymous callers nothing")
    denied(lambda: team.get_object(Bucket=bucket, Key="pub/a.txt"), "RestrictPublicBuckets: nor other keys")
    c.eq(owner.get_object(Bucket=bucket, Key="pub/a.txt")["Body"].read(), b"for everyone", "RestrictPublicBuckets: the owner still reads")
    owner.put_object(Bucket=bucket, Key="acl2", Body=b"x", ACL="public-read")
    c.eq(anon.get_object(Bucket=bucket, Key="acl2")["Body"].read(), b"x", "without BlockPublicAcls a public ACL is stored, and RestrictPublicBuckets does not bind ACLs")
    owner.delete_public_access_block(Bucket=bucket)
    c.expect_error(lambda: owner.get_public_access_block(Bucket=bucket), "NoSuchPublicAccessBlockConfiguration", 404, "DeletePublicAccessBlock")
    c.eq(anon.get_object(Bucket=bucket, Key="pub/a.txt")["Body"].read(), b"for everyone", "without the block the public policy serves anonymous callers")

    # ACLs: by default the owner's FULL_CONTROL, read and written back.
    acl = owner.get_bucket_acl(Bucket=bucket)
    c.eq((acl["Owner"]["ID"], [(g["Grantee"].get("ID"), g["Permission"]) for g in acl["Grants"]]), (owner_ak, [(owner_ak, "FULL_CONTROL")]), "GetBucketAcl: the owner's full control")
    oacl = owner.get_object_acl(Bucket=bucket, Key="pub/a.txt")
    c.eq([(g["Grantee"].get("ID"), g["Permission"]) for g in oacl["Grants"]], [(owner_ak, "FULL_CONTROL")], "GetObjectAcl: the bucket owner's full control")
    c.expect_error(lambda: owner.get_object_acl(Bucket=bucket, Key="missing"), "NoSuchKey", 404, "GetObjectAcl of a missing key")
    owner.put_bucket_acl(Bucket=bucket, ACL="private")
    owner.put_bucket_acl(Bucket=bucket, AccessControlPolicy={"Owner": acl["Owner"], "Grants": acl["Grants"]})
    owner.put_object_acl(Bucket=bucket, Key="pub/a.txt", ACL="bucket-owner-full-control")
    c.eq(owner.get_bucket_acl(Bucket=bucket)["Grants"], acl["Grants"], "PutBucketAcl of the ACL read back changes nothing")
    denied(lambda: team.get_bucket_acl(Bucket=bucket), "team: GetBucketAcl of another's bucket")

    # OwnershipControls.
    c.expect_error(lambda: owner.get_bucket_ownership_controls(Bucket=bucket), "OwnershipControlsNotFoundError", 404, "GetBucketOwnershipControls without any")
    c.expect_error(lambda: owner.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "Nobody"}]}), "MalformedXML", 400, "an unknown ObjectOwnership")
    owner.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    c.eq(owner.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"], [{"ObjectOwnership": "BucketOwnerEnforced"}], "GetBucketOwnershipControls")
    c.expect_error(lambda: owner.put_object(Bucket=bucket, Key="acl3", Body=b"x", ACL="private"), "AccessControlListNotSupported", 400, "BucketOwnerEnforced refuses ACLs")
    owner.put_object(Bucket=bucket, Key="acl3", Body=b"x", ACL="bucket-owner-full-control")
    owner.put_object(Bucket=bucket, Key="acl4", Body=b"x")
    c.check(True, "BucketOwnerEnforced takes bucket-owner-full-control and no ACL")
    c.expect_error(lambda: owner.put_bucket_acl(Bucket=bucket, ACL="private"), "AccessControlListNotSupported", 400, "BucketOwnerEnforced refuses PutBucketAcl")
    owner.delete_bucket_ownership_controls(Bucket=bucket)
    c.expect_error(lambda: owner.get_bucket_ownership_controls(Bucket=bucket), "OwnershipControlsNotFoundError", 404, "DeleteBucketOwnershipControls")
    owner.create_bucket(Bucket=bucket + "-enforced", ObjectOwnership="BucketOwnerEnforced")
    c.eq(owner.get_bucket_ownership_controls(Bucket=bucket + "-enforced")["OwnershipControls"]["Rules"], [{"ObjectOwnership": "BucketOwnerEnforced"}], "CreateBucket with x-amz-object-ownership")


def versions(bucket, owner_ak, owner_sk, team_ak, team_sk):
    owner, team = as_key(owner_ak, owner_sk), as_key(team_ak, team_sk)
    owner.create_bucket(Bucket=bucket)
    owner.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    old = owner.put_object(Bucket=bucket, Key="k", Body=b"old")["VersionId"]
    owner.put_object(Bucket=bucket, Key="k", Body=b"new")
    team.create_bucket(Bucket=bucket + "-team")
    owner.put_bucket_policy(Bucket=bucket, Policy=doc(
        {"Effect": "Allow", "Principal": {"AWS": [team_ak]}, "Action": ["s3:GetObject", "s3:DeleteObject", "s3:ListBucket"], "Resource": [arn(bucket), arn(bucket, "*")]},
        {"Effect": "Deny", "Principal": {"AWS": [team_ak]}, "Action": ["s3:GetObjectVersion", "s3:DeleteObjectVersion"], "Resource": arn(bucket, "*")},
    ))
    c.eq(team.get_object(Bucket=bucket, Key="k")["Body"].read(), b"new", "the team reads the current version")
    c.expect_error(lambda: team.get_object(Bucket=bucket, Key="k", VersionId=old), "AccessDenied", 403, "GET of an older version needs s3:GetObjectVersion")
    c.expect_error(lambda: team.delete_object(Bucket=bucket, Key="k", VersionId=old), "AccessDenied", 403, "DELETE of a version needs s3:DeleteObjectVersion")
    r = team.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "k", "VersionId": old}]})
    c.eq([e.get("Code") for e in r.get("Errors", [])], ["AccessDenied"], "DeleteObjects of a version needs s3:DeleteObjectVersion, key by key")
    c.expect_error(
        lambda: team.copy_object(Bucket=bucket + "-team", Key="stolen", CopySource={"Bucket": bucket, "Key": "k", "VersionId": old}),
        "AccessDenied", 403, "a copy from an older version needs s3:GetObjectVersion",
    )
    team.copy_object(Bucket=bucket + "-team", Key="copied", CopySource={"Bucket": bucket, "Key": "k"})
    c.eq(team.get_object(Bucket=bucket + "-team", Key="copied")["Body"].read(), b"new", "a copy of the current version is allowed")
    c.check(team.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "k"}]}).get("Deleted"), "DeleteObjects without a version id needs s3:DeleteObject only")
    c.eq(owner.get_object(Bucket=bucket, Key="k", VersionId=old)["Body"].read(), b"old", "the older version is still there")


def lock(bucket, owner_ak, owner_sk, team_ak, team_sk):
    owner, team = as_key(owner_ak, owner_sk), as_key(team_ak, team_sk)
    owner.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    until = (datetime.now(timezone.utc) + timedelta(days=1)).replace(microsecond=0)
    vids = [owner.put_object(Bucket=bucket, Key=f"g{i}", Body=b"g", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until)["VersionId"] for i in range(3)]
    base = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:GetObjectRetention", "s3:PutObjectRetention", "s3:ListBucket"]

    def allow(actions, bypass=False):
        statements = [{"Effect": "Allow", "Principal": {"AWS": [team_ak]}, "Action": actions, "Resource": [arn(bucket), arn(bucket, "*")]}]
        if bypass:
            # Granted on objects only, as AWS's examples do.
            statements.append({"Effect": "Allow", "Principal": {"AWS": [team_ak]}, "Action": "s3:BypassGovernanceRetention", "Resource": arn(bucket, "*")})
        owner.put_bucket_policy(Bucket=bucket, Policy=doc(*statements))

    g2 = [{"Key": "g2", "VersionId": vids[2]}]
    allow(base)
    c.eq(team.get_object_retention(Bucket=bucket, Key="g0")["Retention"]["Mode"], "GOVERNANCE", "the team reads the retention")
    denied(lambda: team.delete_object(Bucket=bucket, Key="g0", VersionId=vids[0], BypassGovernanceRetention=True), "a bypass by a key without s3:BypassGovernanceRetention")
    shorter = {"Mode": "GOVERNANCE", "RetainUntilDate": until - timedelta(hours=12)}
    denied(lambda: team.put_object_retention(Bucket=bucket, Key="g0", VersionId=vids[0], Retention=shorter, BypassGovernanceRetention=True), "a shortening bypass by a key without s3:BypassGovernanceRetention")
    denied(lambda: team.put_object(Bucket=bucket, Key="t", Body=b"t", ObjectLockLegalHoldStatus="ON"), "a held write needs s3:PutObjectLegalHold")
    r = team.delete_objects(Bucket=bucket, Delete={"Objects": g2}, BypassGovernanceRetention=True)
    c.eq([e.get("Code") for e in r.get("Errors", [])], ["AccessDenied"], "DeleteObjects with a bypass the key may not use")
    team.put_object(Bucket=bucket, Key="t", Body=b"t", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until)
    allow(base, bypass=True)
    r = team.delete_objects(Bucket=bucket, Delete={"Objects": g2}, BypassGovernanceRetention=True)
    c.eq(([d["Key"] for d in r.get("Deleted", [])], r.get("Errors", [])), (["g2"], []), "DeleteObjects with a bypass allowed on the bucket's objects")
    team.put_object_retention(Bucket=bucket, Key="g0", VersionId=vids[0], Retention=shorter, BypassGovernanceRetention=True)
    team.delete_object(Bucket=bucket, Key="g0", VersionId=vids[0], BypassGovernanceRetention=True)
    c.eq(head_status(lambda: owner.head_object(Bucket=bucket, Key="g0", VersionId=vids[0])), 404, "a key allowed s3:BypassGovernanceRetention deleted the version")
    owner.delete_bucket_policy(Bucket=bucket)
    owner.delete_object(Bucket=bucket, Key="g1", VersionId=vids[1], BypassGovernanceRetention=True)
    c.eq(head_status(lambda: owner.head_object(Bucket=bucket, Key="g1", VersionId=vids[1])), 404, "the bucket's owner bypasses without a policy")
    # The lock headers of a read go only to who may read the lock.
    allow(["s3:GetObject"])
    c.eq(team.head_object(Bucket=bucket, Key="t").get("ObjectLockMode"), None, "a reader without s3:GetObjectRetention sees no retention")
    allow(["s3:GetObject", "s3:GetObjectRetention"])
    c.eq(team.head_object(Bucket=bucket, Key="t").get("ObjectLockMode"), "GOVERNANCE", "a reader allowed s3:GetObjectRetention sees it")
    c.eq(owner.get_object(Bucket=bucket, Key="t").get("ObjectLockMode"), "GOVERNANCE", "the owner sees it")


def grant(bucket, ak):
    policy = doc({"Effect": "Allow", "Principal": {"AWS": [ak]}, "Action": "s3:GetObject", "Resource": arn(bucket, "*")})
    client().put_bucket_policy(Bucket=bucket, Policy=policy)
    c.eq(client().get_bucket_policy(Bucket=bucket)["Policy"], policy, f"granted {ak} s3:GetObject on {bucket}")


def main():
    verb, args = sys.argv[1], sys.argv[2:]
    {"rules": rules, "controls": controls, "versions": versions, "lock": lock, "grant": grant}[verb](*args)
    c.finish()


if __name__ == "__main__":
    main()
