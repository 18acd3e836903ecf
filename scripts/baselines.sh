#!/usr/bin/env bash
# Framework-baseline harness (docs/benchmarks.md): leseg against spconv 2.x, plain PyTorch and torchvision on the
# same inputs, in the same run; writes benchmarks/results/baselines.{md,json,png}.
#   scripts/baselines.sh [--device cpu|cuda] [--filter REGEX] [any benchmarks/baselines/run.py option]
# Makes a Python venv (${LESEG_BASELINES_VENV:-.venv-baselines}) once, builds the leseg side (target
# leseg_baselines), then runs benchmarks/baselines/run.py. Python is needed only here, never by leseg itself.
#   CPU:  pip installs torch, torchvision, spconv, numpy, matplotlib, safetensors from PyPI. PyPI has no CPU-only
#         torch build, so this is the default torch wheel (its CUDA runtime packages included, ~5.6 GiB venv);
#         LESEG_BASELINES_PIP_ARGS adds pip options (e.g. another index that has one).
#   CUDA: with a registry, the same plus spconv-${LESEG_SPCONV_CUDA:-cu126}; without one (the GPU machine), a venv on
#         top of the machine's own PyTorch (--system-site-packages) and the wheels of .gpu-bundle/wheels (carried by
#         scripts/gpu/bundle.sh with LESEG_BUNDLE_WHEELS="spconv-cu126==2.3.8 cumm-cu126==0.7.11 ..."), no index.
#         That offline path is untested (no GPU machine with a bundle was at hand when it was written).
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICE=cpu
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE=$2; args+=(--device "$2"); shift 2 ;;
    --device=*) DEVICE=${1#--device=}; args+=("$1"); shift ;;
    *) args+=("$1"); shift ;;
  esac
done
VENV=${LESEG_BASELINES_VENV:-.venv-baselines}
PY=${LESEG_PYTHON:-python3}
online() { timeout 20 "$PY" -m pip download --no-deps --quiet -d "$(mktemp -d)" six >/dev/null 2>&1; }
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import torch, numpy, matplotlib, safetensors" 2>/dev/null; then
  if [ "$DEVICE" = cuda ] && [ -d .gpu-bundle/wheels ] && ! online; then
    echo "baselines: no package registry; venv on the machine's torch + .gpu-bundle/wheels" >&2
    "$PY" -m venv --system-site-packages "$VENV"
    # shellcheck disable=SC2046
    "$VENV/bin/pip" install --no-index --find-links .gpu-bundle/wheels $(ls .gpu-bundle/wheels/*.whl)
  else
    "$PY" -m venv "$VENV"
    pkgs=(torch torchvision numpy matplotlib safetensors)
    if [ "$DEVICE" = cuda ]; then pkgs+=("spconv-${LESEG_SPCONV_CUDA:-cu126}"); else pkgs+=(spconv); fi
    # shellcheck disable=SC2086
    "$VENV/bin/pip" install ${LESEG_BASELINES_PIP_ARGS:-} "${pkgs[@]}"
  fi
fi
BUILD_DIR=${LESEG_BUILD_DIR:-build}
LESEG_TARGETS="leseg_baselines${LESEG_TARGETS:+ $LESEG_TARGETS}" scripts/build.sh
exec "$VENV/bin/python" benchmarks/baselines/run.py --worker "$BUILD_DIR/leseg_baselines" "${args[@]}"
