#!/usr/bin/env bash
# Every benchmark of BENCHMARKS.md in one run, each beside the reference it is read against:
# the codec and hashes (memcpy, MD5), the in-memory pipeline, one raw QUIC stream and TCP
# loopback, chunk reads from the page cache, the embedded server against a loopback cluster
# and a group of 3 gateways (small, 1 MiB and 64 MiB objects), repair after a lost node, and
# drains against a raw copy of the same disk.
# Usage: scripts/bench-all.sh [OUT_DIR]   (default: a new directory under /tmp)
# Writes one file per step into OUT_DIR (markdown tables, the scripts' JSON lines) and prints
# where. Takes ~20 minutes on two cores. Needs a release build (`make build` or
# KINTSUGI_BIN=...), and python3 for the tables.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${1:-$(mktemp -d /tmp/kintsugi-bench-all.XXXXXX)}
mkdir -p "$OUT_DIR"
step() { echo "== $1 → $OUT_DIR/$2" >&2; }
{
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "date: $(date -u +%FT%TZ)"
  echo "cpus: $(nproc); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)"
  echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
} >"$OUT_DIR/machine.txt"

criterion() { # criterion NAME CARGO-ARGS...: run a criterion bench, keep its table
  local name=$1; shift
  step "$name" "$name.md"
  cargo bench --locked "$@" 2>/dev/null | python3 scripts/criterion_table.py >"$OUT_DIR/$name.md"
}
criterion codec --workspace --bench codec -- --warm-up-time 1 --measurement-time 2 --noplot
criterion pipeline --workspace --bench pipeline -- --warm-up-time 1 --measurement-time 3 --noplot
criterion quic --workspace --bench quic -- --warm-up-time 1 --measurement-time 3 --noplot
criterion disk-read -p kintsugi-disk --bench read -- --warm-up-time 1 --measurement-time 4 --noplot

step "embedded, cluster and a group of 3: 4 KiB at c16" throughput-4KiB.md
OUT=$OUT_DIR/throughput-4KiB.jsonl TARGETS="embedded cluster group3" scripts/bench-cluster.sh 10s 4KiB 16 6 >"$OUT_DIR/throughput-4KiB.md"
step "embedded, cluster and a group of 3: 1 MiB at c16, 64 MiB at c4" throughput.md
OUT=$OUT_DIR/throughput-1MiB.jsonl TARGETS="embedded cluster group3" scripts/bench-cluster.sh 10s 1MiB 16 6 >"$OUT_DIR/throughput.md"
OUT=$OUT_DIR/throughput-64MiB.jsonl TARGETS="embedded cluster group3" scripts/bench-cluster.sh 10s 64MiB 4 6 | tail -n +3 >>"$OUT_DIR/throughput.md"

step "repair after a lost node" repair.json
scripts/bench-repair.sh 2048 64MiB 7 2 2>/dev/null | tail -1 >"$OUT_DIR/repair.json"
step "drain against a raw copy" drain.json
scripts/bench-drain.sh 3072 64MiB 7 2>/dev/null | tail -1 >"$OUT_DIR/drain.json"

echo "$OUT_DIR"
