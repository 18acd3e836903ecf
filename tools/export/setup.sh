#!/usr/bin/env bash
# Makes the exporter's venv (default tools/export/.venv) from PyPI:
#   open_clip_torch (CLIP / MaskCLIP), segment-anything (SAM), transformers (BLIP captioner), torch, numpy, pillow.
# LESEG_EXPORT_VENV   where to put it (default tools/export/.venv)
# LESEG_EXPORT_BASE   an existing venv whose packages (torch, numpy, ...) are reused through a .pth file instead of
#                     downloaded again (e.g. the baseline harness's /work/wt-15/.venv-baselines); only what is missing
#                     is installed into the new venv.
# No model weights are downloaded here or anywhere in tools/export: pass your own checkpoint files (docs/real-data.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${LESEG_EXPORT_VENV:-tools/export/.venv}
PY=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
if [ -n "${LESEG_EXPORT_BASE:-}" ]; then
  base_sp=$("$LESEG_EXPORT_BASE/bin/python" -c 'import site; print(site.getsitepackages()[0])')
  sp=$("$VENV/bin/python" -c 'import site; print(site.getsitepackages()[0])')
  echo "$base_sp" > "$sp/leseg_export_base.pth"
  echo "reusing packages of $LESEG_EXPORT_BASE ($base_sp)"
fi
need=()
"$VENV/bin/python" -c 'import torch' 2>/dev/null || need+=(torch)
"$VENV/bin/python" -c 'import numpy' 2>/dev/null || need+=(numpy)
"$VENV/bin/python" -c 'import PIL' 2>/dev/null || need+=(pillow)
"$VENV/bin/python" -c 'import open_clip' 2>/dev/null || need+=(open_clip_torch)
"$VENV/bin/python" -c 'import segment_anything' 2>/dev/null || need+=(segment-anything)
"$VENV/bin/python" -c 'import transformers' 2>/dev/null || need+=(transformers)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing from PyPI: ${need[*]}"
  "$VENV/bin/pip" install --quiet "${need[@]}"
fi
"$VENV/bin/python" -c 'import torch, open_clip, segment_anything, transformers, numpy, PIL; print("export venv ready:", torch.__version__, open_clip.__version__, transformers.__version__)'
