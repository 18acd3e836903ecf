#!/usr/bin/env bash
# A Python venv with PyPI's `tensorboard` package, used only by the TensorBoard round-trip test
# (tests/train/report/tensorboard_test.cpp reads our event files back with TensorBoard's own reader).
# Idempotent and quick when present; the folder (.venv-tensorboard, or $LESEG_TB_VENV) is ignored by git.
# Fails (and the test then skips visibly) when python3-venv or PyPI is unavailable.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${LESEG_TB_VENV:-.venv-tensorboard}
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import tensorboard" 2>/dev/null; then
  echo "tensorboard venv: present ($VENV)"
  exit 0
fi
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check tensorboard
"$VENV/bin/python" -c "import tensorboard; print('tensorboard venv: tensorboard', tensorboard.__version__, 'in $VENV')"
