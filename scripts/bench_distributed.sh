#!/usr/bin/env bash
# Data-parallel step scaling on CPU (docs/distributed.md): the demo config (MinkUNet14A, synthetic rooms) for a
# few optimizer steps with the same global batch of 2 scenes,
#   1 rank  × batch 2, OMP_NUM_THREADS=2   (one process using both cores)
#   1 rank  × batch 2, OMP_NUM_THREADS=1   (one core)
#   2 ranks × batch 1, OMP_NUM_THREADS=1   (one core each, mpirun)
# and prints seconds per step (steps 3..S, the first two warm up the allocator and caches) and the share of rank
# 0's step spent in collectives outside the backward (metrics.jsonl "end": comm_seconds / seconds).
#   usage: scripts/bench_distributed.sh [DATA (data/synthetic)] [STEPS (12)]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${LESEG_BUILD_DIR:-build}/leseg
DATA=${1:-data/synthetic}
STEPS=${2:-12}
[ -f "$DATA/dataset.json" ] || "$BIN" data synth --out "$DATA" --train 24 --val 6 --views 0 --density 300 --seed 0
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_WAIT_POLICY=passive
CFG=(configs/supervised_synthetic.yaml "data.root=$DATA" model.sync_bn=true train.max_steps=$STEPS train.log_every=1
     train.eval_every=-1 data.augment=false)
report() {  # name run-folder
  python3 - "$1" "$2/metrics.jsonl" "$STEPS" <<'PY'
import json, sys
name, path, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
rec = [json.loads(l) for l in open(path)]
tr = {r["step"]: r["elapsed_s"] for r in rec if r["type"] == "train"}
end = [r for r in rec if r["type"] == "end"][0]
per = (tr[steps] - tr[2]) / (steps - 2)
print(f"{name:34s} {per:7.3f} s/step  comm {100 * end['comm_seconds'] / end['seconds']:5.1f} % of the run"
      f"  ({end['ranks']} rank(s), {end['seconds']:.1f} s)")
PY
}
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
OMP_NUM_THREADS=2 "$BIN" train "${CFG[@]}" data.batch_size=2 "train.out=$OUT/a" >/dev/null
report "1 rank x batch 2, 2 threads" "$OUT/a"
OMP_NUM_THREADS=1 "$BIN" train "${CFG[@]}" data.batch_size=2 "train.out=$OUT/b" >/dev/null
report "1 rank x batch 2, 1 thread" "$OUT/b"
OMP_NUM_THREADS=1 mpirun -np 2 --bind-to none --oversubscribe "$BIN" train "${CFG[@]}" data.batch_size=1 "train.out=$OUT/c" >/dev/null
report "2 ranks x batch 1, 1 thread each" "$OUT/c"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
