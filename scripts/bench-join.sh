#!/usr/bin/env bash
# Time to add a gateway to a group that holds N objects: one gateway and 3 storage nodes
# (EC 2+1) on loopback, N one-segment objects written with `kintsugi cp -r`, then a second
# gateway started with `--join`: the time from its start to "joined the gateway group as a
# voter" (it has the snapshot and the log, and votes), and to its first byte-exact GET.
# Also prints the snapshot's size and both gateways' peak memory (VmHWM). A benchmark, never a
# test assertion.
# Usage: [OBJECT_BYTES=B] scripts/bench-join.sh [N]      e.g. scripts/bench-join.sh 100000
# OBJECT_BYTES: every object that many bytes (default: 1–97 bytes, varying); up to
# --inline-max (16 KiB) they are kept with the metadata, so they are in the snapshot.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
source scripts/lib-bin.sh
export AWS_ACCESS_KEY_ID=benchbenchbench AWS_SECRET_ACCESS_KEY=benchbenchbenchbenchbench
w=$(mktemp -d); export KINTSUGI_CONFIG=$w/client.toml
pids=()
cleanup() { for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$w"; }
trap cleanup EXIT
endpoint() { for _ in $(seq 600); do grep -q '^S3 endpoint' "$1" 2>/dev/null && break; sleep 0.1; done; sed -n 's/^S3 endpoint: //p' "$1"; }
common=(--ec 2+1 --access-key "$AWS_ACCESS_KEY_ID" --secret-key "$AWS_SECRET_ACCESS_KEY" --listen 127.0.0.1:0 --cluster-listen 127.0.0.1:0)
"$BIN" gateway --name gw1 --meta "$w/gw1" --token-file "$w/token" "${common[@]}" >"$w/out1" 2>"$w/err1" & pids+=($!)
ep1=$(endpoint "$w/out1")
for i in 1 2 3; do
  "$BIN" storage --name "n$i" --data "$w/n$i/disk1" --state "$w/n$i/state" --listen 127.0.0.1:0 --join-file "$w/token" --heartbeat 0.3 2>"$w/n$i.err" >/dev/null & pids+=($!)
done
mkdir -p "$w/src"
python3 - "$w/src" "$N" "${OBJECT_BYTES:-0}" <<'PY'
import os, sys
d, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    sub = os.path.join(d, f"{i // 1000:03d}")
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, f"object-{i:07d}.txt"), "wb") as f:
        f.write(os.urandom(size) if size else b"x" * (i % 97 + 1))
PY
for _ in $(seq 300); do "$BIN" mb s3://joinbench --endpoint "$ep1" >/dev/null 2>&1 && break; sleep 0.2; done
t0=$(date +%s%N)
"$BIN" cp -r -q "$w/src/" s3://joinbench/ --endpoint "$ep1"
t1=$(date +%s%N)
echo "wrote $N objects in $(( (t1 - t0) / 1000000 )) ms"
gtok=$("$BIN" admin gateway join-token --endpoint "$ep1")
t0=$(date +%s%N)
"$BIN" gateway --name gw2 --meta "$w/gw2" --join "$gtok" "${common[@]}" >"$w/out2" 2>"$w/err2" & pids+=($!)
until grep -q 'joined the gateway group as a voter' "$w/err2"; do sleep 0.05; done
t1=$(date +%s%N)
ep2=$(endpoint "$w/out2")
last=$(printf '%03d/object-%07d.txt' $(( (N - 1) / 1000 )) $(( N - 1 )))
until "$BIN" get -q "s3://joinbench/$last" "$w/back" --endpoint "$ep2" 2>/dev/null; do sleep 0.05; done
t2=$(date +%s%N)
# The snapshot the newcomer received: a file under raft-snapshots/ (before: raft-snapshot).
snap=$( { cat "$w"/gw2/raft-snapshots/*.snap "$w/gw2/raft-snapshot" 2>/dev/null || true; } | wc -c)
hwm() { sed -n 's/^VmHWM:[[:space:]]*//p' "/proc/$1/status" 2>/dev/null || echo "?"; }
echo "objects $N: joined as a voter after $(( (t1 - t0) / 1000000 )) ms; first GET through it after $(( (t2 - t0) / 1000000 )) ms; snapshot $snap bytes"
echo "peak memory (VmHWM): leader gw1 $(hwm "${pids[0]}"), newcomer gw2 $(hwm "${pids[${#pids[@]}-1]}")"
