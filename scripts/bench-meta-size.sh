#!/usr/bin/env bash
# Bytes of metadata per object: N one-segment objects (a few bytes each) into an embedded
# server (4+2) with `kintsugi cp -r`, stopped before and after (which flushes RocksDB's
# memtables): the growth of the metadata directory's SST files, divided by N.
# Usage: scripts/bench-meta-size.sh [N]      e.g. scripts/bench-meta-size.sh 5000
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib-bin.sh
N=${1:-5000}
w=$(mktemp -d); export KINTSUGI_CONFIG=$w/c.toml AWS_ACCESS_KEY_ID=measuremeasure AWS_SECRET_ACCESS_KEY=measuremeasuremeasure
mkdir -p $w/src; for i in $(seq 1 $N); do printf 'x%.0s' $(seq 1 $((i % 7 + 1))) > $w/src/object-key-$(printf %06d $i).txt; done
args=(); for i in 1 2 3 4 5 6; do args+=(--data $w/d$i); done
$BIN server "${args[@]}" --meta $w/meta --listen 127.0.0.1:0 --access-key $AWS_ACCESS_KEY_ID --secret-key $AWS_SECRET_ACCESS_KEY > $w/out 2>$w/err & pid=$!
for _ in $(seq 100); do grep -q '^S3 endpoint' $w/out && break; sleep 0.1; done
ep=$(sed -n 's/^S3 endpoint: //p' $w/out)
$BIN mb s3://measure --endpoint $ep >/dev/null
kill -TERM $pid; wait $pid || true
before=$(find $w/meta -name '*.sst' -printf '%s\n' | awk '{s+=$1} END {print s+0}')
$BIN server "${args[@]}" --meta $w/meta --listen 127.0.0.1:0 --access-key $AWS_ACCESS_KEY_ID --secret-key $AWS_SECRET_ACCESS_KEY > $w/out 2>$w/err & pid=$!
for _ in $(seq 100); do grep -q '^S3 endpoint' $w/out && break; sleep 0.1; done
ep=$(sed -n 's/^S3 endpoint: //p' $w/out)
$BIN cp -r -q $w/src/ s3://measure/ --endpoint $ep
kill -TERM $pid; wait $pid || true
after=$(find $w/meta -name '*.sst' -printf '%s\n' | awk '{s+=$1} END {print s+0}')
echo "objects $N: sst bytes before $before, after $after, per object $(( (after - before) / N ))"
rm -rf $w
