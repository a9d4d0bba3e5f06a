"""ResNet-18 on 32x32 inputs, batch 32: three local providers against single-process PyTorch, in one run.

    /usr/bin/python3 tests/benchmarks/resnet18_pipeline_benchmark.py [--batches 24] [--schedules 1f1b zb]
                                                                     [--recompute 0] [--repeats 1]
                                                                     [--rams 1,1,1] [--balance memory]
                                                                     [--cores 0,1:0,1:0,1]

Single-process training runs with 1 and with 2 torch threads, each under glibc's default malloc settings and
under the ones every ravnest process applies to itself (tests/benchmarks/baselines.py); the fastest counts, and it is run
`--repeats` times in all, its best kept, as the pipeline's is. Then, for each schedule,
three provider processes (one torch thread each) train the same model on the same synthetic batches with
SGD; one warm-up epoch is excluded from the timing. Prints samples/s, the ratio to single-process, and every
stage's busy times, bubble fraction (idle / wall) and its process's CPU seconds (the whole run: start-up and
warm-up epoch included). `--repeats` cuts the model that many times, trains every schedule on each cut in
turn, and keeps each schedule's best run. `--rams` gives the three providers' RAM (GB) in
node_configs.json, and `--balance` clusterize's rule for where to cut the model (`memory`: each stage's share
follows its node's RAM; `compute`: even measured training times within each node's RAM);
`--cores` pins each provider to CPUs (`taskset -c`), one list per provider separated by ':'.
"""

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision

from baselines import ALLOCATOR_SETTINGS

PYTHON = "/usr/bin/python3"
BATCH = 32
NODES = 3


def build_model():
    torch.manual_seed(0)
    return torchvision.models.resnet18(num_classes=10)


def synthetic_batches(count):
    generator = torch.Generator().manual_seed(1)
    return [(torch.randn(BATCH, 3, 32, 32, generator=generator), torch.randint(0, 10, (BATCH,), generator=generator))
            for _ in range(count)]


def loss_fn(outputs, targets):
    return F.cross_entropy(outputs, targets[1])


# Single process -------------------------------------------------------------------------------------------
def single_process(threads, batches, allocator_environment):
    """Samples/s of plain training (the second of two epochs), in a fresh process with `threads` threads."""
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import resnet18_pipeline_benchmark as b;"
            f" print(b.single_process_here({threads}, {batches}))")
    result = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, check=True,
                            env=dict(os.environ, **allocator_environment))
    return float(result.stdout.split()[-1])


def single_process_here(threads, batches):
    torch.set_num_threads(threads)
    model = build_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    data = synthetic_batches(batches)
    for epoch in range(2):
        started = time.perf_counter()
        for images, labels in data:
            optimizer.zero_grad()
            F.cross_entropy(model(images), labels).backward()
            optimizer.step()
    return len(data) * BATCH / (time.perf_counter() - started)


# Pipeline -------------------------------------------------------------------------------------------------
def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def write_node_data(folder, rams=(1,) * NODES, balance="memory"):
    from ravnest.clusterize import clusterize
    configs = {str(i): {"IP": f"127.0.0.1:{port}", "benchmarks": {"ram": ram, "bandwidth": 100}}
               for i, (port, ram) in enumerate(zip(free_ports(NODES), rams))}
    (folder / "node_data").mkdir(parents=True)
    (folder / "node_data" / "node_configs.json").write_text(json.dumps(configs))
    previous = os.getcwd()
    os.chdir(folder)
    try:
        clusterize(model=build_model(), example_args=(torch.randn(BATCH, 3, 32, 32),), n_clusters=1,
                   balance=balance)
    finally:
        os.chdir(previous)


def provider(name, spec):
    """One provider process (run in the folder that holds node_data/)."""
    from ravnest import Node
    torch.set_num_threads(1)
    data = synthetic_batches(spec["batches"])
    node = Node(name=name, optimizer=torch.optim.SGD, optimizer_params={"lr": 0.01, "momentum": 0.9},
                criterion=loss_fn, labels=data * 2, schedule=spec["schedule"], recompute=spec["recompute"],
                compression=spec.get("compression", False), metrics_dir=".", metrics_interval=3600)
    if not node.is_root:
        node.serve()
        return
    for epoch in range(2):  # the first epoch warms up
        started = time.perf_counter()
        for images, _ in data:
            node.forward_compute(images)
        node.wait_for_backwards()
    seconds = time.perf_counter() - started
    node.shutdown()
    print(f"samples/s: {len(data) * BATCH / seconds:.2f}")


def print_cpu_seconds():
    """The process's CPU time (user + system, all threads), read by pipeline()."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"cpu seconds: {usage.ru_utime + usage.ru_stime:.2f}")


def stage_figures(folder):
    """The figures of each node's last metrics record."""
    figures = {}
    for path in sorted(folder.glob("node_*.jsonl")):
        lines = path.read_text().splitlines()
        figures[path.stem] = json.loads(lines[-1]) if lines else {}
    return figures


def stage_inputs(folder):
    """Each node's stage arguments (graph value names): where clusterize cut the model."""
    cuts = {}
    for path in sorted((folder / "node_data" / "nodes").glob("node_*.json")):
        stage_folder = folder / json.loads(path.read_text())["template_path"]
        cuts[path.stem] = [entry["name"] for entry in json.loads((stage_folder / "routing.json").read_text())["inputs"]]
    return cuts


def pipeline(folder, spec, cores=None, timeout=1200):
    """One training run of the providers in `folder` (which holds node_data/): (samples/s, per-node figures).
    Each node's figures get its process's CPU seconds."""
    for old in folder.glob("node_*.jsonl"):
        old.unlink()
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    pinned = [["taskset", "-c", cores[i]] if cores else [] for i in range(NODES)]
    processes = {f"node_{i}": subprocess.Popen([*pinned[i], PYTHON, __file__, "--provider", f"node_{i}", json.dumps(spec)],
                                               cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                               text=True)
                 for i in reversed(range(NODES))}
    outputs = {name: process.communicate(timeout=timeout)[0] for name, process in processes.items()}
    if any(process.returncode != 0 for process in processes.values()):
        sys.exit("a provider failed:\n" + "\n".join(output[-3000:] for output in outputs.values()))
    throughput = float(outputs["node_0"].split("samples/s:")[-1].split()[0])
    figures = stage_figures(folder)
    for name, output in outputs.items():
        figures.setdefault(name, {})["cpu_seconds"] = float(output.split("cpu seconds:")[-1].split()[0])
    return throughput, figures


def describe_stages(figures):
    lines = []
    for node, record in figures.items():
        lines.append(f"  {node}: F {record.get('forward_seconds', 0):6.2f} s  B {record.get('backward_seconds', 0):6.2f} s"
                     f"  W {record.get('weight_seconds', 0):6.2f} s  optimizer {record.get('optimizer_seconds', 0):5.2f} s"
                     f"  idle {record.get('idle_seconds', 0):6.2f} s  bubble {record.get('bubble_fraction', 0):.3f}"
                     f"  CPU {record['cpu_seconds']:6.2f} s")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=24)
    parser.add_argument("--schedules", nargs="+", default=["1f1b", "zb"])
    parser.add_argument("--recompute", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--rams", default="1,1,1", help="the providers' RAM in GB, comma-separated")
    parser.add_argument("--balance", default="memory", choices=("memory", "compute"),
                        help="clusterize's rule for where to cut the model")
    parser.add_argument("--cores", help="CPUs per provider for taskset -c, separated by ':' (e.g. 0:1:1)")
    args = parser.parse_args()
    rams = [float(ram) for ram in args.rams.split(",")]
    cores = args.cores.split(":") if args.cores else None
    if len(rams) != NODES or (cores and len(cores) != NODES):
        parser.error(f"--rams and --cores take one entry per provider ({NODES})")
    load = os.getloadavg()[0]
    singles = {(threads, allocator): single_process(threads, args.batches, environment)
               for threads in (1, 2) for allocator, environment in ALLOCATOR_SETTINGS.items()}
    best = max(singles, key=singles.get)
    # The baseline gets as many tries as each pipeline configuration: both sides keep their best.
    for _ in range(args.repeats - 1):
        singles[best] = max(singles[best], single_process(best[0], args.batches, ALLOCATOR_SETTINGS[best[1]]))
    print(f"load average at start: {load:.2f}")
    for (threads, allocator), value in singles.items():
        print(f"single process, {threads} torch thread(s), {allocator}: {value:7.2f} samples/s")
    runs = {schedule: [] for schedule in args.schedules}
    for _ in range(args.repeats):
        # Every schedule trains on the same cut, the schedules alternating: compute-balanced cuts depend on
        # timings and vary between clusterize runs, and the machine's load drifts.
        with tempfile.TemporaryDirectory(prefix="ravnest_resnet18_") as name:
            folder = Path(name)
            write_node_data(folder, rams, args.balance)
            print(f"  stage inputs: {stage_inputs(folder)}")
            for schedule in args.schedules:
                spec = {"batches": args.batches, "schedule": schedule, "recompute": bool(args.recompute)}
                runs[schedule].append(pipeline(folder, spec, cores))
                print(f"  {schedule}: {runs[schedule][-1][0]:7.2f} samples/s")
    results = {}
    for schedule in args.schedules:
        results[schedule] = max(runs[schedule], key=lambda run: run[0])
        throughput, figures = results[schedule]
        placement = f", cores {args.cores}" if cores else ""
        print(f"3 providers (RAM {args.rams}, balance {args.balance}{placement}), schedule={schedule}, recompute={bool(args.recompute)}: "
              f"{throughput:7.2f} samples/s, "
              f"{throughput / singles[best]:.2f}x the fastest single process ({best[0]} threads, {best[1]})")
        print(describe_stages(figures))
    if "1f1b" in results and "zb" in results:
        print(f"zb / 1f1b: {results['zb'][0] / results['1f1b'][0]:.2f}x")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--provider":
        provider(sys.argv[2], json.loads(sys.argv[3]))
        print_cpu_seconds()
    else:
        main()
