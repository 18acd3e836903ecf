#!/usr/bin/env bash
# CTest case: scripts/gpu/summarize.py (the GPU kit's step 5) on hand-made step results: a failed GPU test in
# CTest's JUnit file, a compute-sanitizer finding, a benchmark row, a step that never ran. Usage: gpu_summary_check.sh SOURCE_DIR
set -u
src=$1
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
cat >"$d/steps" <<'S'
build|PASS|120|sm_90, 40 targets
tests|FAIL|80|97% tests passed, 1 tests failed out of 30
sanitizer|FAIL|60|3 clean, 1 with findings, 0 not run
benchmarks|PASS|50|5 executables ran, 0 failed or timed out
S
echo "host: test" >"$d/env.txt"
cat >"$d/ctest-gpu.xml" <<'X'
<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="Linux" tests="2" failures="1" disabled="0" skipped="0" hostname="" time="1" timestamp="2026-12-06T00:00:00">
  <testcase name="test_engine_losses_gpu.LossesGpu.AllLossesMatchCpuTwin" classname="test_engine_losses_gpu" time="1.2" status="fail">
    <failure message="Failed"/>
    <system-out>[ RUN      ] LossesGpu.AllLossesMatchCpuTwin
losses_gpu_test.cpp:40: Failure
Expected equality of these values: cuda 0.25, cpu 0.5
</system-out>
  </testcase>
  <testcase name="test_kernels_softmax_gpu.SoftmaxGpu.MatchesCpu" classname="test_kernels_softmax_gpu" time="0.3" status="run"><system-out>ok</system-out></testcase>
</testsuite>
X
cat >"$d/sanitizer.log" <<'L'
== memcheck test_kernels_softmax_gpu --gtest_filter=*
========= ERROR SUMMARY: 0 errors
== racecheck test_engine_segment_gpu --gtest_filter=*
========= Race reported between Write access at vote_hist_kernel+0x1a0 and Read access
!! FAILED: racecheck test_engine_segment_gpu *
L
cat >"$d/bench.json" <<'J'
{"context": {}, "benchmarks": [{"name": "BM_ConvForward/cuda/implicit_gemm/100000/64", "run_type": "iteration", "real_time": 1.5, "time_unit": "ms", "voxels/s": 6.6e7, "executable": "bench_kernels_sparse_conv"}]}
J
python3 "$src/scripts/gpu/summarize.py" "$d" "$d/steps" 0 312 || { echo "FAIL: summarize.py exited non-zero"; exit 1; }
s="$d/summary.md"
fail=0
expect() { grep -qF -- "$1" "$s" || { echo "FAIL: summary.md lacks: $1"; fail=1; }; }
expect "| tests | FAIL | 80 |"
expect "| profile | NOT RUN | 0 |"
expect "test \`test_engine_losses_gpu.LossesGpu.AllLossesMatchCpuTwin\`"
expect "Expected equality of these values: cuda 0.25, cpu 0.5"
expect "sanitizer \`racecheck test_engine_segment_gpu --gtest_filter=*\`"
expect "Race reported between Write access at vote_hist_kernel"
expect "| BM_ConvForward/cuda/implicit_gemm/100000/64 | 1.5 | ms | voxels/s 6.6e+07 |"
grep -q "SoftmaxGpu" "$s" && { echo "FAIL: a passing test is listed as a failure"; fail=1; }
[ $fail = 0 ] && echo "ok: summary.md lists the failed test, the sanitizer finding, the missing step and the benchmark row"
[ $fail = 0 ] || { cat "$s"; exit 1; }
