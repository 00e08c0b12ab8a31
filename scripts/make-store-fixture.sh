#!/usr/bin/env bash
# Make the store fixture tests/upgrade.rs opens: a `kintsugi server` of one release (BIN)
# with 6 disks (4+2), objects of every kind (tests/s3/fixture.py make), a non-admin key
# owning a bucket, an overwrite, a delete and an open upload; stopped cleanly and packed as
# OUT (a .tar.gz of disk1..disk6, meta, expect.json and keys.json).
#
#   git worktree add /tmp/old <commit> && (cd /tmp/old && cargo build --release --locked --bin kintsugi)
#   scripts/make-store-fixture.sh <target>/release/kintsugi tests/fixtures/store-<commit>.tar.gz "kintsugi at <commit>"
set -euo pipefail
BIN=$(realpath "$1")
OUT=$(realpath -m "$2")
HERE=$(cd "$(dirname "$0")/.." && pwd)
ROOT=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$ROOT"' EXIT
AK=AKFIXTURE0000000000A
SK=fixture-secret-key-0000000000000000000000
mkdir -p "$ROOT/cwd"
args=()
for i in 1 2 3 4 5 6; do args+=(--data "$ROOT/disk$i"); done
(cd "$ROOT/cwd" && exec "$BIN" server "${args[@]}" --meta "$ROOT/meta" --ec 4+2 --chunk-size 65536 \
    --listen 127.0.0.1:0 --access-key "$AK" --secret-key "$SK" >"$ROOT/out" 2>"$ROOT/log") &
PID=$!
for _ in $(seq 100); do grep -q '^S3 endpoint: ' "$ROOT/out" 2>/dev/null && break; sleep 0.1; done
EP=$(sed -n 's/^S3 endpoint: //p' "$ROOT/out")
[ -n "$EP" ] || { cat "$ROOT/log"; exit 1; }
export AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK AWS_DEFAULT_REGION=us-east-1 S3_ENDPOINT=$EP
TEAM=$("$BIN" admin key create --name team --json --endpoint "$EP")
export TEAM_ACCESS_KEY=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["access_key"])' <<<"$TEAM")
export TEAM_SECRET_KEY=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["secret_key"])' <<<"$TEAM")
python3 "$HERE/tests/s3/fixture.py" make "$ROOT"
printf '{"access_key":"%s","secret_key":"%s","team_access_key":"%s","team_secret_key":"%s","made_by":"%s"}\n' \
    "$AK" "$SK" "$TEAM_ACCESS_KEY" "$TEAM_SECRET_KEY" "${3:-$("$BIN" --version)}" >"$ROOT/keys.json"
kill -TERM "$PID"; wait "$PID" || true
mkdir -p "$(dirname "$OUT")"
tar -C "$ROOT" --exclude "meta/LOG*" -czf "$OUT" disk1 disk2 disk3 disk4 disk5 disk6 meta expect.json keys.json
echo "wrote $OUT ($(du -h "$OUT" | cut -f1))"
