#!/usr/bin/env bash
# CTest wrapper for tools/export's Python tests and the real-data chain: exits 77 (CTest: Skipped, with the reason
# printed) when the exporter venv (tools/export/setup.sh) or, for the chain, the shared data is absent.
#   run_python.sh SOURCE_DIR LESEG_BIN helpers|models|chain
set -uo pipefail
SRC=$1 BIN=$2 WHAT=$3
PY=${LESEG_EXPORT_PY:-$SRC/tools/export/.venv/bin/python}
if [ "$WHAT" = helpers ] && [ ! -x "$PY" ] && [ -z "${LESEG_EXPORT_PY:-}" ] && /usr/bin/python3 -c 'import numpy, PIL' 2>/dev/null; then
  PY=/usr/bin/python3   # the helpers need numpy and Pillow only: Debian's python3-numpy / python3-pil (setup.sh)
fi
if [ ! -f "$PY" ] || [ ! -x "$PY" ]; then echo "SKIPPED: no exporter venv at $PY (run tools/export/setup.sh)"; exit 77; fi
if [ "$WHAT" != helpers ] && ! "$PY" -c 'import torch, open_clip, segment_anything, transformers' 2>/dev/null; then
  echo "SKIPPED: the exporter venv lacks torch / open_clip / segment_anything / transformers"; exit 77
fi
cd "$SRC/tools/export"
case $WHAT in
  helpers) exec "$PY" -m unittest -v tests/test_layout.py ;;
  models) LESEG_BIN=$BIN exec "$PY" -m unittest -v tests/test_models.py ;;
  chain)
    if [ ! -d "$SRC/../shared/data/pcl-mosd" ]; then echo "SKIPPED: ../shared/data/pcl-mosd absent"; exit 77; fi
    out=$(mktemp -d /tmp/leseg_chain_test.XXXXXX)
    LESEG_BIN=$BIN LESEG_EXPORT_PY=$PY "$SRC/scripts/real_data_chain.sh" "$SRC/../shared/data/pcl-mosd" "$out" > "$out.log" 2>&1
    rc=$?
    cat "$out.log"
    [ $rc -eq 0 ] || exit $rc
    grep -q "after SAM-mask voting" "$out.log" || { echo "FAIL: inspect printed no noise figures"; exit 1; }
    grep -q "real_data_chain: done" "$out.log" || exit 1
    rm -rf "$out" "$out.log" ;;
  *) echo "unknown $WHAT"; exit 2 ;;
esac
