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
# shellcheck source=scripts/lib-cluster.sh
. scripts/lib-cluster.sh
start_cluster "$NODES" --down-after 1 --lost-after $LOST_AFTER --repair-interval 0.5 --repair-concurrency "$CONC"
put_data "$DATA_MIB" "$SIZE"
victim=${node_pids[2]}
held=$(du -sb "$work/n3/disk1/shards" | cut -f1)
kill -KILL "$victim"
t0=$(date +%s.%N)
# Polled with shell pattern matches on the pretty JSON, not a python3 per poll: on two cores a
# python3 start (through pyenv shims, where installed) every 0.2 s took ~12% of the machine's
# CPU from the repair being measured (perf, 2026-12-07).
while :; do
  s=$(admin repair status)
  if [[ $s == *'"full_redundancy": true'* && $s == *'"lost_disks": ['* && $s != *'"lost_disks": []'* ]]; then break; fi
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
    "shards_rebuilt": r["shards_rebuilt"], "shards_rebuilt_by_nodes": r["shards_rebuilt_by_nodes"],
    "bytes_rebuilt": r["bytes_rebuilt"], "bytes_read": r["bytes_read"],
    "read_amplification": round(r["bytes_read"] / max(1, r["bytes_rebuilt"]), 2),
    "rebuild_mib_per_s_busy": round(r["rebuild_mib_per_s"], 1),
    "rebuild_mib_per_s_wall": round(r["bytes_rebuilt"] / 2**20 / max(0.001, t1 - t0 - int(sys.argv[9])), 1),
}
print(json.dumps(out))
PY
