"""Concurrent clients. Usage: parallel_clients.py BUCKET
8 threads PUT and read back 10 distinct keys each while 8 other threads keep
overwriting one hot key; the hot key must end up as exactly one of the
versions written (bytes and ETag agree), and every distinct key is exact.
Prints NONEMPTY_OBJECTS <n> for the caller's shard-count check.
(No empty objects here: with boto3 an empty PUT stalls the next PUT on its
connection against this server, which empty_put.py tests on its own.)"""

import hashlib
import sys
from concurrent.futures import ThreadPoolExecutor

from s3util import Checker, client, data

bucket = sys.argv[1]
s3 = client(max_pool_connections=32)
c = Checker("concurrent")
SIZES = [1, 4096, 100_000, 262_144, 1_000_000, 1_048_577, 2_500_000, 3_000_000, 777]
HOT_SEEDS = list(range(900, 908))
HOT_SIZE = 2 * 1024 * 1024 + 5


def writer(t):
    bad = []
    for i, size in enumerate(SIZES):
        key, body = f"w{t}/k{i}", data(t * 100 + i, size)
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        if s3.get_object(Bucket=bucket, Key=key)["Body"].read() != body:
            bad.append(key)
    return bad


def hot(seed):
    body = data(seed, HOT_SIZE)
    for _ in range(3):
        s3.put_object(Bucket=bucket, Key="hot", Body=body)


def main():
    s3.create_bucket(Bucket=bucket)
    with ThreadPoolExecutor(16) as ex:
        writers = [ex.submit(writer, t) for t in range(8)]
        hots = [ex.submit(hot, seed) for seed in HOT_SEEDS]
        bad = [k for f in writers for k in f.result()]
        for f in hots:
            f.result()
    c.eq(bad, [], "every key read back right after its PUT is exact")
    for t in range(8):
        for i, size in enumerate(SIZES):
            got = s3.get_object(Bucket=bucket, Key=f"w{t}/k{i}")["Body"].read()
            if got != data(t * 100 + i, size):
                c.check(False, f"w{t}/k{i} differs after all writers finished")
    r = s3.get_object(Bucket=bucket, Key="hot")
    body = r["Body"].read()
    versions = {hashlib.md5(data(s, HOT_SIZE)).hexdigest(): s for s in HOT_SEEDS}
    md5 = hashlib.md5(body).hexdigest()
    c.check(md5 in versions, f"hot key holds one complete version (md5 {md5}, {len(body)} bytes)")
    c.eq(r["ETag"], f'"{md5}"', "hot key ETag matches its bytes")
    n = len(SIZES) * 8 + 1
    print(f"NONEMPTY_OBJECTS {n}", flush=True)


c.run("main", main)
c.finish()
