"""Machine-readable metrics: every node appends JSON lines to <metrics dir>/<node>.jsonl.

Each line is one record: when (`time`, `elapsed_s`), who (`node`, `cluster`, `stage`), why (`event`), and
every figure the C++ node keeps (`forward_passes`, `backward_passes`, `samples`, `optimizer_steps`, `epoch`,
`stashed_versions`, `stashed_bytes`, `all_reduces`, `all_reduce_seconds`, ... and `peers`: bytes sent to and
received from each peer), plus the event's own fields:

- `start`: once, when the node is up;
- `progress`: every `interval` seconds, with `samples_per_s` over that interval;
- `train` (leaf): every optimizer step, with `step` (backward passes) and `loss`, as in losses.txt;
- `validation` (leaf): at the end of each validation pass, with `step` and `val_accuracy`;
- `epoch_end` (root): when an epoch's backward passes are done, with `epoch` (the one that ended);
- `end`: once, when the node closes, with `samples_per_s` over the whole run.

Records name figures and never remove them, so a new figure in the C++ node appears here without a change.
See docs/node_data.md ("metrics/") for the location and `python -m ravnest.plot` for plots.
"""

import json
import logging
import os
import threading
import time
from pathlib import Path

log = logging.getLogger("ravnest.metrics")

METRICS_DIR_ENV = "RAVNEST_METRICS_DIR"
METRICS_INTERVAL_ENV = "RAVNEST_METRICS_INTERVAL"
DEFAULT_INTERVAL_SECONDS = 5.0
METRICS_FOLDER = "metrics"
# Values of RAVNEST_METRICS_DIR or metrics_dir= that turn the files off.
_OFF = ("", "off", "none")


def metrics_path(node_name, node_data, metrics_dir=None):
    """Where `node_name` writes its metrics: metrics_dir, else $RAVNEST_METRICS_DIR, else
    <node_data>/metrics; None when that setting is '', 'off' or 'none'."""
    folder = metrics_dir if metrics_dir is not None else os.environ.get(METRICS_DIR_ENV)
    if folder is None:
        folder = Path(node_data) / METRICS_FOLDER
    if str(folder).strip().lower() in _OFF:
        return None
    return Path(folder) / f"{node_name}.jsonl"


class MetricsLog:
    """Writes one node's records. `figures()` returns the C++ node's figures (a dict, {} once it closed).
    `interval`: seconds between progress records; None takes $RAVNEST_METRICS_INTERVAL, else 5.
    Thread-safe: the compute thread (leaf hooks), the user's thread and the periodic writer all record."""

    def __init__(self, path, identity, figures, interval=None):
        if interval is None:
            interval = float(os.environ.get(METRICS_INTERVAL_ENV, DEFAULT_INTERVAL_SECONDS))
        if not interval > 0:
            raise ValueError(f"metrics_interval must be positive, got {interval}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "w")
        self._identity = identity
        self._figures = figures
        self._lock = threading.Lock()
        self._started = time.time()
        self._last_tick = (self._started, 0.0)  # time and samples at the previous progress record
        self._closed = threading.Event()
        self.record("start")
        self._ticker = threading.Thread(target=self._tick_every, args=(interval,), name="ravnest-metrics",
                                        daemon=True)
        self._ticker.start()

    def record(self, event, **fields):
        """Appends one record; does nothing after close()."""
        self._write(event, fields, self._figures())

    def close(self, final_figures=None):
        """Writes the `end` record (with `final_figures` when the node is already gone) and stops."""
        if self._closed.is_set():
            return
        self._closed.set()
        figures = final_figures if final_figures is not None else self._figures()
        elapsed = time.time() - self._started
        self._write("end", {"samples_per_s": _rate(figures.get("samples", 0.0), elapsed)}, figures, closing=True)
        self._ticker.join()

    def _tick_every(self, interval):
        while not self._closed.wait(interval):
            figures = self._figures()
            now, samples = time.time(), figures.get("samples", 0.0)
            then, samples_then = self._last_tick
            self._last_tick = (now, samples)
            self._write("progress", {"samples_per_s": _rate(samples - samples_then, now - then)}, figures)

    def _write(self, event, fields, figures, closing=False):
        now = time.time()
        record = {"time": round(now, 3), "elapsed_s": round(now - self._started, 3), "event": event,
                  **self._identity, **figures, **fields}
        line = json.dumps(record, default=float) + "\n"
        with self._lock:
            if self._file.closed:
                return
            self._file.write(line)
            self._file.flush()
            if closing:
                self._file.close()


def _rate(amount, seconds):
    return round(amount / seconds, 3) if seconds > 0 else 0.0


def read_metrics(path):
    """The records of one metrics file, in order. A last line cut short by a crash is skipped."""
    records = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            log.warning("%s:%d is not a JSON record; skipped", path, number)
    return records
