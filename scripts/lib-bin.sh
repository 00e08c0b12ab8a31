# Sourced by the benchmark scripts: sets BIN to the kintsugi binary to measure — this
# checkout's, built now (release, locked), or KINTSUGI_BIN=PATH (e.g. one built from an
# older commit, to measure two commits side by side in one run).
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/kintsugi-target}
if [ -n "${KINTSUGI_BIN:-}" ]; then
  BIN=$KINTSUGI_BIN
else
  cargo build --release --locked --bin kintsugi >&2
  BIN=$CARGO_TARGET_DIR/release/kintsugi
fi
