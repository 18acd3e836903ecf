#!/usr/bin/env bash
# Builds the libFuzzer targets for the PLY, PCD and .npy parsers and the config (YAML) parser with clang++ -fsanitize=fuzzer,address,undefined
# (no CMake: the parsers depend only on engine/error.h and the standard library; the config parser on yaml-cpp) and fuzzes each one.
#
# Two modes:
#  - gate (what scripts/test.sh runs): every input of fuzz/corpus/<name> is replayed (the seeds and every crash
#    found so far, kept as regressions), then LESEG_FUZZ_RUNS (default 300000) mutations from a fixed seed
#    (LESEG_FUZZ_SEED, default 1; a tenth of them for the config target) on a fresh copy of the corpus. The same tree gives the same verdict on every
#    machine, so a test run never fails on a bug the change did not bring.
#  - explore (LESEG_FUZZ_SECONDS=N): N seconds per target from a random seed, keeping the grown corpus in
#    $LESEG_FUZZ_DIR between runs. Crashes found here go into fuzz/corpus/<name>/regress_* with a unit test.
# Exits non-zero on a crash or on an input that takes over 10 s (-timeout).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${LESEG_FUZZ_DIR:-build-fuzz}
CXX=${LESEG_FUZZ_CXX:-clang++}
mkdir -p "$OUT"
FLAGS=(-std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I.)
"$CXX" "${FLAGS[@]}" fuzz/ply_fuzz.cpp io/formats/ply.cpp io/formats/file_io.cpp -o "$OUT/ply_fuzz"
"$CXX" "${FLAGS[@]}" fuzz/pcd_fuzz.cpp io/formats/pcd.cpp io/formats/lzf.cpp io/formats/file_io.cpp -o "$OUT/pcd_fuzz"
"$CXX" "${FLAGS[@]}" fuzz/npy_fuzz.cpp io/formats/npy_header.cpp -o "$OUT/npy_fuzz"
"$CXX" "${FLAGS[@]}" fuzz/config_fuzz.cpp train/config.cpp -lyaml-cpp -o "$OUT/config_fuzz"
COMMON=(-timeout=10 -rss_limit_mb=2048 -max_len=65536)
for t in ply pcd npy config; do
  if [ -n "${LESEG_FUZZ_SECONDS:-}" ]; then
    mkdir -p "$OUT/corpus_$t"
    cp -n fuzz/corpus/$t/* "$OUT/corpus_$t/" 2>/dev/null || true
    echo "== exploring $t for ${LESEG_FUZZ_SECONDS}s (random seed)"
    "$OUT/${t}_fuzz" -max_total_time="$LESEG_FUZZ_SECONDS" "${COMMON[@]}" \
      -artifact_prefix="$OUT/${t}_" "$OUT/corpus_$t" 2>&1 | tail -n 3
    test "${PIPESTATUS[0]}" -eq 0
  else
    echo "== replaying fuzz/corpus/$t ($(ls fuzz/corpus/$t | wc -l) inputs)"
    rc=0; "$OUT/${t}_fuzz" "${COMMON[@]}" fuzz/corpus/$t/* > "$OUT/replay_$t.log" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then tail -n 30 "$OUT/replay_$t.log"; exit "$rc"; fi
    echo "   $(grep -c '^Executed' "$OUT/replay_$t.log") inputs replayed clean"
    rm -rf "$OUT/gate_$t" && mkdir -p "$OUT/gate_$t" && cp fuzz/corpus/$t/* "$OUT/gate_$t/"
    runs=${LESEG_FUZZ_RUNS:-300000}
    # the config target runs yaml-cpp (uninstrumented, ~1 ms an input): a tenth of the runs keeps the gate short
    if [ "$t" = config ]; then runs=$(( runs / 10 )); fi
    echo "== fuzzing $t: $runs runs from seed ${LESEG_FUZZ_SEED:-1}"
    "$OUT/${t}_fuzz" -runs="$runs" -seed="${LESEG_FUZZ_SEED:-1}" "${COMMON[@]}" \
      -artifact_prefix="$OUT/${t}_" "$OUT/gate_$t" 2>&1 | tail -n 3
    test "${PIPESTATUS[0]}" -eq 0
  fi
done
echo "fuzz: no crashes"
