# Sourced by the cluster benchmark scripts: build the binary, start a gateway
# and NODES storage nodes (one disk each) on loopback under a temp dir, wait
# until all are up. Sets BIN, work, ep, node_pids; `admin ARGS` runs
# `kintsugi admin ARGS --json` against the gateway. Everything is stopped and
# removed on exit.
# Usage: start_cluster NODES [extra gateway flags...]
# KINTSUGI_BIN=PATH runs that binary instead of building this checkout's (to measure two
# commits side by side in one run).
source "$(dirname "${BASH_SOURCE[0]}")/lib-bin.sh"
export AWS_ACCESS_KEY_ID=benchbenchbench AWS_SECRET_ACCESS_KEY=benchbenchbenchbenchbench
work=$(mktemp -d)
export KINTSUGI_CONFIG=$work/client.toml
pids=()
node_pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

admin() { "$BIN" admin "$@" --json --endpoint "$ep"; }

start_cluster() {
  local nodes=$1; shift
  "$BIN" gateway --meta "$work/gw" --listen 127.0.0.1:0 --cluster-listen 127.0.0.1:0 --token-file "$work/token" \
    --access-key "$AWS_ACCESS_KEY_ID" --secret-key "$AWS_SECRET_ACCESS_KEY" "$@" >"$work/out" 2>"$work/gw.err" &
  pids+=($!)
  for i in $(seq 1 "$nodes"); do
    "$BIN" storage --name "n$i" --data "$work/n$i/disk1" --state "$work/n$i/state" --listen 127.0.0.1:0 \
      --join-file "$work/token" --heartbeat 0.3 2>"$work/n$i.err" >/dev/null &
    pids+=($!); node_pids+=($!)
  done
  for _ in $(seq 200); do grep -q '^S3 endpoint' "$work/out" 2>/dev/null && break; sleep 0.1; done
  ep=$(sed -n 's/^S3 endpoint: //p' "$work/out")
  local up=0
  for _ in $(seq 300); do
    up=$(admin status 2>/dev/null | python3 -c 'import json,sys; print(sum(n["state"]=="up" for n in json.load(sys.stdin)["nodes"]))' 2>/dev/null || echo 0)
    [ "$up" = "$nodes" ] && return 0
    sleep 0.1
  done
  echo "only $up of $nodes nodes came up; see $work" >&2
  return 1
}

# put_data DATA_MIB OBJECT_SIZE: write about DATA_MIB of objects of OBJECT_SIZE with `kintsugi bench --keep`.
put_data() {
  local size_mib count
  size_mib=$(python3 -c "import re,sys; m=re.fullmatch(r'(\d+)(KiB|MiB|GiB)', sys.argv[1]); print(int(m[1]) * {'KiB':1/1024,'MiB':1,'GiB':1024}[m[2]])" "$2")
  count=$(python3 -c "import math,sys; print(max(1, math.ceil($1 / $size_mib)))")
  "$BIN" bench --endpoint "$ep" --size "$2" --count "$count" --concurrency 4 --phases put --keep --json >"$work/put.json"
}
