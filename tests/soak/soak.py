"""Soak test: the CNN example trains on three providers for `--epochs` epochs or `--seconds`, whichever comes
first, and must not grow or pile up work:

- the resident memory (RSS) of each provider, sampled every second, grows by less than `--max-growth`
  (default 5%) between the 20% mark of the training time (from the first training loss on) and its end;
- in every metrics record of every provider, the queued messages of each inbox stay within the inbox's
  capacity and the stashed weight versions within the micro-batches allowed in flight.

    /usr/bin/python3 tests/soak/soak.py                 # the full run: 200 epochs or 10 minutes
    /usr/bin/python3 tests/soak/soak.py --seconds 60    # the short variant the default suite runs

When the time is up first, the root gets SIGTERM: that is the clean shutdown of a pipeline (checkpoint, exit
128 + 15 on the root; the others stop because the root did), and it is checked as such. Prints the figures;
exits 1 when a check fails.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from cnn_example import copy_example  # noqa: E402
from pipeline_harness import PYTHON  # noqa: E402

NODES = ("node_0", "node_1", "node_2")
INBOX_CAPACITY = 16  # TransportOptions::inboxCapacity, the providers' default
MAX_IN_FLIGHT = 3  # the cluster's length, the root's default in-flight limit
WARM_UP_SHARE = 0.2


def rss_kib(pid):
    """Resident set size of `pid` in KiB, or None once it exited."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def run(folder, epochs, seconds):
    """Runs the providers; returns ({name: exit code}, {name: [(elapsed, rss_kib)]}, elapsed, when training
    started (the first loss), stopped_by_time)."""
    environment = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", RAVNEST_EPOCHS=str(epochs))
    processes = {}
    for name in reversed(NODES):
        log = open(folder / f"{name}.log", "w")
        processes[name] = subprocess.Popen([PYTHON, "provider.py", name], cwd=folder, stdout=log,
                                           stderr=subprocess.STDOUT, env=environment)
    samples = {name: [] for name in NODES}
    started = time.monotonic()
    stopped_by_time = False
    training_started = None
    while any(process.poll() is None for process in processes.values()):
        elapsed = time.monotonic() - started
        if training_started is None and (folder / "losses.txt").exists():
            training_started = elapsed
        if elapsed > seconds and not stopped_by_time:
            stopped_by_time = True
            processes["node_0"].send_signal(signal.SIGTERM)
        if elapsed > seconds + 60:
            for process in processes.values():
                process.kill()
        for name, process in processes.items():
            rss = rss_kib(process.pid) if process.poll() is None else None
            if rss is not None:
                samples[name].append((elapsed, rss))
        time.sleep(1.0)
    codes = {name: process.wait() for name, process in processes.items()}
    return codes, samples, time.monotonic() - started, training_started, stopped_by_time


def exited_as_expected(name, code, stopped_by_time):
    """All 0 after the last epoch; after the time limit the root exits 128 + SIGTERM and the others fail
    because the root stopped (a positive code: not killed by a signal)."""
    if not stopped_by_time:
        return code == 0
    return code == 128 + signal.SIGTERM if name == "node_0" else code > 0


def rss_growth(samples, start, end):
    """(RSS at the 20% mark, RSS at the end, growth) of one provider that trained from `start` to `end` seconds;
    the end is its last sample before the run's shutdown began."""
    training = [(t, rss) for t, rss in samples if t <= end]
    mark = next(rss for t, rss in training if t >= start + WARM_UP_SHARE * (end - start))
    last = training[-1][1]
    return mark, last, (last - mark) / mark


def bound_violations(folder):
    """Metrics records whose queues or weight stash exceed their bounds, as readable strings."""
    violations = []
    for name in NODES:
        path = folder / "node_data" / "metrics" / f"{name}.jsonl"
        for line in path.read_text().splitlines():
            record = json.loads(line)
            for key, value in record.items():
                if key.startswith("queued_") and value > INBOX_CAPACITY:
                    violations.append(f"{name} at {record['elapsed_s']} s: {key} = {value}")
            if record.get("stashed_versions", 0) > MAX_IN_FLIGHT + 1:
                violations.append(f"{name} at {record['elapsed_s']} s: stashed_versions = {record['stashed_versions']}")
    return violations


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--max-growth", type=float, default=0.05, help="largest RSS growth allowed after warm-up")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ravnest-soak-") as temporary:
        folder = Path(temporary)
        copy_example(folder)
        codes, samples, elapsed, training_started, stopped_by_time = run(folder, args.epochs, args.seconds)
        accuracies = folder / "val_accuracies.txt"
        epochs_done = len(accuracies.read_text().split()) if accuracies.exists() else 0
        failures = [f"{name} exited with {code}:\n" + (folder / f"{name}.log").read_text()[-2000:]
                    for name, code in codes.items() if not exited_as_expected(name, code, stopped_by_time)]
        end = min(elapsed, args.seconds)
        print(f"soak: {epochs_done} epochs in {elapsed:.0f} s, training from {training_started:.0f} s "
              f"({'time limit' if stopped_by_time else 'all epochs'})")
        for name in NODES:
            mark, last, growth = rss_growth(samples[name], training_started, end)
            peak = max(rss for _, rss in samples[name])
            print(f"soak: {name}: RSS {mark / 1024:.1f} MiB at the 20% mark, {last / 1024:.1f} MiB at the end "
                  f"({growth:+.2%}), peak {peak / 1024:.1f} MiB")
            if growth >= args.max_growth:
                failures.append(f"{name}: RSS grew {growth:.2%} after warm-up (limit {args.max_growth:.0%})")
        violations = bound_violations(folder)
        records = sum(len((folder / "node_data" / "metrics" / f"{n}.jsonl").read_text().splitlines()) for n in NODES)
        print(f"soak: {records} metrics records checked, {len(violations)} over their bounds")
        failures += violations[:10]
    for failure in failures:
        print(f"soak: FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
