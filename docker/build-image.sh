#!/usr/bin/env bash
# Build the kintsugi container image FROM scratch (no registry needed).
#
#   docker/build-image.sh [BINARY]          (or KINTSUGI_BIN=BINARY)
#
# BINARY defaults to $CARGO_TARGET_DIR/release/kintsugi, i.e.
# ~/.cache/kintsugi-target/release/kintsugi (what `make build` produces).
# The image tag is $KINTSUGI_IMAGE (default kintsugi:dev).
#
# It stages a root filesystem under the build directory (never in the repo):
#   /kintsugi                 the binary (a copy without debug info, see KINTSUGI_IMAGE_STRIP)
#   /lib/..., /lib64/...      exactly the shared libraries `ldd` lists, and the loader
#   /etc/nsswitch.conf        "hosts: files dns" so container names resolve
#   /tmp, /data               empty (mode 1777 / 0755)
# and runs `docker build` with docker/Dockerfile (FROM scratch + COPY).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
target_dir="${CARGO_TARGET_DIR:-$HOME/.cache/kintsugi-target}"
bin="${1:-${KINTSUGI_BIN:-$target_dir/release/kintsugi}}"
tag="${KINTSUGI_IMAGE:-kintsugi:dev}"
stage="${KINTSUGI_IMAGE_STAGE:-$target_dir/docker-image}"

die() { echo "build-image: $*" >&2; exit 1; }

[ -f "$bin" ] && [ -x "$bin" ] || die "no kintsugi binary at $bin; build it first (make build) or pass its path"
command -v docker >/dev/null || die "docker not found"
command -v ldd >/dev/null || die "ldd not found (it lists the libraries to copy into the image)"

case "$stage" in
  ""|/) die "refusing to stage into '$stage'" ;;
esac
rm -rf "$stage"
mkdir -p "$stage/rootfs"
root="$stage/rootfs"

install -m 0755 "$bin" "$root/kintsugi"
# The release profile keeps debug info (hundreds of MiB); the image gets a copy
# without it (symbols stay, so backtraces still name functions).
# KINTSUGI_IMAGE_STRIP=0 keeps the binary as it is.
if [ "${KINTSUGI_IMAGE_STRIP:-1}" != 0 ] && command -v strip >/dev/null; then
  strip --strip-debug "$root/kintsugi" || die "strip --strip-debug failed on the copy of $bin"
fi

# Shared libraries: every "name => /path (addr)" line and the loader line "/path (addr)".
# linux-vdso has no file and is skipped; "not found" is an error.
ldd_out="$(ldd "$bin" 2>&1)" || die "ldd $bin failed: $ldd_out"
if grep -q 'not found' <<<"$ldd_out"; then
  die "ldd reports missing libraries for $bin:
$ldd_out"
fi
if grep -qi 'not a dynamic executable\|statically linked' <<<"$ldd_out"; then
  libs=()
else
  mapfile -t libs < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$ldd_out" | sort -u)
fi
for lib in "${libs[@]}"; do
  [ -e "$lib" ] || die "library $lib (from ldd) does not exist"
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"     # the real file, under the path the binary asks for
done

mkdir -p "$root/tmp" "$root/data" "$root/etc"
chmod 1777 "$root/tmp"
# Docker bind-mounts /etc/hosts, /etc/hostname and /etc/resolv.conf at run time;
# name lookup needs no NSS modules beyond libc (glibc >= 2.34 has files and dns built in).
printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"

cp "$here/Dockerfile" "$stage/Dockerfile"

echo "build-image: $bin + ${#libs[@]} libraries -> $tag (context $stage)" >&2
for lib in "${libs[@]}"; do echo "build-image:   $lib" >&2; done

# Without buildx the docker CLI falls back to the classic builder (and says so);
# FROM scratch + COPY builds the same with either.
build_flags=(--tag "$tag" --label "org.opencontainers.image.title=kintsugi")
if ! docker buildx version >/dev/null 2>&1; then
  export DOCKER_BUILDKIT=0
  build_flags+=(--quiet)
fi
docker build "${build_flags[@]}" "$stage" >&2
echo "build-image: built $tag ($(docker image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.1f MiB", $1/1048576}'))" >&2
