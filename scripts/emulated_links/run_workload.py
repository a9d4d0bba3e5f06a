"""One training run across the emulated links: three providers, each in its own network namespace.

    run_workload.py --model cnn|resnet18 --compression none|fp16|int8-blockwise --namespaces NS0 NS1 NS2 --hosts IP0 IP1 IP2

Writes node_data/ for the three namespace addresses into a temporary folder, starts every provider there with
`ip netns exec` (leaf first), and prints the root's figure as `samples/s: <value>`. The CNN is the digits
example (examples/cnn/provider.py, one epoch of 23 batches of 64, validation off); ResNet-18 is the provider of
tests/benchmarks/resnet18_pipeline_benchmark.py (batch 32, a warm-up epoch then a timed one of --batches
batches). Pipeline traffic (activations and gradients) travels with the codec `Node(compression=...)` names.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
PYTHON = "/usr/bin/python3"
PORT = 8080
CNN_EXAMPLE = REPO / "examples" / "cnn"
RESNET18_BENCHMARK = REPO / "tests" / "benchmarks" / "resnet18_pipeline_benchmark.py"
sys.path[:0] = [str(CNN_EXAMPLE), str(RESNET18_BENCHMARK.parent)]

import resnet18_pipeline_benchmark as resnet18  # noqa: E402  (found through the path set above)
from models import CNN  # noqa: E402  (examples/cnn/models.py)
from ravnest import clusterize, set_seed  # noqa: E402

CNN_BATCH = 64
# Root output lines that carry the throughput: examples/cnn/provider.py and the ResNet-18 benchmark's provider.
THROUGHPUT_PATTERNS = [r"throughput: ([\d.]+) samples/s", r"samples/s: ([\d.]+)"]


def write_node_data(folder, hosts, model, example_input):
    """node_data/ for one cluster of three stages whose nodes listen on the namespace addresses."""
    configs = {str(i): {"IP": f"{host}:{PORT}", "benchmarks": {"ram": 1, "bandwidth": 100}}
               for i, host in enumerate(hosts)}
    (folder / "node_data").mkdir(parents=True)
    (folder / "node_data" / "node_configs.json").write_text(json.dumps(configs))
    previous = os.getcwd()
    os.chdir(folder)
    try:
        clusterize(model=model, example_args=(example_input,), n_clusters=1)
    finally:
        os.chdir(previous)


def cnn_commands(folder, hosts, args):
    set_seed(42)  # as examples/cnn/cluster_formation.py
    write_node_data(folder, hosts, CNN(), torch.rand(CNN_BATCH, 1, 8, 8))
    env = {"RAVNEST_EPOCHS": "1", "RAVNEST_VALIDATE": "0",
           "RAVNEST_COMPRESSION": args.compression}
    return [[PYTHON, str(CNN_EXAMPLE / "provider.py"), f"node_{i}"] for i in range(len(hosts))], env


def resnet18_commands(folder, hosts, args):
    write_node_data(folder, hosts, resnet18.build_model(), torch.randn(resnet18.BATCH, 3, 32, 32))
    spec = json.dumps({"batches": args.batches, "schedule": "1f1b", "recompute": False,
                       "compression": args.compression})
    return [[PYTHON, str(RESNET18_BENCHMARK), "--provider", f"node_{i}", spec] for i in range(len(hosts))], {}


WORKLOADS = {"cnn": cnn_commands, "resnet18": resnet18_commands}


def run_providers(folder, namespaces, commands, extra_env, timeout):
    """Runs every provider in its namespace; returns their outputs, or exits with their tails on failure."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", **extra_env)
    processes = [subprocess.Popen(["ip", "netns", "exec", namespace, *command], cwd=folder, env=env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                 for namespace, command in reversed(list(zip(namespaces, commands)))]
    try:
        outputs = [process.communicate(timeout=timeout)[0] for process in processes]
    except subprocess.TimeoutExpired:
        for process in processes:
            process.kill()
        sys.exit(f"the providers did not finish within {timeout} s: the links may be too slow for this run")
    if any(process.returncode != 0 for process in processes):
        sys.exit("a provider failed:\n" + "\n".join(output[-3000:] for output in outputs))
    return outputs


def throughput(outputs):
    for output in outputs:
        for pattern in THROUGHPUT_PATTERNS:
            found = re.search(pattern, output)
            if found:
                return float(found.group(1))
    sys.exit("no provider printed its throughput:\n" + "\n".join(output[-2000:] for output in outputs))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(WORKLOADS), required=True)
    parser.add_argument("--compression", choices=["none", "fp16", "int8-blockwise"], required=True)
    parser.add_argument("--namespaces", nargs=3, required=True)
    parser.add_argument("--hosts", nargs=3, required=True)
    parser.add_argument("--batches", type=int, default=15, help="ResNet-18: batches per epoch (two epochs run)")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ravnest_links_") as name:
        folder = Path(name)
        commands, env = WORKLOADS[args.model](folder, args.hosts, args)
        outputs = run_providers(folder, args.namespaces, commands, env, args.timeout)
    print(f"samples/s: {throughput(outputs):.2f}")


if __name__ == "__main__":
    main()
