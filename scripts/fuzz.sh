#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/, one per decoder) with clang, ASan and UBSan, and runs each for a
# bounded time. Every crash libFuzzer finds is copied into the target's regression corpus,
# tests/fuzz/corpus/<target>/, which the normal C++ tests replay (ravnest_fuzz_corpus_test): fix the library
# until that test passes, then commit the input with the fix.
#   scripts/fuzz.sh [--seconds N] [TARGET...]   N seconds per target (default 60); all targets by default
# Targets share build-asan/ with scripts/sanitize.sh address. What the fuzzers learn (inputs that reach new code)
# stays in build-asan/fuzz/<target>/, outside the repository, and seeds the next run.
# Environment: RAVNEST_JOBS (compile jobs, default 1), RAVNEST_LOCK (flock file around the runs, default
# /tmp/ravnest-build.lock; empty for none).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
usage="usage: scripts/fuzz.sh [--seconds N] [TARGET...]"
seconds=60
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=${2:?"$usage"}; shift ;;
    -h|--help) echo "$usage"; exit 0 ;;
    -*) echo "$usage" >&2; exit 2 ;;
    *) targets+=("$1") ;;
  esac
  shift
done
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: --seconds takes a positive number" >&2; exit 2; }

corpus_root=$repo/tests/fuzz/corpus
if [ ${#targets[@]} -eq 0 ]; then
  for folder in "$corpus_root"/*/; do targets+=("$(basename "$folder")"); done
fi
for target in "${targets[@]}"; do
  [ -d "$corpus_root/$target" ] || { echo "fuzz.sh: no target '$target' (no $corpus_root/$target/)" >&2; exit 2; }
done

"$repo/scripts/sanitize.sh" address --build-only --targets "${targets[@]/#/ravnest_fuzz_}"
build_dir=$repo/build-asan

lock=()
lock_file=${RAVNEST_LOCK-/tmp/ravnest-build.lock}
if [ -n "$lock_file" ]; then lock=(flock "$lock_file"); fi
export ASAN_OPTIONS="detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$repo/tests/sanitizers/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

found=()
for target in "${targets[@]}"; do
  work=$build_dir/fuzz/$target
  artifacts=$work/artifacts
  mkdir -p "$work/learned" "$artifacts"
  # -max_len: without it libFuzzer mutates up to the largest corpus file (the deep-nesting inputs are 200 KB).
  options=(-max_total_time="$seconds" -max_len=16384 -timeout=10 -rss_limit_mb=4096 -artifact_prefix="$artifacts/"
    -print_final_stats=1)
  dictionary=$repo/tests/fuzz/dictionaries/$target.dict
  if [ -f "$dictionary" ]; then options+=(-dict="$dictionary"); fi
  echo "== $target: ${seconds} s"
  # New coverage goes to the first folder (learned/); the committed corpus is only read.
  status=0
  "${lock[@]}" "$build_dir/tests/fuzz/ravnest_fuzz_$target" "${options[@]}" "$work/learned" "$corpus_root/$target" \
    > "$work/log.txt" 2>&1 || status=$?
  grep -E "^stat::(number_of_executed_units|peak_rss_mb)" "$work/log.txt" || true
  artifacts_before=${#found[@]}
  for crash in "$artifacts"/*; do
    [ -e "$crash" ] || continue
    name=$(basename "$crash")
    cp "$crash" "$corpus_root/$target/$name"
    rm "$crash"
    found+=("$target/$name")
    echo "!! $target: $name (log: $work/log.txt)"
  done
  if [ $status -ne 0 ] && [ ${#found[@]} -eq "$artifacts_before" ]; then
    echo "!! $target exited with status $status and left no input behind: see $work/log.txt" >&2
    found+=("$target (exit status $status)")
  fi
done

if [ ${#found[@]} -gt 0 ]; then
  echo "fuzz.sh: ${#found[@]} finding(s), added to tests/fuzz/corpus/: ${found[*]}" >&2
  exit 1
fi
echo "fuzz.sh: no findings in ${#targets[@]} target(s), ${seconds} s each"
