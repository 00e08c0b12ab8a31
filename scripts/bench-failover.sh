#!/usr/bin/env bash
# Failover time of a group of 3 gateways (metadata replicated with Raft) on loopback:
# the time from SIGKILL of the leader to the first successful PUT through a survivor,
# which retries every 50 ms. 3 storage nodes, EC 2+1. One fresh cluster per round.
# Usage: scripts/bench-failover.sh [ROUNDS] [RAFT_HEARTBEAT]
#   e.g. scripts/bench-failover.sh 5 0.25
# Prints one line per round and the median; a benchmark, never a test assertion.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
HB=${2:-0.25}
source scripts/lib-bin.sh
export AWS_ACCESS_KEY_ID=benchbenchbench AWS_SECRET_ACCESS_KEY=benchbenchbenchbenchbench
pids=()
cleanup() { for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; pids=(); }
trap cleanup EXIT

endpoint() { for _ in $(seq 300); do grep -q '^S3 endpoint' "$1" 2>/dev/null && break; sleep 0.1; done; sed -n 's/^S3 endpoint: //p' "$1"; }

times=()
for round in $(seq 1 "$ROUNDS"); do
  work=$(mktemp -d)
  export KINTSUGI_CONFIG=$work/client.toml
  common=(--ec 2+1 --raft-heartbeat "$HB" --access-key "$AWS_ACCESS_KEY_ID" --secret-key "$AWS_SECRET_ACCESS_KEY" --listen 127.0.0.1:0 --cluster-listen 127.0.0.1:0)
  "$BIN" gateway --name gw1 --meta "$work/gw1" --token-file "$work/token" "${common[@]}" >"$work/out1" 2>"$work/err1" &
  pids+=($!); gpid[1]=$!
  ep[1]=$(endpoint "$work/out1")
  gtok=$("$BIN" admin gateway join-token --endpoint "${ep[1]}")
  for g in 2 3; do
    "$BIN" gateway --name gw$g --meta "$work/gw$g" --join "$gtok" "${common[@]}" >"$work/out$g" 2>"$work/err$g" &
    pids+=($!); gpid[$g]=$!
    ep[$g]=$(endpoint "$work/out$g")
  done
  for i in 1 2 3; do
    "$BIN" storage --name "n$i" --data "$work/n$i/disk1" --state "$work/n$i/state" --listen 127.0.0.1:0 \
      --join-file "$work/token" --heartbeat 0.3 2>"$work/n$i.err" >/dev/null &
    pids+=($!)
  done
  head -c 1048576 /dev/urandom >"$work/obj"
  "$BIN" mb s3://failover --endpoint "${ep[2]}" >/dev/null
  # Wait until gw2 can write (its nodes up), then kill the leader.
  for _ in $(seq 300); do "$BIN" put -q "$work/obj" s3://failover/warm --endpoint "${ep[2]}" 2>/dev/null && break; sleep 0.1; done
  leader=$("$BIN" admin gateway list --json --endpoint "${ep[2]}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["leader"])')
  n=${leader#gw}
  writer=2; [ "$n" = 2 ] && writer=3
  t0=$(date +%s%N)
  kill -KILL "${gpid[$n]}"
  until "$BIN" put -q "$work/obj" s3://failover/after --endpoint "${ep[$writer]}" 2>/dev/null; do sleep 0.05; done
  t1=$(date +%s%N)
  ms=$(( (t1 - t0) / 1000000 ))
  echo "round $round: leader $leader killed; first write through gw$writer after $ms ms"
  times+=("$ms")
  cleanup
  rm -rf "$work"
done
printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "median %d ms over %d rounds (min %d, max %d)\n", a[int((NR+1)/2)], NR, a[1], a[NR]}'
