"""scripts/emulated_links/topology.sh: emulated internet links per pair of providers.

Six providers in network namespaces: pairs (0, 1), (2, 3) and (4, 5) at 100 Mbit/s and 5 ms one way, every other
pair at 10 Mbit/s and 40 ms. A tiny socket server and client, run inside the namespaces, measure the round trip
(the median of 5 TCP connects and of 5 one-byte echoes) and the rate one way (a sender streams for about a second;
the receiver takes the rate over the last 75 % of the bytes) of a fast pair and a slow pair, which must come within
20 % of the shaped values, while the matchmaker's namespace stays unshaped and undelayed. After topology_down, also
when a test fails or topology_up failed halfway, no namespace, interface, delay router or state directory of the
topology may remain. Creating namespaces needs root, so these tests are skipped only for a user who is not root;
the delay router's ordering test needs no root.
"""

import importlib.util
import itertools
import json
import os
import socket
import statistics
import subprocess
import threading
import time
from pathlib import Path

import pytest

LINKS = Path(__file__).resolve().parents[2] / "scripts" / "emulated_links"
TOPOLOGY = LINKS / "topology.sh"
PYTHON = "/usr/bin/python3"
PORT = 5201
TOLERANCE = 0.2

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="topology.sh creates network namespaces: needs root")

# Run inside a namespace with `python3 -c PROBE MODE ...`:
#   server HOST PORT          echo ("E") or sink ("S") connections one after another; prints "ready"
#   rtt HOST PORT COUNT       COUNT connects and COUNT echoes of one byte (after one not counted), in ms, as JSON
#   stream HOST PORT SECONDS  sends for SECONDS, then prints the receiver's figures as JSON
PROBE = r'''
import json, socket, sys, time

def serve(host, port):
    listener = socket.create_server((host, port))
    print("ready", flush=True)
    while True:
        connection, _ = listener.accept()
        with connection:
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            mode = connection.recv(1)
            if mode == b"E":
                while data := connection.recv(65536):
                    connection.sendall(data)
            elif mode == b"S":
                total, samples = 0, []
                while data := connection.recv(1 << 20):
                    total += len(data)
                    samples.append((time.perf_counter(), total))
                figures = {"bytes": total, "seconds": 0.0, "bits_per_s": 0.0}
                if samples:
                    start = next(sample for sample in samples if sample[1] >= total / 4)
                    end = samples[-1]
                    figures["seconds"] = end[0] - samples[0][0]
                    if end[0] > start[0]:
                        figures["bits_per_s"] = (end[1] - start[1]) * 8 / (end[0] - start[0])
                connection.sendall(json.dumps(figures).encode())

def connect(host, port):
    sock = socket.create_connection((host, port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock

def rtt(host, port, count):
    connects, echoes = [], []
    for _ in range(count):
        start = time.perf_counter()
        sock = connect(host, port)
        connects.append((time.perf_counter() - start) * 1e3)
        sock.sendall(b"E")
        sock.close()
    with connect(host, port) as sock:
        sock.sendall(b"E")
        for _ in range(count + 1):
            start = time.perf_counter()
            sock.sendall(b"x")
            if sock.recv(1) != b"x":
                sys.exit("the echo server closed the connection")
            echoes.append((time.perf_counter() - start) * 1e3)
    print(json.dumps({"connect_ms": connects, "echo_ms": echoes[1:]}))

def stream(host, port, seconds):
    chunk = bytes(65536)
    with connect(host, port) as sock:
        sock.sendall(b"S")
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            sock.sendall(chunk)
        sock.shutdown(socket.SHUT_WR)
        reply = b""
        while data := sock.recv(4096):
            reply += data
    print(reply.decode())

mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "server":
    serve(host, port)
elif mode == "rtt":
    rtt(host, port, int(sys.argv[4]))
else:
    stream(host, port, float(sys.argv[4]))
'''

_tags = itertools.count()


def topology(*args, check=True, env=None):
    """Runs a topology.sh function, sourced into a shell that has `set -euo pipefail` as callers may."""
    result = subprocess.run(["bash", "-c", 'set -euo pipefail; source "$0"; "$@"', str(TOPOLOGY), *args],
                            capture_output=True, text=True, timeout=120, env=env)
    if check:
        assert result.returncode == 0, f"{args}: {result.stdout}{result.stderr}"
    return result


def address(name):
    return "10.77.200.2" if name == "mm" else f"10.77.{name[1:]}.2"


def leftovers(tag, prefix):
    """What is left of topology TAG: namespaces, host interfaces, processes naming its state, the state."""
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    left = [line.split()[0] for line in listing.splitlines() if line.startswith(f"{tag}-")]
    listing = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    left += [name for name in (line.split(": ")[1].split("@")[0] for line in listing.splitlines())
             if name.startswith(prefix)]
    state = f"/tmp/{tag}.topology"
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if state.encode() in cmdline.read_bytes():
                left.append(f"process {cmdline.parent.name}")
        except OSError:
            pass  # ended meanwhile
    if os.path.exists(state):
        left.append(state)
    return left


@pytest.fixture
def make_topology(tmp_path):
    """make_topology(spec_lines, providers=None) -> tag; every topology made goes down at teardown, checked."""
    made = []

    def make(lines, providers=None):
        tag = f"rvtopo-{os.getpid()}-{next(_tags)}"
        made.append((tag, topology("topology_ifprefix", tag).stdout.strip()))
        spec = tmp_path / f"{tag}.spec"
        spec.write_text("".join(f"{line}\n" for line in lines))
        start = time.monotonic()
        topology("topology_up", tag, str(spec), *([str(providers)] if providers else []))
        print(f"\ntopology_up {tag}: {time.monotonic() - start:.2f} s")
        return tag

    try:
        yield make
    finally:
        for tag, prefix in made:
            down = topology("topology_down", tag, check=False)
            assert down.returncode == 0, down.stderr
            assert leftovers(tag, prefix) == []


class Server:
    def __init__(self, tag, name):
        self.process = subprocess.Popen(["ip", "netns", "exec", f"{tag}-{name}", PYTHON, "-c", PROBE, "server",
                                         address(name), str(PORT)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)

    def __enter__(self):
        line = self.process.stdout.readline()
        if line.strip() != "ready":
            self.process.kill()
            pytest.fail(f"the probe server did not start: {line}{self.process.communicate()[1]}")
        return self

    def __exit__(self, *_):
        self.process.kill()
        self.process.communicate()


def probe(tag, source, destination, mode, argument):
    result = subprocess.run(["ip", "netns", "exec", f"{tag}-{source}", PYTHON, "-c", PROBE, mode,
                             address(destination), str(PORT), str(argument)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def round_trip_ms(tag, source, destination):
    """(median connect, median echo) in ms, of 5 each."""
    with Server(tag, destination):
        figures = probe(tag, source, destination, "rtt", 5)
    connect, echo = statistics.median(figures["connect_ms"]), statistics.median(figures["echo_ms"])
    print(f"{source} -> {destination}: connect {connect:.2f} ms, echo {echo:.2f} ms "
          f"(connects {[round(value, 2) for value in figures['connect_ms']]}, "
          f"echoes {[round(value, 2) for value in figures['echo_ms']]})")
    return connect, echo


def rate_bits(tag, source, destination, seconds=1.0):
    with Server(tag, destination):
        figures = probe(tag, source, destination, "stream", seconds)
    print(f"{source} -> {destination}: {figures['bits_per_s'] / 1e6:.2f} Mbit/s "
          f"({figures['bytes']} bytes in {figures['seconds']:.2f} s)")
    return figures["bits_per_s"]


def assert_near(measured, shaped, what):
    assert shaped * (1 - TOLERANCE) <= measured <= shaped * (1 + TOLERANCE), \
        f"{what}: measured {measured:.4g}, shaped {shaped:.4g} (±{TOLERANCE:.0%})"


def six_provider_spec():
    fast = {(0, 1), (2, 3), (4, 5)}
    return [f"{i} {j} 100mbit 5" if (i, j) in fast else f"{i} {j} 10mbit 40"
            for i in range(6) for j in range(i + 1, 6)]


@needs_root
def test_each_pair_has_its_own_round_trip_and_rate(make_topology):
    tag = make_topology(six_provider_spec())
    # A fast pair and a slow pair; the sender and the receiver sit on different sides of the filters.
    for source, destination, rtt_ms in (("p2", "p3", 10), ("p5", "p0", 80)):
        connect, echo = round_trip_ms(tag, source, destination)
        assert_near(connect, rtt_ms, f"connect {source} -> {destination} (ms)")
        assert_near(echo, rtt_ms, f"echo {source} -> {destination} (ms)")
    assert_near(rate_bits(tag, "p2", "p3"), 100e6, "p2 -> p3 (bit/s)")
    assert_near(rate_bits(tag, "p5", "p0"), 10e6, "p5 -> p0 (bit/s)")
    # The matchmaker's namespace: neither delayed nor limited.
    assert max(round_trip_ms(tag, "p4", "mm")) < 2
    assert rate_bits(tag, "p4", "mm", seconds=0.5) > 200e6


@needs_root
def test_a_pair_not_listed_is_neither_delayed_nor_limited(make_topology):
    tag = make_topology(["0 1 10mbit 20"], providers=3)
    assert_near(round_trip_ms(tag, "p1", "p0")[1], 40, "echo p1 -> p0 (ms)")
    assert max(round_trip_ms(tag, "p0", "p2")) < 2
    assert rate_bits(tag, "p1", "p2", seconds=0.5) > 200e6


@needs_root
def test_a_failed_up_removes_what_it_made_and_down_is_idempotent(make_topology, tmp_path):
    tag = f"rvtopo-{os.getpid()}-failed"
    prefix = topology("topology_ifprefix", tag).stdout.strip()
    spec = tmp_path / "spec"
    try:
        spec.write_text("0 1 100mbit 5\n0 2 fast 5\n")
        result = topology("topology_up", tag, str(spec), check=False)
        assert result.returncode == 2 and "bad rate" in result.stderr, result.stderr
        assert leftovers(tag, prefix) == []
        # Fails last of all: the delay router cannot start once the namespaces, links and qdiscs are made.
        spec.write_text("0 1 100mbit 5\n")
        result = topology("topology_up", tag, str(spec), check=False,
                          env={**os.environ, "TOPOLOGY_PYTHON": "/bin/false"})
        assert result.returncode != 0 and "delay router" in result.stderr, result.stderr
        assert leftovers(tag, prefix) == []
    finally:
        for _ in range(2):
            assert topology("topology_down", tag, check=False).returncode == 0
        assert leftovers(tag, prefix) == []


def test_the_delay_router_delays_per_pair_and_keeps_each_pair_in_order(tmp_path):
    """relay() on one end of a packet socket pair stands in for the TUN device; no root needed."""
    spec = importlib.util.spec_from_file_location("delay_router", LINKS / "delay_router.py")
    delay_router = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(delay_router)
    pairs = tmp_path / "pairs"
    pairs.write_text("# slow pair\n10.77.0.2 10.77.1.2 150\n10.77.1.2 10.77.0.2 150\n10.77.2.2 10.77.3.2 30\n")
    router_end, network_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    router_end.setblocking(False)
    router = threading.Thread(target=delay_router.relay, daemon=True,
                              args=(router_end.fileno(), delay_router.per_pair(delay_router.read_pairs(pairs))))
    router.start()

    def packet(source, destination, number):
        header = bytes([0x45]) + bytes(11) + socket.inet_aton(source) + socket.inet_aton(destination)
        return header + number.to_bytes(4, "big")

    sent = {}
    start = time.monotonic()
    for number in range(20):
        for source, destination in (("10.77.0.2", "10.77.1.2"), ("10.77.1.2", "10.77.0.2"),
                                    ("10.77.2.2", "10.77.3.2"), ("10.77.3.2", "10.77.2.2")):
            network_end.send(packet(source, destination, number))
            sent.setdefault((source, destination), []).append(number)
    network_end.settimeout(5)
    received = {}
    for _ in range(80):
        data = network_end.recv(100)
        key = (socket.inet_ntoa(data[12:16]), socket.inet_ntoa(data[16:20]))
        received.setdefault(key, []).append((int.from_bytes(data[20:], "big"), time.monotonic() - start))
    network_end.close()  # relay() returns once its end reads empty
    router.join(timeout=5)
    assert not router.is_alive()
    router_end.close()
    assert {key: [number for number, _ in values] for key, values in received.items()} == sent  # in order
    # 3.2 -> 2.2 is not listed: at once; 2.2 -> 3.2 after 30 ms; the slow pair after 150 ms, both ways.
    assert max(at for _, at in received[("10.77.3.2", "10.77.2.2")]) < 0.025
    assert 0.03 <= min(at for _, at in received[("10.77.2.2", "10.77.3.2")]) < 0.1
    for key in (("10.77.0.2", "10.77.1.2"), ("10.77.1.2", "10.77.0.2")):
        assert 0.15 <= min(at for _, at in received[key]) < 0.3
