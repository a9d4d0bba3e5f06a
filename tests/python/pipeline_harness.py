"""Runs provider processes on this machine: free ports, node_data/ from clusterize, logs, exit codes."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from ravnest.clusterize import clusterize
from ravnest.clusterize.model_split import analyse_model
from ravnest.utils import set_seed

PROVIDER = Path(__file__).resolve().parent / "pipeline_provider.py"
PYTHON = "/usr/bin/python3"


def free_ports(count):
    """Ports the kernel just handed out; closed again, so a provider can bind them right away."""
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def write_node_data(folder, model, args, kwargs, nodes, **options):
    """One cluster of `nodes` stages: together the nodes hold 1.8 times the model's training memory, too
    little for a second cluster. `options` go to clusterize."""
    size_gb = analyse_model(model, args, kwargs).size_bytes / 1024 ** 3
    ram = size_gb * 1.8 / nodes
    configs = {str(i): {"IP": f"127.0.0.1:{port}", "benchmarks": {"ram": ram, "bandwidth": 100}}
               for i, port in enumerate(free_ports(nodes))}
    (folder / "node_data").mkdir(parents=True, exist_ok=True)
    (folder / "node_data" / "node_configs.json").write_text(json.dumps(configs))
    previous = os.getcwd()
    os.chdir(folder)
    try:
        set_seed(42)
        clusterize(model=model, example_args=args, example_kwargs=kwargs, **options)
    finally:
        os.chdir(previous)
    documents = [json.loads(p.read_text()) for p in (folder / "node_data" / "nodes").glob("node_*.json")]
    assert len(documents) == nodes and all(d["cluster_length"] == nodes for d in documents), documents


def run_providers(folder, nodes, command, timeout=120):
    """Starts `command + [node_<i>]`-style providers (node name substituted for '{node}'), waits for all.
    Returns ({node: exit code}, {node: log text}, seconds)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    started = time.monotonic()
    processes = {}
    for i in reversed(range(nodes)):
        name = f"node_{i}"
        log = open(folder / f"{name}.log", "w")
        args = [part.replace("{node}", name) for part in command]
        processes[name] = (subprocess.Popen(args, cwd=folder, stdout=log, stderr=subprocess.STDOUT, env=env), log)
    codes = {}
    for name, (process, log) in processes.items():
        try:
            codes[name] = process.wait(timeout=max(1, timeout - (time.monotonic() - started)))
        except subprocess.TimeoutExpired:
            process.kill()
            codes[name] = "timeout"
        log.close()
    logs = {name: (folder / f"{name}.log").read_text() for name in processes}
    return codes, logs, time.monotonic() - started


def provider_command(spec):
    return [PYTHON, str(PROVIDER), "{node}", json.dumps(spec)]
