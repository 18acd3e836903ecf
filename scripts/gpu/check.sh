#!/usr/bin/env bash
# GPU bring-up kit, part 2: one command that turns a bare GPU machine into a verdict on every CUDA kernel.
# Run from the repository root on the GPU machine, with .gpu-bundle/ (scripts/gpu/bundle.sh) beside the tree:
#   scripts/gpu/check.sh --out DIR      # default DIR: gpu-report/
#   scripts/gpu/check.sh --dry-run      # here, without a GPU: unpack, configure and build from the bundle alone
#                                       # (C++ only; LESEG_GPU_DRY_CUDA=1 compiles the CUDA sources too)
# Steps, in this order, each time-boxed so the whole run ends inside LESEG_GPU_BUDGET_S (default 540 s = 9 min);
# a failing step never stops the rest:
#   0. unpack the bundle into .gpu-prefix/, configure against it for this machine's architecture, build
#   1. ctest -L gpu with LESEG_REQUIRE_GPU=1 (a skipped GPU test fails)             -> ctest-gpu.xml (JUnit)
#   2. compute-sanitizer memcheck / racecheck / synccheck over one parity test per kernel family, initcheck over
#      the allocator tests                                                           -> sanitizer.log
#   3. the CUDA benchmark rows (sparse conv, attention, losses, voting, MinkUNet14A/34C step at 100k voxels)
#                                                                                    -> bench.json
#   4. one ncu run on the sparse-conv forward kernel, one nsys profile of a training step (NVTX phases)
#                                                                                    -> profile.txt
#   5. summary.md: pass/fail per step, every failure's first lines, the benchmark table
# Everything lands flat in DIR (at most 8 files, each far under 16 MiB): summary.md, check.log, build.log,
# ctest-gpu.xml, sanitizer.log, bench.json, profile.txt, env.txt.
# Budgets (seconds) can be overridden: LESEG_GPU_BUDGET_S, LESEG_GPU_BUILD_S, LESEG_GPU_TEST_S, LESEG_GPU_SAN_S,
# LESEG_GPU_BENCH_S, LESEG_GPU_PROF_S; LESEG_GPU_JOBS (build parallelism, default nproc).
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=gpu-report
DRY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --out=*) OUT=${1#--out=}; shift ;;
    --dry-run) DRY=1; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "check.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
BUNDLE=$ROOT/.gpu-bundle
PREFIX=${LESEG_GPU_PREFIX:-$ROOT/.gpu-prefix}   # unpacked beside the bundle, not inside it: only the .debs travel
BUILD=${LESEG_GPU_BUILD_DIR:-$ROOT/build-gpu$([ $DRY = 1 ] && echo -dry)}
LOG=$OUT/check.log
STEPS=$OUT/.steps   # one line per step: name|status|seconds|detail (folded into summary.md, then removed)
BUDGET=${LESEG_GPU_BUDGET_S:-$([ $DRY = 1 ] && echo 3600 || echo 540)}  # the dry run spends no device time
T0=$(date +%s)
: >"$LOG"
: >"$STEPS"
[ -x /usr/local/cuda/bin/nvcc ] && export PATH="/usr/local/cuda/bin:$PATH"
# The same compiler cache as scripts/build.sh (used only where ccache is installed; the GPU machine has none).
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/leseg-ccache} CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G} CCACHE_BASEDIR=${CCACHE_BASEDIR:-$ROOT}

log() { echo "[$(($(date +%s) - T0))s] $*" | tee -a "$LOG"; }
left() { echo $((BUDGET - ($(date +%s) - T0))); }
# cap CAP [RESERVE]: seconds a step may take: its own cap, never past the budget minus what later steps reserve.
cap() { local c=$1 r=${2:-0} l; l=$(($(left) - r)); [ "$l" -lt "$c" ] && c=$l; [ "$c" -lt 5 ] && c=5; echo "$c"; }
step() { echo "$1|$2|$3|$4" >>"$STEPS"; log "step $1: $2 ($3 s) $4"; }
# run_boxed SECONDS LOGFILE CMD...: runs CMD with a time limit, appending its output to LOGFILE; returns its status
# (124 on time-out).
run_boxed() {
  local s=$1 f=$2; shift 2
  timeout --signal=TERM --kill-after=10 "$s" "$@" >>"$f" 2>&1
}

# ---- environment ----------------------------------------------------------------------------------------------
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host: $(uname -srm); cores: $(nproc); dry run: $DRY"
  echo "git: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (modified)')"
  echo "nvcc: $(nvcc --version 2>/dev/null | tail -1 || echo 'not found')"
  echo "cmake: $(cmake --version 2>/dev/null | head -1)"
  echo "c++: $(c++ --version 2>/dev/null | head -1)"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv,noheader
  for t in compute-sanitizer ncu nsys; do echo "$t: $(command -v $t || echo 'not on PATH')"; done
  echo "python3: $(python3 -c 'import sys; print(sys.version.split()[0])' 2>/dev/null)"
} >"$OUT/env.txt" 2>&1
log "leseg GPU check$([ $DRY = 1 ] && echo ' (dry run: no GPU steps)') -> $OUT, budget ${BUDGET}s"

# ---- 0. unpack, configure, build ----------------------------------------------------------------------------
unpack_deb() {  # unpack_deb FILE DIR: dpkg-deb where it exists, else Python's tarfile on the ar member
  if command -v dpkg-deb >/dev/null 2>&1; then dpkg-deb -x "$1" "$2"; return; fi
  python3 - "$1" "$2" <<'PY'
import io, sys, tarfile
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"!<arch>\n", "not a .deb"
pos = 8
while pos < len(data):
    name = data[pos:pos + 16].decode().strip().rstrip("/")
    size = int(data[pos + 48:pos + 58].decode().strip())
    body = data[pos + 60:pos + 60 + size]
    if name.startswith("data.tar"):
        tarfile.open(fileobj=io.BytesIO(body), mode="r:*").extractall(sys.argv[2])
    pos += 60 + size + (size & 1)
PY
}

build_ok=0
t=$(date +%s)
if [ ! -d "$BUNDLE/debs" ]; then
  step build FAIL 0 "no .gpu-bundle/debs: run scripts/gpu/bundle.sh on the CPU machine and carry .gpu-bundle"
else
  rm -rf "$PREFIX"
  mkdir -p "$PREFIX"
  for f in "$BUNDLE"/debs/*.deb; do unpack_deb "$f" "$PREFIX" || log "unpack failed: $f"; done
  if [ $DRY = 1 ]; then
    ARCH=${LESEG_CUDA_ARCHS:-80}   # CI's architecture: the CUDA objects are the ones the main build compiled
  elif command -v nvidia-smi >/dev/null && cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1) && [ -n "$cc" ]; then
    ARCH=${cc//./}
  else
    ARCH=${LESEG_CUDA_ARCHS:-90}
  fi
  cfg=(-S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$ARCH"
       -DCMAKE_PREFIX_PATH="$PREFIX/usr" -DLESEG_BUILD_TESTS=ON -DLESEG_BUILD_BENCHMARKS=ON
       -DCMAKE_POLICY_VERSION_MINIMUM=3.5)  # a CMake 4 there must still read the packages' older config files
  # The dry run compiles the C++ only (LESEG_GPU_DRY_CUDA=1 adds the CUDA sources): no CUDA object includes a
  # bundled header, and every main build (CI's too) compiles them already.
  # (LESEG_GPU_CUDA=0 builds without CUDA anywhere: for exercising the script's own flow on a CPU machine.)
  if command -v nvcc >/dev/null 2>&1 && [ "${LESEG_GPU_CUDA:-1}" = 1 ] && { [ $DRY = 0 ] || [ "${LESEG_GPU_DRY_CUDA:-0}" = 1 ]; }; then
    cfg+=(-DLESEG_CUDA=ON)
  else
    cfg+=(-DLESEG_CUDA=OFF)
  fi
  # The dry run proves the bundle is enough: CMake may not search the system prefixes at all (CUDA comes from
  # nvcc's own folder, OpenMP from the compiler); after the build, no object may include a bundled package's
  # header from the system's copy (checked below from the compiler's dependency lists).
  [ $DRY = 1 ] && cfg+=("-DCMAKE_IGNORE_PREFIX_PATH=/usr;/usr/local" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
  if ! run_boxed "$(cap 120)" "$OUT/build.log" cmake "${cfg[@]}"; then
    step build FAIL $(($(date +%s) - t)) "configure failed (build.log)"
  else
    # What the GPU steps need: the GPU test executables, the benchmarks and the CLI (not the CPU-only tests).
    # The dry run builds a cross-section that links every bundled library: the CLI, one GPU test, one benchmark.
    targets=$(ninja -C "$BUILD" -t targets all 2>/dev/null | grep -oE '^(test_[a-z0-9_]+_gpu|bench_[a-z0-9_]+|leseg)(: )' | sed 's/: //' | sort -u)
    [ $DRY = 1 ] && targets="leseg test_kernels_softmax_gpu bench_kernels_losses"
    log "building $(echo $targets | wc -w) targets for sm_$ARCH with ${LESEG_GPU_JOBS:-$(nproc)} jobs"
    # shellcheck disable=SC2086
    if run_boxed "$(cap ${LESEG_GPU_BUILD_S:-$([ $DRY = 1 ] && echo 3000 || echo 330)} 150)" "$OUT/build.log" cmake --build "$BUILD" -j "${LESEG_GPU_JOBS:-$(nproc)}" --target $targets; then
      build_ok=1
      detail="sm_$ARCH, $(echo $targets | wc -w) targets"
      if [ $DRY = 1 ]; then
        sys=$(ninja -C "$BUILD" -t deps 2>/dev/null | grep -E '^ +/usr/(local/)?include/(eigen3|yaml-cpp|nlohmann|CLI|spdlog|fmt|stb|gtest|gmock|benchmark|zlib\.h|zconf\.h)' | sort -u | head -5)
        libs=$(ldd "$BUILD/leseg" 2>/dev/null | grep -E 'yaml-cpp|fmt|spdlog' | grep -v "$PREFIX" | head -3)
        if [ -n "$sys" ] || [ -n "$libs" ]; then
          build_ok=0
          detail="used the system's copy of a bundled package: $(echo $sys $libs | head -c 300)"
        else
          ndeps=$(ninja -C "$BUILD" -t deps 2>/dev/null | grep -c "\.gpu-prefix/")
          detail="$detail; $ndeps header dependencies from the bundle, none from the system's packages"
        fi
      fi
      step build $([ $build_ok = 1 ] && echo PASS || echo FAIL) $(($(date +%s) - t)) "$detail"
    else
      step build FAIL $(($(date +%s) - t)) "build failed or timed out (build.log: $(grep -m1 -E 'error|FAILED' "$OUT/build.log" | head -c 200))"
    fi
  fi
fi

gpu_ok=0
if [ $DRY = 0 ] && command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then gpu_ok=1; fi
skip_reason=$([ $DRY = 1 ] && echo "dry run (no GPU here)" || ([ $build_ok = 0 ] && echo "build failed" || echo "no GPU answers (nvidia-smi)"))

# ---- 1. GPU tests ---------------------------------------------------------------------------------------------
t=$(date +%s)
if [ $build_ok = 1 ] && [ $gpu_ok = 1 ]; then
  run_boxed "$(cap ${LESEG_GPU_TEST_S:-150} 120)" "$LOG" env LESEG_REQUIRE_GPU=1 \
    ctest --test-dir "$BUILD" -L gpu -j 4 --timeout 120 --output-on-failure --output-junit "$OUT/ctest-gpu.xml"
  rc=$?
  line=$(grep -E '^[0-9]+% tests passed' "$LOG" | tail -1)
  step tests $([ $rc = 0 ] && echo PASS || echo FAIL) $(($(date +%s) - t)) "${line:-ctest exit $rc$([ $rc = 124 ] && echo ' (timed out)')}"
else
  step tests SKIP 0 "$skip_reason"
fi

# ---- 2. compute-sanitizer --------------------------------------------------------------------------------------
# One parity test per kernel family (executable:gtest filter); racecheck/synccheck on the shared-memory kernels.
SAN_MEM=(test_kernels_elementwise_gpu:* test_kernels_reduce_gpu:* test_kernels_softmax_gpu:* test_kernels_index_gpu:*
         test_kernels_matmul_gpu:* test_kernels_layer_norm_gpu:* test_kernels_batch_norm_gpu:* test_kernels_conv2d_gpu:*
         test_kernels_pool2d_gpu:* test_kernels_resize_gpu:* test_kernels_project_gpu:* test_kernels_neighbors_gpu:*
         test_kernels_optim_gpu:* test_engine_losses_gpu:LossesGpu.AllLossesMatchCpuTwin
         test_engine_segment_gpu:* test_engine_attention_gpu:AttentionGpu.MatchesCpuTwin
         test_engine_sparse_gpu:SparseGpu.ConvVariantsMatchCpuTwin test_engine_gpu:DeviceErrorsGpu.* test_kernels_scan_gpu:* test_engine_gpu:GraphRngGpu.*)
SAN_RACE=(test_engine_attention_gpu:AttentionGpu.MatchesCpuTwin test_engine_losses_gpu:LossesGpu.AllLossesMatchCpuTwin
          test_engine_segment_gpu:* test_kernels_batch_norm_gpu:* test_kernels_softmax_gpu:*)
SAN_INIT=(test_engine_gpu:CudaCore.*)
t=$(date +%s)
if [ $build_ok = 1 ] && [ $gpu_ok = 1 ] && command -v compute-sanitizer >/dev/null; then
  : >"$OUT/sanitizer.log"
  deadline=$(($(date +%s) + $(cap ${LESEG_GPU_SAN_S:-120} 100)))
  pass=0; fail=0; skipped=0
  san() {  # san TOOL exe:filter
    local tool=$1 exe=${2%%:*} filter=${2#*:} rem=$((deadline - $(date +%s)))
    if [ ! -x "$BUILD/$exe" ] || [ "$rem" -lt 5 ]; then skipped=$((skipped + 1)); echo "== $tool $exe $filter: not run ($([ -x "$BUILD/$exe" ] && echo 'no time left' || echo 'no such executable'))" >>"$OUT/sanitizer.log"; return; fi
    echo "== $tool $exe --gtest_filter=$filter" >>"$OUT/sanitizer.log"
    if run_boxed "$rem" "$OUT/sanitizer.log" env LESEG_REQUIRE_GPU=1 compute-sanitizer --tool "$tool" --error-exitcode 99 \
         "$BUILD/$exe" --gtest_filter="$filter" --gtest_brief=1; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "!! FAILED: $tool $exe $filter" >>"$OUT/sanitizer.log"; fi
  }
  for e in "${SAN_MEM[@]}"; do san memcheck "$e"; done
  for e in "${SAN_RACE[@]}"; do san racecheck "$e"; san synccheck "$e"; done
  for e in "${SAN_INIT[@]}"; do san initcheck "$e"; done
  step sanitizer $([ $fail = 0 ] && [ $pass -gt 0 ] && echo PASS || echo FAIL) $(($(date +%s) - t)) "$pass clean, $fail with findings, $skipped not run"
else
  if [ $build_ok = 1 ] && [ $gpu_ok = 1 ]; then step sanitizer SKIP 0 "compute-sanitizer not on PATH"; else step sanitizer SKIP 0 "$skip_reason"; fi
fi

# ---- 3. CUDA benchmarks ----------------------------------------------------------------------------------------
BENCH=(bench_kernels_sparse_conv:'cuda/.*(/100000/|KernelMap)'
       bench_kernels_attention:cuda bench_kernels_losses:cuda bench_kernels_segment:cuda
       bench_models:'TrainStep/cuda/.*voxels:100000')
t=$(date +%s)
if [ $build_ok = 1 ] && [ $gpu_ok = 1 ]; then
  tmpb=$(mktemp -d)
  deadline=$(($(date +%s) + $(cap ${LESEG_GPU_BENCH_S:-120} 60)))
  ran=0; bfail=0
  for b in "${BENCH[@]}"; do
    exe=${b%%:*} filter=${b#*:} rem=$((deadline - $(date +%s)))
    [ -x "$BUILD/$exe" ] && [ "$rem" -ge 5 ] || { echo "benchmark $exe not run" >>"$LOG"; continue; }
    if run_boxed "$rem" "$LOG" "$BUILD/$exe" --benchmark_filter="$filter" --benchmark_min_time=0.05 \
         --benchmark_out="$tmpb/$exe.json" --benchmark_out_format=json; then ran=$((ran + 1)); else bfail=$((bfail + 1)); fi
  done
  python3 - "$tmpb" "$OUT/bench.json" <<'PY'
import glob, json, os, sys
merged = {"context": None, "benchmarks": []}
for f in sorted(glob.glob(os.path.join(sys.argv[1], "*.json"))):
    try:
        d = json.load(open(f))
    except Exception as e:  # a benchmark killed at its time limit leaves a partial file
        merged.setdefault("unreadable", []).append(f"{os.path.basename(f)}: {e}")
        continue
    merged["context"] = merged["context"] or d.get("context")
    for b in d.get("benchmarks", []):
        b["executable"] = os.path.basename(f)[:-5]
        merged["benchmarks"].append(b)
json.dump(merged, open(sys.argv[2], "w"), indent=1)
PY
  rm -rf "$tmpb"
  step benchmarks $([ $bfail = 0 ] && [ $ran -gt 0 ] && echo PASS || echo FAIL) $(($(date +%s) - t)) "$ran executables ran, $bfail failed or timed out"
else
  step benchmarks SKIP 0 "$skip_reason"
fi

# ---- 4. ncu + nsys ---------------------------------------------------------------------------------------------
t=$(date +%s)
if [ $build_ok = 1 ] && [ $gpu_ok = 1 ]; then
  P=$OUT/profile.txt
  : >"$P"
  NSYS=$(command -v nsys || ls /opt/nvidia/nsight-systems*/*/bin/nsys /opt/nvidia/nsight-compute/*/host/target-linux-x64/nsys 2>/dev/null | head -1)
  half=$(cap ${LESEG_GPU_PROF_S:-70} 15)
  half=$((half / 2))
  ncu_ok=0; nsys_ok=0
  if command -v ncu >/dev/null; then
    echo "== ncu: sparse-conv forward kernels (implicit GEMM and gather-GEMM-scatter), 100k voxels, C = 64" >>"$P"
    run_boxed "$half" "$P" ncu --clock-control none --kernel-name-base demangled -k 'regex:implicit|gather|scatter|gemm' -c 4 \
      --section SpeedOfLight --section LaunchStats --section Occupancy \
      "$BUILD/bench_kernels_sparse_conv" --benchmark_filter='BM_ConvForward/cuda/.*/100000/64$' --benchmark_min_time=0.01 && ncu_ok=1
  else
    echo "ncu not on PATH" >>"$P"
  fi
  if [ -n "$NSYS" ]; then
    echo "== nsys ($NSYS): MinkUNet14A training step, 100k voxels; NVTX phases leseg::forward/backward/optimizer" >>"$P"
    tmpn=$(mktemp -d)
    if run_boxed "$half" "$P" "$NSYS" profile -t cuda,nvtx -o "$tmpn/step" --force-overwrite true \
         "$BUILD/bench_models" --benchmark_filter='TrainStep/cuda/MinkUNet14A/voxels:100000' --benchmark_min_time=0.01; then
      run_boxed 30 "$P" "$NSYS" stats -q --report nvtx_sum --report cuda_gpu_kern_sum --format table "$tmpn"/step.nsys-rep && nsys_ok=1
    fi
    rm -rf "$tmpn"
  else
    echo "nsys not found (not on PATH, not under /opt/nvidia)" >>"$P"
  fi
  phases=$(grep -c -E 'leseg::(forward|backward|optimizer)' "$P" || true)
  step profile $([ $ncu_ok = 1 ] && echo PASS || echo FAIL) $(($(date +%s) - t)) "ncu $([ $ncu_ok = 1 ] && echo ok || echo failed); nsys $([ $nsys_ok = 1 ] && echo "ok, $phases NVTX phase rows" || echo 'failed or unavailable')"
else
  step profile SKIP 0 "$skip_reason"
fi

# ---- 5. summary ------------------------------------------------------------------------------------------------
python3 "$ROOT/scripts/gpu/summarize.py" "$OUT" "$STEPS" "$DRY" "$(($(date +%s) - T0))" || log "summarize.py failed"
rm -f "$STEPS"
log "summary: $OUT/summary.md"
cat "$OUT/summary.md" | sed -n '1,60p'
# Exit status: 0 when every step that ran passed.
! grep -q '| FAIL |' "$OUT/summary.md"
