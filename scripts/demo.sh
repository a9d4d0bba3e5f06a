#!/usr/bin/env bash
# Sets everything up, then runs the main job.
# Today: forms the clusters of the CNN example (examples/cnn/node_data/) and measures the transport between
# two processes. Training the CNN on three local providers comes with the node runtime.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${RAVNEST_BUILD_DIR:-$repo/build}
"$repo/scripts/setup.sh"

echo "== Cluster formation for the CNN example (3 providers)"
(cd "$repo/examples/cnn" && /usr/bin/python3 cluster_formation.py && find node_data -name '*.json' -path '*nodes*' | sort)

echo "== Transport benchmark (two processes over loopback)"
"$build_dir/tests/benchmarks/ravnest_transport_benchmark"
