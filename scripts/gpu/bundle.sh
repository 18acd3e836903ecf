#!/usr/bin/env bash
# GPU bring-up kit, part 1 (run here, on a machine with Debian's package registry): gathers into .gpu-bundle/ what a
# bare GPU machine (nvcc, CMake, ninja, Python + PyTorch; no registry, no apt) lacks to build leseg: the Debian
# packages of our build dependencies as .deb files (unpacked there by scripts/gpu/check.sh into .gpu-bundle/prefix),
# a manifest, and optionally Python wheels for the framework-baseline harness (LESEG_BUNDLE_WHEELS="name==ver ...").
# Prints the size of what travels to the GPU machine (the tree git would send + the bundle); fails above 64 MiB.
#   scripts/gpu/bundle.sh            # then: device run of `scripts/gpu/check.sh --out "$OUT"` carrying .gpu-bundle
# ccache contents are not bundled: the GPU machine compiles for its own architecture with its own host compiler,
# so no cache entry made here would hit there.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=.gpu-bundle
LIMIT=$((64 * 1024 * 1024))
# Headers and libraries the build finds with find_package (CMakeLists.txt) or includes directly (stb), plus the
# runtime packages holding the shared objects their -dev packages link to.
PKGS=(libeigen3-dev libyaml-cpp-dev libyaml-cpp0.7 nlohmann-json3-dev libcli11-dev libspdlog-dev libspdlog1.10
      libfmt-dev libfmt9 libstb-dev libstb0 libgtest-dev libgmock-dev libbenchmark-dev libbenchmark1debian
      zlib1g-dev zlib1g)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/leseg-bundle.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/debs"
# apt-get download writes as the _apt user where it can; a root-owned temp folder just makes it warn.
if ! (cd "$tmp/debs" && apt-get download "${PKGS[@]}" >"$tmp/apt.log" 2>&1); then
  echo "bundle: apt-get download failed; refreshing the package lists once and retrying"
  apt-get update -qq >/dev/null 2>&1 || true
  (cd "$tmp/debs" && apt-get download "${PKGS[@]}") || { cat "$tmp/apt.log"; exit 1; }
fi

{
  echo "# leseg GPU bundle (scripts/gpu/bundle.sh), made $(date -u +%Y-%m-%dT%H:%MZ) on $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "# package version sha256"
  for f in "$tmp"/debs/*.deb; do
    echo "$(dpkg-deb -f "$f" Package) $(dpkg-deb -f "$f" Version) $(sha256sum "$f" | cut -c1-64)"
  done
} >"$tmp/MANIFEST"

if [ -n "${LESEG_BUNDLE_WHEELS:-}" ]; then
  mkdir -p "$tmp/wheels"
  # shellcheck disable=SC2086
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d "$tmp/wheels" $LESEG_BUNDLE_WHEELS
  ls "$tmp/wheels" | sed 's/^/wheel /' >>"$tmp/MANIFEST"
fi

rm -rf "$B"
mkdir -p "$B"
cp -r "$tmp"/debs "$tmp"/MANIFEST "$B"/
[ -d "$tmp/wheels" ] && cp -r "$tmp/wheels" "$B"/

bundle_bytes=$(du -sb "$B" | cut -f1)
tree_bytes=$(git ls-files -co --exclude-standard -z | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
total=$((bundle_bytes + tree_bytes))
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
echo "bundle: $(ls "$B"/debs | wc -l) packages in $B ($(mib "$bundle_bytes")); tree $(mib "$tree_bytes"); together $(mib "$total") of 64 MiB"
if [ "$total" -gt "$LIMIT" ]; then
  echo "bundle: tree + bundle exceed 64 MiB: drop wheels or untracked files before a device run" >&2
  exit 1
fi
