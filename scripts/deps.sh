#!/usr/bin/env bash
# Install what building and testing Kintsugi needs and a fresh machine may lack:
#   - clang + libclang (RocksDB's Rust bindings are generated with bindgen)
#   - python3 boto3 and the aws cli (real S3 clients used by the integration tests)
#   - rclone and s3cmd (more real S3 clients)
# As root it installs with apt/pip; otherwise it names the packages to install.
set -euo pipefail

missing_apt=()
# bindgen loads libclang.so / libclang-NN.so itself; libclang-cpp.so (which
# other packages pull in) does not count.
have_libclang() {
  [ -n "${LIBCLANG_PATH:-}" ] && compgen -G "${LIBCLANG_PATH}/libclang*.so*" >/dev/null && return 0
  ldconfig -p 2>/dev/null | grep -Eq 'libclang(-[0-9.]+)?\.so' && return 0
  compgen -G '/usr/lib/llvm-*/lib/libclang.so*' >/dev/null && return 0
  compgen -G '/usr/lib/llvm-*/lib/libclang-[0-9]*.so*' >/dev/null && return 0
  return 1
}
have_libclang || missing_apt+=(libclang-dev clang)
command -v c++ >/dev/null || missing_apt+=(g++)
command -v make >/dev/null || missing_apt+=(make)
if [ "${1:-}" = "--test" ]; then
  command -v rclone >/dev/null || missing_apt+=(rclone)
  command -v s3cmd >/dev/null || missing_apt+=(s3cmd)
fi

if [ ${#missing_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "deps: installing ${missing_apt[*]} with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq "${missing_apt[@]}" >/dev/null
  else
    echo "deps: missing system packages: ${missing_apt[*]}" >&2
    echo "deps: install them, e.g.: sudo apt-get install ${missing_apt[*]}" >&2
    exit 1
  fi
fi

if ! command -v cargo >/dev/null; then
  echo "deps: cargo not found; install the Rust toolchain (https://rustup.rs) and re-run" >&2
  exit 1
fi

if [ "${1:-}" = "--test" ]; then
  pip_missing=()
  python3 -c 'import boto3' 2>/dev/null || pip_missing+=(boto3)
  command -v aws >/dev/null || pip_missing+=(awscli)
  if [ ${#pip_missing[@]} -gt 0 ]; then
    echo "deps: installing ${pip_missing[*]} with pip" >&2
    python3 -m pip install --quiet "${pip_missing[@]}" || {
      echo "deps: could not pip install ${pip_missing[*]}; install them (python3 -m pip install --user ${pip_missing[*]})" >&2
      exit 1
    }
  fi
fi
