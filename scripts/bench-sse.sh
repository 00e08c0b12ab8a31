#!/usr/bin/env bash
# SSE-S3 against plain on the embedded server, in the same run: one fresh server per size,
# a plain bucket and one with default encryption (AES256), the same `kintsugi bench` on
# each. Usage: scripts/bench-sse.sh [DURATION] [SIZES] [CONCURRENCY]
#   e.g. scripts/bench-sse.sh 10s "4KiB 1MiB 64MiB" 8
# Prints one markdown row per size (SSE-S3 as a ratio of plain).
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10s}
SIZES=${2:-"4KiB 1MiB 64MiB"}
C=${3:-8}
source scripts/lib-bin.sh
AK=benchbenchbench SK=benchbenchbenchbenchbench
echo "| size | c | plain PUT MiB/s | SSE-S3 PUT MiB/s | ratio | plain GET MiB/s | SSE-S3 GET MiB/s | ratio |"
echo "|---|---|---|---|---|---|---|---|"
for size in $SIZES; do
  work=$(mktemp -d)
  export KINTSUGI_CONFIG=$work/client.toml
  args=()
  for i in 1 2 3 4 5 6; do args+=(--data "$work/disk$i"); done
  "$BIN" server "${args[@]}" --meta "$work/meta" --listen 127.0.0.1:0 \
    --access-key $AK --secret-key $SK >"$work/out" 2>"$work/err" &
  pid=$!
  for _ in $(seq 100); do grep -q '^S3 endpoint' "$work/out" 2>/dev/null && break; sleep 0.1; done
  ep=$(sed -n 's/^S3 endpoint: //p' "$work/out")
  # The encrypted bucket: default encryption AES256, so every bench PUT is SSE-S3.
  AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK python3 - "$ep" <<'PY'
import sys, boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
s3.create_bucket(Bucket="bench-sse")
s3.put_bucket_encryption(Bucket="bench-sse", ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
PY
  run() {
    AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK "$BIN" bench --endpoint "$ep" --bucket "$1" \
      --size "$size" --concurrency "$C" --duration "$DUR" --json | tail -1
  }
  plain=$(run bench-plain)
  sse=$(run bench-sse)
  kill -TERM $pid; wait $pid || true
  rm -rf "$work"
  python3 scripts/bench_compare.py mib_per_s "$size" "$C" -- "$plain" "$sse"
done
