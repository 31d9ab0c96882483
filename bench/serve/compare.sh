#!/usr/bin/env bash
# mnemo serve and llama-server side by side on one model file: the same threads, parallel slots,
# context per slot and load (bench/serve/load.py), in alternating rounds.
#
#   LLAMA_SERVER=../llama.cpp-ref/build/bin/llama-server bench/serve/compare.sh MODEL.gguf
#
# Env: PARALLEL (16), CTX per slot (256), THREADS (2), CONC (16), REQUESTS (48), MAX_TOKENS (128),
# ROUNDS (2). llama-server's -c is the total over its slots, so it gets PARALLEL x CTX.
set -euo pipefail
model=${1:?usage: compare.sh MODEL.gguf}
here=$(cd "$(dirname "$0")" && pwd)
mnemo=${MNEMO:-$here/../../build/release/tools/mnemo/mnemo}
llama=${LLAMA_SERVER:?set LLAMA_SERVER to a llama-server binary built beside the repo}
P=${PARALLEL:-16} C=${CTX:-256} T=${THREADS:-2} CONC=${CONC:-16} N=${REQUESTS:-48} M=${MAX_TOKENS:-128}
base_port=18181

wait_up() {
  for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "compare.sh: the server did not come up on port $port" >&2
  return 1
}

run_one() {  # name, port, command... (each server its own port: a killed server's closing
  local name=$1     # connections can hold its port for a while)
  port=$2
  shift 2
  "$@" >/tmp/compare_$name.log 2>&1 &
  local pid=$!
  wait_up
  python3 "$here/load.py" --url "http://127.0.0.1:$port" --concurrency "$CONC" --requests "$N" \
    --max-tokens "$M" --temperature 0 --json | sed "s/^/$name /"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

echo "# $(date -u +%FT%TZ) $(uptime)"
for r in $(seq 1 "${ROUNDS:-2}"); do
  run_one mnemo $base_port "$mnemo" serve -m "$model" --port $base_port -t "$T" --parallel "$P" -c "$C"
  run_one llama $((base_port + 1)) "$llama" -m "$model" --port $((base_port + 1)) -t "$T" -np "$P" -c $((P * C)) --no-webui
done
echo "# $(uptime)"
