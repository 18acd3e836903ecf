#!/usr/bin/env bash
# Evidence runs for LASS3D and CNS (issue 20, docs/evidence-lass3d-cns.md): scripts/evidence_lass3d_cns.sh TSV [k=v ...]
# Rows come from TSV (configs/ablate/*.tsv format: <row> TAB <config> TAB <overrides>); unlike scripts/ablate.sh the
# loop is seed-major (every row of seed 0, then seed 1, ...), so an interrupted run still holds complete paired seeds.
# Seeds: LESEG_EVIDENCE_SEEDS (default "0 1 2"); output LESEG_EVIDENCE_OUT (default runs/evidence/<tsv name>)/<row>/seed<S>.
# The extra k=v (the budget) come before the row's overrides, so a row may change the budget. A finished run (metrics.jsonl with an eval record) is not run again. Then the table:
#   python3 scripts/evidence_table.py runs/evidence/<tsv name> --tsv TSV --baseline ROW
set -euo pipefail
cd "$(dirname "$0")/.."
TSV=${1:?usage: scripts/evidence_lass3d_cns.sh TSV [k=v ...]}
shift
NAME=$(basename "$TSV" .tsv)
SEEDS=${LESEG_EVIDENCE_SEEDS:-"0 1 2"}
OUT=${LESEG_EVIDENCE_OUT:-runs/evidence/$NAME}
BIN=${LESEG_BIN:-${LESEG_BUILD_DIR:-build}/leseg}
mkdir -p "$OUT"
for s in $SEEDS; do
  while IFS=$'\t' read -r row config overrides; do
    [[ -z "$row" || "$row" == \#* ]] && continue
    run="$OUT/$row/seed$s"
    if [ -f "$run/metrics.jsonl" ] && grep -q '"type":"eval"' "$run/metrics.jsonl"; then continue; fi
    rm -rf "$run"; mkdir -p "$OUT/$row"
    echo "== evidence $NAME: $row (seed $s) -> $run  $(date -u +%H:%M:%S)"
    # shellcheck disable=SC2086
    "$BIN" train "$config" seed="$s" "$@" $overrides --quiet --out "$run" > "$run.log" 2>&1 || { mkdir -p "$run"; echo "failed: see $run.log" >&2; }
  done < "$TSV"
done
