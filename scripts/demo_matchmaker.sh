#!/usr/bin/env bash
# Sets everything up, then runs the same CNN job as scripts/demo.sh through a matchmaker, all on this machine:
#   1. starts a matchmaker (python -m ravnest.matchmaker) on a free port, its state in a temporary folder;
#   2. starts three providers, each in an empty folder of its own with nothing but the matchmaker's address
#      (RAVNEST_MATCHMAKER): they measure themselves and their links and wait for a job;
#   3. runs the requester (examples/cnn/cluster_formation.py with RAVNEST_MATCHMAKER), which forms the cluster from
#      the measured figures, uploads each provider's stage and prints the plan;
#   4. waits for the providers, prints the final validation accuracy, the throughput and where the status page was,
#      then stops the matchmaker and removes the folders (RAVNEST_KEEP=1 keeps them).
# RAVNEST_EPOCHS sets the epochs (default 20).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=/usr/bin/python3
"$repo/scripts/setup.sh"

work=$(mktemp -d -t ravnest-matchmaker-demo-XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${RAVNEST_KEEP:-0}" = 1 ]; then echo "folders kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

read -r port status_port < <("$python" -c "
import socket
sockets = [socket.socket() for _ in range(2)]
for s in sockets: s.bind(('127.0.0.1', 0))
print(*[s.getsockname()[1] for s in sockets])")
export RAVNEST_MATCHMAKER=127.0.0.1:$port RAVNEST_MATCHMAKER_TOKEN=demo-$RANDOM$RANDOM OMP_NUM_THREADS=1

echo "== Matchmaker on $RAVNEST_MATCHMAKER (status page http://127.0.0.1:$status_port/)"
"$python" -m ravnest.matchmaker --host 127.0.0.1 --port "$port" --status-port "$status_port" \
  --state "$work/matchmaker_state" > "$work/matchmaker.log" 2>&1 &
pids+=($!)
for _ in $(seq 600); do
  grep -q "listening on" "$work/matchmaker.log" && break
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$work/matchmaker.log"; exit 1; }
  sleep 0.1
done

echo "== Three providers, each in an empty folder with only the matchmaker's address"
for i in 0 1 2; do
  mkdir -p "$work/provider_$i"
  (cd "$work/provider_$i" && exec "$python" "$repo/examples/cnn/provider.py" > provider.log 2>&1) &
  pids+=($!)
done
provider_pids=("${pids[@]:1}")

echo "== The requester: cluster formation from the measured figures"
mkdir -p "$work/requester"
(cd "$work/requester" && "$python" "$repo/examples/cnn/cluster_formation.py")

echo "== Training (logs in each provider's folder)"
failed=0
for i in 0 1 2; do
  if ! wait "${provider_pids[$i]}"; then
    echo "provider $i failed:"; tail -n 30 "$work/provider_$i/provider.log"; failed=1
  fi
done
pids=("${pids[0]}")
[ $failed = 0 ] || exit 1
grep -h -E "throughput" "$work"/provider_*/provider.log
accuracy=$(cat "$work"/provider_*/val_accuracies.txt 2>/dev/null | tail -n 1)
echo "final validation accuracy: ${accuracy}%"
echo "the matchmaker's status page was at http://127.0.0.1:$status_port/ (python -m ravnest.matchmaker serves it)"
