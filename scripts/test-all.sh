#!/usr/bin/env bash
# `make test`: every test, all of them even when one fails, then one summary.
#
#   1. the versions of the tools and S3 clients this run uses (a failure can be
#      matched to a client version);
#   2. `cargo test --no-fail-fast` over the workspace: every test binary runs
#      even when an earlier one failed;
#   3. the full-scale heal and drain acceptance (KINTSUGI_ACCEPTANCE=1);
#   4. the docker compose cluster test (scripts/test-docker.sh).
# Ends with every failed test by name and "summary: N passed, M failed"; exits
# non-zero when anything failed, so CI (.ci/run) fails too.
#
# Environment: CARGO (default cargo), CARGO_TARGET_DIR (set by the Makefile).
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
cargo="${CARGO:-cargo}"
target_dir="${CARGO_TARGET_DIR:-$HOME/.cache/kintsugi-target}"
export CARGO_TARGET_DIR="$target_dir"
logs="$(mktemp -d "${TMPDIR:-/tmp}/kintsugi-test.XXXXXX")"

version() { # name, command...
  local name="$1"; shift
  local v
  v="$("$@" 2>&1 | head -n 1)" || v="not available"
  printf '  %-8s %s\n' "$name" "${v:-not available}"
}
echo "== versions"
version rustc rustc --version
version python python3 --version
version boto3 python3 -c 'import boto3, botocore; print("boto3", boto3.__version__, "botocore", botocore.__version__)'
version aws aws --version
version rclone rclone version
version s3cmd s3cmd --version
version docker docker --version

failed_steps=()
step() { # name, log file, command...
  local name="$1" log="$2"; shift 2
  echo "== $name"
  "$@" 2>&1 | tee "$log"
  local rc="${PIPESTATUS[0]}"
  [ "$rc" = 0 ] || failed_steps+=("$name (exit $rc)")
}

step "cargo test (every test binary)" "$logs/cargo.log" \
  "$cargo" test --release --locked --workspace --no-fail-fast
step "acceptance (full-scale heal and drain)" "$logs/acceptance.log" \
  env KINTSUGI_ACCEPTANCE=1 "$cargo" test --release --locked --workspace --no-fail-fast --test heal --test lifecycle
step "docker compose cluster" "$logs/docker.log" \
  env KINTSUGI_BIN="$target_dir/release/kintsugi" scripts/test-docker.sh

# Totals from cargo's "test result:" lines and the docker script's "docker: N passed, M failed".
read -r passed failed < <(
  cat "$logs/cargo.log" "$logs/acceptance.log" "$logs/docker.log" | awk '
    /^test result: / { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } }
    /^docker: [0-9]+ passed, [0-9]+ failed/ { p += $2; f += $4 }
    END { print p + 0, f + 0 }')
echo "== summary"
grep -h -E '^test .* \.\.\. FAILED$' "$logs/cargo.log" "$logs/acceptance.log" | sed 's/^/  failed: /'
grep -h -E '^docker: FAILED' "$logs/docker.log" | sed 's/^/  failed: /'
for s in "${failed_steps[@]}"; do echo "  step failed: $s"; done
echo "  logs: $logs"
if [ "${#failed_steps[@]}" -gt 0 ] && [ "$failed" = 0 ]; then
  failed=1 # a step failed without a failed test line (a build error, a crash): still a failure
fi
echo "summary: $passed passed, $failed failed"
[ "${#failed_steps[@]}" = 0 ]
