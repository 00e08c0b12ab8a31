#!/usr/bin/env bash
# Time to full redundancy after losing one storage node, on a loopback
# cluster (1 gateway + NODES nodes, EC 4+2, real processes).
# Usage: scripts/bench-repair.sh [DATA_MIB] [OBJECT_SIZE] [NODES] [CONCURRENCY]
#   e.g. scripts/bench-repair.sh 1024 64MiB 7 2
# Writes DATA_MIB of objects with `kintsugi bench --phases put --keep`, kills
# one node with SIGKILL, and polls `kintsugi admin repair status --json` until
# every shard is back on a usable disk. Prints one JSON line with the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA_MIB=${1:-1024}
SIZE=${2:-64MiB}
NODES=${3:-7}
CONC=${4:-2}
LOST_AFTER=2
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/kintsugi-target}
cargo build --release --locked --bin kintsugi >&2
BIN=$CARGO_TARGET_DIR/release/kintsugi
export AWS_ACCESS_KEY_ID=benchbenchbench AWS_SECRET_ACCESS_KEY=benchbenchbenchbenchbench
work=$(mktemp -d)
export KINTSUGI_CONFIG=$work/client.toml
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

"$BIN" gateway --meta "$work/gw" --listen 127.0.0.1:0 --cluster-listen 127.0.0.1:0 --token-file "$work/token" \
  --access-key "$AWS_ACCESS_KEY_ID" --secret-key "$AWS_SECRET_ACCESS_KEY" --down-after 1 --lost-after $LOST_AFTER \
  --repair-interval 0.5 --repair-concurrency "$CONC" >"$work/out" 2>"$work/gw.err" &
pids+=($!)
node_pids=()
for i in $(seq 1 "$NODES"); do
  "$BIN" storage --name "n$i" --data "$work/n$i/disk1" --state "$work/n$i/state" --listen 127.0.0.1:0 \
    --join-file "$work/token" --heartbeat 0.3 2>"$work/n$i.err" >/dev/null &
  pids+=($!); node_pids+=($!)
done
for _ in $(seq 200); do grep -q '^S3 endpoint' "$work/out" 2>/dev/null && break; sleep 0.1; done
ep=$(sed -n 's/^S3 endpoint: //p' "$work/out")
status() { "$BIN" admin "$@" --json --endpoint "$ep"; }
for _ in $(seq 300); do
  up=$(status status 2>/dev/null | python3 -c 'import json,sys; print(sum(n["state"]=="up" for n in json.load(sys.stdin)["nodes"]))' 2>/dev/null || echo 0)
  [ "$up" = "$NODES" ] && break
  sleep 0.1
done
size_mib=$(python3 -c "import re,sys; m=re.fullmatch(r'(\d+)(KiB|MiB|GiB)', sys.argv[1]); print(int(m[1]) * {'KiB':1/1024,'MiB':1,'GiB':1024}[m[2]])" "$SIZE")
count=$(python3 -c "import math,sys; print(max(1, math.ceil($DATA_MIB / $size_mib)))")
"$BIN" bench --endpoint "$ep" --size "$SIZE" --count "$count" --concurrency 4 --phases put --keep --json >"$work/put.json"
victim=${node_pids[2]}
held=$(du -sb "$work/n3/disk1/shards" | cut -f1)
kill -KILL "$victim"
t0=$(date +%s.%N)
while :; do
  s=$(status repair status)
  if python3 -c 'import json,sys; r=json.loads(sys.argv[1]); sys.exit(0 if r["full_redundancy"] and r["lost_disks"] else 1)' "$s"; then break; fi
  sleep 0.2
done
t1=$(date +%s.%N)
python3 - "$s" "$t0" "$t1" "$held" "$DATA_MIB" "$SIZE" "$NODES" "$CONC" "$LOST_AFTER" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); t0, t1 = float(sys.argv[2]), float(sys.argv[3])
out = {
    "data_mib": int(sys.argv[5]), "object_size": sys.argv[6], "nodes": int(sys.argv[7]), "repair_concurrency": int(sys.argv[8]),
    "victim_shard_bytes_on_disk": int(sys.argv[4]), "lost_after_s": int(sys.argv[9]),
    "seconds_kill_to_full_redundancy": round(t1 - t0, 2),
    "seconds_repairing": round(t1 - t0 - int(sys.argv[9]), 2),
    "shards_rebuilt": r["shards_rebuilt"], "bytes_rebuilt": r["bytes_rebuilt"], "bytes_read": r["bytes_read"],
    "read_amplification": round(r["bytes_read"] / max(1, r["bytes_rebuilt"]), 2),
    "rebuild_mib_per_s_busy": round(r["rebuild_mib_per_s"], 1),
    "rebuild_mib_per_s_wall": round(r["bytes_rebuilt"] / 2**20 / max(0.001, t1 - t0 - int(sys.argv[9])), 1),
}
print(json.dumps(out))
PY
