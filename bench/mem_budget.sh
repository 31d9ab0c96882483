#!/usr/bin/env bash
# bench/mem_budget.sh: is --mem honoured? Each command runs under a memory cgroup whose limit is
# the budget + 32 MiB, at budgets from 100% of what its plan needs down to the minimum the plan
# reports, and its peak RSS (VmHWM, which counts the mapped weight pages it touched) must stay
# within budget + 32 MiB (ru_maxrss from wait4, measured by /usr/bin/time, not by mnemo); a budget
# just below the minimum must be refused (exit 1) before any weight is read. The page cache is dropped before every run so that the cgroup is charged with the
# pages the command itself brings in. Needs root (a cgroup v1 memory controller or cgroup v2).
#
#   bench/mem_budget.sh [SHAPE] [TYPES]     e.g. bench/mem_budget.sh tinyllama-1.1b "Q4_0 F16"
#
# Models: random weights from `mnemo gen-model --shape SHAPE --dtype TYPE`, cached in $WORK.
# Prints a Markdown table; exits 1 when any run breaks its budget (the ctest `MemBudget` runs this
# on stories110m's shape). Environment: MNEMO [build/release/tools/mnemo/mnemo], WORK
# [build/mem_budget], MNEMO_DATA [../shared/data] (the text for perplexity), SLACK_MIB [32].
set -euo pipefail
cd "$(dirname "$0")/.."
shape=${1:-tinyllama-1.1b}
types=${2:-"Q4_0 F16"}
mnemo=$(realpath "${MNEMO:-build/release/tools/mnemo/mnemo}")
work=${WORK:-build/mem_budget}
data=${MNEMO_DATA:-$(cd .. && pwd)/shared/data}
text="$data/text/tinystories_val.txt"
slack=$(( ${SLACK_MIB:-32} << 20 ))
mkdir -p "$work"

if [[ $(id -u) -ne 0 ]]; then echo "mem_budget: SKIP: needs root to create a memory cgroup"; exit 77; fi
if [[ -d /sys/fs/cgroup/memory ]]; then
  cg=/sys/fs/cgroup/memory/mnemo-budget-$$; limit_file=memory.limit_in_bytes; peak_file=memory.max_usage_in_bytes
elif [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
  cg=/sys/fs/cgroup/mnemo-budget-$$; limit_file=memory.max; peak_file=memory.peak
else
  echo "mem_budget: SKIP: no memory cgroup controller"; exit 77
fi
[[ -f "$text" ]] || { echo "mem_budget: SKIP: $text not found (set MNEMO_DATA)"; exit 77; }
mkdir "$cg" || { echo "mem_budget: SKIP: cannot create $cg"; exit 77; }
trap 'rmdir "$cg" 2>/dev/null || true' EXIT

# The commands, as they are run (the model is appended).
declare -A cmds=(
  [run]="run -p 'Once upon a time' -n 16 --temp 0 -s 1"
  [perplexity]="perplexity -f $text -c 128 --chunks 2"
  [bench]="bench -p 64 -n 8 -r 1"
)
# Runs mnemo with --mem $1 (empty: no budget) and -v inside the cgroup at limit $2 (0: none);
# sets rc, mem (the JSON memory line), cg_peak (the cgroup's peak charge).
run_in_cgroup() {
  local budget=$1 lim=$2; shift 2
  local args=("$@")
  [[ -n "$budget" ]] && args+=(--mem "$budget")
  if [[ $lim -gt 0 ]]; then echo "$lim" > "$cg/$limit_file"; else echo max > "$cg/$limit_file" 2>/dev/null || echo -1 > "$cg/$limit_file"; fi
  sync; echo 1 > /proc/sys/vm/drop_caches
  [[ -f "$cg/$peak_file" ]] && echo 0 > "$cg/$peak_file" 2>/dev/null || true
  set +e
  err=$(bash -c 'echo $$ > "$1/cgroup.procs"; shift; eval exec "$@"' _ "$cg" \
          /usr/bin/time -o "$work/time.txt" -f %M "$mnemo" "${args[@]}" -v 2>&1 >/dev/null)
  rc=$?
  set -e
  mem=$(grep -o 'mnemo: memory {.*}' <<<"$err" | sed 's/^mnemo: memory //' || true)
  cg_peak=$(cat "$cg/$peak_file" 2>/dev/null || echo 0)
  rss=$(( $(grep -o '^[0-9]*$' "$work/time.txt" | tail -1) * 1024 ))  # wait4's ru_maxrss
}
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

failures=0
echo "| model | command | budget | of plan | planned (used) | peak RSS | cgroup peak | limit | result |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---|"
for type in $types; do
  model="$work/$shape-$type.gguf"
  [[ -f "$model" ]] || "$mnemo" gen-model --shape "$shape" --dtype "$type" -o "$model" >/dev/null
  for name in run perplexity bench; do
    run_in_cgroup "" 0 ${cmds[$name]} -m "$model"
    if [[ $rc -ne 0 || -z "$mem" ]]; then echo "mem_budget: $name on $model failed without a budget: $err" >&2; exit 1; fi
    need=$(field "$mem" peak); minimum=$(field "$mem" minimum)
    for frac in 100 50 0; do
      # At least the minimum + 1 MiB: the runtime lease is the process's RSS at start rounded up to
      # a MiB, which varies by up to a MiB from one process to the next (when the plan's range is
      # empty, 50% of it is the minimum itself).
      budget=$(( minimum + (need - minimum) * frac / 100 ))
      (( budget >= minimum + (1 << 20) )) || budget=$(( minimum + (1 << 20) ))
      limit=$(( budget + slack ))
      run_in_cgroup "$budget" "$limit" ${cmds[$name]} -m "$model"
      result=ok
      if [[ $rc -ne 0 || -z "$mem" ]]; then
        result="FAILED (exit $rc: $(tail -1 <<<"$err"))"; failures=$((failures + 1)); used=0
      else
        used=$(field "$mem" peak)
        if [[ $rss -gt $limit ]]; then result="FAILED: peak RSS over budget + $(mib "$slack") MiB"; failures=$((failures + 1)); fi
      fi
      label=$([[ $frac -eq 0 ]] && echo "minimum + 1 MiB" || echo "${frac}% of range")
      echo "| $shape $type | $name | $(mib "$budget") MiB | $label | $(mib "$used") MiB | $(mib "$rss") MiB | $(mib "$cg_peak") MiB | $(mib "$limit") MiB | $result |"
    done
    # Just below the minimum: refused, exit 1, before the weights are read.
    budget=$(( minimum - (2 << 20) ))
    run_in_cgroup "$budget" $(( budget + slack )) ${cmds[$name]} -m "$model"
    result=ok
    if [[ $rc -ne 1 ]] || ! grep -q "memory budget" <<<"$err"; then
      result="FAILED (exit $rc: $(tail -1 <<<"$err"))"; failures=$((failures + 1))
    fi
    echo "| $shape $type | $name | $(mib "$budget") MiB | below minimum | refused | $(mib "$rss") MiB | $(mib "$cg_peak") MiB | $(mib $(( budget + slack ))) MiB | $result |"
  done
done
[[ $failures -eq 0 ]] || { echo "mem_budget: $failures runs broke their budget" >&2; exit 1; }
