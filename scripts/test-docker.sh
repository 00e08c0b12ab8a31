#!/usr/bin/env bash
# End-to-end test of the docker compose cluster (docker-compose.yml): three
# gateways + six storage nodes, EC 4+2, driven from the host with the aws cli.
#
#   scripts/test-docker.sh            (make test-docker)
#
# 1. builds the image (docker/build-image.sh, FROM scratch, tag kintsugi:dev)
# 2. starts the cluster under a unique compose project with random credentials
#    on a free 127.0.0.1 port; waits until `kintsugi admin status` shows 6 nodes up
# 3. uploads ~20 objects (0 B, 1 B, 1 MiB, 5 MiB, a 20 MiB multipart, random
#    small ones) and reads them all back, comparing sha256
# 4. stops 2 storage containers: reads everything back byte-exact, sees them
#    reported down, writes one more object; starts them again, waits for 6 up
# 5. disconnects one node container from the compose network: reads everything
#    back byte-exact (parity, hedged reads); reconnects it, waits for 6 up, reads again
# 6. the gateway group (3 gateways, one Raft group): stops the leader's container, writes
#    and reads everything through a survivor, starts it again; disconnects the new leader
#    from the network, writes through the others (a client inside the cut-off leader's network
#    namespace gets no write and no stale read from it), reconnects it and reads everything
#    through it (the refused write does not appear)
# 7. always tears the project down (down -v); dumps the last container logs on failure
#
# Prints "docker: N passed, N failed" as its last line; exits non-zero on failure.
# Without a usable docker it prints "docker: skipped: docker not available" and
# exits 0 — unless CI=true, where that is a failure.
#
# Environment: KINTSUGI_BIN (host binary, default ~/.cache/kintsugi-target/release/kintsugi),
# KINTSUGI_IMAGE (default kintsugi:dev), KINTSUGI_DOCKER_KEEP=1 (leave the cluster
# running after the test, for debugging; tear it down with the printed command).
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$HOME/.cache/kintsugi-target}"
bin="${KINTSUGI_BIN:-$target_dir/release/kintsugi}"
export KINTSUGI_IMAGE="${KINTSUGI_IMAGE:-kintsugi:dev}"

say() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }

not_available() {
  if [ "${CI:-}" = "true" ]; then
    echo "docker: FAILED: $1 (CI=true: the docker test must run in CI)" >&2
    echo "docker: 0 passed, 1 failed"
    exit 1
  fi
  echo "docker: skipped: docker not available ($1)"
  exit 0
}

# ---------------------------------------------------------------- prerequisites
command -v docker >/dev/null 2>&1 || not_available "no docker command"
docker info >/dev/null 2>&1 || not_available "docker info failed; is the daemon running and may this user use it?"
if docker compose version >/dev/null 2>&1; then
  COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null 2>&1 && docker-compose version >/dev/null 2>&1; then
  COMPOSE=(docker-compose)
else
  not_available "neither 'docker compose' nor 'docker-compose' works"
fi

fatal() { echo "docker: FAILED: $*" >&2; echo "docker: 0 passed, 1 failed"; exit 1; }
[ -x "$bin" ] || fatal "no kintsugi binary at $bin; build it first (make build) or set KINTSUGI_BIN"
command -v aws >/dev/null 2>&1 || fatal "the aws cli is missing (make deps-test installs it)"
command -v python3 >/dev/null 2>&1 || fatal "python3 is missing"
command -v sha256sum >/dev/null 2>&1 || fatal "sha256sum is missing"

# ---------------------------------------------------------------- per-run settings
work="$(mktemp -d "${TMPDIR:-/tmp}/kintsugi-docker-test.XXXXXX")"
project="kintsugi-test-$(date +%s)-$$"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
rand_hex() { python3 -c "import secrets; print(secrets.token_hex($1))"; }

# Pin every setting docker-compose.yml reads, so the caller's environment cannot change the test.
export KINTSUGI_S3_PORT="$(free_port)" KINTSUGI_S3_PORT2="$(free_port)" KINTSUGI_S3_PORT3="$(free_port)"
export KINTSUGI_ACCESS_KEY="KT$(rand_hex 9 | tr a-f A-F)"
export KINTSUGI_SECRET_KEY="$(rand_hex 20)"
export KINTSUGI_EC=4+2 KINTSUGI_DOWN_AFTER=3 KINTSUGI_LOST_AFTER=600 KINTSUGI_HEDGE_AFTER=0.25
export KINTSUGI_REQUEST_DEADLINE=5 KINTSUGI_HEARTBEAT=1 KINTSUGI_LOG_FORMAT=human RUST_LOG=info,s3s=warn
endpoint="http://127.0.0.1:$KINTSUGI_S3_PORT"

# Host-side clients: only this run's credentials and endpoint, no user config.
export AWS_ACCESS_KEY_ID="$KINTSUGI_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$KINTSUGI_SECRET_KEY"
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export AWS_CONFIG_FILE="$work/aws-config" AWS_SHARED_CREDENTIALS_FILE="$work/aws-credentials"
export KINTSUGI_CONFIG="$work/kintsugi-client.toml"
unset AWS_PROFILE AWS_ENDPOINT_URL AWS_SESSION_TOKEN KINTSUGI_PROFILE COMPOSE_FILE COMPOSE_PROJECT_NAME
# The multipart sizes pinned (the ETag check below counts parts), whatever the cli version's defaults.
printf '[default]\ns3 =\n  multipart_threshold = 8MB\n  multipart_chunksize = 8MB\n' >"$AWS_CONFIG_FILE"
: >"$AWS_SHARED_CREDENTIALS_FILE"

compose() { "${COMPOSE[@]}" --project-name "$project" --file "$repo/docker-compose.yml" "$@"; }
s3() { timeout 300 aws --endpoint-url "$endpoint" "$@"; }
status_json() { timeout 15 "$bin" admin status --json --endpoint "$endpoint" 2>"$work/status.err"; }

passed=0 failed=0 started=0 finished=0
t_start=$(date +%s)
pass() { passed=$((passed + 1)); say "PASS  $*"; }
fail() { failed=$((failed + 1)); say "FAIL  $*"; }

finish() {
  local rc=$?
  [ "$finished" = 1 ] && return
  finished=1
  trap - EXIT INT TERM
  if [ "$failed" -eq 0 ] && [ "$rc" -ne 0 ]; then failed=1; say "FAIL  aborted (exit status $rc)"; fi
  if [ "$started" = 1 ]; then
    if [ "$failed" -gt 0 ]; then
      echo "---- last status (kintsugi admin status) ----"
      timeout 15 "$bin" admin status --endpoint "$endpoint" 2>&1 || true
      echo "---- ${COMPOSE[*]} logs --tail 50 ----"
      compose logs --no-color --tail 50 2>&1 || true
      echo "---- end of logs ----"
    fi
    if [ "${KINTSUGI_DOCKER_KEEP:-}" = 1 ]; then
      say "KINTSUGI_DOCKER_KEEP=1: leaving project $project running on $endpoint"
      say "  credentials: AWS_ACCESS_KEY_ID=$KINTSUGI_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$KINTSUGI_SECRET_KEY"
      say "  remove it with: KINTSUGI_ACCESS_KEY=x KINTSUGI_SECRET_KEY=x ${COMPOSE[*]} -p $project -f $repo/docker-compose.yml down -v"
    else
      compose down -v --remove-orphans --timeout 5 >"$work/down.log" 2>&1 || { say "teardown failed:"; cat "$work/down.log"; }
    fi
  fi
  rm -rf "$work"
  say "took $(( $(date +%s) - t_start ))s"
  echo "docker: $passed passed, $failed failed"
  [ "$failed" -eq 0 ] && exit 0 || exit 1
}
trap finish EXIT
trap 'say "interrupted"; failed=$((failed + 1)); exit 130' INT TERM

# stop after a failed step that later steps depend on
must() { "$@" || exit 1; }

# nodes_state NAME... : print "up=U total=T" plus "name=state" for the given nodes
nodes_state() {
  status_json | python3 -c '
import json, sys
v = json.load(sys.stdin)
nodes = v.get("nodes") or []
by = {n.get("name"): n.get("state") for n in nodes}
out = ["up=%d" % sum(1 for n in nodes if n.get("state") == "up"), "total=%d" % len(nodes)]
out += ["%s=%s" % (name, by.get(name, "absent")) for name in sys.argv[1:]]
print(" ".join(out))' "$@" 2>>"$work/status.err"
}

# wait_for SECONDS DESCRIPTION PYTHON-CONDITION NODE... : poll admin status until the
# condition (over up, total and the states dict) holds
wait_for() {
  local secs=$1 what=$2 cond=$3; shift 3
  local end=$(( $(date +%s) + secs )) line="" t0; t0=$(date +%s)
  while :; do
    line="$(nodes_state "$@")"
    if [ -n "$line" ] && python3 -c '
import sys
kv = dict(x.split("=", 1) for x in sys.argv[2].split())
up, total = int(kv.pop("up")), int(kv.pop("total"))
sys.exit(0 if eval(sys.argv[1], {}, {"up": up, "total": total, "st": kv}) else 1)' "$cond" "$line"; then
      pass "$what ($line, after $(( $(date +%s) - t0 ))s)"
      return 0
    fi
    if [ "$(date +%s)" -ge "$end" ]; then
      fail "$what: not within ${secs}s (last: ${line:-no answer: $(tail -n 2 "$work/status.err" 2>/dev/null | tr '\n' ' ')})"
      return 1
    fi
    sleep 1
  done
}

# ---------------------------------------------------------------- test data
src="$work/src"
mkdir -p "$src/nested/dir"
rnd() { head -c "$2" /dev/urandom >"$src/$1"; }
rnd empty.bin 0
rnd one-byte.bin 1
rnd one-mib.bin $((1024 * 1024))
rnd five-mib-plus.bin $((5 * 1024 * 1024 + 7))
rnd twenty-mib-multipart.bin $((20 * 1024 * 1024))
for i in $(seq 1 10); do rnd "small-$i.bin" $(( (RANDOM * 32768 + RANDOM) % 262144 + 2 )); done
for i in $(seq 1 5); do rnd "nested/dir/obj-$i.dat" $(( (RANDOM * 32768 + RANDOM) % 65536 + 2 )); done
(cd "$src" && find . -type f | sed 's|^\./||' | sort | xargs sha256sum) >"$work/manifest"
nobj=$(wc -l <"$work/manifest")
bucket="kintsugi-docker-$(rand_hex 4)"

# verify LABEL : download the whole bucket and compare every object's sha256 (and the count)
verify() {
  local label=$1 dst="$work/dst" t0 out; t0=$(date +%s.%N)
  rm -rf "$dst"; mkdir -p "$dst"
  if ! out="$(s3 s3 cp --recursive --only-show-errors "s3://$bucket/" "$dst/" 2>&1)"; then
    fail "$label: download failed: $(tail -n 5 <<<"$out")"; return 1
  fi
  local got; got=$(find "$dst" -type f | wc -l)
  if ! out="$(cd "$dst" && sha256sum --check --quiet "$work/manifest" 2>&1)"; then
    fail "$label: content differs: $(head -n 5 <<<"$out")"; return 1
  fi
  if [ "$got" -ne "$(wc -l <"$work/manifest")" ]; then
    fail "$label: downloaded $got objects, expected $(wc -l <"$work/manifest")"; return 1
  fi
  pass "$label: $got objects byte-exact ($(python3 -c "import time; print('%.1f' % (time.time() - $t0))")s)"
}

# placement LABEL EXCLUDED KEY... : read each object's erasure layout (`kintsugi stat --json`;
# with STAT_VERIFY=1 `--verify`, which reads every chunk of every shard on its node) and check
# that every segment has all k+m shards healthy (a small object's inline segment: its bytes
# there) and, when EXCLUDED is "-", on k+m distinct
# nodes; when EXCLUDED names nodes (comma-separated, down when the object was written): at
# least k shards placed, all healthy, on distinct nodes none of which is excluded, the rest
# recorded as not placed (never two on one node); "any" checks health only.
placement() {
  local label=$1 excluded=$2 out; shift 2
  if out="$(python3 - "$bin" "$endpoint" "$bucket" "$excluded" "${STAT_VERIFY:-0}" "$@" 2>&1 <<'PY'
import json, subprocess, sys
from collections import Counter
binary, endpoint, bucket, excluded, verify, keys = sys.argv[1:6] + [sys.argv[6:]]
excl = set() if excluded in ("-", "any") else set(excluded.split(","))
bad, nodes_used, segs, inline = [], set(), 0, 0
for key in keys:
    r = subprocess.run([binary, "stat", "--json", "--endpoint", endpoint, f"s3://{bucket}/{key}"] + (["--verify"] if verify == "1" else []),
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        bad.append(f"{key}: stat failed: {r.stderr.strip()[-300:]}"); continue
    layout = json.loads(r.stdout).get("layout")
    if not layout:
        bad.append(f"{key}: no erasure layout"); continue
    k, m = layout["k"], layout["m"]
    for seg in layout.get("segments") or []:
        if "inline" in seg:  # a small object kept with the metadata: no shards, its bytes there
            inline += 1
            if seg["inline"] != "ok":
                bad.append(f"{key} segment {seg.get('index')}: kept with the metadata: {seg['inline']}")
            continue
        segs += 1
        shards = seg.get("shards") or []
        placed = [sh for sh in shards if sh.get("health") != "not-placed"]
        per_node = Counter(sh["node"] for sh in placed)
        nodes_used.update(per_node)
        where = f"{key} segment {seg.get('index')}: " + " ".join(f"{sh['index']}@{sh['node']}:{sh.get('health')}" for sh in shards)
        if excl:
            if len(shards) != k + m or len(placed) < k or any(sh.get("health") != "ok" for sh in placed):
                bad.append(f"{where}: not at least {k} healthy shards")
            elif set(per_node) & excl or max(per_node.values()) > 1:
                bad.append(f"{where}: bad placement with {sorted(excl)} down (two shards on one node, or one on a down node)")
        elif len(shards) != k + m or any(sh.get("health") != "ok" for sh in shards):
            bad.append(f"{where}: not {k + m} healthy shards")
        elif excluded == "-" and len(per_node) != k + m:
            bad.append(f"{where}: not on {k + m} distinct nodes")
if bad:
    print("; ".join(bad[:5]) + (f" (+{len(bad) - 5} more)" if len(bad) > 5 else ""))
    sys.exit(1)
print(f"{segs} segments, {inline} kept with the metadata, nodes used: {' '.join(sorted(nodes_used))}")
PY
)"; then
    pass "$label: $out"
  else
    fail "$label: $out"; return 1
  fi
}

# ---------------------------------------------------------------- 1. image
say "project $project, S3 on $endpoint, compose: ${COMPOSE[*]}"
t0=$(date +%s)
if "$repo/docker/build-image.sh" "$bin" >"$work/build.log" 2>&1; then
  pass "image $KINTSUGI_IMAGE built from $bin ($(( $(date +%s) - t0 ))s)"
else
  fail "image build"; cat "$work/build.log"; exit 1
fi

# ---------------------------------------------------------------- 2. cluster up
started=1
if ! compose up -d >"$work/up.log" 2>&1; then
  fail "compose up"; cat "$work/up.log"; exit 1
fi
must wait_for 120 "cluster up: 6 nodes up" 'up == 6 and total == 6'

# ---------------------------------------------------------------- 3. write + read
t0=$(date +%s)
if out="$(s3 s3 mb "s3://$bucket" 2>&1 && s3 s3 cp --recursive --only-show-errors "$src/" "s3://$bucket/" 2>&1)"; then
  listed=$(s3 s3 ls --recursive "s3://$bucket/" | wc -l)
  etag=$(s3 s3api head-object --bucket "$bucket" --key twenty-mib-multipart.bin --query ETag --output text 2>&1)
  if [ "$listed" -eq "$nobj" ] && [[ "$etag" == *-3* ]]; then
    pass "uploaded $nobj objects ($(du -sm "$src" | cut -f1) MiB; 20 MiB one multipart, ETag $etag) in $(( $(date +%s) - t0 ))s"
  else
    fail "upload: listing shows $listed objects (expected $nobj), multipart ETag $etag (expected a -3 suffix)"; exit 1
  fi
else
  fail "upload: $(tail -n 5 <<<"$out")"; exit 1
fi
placement "placement with 6 nodes up" - $(awk '{print $2}' "$work/manifest")
must verify "read back, all 6 nodes up"

# ---------------------------------------------------------------- 4. two nodes stopped
say "stopping node2 and node5"
compose stop --timeout 5 node2 node5 >"$work/stop.log" 2>&1 || { fail "compose stop"; cat "$work/stop.log"; exit 1; }
verify "read back with node2+node5 stopped"
wait_for 30 "node2 and node5 reported down" 'up == 4 and st["node2"] != "up" and st["node5"] != "up"' node2 node5
head -c $((3 * 1024 * 1024 + 11)) /dev/urandom >"$src/written-degraded.bin"
if out="$(s3 s3 cp --only-show-errors "$src/written-degraded.bin" "s3://$bucket/written-degraded.bin" 2>&1)"; then
  (cd "$src" && sha256sum written-degraded.bin) >>"$work/manifest"
  pass "PUT 3 MiB with node2+node5 stopped"
  placement "placement of the PUT with node2+node5 down" node2,node5 written-degraded.bin
else
  fail "PUT with node2+node5 stopped: $(tail -n 3 <<<"$out")"
  rm -f "$src/written-degraded.bin"
fi
say "starting node2 and node5 again"
compose start node2 node5 >"$work/start.log" 2>&1 || { fail "compose start"; cat "$work/start.log"; exit 1; }
must wait_for 60 "node2 and node5 back: 6 nodes up" 'up == 6 and total == 6'
# Repair places the shards the degraded PUT could not: back to full redundancy, every segment
# (the degraded object's too) on 6 distinct nodes, so that losing any 2 loses nothing.
full=""
for _ in $(seq 1 90); do
  full="$("$bin" admin repair status --json --endpoint "$endpoint" 2>/dev/null | python3 -c 'import json, sys; print(json.load(sys.stdin).get("full_redundancy"))' 2>/dev/null)"
  [ "$full" = "True" ] && break
  sleep 1
done
if [ "$full" = "True" ]; then
  pass "full redundancy after node2+node5 returned"
else
  fail "not back to full redundancy within 90 s after node2+node5 returned (last: ${full:-no answer})"
fi
placement "placement with all nodes back (the degraded PUT included)" - $(awk '{print $2}' "$work/manifest")

# ---------------------------------------------------------------- 5. one node partitioned
cid=$(compose ps -q node3)
net=$(docker inspect --format '{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{"\n"}}{{end}}' "$cid" | grep -m1 .)
say "disconnecting node3 ($cid) from network $net"
docker network disconnect "$net" "$cid" || { fail "docker network disconnect"; exit 1; }
verify "read back with node3 cut off the network"
wait_for 30 "node3 reported down while cut off" 'st["node3"] != "up"' node3
docker network connect --alias node3 "$net" "$cid" || { fail "docker network connect"; exit 1; }
say "reconnected node3"
must wait_for 60 "node3 back after reconnect: 6 nodes up" 'up == 6 and total == 6'
verify "read back after all nodes are back"
STAT_VERIFY=1 placement "every shard intact on its node after the faults (stat --verify)" any $(awk '{print $2}' "$work/manifest")

# ---------------------------------------------------------------- 6. the gateway group
declare -A gw_ep=([gateway]="http://127.0.0.1:$KINTSUGI_S3_PORT" [gateway2]="http://127.0.0.1:$KINTSUGI_S3_PORT2" [gateway3]="http://127.0.0.1:$KINTSUGI_S3_PORT3")
first_ep=$endpoint
# group_state ENDPOINT : "quorum=True members=3 leader=NAME" as that gateway reports the group
group_state() {
  timeout 15 "$bin" admin gateway list --json --endpoint "$1" 2>>"$work/status.err" |
    python3 -c 'import json,sys; g=json.load(sys.stdin); print("quorum=%s members=%d leader=%s" % (g.get("quorum"), len(g.get("gateways") or []), g.get("leader")))' 2>>"$work/status.err"
}
# wait_group SECONDS ENDPOINT DESCRIPTION : until that gateway sees 3 members and a quorum
wait_group() {
  local end=$(( $(date +%s) + $1 )) line=""
  while :; do
    line="$(group_state "$2")"
    if [[ "$line" == "quorum=True members=3 "* ]]; then pass "$3 ($line)"; return 0; fi
    if [ "$(date +%s)" -ge "$end" ]; then fail "$3: not within $1 s (last: ${line:-no answer})"; return 1; fi
    sleep 1
  done
}
# put_retry ENDPOINT FILE KEY SECONDS : PUT until it succeeds (a 503 while a leader is elected)
put_retry() {
  local end=$(( $(date +%s) + $4 ))
  until timeout 60 aws --endpoint-url "$1" s3 cp --only-show-errors "$2" "s3://$bucket/$3" >"$work/put.log" 2>&1; do
    [ "$(date +%s)" -ge "$end" ] && return 1
    sleep 0.5
  done
}

must wait_group 120 "$first_ep" "three gateways in one group"
leader=$(group_state "$first_ep" | sed -n 's/.*leader=//p')
[ -n "${gw_ep[$leader]:-}" ] || { fail "the leader '$leader' is not a gateway of this project"; exit 1; }
survivor=gateway2; [ "$leader" = gateway2 ] && survivor=gateway3
say "stopping the leader's container ($leader); writing through $survivor"
t0=$(date +%s)
compose stop --timeout 2 "$leader" >"$work/stop.log" 2>&1 || { fail "compose stop $leader"; cat "$work/stop.log"; exit 1; }
head -c $((2 * 1024 * 1024 + 5)) /dev/urandom >"$src/after-leader-stop.bin"
if put_retry "${gw_ep[$survivor]}" "$src/after-leader-stop.bin" after-leader-stop.bin 60; then
  (cd "$src" && sha256sum after-leader-stop.bin) >>"$work/manifest"
  pass "PUT through $survivor $(( $(date +%s) - t0 ))s after the leader ($leader) stopped"
else
  fail "no PUT through $survivor within 60 s of stopping the leader: $(tail -n 3 "$work/put.log")"
fi
endpoint=${gw_ep[$survivor]} verify "read back through $survivor with the leader stopped"
compose start "$leader" >"$work/start.log" 2>&1 || { fail "compose start $leader"; cat "$work/start.log"; exit 1; }
wait_group 60 "${gw_ep[$leader]}" "$leader back in the group"
endpoint=${gw_ep[$leader]} verify "read back through the old leader ($leader) after its restart"

# The leader cut off the network: the other two elect a leader and take writes; the old
# leader comes back as a follower and catches up.
cut=$(group_state "$first_ep" | sed -n 's/.*leader=//p')
[ -n "${gw_ep[$cut]:-}" ] || { fail "no leader to cut off (got '$cut')"; exit 1; }
other=gateway; [ "$cut" = gateway ] && other=gateway2
cid=$(compose ps -q "$cut")
say "disconnecting $cut ($cid) from network $net"
docker network disconnect "$net" "$cid" || { fail "docker network disconnect $cut"; exit 1; }
head -c $((1024 * 1024 + 3)) /dev/urandom >"$src/while-gateway-cut.bin"
t0=$(date +%s)
if put_retry "${gw_ep[$other]}" "$src/while-gateway-cut.bin" while-gateway-cut.bin 60; then
  (cd "$src" && sha256sum while-gateway-cut.bin) >>"$work/manifest"
  pass "PUT through $other $(( $(date +%s) - t0 ))s after the leader ($cut) was cut off the network"
else
  fail "PUT through $other with the leader ($cut) cut off: $(tail -n 3 "$work/put.log")"
fi
after=$(group_state "${gw_ep[$other]}" | sed -n 's/.*leader=//p')
if [ -n "$after" ] && [ "$after" != "$cut" ] && [ "$after" != None ]; then
  pass "a new leader ($after) while $cut is cut off"
else
  fail "no new leader while $cut is cut off (the group says: '$after')"
fi
# From the cut-off side: a client that still reaches the old leader (inside its network
# namespace, where its S3 port still listens) must not get a write accepted, nor a stale read
# (the object the majority took while it was cut off must not look absent). One attempt each,
# no client retries.
cut_pid=$(docker inspect -f '{{.State.Pid}}' "$cid")
inside() { AWS_MAX_ATTEMPTS=1 AWS_RETRY_MODE=standard timeout 90 nsenter --target "$cut_pid" --net -- "$@"; }
# What a refusal by a gateway without its group looks like (503 after its metadata timeout, or
# the client's own timeout); anything else (403, connection refused…) means the check is void.
refusal='(503)\|ServiceUnavailable\|SlowDown\|timed out\|Read timeout'
if [ -z "$cut_pid" ] || [ "$cut_pid" = 0 ] || ! inside true 2>/dev/null ||
   ! inside python3 -c 'import socket; socket.create_connection(("127.0.0.1", 9000), 5)' 2>/dev/null; then
  fail "cannot reach $cut's S3 port inside its network namespace (nsenter from util-linux and root are needed)"
else
  # Under --inline-max (16 KiB): stored with its metadata, so only the group can refuse it
  # (a larger object would be refused earlier, for want of storage nodes).
  head -c 9001 /dev/urandom >"$src/split-brain.bin"
  if inside aws --endpoint-url http://127.0.0.1:9000 s3 cp --only-show-errors "$src/split-brain.bin" "s3://$bucket/split-brain.bin" >"$work/split.log" 2>&1; then
    fail "the cut-off old leader ($cut) accepted a write"
  elif grep -q "$refusal" "$work/split.log"; then
    pass "the cut-off old leader ($cut) refused a write: $(grep -o "$refusal" "$work/split.log" | head -n 1)"
  else
    fail "the write through the cut-off old leader ($cut) failed, but not as a refusal: $(tail -n 2 "$work/split.log")"
  fi
  if inside aws --endpoint-url http://127.0.0.1:9000 s3api head-object --bucket "$bucket" --key while-gateway-cut.bin >"$work/split-read.log" 2>&1; then
    fail "the cut-off old leader ($cut) answered a read it cannot know is current"
  elif grep -q "$refusal" "$work/split-read.log"; then
    pass "the cut-off old leader ($cut) refused a read it could not confirm"
  else
    fail "the read through the cut-off old leader ($cut) failed, but not as a refusal (a stale 404?): $(tail -n 2 "$work/split-read.log")"
  fi
fi
docker network connect --alias "$cut" "$net" "$cid" || { fail "docker network connect $cut"; exit 1; }
say "reconnected $cut"
wait_group 60 "${gw_ep[$cut]}" "$cut back in the group after reconnect"
endpoint=${gw_ep[$cut]} verify "read back through $cut after it rejoined"
# The write the cut-off leader refused was not applied after the partition healed either.
for g in "$cut" "$other"; do
  if timeout 60 aws --endpoint-url "${gw_ep[$g]}" s3api head-object --bucket "$bucket" --key split-brain.bin >"$work/split-after.log" 2>&1; then
    fail "the write refused during the partition exists after it healed (read through $g)"
  elif grep -q '(404)\|Not Found' "$work/split-after.log"; then
    pass "the write refused during the partition does not exist after it healed (through $g)"
  else
    fail "could not check the refused write through $g: $(tail -n 2 "$work/split-after.log")"
  fi
done
