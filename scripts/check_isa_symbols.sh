#!/usr/bin/env bash
# Checks that the x86-64-v3 copies of the CPU kernels (kernels/**/*_x86v3.cpp, kernels/common/isa.h) define no
# symbol that another object could also define: every global or weak (COMDAT) symbol they define must live in
# namespace isa_x86v3 or in the renamed Eigen (leseg_eigen_x86v3). Otherwise the linker may pick the AVX2 copy of
# an inline function for the baseline path too, and the binary would fault on a CPU without AVX2.
#   scripts/check_isa_symbols.sh build/libleseg_kernels.a      (CTest: isa_symbols)
set -euo pipefail
lib=${1:?usage: check_isa_symbols.sh libleseg_kernels.a}
out=$(nm -C --defined-only "$lib" 2>/dev/null | awk '
  /^$/ { next }
  /:$/ { member = $0; next }
  member ~ /_x86v3\.cpp\.o:$/ && $2 !~ /^[tdbrn]$/ && $0 !~ /isa_x86v3|leseg_eigen_x86v3|DW\.ref\.__gxx_personality_v0/ { print member " " $0 }')
n=$(nm "$lib" 2>/dev/null | grep -c '_x86v3\.cpp\.o:$' || true)
if [ -n "$out" ]; then
  echo "x86-64-v3 objects define shared symbols (could replace the baseline copies at link time):"
  echo "$out" | head -40
  exit 1
fi
echo "ok: $n x86-64-v3 objects, no shared symbols"
