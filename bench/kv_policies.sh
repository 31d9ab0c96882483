#!/usr/bin/env bash
# bench/kv_policies.sh: KV budget policies (window, sinks, h2o, kvmerger) on the long-context model
# at 50% and 35% of its 2,048-token context: perplexity, KL(full || budgeted) and top-1 agreement
# against the same model with the full cache (`mnemo perplexity --kl-ref`, both in one process), and
# passkey accuracy (`mnemo eval passkey`). Prints a Markdown table and writes an SVG of KL against
# the KV bytes a sequence holds, one line per policy (docs/KV.md shows both).
#
#   bench/kv_policies.sh [OUT_DIR]          default build/kv_policies
#
# Text: held-out long-context documents that `mnemo gen-longctx --part val` builds from the shared
# TinyStories validation text and the last 10% of Shakespeare (what the model was not trained on,
# docs/TRAINING.md), with passkeys and key-value recall at random depths, so that dropping the
# wrong tokens costs something; TEXT=file overrides it. Environment: MNEMO
# [build/release/tools/mnemo/mnemo], MODEL [models/mnemo-longctx.gguf], MNEMO_DATA
# [../shared/data], CHUNKS [4] (2,048-token windows scored), TRIALS [4] (passkey prompts per depth),
# BUDGETS ["0.5 0.35"], POLICIES ["window sinks h2o kvmerger"], KV_ARGS [""] (more options for the
# budgeted runs, e.g. "--kv-recent 128"), REPORT_ONLY [unset] (1: print the table and SVG of the
# results already in OUT_DIR). Quality figures only (no timings).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/kv_policies}
mnemo=$(realpath "${MNEMO:-build/release/tools/mnemo/mnemo}")
model=${MODEL:-models/mnemo-longctx.gguf}
data=${MNEMO_DATA:-$(cd .. && pwd)/shared/data}
chunks=${CHUNKS:-4}
trials=${TRIALS:-4}
budgets=${BUDGETS:-"0.5 0.35"}
policies=${POLICIES:-"window sinks h2o kvmerger"}
read -r -a kv_args <<< "${KV_ARGS:-}"
mkdir -p "$out"
text=${TEXT:-$out/longctx_val.txt}
if [[ ! -s $text ]]; then
  "$mnemo" gen-longctx --stories "$data/text/tinystories_val.txt" --play "$data/text/tinyshakespeare_input.txt" \
    --part val -z "$data/models/tok512.bin" --docs 12 --seed 2 -o "$text" >&2
fi

results=$out/results.jsonl
run() {  # policy budget
  local ppl pk
  if [[ $1 == full ]]; then
    ppl=$("$mnemo" perplexity -m "$model" -f "$text" -c 2048 --chunks "$chunks" --json)
    pk=$("$mnemo" eval passkey -m "$model" --lengths 2048 --depths 0,0.25,0.5,0.75,1 --trials "$trials" --json)
  else
    ppl=$("$mnemo" perplexity -m "$model" -f "$text" -c 2048 --chunks "$chunks" --kv-policy "$1" --kv-budget "$2" \
      ${kv_args[@]+"${kv_args[@]}"} --kl-ref "$model" --json)
    pk=$("$mnemo" eval passkey -m "$model" --lengths 2048 --depths 0,0.25,0.5,0.75,1 --trials "$trials" \
      --kv-policy "$1" --kv-budget "$2" ${kv_args[@]+"${kv_args[@]}"} --json)
  fi
  python3 -c 'import json,sys; a=json.loads(sys.argv[1]); b=json.loads(sys.argv[2])
a["passkey"]=b["accuracy"]; a["passkey_n"]=b["n"]; a["budget_arg"]=sys.argv[3]
a["passkey_depths"]=[[c["depth"], c["accuracy"]] for c in b["cells"]]; print(json.dumps(a))' \
    "$ppl" "$pk" "$2" >> "$results"
  echo "kv_policies: $1 $2 done" >&2
}
if [[ -z ${REPORT_ONLY:-} ]]; then  # REPORT_ONLY=1: the table and SVG of an earlier run's results
  : > "$results"
  run full 1
  for b in $budgets; do
    for p in $policies; do run "$p" "$b"; done
  done
fi

python3 - "$results" "$out/kv_policies.svg" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
full = rows[0]
print(f"| policy | budget | KV slots | KV bytes | perplexity | KL(full \\|\\| policy) | top-1 agreement | passkey @2048 |")
print("|---|---|---|---|---|---|---|---|")
print(f"| full | 100% | {full['kv_budget']} | {full['kv_bytes']:.0f} | {full['ppl']:.4f} | 0 | 100% | "
      f"{100*full['passkey']:.0f}% ({full['passkey_n']}) |")
for r in rows[1:]:
    print(f"| {r['kv_policy']} | {float(r['budget_arg'])*100:.0f}% | {r['kv_budget']} | {r['kv_bytes']:.0f} | "
          f"{r['ppl']:.4f} | {r['kl']:.4f} ± {r['kl_stderr']:.4f} | {100*r['top1']:.2f}% | "
          f"{100*r['passkey']:.0f}% ({r['passkey_n']}) |")

print()
depths = [d for d, _ in full["passkey_depths"]]
print("| passkey @2048 by depth | budget | " + " | ".join(f"{d:g}" for d in depths) + " |")
print("|---|---|" + "---|" * len(depths))
for r in rows:
    b = "100%" if r is full else f"{float(r['budget_arg'])*100:.0f}%"
    print(f"| {r['kv_policy']} | {b} | " + " | ".join(f"{100*a:.0f}%" for _, a in r["passkey_depths"]) + " |")

# SVG: KL (y) against KV bytes per sequence (x), one polyline per policy.
W, H, L, R, T, B = 560, 360, 70, 130, 20, 50
pol = {}
for r in rows[1:]:
    pol.setdefault(r["kv_policy"], []).append((r["kv_bytes"], r["kl"]))
xs = [x for v in pol.values() for x, _ in v] + [full["kv_bytes"]]
ys = [y for v in pol.values() for _, y in v] + [0.0]
x0, x1 = 0.0, max(xs) * 1.1
y0, y1 = 0.0, max(ys) * 1.1 or 1.0
px = lambda x: L + (x - x0) / (x1 - x0) * (W - L - R)
py = lambda y: H - B - (y - y0) / (y1 - y0) * (H - T - B)
colors = {"window": "#1f77b4", "sinks": "#ff7f0e", "h2o": "#2ca02c", "kvmerger": "#d62728"}
s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
     f'<rect width="{W}" height="{H}" fill="white"/>',
     f'<line x1="{L}" y1="{H-B}" x2="{W-R}" y2="{H-B}" stroke="black"/>',
     f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H-B}" stroke="black"/>']
step = 2 ** max(0, (int(x1 / 5) // 1024).bit_length() - 1) * 1024  # a power-of-two KiB tick
if x1 / step > 6: step *= 2
xv = 0.0
while xv <= x1:
    s.append(f'<text x="{px(xv):.1f}" y="{H-B+16}" text-anchor="middle">{xv/1024:.0f}</text>')
    xv += step
for i in range(6):
    yv = y0 + (y1 - y0) * i / 5
    s.append(f'<text x="{L-6}" y="{py(yv)+4:.1f}" text-anchor="end">{yv:.3f}</text>')
    s.append(f'<line x1="{L}" y1="{py(yv):.1f}" x2="{W-R}" y2="{py(yv):.1f}" stroke="#ddd"/>')
s.append(f'<text x="{(L+W-R)/2}" y="{H-12}" text-anchor="middle">KV bytes per sequence (KiB)</text>')
s.append(f'<text x="16" y="{(T+H-B)/2}" text-anchor="middle" transform="rotate(-90 16 {(T+H-B)/2})">KL(full || policy), nats/token</text>')
s.append(f'<circle cx="{px(full["kv_bytes"]):.1f}" cy="{py(0):.1f}" r="4" fill="black"/>')
s.append(f'<text x="{px(full["kv_bytes"])-6:.1f}" y="{py(0)-8:.1f}" text-anchor="end">full</text>')
for k, (name, pts) in enumerate(sorted(pol.items())):
    pts.sort(); c = colors.get(name, "gray")
    s.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' %
             (c, " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)))
    for x, y in pts: s.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3.5" fill="{c}"/>')
    s.append(f'<rect x="{W-R+14}" y="{T+10+k*20}" width="12" height="12" fill="{c}"/>')
    s.append(f'<text x="{W-R+32}" y="{T+20+k*20}">{name}</text>')
s.append("</svg>")
open(sys.argv[2], "w").write("\n".join(s) + "\n")
EOF
echo "kv_policies: SVG in $out/kv_policies.svg" >&2
