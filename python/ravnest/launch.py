"""Starts every provider of a node_data/ folder on this machine and gathers their logs.

    python -m ravnest.launch [--node-data node_data] [--log-dir logs] [--plot] provider.py [script arguments...]

Each provider runs `python provider.py node_<id> [script arguments...]` with RAVNEST_NODE=node_<id> in its
environment, in the current folder. Every output line is printed with a `[node_<id>]` prefix and kept in
<log-dir>/node_<id>.log. When a provider fails, the others are stopped and the launcher exits with its code;
it exits 0 once every provider exited 0. With --plot it then draws the providers' metrics into
<node-data>/metrics/training.png (see python -m ravnest.plot), also after a failure.

The providers share this machine's cores: each gets OMP_NUM_THREADS = cores // providers (at least 1), the
thread count of its torch operations and of OpenBLAS, unless OMP_NUM_THREADS is set already. Without it,
every provider would size its thread pools for the whole machine, and on a machine with fewer cores than
threads their spinning workers take the cores the other providers need.
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

# How often the launcher looks at its providers, and how long a stopped provider gets before it is killed.
_POLL_SECONDS = 0.2
_TERMINATE_GRACE_SECONDS = 5.0


def node_names(node_data):
    """Node names of every node JSON, stems and leaves before roots (they must be listening first)."""
    documents = [json.loads(path.read_text()) for path in Path(node_data, "nodes").glob("node_*.json")]
    if not documents:
        raise SystemExit(f"launch: no node JSON in {node_data}/nodes: run cluster formation first")
    documents.sort(key=lambda document: (document.get("is_root", False), document["node_id"]))
    return [f"node_{document['node_id']}" for document in documents]


def threads_per_provider(providers):
    """The OMP_NUM_THREADS each of `providers` local providers gets: an equal share of the usable cores."""
    return max(1, len(os.sched_getaffinity(0)) // providers)


def provider_environment(name, providers):
    """The environment provider `name` runs in, one of `providers` started together."""
    environment = dict(os.environ, RAVNEST_NODE=name, PYTHONUNBUFFERED="1")
    environment.setdefault("OMP_NUM_THREADS", str(threads_per_provider(providers)))
    return environment


def _relay(name, stream, log_path, lock):
    with open(log_path, "w") as log:
        for line in stream:
            log.write(line)
            log.flush()
            with lock:
                sys.stdout.write(f"[{name}] {line}")
                sys.stdout.flush()


def _stop(processes):
    for process in processes.values():
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + _TERMINATE_GRACE_SECONDS
    for process in processes.values():
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def launch(script, script_args=(), node_data="node_data", log_dir="logs"):
    """Runs one provider per node JSON and returns 0, or the exit code of the first provider that failed."""
    Path(log_dir).mkdir(parents=True, exist_ok=True)
    lock = threading.Lock()
    processes, relays = {}, []
    names = node_names(node_data)
    for name in names:
        process = subprocess.Popen([sys.executable, script, name, *script_args], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, env=provider_environment(name, len(names)))
        processes[name] = process
        relay = threading.Thread(target=_relay, args=(name, process.stdout, Path(log_dir, f"{name}.log"), lock))
        relay.start()
        relays.append(relay)
    status = 0
    try:
        while any(process.poll() is None for process in processes.values()):
            failed = [(name, p.returncode) for name, p in processes.items() if p.returncode not in (None, 0)]
            if failed:
                name, status = failed[0]
                print(f"launch: {name} exited with {status}; stopping the other providers", file=sys.stderr)
                break
            time.sleep(_POLL_SECONDS)
    except KeyboardInterrupt:
        status = 130
    _stop(processes)
    for relay in relays:
        relay.join()
    if status == 0:
        status = next((p.returncode for p in processes.values() if p.returncode != 0), 0)
    return status


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m ravnest.launch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--node-data", default="node_data", help="the folder clusterize wrote")
    parser.add_argument("--log-dir", default="logs", help="where each provider's log is kept")
    parser.add_argument("--plot", action="store_true",
                        help="afterwards, plot the metrics to <node-data>/metrics/training.png")
    parser.add_argument("script", help="the provider script every node runs")
    parser.add_argument("script_args", nargs=argparse.REMAINDER, help="passed on after the node name")
    args = parser.parse_args(argv)
    status = launch(args.script, args.script_args, args.node_data, args.log_dir)
    if args.plot:
        from ravnest.plot import plot_folder

        try:
            print(f"launch: plotted {plot_folder(args.node_data)}")
        except SystemExit as reason:  # no metrics: say why, keep the providers' exit status
            print(reason, file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
