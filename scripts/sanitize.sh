#!/usr/bin/env bash
# Builds the C++ library and its GoogleTest suites with clang and a sanitizer, in a build folder of their own,
# and runs the C++ tests under it. Exits non-zero on a failing test or any sanitizer report.
#   scripts/sanitize.sh address    ASan + UBSan (also LeakSanitizer), in build-asan/
#   scripts/sanitize.sh undefined  the same build and run as `address`
#   scripts/sanitize.sh thread     TSan, in build-tsan/
# Options: --build-only (build, run nothing), --tests REGEX (run only the CTest tests matching REGEX),
# --targets TARGET... (build only these CMake targets; implies --build-only; scripts/fuzz.sh uses it).
# Environment: RAVNEST_JOBS (compile jobs, default 1: these are full rebuilds on a shared machine),
# RAVNEST_TEST_JOBS (tests run at once, default 1), RAVNEST_LOCK (a file to flock around the test run, default
# /tmp/ravnest-build.lock; empty for none). Suppressions for the uninstrumented LibTorch and gRPC are in
# tests/sanitizers/. docs/testing.md says which runs CI makes.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
usage="usage: scripts/sanitize.sh address|undefined|thread [--build-only] [--tests REGEX] [--targets TARGET...]"
[ $# -ge 1 ] || { echo "$usage" >&2; exit 2; }
kind=$1
shift
build_only=false
tests_regex=""
build_targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build-only) build_only=true ;;
    --tests) tests_regex=${2:?"$usage"}; shift ;;
    --targets) shift; build_targets=("$@"); build_only=true; break ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
  shift
done

# clang with its sanitizer and libFuzzer runtimes: needed by these builds only, so setup.sh leaves them out.
"$repo/scripts/install_packages.sh" clang libclang-rt-14-dev
suppressions=$repo/tests/sanitizers
case "$kind" in
  address|undefined)
    build_dir=$repo/build-asan
    # The fuzz targets share this build: they need exactly these sanitizers plus coverage (scripts/fuzz.sh).
    cmake_options=(-DRAVNEST_SANITIZE=address,undefined -DRAVNEST_FUZZ=ON)
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
    export LSAN_OPTIONS="suppressions=$suppressions/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
    ;;
  thread)
    build_dir=$repo/build-tsan
    cmake_options=(-DRAVNEST_SANITIZE=thread)
    # ignore_noninstrumented_modules: tests/sanitizers/tsan.supp says why.
    tsan_options="suppressions=$suppressions/tsan.supp:ignore_noninstrumented_modules=1:halt_on_error=1"
    export TSAN_OPTIONS="$tsan_options:second_deadlock_stack=1${TSAN_OPTIONS:+:$TSAN_OPTIONS}"
    # LibTorch's intra-op pool is OpenMP (libgomp), whose synchronisation TSan cannot see: with one thread,
    # at::parallel_for runs on the calling thread and reports no false races.
    export OMP_NUM_THREADS=1
    ;;
  *) echo "$usage" >&2; exit 2 ;;
esac

launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR="$repo"
fi
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  cmake -S "$repo" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
    -DRAVNEST_BUILD_PYTHON=OFF "${cmake_options[@]}" "${launcher[@]}"
fi
target_options=()
if [ ${#build_targets[@]} -gt 0 ]; then target_options=(--target "${build_targets[@]}"); fi
nice -n 19 cmake --build "$build_dir" -j "${RAVNEST_JOBS:-1}" "${target_options[@]}"
$build_only && exit 0

lock=()
lock_file=${RAVNEST_LOCK-/tmp/ravnest-build.lock}
if [ -n "$lock_file" ]; then lock=(flock "$lock_file"); fi
ctest_options=(--test-dir "$build_dir" --output-on-failure -j "${RAVNEST_TEST_JOBS:-1}")
if [ -n "$tests_regex" ]; then ctest_options+=(-R "$tests_regex"); fi
"${lock[@]}" ctest "${ctest_options[@]}"
