#!/usr/bin/env bash
# CTest case: LESEG_REQUIRE_GPU=1 must turn a GPU test's skip into a failure (and leave a run that did not skip
# alone). Usage: require_gpu_check.sh GPU_TEST_EXECUTABLE
set -u
exe=$1
plain=$(env -u LESEG_REQUIRE_GPU "$exe" 2>&1); plain_rc=$?
strict=$(LESEG_REQUIRE_GPU=1 "$exe" 2>&1); strict_rc=$?
if [ "$plain_rc" -ne 0 ]; then echo "FAIL: $exe failed without LESEG_REQUIRE_GPU (rc $plain_rc)"; echo "$plain" | tail -20; exit 1; fi
if echo "$plain" | grep -q '^\[  SKIPPED \]'; then
  # No device here: the strict run must fail, and say why.
  if [ "$strict_rc" -eq 0 ]; then echo "FAIL: LESEG_REQUIRE_GPU=1 did not turn the skips into failures"; echo "$strict" | tail -20; exit 1; fi
  if ! echo "$strict" | grep -q 'LESEG_REQUIRE_GPU=1: GPU test'; then echo "FAIL: the failure does not name the switch"; echo "$strict" | tail -20; exit 1; fi
  if echo "$strict" | grep -q '^\[  SKIPPED \]'; then echo "FAIL: the strict run still reports skipped tests"; exit 1; fi
  n=$(echo "$strict" | grep -c '^\[  FAILED  \].*(' || true)
  echo "ok: without a device, LESEG_REQUIRE_GPU=1 failed $n skipped test(s) of $(basename "$exe")"
else
  [ "$strict_rc" -eq 0 ] || { echo "FAIL: with a device, the strict run failed (rc $strict_rc)"; echo "$strict" | tail -20; exit 1; }
  echo "ok: a device answered; nothing skipped, the strict run passed too"
fi
