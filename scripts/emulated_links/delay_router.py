"""Holds every packet that crosses the emulated internet for a fixed time, then lets it go on.

    delay_router.py TUN_DEVICE DELAY_MS         every packet: DELAY_MS milliseconds
    delay_router.py TUN_DEVICE --pairs FILE     per pair of addresses: FILE has `src_ip dst_ip ms` lines

The kernel here has no netem qdisc (CONFIG_NET_SCH_NETEM is off and there are no modules to load), so latency
is added in user space: the router namespace routes the packets to delay into the TUN device TUN_DEVICE (made
persistent by `ip tuntap add` beforehand); this loop reads each packet, keeps it for its delay and writes it back
into the same device, from where the kernel routes it on to its destination provider. Runs until SIGTERM.

With --pairs, the delay of an IPv4 packet is the one FILE gives its (source, destination) addresses; one pair
per direction, so a symmetric link takes two lines. Blank lines and `#` comments are ignored. A packet of a pair
that FILE does not list (scripts/emulated_links/topology.sh routes none here) goes on at once.

Packets are released in order of release time, and among equal release times in order of arrival; as the delay
of a pair is constant, the packets of every pair (so of every flow) leave in the order they came.
"""

import heapq
import fcntl
import ipaddress
import itertools
import os
import select
import signal
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
# Larger than any MTU the links use (emulate_links.sh sets 9000).
MAX_PACKET = 65536
USAGE = "usage: delay_router.py TUN_DEVICE DELAY_MS | delay_router.py TUN_DEVICE --pairs FILE"


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def read_pairs(path):
    """{source and destination address as the 8 bytes of an IPv4 header at offset 12: delay in seconds}."""
    delays = {}
    with open(path) as lines:
        for number, line in enumerate(lines, 1):
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            try:
                source, destination, ms = words
                key = ipaddress.IPv4Address(source).packed + ipaddress.IPv4Address(destination).packed
                delay = float(ms) / 1000.0
                if delay < 0:
                    raise ValueError("negative delay")
            except ValueError as error:
                raise SystemExit(f"delay_router.py: {path}:{number}: want `src_ip dst_ip ms`: {line.strip()!r} "
                                 f"({error})")
            delays[key] = delay
    return delays


def constant(delay):
    return lambda packet: delay


def per_pair(delays):
    def delay_of(packet):
        if len(packet) >= 20 and packet[0] >> 4 == 4:
            return delays.get(packet[12:20], 0.0)
        return 0.0
    return delay_of


def relay(fd, delay_of):
    held = []  # heap of (release time, arrival number, packet)
    arrivals = itertools.count()
    while True:
        timeout = max(0.0, held[0][0] - time.monotonic()) if held else None
        readable, _, _ = select.select([fd], [], [], timeout)
        now = time.monotonic()
        if readable:
            while True:
                try:
                    packet = os.read(fd, MAX_PACKET)
                except BlockingIOError:
                    break
                if not packet:  # the other end is gone (a TUN device never reads empty)
                    return
                heapq.heappush(held, (now + delay_of(packet), next(arrivals), packet))
        now = time.monotonic()
        while held and held[0][0] <= now:
            os.write(fd, heapq.heappop(held)[2])


def main(argv):
    if len(argv) == 3:
        try:
            delay_of = constant(float(argv[2]) / 1000.0)
        except ValueError:
            sys.exit(USAGE)
    elif len(argv) == 4 and argv[2] == "--pairs":
        delay_of = per_pair(read_pairs(argv[3]))
    else:
        sys.exit(USAGE)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    relay(open_tun(argv[1]), delay_of)


if __name__ == "__main__":
    main(sys.argv)
