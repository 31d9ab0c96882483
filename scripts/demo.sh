#!/usr/bin/env bash
# make demo: generate a story with the default model.
#
# The model is, in order of preference:
#   1. stories260K.bin + tok512.bin from $MNEMO_DATA/models (default ../shared/data/models);
#   2. models/mnemo-stories.gguf, mnemo's own trained model, committed in this repository
#      (used when nothing else is available: its held-out perplexity is higher, see docs/TRAINING.md);
#   3. (without that file) stories260K.bin + tok512.bin pulled from their public location (Karpathy's tinyllamas on
#      Hugging Face) into models/pulled/, checked against their SHA-256.
set -euo pipefail
cd "$(dirname "$0")/.."
mnemo="${1:-build/release/tools/mnemo/mnemo}"
data="${MNEMO_DATA:-$(cd .. && pwd)/shared/data}"
prompt="${PROMPT:-Once upon a time}"

hf="https://huggingface.co/karpathy/tinyllamas/resolve/main/stories260K"
model_sha="b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696"
tok_sha="037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312"

if [ -f "$data/models/stories260K.bin" ] && [ -f "$data/models/tok512.bin" ]; then
  args=(-m "$data/models/stories260K.bin" -z "$data/models/tok512.bin")
elif [ -f models/mnemo-stories.gguf ]; then
  args=(-m models/mnemo-stories.gguf)
else
  mkdir -p models/pulled
  [ -f models/pulled/stories260K.bin ] || "$mnemo" pull "$hf/stories260K.bin" -o models/pulled/stories260K.bin --sha256 "$model_sha"
  [ -f models/pulled/tok512.bin ] || "$mnemo" pull "$hf/tok512.bin" -o models/pulled/tok512.bin --sha256 "$tok_sha"
  args=(-m models/pulled/stories260K.bin -z models/pulled/tok512.bin)
fi

echo "mnemo run ${args[*]} -p \"$prompt\"" >&2
exec "$mnemo" run "${args[@]}" -p "$prompt" -n 256 --temp 0.8 --seed "${SEED:-42}"
