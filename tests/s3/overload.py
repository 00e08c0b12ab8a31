"""Overload drill (tests/overload.rs), against a server started with --max-connections 1100,
--max-requests 8 and a long --header-timeout.

1. 1,000 connections held open (half idle, half sending half a request head): a real client
   is still served and the server's RSS grows by a bounded amount.
2. 200 more: those over the connection cap are answered 503 SlowDown and closed.
3. 8 PUTs that hold their request slots (bodies sent in part): the next request is 503
   SlowDown, /metrics is still answered; once the bodies are sent, requests are served.

Usage: overload.py SERVER_PID
"""

import resource
import socket
import sys
import time
import urllib.request

from botocore.exceptions import ClientError

import s3util

MiB = 1 << 20


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SystemExit("no VmRSS")


def host_port():
    ep = s3util.endpoint().split("//", 1)[1]
    host, port = ep.rsplit(":", 1)
    return host, int(port)


def metrics():
    with urllib.request.urlopen(f"{s3util.endpoint()}/metrics", timeout=10) as r:
        out = {}
        for line in r.read().decode().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out


def wait_metric(name, ok, what, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if ok(metrics().get(name, -1)):
            return
        time.sleep(0.1)
    raise SystemExit(f"{name} never became {what}: {metrics().get(name)}")


def served(s3, bucket, key, size, seed):
    body = s3util.data(seed, size)
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert got == body, f"{key}: wrong bytes back"


def main(pid):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    host, port = host_port()
    s3 = s3util.client()
    s3.create_bucket(Bucket="load")
    served(s3, "load", "before", MiB, 1)
    rss_before = rss_kib(pid)

    # 1. 1,000 idle or slow connections.
    held = []
    for i in range(1000):
        s = socket.create_connection((host, port), timeout=10)
        if i % 2:
            s.sendall(b"PUT /load/slow HTTP/1.1\r\nHost: x\r\nContent-Le")
        held.append(s)
    # A new client, on a new connection.
    served(s3util.client(), "load", "during", MiB, 2)
    rss_during = rss_kib(pid)
    grew = (rss_during - rss_before) / 1024
    print(f"RSS {rss_before / 1024:.1f} MiB before, {rss_during / 1024:.1f} MiB with 1,000 connections open (+{grew:.1f} MiB)")
    assert grew < 128, f"the server's RSS grew by {grew:.1f} MiB for 1,000 idle connections"

    # 2. Over the connection cap: 503 SlowDown, then closed. At most 100 more fit under it.
    extra = [socket.create_connection((host, port), timeout=10) for _ in range(200)]
    time.sleep(2)
    accepted = refused = closed = 0
    for s in extra:
        s.setblocking(False)
        try:
            data = s.recv(4096)
        except BlockingIOError:
            accepted += 1
            continue
        except ConnectionResetError:
            closed += 1
            continue
        if data.startswith(b"HTTP/1.1 503") and b"<Code>SlowDown</Code>" in data:
            refused += 1
        elif not data:
            closed += 1
        else:
            raise SystemExit(f"an unexpected answer to a connection over the cap: {data[:200]!r}")
    print(f"of 200 connections past 1,000: {accepted} held, {refused} answered 503 SlowDown, {closed} closed")
    assert accepted <= 100, f"{accepted} connections were held past 1,000 with a cap of 1,100"
    assert refused >= 1, "no connection over the cap was answered 503 SlowDown"
    for s in held + extra:
        s.close()
    # Left open: the scrape's own and the boto3 clients' pooled connections.
    wait_metric("kintsugi_http_connections_open", lambda v: 0 < v <= 5, "at most 5", timeout=30)
    m = metrics()
    assert m["kintsugi_http_connections_refused_total"] >= refused, m

    # 3. Eight requests in progress hold every request slot.
    slow = []
    for i in range(8):
        h, p, head = s3util.signed_put_head(f"load/held-{i}", 1000)
        s = socket.create_connection((h, p), timeout=30)
        s.sendall(head + b"x" * 10)
        slow.append(s)
    wait_metric("kintsugi_http_requests_in_flight", lambda v: v == 8, "8")
    try:
        s3.list_objects_v2(Bucket="load")
        raise SystemExit("a ninth request was worked on with --max-requests 8")
    except ClientError as e:
        code = e.response["Error"]["Code"]
        status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        assert (code, status) == ("SlowDown", 503), (code, status)
    assert metrics()["kintsugi_http_requests_refused_total"] >= 1
    for s in slow:
        s.sendall(b"x" * 990)
        answer = s.recv(4096)
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        s.close()
    wait_metric("kintsugi_http_requests_in_flight", lambda v: v == 0, "0")
    served(s3, "load", "after", MiB, 3)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="load")["Contents"]}
    assert {f"held-{i}" for i in range(8)} <= keys, keys
    print("ok")


if __name__ == "__main__":
    main(int(sys.argv[1]))
