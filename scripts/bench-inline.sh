#!/usr/bin/env bash
# Small objects kept with the metadata (inline) against the same objects as shards, on the
# embedded server, in the same run: for every size and concurrency, one fresh server with
# `--inline-max 0` (every object as k+m shards) and one with `--inline-max MAX`, the same
# `kintsugi bench` on each (every GET byte verified).
# Usage: scripts/bench-inline.sh [DURATION] [SIZES] [CONCURRENCIES] [MAX]
#   e.g. scripts/bench-inline.sh 10s "4KiB 16KiB 64KiB" "1 16" 256KiB
# Prints one markdown row per size and concurrency (inline as a ratio of shards).
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10s}
SIZES=${2:-"4KiB 16KiB 64KiB"}
CS=${3:-"1 16"}
MAX=${4:-256KiB}
source scripts/lib-bin.sh
AK=benchbenchbench SK=benchbenchbenchbenchbench

# One server with `--inline-max $1`, one bench of size $2 at concurrency $3: its JSON line.
measure() {
  local work pid ep
  work=$(mktemp -d)
  local args=()
  for i in 1 2 3 4 5 6; do args+=(--data "$work/disk$i"); done
  "$BIN" server "${args[@]}" --meta "$work/meta" --listen 127.0.0.1:0 --inline-max "$1" \
    --access-key $AK --secret-key $SK >"$work/out" 2>"$work/err" &
  pid=$!
  for _ in $(seq 100); do grep -q '^S3 endpoint' "$work/out" 2>/dev/null && break; sleep 0.1; done
  ep=$(sed -n 's/^S3 endpoint: //p' "$work/out")
  KINTSUGI_CONFIG=$work/client.toml AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK "$BIN" bench --endpoint "$ep" \
    --bucket bench --size "$2" --concurrency "$3" --duration "$DUR" --json | tail -1
  kill -TERM $pid; wait $pid || true
  rm -rf "$work"
}

echo "| size | c | shards PUT ops/s | inline PUT ops/s | ratio | shards GET ops/s | inline GET ops/s | ratio |"
echo "|---|---|---|---|---|---|---|---|"
for size in $SIZES; do
  for c in $CS; do
    shards=$(measure 0 "$size" "$c")
    inline=$(measure "$MAX" "$size" "$c")
    python3 scripts/bench_compare.py ops_per_s "$size" "$c" -- "$shards" "$inline"
  done
done
