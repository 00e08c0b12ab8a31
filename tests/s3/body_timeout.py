"""A request body that stops arriving (tests/embedded.rs, a server with --body-timeout 2s):
the PUT is answered 400 RequestTimeout within seconds and its connection is closed, its
request slot is free again, and nothing is stored. Without the timeout the server waits for
the body for ever, holding a request slot."""

import socket
import time
import urllib.request

from botocore.exceptions import ClientError

import s3util


def in_flight():
    with urllib.request.urlopen(f"{s3util.endpoint()}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("kintsugi_http_requests_in_flight "):
                return float(line.split()[1])
    raise SystemExit("no kintsugi_http_requests_in_flight on /metrics")


def stalled(path, length, query=""):
    """Send a signed PUT's head and part of its body, then nothing: the answer and the time."""
    host, port, head = s3util.signed_put_head(path, length, query=query)
    sock = socket.create_connection((host, port), timeout=30)
    sock.sendall(head + b"x" * 100)
    started = time.time()
    answer = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    except socket.timeout:
        raise SystemExit(f"FAIL the stalled PUT was neither answered nor closed in 30 s (got {answer[:200]!r})")
    return answer, time.time() - started


def main():
    s3 = s3util.client()
    s3.create_bucket(Bucket="stall")
    answer, elapsed = stalled("stall/obj", 1 << 20)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
    assert b"RequestTimeout" in answer, answer[:600]
    assert elapsed < 20, f"answered after {elapsed:.1f} s"
    # A body s3s reads whole before the handler (an XML body: PutObjectTagging) gets the same
    # answer, not a 500 that clients would retry.
    tag_answer, _ = stalled("stall/obj", 2000, query="tagging")
    assert tag_answer.startswith(b"HTTP/1.1 400") and b"RequestTimeout" in tag_answer, tag_answer[:600]
    try:
        s3.head_object(Bucket="stall", Key="obj")
        raise SystemExit("FAIL the stalled object was stored")
    except ClientError as e:
        assert s3util.err_status(e) == 404, s3util.err_status(e)
    assert in_flight() == 0, in_flight()
    # A whole upload on the same server still works.
    s3.put_object(Bucket="stall", Key="whole", Body=b"y" * 100_000)
    print(f"ok: answered 400 RequestTimeout after {elapsed:.1f} s and closed")


if __name__ == "__main__":
    main()
