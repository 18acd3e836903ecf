#!/usr/bin/env bash
# Builds the libFuzzer targets for the PLY and PCD parsers with clang++ -fsanitize=fuzzer,address,undefined
# (no CMake: the parsers depend only on engine/error.h and the standard library) and runs each for
# ${LESEG_FUZZ_SECONDS:-20} s from the seed corpus in fuzz/corpus/<name>. Exits non-zero on a crash or on an
# input that takes over 10 s (-timeout: libFuzzer's total-time limit does not interrupt one slow input).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${LESEG_FUZZ_DIR:-build-fuzz}
SECONDS_PER_TARGET=${LESEG_FUZZ_SECONDS:-20}
CXX=${LESEG_FUZZ_CXX:-clang++}
mkdir -p "$OUT"
FLAGS=(-std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I.)
"$CXX" "${FLAGS[@]}" fuzz/ply_fuzz.cpp io/formats/ply.cpp io/formats/file_io.cpp -o "$OUT/ply_fuzz"
"$CXX" "${FLAGS[@]}" fuzz/pcd_fuzz.cpp io/formats/pcd.cpp io/formats/lzf.cpp io/formats/file_io.cpp -o "$OUT/pcd_fuzz"
for t in ply pcd; do
  mkdir -p "$OUT/corpus_$t"
  cp -n fuzz/corpus/$t/* "$OUT/corpus_$t/" 2>/dev/null || true
  echo "== fuzzing $t for ${SECONDS_PER_TARGET}s"
  "$OUT/${t}_fuzz" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix="$OUT/${t}_" "$OUT/corpus_$t" 2>&1 | tail -n 3
  test "${PIPESTATUS[0]}" -eq 0
done
echo "fuzz: no crashes"
