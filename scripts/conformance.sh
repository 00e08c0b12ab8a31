#!/usr/bin/env bash
# S3 conformance: the ceph/s3-tests suite's usual selection (test_s3.py and test_headers.py,
# leaving out what is vendor- or deployment-specific, IAM/STS/SNS, Select, website, bucket
# logging and lifecycle transitions/expiration waits: 599 tests at s3-tests 8f0ae7b) against a
# fresh `kintsugi server` (6 disk directories, EC 4+2). A measurement, not part of `make test`.
#
# Usage: scripts/conformance.sh S3TESTS_DIR [OUT_DIR]
#   S3TESTS_DIR  a checkout of https://github.com/ceph/s3-tests (not fetched here)
#   OUT_DIR      where the venv, the server's data, junit.xml and run.log go (default: a new
#                temporary directory; a venv already there is reused)
# The suite's Python requirements are installed into OUT_DIR/venv from PyPI. The binary is
# this checkout's, built now (release), or KINTSUGI_BIN=PATH (scripts/lib-bin.sh).
# Users: "main" is the root key (an admin), "alt" and "tenant" are keys made with
# `kintsugi admin key create` (not admins). Prints pytest's summary line last.
set -euo pipefail
suite=${1:?usage: scripts/conformance.sh S3TESTS_DIR [OUT_DIR]}
suite=$(cd "$suite" && pwd)
out=${2:-$(mktemp -d)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/.."
source scripts/lib-bin.sh

if [ ! -x "$out/venv/bin/pytest" ]; then
  python3 -m venv "$out/venv"
  grep -v '^tox' "$suite/requirements.txt" >"$out/requirements.txt"
  "$out/venv/bin/pip" install -q -r "$out/requirements.txt" pytest-timeout
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ep="http://127.0.0.1:$port"
rand() { python3 -c "import secrets, sys; print(secrets.token_hex(int(sys.argv[1])))" "$1"; }
export KINTSUGI_CONFIG="$out/client.toml"
export KINTSUGI_ACCESS_KEY="KT$(rand 9 | tr a-f A-F)" KINTSUGI_SECRET_KEY="$(rand 20)"
data="$out/data-$(date +%s)"
disks=()
for i in 1 2 3 4 5 6; do disks+=(--data "$data/d$i"); done
# The suite speaks plain HTTP, SSE-C tests included: --sse-c-over-http lets those run, as
# Ceph's own runs turn off rgw_crypt_require_ssl.
"$BIN" server --listen "127.0.0.1:$port" --ec 4+2 --meta "$data/meta" "${disks[@]}" --sse-c-over-http >"$out/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
ready=0
for _ in $(seq 300); do
  kill -0 "$server" 2>/dev/null || { echo "conformance: the server stopped; see $out/server.log" >&2; exit 1; }
  if curl -s -m 2 -o /dev/null "$ep"; then ready=1; break; fi
  sleep 0.2
done
[ "$ready" = 1 ] || { echo "conformance: the server did not answer within 60 s; see $out/server.log" >&2; exit 1; }

key() {
  AWS_ACCESS_KEY_ID=$KINTSUGI_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$KINTSUGI_SECRET_KEY \
    "$BIN" admin key create --name "$1" --json --endpoint "$ep" |
    python3 -c 'import json, sys; k = json.load(sys.stdin); print(k["access_key"], k["secret_key"])'
}
alt=$(key s3tests-alt)
tenant=$(key s3tests-tenant)
read -r alt_ak alt_sk <<<"$alt"
read -r ten_ak ten_sk <<<"$tenant"
[ -n "$alt_sk" ] && [ -n "$ten_sk" ] || { echo "conformance: could not make the suite's keys" >&2; exit 1; }

# The suite reads the IAM sections whatever runs; they hold placeholders (IAM is not selected).
cat >"$out/s3tests.conf" <<EOF
[DEFAULT]
host = 127.0.0.1
port = $port
is_secure = False
ssl_verify = False

[fixtures]
bucket prefix = kt-{random}-
iam name prefix = s3-tests-
iam path prefix = /s3-tests/

[s3 main]
display_name = $KINTSUGI_ACCESS_KEY
user_id = $KINTSUGI_ACCESS_KEY
email = main@example.com
api_name = default
access_key = $KINTSUGI_ACCESS_KEY
secret_key = $KINTSUGI_SECRET_KEY

[s3 alt]
display_name = $alt_ak
user_id = $alt_ak
email = alt@example.com
access_key = $alt_ak
secret_key = $alt_sk

[s3 tenant]
display_name = $ten_ak
user_id = $ten_ak
email = tenant@example.com
access_key = $ten_ak
secret_key = $ten_sk
tenant = testx

[iam]
email = iam@example.com
user_id = placeholder
access_key = PLACEHOLDERIAMKEY000
secret_key = placeholder0000000000000000000000000000
display_name = placeholder

[iam root]
access_key = PLACEHOLDERROOTKEY00
secret_key = placeholder0000000000000000000000000000
user_id = RGW11111111111111111
email = account1@example.com

[iam alt root]
access_key = PLACEHOLDERALTROOT00
secret_key = placeholder0000000000000000000000000000
user_id = RGW22222222222222222
email = account2@example.com
EOF

skip=(fails_on_aws fails_on_rgw fails_on_mod_proxy_fcgi fails_on_dho fails_with_subdomain appendobject
  bucket_logging bucket_logging_cleanup fails_without_logging_rollover lifecycle_expiration
  lifecycle_transition cloud_transition cloud_restore target_by_bucket s3select s3website
  s3website_routing_rules s3website_redirect_location sns iam_account iam_cross_account iam_user
  iam_role iam_tenant role_policy user_policy group group_policy session_policy abac_test test_of_sts
  webidentity_test token_claims_trust_policy_test token_principal_tag_role_policy_test
  token_request_tag_trust_policy_test token_resource_tags_test token_role_tags_test token_tag_keys_test)
expr=$(printf 'not %s and ' "${skip[@]}")
expr=${expr% and }

cd "$suite"
set +e
S3TEST_CONF="$out/s3tests.conf" "$out/venv/bin/pytest" s3tests/functional/test_s3.py s3tests/functional/test_headers.py \
  -m "$expr" --timeout 120 -p no:cacheprovider --junitxml="$out/junit.xml" -q -rfE >"$out/run.log" 2>&1
set -e
echo "conformance: junit $out/junit.xml, log $out/run.log, server log $out/server.log"
tail -n 1 "$out/run.log"
