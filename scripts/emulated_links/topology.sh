# shellcheck shell=bash
# Emulated internet links PER PAIR of providers, for scripts and tests. Source this file, then:
#
#   topology_up TAG SPEC [N]      build the topology (returns non-zero, having removed what it made, on failure)
#   topology_exec TAG NAME cmd... run cmd in namespace $TAG-NAME (NAME: p0, p1, ..., mm or wan)
#   topology_address NAME         the address of p<i> (10.77.<i>.2) or mm (10.77.200.2)
#   topology_down TAG             remove everything topology_up TAG made; idempotent, safe after a failed up
#   topology_ifprefix TAG         the prefix of every interface name of the topology
#
# Namespaces: $TAG-wan (the router), $TAG-p0 .. $TAG-p{N-1} (provider i at 10.77.<i>.2, router side 10.77.<i>.1)
# and $TAG-mm (10.77.200.2, router side 10.77.200.1), an unshaped home for a service every provider reaches
# (the matchmaker). Every namespace reaches the others only through the router, so no traffic touches the host's
# interfaces; the veth pairs are created directly inside the namespaces and never appear in the host namespace.
#
# SPEC is a file with one line per shaped pair, `i j RATE DELAY_MS` (e.g. `0 1 100mbit 5`), blank lines and
# `#` comments ignored. A pair is symmetric: traffic between provider i and provider j, in both directions, is
# limited to RATE (tc units: bit, kbit, mbit, gbit, bps, kbps, mbps, gbps; `none` for no limit) and delayed by
# DELAY_MS one way (the round trip gains 2 x DELAY_MS; 0 for no delay). Pairs not listed, and all traffic to or
# from mm, are neither limited nor delayed. N defaults to the highest index in SPEC plus one.
#
# Rate: an HTB qdisc on each provider's veth (egress, classified by destination address) and on the router's
# veth toward each provider (classified by source address), with one class per shaped peer, u32 filters, and a
# bfifo under each class holding 100 ms of traffic (at least 192 KiB, three GSO packets). Unclassified traffic
# bypasses HTB (its direct queue). This kernel has htb, tbf, pfifo/bfifo and the u32 and bpf classifiers, but no
# prio, netem, hfsc, drr, sfq, fq or fq_codel.
# Delay: the kernel has no netem, so the router sends the packets of delayed pairs only (ip rules by incoming
# interface, source and destination) into a TUN device, where delay_router.py --pairs holds each packet for its
# pair's delay and writes it back; it is then routed on to its destination. Per-pair FIFO order is kept.
#
# Safe to source into a script that runs with `set -euo pipefail`. The state (the pairs file, the delay router's
# log) lives in /tmp/$TAG.topology and goes with topology_down. Needs root, iproute2 and /dev/net/tun.

_TOPOLOGY_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOPOLOGY_PYTHON=${TOPOLOGY_PYTHON:-/usr/bin/python3}
TOPOLOGY_MTU=${TOPOLOGY_MTU:-9000}  # fewer packets for the delay router to carry
_TOPOLOGY_DELAY_TABLE=100           # routing table of the router namespace that leads into the TUN device
_TOPOLOGY_MAX_PROVIDERS=100         # two digits in the interface names

_topology_err() {
  echo "topology: $*" >&2
}

# Runs a command; on failure says which one failed.
_topology_run() {
  "$@" || {
    local rc=$?
    _topology_err "failed ($rc): $*"
    return $rc
  }
}

_topology_valid_tag() {
  if [[ ! "${1:-}" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$ ]]; then
    _topology_err "bad TAG '${1:-}': letters, digits, '_', '.', '-', at most 64 characters"
    return 2
  fi
}

# rvt + 7 digits of the tag's checksum: names like rvt1234567r12 stay within 15 characters.
topology_ifprefix() {
  local sum
  sum=$(printf '%s' "$1" | cksum | cut -d' ' -f1)
  printf 'rvt%07d\n' $((sum % 10000000))
}

topology_address() {
  case "${1:-}" in
    mm) echo 10.77.200.2 ;;
    p[0-9] | p[0-9][0-9]) echo "10.77.${1#p}.2" ;;
    *)
      _topology_err "no address for '${1:-}' (p<i> or mm)"
      return 2
      ;;
  esac
}

_topology_namespaces() {
  local tag=$1
  ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${tag//./\\.}-(wan|mm|p[0-9]+)$" || true
}

topology_exec() {
  if [ $# -lt 3 ]; then
    _topology_err "usage: topology_exec TAG NAME cmd..."
    return 2
  fi
  local tag=$1 name=$2
  shift 2
  ip netns exec "$tag-$name" "$@"
}

# Bytes per second of a tc rate such as 100mbit or 12kbps.
_topology_rate_bytes() {
  awk -v r="$1" 'BEGIN {
    if (!match(r, /^[0-9]+(\.[0-9]+)?/)) exit 1
    v = substr(r, 1, RLENGTH); u = substr(r, RLENGTH + 1)
    m["bit"] = 1 / 8; m["kbit"] = 1e3 / 8; m["mbit"] = 1e6 / 8; m["gbit"] = 1e9 / 8
    m["bps"] = 1; m["kbps"] = 1e3; m["mbps"] = 1e6; m["gbps"] = 1e9
    if (!(u in m) || v <= 0) exit 1
    printf "%d\n", v * m[u]
  }'
}

# HTB with one class per shaped peer on DEVICE in NAMESPACE. DIRECTION is dst (a provider's veth: the peer is
# the destination) or src (the router's veth toward a provider: the peer is the source). PEERS: "j:rate" words.
# Appends the tc commands to the caller's variable `batch`, to run in one `tc -batch` per namespace.
declare -gA _TOPOLOGY_RATE_BYTES=()
_topology_shape() {
  local device=$1 direction=$2
  shift 2
  local peer j rate limit class leaf
  batch+="qdisc add dev $device root handle 1: htb"$'\n'
  for peer in "$@"; do
    j=${peer%%:*}
    rate=${peer#*:}
    limit=$((_TOPOLOGY_RATE_BYTES[$rate] / 10))
    [ $limit -ge 196608 ] || limit=196608
    printf -v class '1:%x' $((j + 1))
    printf -v leaf '%x:' $((j + 2))
    batch+="class add dev $device parent 1: classid $class htb rate $rate ceil $rate"
    batch+=" burst 64kb cburst 64kb quantum 65536"$'\n'
    batch+="qdisc add dev $device parent $class handle $leaf bfifo limit $limit"$'\n'
    batch+="filter add dev $device parent 1: protocol ip prio 1 u32 match ip $direction 10.77.$j.2/32"
    batch+=" flowid $class"$'\n'
  done
}

# Namespace $TAG-NAME joined to the router by a veth pair: INNER (10.77.SUBNET.2) inside, OUTER (10.77.SUBNET.1)
# in the router. Appends the router's side to the variable wan_batch (one `ip -batch` for the router: every
# `ip -n` costs ~10 ms, most of topology_up's time).
_topology_link() {
  local tag=$1 name=$2 subnet=$3 inner=$4 outer=$5 namespace="$1-$2"
  _topology_run ip netns add "$namespace" || return 1
  wan_batch+="link add $outer mtu $TOPOLOGY_MTU type veth peer name $inner mtu $TOPOLOGY_MTU netns $namespace"$'\n'
  wan_batch+="addr add 10.77.$subnet.1/24 dev $outer"$'\n'"link set $outer up"$'\n'
}

# The namespace's side, once the router's batch has made its veth end.
_topology_link_inside() {
  local namespace=$1 inner=$2 subnet=$3
  printf 'link set lo up\naddr add 10.77.%s.2/24 dev %s\nlink set %s up\nroute add default via 10.77.%s.1\n' \
    "$subnet" "$inner" "$inner" "$subnet" | _topology_run ip -n "$namespace" -batch -
}

_topology_build() {
  local tag=$1 spec=$2 count=$3
  local wan="$tag-wan" pfx state="/tmp/$tag.topology" line i j rate delay rest highest=-1 n
  pfx=$(topology_ifprefix "$tag")
  local -a pair_i=() pair_j=() pair_rate=() pair_delay=()
  local -A seen=()

  # Read and check the whole SPEC before making anything.
  while IFS= read -r line || [ -n "$line" ]; do
    line=${line%%#*}
    read -r i j rate delay rest <<<"$line" || true
    [ -z "${i:-}" ] && continue
    if [[ ! "$i" =~ ^[0-9]+$ || ! "${j:-}" =~ ^[0-9]+$ || -z "${rate:-}" || ! "${delay:-}" =~ ^[0-9]+(\.[0-9]+)?$ ||
      -n "${rest:-}" ]]; then
      _topology_err "$spec: bad line '$line' (want: i j RATE DELAY_MS)"
      return 2
    fi
    i=$((10#$i))
    j=$((10#$j))
    if [ "$i" -eq "$j" ]; then
      _topology_err "$spec: pair $i $i: a provider with itself"
      return 2
    fi
    if [ "$rate" != none ] && [ -z "${_TOPOLOGY_RATE_BYTES[$rate]:-}" ]; then
      if ! _TOPOLOGY_RATE_BYTES[$rate]=$(_topology_rate_bytes "$rate"); then
        _topology_err "$spec: bad rate '$rate' (e.g. 100mbit, 500kbit, none)"
        return 2
      fi
    fi
    if [ -n "${seen["$i $j"]:-}" ]; then
      _topology_err "$spec: pair $i $j listed twice"
      return 2
    fi
    seen["$i $j"]=1
    seen["$j $i"]=1
    pair_i+=("$i")
    pair_j+=("$j")
    pair_rate+=("$rate")
    pair_delay+=("$delay")
    [ "$i" -gt $highest ] && highest=$i
    [ "$j" -gt $highest ] && highest=$j
  done <"$spec"
  n=${count:-$((highest + 1))}
  if [[ ! "$n" =~ ^[0-9]+$ ]] || [ "$n" -lt 1 ] || [ "$n" -le "$highest" ] ||
    [ "$n" -gt $_TOPOLOGY_MAX_PROVIDERS ]; then
    _topology_err "bad number of providers '$n' (1..$_TOPOLOGY_MAX_PROVIDERS, more than every index in $spec)"
    return 2
  fi

  _topology_run mkdir -p "$state" || return 1
  : >"$state/pairs" || return 1

  _topology_run ip netns add "$wan" || return 1
  _topology_run ip -n "$wan" link set lo up || return 1
  _topology_run ip netns exec "$wan" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
    net.ipv4.conf.default.rp_filter=0 || return 1
  local wan_batch=""
  for ((i = 0; i < n; i++)); do
    _topology_link "$tag" "p$i" "$i" "${pfx}p$i" "${pfx}r$i" || return 1
  done
  _topology_link "$tag" mm 200 "${pfx}m" "${pfx}rm" || return 1
  printf '%s' "$wan_batch" | _topology_run ip -n "$wan" -batch - || return 1
  for ((i = 0; i < n; i++)); do
    _topology_link_inside "$tag-p$i" "${pfx}p$i" "$i" || return 1
  done
  _topology_link_inside "$tag-mm" "${pfx}m" 200 || return 1

  # Rate: the peers of each provider, and the ip rules of the delayed pairs.
  local -A peers=()
  local rules="" k
  for k in "${!pair_i[@]}"; do
    i=${pair_i[$k]}
    j=${pair_j[$k]}
    rate=${pair_rate[$k]}
    delay=${pair_delay[$k]}
    if [ "$rate" != none ]; then
      peers[$i]+=" $j:$rate"
      peers[$j]+=" $i:$rate"
    fi
    if [ "$delay" != 0 ] && [[ ! "$delay" =~ ^0+(\.0+)?$ ]]; then
      printf '10.77.%d.2 10.77.%d.2 %s\n10.77.%d.2 10.77.%d.2 %s\n' "$i" "$j" "$delay" "$j" "$i" "$delay" \
        >>"$state/pairs" || return 1
      rules+="rule add iif ${pfx}r$i from 10.77.$i.2 to 10.77.$j.2 lookup $_TOPOLOGY_DELAY_TABLE"$'\n'
      rules+="rule add iif ${pfx}r$j from 10.77.$j.2 to 10.77.$i.2 lookup $_TOPOLOGY_DELAY_TABLE"$'\n'
    fi
  done
  local batch wan_tc=""
  for i in "${!peers[@]}"; do
    batch=""
    # shellcheck disable=SC2086 # the peers are words
    _topology_shape "${pfx}p$i" dst ${peers[$i]}
    printf '%s' "$batch" | _topology_run tc -n "$tag-p$i" -batch - || return 1
    batch=""
    # shellcheck disable=SC2086
    _topology_shape "${pfx}r$i" src ${peers[$i]}
    wan_tc+=$batch
  done
  if [ -n "$wan_tc" ]; then
    printf '%s' "$wan_tc" | _topology_run tc -n "$wan" -batch - || return 1
  fi

  # Delay: only the delayed pairs' packets enter the TUN device (a packet written back by the delay router
  # arrives from the TUN device, matches no rule and is routed on).
  if [ -n "$rules" ]; then
    local tun="${pfx}d" router_pid
    _topology_run ip -n "$wan" tuntap add dev "$tun" mode tun || return 1
    _topology_run ip -n "$wan" link set "$tun" mtu "$TOPOLOGY_MTU" up || return 1
    _topology_run ip -n "$wan" route add default dev "$tun" table $_TOPOLOGY_DELAY_TABLE || return 1
    printf '%s' "$rules" | _topology_run ip -n "$wan" -batch - || return 1
    ip netns exec "$wan" "$TOPOLOGY_PYTHON" "$_TOPOLOGY_DIR/delay_router.py" "$tun" --pairs "$state/pairs" \
      </dev/null >"$state/delay_router.log" 2>&1 &
    router_pid=$!
    disown "$router_pid" 2>/dev/null || true  # a caller's plain `wait` must not wait for it
    # The TUN device has carrier once the delay router has attached to it.
    for _ in $(seq 100); do
      ip -n "$wan" link show dev "$tun" 2>/dev/null | grep -q LOWER_UP && return 0
      if ! kill -0 "$router_pid" 2>/dev/null; then
        _topology_err "the delay router exited: $(cat "$state/delay_router.log" 2>/dev/null)"
        return 1
      fi
      sleep 0.05
    done
    _topology_err "the delay router did not attach to $tun within 5 s"
    return 1
  fi
}

topology_up() {
  if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    _topology_err "usage: topology_up TAG SPEC [N]"
    return 2
  fi
  local tag=$1 spec=$2 count=${3:-} rc=0
  _topology_valid_tag "$tag" || return 2
  if [ ! -r "$spec" ]; then
    _topology_err "cannot read SPEC $spec"
    return 2
  fi
  if [ -n "$(_topology_namespaces "$tag")" ]; then
    _topology_err "a topology $tag is up already (topology_down $tag)"
    return 1
  fi
  _topology_build "$tag" "$spec" "$count" || rc=$?
  if [ $rc -ne 0 ]; then
    _topology_err "setting up $tag failed; removing what was made"
    topology_down "$tag" || true
    return $rc
  fi
}

topology_down() {
  if [ $# -ne 1 ]; then
    _topology_err "usage: topology_down TAG"
    return 2
  fi
  local tag=$1 namespace pid link pfx left=0
  local -a namespaces=() pids=()
  _topology_valid_tag "$tag" || return 2
  mapfile -t namespaces < <(_topology_namespaces "$tag")
  # Every process inside (the delay router, servers started by topology_exec), never this shell: TERM, then
  # KILL after 3 s. Asked again each round, as `ip netns pids` leaves out the dead (zombies included).
  local round
  for round in $(seq 50); do
    pids=()
    for namespace in "${namespaces[@]}"; do
      for pid in $(ip netns pids "$namespace" 2>/dev/null || true); do
        if [ "$pid" != $$ ] && [ "$pid" != "${BASHPID:-$$}" ]; then pids+=("$pid"); fi
      done
    done
    [ ${#pids[@]} -eq 0 ] && break
    if [ "$round" -eq 1 ]; then
      kill "${pids[@]}" 2>/dev/null || true
    elif [ "$round" -ge 30 ]; then
      kill -KILL "${pids[@]}" 2>/dev/null || true
    fi
    sleep 0.1
  done
  # Deleting a namespace takes its veth ends (and the peers in other namespaces) and the TUN device with it.
  for namespace in "${namespaces[@]}"; do
    ip netns del "$namespace" 2>/dev/null || true
  done
  # Our interfaces never live in the host namespace; remove any that somehow do.
  pfx=$(topology_ifprefix "$tag")
  for link in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep "^$pfx" || true); do
    ip link del "$link" 2>/dev/null || true
  done
  rm -rf "/tmp/$tag.topology"
  if [ -n "$(_topology_namespaces "$tag")" ]; then
    _topology_err "could not remove: $(_topology_namespaces "$tag" | tr '\n' ' ')"
    left=1
  fi
  return $left
}
