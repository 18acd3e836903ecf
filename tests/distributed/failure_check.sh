#!/usr/bin/env bash
# Failure behaviour and launch paths of data-parallel training (CTest: distributed_failure).
#   usage: failure_check.sh <leseg binary> <mpirun>
# 1. hang: rank 1 stops answering at step 2 (LESEG_DIST_FAULT=hang:1:2); rank 0 must fail its next collective after
#    the timeout (LESEG_DIST_TIMEOUT=5 s) with the message, and the whole job must exit non-zero (MPI_Abort).
# 2. kill: rank 1 SIGKILLs itself at step 2; the job must exit non-zero (mpirun tears the job down and names the
#    dead rank) instead of hanging.
# 3. config mismatch between the ranks (MPMD launch, a different override on rank 1): error at start-up.
# 4. `leseg train --nproc 2` re-launches through mpirun and trains (rank 0 writes the run folder).
# Each run is bounded by `timeout 120`: a hang shows up as exit 124, which fails the check.
set -uo pipefail
LESEG=$1
MPIRUN=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive
fail() { echo "FAIL: $*"; exit 1; }

"$LESEG" data synth --out "$TMP/data" --train 4 --val 3 --density 120 --views 0 --threads 2 >/dev/null || fail "synth"
cat > "$TMP/cfg.yaml" <<YAML
seed: 1
regime: supervised
data: {root: $TMP/data, batch_size: 1, val_batch_size: 1, voxel_size: 0.2, augment: true, workers: 1}
model: {name: MinkUNet14A, planes: [8, 8, 8, 8, 8, 8, 8, 8], init_dim: 8, sync_bn: true}
optim: {name: sgd, lr: 0.05, momentum: 0.9}
train: {epochs: 4, log_every: 1, eval_every: -1, out: $TMP/run}
YAML
MP=("$MPIRUN" --oversubscribe --bind-to none)

echo "== 1. rank 1 hangs at step 2"
start=$(date +%s)
LESEG_DIST_FAULT=hang:1:2 LESEG_DIST_TIMEOUT=5 timeout 120 "${MP[@]}" -np 2 -x LESEG_DIST_FAULT -x LESEG_DIST_TIMEOUT \
  "$LESEG" train "$TMP/cfg.yaml" > "$TMP/hang.log" 2>&1
rc=$?
echo "exit $rc after $(( $(date +%s) - start )) s"; tail -n 15 "$TMP/hang.log"
[ $rc -ne 0 ] || fail "hang: the job exited 0"
[ $rc -ne 124 ] || fail "hang: the job hung until the test's timeout"
grep -q "rank 0 of 2: .* did not complete within 5 s" "$TMP/hang.log" || fail "hang: no timeout message from rank 0"

echo "== 2. rank 1 is killed at step 2"
start=$(date +%s)
LESEG_DIST_FAULT=kill:1:2 LESEG_DIST_TIMEOUT=30 timeout 120 "${MP[@]}" -np 2 -x LESEG_DIST_FAULT -x LESEG_DIST_TIMEOUT \
  "$LESEG" train "$TMP/cfg.yaml" > "$TMP/kill.log" 2>&1
rc=$?
echo "exit $rc after $(( $(date +%s) - start )) s"; tail -n 15 "$TMP/kill.log"
[ $rc -ne 0 ] || fail "kill: the job exited 0"
[ $rc -ne 124 ] || fail "kill: the job hung until the test's timeout"
grep -q "killing myself" "$TMP/kill.log" || fail "kill: the fault was not injected"
grep -Eq "rank 1 .*(signal 9|Killed)|did not complete within" "$TMP/kill.log" || fail "kill: no message naming the failure"

echo "== 3. config mismatch"
timeout 120 "$MPIRUN" --oversubscribe --bind-to none -np 1 "$LESEG" train "$TMP/cfg.yaml" optim.lr=0.05 : \
  -np 1 "$LESEG" train "$TMP/cfg.yaml" optim.lr=0.07 > "$TMP/mismatch.log" 2>&1
rc=$?
echo "exit $rc"; tail -n 6 "$TMP/mismatch.log"
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "mismatch: exit $rc"
grep -q "rank(s) 1 run a different configuration than rank 0" "$TMP/mismatch.log" || fail "mismatch: no message"

echo "== 4. leseg train --nproc 2"
rm -rf "$TMP/run"
timeout 300 "$LESEG" train "$TMP/cfg.yaml" train.epochs=1 --nproc 2 > "$TMP/nproc.log" 2>&1
rc=$?
echo "exit $rc"; tail -n 6 "$TMP/nproc.log"
[ $rc -eq 0 ] || fail "--nproc 2: exit $rc"
grep -q "leseg train: 2 ranks (mpi), global batch 2 scenes" "$TMP/nproc.log" || fail "--nproc 2: not 2 ranks"
[ -f "$TMP/run/metrics.jsonl" ] || fail "--nproc 2: rank 0 wrote no metrics"
[ "$(grep -c '"type":"train"' "$TMP/run/metrics.jsonl")" -eq 2 ] || fail "--nproc 2: expected 2 optimizer steps (4 scenes, global batch 2)"

echo "== 5. leseg eval under mpirun -np 2 == one process (sharded validation, summed confusion matrices)"
"$LESEG" eval "$TMP/cfg.yaml" --checkpoint "$TMP/run" > "$TMP/eval1.log" 2>&1 || fail "eval (1 process)"
timeout 120 "${MP[@]}" -np 2 "$LESEG" eval "$TMP/cfg.yaml" --checkpoint "$TMP/run" > "$TMP/eval2.log" 2>&1 || fail "eval (2 ranks)"
one=$(grep -o 'mIoU [0-9.]* over [0-9]* classes, accuracy [0-9.]*, [0-9]* scenes, [0-9]* points' "$TMP/eval1.log")
two=$(grep -o 'mIoU [0-9.]* over [0-9]* classes, accuracy [0-9.]*, [0-9]* scenes, [0-9]* points' "$TMP/eval2.log")
echo "1 process: $one"; echo "2 ranks:   $two"
[ -n "$one" ] && [ "$one" = "$two" ] || fail "eval: 2 ranks differ from one process"
[ "$(grep -c '^checkpoint .*: mIoU' "$TMP/eval2.log")" -eq 1 ] || fail "eval: only rank 0 prints"
echo "OK"
