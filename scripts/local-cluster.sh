#!/usr/bin/env bash
# A local cluster on loopback: one `kintsugi gateway` and N `kintsugi storage`
# nodes (default 6, EC 4+2), each a real process with its own directories
# under DIR (default ./kintsugi-cluster). Ctrl-C stops them all; running it
# again restarts the same cluster with its data (nodes keep their identity).
#
#   scripts/local-cluster.sh [NODES] [DIR]        (make cluster NODES=6)
#
# Environment: KINTSUGI_BIN (binary), S3_PORT (default 9000), EC (default 4+2),
# KINTSUGI_ACCESS_KEY/KINTSUGI_SECRET_KEY (else generated on first start and
# saved to the client config like `kintsugi server` does).
set -euo pipefail

nodes=${1:-6}
dir=${2:-./kintsugi-cluster}
bin=${KINTSUGI_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/kintsugi-target}/release/kintsugi}
s3_port=${S3_PORT:-9000}
ec=${EC:-4+2}

if [ ! -x "$bin" ]; then
  echo "local-cluster: no kintsugi binary at $bin; run 'make build' first (or set KINTSUGI_BIN)" >&2
  exit 1
fi
case "$nodes" in ''|*[!0-9]*) echo "local-cluster: NODES must be a number, got '$nodes'" >&2; exit 1 ;; esac

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
pids=()
stop() {
  trap - INT TERM EXIT
  echo "local-cluster: stopping ${#pids[@]} processes" >&2
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

token_file="$dir/gateway/join-token"
rm -f "$token_file"
"$bin" gateway --meta "$dir/gateway" --listen "127.0.0.1:$s3_port" --cluster-listen 127.0.0.1:0 \
  --ec "$ec" --token-file "$token_file" &
pids+=($!)

for i in $(seq 1 "$nodes"); do
  n="$dir/node$i"
  mkdir -p "$n"
  "$bin" storage --name "node$i" --data "$n/disk1" --state "$n/state" --listen 127.0.0.1:0 \
    --join-file "$token_file" >>"$n/node.log" 2>&1 &
  pids+=($!)
done
echo "local-cluster: gateway + $nodes storage nodes under $dir (node logs: $dir/node*/node.log)" >&2
echo "local-cluster: try '$bin admin status' once the nodes have joined; Ctrl-C stops everything" >&2
wait -n "${pids[@]}" || true
echo "local-cluster: a process exited; stopping the rest" >&2
