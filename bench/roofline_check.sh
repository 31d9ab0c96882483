#!/usr/bin/env bash
# bench/roofline_check.sh: the roofline cost model's predictions against measured tokens/s.
#
#   bench/roofline_check.sh [MODEL.gguf ...]
#
# Measures this machine's hardware profile (`mnemo hw --save`: DRAM read bandwidth, the streaming
# rate of each weight type's decode GEMV and the compute roofs of mnemo's kernels, at 1 .. THREADS
# threads), then for every model runs
# `mnemo bench` (ppPP and tgTG at THREADS threads, REPS repetitions after a warm-up) and
# `mnemo roofline` on that profile with the same sizes, and prints one table row per test: measured
# and predicted tok/s, their ratio and whether the prediction is within 30%. The load average
# before and after is printed: on a shared machine, run it when the load is low and quote it.
#
# Environment (defaults in brackets):
#   MNEMO    mnemo binary                           [build/release/tools/mnemo/mnemo]
#   THREADS  thread count of the tests              [2]
#   PP       prompt tokens of the prefill test      [512]
#   TG       generated tokens of the decode test    [128]
#   REPS     repetitions of mnemo bench             [3]
#   ROUNDS   rounds of (profile, then every model's bench and roofline) [1]; with more than one,
#            the medians over rounds follow the per-round table
#   PROFILE  profile file: used by every round if present, else measured and written there
#            [measured again in each round, into a temporary file]
#   OUT      also write the table (markdown) to this file
# Models default to /work/models/tinyllama-{q4_0,q8_0,f16}.gguf (`mnemo gen-model --shape
# tinyllama-1.1b --dtype Q4_0|Q8_0|F16`).
set -euo pipefail

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MNEMO=${MNEMO:-$ROOT/build/release/tools/mnemo/mnemo}
THREADS=${THREADS:-2}
PP=${PP:-512}
TG=${TG:-128}
REPS=${REPS:-3}
if [[ ! -x "$MNEMO" ]]; then
  echo "roofline_check.sh: $MNEMO: expected the mnemo binary (set MNEMO)" >&2
  exit 2
fi
command -v jq >/dev/null || { echo "roofline_check.sh: needs jq" >&2; exit 2; }
MODELS=("$@")
if [[ ${#MODELS[@]} -eq 0 ]]; then
  MODELS=(/work/models/tinyllama-q4_0.gguf /work/models/tinyllama-q8_0.gguf /work/models/tinyllama-f16.gguf)
fi
for m in "${MODELS[@]}"; do
  [[ -f "$m" ]] || { echo "roofline_check.sh: $m: no such model" >&2; exit 2; }
done
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
ROUNDS=${ROUNDS:-1}

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs; $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "mnemo: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'); load before: $(cut -d' ' -f1-3 /proc/loadavg)"

header="| round | model | test | threads | measured tok/s | predicted tok/s | predicted / measured | within 30% |
|---|---|---|---|---|---|---|---|"
table=$header
: > "$TMP/rows"
for round in $(seq 1 "$ROUNDS"); do
  profile=${PROFILE:-$TMP/hw-$round.json}
  if [[ ! -f "$profile" ]]; then
    hw_threads=$(seq -s, 1 "$THREADS")
    echo "round $round: measuring the profile: $MNEMO hw -t $hw_threads --save $profile" >&2
    "$MNEMO" hw -t "$hw_threads" --save "$profile" > /dev/null
  fi
  roofs=$(jq -r --argjson t "$THREADS" '[.bandwidth[] | select(.threads == $t or .threads == 0)
    | "\(.kind // "read") \(.gb_s * 10 | round / 10)"] | join(", ")' "$profile")
  echo "round $round profile (memory roofs at $THREADS threads, GB/s: $roofs; load $(cut -d' ' -f1 /proc/loadavg))"
  for m in "${MODELS[@]}"; do
    name=$(basename "$m" .gguf)
    echo "round $round: bench $name" >&2
    "$MNEMO" bench -m "$m" -p "$PP" -n "$TG" -t "$THREADS" -r "$REPS" --json > "$TMP/bench.json"
    "$MNEMO" roofline -m "$m" --hw "$profile" -p "$PP" -n "$TG" -t "$THREADS" --json > "$TMP/roof.json"
    for test in "pp$PP" "tg$TG"; do
      measured=$(jq --arg t "$test" '[.[] | select(.test == $t) | .avg_ts][0]' "$TMP/bench.json")
      stage=prefill
      [[ $test == tg* ]] && stage=decode
      predicted=$(jq --arg s "$stage" '[.stages[] | select(.stage == $s) | .tokens_per_s][0]' "$TMP/roof.json")
      echo "$name $test $measured $predicted" >> "$TMP/rows"
      row=$(awk -v m="$measured" -v p="$predicted" 'BEGIN {
        r = p / m; ok = (r >= 0.7 && r <= 1.3) ? "yes" : "NO";
        printf "%.2f | %.2f | %.2f | %s", m, p, r, ok }')
      table+=$'\n'"| $round | $name | $test | $THREADS | $row |"
    done
  done
done
echo
echo "$table"
# Over the rounds: the median measured and predicted tok/s and the median ratio.
summary="| model | test | threads | median measured tok/s | median predicted tok/s | median predicted / measured | within 30% |
|---|---|---|---|---|---|---|"
while read -r name test; do
  row=$(awk -v n="$name" -v t="$test" '$1 == n && $2 == t { m[++k] = $3; p[k] = $4; r[k] = $4 / $3 }
    function med(a, k,   i, j, x) { for (i = 2; i <= k; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
      return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
    END { mr = med(r, k); printf "%.2f | %.2f | %.2f | %s", med(m, k), med(p, k), mr, (mr >= 0.7 && mr <= 1.3) ? "yes" : "NO" }' "$TMP/rows")
  summary+=$'\n'"| $name | $test | $THREADS | $row |"
done < <(awk '!seen[$1 " " $2]++ { print $1, $2 }' "$TMP/rows")
if [[ $ROUNDS -gt 1 ]]; then
  echo
  echo "$summary"
fi
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ -n "${OUT:-}" ]]; then
  { echo "$table"; if [[ $ROUNDS -gt 1 ]]; then echo; echo "$summary"; fi; } > "$OUT"
fi
