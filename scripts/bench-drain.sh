#!/usr/bin/env bash
# Drain throughput on a loopback cluster (1 gateway + NODES nodes, one disk
# each, EC 4+2, real processes), as a ratio to a raw copy of the same disk
# directory measured in the same run (cp -r + sync on the same file system).
# Usage: scripts/bench-drain.sh [DATA_MIB] [OBJECT_SIZE] [NODES]
#   e.g. scripts/bench-drain.sh 1024 64MiB 7
# Writes DATA_MIB of objects with `kintsugi bench --phases put --keep`, copies
# node 3's disk directory once (the reference), then drains that disk with
# `kintsugi admin disk drain --wait` and prints one JSON line with the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA_MIB=${1:-1024}
SIZE=${2:-64MiB}
NODES=${3:-7}
# shellcheck source=scripts/lib-cluster.sh
. scripts/lib-cluster.sh
start_cluster "$NODES" --repair-interval 0.5
put_data "$DATA_MIB" "$SIZE"
disk=$(admin status | python3 -c 'import json,sys; print(next(d["id"] for d in json.load(sys.stdin)["disks"] if d["node"]=="n3"))')
held=$(du -sb "$work/n3/disk1/shards" | cut -f1)
# Reference: a raw copy of the same shard files on the same file system, made durable.
sync; c0=$(date +%s.%N)
cp -r "$work/n3/disk1/shards" "$work/rawcopy"; sync
c1=$(date +%s.%N)
rm -rf "$work/rawcopy"; sync
t0=$(date +%s.%N)
admin disk drain "$disk" --wait >"$work/drain.json"
t1=$(date +%s.%N)
python3 - "$work/drain.json" "$t0" "$t1" "$c0" "$c1" "$held" "$DATA_MIB" "$SIZE" "$NODES" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); t0, t1, c0, c1 = map(float, sys.argv[2:6]); held = int(sys.argv[6])
moved = r["bytes_at_start"] - r["bytes_remaining"]
drain = moved / 2**20 / max(0.001, t1 - t0)
raw = held / 2**20 / max(0.001, c1 - c0)
print(json.dumps({
    "data_mib": int(sys.argv[7]), "object_size": sys.argv[8], "nodes": int(sys.argv[9]),
    "state": r["state"], "shards_moved": r["shards_at_start"] - r["shards_remaining"], "shard_mib_moved": round(moved / 2**20, 1),
    "shard_files_mib_on_disk": round(held / 2**20, 1), "seconds_to_decommissioned": round(t1 - t0, 2),
    "drain_mib_per_s": round(drain, 1), "raw_copy_seconds": round(c1 - c0, 2), "raw_copy_mib_per_s": round(raw, 1),
    "drain_over_raw_copy": round(drain / raw, 2),
}))
PY
