"""A provider that joins a job through a matchmaker instead of reading a node_data/ folder someone copied to it.

`Node(matchmaker="host:7000", ...)` measures this machine and its links, joins, answers the peer probes the
matchmaker asks for, waits for an assignment and writes the stage, routing and node JSON it receives into
./node_data/ (each file checked against its SHA-256 first). The Node then starts from that folder as it would
from clusterize's. While training runs, heartbeats carry its figures (throughput, loss) to the status page; a
matchmaker that is down only pauses them. docs/matchmaker.md.
"""

import threading
import time

from ravnest import _C

# Seconds between the training figures handed to the heartbeats.
_REPORT_SECONDS = 1.0
# How long one wait for an assignment lasts before Python gets a chance to handle signals.
_WAIT_SLICE_SECONDS = 0.5


class MatchmakerMembership:
    """One provider's membership: joined and assigned on construction."""

    def __init__(self, name, options):
        benchmarks = options["benchmarks"] or {}
        self._session = _C.ProviderSession(
            options["matchmaker"], token=options["matchmaker_token"], tls_ca=options["matchmaker_tls_ca"],
            name=name or "", advertise_host=options["advertise_host"], port=options["port"], work_dir=".",
            benchmark_ram_gb=float(benchmarks.get("ram", 0.0)),
            benchmark_bandwidth_mbps=float(benchmarks.get("bandwidth", 0.0)), join_timeout=options["join_timeout"])
        assignment = self._wait_for_assignment(options["join_timeout"])
        self.job = assignment["job"]
        self.node_name = assignment["node_name"]
        self.node_data = assignment["node_data"]
        self._stop = threading.Event()
        self._reporter = None

    def _wait_for_assignment(self, timeout):
        """Waits in short slices, so that Ctrl-C reaches Python while no job comes."""
        deadline = time.monotonic() + timeout if timeout > 0 else None
        while True:
            slice_seconds = _WAIT_SLICE_SECONDS if deadline is None else min(
                _WAIT_SLICE_SECONDS, max(0.01, deadline - time.monotonic()))
            try:
                return self._session.wait_for_assignment(slice_seconds, progress=lambda line: print(line, flush=True))
            except _C.TimeoutError:
                if deadline is not None and time.monotonic() >= deadline:
                    raise _C.TimeoutError(f"{self._session.name}: no job was assigned within {timeout:g} s "
                                          f"(join_timeout)") from None

    @property
    def provider_name(self):
        return self._session.name

    def report(self, figures, role, leaf=None):
        """Hands `figures()` (the C++ node's figures) with the samples/s since the last report and, on the leaf,
        the latest loss to the heartbeats, every second, from a thread of its own."""
        def loop():
            then, samples_then = time.monotonic(), 0.0
            while not self._stop.wait(_REPORT_SECONDS):
                values = figures()
                now, samples = time.monotonic(), float(values.get("samples", 0.0))
                shown = {"samples": samples, "throughput": (samples - samples_then) / max(now - then, 1e-9),
                         "backward_passes": float(values.get("backward_passes", 0.0)),
                         "epoch": float(values.get("epoch", 0.0))}
                then, samples_then = now, samples
                if leaf is not None and leaf.last_loss is not None:
                    shown["loss"] = float(leaf.last_loss)
                    shown["losses"] = float(leaf.losses_recorded)
                self._session.set_figures(shown, role)
        self._reporter = threading.Thread(target=loop, name="ravnest-matchmaker-report", daemon=True)
        self._reporter.start()

    def finish(self):
        """Training ended: the matchmaker marks this provider finished (best effort) and heartbeats stop."""
        self._stop.set()
        if self._reporter is not None:
            self._reporter.join()
        self._session.finish()
