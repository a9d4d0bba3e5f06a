#!/usr/bin/env bash
# Trains the CNN example and ResNet-18 on three providers joined by emulated internet links, and reports
# samples/s per (link profile × model × compression).
#
#   scripts/emulate_links.sh           all profiles, both models, compression none, fp16 and int8-blockwise; updates the
#                                      "Emulated internet links" section of docs/performance.md
#   scripts/emulate_links.sh --tiny    one profile, the CNN, no compression; prints the table only
#
# Needs root (network namespaces), iproute2 and /dev/net/tun, and the installed ravnest package
# (scripts/setup.sh). Every provider runs in a network namespace of its own and listens on that namespace's
# address; the namespaces reach each other only through a router namespace, so no traffic touches the host's
# interfaces. Each provider's link has a token bucket (tc tbf) limiting both directions to the profile's rate;
# the latency is added by scripts/emulated_links/delay_router.py, because this kernel has no netem qdisc.
# Everything made here (namespaces, veth pairs, the TUN device, the processes inside) is removed on exit,
# on failure and on Ctrl-C.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=/usr/bin/python3
tag="ravnest-links-$$"  # namespace names: $tag-wan (the router) and $tag-p0..2 (the providers)
short="rvl$$"           # interface names, which may not exceed 15 characters
mtu=9000                # fewer packets for the delay router to carry
delay_table=100         # routing table that sends forwarded packets into the delay router
resnet18_batches=15     # ResNet-18 runs a warm-up epoch and a timed epoch of this many batches

# label|tbf rate|one-way delay in ms. The unshaped profile is the baseline: the same namespaces, no limits.
profiles=("unshaped|none|0" "100 Mbit/s, 20 ms|100mbit|20" "20 Mbit/s, 50 ms|20mbit|50")
models=(cnn resnet18)
compressions=(none fp16 int8-blockwise)
update_docs=1
if [ "${1:-}" = "--tiny" ]; then
  profiles=("100 Mbit/s, 20 ms|100mbit|20")
  models=(cnn)
  compressions=(none)
  update_docs=0
elif [ $# -gt 0 ]; then
  echo "usage: $0 [--tiny]" >&2
  exit 2
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "emulate_links: network namespaces need root; run it as root (sudo $0)" >&2
  exit 2
fi
"$repo/scripts/install_packages.sh" iproute2
if [ ! -c /dev/net/tun ]; then
  echo "emulate_links: /dev/net/tun is missing; the delay router needs the tun driver" >&2
  exit 2
fi
if ! "$python" -c "import ravnest, torchvision" 2>/dev/null; then
  echo "emulate_links: $python cannot import ravnest and torchvision; run scripts/setup.sh first" >&2
  exit 2
fi

workload_pid=

our_namespaces() {
  ip netns list | awk '{print $1}' | grep "^$tag-" || true
}

cleanup() {
  local namespace pids link
  if [ -n "$workload_pid" ]; then
    kill "$workload_pid" 2>/dev/null || true
    workload_pid=
  fi
  for namespace in $(our_namespaces); do
    mapfile -t pids < <(ip netns pids "$namespace")
    if [ ${#pids[@]} -gt 0 ]; then
      kill "${pids[@]}" 2>/dev/null || true
      for _ in $(seq 50); do
        mapfile -t pids < <(ip netns pids "$namespace")
        [ ${#pids[@]} -eq 0 ] && break
        sleep 0.1
      done
      if [ ${#pids[@]} -gt 0 ]; then kill -KILL "${pids[@]}" 2>/dev/null || true; fi
    fi
    # Takes its veth ends and the TUN device with it.
    ip netns del "$namespace" || echo "emulate_links: could not remove namespace $namespace" >&2
  done
  # A veth pair still in the host namespace when setting up failed halfway.
  for link in $(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep "^$short" || true); do
    ip link del "$link" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# tc tbf on one side of a link. A 64 KiB bucket holds a few jumbo frames; the queue holds 100 ms of traffic.
shape() {
  local namespace=$1 device=$2 rate=$3
  tc -n "$namespace" qdisc add dev "$device" root tbf rate "$rate" burst 64kb latency 100ms
}

setup_links() {
  local rate=$1 delay_ms=$2 wan="$tag-wan" i namespace
  ip netns add "$wan"
  ip -n "$wan" link set lo up
  ip netns exec "$wan" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
    net.ipv4.conf.default.rp_filter=0
  for i in 0 1 2; do
    namespace="$tag-p$i"
    ip netns add "$namespace"
    ip -n "$namespace" link set lo up
    ip link add "${short}p$i" mtu $mtu type veth peer name "${short}r$i" mtu $mtu
    ip link set "${short}p$i" netns "$namespace"
    ip link set "${short}r$i" netns "$wan"
    ip -n "$namespace" addr add "10.77.$i.2/24" dev "${short}p$i"
    ip -n "$namespace" link set "${short}p$i" up
    ip -n "$namespace" route add default via "10.77.$i.1"
    ip -n "$wan" addr add "10.77.$i.1/24" dev "${short}r$i"
    ip -n "$wan" link set "${short}r$i" up
    if [ "$rate" != none ]; then
      shape "$namespace" "${short}p$i" "$rate"  # upload
      shape "$wan" "${short}r$i" "$rate"        # download
    fi
    if [ "$delay_ms" != 0 ]; then
      ip -n "$wan" rule add iif "${short}r$i" lookup $delay_table
    fi
  done
  if [ "$delay_ms" != 0 ]; then
    ip -n "$wan" tuntap add dev "${short}d" mode tun
    ip -n "$wan" link set "${short}d" mtu $mtu up
    ip -n "$wan" route add default dev "${short}d" table $delay_table
    ip netns exec "$wan" "$python" "$repo/scripts/emulated_links/delay_router.py" "${short}d" "$delay_ms" &
  fi
}

results=$(mktemp)
run_output=$(mktemp)
trap 'cleanup; rm -f "$results" "$run_output"' EXIT
load_start=$(cut -d' ' -f1 /proc/loadavg)
failed=0
for profile in "${profiles[@]}"; do
  IFS='|' read -r label rate delay_ms <<<"$profile"
  setup_links "$rate" "$delay_ms"
  for model in "${models[@]}"; do
    for compression in "${compressions[@]}"; do
      echo "emulate_links: $label, $model, compression $compression" >&2
      # In the background, so that a signal reaches the traps at once instead of after the run.
      "$python" "$repo/scripts/emulated_links/run_workload.py" --model "$model" --compression "$compression" \
        --namespaces "$tag-p0" "$tag-p1" "$tag-p2" --hosts 10.77.0.2 10.77.1.2 10.77.2.2 --batches "$resnet18_batches" >"$run_output" &
      workload_pid=$!
      if wait $workload_pid; then
        workload_pid=
        value=$(sed -n 's/^samples\/s: //p' "$run_output")
      else
        workload_pid=
        value=failed
        failed=1
      fi
      printf '%s\t%s\t%s\t%s\n' "$label" "$model" "$compression" "$value" >>"$results"
    done
  done
  cleanup
done
load_end=$(cut -d' ' -f1 /proc/loadavg)

report_args=(--load "$load_start" "$load_end" --batches "$resnet18_batches")
if [ $update_docs = 1 ]; then
  report_args+=(--docs "$repo/docs/performance.md")
fi
"$python" "$repo/scripts/emulated_links/report.py" "$results" "${report_args[@]}"
exit $failed
