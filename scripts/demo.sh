#!/usr/bin/env bash
# Sets everything up, then runs the main job.
# Forms the clusters of the CNN example (examples/cnn/node_data/), trains the CNN on its three providers on this
# machine (python -m ravnest.launch), prints the final validation accuracy and the throughput, then measures
# the transport between two processes. RAVNEST_EPOCHS sets the epochs (default 20).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${RAVNEST_BUILD_DIR:-$repo/build}
"$repo/scripts/setup.sh"

echo "== Cluster formation for the CNN example (3 providers)"
(cd "$repo/examples/cnn" && /usr/bin/python3 cluster_formation.py && find node_data -name '*.json' -path '*nodes*' | sort)

echo "== Training the CNN on 3 providers (logs in examples/cnn/logs/)"
(cd "$repo/examples/cnn" && mkdir -p logs && { /usr/bin/python3 -m ravnest.launch provider.py > logs/all.txt 2>&1 || { tail -n 40 logs/all.txt; exit 1; }; }
 grep -E "throughput|peak RSS" logs/all.txt
 echo "final validation accuracy: $(tail -n 1 val_accuracies.txt)%")

echo "== Transport benchmark (two processes over loopback)"
"$build_dir/tests/benchmarks/ravnest_transport_benchmark"
