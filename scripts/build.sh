#!/usr/bin/env bash
# Configure and build into ${LESEG_BUILD_DIR:-build}. CUDA is compiled whenever nvcc is found.
# LESEG_CUDA_ARCHS overrides the CUDA architectures (default 80;90; CI builds one, 80, to stay fast).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${LESEG_BUILD_DIR:-build}
[ -x /usr/local/cuda/bin/nvcc ] && export PATH="/usr/local/cuda/bin:$PATH"
args=(-G Ninja -DCMAKE_BUILD_TYPE=${LESEG_BUILD_TYPE:-Release})
if [ -n "${LESEG_CUDA_ARCHS:-}" ]; then args+=("-DCMAKE_CUDA_ARCHITECTURES=${LESEG_CUDA_ARCHS}"); fi
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/leseg-ccache}
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}   # relative paths in cache keys: a fresh clone hits the cache
cmake -S . -B "$BUILD_DIR" "${args[@]}" ${LESEG_CMAKE_ARGS:-} > "$BUILD_DIR.configure.log" 2>&1 || { cat "$BUILD_DIR.configure.log"; exit 1; }
cmake --build "$BUILD_DIR" -j "${LESEG_JOBS:-$(nproc)}" ${LESEG_TARGETS:+--target $LESEG_TARGETS}
