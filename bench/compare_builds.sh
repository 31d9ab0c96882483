#!/usr/bin/env bash
# bench/compare_builds.sh: two mnemo binaries (say, before and after a change) on the same models,
# in alternation, and the ratio of their medians: is a change neutral for speed?
#
#   bench/compare_builds.sh MNEMO_A MNEMO_B [MODEL.gguf ...]
#
# Build the older commit beside the repository (`git worktree add ../mnemo-before COMMIT`, then
# `cmake --preset release && cmake --build --preset release --target mnemo_cli` there). For every
# round and model both binaries run `mnemo bench -p PP -n TG -t THREADS -r REPS --json`; the order
# flips every round so a drifting shared machine hits both alike. The table gives each binary's
# median over rounds of its mean tokens/s and B / A. The load average before and after is printed:
# run it when the machine is quiet and quote it.
#
# Environment (defaults in brackets):
#   THREADS  thread count   [2]
#   PP       prompt tokens  [512]
#   TG       generated tokens [128]
#   ROUNDS   alternating rounds [3]
#   REPS     repetitions per run [3]
# Models default to /work/models/tinyllama-{q4_0,q8_0,f16}.gguf.
set -euo pipefail

if [[ $# -lt 2 || "$1" == "-h" || "$1" == "--help" ]]; then
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
A=$1
B=$2
shift 2
for bin in "$A" "$B"; do
  [[ -x "$bin" ]] || { echo "compare_builds.sh: $bin: expected a mnemo binary" >&2; exit 2; }
done
command -v jq >/dev/null || { echo "compare_builds.sh: needs jq" >&2; exit 2; }
MODELS=("$@")
if [[ ${#MODELS[@]} -eq 0 ]]; then
  MODELS=(/work/models/tinyllama-q4_0.gguf /work/models/tinyllama-q8_0.gguf /work/models/tinyllama-f16.gguf)
fi
for m in "${MODELS[@]}"; do
  [[ -f "$m" ]] || { echo "compare_builds.sh: $m: no such model" >&2; exit 2; }
done
THREADS=${THREADS:-2}
PP=${PP:-512}
TG=${TG:-128}
ROUNDS=${ROUNDS:-3}
REPS=${REPS:-3}
RAW=$(mktemp)
trap 'rm -f "$RAW"' EXIT

echo "# $(date -u '+%Y-%m-%dT%H:%MZ') load before: $(cut -d' ' -f1-3 /proc/loadavg); rounds $ROUNDS x $REPS reps, $THREADS threads"
run_one() {  # label binary model round
  "$2" bench -m "$3" -t "$THREADS" -p "$PP" -n "$TG" -r "$REPS" --json 2>/dev/null |
    jq -r --arg l "$1" --arg m "$(basename "$3" .gguf)" '.[] | "\($m) \(.test) \($l) \(.avg_ts)"' >>"$RAW"
}
for ((r = 1; r <= ROUNDS; r++)); do
  for m in "${MODELS[@]}"; do
    if ((r % 2)); then
      run_one A "$A" "$m"; run_one B "$B" "$m"
    else
      run_one B "$B" "$m"; run_one A "$A" "$m"
    fi
  done
  echo "# round $r done"
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "A: $A"
echo "B: $B"
echo
echo "| model | test | A tok/s | B tok/s | B / A | A runs | B runs |"
echo "|---|---|---|---|---|---|---|"
median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
for m in "${MODELS[@]}"; do
  name=$(basename "$m" .gguf)
  for t in "pp$PP" "tg$TG"; do
    ra=$(awk -v m="$name" -v t="$t" '$1==m && $2==t && $3=="A" {print $4}' "$RAW")
    rb=$(awk -v m="$name" -v t="$t" '$1==m && $2==t && $3=="B" {print $4}' "$RAW")
    [[ -n "$ra" && -n "$rb" ]] || continue
    ma=$(median <<<"$ra")
    mb=$(median <<<"$rb")
    printf '| %s | %s | %.2f | %.2f | %.2f | %s | %s |\n' "$name" "$t" "$ma" "$mb" "$(echo "$mb / $ma" | bc -l)" \
      "$(printf '%.1f ' $ra)" "$(printf '%.1f ' $rb)"
  done
done
