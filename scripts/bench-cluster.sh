#!/usr/bin/env bash
# Throughput of a loopback cluster (1 gateway + NODES storage nodes, EC 4+2,
# real processes) measured with `kintsugi bench`, beside the embedded server
# measured the same way in the same run. One fresh cluster / server per row.
# Usage: scripts/bench-cluster.sh [DURATION] [SIZES] [CONCURRENCIES] [NODES]
#   e.g. scripts/bench-cluster.sh 10s "1MiB 64MiB" "1 8" 6
# TARGETS="embedded cluster group3" adds a group of 3 gateways (metadata replicated
# with Raft; the bench talks to the first, the leader): the price of replication.
# FLAGS="--inline-max 0" adds flags to every `kintsugi server` and `kintsugi gateway`.
# PROFILE=DIR records a CPU profile of the whole machine (perf, DWARF call graphs, every
# process: bench client, gateway, nodes) during each row's GET phase (DURATION in seconds,
# e.g. 10s; PROFILE_PHASE=put profiles the PUT phase instead), and writes
# DIR/<target>-<size>-c<conc>-<phase>.{folded,svg,txt}: folded stacks whose roots are the
# processes' roles (gateway, storage n1, bench client …), a flame graph, and the share of
# CPU per role with its busiest functions. Needs perf and inferno
# (`cargo install inferno`).
# Prints one markdown row per (target, size, concurrency); raw JSON lines go
# to $OUT (default /tmp/kintsugi-bench-cluster.jsonl).
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10s}
SIZES=${2:-"1MiB 64MiB"}
CONCS=${3:-"1 8"}
NODES=${4:-6}
PHASE=${PROFILE_PHASE:-get}
case $PHASE in get | put) ;; *) echo "bench-cluster: PROFILE_PHASE is put or get" >&2; exit 2 ;; esac
OUT=${OUT:-/tmp/kintsugi-bench-cluster.jsonl}
source scripts/lib-bin.sh
AK=benchbenchbench
SK=benchbenchbenchbenchbench
: > "$OUT"

pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; pids=(); }
trap cleanup EXIT

# start TARGET WORK: starts an embedded server or a cluster; sets $ep and $gw_pid.
start() {
  local target=$1 work=$2
  if [ "$target" = embedded ]; then
    local args=()
    for i in 1 2 3 4 5 6; do args+=(--data "$work/disk$i"); done
    # shellcheck disable=SC2086 # FLAGS is a list of words
    "$BIN" server "${args[@]}" --meta "$work/meta" --listen 127.0.0.1:0 ${FLAGS:-} \
      --access-key $AK --secret-key $SK >"$work/out" 2>"$work/err" &
    gw_pid=$!; pids+=($gw_pid)
  else
    # shellcheck disable=SC2086
    "$BIN" gateway --name gw1 --meta "$work/gw" --listen 127.0.0.1:0 --cluster-listen 127.0.0.1:0 ${FLAGS:-} \
      --token-file "$work/token" --access-key $AK --secret-key $SK >"$work/out" 2>"$work/err" &
    gw_pid=$!; pids+=($gw_pid)
    if [ "$target" = group3 ]; then
      for _ in $(seq 200); do grep -q '^S3 endpoint' "$work/out" 2>/dev/null && break; sleep 0.1; done
      local ep1 gtok
      ep1=$(sed -n 's/^S3 endpoint: //p' "$work/out")
      gtok=$(AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK "$BIN" admin gateway join-token --endpoint "$ep1")
      for g in 2 3; do
        # shellcheck disable=SC2086
        "$BIN" gateway --name gw$g --meta "$work/gw$g" --listen 127.0.0.1:0 --cluster-listen 127.0.0.1:0 ${FLAGS:-} \
          --join "$gtok" --access-key $AK --secret-key $SK >"$work/out$g" 2>"$work/err$g" &
        pids+=($!)
        for _ in $(seq 300); do grep -q '^S3 endpoint' "$work/out$g" 2>/dev/null && break; sleep 0.1; done
      done
    fi
    for i in $(seq 1 "$NODES"); do
      "$BIN" storage --name "n$i" --data "$work/n$i/disk1" --state "$work/n$i/state" \
        --listen 127.0.0.1:0 --join-file "$work/token" 2>"$work/n$i.err" >/dev/null &
      pids+=($!)
    done
  fi
  for _ in $(seq 200); do grep -q '^S3 endpoint' "$work/out" 2>/dev/null && break; sleep 0.1; done
  ep=$(sed -n 's/^S3 endpoint: //p' "$work/out")
  if [ "$target" != embedded ]; then
    for _ in $(seq 300); do
      up=$(AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK "$BIN" admin status --json --endpoint "$ep" 2>/dev/null |
        python3 -c 'import json,sys; print(sum(n["state"]=="up" for n in json.load(sys.stdin)["nodes"]))' 2>/dev/null || echo 0)
      [ "$up" = "$NODES" ] && break
      sleep 0.1
    done
    [ "$up" = "$NODES" ] || { echo "bench-cluster: only $up of $NODES nodes came up" >&2; exit 1; }
  fi
}

# profile_start NAME: perf records the whole machine from 1 s into the GET phase (which starts
# after the PUT phase's DURATION; or into the PUT phase, with PROFILE_PHASE=put) to 1 s
# before its end.
profile_start() {
  local secs=${DUR%s}
  case $secs in '' | *[!0-9]*) echo "bench-cluster: PROFILE needs DURATION in seconds, e.g. 10s" >&2; exit 2 ;; esac
  [ "$secs" -ge 4 ] || { echo "bench-cluster: PROFILE needs DURATION >= 4s" >&2; exit 2; }
  local lead=1 # into the PUT phase
  if [ "$PHASE" = get ]; then lead=$((secs + 1)); fi
  mkdir -p "$PROFILE"
  (
    sleep "$lead"
    ps -eo pid,args | grep '[k]intsugi' >"$PROFILE/$1.procs"
    exec perf record -a -F 199 --call-graph dwarf,16384 -o "$PROFILE/$1.data" -- sleep $((secs - 2))
  ) >"$PROFILE/$1.record.log" 2>&1 &
  perf_pid=$!
}

# profile_report NAME: stacks with each process named by its role, a flame graph, and the
# share of CPU per role with each role's busiest functions (scripts/profile_roles.py).
profile_report() {
  local d=$PROFILE/$1
  if ! command -v inferno-collapse-perf >/dev/null; then
    echo "bench-cluster: PROFILE needs inferno (cargo install inferno); $d.data is kept" >&2
    return
  fi
  perf script -i "$d.data" -F comm,pid,tid,cpu,time,event,ip,sym,dso,trace 2>/dev/null |
    inferno-collapse-perf --pid >"$d.pids.folded"
  python3 scripts/profile_roles.py "$d.procs" "$d.pids.folded" "$d.folded" "$d.txt"
  inferno-flamegraph --title "$1: $PHASE phase, whole machine" <"$d.folded" >"$d.svg"
  rm -f "$d.pids.folded" "$d.procs" "$d.data" "$d.record.log"
}

echo "| target | size | concurrency | PUT MiB/s | PUT ops/s | PUT p50 / p99 ms | GET MiB/s | GET ops/s | GET p50 / p99 ms |"
echo "|---|---|---|---|---|---|---|---|---|"
for size in $SIZES; do
  for c in $CONCS; do
    for target in ${TARGETS:-embedded cluster}; do
      work=$(mktemp -d)
      export KINTSUGI_CONFIG=$work/client.toml
      start "$target" "$work"
      if [ -n "${PROFILE:-}" ]; then
        profile_start "$target-$size-c$c-$PHASE"
      fi
      line=$(AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK \
        "$BIN" bench --endpoint "$ep" --size "$size" --concurrency "$c" --duration "$DUR" --json | tail -1)
      if [ -n "${PROFILE:-}" ]; then
        wait "$perf_pid"
      fi
      cleanup
      if [ -n "${PROFILE:-}" ]; then
        profile_report "$target-$size-c$c-$PHASE"
      fi
      rm -rf "$work"
      echo "{\"target\":\"$target\",\"result\":$line}" >> "$OUT"
      python3 - "$line" "$target" "$size" "$c" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); p = {x["phase"]: x for x in r["phases"]}
u, g = p["put"], p["get"]
assert u["errors"] == 0 and g["errors"] == 0 and g["verify_failures"] == 0, r
print(f"| {sys.argv[2]} | {sys.argv[3]} | {sys.argv[4]} | {u['mib_per_s']:.1f} | {u['ops_per_s']:.1f} | {u['p50_ms']:.1f} / {u['p99_ms']:.1f} "
      f"| {g['mib_per_s']:.1f} | {g['ops_per_s']:.1f} | {g['p50_ms']:.1f} / {g['p99_ms']:.1f} |")
PY
    done
  done
done
