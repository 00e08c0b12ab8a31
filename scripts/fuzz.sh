#!/usr/bin/env bash
# make fuzz: run every fuzz target (fuzz/, cargo-fuzz + libFuzzer) for SECS seconds each.
#   scripts/fuzz.sh SECS TARGET...
# Needs a nightly toolchain (libFuzzer's coverage instrumentation) and cargo-fuzz, which is
# installed from crates.io when missing. New inputs libFuzzer finds go to a scratch corpus
# outside the clone; a crash is saved in fuzz/artifacts/<target>/ and stops the run: fix it,
# and copy the input into fuzz/corpus/<target>/ so `make test`'s smoke run replays it.
set -euo pipefail
secs=${1:?usage: scripts/fuzz.sh SECS TARGET...}
shift
cd "$(dirname "$0")/.."

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "fuzz: needs a nightly Rust toolchain for libFuzzer's instrumentation: rustup toolchain install nightly" >&2
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz from crates.io" >&2
  cargo install cargo-fuzz --locked
fi

work=${KINTSUGI_FUZZ_WORK:-$HOME/.cache/kintsugi-fuzz}
mkdir -p "$work/seeds"
# The seeds the smoke test builds with the real encoders, as files libFuzzer starts from.
KINTSUGI_FUZZ_SEED_DIR="$work/seeds" cargo test --release --locked -p kintsugi-fuzz -- --exact smoke::write_seeds_when_asked >/dev/null
export CARGO_TARGET_DIR="$work/target"
for t in "$@"; do
  echo "fuzz: $t for ${secs}s" >&2
  mkdir -p "$work/corpus/$t" "fuzz/corpus/$t" "$work/seeds/$t"
  (cd fuzz && cargo +nightly fuzz run --sanitizer none --debug-assertions "$t" \
      "$work/corpus/$t" "../fuzz/corpus/$t" "$work/seeds/$t" -- -max_total_time="$secs" -max_len=65536)
done
echo "fuzz: ${#} targets ran ${secs}s each without a crash"
