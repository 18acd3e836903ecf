#!/usr/bin/env bash
# The real-data chain in one command: convert -> export (CLIP/MaskCLIP, SAM, optionally captions) -> inspect (the four
# noise figures) -> train a label-free regime (clip2scene) -> evaluate.
#   scripts/real_data_chain.sh [SRC] [OUT]
# SRC   default ../shared/data/pcl-mosd (two real Kinect RGB-D frames with 2D/3D table/object labels; `--from mosd`);
#       FORMAT=scannet-sens|nuscenes|kitti|... with SRC runs the same chain on other data (labels needed for the figures)
# OUT   default a fresh temp folder (data/, run/)
# Models: CLIP_WEIGHTS (open_clip ViT-B-16 checkpoint file), SAM_WEIGHTS (sam_vit_b_*.pth), BLIP_DIR (local BLIP
#   directory; captions only when CAPTIONS=1). Without them the exporters run RANDOMLY INITIALISED models of the same
#   architectures (this machine cannot reach model hubs): the chain runs end to end, the numbers mean nothing.
# STEPS (default 4) optimizer steps of clip2scene; LESEG_BIN (default build/leseg); LESEG_EXPORT_PY (default the
#   tools/export/.venv python, made by tools/export/setup.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LESEG=${LESEG_BIN:-$ROOT/build/leseg}
PY=${LESEG_EXPORT_PY:-$ROOT/tools/export/.venv/bin/python}
FORMAT=${FORMAT:-mosd}
SRC=${1:-$ROOT/../shared/data/pcl-mosd}
OUT=${2:-$(mktemp -d /tmp/leseg_real_chain.XXXXXX)}
STEPS=${STEPS:-4}
[ -x "$LESEG" ] || { echo "real_data_chain: $LESEG not built (LESEG_TARGETS=leseg scripts/build.sh)" >&2; exit 2; }
[ -x "$PY" ] || { echo "real_data_chain: no exporter venv at $PY (run tools/export/setup.sh)" >&2; exit 2; }
[ -e "$SRC" ] || { echo "real_data_chain: source $SRC not found" >&2; exit 2; }
export PYTHONPATH="$ROOT/tools/export${PYTHONPATH:+:$PYTHONPATH}"
clip_args=(--random-init) sam_args=(--random-init --points-per-side 8 --pred-iou-thresh 0 --stability-thresh 0)
cap_args=(--random-init --max-objects 2 --max-tokens 5)
if [ -n "${CLIP_WEIGHTS:-}" ]; then clip_args=(--weights "$CLIP_WEIGHTS"); cap_args=(--weights "$CLIP_WEIGHTS" --captioner "${BLIP_DIR:-}"); fi
if [ -n "${SAM_WEIGHTS:-}" ]; then sam_args=(--weights "$SAM_WEIGHTS"); fi
[ -z "${CLIP_WEIGHTS:-}${SAM_WEIGHTS:-}" ] && echo "== RANDOM-WEIGHT models (no CLIP_WEIGHTS / SAM_WEIGHTS given): the chain runs, its figures are meaningless =="
D=$OUT/data
rm -rf "$D" "$OUT/run"
val=()
[ "$FORMAT" = mosd ] && val=(--val test55)
t0=$(date +%s)
echo "== 1/6 convert ($FORMAT) =="; "$LESEG" data convert --from "$FORMAT" "$SRC" --to "$D" "${val[@]}"
echo "== 2/6 export text ==";      "$PY" -m leseg_export text "$D" "${clip_args[@]}"
echo "== 3/6 export maskclip ==";  "$PY" -m leseg_export maskclip "$D" "${clip_args[@]}"
echo "== 4/6 export sam ==";       "$PY" -m leseg_export sam "$D" "${sam_args[@]}"
if [ "${CAPTIONS:-0}" = 1 ]; then echo "== 4b export captions =="; "$PY" -m leseg_export captions "$D" "${cap_args[@]}"; fi
echo "== 5/6 inspect ==";          "$LESEG" data inspect "$D"
echo "== 6/6 train clip2scene ($STEPS steps) and evaluate =="
over=(data.root="$D" train.out="$OUT/run" data.batch_size=1 data.val_batch_size=1 data.voxel_size=0.02
      self_training.enabled=false train.log_every=1)
"$LESEG" train "$ROOT/configs/clip2scene_synthetic.yaml" "${over[@]}" train.max_steps="$STEPS" train.epochs="$STEPS" train.eval_every="$STEPS"
"$LESEG" eval "$ROOT/configs/clip2scene_synthetic.yaml" "${over[@]}" --checkpoint "$OUT/run"
echo "real_data_chain: done in $(( $(date +%s) - t0 )) s; output in $OUT"
