#!/usr/bin/env bash
# GaLore against AdamW on the committed model's shape: held-out loss after 1,000 steps, each
# optimizer at its best of three learning rates (bench/train/configs/galore-vs-adamw.json; GaLore
# rank 64, update interval 200, scale 0.25). Runs one at a time; writes a JSON line per run and the
# per-step logs under OUT (default build/galore-bench).
#
#   bench/train/galore_vs_adamw.sh [MNEMO_BIN]
#   ADAMW_LRS="1e-3 2e-3 4e-3" GALORE_LRS="2e-3 4e-3 8e-3" THREADS=1 bench/train/galore_vs_adamw.sh
#   (THREADS overrides the config's thread count; runs already done under OUT are reused)
set -euo pipefail
cd "$(dirname "$0")/../.."
mnemo="${1:-build/release/tools/mnemo/mnemo}"
out="${OUT:-build/galore-bench}"
mkdir -p "$out"
base=bench/train/configs/galore-vs-adamw.json
for run in $(for lr in ${ADAMW_LRS-1e-3 2e-3 4e-3}; do echo "adamw:$lr"; done; \
             for lr in ${GALORE_LRS-2e-3 4e-3 8e-3}; do echo "galore:$lr"; done); do
  opt="${run%%:*}"; lr="${run##*:}"
  cfg="$out/$opt-$lr.json"
  /usr/bin/python3 - "$base" "$cfg" "$opt" "$lr" "$out/$opt-$lr.jsonl" <<'PY'
import json, os, sys
base, cfg, opt, lr, log = sys.argv[1:]
j = json.load(open(base))
if os.environ.get("THREADS"):
    j["threads"] = int(os.environ["THREADS"])
j["optimizer"]["type"] = opt
j["schedule"]["lr"] = float(lr)
j["schedule"]["min_lr"] = float(lr) / 10
j["log"] = log
json.dump(j, open(cfg, "w"), indent=1)
PY
  [ -s "$out/$opt-$lr.result.json" ] && { cat "$out/$opt-$lr.result.json"; continue; }  # done before
  start=$(date +%s); load0=$(cut -d' ' -f1 /proc/loadavg)
  "$mnemo" train --config "$cfg" --json -q 2> "$out/$opt-$lr.stderr" | /usr/bin/python3 -c '
import json, sys
opt, lr, start, load0 = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
import time
j = json.loads(sys.stdin.read())
print(json.dumps({"optimizer": opt, "lr": lr, "eval_loss": j["eval_loss"], "eval_losses": j["eval_losses"],
                  "final_train_loss": j["loss"], "optimizer_state_bytes": j["allocated"]["optimizer"],
                  "tokens_per_s": round(j["tokens_per_second"], 1), "wall_s": int(time.time()) - start,
                  "load_start": load0, "load_end": open("/proc/loadavg").read().split()[0]}))' "$opt" "$lr" "$start" "$load0" \
    | tee "$out/$opt-$lr.result.json"
done
cat "$out"/*.result.json | /usr/bin/python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
best = {}
for r in rows:
    if r["optimizer"] not in best or r["eval_loss"] < best[r["optimizer"]]["eval_loss"]:
        best[r["optimizer"]] = r
if "adamw" not in best or "galore" not in best:
    sys.exit("galore_vs_adamw: no summary until both optimizers have a finished run")
a, g = best["adamw"], best["galore"]
print(json.dumps({"summary": True, "adamw_best_lr": a["lr"], "adamw_eval_loss": a["eval_loss"],
                  "galore_best_lr": g["lr"], "galore_eval_loss": g["eval_loss"],
                  "galore_over_adamw": round(g["eval_loss"] / a["eval_loss"], 4),
                  "adamw_state_mib": round(a["optimizer_state_bytes"] / 2**20, 2),
                  "galore_state_mib": round(g["optimizer_state_bytes"] / 2**20, 2)}))'
