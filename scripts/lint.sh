#!/usr/bin/env bash
# Format and lint checks of the C++ code (docs/testing.md, "Format and lint"). Exits non-zero on any finding.
#   1. clang-format (.clang-format) on every C++ line changed since the commit in .ci/format_base: code older
#      than that is reformatted only where it is edited. Fix with: git clang-format $(cat .ci/format_base)
#   2. clang-tidy (.clang-tidy) on every source file of the library (src/).
#   3. clang compiles every test source (syntax and semantics, no code generation), so code that only GCC
#      accepts cannot land: the sanitizer builds use clang.
# Needs the build folder's compile_commands.json (scripts/setup.sh). Environment: RAVNEST_BUILD_DIR (default
# build/), RAVNEST_JOBS (parallel checks, default: the number of cores).
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${RAVNEST_BUILD_DIR:-$repo/build}
jobs=${RAVNEST_JOBS:-$(nproc)}
commands=$build_dir/compile_commands.json
[ -f "$commands" ] || { echo "lint: no $commands: run scripts/setup.sh first" >&2; exit 2; }
cd "$repo"
status=0

base=$(cat .ci/format_base)
if ! git cat-file -e "$base^{commit}" 2>/dev/null; then
  echo "lint: .ci/format_base names $base, which this clone does not have" >&2
  exit 2
fi
format_diff=$(git clang-format --diff "$base" -- 'src/*.cpp' 'src/*.h' 'include/*.h' 'tests/*.cpp' 'tests/*.h' \
  'python/src/*.cpp' 'python/src/*.h' 'examples/*.cpp' 2>&1)
case "$format_diff" in
  ""|"no modified files to format"|"clang-format did not modify any files") echo "lint: format: clean" ;;
  *) echo "$format_diff"; echo "lint: format: the lines above differ from .clang-format (fix: git clang-format $base)" >&2; status=1 ;;
esac

mapfile -t sources < <(git ls-files 'src/*.cpp')
if run-clang-tidy -quiet -p "$build_dir" -j "$jobs" "${sources[@]/#/$repo/}" > "$build_dir/clang-tidy.log" 2>&1; then
  echo "lint: clang-tidy: clean (${#sources[@]} files)"
else
  grep -E "(error|warning):" "$build_dir/clang-tidy.log" | sort -u
  echo "lint: clang-tidy: findings above (whole log: $build_dir/clang-tidy.log)" >&2
  status=1
fi

# Each test source's own compile command, with clang++ in place of the compiler and no code generation.
if /usr/bin/python3 - "$commands" "$repo" "$jobs" <<'PYTHON'
import json, shlex, subprocess, sys
from concurrent.futures import ThreadPoolExecutor

commands, repo, jobs = sys.argv[1], sys.argv[2], int(sys.argv[3])
entries = [e for e in json.load(open(commands)) if e["file"].startswith(repo + "/tests/")]

def check(entry):
    arguments = shlex.split(entry["command"])
    if "-o" in arguments:
        index = arguments.index("-o")
        del arguments[index:index + 2]
    arguments = ["clang++", "-fsyntax-only", "-Wno-unknown-warning-option"] + arguments[1:]
    result = subprocess.run(arguments, cwd=entry["directory"], capture_output=True, text=True)
    return entry["file"], result.returncode, result.stderr

failed = 0
with ThreadPoolExecutor(jobs) as pool:
    for path, code, errors in pool.map(check, entries):
        if code != 0:
            failed += 1
            print(f"clang cannot compile {path}:\n{errors}")
print(f"lint: clang compiles {len(entries) - failed} of {len(entries)} test sources")
sys.exit(1 if failed else 0)
PYTHON
then :; else status=1; fi

exit $status
