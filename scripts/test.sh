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
# The tests write into a TMPDIR of this run only (every test executable also makes and removes a folder of its
# own inside it: tests/support/test_main.cpp). What is left there afterwards is a test that does not clean up:
# listed, removed, and the run fails, because leaked data sets and runs once filled the disk (35 GB in /tmp).
test_tmp=$(mktemp -d "${TMPDIR:-/tmp}/leseg-ctest-XXXXXX")
set +e
TMPDIR="$test_tmp" ctest --output-on-failure -j "${LESEG_TEST_JOBS:-$(nproc)}" ${LESEG_CTEST_ARGS:-} 2>&1 | tee ctest.log
rc=${PIPESTATUS[0]}
set -e
leaked=$(find "$test_tmp" -mindepth 1 -maxdepth 1 -name 'leseg*' -printf '%f\n' | sort)
if [ -n "$leaked" ] && [ "${LESEG_KEEP_TEST_TMP:-0}" = "0" ]; then
  echo "test: the tests left $(echo "$leaked" | wc -l) folder(s) in their TMPDIR (a test that does not clean up):"
  echo "$leaked" | head -20 | sed 's/^/  /'
  [ "$rc" -eq 0 ] && rc=1
fi
if [ "${LESEG_KEEP_TEST_TMP:-0}" = "0" ]; then rm -rf "$test_tmp"; else echo "test: kept $test_tmp"; fi
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
