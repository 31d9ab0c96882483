#!/usr/bin/env bash
# bench/compare_llamacpp.sh: mnemo bench against llama.cpp's llama-bench on the same GGUF files,
# side by side in one run, and the ratios.
#
#   bench/compare_llamacpp.sh LLAMA_BENCH [MODEL.gguf ...]
#
# LLAMA_BENCH is the path of a llama-bench binary built beside the repository (this script does not
# build or fetch anything). For every model, thread count and test, the two programs run in
# alternation for ROUNDS rounds (the order flips every round, so drift of a shared machine hits both
# alike); each run is one llama-bench-style measurement of REPS repetitions after a warm-up, and
# the table reports the median over rounds of each program's mean tokens/s. The % of roofline of a
# tg test is mnemo's tokens/s over the limit `mnemo hw -m MODEL` computes from the DRAM read
# bandwidth measured at the start at that thread count. The load average before and after is
# printed: on a shared machine, quote ratios from one run and rerun when it is quieter.
#
# Environment (defaults in brackets):
#   MNEMO    mnemo binary                      [build/release/tools/mnemo/mnemo]
#   THREADS  thread counts                     ["1 2"]
#   TESTS    tests: ppN (prompt of N tokens), tgN (N generated tokens)  ["pp128 pp512 tg128"]
#   ROUNDS   alternating rounds                [3]
#   REPS     repetitions per run               [3]
#   OUT      also write the table (markdown) to this file
# Models default to /work/models/*.gguf.
set -euo pipefail

if [[ $# -lt 1 || "$1" == "-h" || "$1" == "--help" ]]; then
  sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
LLAMA_BENCH=$1
shift
if [[ ! -x "$LLAMA_BENCH" ]]; then
  echo "compare_llamacpp.sh: $LLAMA_BENCH: expected an executable llama-bench" >&2
  exit 2
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MNEMO=${MNEMO:-$ROOT/build/release/tools/mnemo/mnemo}
if [[ ! -x "$MNEMO" ]]; then
  echo "compare_llamacpp.sh: $MNEMO: expected the mnemo binary (set MNEMO)" >&2
  exit 2
fi
THREADS=${THREADS:-"1 2"}
TESTS=${TESTS:-"pp128 pp512 tg128"}
ROUNDS=${ROUNDS:-3}
REPS=${REPS:-3}
if [[ $# -gt 0 ]]; then
  MODELS=("$@")
else
  shopt -s nullglob
  MODELS=(/work/models/*.gguf)
fi
if [[ ${#MODELS[@]} -eq 0 ]]; then
  echo "compare_llamacpp.sh: no models given and none in /work/models" >&2
  exit 2
fi

LLAMA_DIR=$(cd "$(dirname "$LLAMA_BENCH")" && pwd)
LLAMA_COMMIT=$(git -C "$LLAMA_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "# $(date -u +%Y-%m-%dT%H:%MZ) load before: $(load); llama.cpp $LLAMA_COMMIT; rounds $ROUNDS x $REPS reps" >&2

# One measurement: prints the mean tokens/s.
run_mnemo() {  # model threads np ng
  "$MNEMO" bench -m "$1" -t "$2" -p "$3" -n "$4" -r "$REPS" --json 2>/dev/null | jq '.[0].avg_ts'
}
run_llama() {  # model threads np ng
  "$LLAMA_BENCH" -m "$1" -t "$2" -p "$3" -n "$4" -r "$REPS" -o json 2>/dev/null | jq '.[0].avg_ts'
}
median() { sort -g | awk '{v[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }

ROWS=$TMP/rows
: > "$ROWS"
for model in "${MODELS[@]}"; do
  name=$(basename "$model" .gguf)
  # The weight type that holds most bytes (as mnemo info reports it).
  mtype=$("$MNEMO" info "$model" --json 2>/dev/null | jq -r '.bytes_by_type | to_entries | max_by(.value) | .key' || echo "?")
  hw_threads=$(echo "$THREADS" | tr ' ' ',')
  "$MNEMO" hw -m "$model" -t "$hw_threads" --json > "$TMP/hw.json" 2>/dev/null || echo '{}' > "$TMP/hw.json"
  for t in $THREADS; do
    roof=$(jq --argjson t "$t" '[.bandwidth[]? | select(.threads == $t) | .max_tokens_per_s][0] // 0' "$TMP/hw.json")
    for test in $TESTS; do
      n=${test#??}
      if [[ $test == pp* ]]; then np=$n; ng=0; else np=0; ng=$n; fi
      : > "$TMP/m"; : > "$TMP/l"
      for ((r = 0; r < ROUNDS; ++r)); do
        if ((r % 2 == 0)); then
          run_mnemo "$model" "$t" "$np" "$ng" >> "$TMP/m"
          run_llama "$model" "$t" "$np" "$ng" >> "$TMP/l"
        else
          run_llama "$model" "$t" "$np" "$ng" >> "$TMP/l"
          run_mnemo "$model" "$t" "$np" "$ng" >> "$TMP/m"
        fi
      done
      m=$(median < "$TMP/m")
      l=$(median < "$TMP/l")
      ratio=$(awk -v a="$m" -v b="$l" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }')
      if [[ $test == tg* ]]; then
        pct=$(awk -v a="$m" -v b="$roof" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "-" }')
      else
        pct="-"
      fi
      printf '| %s | %s | %s | %s | %.2f | %.2f | %s | %s |\n' "$name" "$mtype" "$t" "$test" "$m" "$l" "$ratio" "$pct" | tee -a "$ROWS"
      echo "#   $name t=$t $test: mnemo runs $(tr '\n' ' ' < "$TMP/m")| llama.cpp runs $(tr '\n' ' ' < "$TMP/l")" >&2
    done
  done
done

{
  echo "Date $(date -u +%Y-%m-%d), llama.cpp $LLAMA_COMMIT, load average before/after: see the log lines."
  echo
  echo "| model | type | threads | test | mnemo tok/s | llama.cpp tok/s | ratio | % of roofline |"
  echo "|---|---|---|---|---|---|---|---|"
  cat "$ROWS"
} > "$TMP/table"
echo "# load after: $(load)" >&2
echo
cat "$TMP/table"
if [[ -n "${OUT:-}" ]]; then cp "$TMP/table" "$OUT"; fi
