#!/usr/bin/env bash
# Set-up + build + the main job: MinkUNet14A trained supervised on synthetic indoor rooms, on CPU.
#   1. generates the synthetic scenes into data/synthetic if absent (`leseg data synth`);
#   2. trains (configs/supervised_synthetic.yaml; extra key=value arguments to this script are passed on);
#   3. evaluates the final checkpoint on the held-out rooms (per-class IoU table + mIoU);
#   4. writes per-point predictions (.npy + coloured PLY) for one held-out room into <run>/predictions;
#   5. writes the run's report (`leseg report`): <run>/report/report.html (one self-contained file) + PNG figures.
# Environment: LESEG_BUILD_DIR (build), DEMO_DATA (data/synthetic), DEMO_TRAIN / DEMO_VAL (scene counts),
# DEMO_RUN (runs/supervised_synthetic).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
LESEG_TARGETS=leseg scripts/build.sh
BIN="${LESEG_BUILD_DIR:-build}/leseg"
DATA=${DEMO_DATA:-data/synthetic}
RUN=${DEMO_RUN:-runs/supervised_synthetic}
CFG=configs/supervised_synthetic.yaml
start=$(date +%s)
if [ ! -f "$DATA/dataset.json" ]; then
  "$BIN" data synth --out "$DATA" --train "${DEMO_TRAIN:-24}" --val "${DEMO_VAL:-6}" --views 0 --density 300 --seed 0
fi
"$BIN" train "$CFG" "data.root=$DATA" "train.out=$RUN" "$@"
"$BIN" eval "$CFG" "data.root=$DATA" "train.out=$RUN" "$@" --checkpoint "$RUN" | tee "$RUN/eval.txt"
scene=$(head -n 1 "$DATA/val.txt")
"$BIN" infer "$CFG" "data.root=$DATA" "train.out=$RUN" "$@" --checkpoint "$RUN" --scene "$DATA/scenes/$scene" \
  --out "$RUN/predictions"
"$BIN" report "$RUN" --set "data.root=$DATA"
echo "main job: $(grep -o 'mIoU [0-9.]*' "$RUN/eval.txt" | head -n 1) on ${DEMO_VAL:-6} held-out rooms," \
  "total time $(( $(date +%s) - start )) s (run folder $RUN, report $RUN/report/report.html)"
