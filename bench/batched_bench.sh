#!/usr/bin/env bash
# bench/batched_bench.sh: many sequences decoded together, mnemo beside llama.cpp.
#
#   bench/batched_bench.sh [MODEL.gguf]
#
# Runs `mnemo batched-bench` and llama.cpp's `llama-batched-bench` with the same settings
# (-c CTX -b BATCH -ub UBATCH -npp NPP -ntg NTG -npl NPL -t THREADS), alternating ROUNDS times
# (mnemo first, then llama.cpp), and prints for every (PP, TG, B) the median prompt and generation
# tokens/s of each, their ratios, and mnemo's generation speed-up over B = 1. The date and the load
# average before and after are printed: on a shared machine, run it when the load is low and quote
# them.
#
# Environment (defaults in brackets):
#   MNEMO     mnemo binary                                [build/release/tools/mnemo/mnemo]
#   LLAMA     llama-batched-bench binary                  [/work/llama.cpp-ref/build/bin/llama-batched-bench]
#   CTX BATCH UBATCH NPP NTG NPL THREADS                  [2048 512 512 128 128 1,8 2]
#   ROUNDS    alternating rounds; medians over them       [3]
#   OUT       also write the table (markdown) to this file
# The model defaults to /work/models/tinyllama-q4_0.gguf (`mnemo gen-model --shape tinyllama-1.1b
# --dtype Q4_0`).
set -euo pipefail

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MNEMO=${MNEMO:-$ROOT/build/release/tools/mnemo/mnemo}
LLAMA=${LLAMA:-/work/llama.cpp-ref/build/bin/llama-batched-bench}
MODEL=${1:-/work/models/tinyllama-q4_0.gguf}
CTX=${CTX:-2048} BATCH=${BATCH:-512} UBATCH=${UBATCH:-512}
NPP=${NPP:-128} NTG=${NTG:-128} NPL=${NPL:-1,8} THREADS=${THREADS:-2} ROUNDS=${ROUNDS:-3}
for f in "$MNEMO" "$LLAMA"; do
  [[ -x "$f" ]] || { echo "batched_bench.sh: $f: expected an executable (set MNEMO / LLAMA)" >&2; exit 1; }
done
[[ -f "$MODEL" ]] || { echo "batched_bench.sh: $MODEL: expected a GGUF model" >&2; exit 1; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for r in $(seq 1 "$ROUNDS"); do
  "$MNEMO" batched-bench -m "$MODEL" -c "$CTX" -b "$BATCH" --ub "$UBATCH" --npp "$NPP" --ntg "$NTG" --npl "$NPL" \
    -t "$THREADS" --json >"$TMP/mnemo.$r" 2>"$TMP/mnemo.$r.err" || { cat "$TMP/mnemo.$r.err" >&2; exit 1; }
  "$LLAMA" -m "$MODEL" -c "$CTX" -b "$BATCH" -ub "$UBATCH" -npp "$NPP" -ntg "$NTG" -npl "$NPL" -t "$THREADS" \
    --output-format jsonl >"$TMP/llama.$r" 2>"$TMP/llama.$r.err" || { tail -5 "$TMP/llama.$r.err" >&2; exit 1; }
  echo "round $r done, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

python3 - "$TMP" "$ROUNDS" "${OUT:-}" <<'EOF'
import json, statistics, sys
tmp, rounds, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def load(prefix):
    runs = {}
    for r in range(1, rounds + 1):
        for line in open(f"{tmp}/{prefix}.{r}"):
            line = line.strip()
            if not line.startswith("{"):
                continue
            j = json.loads(line)
            runs.setdefault((j["pp"], j["tg"], j["pl"]), []).append((j["speed_pp"], j["speed_tg"]))
    return {k: (statistics.median(a for a, _ in v), statistics.median(b for _, b in v)) for k, v in runs.items()}
m, l = load("mnemo"), load("llama")
rows = ["| PP | TG | B | mnemo S_PP t/s | llama.cpp S_PP t/s | ratio | mnemo S_TG t/s | llama.cpp S_TG t/s | ratio | mnemo S_TG / B=1 |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
for k in sorted(m):
    pp, tg, pl = k
    mp, mt = m[k]
    lp, lt = l.get(k, (float("nan"), float("nan")))
    base = m.get((pp, tg, 1), (None, None))[1]
    up = f"{mt / base:.2f}x" if base else "-"
    rows.append(f"| {pp} | {tg} | {pl} | {mp:.2f} | {lp:.2f} | {mp / lp:.2f} | {mt:.2f} | {lt:.2f} | {mt / lt:.2f} | {up} |")
table = "\n".join(rows)
print(table)
if out:
    open(out, "w").write(table + "\n")
EOF
