"""ListObjectsV2 / ListObjects (v1) paging over 1,500 keys. Usage: listing.py BUCKET"""

import sys
from concurrent.futures import ThreadPoolExecutor

from s3util import Checker, client

bucket = sys.argv[1]
s3 = client(max_pool_connections=16)
c = Checker("listing")

top = [f"top-{i:03d}" for i in range(49)] + ["top-with space+plus&amp"]
nested = [f"d{i % 10}/sub{(i // 10) % 5}/k{i:04d}" for i in range(1450)]
keys = top + nested
assert len(keys) == 1500
# S3 lists in UTF-8 byte order.
want_all = sorted(keys, key=lambda k: k.encode())


def setup():
    s3.create_bucket(Bucket=bucket)
    with ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=k.encode()), keys))


def v2_pages(**kw):
    pages, token = [], None
    while True:
        args = dict(Bucket=bucket, **kw)
        if token:
            args["ContinuationToken"] = token
        r = s3.list_objects_v2(**args)
        pages.append(r)
        if not r.get("IsTruncated"):
            return pages
        token = r.get("NextContinuationToken")
        if not c.check(bool(token), "truncated v2 page has a NextContinuationToken"):
            return pages
        if len(pages) > 200:
            c.check(False, "v2 paging does not end")
            return pages


def keys_of(pages):
    return [o["Key"] for p in pages for o in p.get("Contents", [])]


def prefixes_of(pages):
    return [cp["Prefix"] for p in pages for cp in p.get("CommonPrefixes", [])]


def v2():
    pages = v2_pages(MaxKeys=100)
    got = keys_of(pages)
    c.eq(len(pages), 15, "v2 MaxKeys=100 over 1500 keys: page count")
    c.check(all(len(p.get("Contents", [])) <= 100 and p.get("KeyCount") == len(p.get("Contents", [])) for p in pages), "v2 pages hold <= 100 keys and KeyCount matches")
    c.eq(len(got), 1500, "v2 paging: number of keys seen")
    c.check(len(set(got)) == len(got), "v2 paging: no key seen twice")
    c.check(got == want_all, "v2 paging: every key once, in UTF-8 byte order")
    sizes = {o["Key"]: o["Size"] for p in pages for o in p.get("Contents", [])}
    c.check(all(sizes.get(k) == len(k.encode()) for k in keys), "v2 listing sizes match")

    pages = v2_pages(Delimiter="/", MaxKeys=7)
    prefixes, ks = prefixes_of(pages), keys_of(pages)
    c.eq(prefixes, [f"d{i}/" for i in range(10)], "v2 Delimiter=/ MaxKeys=7: CommonPrefixes once each, in order")
    c.eq(ks, sorted(top, key=lambda k: k.encode()), "v2 Delimiter=/ MaxKeys=7: top-level keys once each, in order")
    c.check(all(len(p.get("Contents", [])) + len(p.get("CommonPrefixes", [])) <= 7 for p in pages), "v2 delimiter pages hold <= 7 entries")

    pages = v2_pages(Prefix="d3/", Delimiter="/")
    c.eq(prefixes_of(pages), [f"d3/sub{i}/" for i in range(5)], "v2 Prefix=d3/ Delimiter=/: CommonPrefixes")
    c.eq(keys_of(pages), [], "v2 Prefix=d3/ Delimiter=/: no direct keys")

    pages = v2_pages(Prefix="d3/sub2/", MaxKeys=10)
    want = sorted(k for k in keys if k.startswith("d3/sub2/"))
    c.eq(keys_of(pages), want, "v2 Prefix=d3/sub2/ MaxKeys=10: exact keys")

    r = s3.list_objects_v2(Bucket=bucket, StartAfter="d5/", MaxKeys=3)
    c.eq([o["Key"] for o in r.get("Contents", [])], [k for k in want_all if k > "d5/"][:3], "v2 StartAfter=d5/")

    r = s3.list_objects_v2(Bucket=bucket, Prefix="nothing-here/")
    c.eq((r.get("KeyCount"), r.get("Contents", []), r.get("IsTruncated")), (0, [], False), "v2 empty prefix result")


def v1():
    seen, marker, pages = [], None, 0
    while True:
        args = dict(Bucket=bucket, MaxKeys=100)
        if marker is not None:
            args["Marker"] = marker
        r = s3.list_objects(**args)
        pages += 1
        batch = [o["Key"] for o in r.get("Contents", [])]
        seen += batch
        if not r.get("IsTruncated"):
            break
        marker = r.get("NextMarker") or batch[-1]
        if pages > 200:
            c.check(False, "v1 paging does not end")
            break
    c.eq(pages, 15, "v1 Marker paging: page count")
    c.check(seen == want_all, f"v1 Marker paging: every key once, in order ({len(seen)} seen)")

    entries, marker, pages = [], None, 0
    while True:
        args = dict(Bucket=bucket, MaxKeys=5, Delimiter="/")
        if marker is not None:
            args["Marker"] = marker
        r = s3.list_objects(**args)
        pages += 1
        entries += [("P", p["Prefix"]) for p in r.get("CommonPrefixes", [])]
        entries += [("K", o["Key"]) for o in r.get("Contents", [])]
        if not r.get("IsTruncated"):
            break
        marker = r.get("NextMarker")
        if not c.check(bool(marker), "v1 truncated page with a delimiter has NextMarker"):
            break
        if pages > 200:
            c.check(False, "v1 delimiter paging does not end")
            break
    want = sorted([("P", f"d{i}/") for i in range(10)] + [("K", k) for k in top], key=lambda e: e[1].encode())
    c.eq(sorted(entries, key=lambda e: e[1].encode()), want, "v1 Delimiter=/ MaxKeys=5 marker paging: each prefix and top key once")


for step in (setup, v2, v1):
    c.run(step.__name__, step)
c.finish()
