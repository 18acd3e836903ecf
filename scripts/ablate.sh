#!/usr/bin/env bash
# Ablation runner shared by every regime: scripts/ablate.sh METHOD [k=v ...]
# Rows come from configs/ablate/METHOD.tsv, one per line:   <row name> <TAB> <config> <TAB> <k=v overrides...>
# A line "# metrics: miou miou_2d" names the eval-record keys to tabulate (default: miou).
# Every row runs with the same seeds (LESEG_ABLATE_SEEDS, default "0 1 2") and budget (the config's, plus the
# extra k=v given here, applied to every row). Output: runs/ablate/METHOD/<row>/seed<S>/ (each a normal run
# folder) and runs/ablate/METHOD/table.md with mean ± std (population std over seeds) of the last evaluation.
# Each row's seeds are overlaid in one report (`leseg report`, runs/ablate/METHOD/<row>/report/report.html) that
# the table's row name links to; LESEG_ABLATE_REPORT=0 skips the reports.
set -euo pipefail
cd "$(dirname "$0")/.."
METHOD=${1:?usage: scripts/ablate.sh METHOD [k=v ...]}
shift
ROWS=configs/ablate/$METHOD.tsv
[ -f "$ROWS" ] || { echo "ablate: no row file $ROWS (have: $(ls configs/ablate | tr '\n' ' '))" >&2; exit 2; }
SEEDS=${LESEG_ABLATE_SEEDS:-"0 1 2"}
OUT=${LESEG_ABLATE_OUT:-runs/ablate/$METHOD}
BIN=${LESEG_BIN:-${LESEG_BUILD_DIR:-build}/leseg}
if [ ! -x "$BIN" ]; then scripts/setup.sh >/dev/null; LESEG_TARGETS=leseg scripts/build.sh; fi
METRICS=$(sed -n 's/^# metrics: *//p' "$ROWS" | head -1)
METRICS=${METRICS:-miou}
mkdir -p "$OUT"

# value of a flat numeric key in the last "type":"eval" line of a metrics.jsonl
last_eval() { grep '"type":"eval"' "$1" | tail -1 | grep -o "\"$2\":[-0-9.eE+]*" | head -1 | cut -d: -f2; }

table="$OUT/table.md"
{
  printf '| row |'; for m in $METRICS; do printf ' %s (mean ± std, %%) |' "$m"; done; printf ' seeds |\n'
  printf '|---|'; for m in $METRICS; do printf -- '---|'; done; printf -- '---|\n'
} > "$table.tmp"
while IFS=$'\t' read -r row config overrides; do
  [[ -z "$row" || "$row" == \#* ]] && continue
  declare -A vals=()
  for s in $SEEDS; do
    run="$OUT/$row/seed$s"
    echo "== ablate $METHOD: $row (seed $s) -> $run"
    # shellcheck disable=SC2086
    "$BIN" train "$config" seed="$s" $overrides "$@" --out "$run"
    for m in $METRICS; do
      v=$(last_eval "$run/metrics.jsonl" "$m")
      [ -n "$v" ] || { echo "ablate: $run/metrics.jsonl has no eval record with '$m'" >&2; exit 1; }
      vals[$m]="${vals[$m]:-} $v"
    done
  done
  row_cell=$row
  if [ "${LESEG_ABLATE_REPORT:-1}" != "0" ]; then
    runs=()
    for s in $SEEDS; do runs+=("$OUT/$row/seed$s"); done
    if "$BIN" report "${runs[@]}" --out "$OUT/$row/report" --scenes 1; then
      row_cell="[$row]($row/report/report.html)"
    else
      echo "ablate: report for row $row failed (table row left unlinked)" >&2
    fi
  fi
  printf '| %s |' "$row_cell" >> "$table.tmp"
  for m in $METRICS; do
    echo "${vals[$m]}" | awk '{ n=NF; s=0; for(i=1;i<=n;i++) s+=$i; mu=s/n; v=0; for(i=1;i<=n;i++) v+=($i-mu)^2;
                              printf " %.1f ± %.1f |", 100*mu, 100*sqrt(v/n) }' >> "$table.tmp"
  done
  printf ' %s |\n' "$(echo $SEEDS | tr ' ' ',')" >> "$table.tmp"
  unset vals
done < "$ROWS"
mv "$table.tmp" "$table"
echo "ablate: wrote $table"
cat "$table"
