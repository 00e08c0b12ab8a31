"""A PUT sent over a raw socket at a pace the test sets, to have a write in flight for as
long as it likes (its gateway killed under it, or the write outliving background sweeps).

  stalled.py stall BUCKET KEY SIZE FIRST
      send the head and the first FIRST of SIZE body bytes, print "sent", then wait to be
      killed (the connection stays open).
  stalled.py slow BUCKET KEY SIZE FIRST SECONDS GO
      send the first FIRST bytes at once, print "sent", then the rest but its last KiB in
      pieces spread over SECONDS; then a byte every 2 s until file GO exists, then the rest;
      read the answer (it must be 200) and read the object back: it must be byte-exact.
  stalled.py verify BUCKET KEY SIZE
      read the object: it must be the SIZE bytes `slow` wrote.

The body is `random.Random(SIZE)`'s bytes (the same for both modes of one size)."""

import os
import random
import socket
import sys
import time

from s3util import Checker, client, signed_put_head


def body(size):
    return random.Random(size).randbytes(size)


def open_put(bucket, key, data, first):
    host, port, head = signed_put_head(f"{bucket}/{key}", len(data))
    s = socket.create_connection((host, port), timeout=120)
    s.sendall(head + data[:first])
    print("sent", flush=True)
    return s


def answer(s):
    got = b""
    while b"\r\n\r\n" not in got:
        more = s.recv(4096)
        if not more:
            break
        got += more
    return got.split(b"\r\n", 1)[0].decode(errors="replace")


def verify(c, bucket, key, data):
    got = client().get_object(Bucket=bucket, Key=key)["Body"].read()
    c.check(got == data, f"{key} reads back byte-exact ({len(got)} of {len(data)} bytes)")


def main():
    mode, bucket, key, size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    data = body(size)
    if mode == "verify":
        c = Checker("a slow write, read later")
        verify(c, bucket, key, data)
        c.finish()
        return
    first = int(sys.argv[5])
    s = open_put(bucket, key, data, first)
    if mode == "stall":
        time.sleep(3600)
        return
    seconds, go = float(sys.argv[6]), sys.argv[7]
    rest, last = data[first:-1024], data[-1024:]
    pieces = 20
    step = max(1, -(-len(rest) // pieces))
    for i in range(0, len(rest), step):
        time.sleep(seconds / pieces)
        s.sendall(rest[i : i + step])
    # Keep the write going (a byte now and then, well within the body timeout) until told.
    while not os.path.exists(go) and len(last) > 1:
        time.sleep(2)
        s.sendall(last[:1])
        last = last[1:]
    s.sendall(last)
    status = answer(s)
    s.close()
    c = Checker("a slow write")
    c.check(" 200 " in status + " ", f"the slow PUT was answered: {status}")
    verify(c, bucket, key, data)
    c.finish()


main()
