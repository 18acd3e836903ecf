#!/usr/bin/env bash
# Installs the Debian packages leseg builds with, when missing. Idempotent; quick when all are present.
set -euo pipefail
PKGS=(cmake ninja-build g++ ccache pkg-config libeigen3-dev libyaml-cpp-dev nlohmann-json3-dev libcli11-dev
      libspdlog-dev libfmt-dev libstb-dev libgtest-dev libgmock-dev libbenchmark-dev libomp-dev libpng-dev
      libjpeg-dev zlib1g-dev clang libclang-rt-14-dev fonts-dejavu-core
      libprotobuf-dev protobuf-compiler libjs-three libopenmpi-dev openmpi-bin
      python3-numpy python3-pil)   # the last two: tools/export's file-writing test without a venv
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all packages present"
fi
# Optional, for the viewer's headless-browser test only (tests/train/report/viewer_test.cpp skips visibly
# without it): Debian's chromium. Best effort: a failure here never fails set-up. LESEG_NO_BROWSER=1 skips it.
if [ "${LESEG_NO_BROWSER:-0}" != "1" ] && ! dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q "install ok installed"; then
  echo "setup: installing chromium (optional: the viewer's headless-browser test)"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium; } ||
    echo "setup: chromium not installed: the viewer's browser test will skip"
fi
if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  echo "setup: nvcc found at /usr/local/cuda/bin (add it to PATH to build the CUDA backend outside scripts/)"
fi
