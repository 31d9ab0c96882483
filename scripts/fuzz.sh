#!/usr/bin/env bash
# Runs every libFuzzer target in build/fuzz/fuzz/ for SECONDS each (default 30), one after the other.
#
#   bash scripts/fuzz.sh [SECONDS]        (build first: cmake --preset fuzz && cmake --build --preset fuzz)
#
# Each target gets a corpus in build/fuzz/corpus/<target>/ (kept between runs, so coverage
# accumulates), seeded from fuzz/seeds/<target>/ and from $MNEMO_DATA (default ../shared/data
# beside the repository): the GGUF and llama2.c models, vocabulary GGUFs and tokenizer .bin files,
# whole and as truncated prefixes. Crash inputs go to build/fuzz/artifacts/<target>/.
# Prints one summary line per target; exits non-zero if any target crashed, leaked, timed out or
# ran out of memory. Environment: MNEMO_FUZZ_RSS_MB (default 2048), MNEMO_FUZZ_MAX_LEN (default
# 2 MiB: the largest seed whole), MNEMO_FUZZ_TARGETS (names to run; default all),
# MNEMO_FUZZ_BIN_DIR (default build/fuzz/fuzz).
set -euo pipefail

cd "$(dirname "$0")/.."
seconds="${1:-30}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "usage: scripts/fuzz.sh [SECONDS]" >&2
  exit 2
fi
bin_dir="${MNEMO_FUZZ_BIN_DIR:-build/fuzz/fuzz}"
data="${MNEMO_DATA:-$(cd .. && pwd)/shared/data}"
rss_mb="${MNEMO_FUZZ_RSS_MB:-2048}"
max_len="${MNEMO_FUZZ_MAX_LEN:-2097152}"

targets=()
if [ -d "$bin_dir" ]; then
  while IFS= read -r t; do targets+=("$t"); done < <(find "$bin_dir" -maxdepth 1 -type f -perm -u+x -printf '%f\n' | sort)
fi
if [ -n "${MNEMO_FUZZ_TARGETS:-}" ]; then
  read -r -a targets <<<"$MNEMO_FUZZ_TARGETS"
fi
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz: no targets in $bin_dir (build them: cmake --preset fuzz && cmake --build --preset fuzz)" >&2
  exit 1
fi

# Real files every target starts from (each parser also sees the others' formats: cheap negatives).
seeds=()
if [ -d "$data/models" ]; then
  while IFS= read -r f; do seeds+=("$f"); done < <(find "$data/models" -type f \( -name '*.gguf' -o -name '*.bin' \) | sort)
else
  echo "fuzz: $data/models not found (set MNEMO_DATA); seeding from fuzz/seeds only" >&2
fi

seed_corpus() {  # target corpus_dir
  local target=$1 dir=$2 f base size
  mkdir -p "$dir"
  if [ -d "fuzz/seeds/$target" ]; then
    find "fuzz/seeds/$target" -maxdepth 1 -type f -exec cp -n {} "$dir/" \;
  fi
  for f in "${seeds[@]}"; do
    base=seed-$(basename "$f")
    size=$(stat -c %s "$f")
    if [ "$size" -le "$max_len" ]; then
      [ -e "$dir/$base" ] || cp "$f" "$dir/$base"
    fi
    # Prefixes of the large files: small inputs that still start like the real thing.
    for n in 4096 65536; do
      if [ "$size" -gt "$n" ] && [ ! -e "$dir/$base.head$n" ]; then
        head -c "$n" "$f" >"$dir/$base.head$n"
      fi
    done
  done
}

failed=0
for target in "${targets[@]}"; do
  exe="$bin_dir/$target"
  if [ ! -x "$exe" ]; then
    echo "$target: FAILED (no such target in $bin_dir)"
    failed=1
    continue
  fi
  corpus="build/fuzz/corpus/$target"
  artifacts="build/fuzz/artifacts/$target"
  log="build/fuzz/logs/$target.log"
  mkdir -p "$artifacts" "$(dirname "$log")"
  seed_corpus "$target" "$corpus"
  start=$(date +%s)
  set +e
  "$exe" "$corpus" -max_total_time="$seconds" -rss_limit_mb="$rss_mb" -malloc_limit_mb="$rss_mb" \
    -max_len="$max_len" -timeout=25 -print_final_stats=1 -artifact_prefix="$artifacts/" >"$log" 2>&1
  rc=$?
  set -e
  elapsed=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1 || true)
  cov=$({ grep -E '^#[0-9]+' "$log" || true; } | { grep -o 'cov: [0-9]* ft: [0-9]*' || true; } | tail -1)
  units=$(find "$corpus" -type f | wc -l)
  if [ "$rc" -eq 0 ]; then
    echo "$target: ok, ${elapsed} s, ${execs:-?} execs, ${cov:-cov: ?}, corpus ${units} files"
  else
    failed=1
    echo "$target: FAILED (exit $rc) after ${elapsed} s, ${execs:-?} execs; crash input in $artifacts/, log $log"
    grep -m1 -E 'ERROR: |check failed|SUMMARY' "$log" | sed 's/^/    /' || true
  fi
done
exit "$failed"
