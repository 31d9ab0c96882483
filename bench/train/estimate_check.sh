#!/usr/bin/env bash
# The memory estimator against what runs use: for each config, `mnemo train --json` reports the
# estimate (computed before any work) and the measured peak RSS minus the process's RSS before the
# run allocated anything; the ratio should be within 10%.
#
#   bench/train/estimate_check.sh [MNEMO_BIN] [CONFIG...]   (default: the two configs here)
set -euo pipefail
cd "$(dirname "$0")/../.."
mnemo="${1:-build/release/tools/mnemo/mnemo}"
shift || true
configs=("$@")
[ ${#configs[@]} -gt 0 ] || configs=(bench/train/configs/estimate-stories.json bench/train/configs/estimate-d512-galore.json)
echo "# load: $(cut -d' ' -f1-3 /proc/loadavg)"
for c in "${configs[@]}"; do
  "$mnemo" train --config "$c" --json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
c = sys.argv[1]
j = json.loads(sys.stdin.read())
e, m = j["estimate"], j["measured_bytes"]
mib = lambda b: b / 2**20
print(json.dumps({"config": c, "params_mib": round(mib(e["parameters"]), 2), "grads_mib": round(mib(e["gradients"]), 2),
  "optimizer_mib": round(mib(e["optimizer"]), 2), "activations_mib": round(mib(e["activations"]), 2),
  "data_mib": round(mib(e["data"]), 2), "workspace_mib": round(mib(e["workspace"]), 2),
  "estimate_mib": round(mib(e["total"]), 2), "baseline_rss_mib": round(mib(j["baseline_rss_bytes"]), 2),
  "peak_rss_mib": round(mib(j["peak_rss_bytes"]), 2), "measured_mib": round(mib(m), 2),
  "measured_over_estimate": round(m / e["total"], 4)}))' "$c"
done
