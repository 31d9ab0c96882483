#!/usr/bin/env bash
# Training tokens/s of mnemo against PyTorch (Debian's python3-torch, CPU) on the same model,
# threads and batch, run side by side: the two engines alternate for ROUNDS rounds and the median
# of each is reported, so that a change in the machine's load hits both.
#
#   bench/train/compare_torch.sh [BUILD_DIR] [extra shape args for both, e.g. --seq 256]
#   ROUNDS=3 THREADS=2 STEPS=4 bench/train/compare_torch.sh build/release
#
# Prints the JSON line of every run, then a summary line (medians, and the median of the per-round
# ratios, which is what to quote on a loaded machine); records the load average before and after. Needs /usr/bin/python3 with torch (tests and benchmarks only; never at run time).
set -euo pipefail
cd "$(dirname "$0")/../.."
build="${1:-build/release}"
shift || true
rounds="${ROUNDS:-3}"
threads="${THREADS:-2}"
steps="${STEPS:-4}"
bench="$build/bench/train/train_bench"
[ -x "$bench" ] || { echo "compare_torch: build $bench first (cmake --build $build --target train_bench)" >&2; exit 1; }
/usr/bin/python3 -c "import torch" 2>/dev/null || { echo "compare_torch: /usr/bin/python3 cannot import torch" >&2; exit 1; }
export OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads"
common=(--threads "$threads" --steps "$steps" --warmup 1 "$@")
echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)  ($(nproc --all) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
/usr/bin/python3 bench/train/torch_train_bench.py "${common[@]}" --steps 1 --warmup 0 --config | /usr/bin/python3 -c \
  'import json,sys; j=json.loads(sys.stdin.read()); print("# torch", j["torch"]); print("\n".join("# " + l for l in j["config"].splitlines())); print("# " + j["parallel_info"].replace(chr(10), chr(10) + "# "))'
m=(); t=()
for r in $(seq "$rounds"); do
  a=$("$bench" "${common[@]}"); echo "$a"; m+=("$a")
  b=$(/usr/bin/python3 bench/train/torch_train_bench.py "${common[@]}"); echo "$b"; t+=("$b")
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%s\n' "${m[@]}" "${t[@]}" | /usr/bin/python3 -c '
import json, sys, statistics
rows = [json.loads(l) for l in sys.stdin if l.strip()]
med = lambda e, k: statistics.median(r[k] for r in rows if r["engine"] == e)
mt, tt = med("mnemo", "tokens_per_s"), med("torch", "tokens_per_s")
ms = [r["tokens_per_s"] for r in rows if r["engine"] == "mnemo"]
ts = [r["tokens_per_s"] for r in rows if r["engine"] == "torch"]
rr = [round(a / b, 3) for a, b in zip(ms, ts)]
print(json.dumps({"summary": True, "mnemo_tokens_per_s": mt, "torch_tokens_per_s": tt, "ratio": round(mt / tt, 3),
                  "round_ratios": rr, "median_round_ratio": statistics.median(rr),
                  "mnemo_model_gflops": med("mnemo", "model_gflops"), "sgemm_peak_gflops": med("mnemo", "sgemm_peak_gflops"),
                  "share_of_sgemm_peak": med("mnemo", "share_of_sgemm_peak")}))'
