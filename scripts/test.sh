#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh), then runs every C++ test (CTest), every Python test (pytest), and the
# format and lint checks (scripts/lint.sh).
# Exits non-zero if anything fails.
#   scripts/test.sh --sanitize address|undefined|thread [OPTIONS]
# instead builds the C++ library and tests with that sanitizer and runs the C++ tests (scripts/sanitize.sh,
# docs/testing.md).
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ "${1:-}" = "--sanitize" ]; then
  exec "$repo/scripts/sanitize.sh" "${@:2}"
fi
build_dir=${RAVNEST_BUILD_DIR:-$repo/build}
"$repo/scripts/setup.sh" || exit 1

status=0
echo "== C++ tests (CTest)"
ctest --test-dir "$build_dir" --output-on-failure -j "${RAVNEST_JOBS:-$(nproc)}" || status=1
echo "== Python tests (pytest)"
(cd "$repo/tests/python" && /usr/bin/python3 -m pytest -q -p no:cacheprovider) || status=1
echo "== Format and lint (scripts/lint.sh)"
RAVNEST_BUILD_DIR=$build_dir "$repo/scripts/lint.sh" || status=1

if [ $status -ne 0 ]; then echo "test.sh: FAILED" >&2; fi
exit $status
