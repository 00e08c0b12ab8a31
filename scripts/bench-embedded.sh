#!/usr/bin/env bash
# Throughput of the embedded server measured with `kintsugi bench`, one fresh
# server per (size, concurrency) so each row's peak RSS (VmHWM) is its own.
# Usage: scripts/bench-embedded.sh [DURATION] [SIZES] [CONCURRENCIES]
#   e.g. scripts/bench-embedded.sh 10s "1MiB 64MiB" "1 8"
# Prints one markdown row per configuration and the raw JSON lines to
# $OUT (default /tmp/kintsugi-bench.jsonl).
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10s}
SIZES=${2:-"4KiB 1MiB 64MiB"}
CONCS=${3:-"1 8 32"}
OUT=${OUT:-/tmp/kintsugi-bench.jsonl}
source scripts/lib-bin.sh
: > "$OUT"
echo "| size | concurrency | PUT MiB/s | PUT ops/s | PUT p50 / p99 ms | GET MiB/s | GET ops/s | GET p50 / p99 ms | server peak RSS |"
echo "|---|---|---|---|---|---|---|---|---|"
for size in $SIZES; do
  for c in $CONCS; do
    work=$(mktemp -d)
    export KINTSUGI_CONFIG=$work/client.toml
    args=()
    for i in 1 2 3 4 5 6; do args+=(--data "$work/disk$i"); done
    "$BIN" server "${args[@]}" --meta "$work/meta" --listen 127.0.0.1:0 \
      --access-key benchbenchbench --secret-key benchbenchbenchbenchbench >"$work/out" 2>"$work/err" &
    pid=$!
    for _ in $(seq 100); do grep -q '^S3 endpoint' "$work/out" 2>/dev/null && break; sleep 0.1; done
    ep=$(sed -n 's/^S3 endpoint: //p' "$work/out")
    line=$(AWS_ACCESS_KEY_ID=benchbenchbench AWS_SECRET_ACCESS_KEY=benchbenchbenchbenchbench \
      "$BIN" bench --endpoint "$ep" --size "$size" --concurrency "$c" --duration "$DUR" --json | tail -1)
    hwm=$(awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' /proc/$pid/status)
    kill -TERM $pid; wait $pid || true
    rm -rf "$work"
    echo "$line" >> "$OUT"
    python3 - "$line" "$size" "$c" "$hwm" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); p = {x["phase"]: x for x in r["phases"]}
u, g = p["put"], p["get"]
assert u["errors"] == 0 and g["errors"] == 0 and g["verify_failures"] == 0, r
print(f"| {sys.argv[2]} | {sys.argv[3]} | {u['mib_per_s']:.1f} | {u['ops_per_s']:.1f} | {u['p50_ms']:.1f} / {u['p99_ms']:.1f} "
      f"| {g['mib_per_s']:.1f} | {g['ops_per_s']:.1f} | {g['p50_ms']:.1f} / {g['p99_ms']:.1f} | {sys.argv[4]} |")
PY
  done
done
