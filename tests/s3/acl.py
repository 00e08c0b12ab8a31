"""ACLs as S3 evaluates them, through boto3 and unsigned requests: a bucket owned by a plain
key (OWNER), a second plain key (TEAM) and anonymous callers.

Usage:
  acl.py grants BUCKET OWNER_AK OWNER_SK TEAM_AK TEAM_SK
      canned ACLs on buckets and objects (at creation and later) and what each lets others do;
      grants to a key by body and by x-amz-grant-* header, permission by permission; an object
      written by another key is owned by its writer; PutObjectAcl keeps the version, its time
      and its bytes; versions have ACLs of their own; grants that name no one are refused and
      change nothing; a policy's Deny beats a grant; IgnorePublicAcls, BlockPublicAcls and
      BucketOwnerEnforced switch grants off
"""

import sys
import time

from botocore.exceptions import ClientError

from s3util import Checker, anonymous, as_key, err_status

c = Checker("ACLs")
ALL = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTH = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"


def status(fn):
    try:
        fn()
        return 200
    except ClientError as e:
        return err_status(e)


def grants(acl):
    """An ACL's grants as sorted (grantee, permission) pairs."""
    out = []
    for g in acl["Grants"]:
        e = g["Grantee"]
        out.append((e.get("ID") or e.get("URI"), g["Permission"]))
    return sorted(out)


def allowed(fn, want, what):
    """`fn` answers 200 when `want`, else 403 AccessDenied."""
    c.eq(status(fn), 200 if want else 403, what)


def grants_drill(bucket, owner_ak, owner_sk, team_ak, team_sk):
    owner, team, anon = as_key(owner_ak, owner_sk), as_key(team_ak, team_sk), anonymous()

    # Canned ACLs on a bucket: at creation, answered, and what each lets others do.
    owner.create_bucket(Bucket=bucket, ACL="public-read")
    c.eq(grants(owner.get_bucket_acl(Bucket=bucket)), sorted([(owner_ak, "FULL_CONTROL"), (ALL, "READ")]), "CreateBucket public-read: the grants answered")
    owner.put_object(Bucket=bucket, Key="private", Body=b"mine")
    c.eq([o["Key"] for o in anon.list_objects_v2(Bucket=bucket)["Contents"]], ["private"], "public-read bucket: anonymous callers list it")
    allowed(lambda: anon.get_object(Bucket=bucket, Key="private"), False, "public-read bucket: a private object stays private")
    allowed(lambda: anon.put_object(Bucket=bucket, Key="anon", Body=b"x"), False, "public-read bucket: anonymous callers may not write")
    allowed(lambda: team.get_bucket_acl(Bucket=bucket), False, "public-read bucket: others may not read its ACL")
    c.eq(status(lambda: anon.get_object(Bucket=bucket, Key="missing")), 404, "public-read bucket: a missing key is 404 to who may list")
    owner.put_bucket_acl(Bucket=bucket, ACL="authenticated-read")
    allowed(lambda: anon.list_objects_v2(Bucket=bucket), False, "authenticated-read: not anonymous callers")
    allowed(lambda: team.list_objects_v2(Bucket=bucket), True, "authenticated-read: any key lists")
    owner.put_bucket_acl(Bucket=bucket, ACL="public-read-write")
    anon.put_object(Bucket=bucket, Key="anon", Body=b"from anyone")
    allowed(lambda: anon.delete_object(Bucket=bucket, Key="anon"), True, "public-read-write: anonymous callers write and delete")
    owner.put_bucket_acl(Bucket=bucket, ACL="private")
    c.eq(grants(owner.get_bucket_acl(Bucket=bucket)), [(owner_ak, "FULL_CONTROL")], "back to private")
    allowed(lambda: anon.list_objects_v2(Bucket=bucket), False, "private: nobody else lists")
    allowed(lambda: team.put_object(Bucket=bucket, Key="t", Body=b"x"), False, "private: nobody else writes")

    # Canned ACLs on objects, through PUT, CopyObject, multipart and PutObjectAcl.
    owner.put_object(Bucket=bucket, Key="pub", Body=b"for all", ACL="public-read")
    c.eq(anon.get_object(Bucket=bucket, Key="pub")["Body"].read(), b"for all", "a public-read object in a private bucket: anonymous GET")
    allowed(lambda: anon.head_object(Bucket=bucket, Key="pub"), True, "and HEAD")
    allowed(lambda: anon.get_object_acl(Bucket=bucket, Key="pub"), False, "but not its ACL")
    allowed(lambda: anon.put_object(Bucket=bucket, Key="pub", Body=b"x"), False, "nor a write over it")
    owner.copy_object(Bucket=bucket, Key="copied", CopySource={"Bucket": bucket, "Key": "pub"})
    allowed(lambda: anon.get_object(Bucket=bucket, Key="copied"), False, "a copy does not take its source's ACL")
    owner.copy_object(Bucket=bucket, Key="copied", CopySource={"Bucket": bucket, "Key": "pub"}, ACL="authenticated-read")
    allowed(lambda: team.get_object(Bucket=bucket, Key="copied"), True, "a copy takes the ACL its request asks for")
    allowed(lambda: anon.get_object(Bucket=bucket, Key="copied"), False, "authenticated-read: not anonymous callers")
    up = owner.create_multipart_upload(Bucket=bucket, Key="mpu", ACL="public-read")
    part = owner.upload_part(Bucket=bucket, Key="mpu", UploadId=up["UploadId"], PartNumber=1, Body=b"parts")
    owner.complete_multipart_upload(Bucket=bucket, Key="mpu", UploadId=up["UploadId"], MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    c.eq(anon.get_object(Bucket=bucket, Key="mpu")["Body"].read(), b"parts", "a multipart upload's ACL goes to the object")
    before = owner.head_object(Bucket=bucket, Key="private")
    time.sleep(1.1)
    owner.put_object_acl(Bucket=bucket, Key="private", ACL="public-read")
    after = owner.head_object(Bucket=bucket, Key="private")
    c.eq((after["ETag"], after["LastModified"]), (before["ETag"], before["LastModified"]), "PutObjectAcl keeps the object's ETag and time")
    c.eq(anon.get_object(Bucket=bucket, Key="private")["Body"].read(), b"mine", "PutObjectAcl public-read: anonymous GET")
    owner.put_object_acl(Bucket=bucket, Key="private", ACL="private")
    allowed(lambda: anon.get_object(Bucket=bucket, Key="private"), False, "PutObjectAcl private again")
    owner.put_object(Bucket=bucket, Key="pub", Body=b"replaced")
    allowed(lambda: anon.get_object(Bucket=bucket, Key="pub"), False, "an overwrite without an ACL is private")

    # Grants to a key, permission by permission, by body and by header.
    base = owner.get_bucket_acl(Bucket=bucket)

    def grant_bucket(perm):
        extra = {"Grantee": {"ID": team_ak, "Type": "CanonicalUser"}, "Permission": perm}
        owner.put_bucket_acl(Bucket=bucket, AccessControlPolicy={"Owner": base["Owner"], "Grants": base["Grants"] + [extra]})

    for perm, read, write, read_acp, write_acp in (
        ("READ", True, False, False, False),
        ("WRITE", False, True, False, False),
        ("READ_ACP", False, False, True, False),
        ("WRITE_ACP", False, False, False, True),
        ("FULL_CONTROL", True, True, True, True),
    ):
        grant_bucket(perm)
        c.eq(grants(owner.get_bucket_acl(Bucket=bucket)), sorted([(owner_ak, "FULL_CONTROL"), (team_ak, perm)]), f"bucket grant {perm}: answered")
        allowed(lambda: team.list_objects_v2(Bucket=bucket), read, f"bucket grant {perm}: list")
        allowed(lambda: team.head_bucket(Bucket=bucket), read, f"bucket grant {perm}: HEAD bucket")
        allowed(lambda: team.put_object(Bucket=bucket, Key="by-team", Body=b"t"), write, f"bucket grant {perm}: write")
        allowed(lambda: team.get_bucket_acl(Bucket=bucket), read_acp, f"bucket grant {perm}: read the ACL")
        allowed(lambda: team.put_bucket_acl(Bucket=bucket, ACL="private"), write_acp, f"bucket grant {perm}: change the ACL")
        allowed(lambda: team.get_object(Bucket=bucket, Key="private"), False, f"bucket grant {perm}: never an object's bytes")
        allowed(lambda: team.get_bucket_policy(Bucket=bucket), False, f"bucket grant {perm}: never the policy")

    # An object written by another key is its writer's.
    grant_bucket("WRITE")
    team.put_object(Bucket=bucket, Key="theirs", Body=b"t", ACL="bucket-owner-read")
    acl = team.get_object_acl(Bucket=bucket, Key="theirs")
    c.eq((acl["Owner"]["ID"], grants(acl)), (team_ak, sorted([(team_ak, "FULL_CONTROL"), (owner_ak, "READ")])), "bucket-owner-read by another key: the writer owns it")
    c.eq(owner.get_object(Bucket=bucket, Key="theirs")["Body"].read(), b"t", "the bucket's owner reads it")
    team.put_object(Bucket=bucket, Key="theirs2", Body=b"t")
    c.eq(grants(owner.get_object_acl(Bucket=bucket, Key="theirs2")), [(team_ak, "FULL_CONTROL")], "another key's write without an ACL: its own FULL_CONTROL")
    # An upload's initiator lists its parts and aborts it with no grant; others with WRITE do not.
    up = team.create_multipart_upload(Bucket=bucket, Key="team-mp")["UploadId"]
    team.upload_part(Bucket=bucket, Key="team-mp", UploadId=up, PartNumber=1, Body=b"p")
    lp = team.list_parts(Bucket=bucket, Key="team-mp", UploadId=up)
    c.eq((lp["Initiator"]["ID"], [p["PartNumber"] for p in lp["Parts"]]), (team_ak, [1]), "the initiator lists its upload's parts, named as its initiator")
    listed = {u["UploadId"]: u.get("Initiator", {}).get("ID") for u in owner.list_multipart_uploads(Bucket=bucket)["Uploads"]}
    c.eq(listed.get(up), team_ak, "ListMultipartUploads names the initiator")
    theirs = owner.create_multipart_upload(Bucket=bucket, Key="owner-mp")["UploadId"]
    allowed(lambda: team.list_parts(Bucket=bucket, Key="owner-mp", UploadId=theirs), False, "WRITE lists no parts of another's upload")
    allowed(lambda: team.abort_multipart_upload(Bucket=bucket, Key="owner-mp", UploadId=theirs), False, "WRITE aborts no other's upload")
    allowed(lambda: team.abort_multipart_upload(Bucket=bucket, Key="team-mp", UploadId=up), True, "the initiator aborts its own upload")
    owner.abort_multipart_upload(Bucket=bucket, Key="owner-mp", UploadId=theirs)
    owners = {o["Key"]: o["Owner"]["ID"] for o in owner.list_objects(Bucket=bucket)["Contents"]}
    c.eq((owners["theirs2"], owners["private"]), (team_ak, owner_ak), "ListObjects names each object's owner")
    owners = {o["Key"]: o["Owner"]["ID"] for o in owner.list_objects_v2(Bucket=bucket, FetchOwner=True)["Contents"]}
    c.eq((owners["theirs2"], owners["private"]), (team_ak, owner_ak), "ListObjectsV2 with FetchOwner too")
    theirs = owner.get_object_acl(Bucket=bucket, Key="theirs2")
    owner.put_object_acl(Bucket=bucket, Key="theirs2", AccessControlPolicy={"Owner": {"ID": owner_ak}, "Grants": []})
    c.eq((theirs["Owner"]["ID"], owner.get_object_acl(Bucket=bucket, Key="theirs2")["Owner"]["ID"]), (team_ak, team_ak), "PutObjectAcl keeps the object's owner (a body's Owner changes nothing)")
    allowed(lambda: team.get_object_acl(Bucket=bucket, Key="theirs2"), True, "the object's owner reads its ACL with no grant")
    allowed(lambda: team.get_object(Bucket=bucket, Key="theirs2"), False, "but not its bytes")
    allowed(lambda: team.put_object_acl(Bucket=bucket, Key="theirs2", ACL="private"), True, "and changes its ACL")
    owner.put_bucket_acl(Bucket=bucket, ACL="private")

    # Object grants by header and by body.
    owner.put_object(Bucket=bucket, Key="shared", Body=b"s", GrantRead=f'id="{team_ak}"', GrantReadACP=f'id="{team_ak}"')
    c.eq(grants(owner.get_object_acl(Bucket=bucket, Key="shared")), sorted([(team_ak, "READ"), (team_ak, "READ_ACP")]), "x-amz-grant-* headers: the grants answered")
    c.eq(team.get_object(Bucket=bucket, Key="shared")["Body"].read(), b"s", "object READ: the bytes")
    allowed(lambda: team.get_object_acl(Bucket=bucket, Key="shared"), True, "object READ_ACP: the ACL")
    allowed(lambda: team.put_object_acl(Bucket=bucket, Key="shared", ACL="public-read"), False, "no WRITE_ACP: no change")
    allowed(lambda: anon.get_object(Bucket=bucket, Key="shared"), False, "grants to a key give anonymous callers nothing")
    allowed(lambda: team.get_object(Bucket=bucket, Key="private"), False, "grants on one object give nothing on another")
    oacl = owner.get_object_acl(Bucket=bucket, Key="shared")
    owner.put_object_acl(Bucket=bucket, Key="shared", AccessControlPolicy={"Owner": oacl["Owner"], "Grants": [{"Grantee": {"ID": team_ak, "Type": "CanonicalUser"}, "Permission": "WRITE_ACP"}]})
    allowed(lambda: team.get_object(Bucket=bucket, Key="shared"), False, "a body that leaves out READ revokes it")
    team.put_object_acl(Bucket=bucket, Key="shared", ACL="public-read")
    c.eq(anon.get_object(Bucket=bucket, Key="shared")["Body"].read(), b"s", "object WRITE_ACP: another key changed the ACL")

    # Grants that name no one change nothing.
    bad = {"Owner": base["Owner"], "Grants": base["Grants"] + [{"Grantee": {"ID": "NOSUCHKEY", "Type": "CanonicalUser"}, "Permission": "READ"}]}
    c.expect_error(lambda: owner.put_bucket_acl(Bucket=bucket, AccessControlPolicy=bad), "InvalidArgument", 400, "a grant to an id that is no key")
    mail = {"Owner": base["Owner"], "Grants": [{"Grantee": {"EmailAddress": "x@example.com", "Type": "AmazonCustomerByEmail"}, "Permission": "READ"}]}
    c.expect_error(lambda: owner.put_bucket_acl(Bucket=bucket, AccessControlPolicy=mail), "UnresolvableGrantByEmailAddress", 400, "a grant by e-mail")
    c.expect_error(lambda: owner.put_bucket_acl(Bucket=bucket, ACL="public-read", GrantRead=f'id="{team_ak}"'), "InvalidRequest", 400, "a canned ACL and grants at once")
    c.expect_error(lambda: owner.put_object_acl(Bucket=bucket, Key="missing", ACL="public-read"), "NoSuchKey", 404, "PutObjectAcl of a missing key")
    c.eq(grants(owner.get_bucket_acl(Bucket=bucket)), [(owner_ak, "FULL_CONTROL")], "the refused ACLs changed nothing")
    owner.put_bucket_acl(Bucket=bucket, AccessControlPolicy={"Owner": base["Owner"], "Grants": []})
    c.eq(owner.get_bucket_acl(Bucket=bucket)["Grants"], [], "every grant revoked")
    c.eq(owner.get_object(Bucket=bucket, Key="private")["Body"].read(), b"mine", "the owner keeps its bucket without a grant")
    owner.put_bucket_acl(Bucket=bucket, ACL="private")

    # Versions have ACLs of their own.
    vb = bucket + "-v"
    owner.create_bucket(Bucket=vb)
    owner.put_bucket_versioning(Bucket=vb, VersioningConfiguration={"Status": "Enabled"})
    v1 = owner.put_object(Bucket=vb, Key="k", Body=b"one", ACL="public-read")["VersionId"]
    v2 = owner.put_object(Bucket=vb, Key="k", Body=b"two")["VersionId"]
    allowed(lambda: anon.get_object(Bucket=vb, Key="k"), False, "the current version is private")
    owner.put_object_acl(Bucket=vb, Key="k", VersionId=v1, ACL="private")
    c.eq(grants(owner.get_object_acl(Bucket=vb, Key="k", VersionId=v1)), [(owner_ak, "FULL_CONTROL")], "PutObjectAcl of an older version")
    owner.put_object_acl(Bucket=vb, Key="k", VersionId=v1, GrantRead=f'id="{team_ak}"')
    c.eq(team.get_object(Bucket=vb, Key="k", VersionId=v1)["Body"].read(), b"one", "a grant on an older version reads that version")
    allowed(lambda: team.get_object(Bucket=vb, Key="k"), False, "and not the current one")
    c.eq(owner.list_object_versions(Bucket=vb)["Versions"][0]["VersionId"], v2, "PutObjectAcl made no version")
    owner.put_bucket_acl(Bucket=vb, ACL="public-read-write")
    allowed(lambda: anon.delete_object(Bucket=vb, Key="k", VersionId=v1), False, "a WRITE grant deletes no version for good")
    errors = anon.delete_objects(Bucket=vb, Delete={"Objects": [{"Key": "k", "VersionId": v1}]}).get("Errors", [])
    c.eq([e["Code"] for e in errors], ["AccessDenied"], "nor in DeleteObjects")
    anon.delete_object(Bucket=vb, Key="k")
    c.eq([v["VersionId"] for v in owner.list_object_versions(Bucket=vb)["Versions"]], [v2, v1], "a WRITE grant's delete only hides the key behind a marker")
    owner.put_bucket_acl(Bucket=vb, ACL="private")

    # A policy's Deny beats a grant; IgnorePublicAcls, BlockPublicAcls, BucketOwnerEnforced.
    owner.put_object(Bucket=bucket, Key="open", Body=b"o", ACL="public-read")
    owner.put_object(Bucket=bucket, Key="keyed", Body=b"k", GrantRead=f'id="{team_ak}"')
    deny = '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::%s/open"}]}' % bucket
    owner.put_bucket_policy(Bucket=bucket, Policy=deny)
    allowed(lambda: anon.get_object(Bucket=bucket, Key="open"), False, "a policy's Deny beats a public-read grant")
    owner.delete_bucket_policy(Bucket=bucket)
    allowed(lambda: anon.get_object(Bucket=bucket, Key="open"), True, "without the Deny the grant stands")
    owner.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={"IgnorePublicAcls": True})
    allowed(lambda: anon.get_object(Bucket=bucket, Key="open"), False, "IgnorePublicAcls: a public grant counts for nothing")
    c.eq(team.get_object(Bucket=bucket, Key="keyed")["Body"].read(), b"k", "IgnorePublicAcls: grants to keys still count")
    owner.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={"BlockPublicAcls": True})
    allowed(lambda: anon.get_object(Bucket=bucket, Key="open"), True, "BlockPublicAcls leaves stored grants alone")
    allowed(lambda: owner.put_object_acl(Bucket=bucket, Key="private", ACL="public-read"), False, "BlockPublicAcls refuses a public ACL")
    allowed(lambda: owner.put_bucket_acl(Bucket=bucket, AccessControlPolicy={"Owner": base["Owner"], "Grants": [{"Grantee": {"URI": AUTH, "Type": "Group"}, "Permission": "READ"}]}), False, "BlockPublicAcls refuses a public grant in a body")
    owner.delete_public_access_block(Bucket=bucket)
    owner.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    allowed(lambda: anon.get_object(Bucket=bucket, Key="open"), False, "BucketOwnerEnforced: grants count for nothing")
    c.expect_error(lambda: owner.put_object_acl(Bucket=bucket, Key="open", ACL="public-read"), "AccessControlListNotSupported", 400, "BucketOwnerEnforced: PutObjectAcl refused")
    owner.delete_bucket_ownership_controls(Bucket=bucket)
    allowed(lambda: anon.get_object(Bucket=bucket, Key="open"), True, "ObjectWriter again: the stored grant counts")


if __name__ == "__main__":
    if sys.argv[1] == "grants":
        grants_drill(*sys.argv[2:7])
    else:
        sys.exit(f"unknown drill {sys.argv[1]}")
    c.finish()
