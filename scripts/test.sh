#!/usr/bin/env bash
# Set-up + configure + build + the whole test suite (CTest). GPU tests skip visibly without a device.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if [ "${CI:-}" = "true" ] && [ -z "${LESEG_CUDA_ARCHS:-}" ]; then export LESEG_CUDA_ARCHS=80; fi
scripts/build.sh
# The TensorBoard round-trip test reads our event files with PyPI's tensorboard from a venv (quick when present);
# without it (no PyPI, no python3-venv) that test skips and says so. LESEG_TB_VENV_SETUP=0 skips this step.
if [ "${LESEG_TB_VENV_SETUP:-1}" != "0" ]; then
  scripts/tensorboard_venv.sh || echo "test: no tensorboard venv (the TensorBoard round-trip test will skip)"
fi
BUILD_DIR=${LESEG_BUILD_DIR:-build}
cd "$BUILD_DIR"
set +e
ctest --output-on-failure -j "${LESEG_TEST_JOBS:-$(nproc)}" ${LESEG_CTEST_ARGS:-} 2>&1 | tee ctest.log
rc=${PIPESTATUS[0]}
set -e
skipped=$(grep -c '\*\*\*Skipped' ctest.log || true)
echo "leseg: ${skipped} tests skipped (GPU tests skip when no CUDA device answers; see the reasons above)"
# The PLY/PCD parser fuzz targets run on every test run, deterministically (scripts/fuzz.sh: corpus replay, then a
# fixed number of mutations from a fixed seed); LESEG_FUZZ_RUNS=0 skips them.
cd ..
fuzz_rc=0
if [ "${LESEG_FUZZ_RUNS:-300000}" != "0" ]; then
  env -u LESEG_FUZZ_SECONDS scripts/fuzz.sh || fuzz_rc=$?
fi
[ "$rc" -eq 0 ] && rc=$fuzz_rc
exit "$rc"
