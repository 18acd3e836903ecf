#!/usr/bin/env bash
# Ablation runner shared by every regime (the protocol: docs/evidence.md): scripts/ablate.sh METHOD [k=v ...]
# Rows come from configs/ablate/METHOD.tsv, one per line:   <row name> <TAB> <config> <TAB> <k=v overrides...>
# Directives (lines starting with "# <word>:"), all optional:
#   # metrics: miou miou_2d      eval-record keys to tabulate (default: miou); the first is the headline metric and
#                                every run must have it; a later key missing from a run's eval record shows as "—"
#                                (e.g. ERDA's p_acc, which the CE-only rows do not compute)
#   # mechanism: target_acc ...  keys of the train records' "stats" (the regime's step_stats) to tabulate: each
#                                run's value is the mean of its last LESEG_ABLATE_TAIL (3) train records with the key
#   # baseline: NAME             the row every other row is paired against (default: the row named "baseline")
#   # data: leseg data synth ... the exact command that made the table's data (printed in the table header; run
#                                by this script when LESEG_ABLATE_MAKE_DATA=1 and its --out folder does not exist)
# Control rows (by convention, docs/evidence.md): positive_control (the same regime on GT labels for the same
# points, data.label_source=gt) and negative_control (targets shuffled to random classes,
# data.label_source=shuffled). The table prints the headroom check: positive_control − baseline against the
# baseline's seed spread.
# Every row runs with the same seeds (LESEG_ABLATE_SEEDS, default "0 1 2") and budget (the config's, plus the
# extra k=v given here, applied to every row before the row's own overrides, so a row's key wins: e.g. a
# budget data.weak_labels=20pts for every row and a positive_control row's data.weak_labels=100%). Paired seeds: each row's Δ = row − baseline with the same seed,
# reported as mean [min, max] over seeds; absolute values as mean ± sample std (n − 1). LESEG_ABLATE_ROWS="a b"
# runs only those rows (plus the baseline); LESEG_ABLATE_RESUME=1 keeps runs whose metrics.jsonl already has an
# eval record (reruns only the missing ones); LESEG_ABLATE_TABULATE=1 runs nothing and tabulates the finished
# runs (seeds without one are left out of that row; Δ pairs only seeds both rows have). A metric missing from a
# run's last eval record is read from RUN/eval_final.json when present (its final checkpoint scored after the fact by
# `leseg eval RUN/config.yaml --checkpoint RUN --json RUN/eval_final.json`, e.g. a metric added after the run).
# Output: runs/ablate/METHOD/<row>/seed<S>/ (each a normal run folder), runs/ablate/METHOD/values.tsv (one line
# per row, seed, key, value) and runs/ablate/METHOD/table.md. Each row's seeds are overlaid in one report
# (`leseg report`, <row>/report/report.html) that the row name links to; LESEG_ABLATE_REPORT=0 skips them.
set -euo pipefail
cd "$(dirname "$0")/.."
METHOD=${1:?usage: scripts/ablate.sh METHOD [k=v ...]}
shift
ROWS=configs/ablate/$METHOD.tsv
[ -f "$ROWS" ] || { echo "ablate: no row file $ROWS (have: $(ls configs/ablate | tr '\n' ' '))" >&2; exit 2; }
SEEDS=${LESEG_ABLATE_SEEDS:-"0 1 2"}
OUT=${LESEG_ABLATE_OUT:-runs/ablate/$METHOD}
TAIL=${LESEG_ABLATE_TAIL:-3}
BIN=${LESEG_BIN:-${LESEG_BUILD_DIR:-build}/leseg}
if [ ! -x "$BIN" ]; then scripts/setup.sh >/dev/null; LESEG_TARGETS=leseg scripts/build.sh; fi
directive() { sed -n "s/^# $1: *//p" "$ROWS" | head -1; }
METRICS=$(directive metrics); METRICS=${METRICS:-miou}
MECH=$(directive mechanism)
BASE=$(directive baseline); BASE=${BASE:-baseline}
DATA=$(directive data)
mkdir -p "$OUT"

if [ -n "$DATA" ] && [ "${LESEG_ABLATE_MAKE_DATA:-0}" = "1" ]; then
  data_out=$(echo "$DATA" | sed -n 's/.*--out[ =]\([^ ]*\).*/\1/p')
  if [ -n "$data_out" ] && [ ! -d "$data_out" ]; then
    echo "== ablate $METHOD: making the data: $DATA"
    # shellcheck disable=SC2086
    "$BIN" ${DATA#leseg }
  fi
fi

# value of a flat numeric key in the last "type":"eval" line of a metrics.jsonl
last_eval() { { grep '"type":"eval"' "$1" | tail -1 | grep -o "\"$2\":[-0-9.eE+]*" | head -1 | cut -d: -f2; } || true; }
# mean of a stats key over the last $TAIL train records that carry it
tail_stat() {  # (a key the run never logged is no error: that row has no such mechanism)
  { grep '"type":"train"' "$1" | grep -o "\"$2\":[-0-9.eE+]*" | cut -d: -f2 | tail -n "$TAIL" |
      awk '{ s += $1; n++ } END { if (n) printf "%.6g", s / n }'; } || true
}

selected() {  # is row $1 selected by LESEG_ABLATE_ROWS?
  [ -z "${LESEG_ABLATE_ROWS:-}" ] && return 0
  [ "$1" = "$BASE" ] && return 0
  for r in $LESEG_ABLATE_ROWS; do [ "$r" = "$1" ] && return 0; done
  return 1
}

values="$OUT/values.tsv"
: > "$values.tmp"
order=()
while IFS=$'\t' read -r row config overrides; do
  [[ -z "$row" || "$row" == \#* ]] && continue
  selected "$row" || continue
  order+=("$row")
  for s in $SEEDS; do
    run="$OUT/$row/seed$s"
    if [ -f "$run/metrics.jsonl" ] && grep -q '"type":"eval"' "$run/metrics.jsonl" &&
       [ "${LESEG_ABLATE_RESUME:-0}${LESEG_ABLATE_TABULATE:-0}" != "00" ]; then
      echo "== ablate $METHOD: $row (seed $s): kept $run"
    elif [ "${LESEG_ABLATE_TABULATE:-0}" = "1" ]; then
      echo "== ablate $METHOD: $row (seed $s): no finished run, left out of the table" >&2
      continue
    else
      echo "== ablate $METHOD: $row (seed $s) -> $run"
      # shellcheck disable=SC2086
      "$BIN" train "$config" seed="$s" "$@" $overrides --out "$run"
    fi
    for m in $METRICS; do
      v=$(last_eval "$run/metrics.jsonl" "$m")
      # a key the run's own log lacks (a metric added after it ran) may come from its final checkpoint scored after
      # the fact: `leseg eval RUN/config.yaml --checkpoint RUN --json RUN/eval_final.json`
      [ -z "$v" ] && [ -f "$run/eval_final.json" ] &&
        v=$({ tr -d ' \n' < "$run/eval_final.json" | grep -o "\"$m\":[-0-9.eE+]*" | head -1 | cut -d: -f2; } || true)
      if [ -z "$v" ]; then  # the headline metric is required; a later one may be missing in some rows ("—")
        [ "$m" = "${METRICS%% *}" ] || continue
        echo "ablate: $run/metrics.jsonl has no eval record with '$m'" >&2; exit 1
      fi
      printf '%s\t%s\t%s\t%s\n' "$row" "$s" "$m" "$v" >> "$values.tmp"
    done
    for k in $MECH; do
      v=$(tail_stat "$run/metrics.jsonl" "$k")
      [ -n "$v" ] && printf '%s\t%s\t%s\t%s\n' "$row" "$s" "stats.$k" "$v" >> "$values.tmp"
    done
  done
  if [ "${LESEG_ABLATE_REPORT:-1}" != "0" ]; then
    runs=()
    for s in $SEEDS; do runs+=("$OUT/$row/seed$s"); done
    "$BIN" report "${runs[@]}" --out "$OUT/$row/report" --scenes 1 >/dev/null ||
      echo "ablate: report for row $row failed (table row left unlinked)" >&2
  fi
done < "$ROWS"
mv "$values.tmp" "$values"

table="$OUT/table.md"
{
  echo "Ablation \`$METHOD\` ($ROWS), seeds $(echo $SEEDS | tr ' ' ','), extra overrides: \`${*:-none}\`."
  [ -n "$DATA" ] && echo "Data: \`$DATA\`."
  echo "Absolute: mean ± sample std over seeds (%). Δ: row − $BASE with the same seed, mean [min, max] (points)."
  [ -n "$MECH" ] && echo "Mechanism (train-record stats, mean of each run's last $TAIL records, then over seeds; ×100): $MECH."
  echo
  printf '| row |'
  for m in $METRICS; do printf ' %s |' "$m"; printf ' Δ%s |' "$m"; done
  for k in $MECH; do printf ' %s |' "$k"; done
  printf '\n|---|'
  for m in $METRICS; do printf -- '---|---|'; done
  for k in $MECH; do printf -- '---|'; done
  printf '\n'
  for row in "${order[@]}"; do
    cell=$row
    [ -f "$OUT/$row/report/report.html" ] && cell="[$row]($row/report/report.html)"
    printf '| %s |' "$cell"
    for m in $METRICS; do
      awk -F'\t' -v r="$row" -v b="$BASE" -v m="$m" '
        $3 == m && $1 == r { v[$2] = $4; n++; s += $4; seeds[n] = $2 }
        $3 == m && $1 == b { base[$2] = $4 }
        END {
          if (n == 0) { printf " — | — |"; exit }
          mu = s / n; ss = 0; for (i = 1; i <= n; i++) ss += (v[seeds[i]] - mu) ^ 2
          sd = n > 1 ? sqrt(ss / (n - 1)) : 0
          printf " %.1f ± %.1f (n=%d) |", 100 * mu, 100 * sd, n
          if (r == b) { printf " — |"; exit }
          k = 0; ds = 0
          for (i = 1; i <= n; i++) if (seeds[i] in base) {
            d = 100 * (v[seeds[i]] - base[seeds[i]]); k++; ds += d
            if (k == 1 || d < lo) lo = d; if (k == 1 || d > hi) hi = d }
          if (k) printf " %+.1f [%+.1f, %+.1f] |", ds / k, lo, hi; else printf " n/a |"
        }' "$values"
    done
    for k in $MECH; do
      awk -F'\t' -v r="$row" -v m="stats.$k" '$1 == r && $3 == m { s += $4; n++ }
        END { if (n) printf " %.1f |", 100 * s / n; else printf " — |" }' "$values"
    done
    printf '\n'
  done
  # Headroom check (issue 19): the positive control must beat the baseline by well more than the seed spread.
  m1=${METRICS%% *}
  if grep -q "^positive_control	" "$values" && grep -q "^$BASE	" "$values"; then
    awk -F'\t' -v b="$BASE" -v m="$m1" '
      $3 == m && $1 == "positive_control" { p[$2] = $4 }
      $3 == m && $1 == b { q[$2] = $4; s += $4; n++; x[n] = $4 }
      END {
        mu = s / n; ss = 0; for (i = 1; i <= n; i++) ss += (x[i] - mu) ^ 2; sd = n > 1 ? sqrt(ss / (n - 1)) : 0
        k = 0; for (sd_ in p) if (sd_ in q) { d = p[sd_] - q[sd_]; ds += d; k++; if (k == 1 || d < lo) lo = d }
        if (k < 2 || n < 2) { printf "\nHeadroom (%s): fewer than 2 paired seeds, not judged\n", m; exit }
        printf "\nHeadroom (%s): positive_control − %s = %+.1f (smallest paired %+.1f) against the %s sample std %.1f: %s\n",
          m, b, 100 * ds / k, 100 * lo, b, 100 * sd,
          (lo > 2 * sd ? "open (every paired Δ > 2 std)" : "NOT open: change the budget or the label amount before reading component rows")
      }' "$values"
  fi
} > "$table"
echo "ablate: wrote $table"
cat "$table"
