#!/usr/bin/env bash
# Checkpoint cost to the training loop, synchronous against lazy asynchronous saves
# (DataStates-LLM, src/train/checkpoint_writer.h), on a 26.2M-parameter model (d 512, 8 layers,
# ff 1408, tok512 vocabulary, untied: the ZeRO section's shape with the 512-token vocabulary):
# a checkpoint every CKPT_INTERVAL steps (default 2) over STEPS steps (default 8), each mode in its
# own run. Prints, per mode, the mean seconds the loop was blocked per checkpoint, the mean wait for
# the previous write, the mean background write time and the mean step time, from `--json`'s
# checkpoint_times (the save at the last step left out). Timings mean something only on a quiet machine (uptime's load well under the
# core count).
#
#   bench/train/ckpt_blocking.sh [MNEMO_BIN]
#   STEPS=12 CKPT_INTERVAL=3 OUT=/tmp/ckb bench/train/ckpt_blocking.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
mnemo="${1:-build/release/tools/mnemo/mnemo}"
out="${OUT:-build/ckpt-bench}"
steps="${STEPS:-8}"
interval="${CKPT_INTERVAL:-2}"
mkdir -p "$out"
echo "load: $(uptime)"
for mode in sync async; do
  rm -rf "$out/$mode"
  /usr/bin/python3 - "$out/$mode.json" "$out/$mode" "$mode" "$steps" "$interval" <<'PY'
import json, sys
cfg, ckdir, mode, steps, interval = sys.argv[1:]
data = "${MNEMO_DATA:-../shared/data}"
j = {
  "name": "ckpt-blocking",
  "model": {"n_vocab": 512, "n_embd": 512, "n_layer": 8, "n_head": 8, "n_head_kv": 8, "n_ff": 1408, "n_ctx": 256},
  "tokenizer": data + "/models/tok512.bin",
  "data": {"train": [data + "/text/tinystories_train_01.txt"]},
  "batch_size": 4, "seq_len": 256, "steps": int(steps),
  "schedule": {"lr": 1e-3, "warmup": 1},
  "eval": {"interval": 0, "batches": 0},
  "checkpoint": {"dir": ckdir, "interval": int(interval), "keep": 2, "mode": mode},
  "threads": 2, "seed": 1,
}
json.dump(j, open(cfg, "w"), indent=1)
PY
  "$mnemo" train --config "$out/$mode.json" --json --quiet > "$out/$mode.out.json"
  /usr/bin/python3 - "$mode" "$out/$mode.out.json" <<'PY'
import json, sys
mode, path = sys.argv[1:]
r = json.loads(open(path).read().strip().splitlines()[-1])
# The save at the run's last step has no next step to hide its copy behind: left out.
t = [x for x in r["checkpoint_times"] if x["step"] != r["steps_done"]]
mean = lambda k: sum(x[k] for x in t) / len(t)
print(f"{mode:5s}: {len(t)} checkpoints, blocked {1e3*mean('blocked_seconds'):.1f} ms/ckpt "
      f"(waiting for the previous write {1e3*mean('wait_previous_seconds'):.1f} ms), write "
      f"{1e3*mean('write_seconds'):.1f} ms/ckpt, step {r['seconds']/max(1, r['steps_done']-r['first_step']):.2f} s")
PY
done
