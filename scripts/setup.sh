#!/usr/bin/env bash
# Sets up everything ravnest needs on Debian 12, builds it and installs it. Idempotent: a second run with
# nothing changed takes seconds.
#   - installs the missing Debian packages (apt-get; as root, or through sudo);
#   - configures and builds the C++ library, the Python module, the tests and benchmarks in build/;
#   - installs the library, headers, CMake package and the `ravnest` Python package under $RAVNEST_PREFIX
#     (default /usr/local), so that `import ravnest` works from any directory in /usr/bin/python3.
# Environment: RAVNEST_PREFIX, RAVNEST_BUILD_DIR (default build), RAVNEST_BUILD_TYPE (default RelWithDebInfo),
# RAVNEST_JOBS (default: number of cores).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prefix=${RAVNEST_PREFIX:-/usr/local}
build_dir=${RAVNEST_BUILD_DIR:-$repo/build}
build_type=${RAVNEST_BUILD_TYPE:-RelWithDebInfo}
jobs=${RAVNEST_JOBS:-$(nproc)}
python=/usr/bin/python3  # Debian's interpreter: the one python3-torch is built for

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

packages=(
  build-essential cmake ccache pkg-config
  libtorch-dev python3-torch libopenblas0-pthread
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  pybind11-dev python3-dev libspdlog-dev libgtest-dev nlohmann-json3-dev
  python3-pytest python3-numpy python3-sklearn python3-torchvision python3-tqdm python3-matplotlib
  python3-protobuf  # the hostile-input tests speak the wire protocol from Python
  libsqlite3-dev libssl-dev  # the matchmaker: its state, artifact checksums
  chromium  # the status page is tested in a real browser
  clang clang-format clang-tidy  # scripts/lint.sh: format, lint, and the clang compile of every test
)
"$repo/scripts/install_packages.sh" "${packages[@]}"

if [ "$prefix" = /usr/local ]; then
  default_python_dir=$("$python" -c "import sysconfig; print(sysconfig.get_path('purelib', 'posix_local'))")
else
  default_python_dir=$("$python" -c "import sys, sysconfig; print(sysconfig.get_path('purelib', 'posix_prefix', {'base': sys.argv[1]}))" "$prefix")
fi
python_dir=${RAVNEST_PYTHON_DIR:-$default_python_dir}

launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  # Paths relative to the checkout, so that every clone (CI's included) shares one compiler cache.
  export CCACHE_BASEDIR="$repo"
  # Debug information names the build folder; without this every clone would miss the cache all the same.
  export CCACHE_NOHASHDIR=1
fi
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  cmake -S "$repo" -B "$build_dir" -DCMAKE_BUILD_TYPE="$build_type" "${launcher[@]}" \
    -DPython3_EXECUTABLE="$python" -DCMAKE_INSTALL_PREFIX="$prefix" -DRAVNEST_PYTHON_INSTALL_DIR="$python_dir"
fi
cmake --build "$build_dir" -j "$jobs"
"${sudo_cmd[@]}" cmake --install "$build_dir" > "$build_dir/install.log"
if [ "$prefix" = /usr/local ] || [ "$prefix" = /usr ]; then "${sudo_cmd[@]}" ldconfig; fi

if ! (cd / && PYTHONPATH="$python_dir${PYTHONPATH:+:$PYTHONPATH}" "$python" -c "import ravnest"); then
  echo "setup: 'import ravnest' failed after installing into $python_dir" >&2
  exit 1
fi
if [ "$prefix" != /usr/local ]; then
  echo "setup: add $python_dir to PYTHONPATH to import ravnest from this prefix"
fi
echo "setup: ravnest built in $build_dir and installed under $prefix (Python package in $python_dir)"
