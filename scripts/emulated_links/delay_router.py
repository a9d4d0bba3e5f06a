"""Holds every packet that crosses the emulated internet for a fixed time, then lets it go on.

    delay_router.py TUN_DEVICE DELAY_MS

The kernel here has no netem qdisc (CONFIG_NET_SCH_NETEM is off and there are no modules to load), so latency
is added in user space: the router namespace routes every packet that arrives from a provider into the TUN
device TUN_DEVICE (made persistent by `ip tuntap add` beforehand); this loop reads each packet, keeps it
DELAY_MS milliseconds and writes it back into the same device, from where the kernel routes it on to its
destination provider. The delay is constant, so a FIFO keeps the packets in order. Runs until SIGTERM.
"""

import collections
import fcntl
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


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def read_waiting_packets(fd, release_at, held):
    while True:
        try:
            held.append((release_at, os.read(fd, MAX_PACKET)))
        except BlockingIOError:
            return


def relay(fd, delay):
    held = collections.deque()
    while True:
        timeout = max(0.0, held[0][0] - time.monotonic()) if held else None
        readable, _, _ = select.select([fd], [], [], timeout)
        now = time.monotonic()
        if readable:
            read_waiting_packets(fd, now + delay, held)
        while held and held[0][0] <= now:
            os.write(fd, held.popleft()[1])


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: delay_router.py TUN_DEVICE DELAY_MS")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    relay(open_tun(sys.argv[1]), float(sys.argv[2]) / 1000.0)
