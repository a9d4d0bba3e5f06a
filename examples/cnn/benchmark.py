"""Throughput of the digits CNN: three local providers against one plain PyTorch process, in the same run.

    python benchmark.py [--repeats 3]   (after cluster_formation.py; RAVNEST_EPOCHS overrides the 5 epochs)

Both train 5 epochs with batch 64, Adam and MSE, validation off. Plain PyTorch runs in a fresh process under
glibc's default malloc settings and under the ones every ravnest process applies to itself (tests/benchmarks/baselines.py);
the faster counts. A run takes about a second, so the machine's noise weighs on each figure: the two sides
alternate `--repeats` times, and the ratio of each pair and their median are printed, with the peak RSS of
every provider in the last run and how much of it came after the provider had imported torch and ravnest and
loaded the data (ravnest's own share).
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

from data import digits_loaders
from models import CNN
from ravnest import set_seed

# The benchmarks' shared helper lives with them, outside the shipped package.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "benchmarks"))
from baselines import ALLOCATOR_SETTINGS  # noqa: E402

EPOCHS = int(os.environ.get("RAVNEST_EPOCHS", "5"))


def single_process_samples_per_second():
    set_seed(42)
    train_loader, _ = digits_loaders(64)
    model = CNN()
    optimizer = torch.optim.Adam(model.parameters())
    started = time.perf_counter()
    for _ in range(EPOCHS):
        for images, labels in train_loader:
            optimizer.zero_grad()
            F.mse_loss(model(images), labels).backward()
            optimizer.step()
    return EPOCHS * len(train_loader.dataset) / (time.perf_counter() - started)


def single_process_figures():
    """{allocator settings: samples/s} of plain training, each in a fresh process."""
    figures = {}
    for allocator, environment in ALLOCATOR_SETTINGS.items():
        code = "import benchmark; print(benchmark.single_process_samples_per_second())"
        result = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, **environment), text=True,
                                capture_output=True, check=True)
        figures[allocator] = float(result.stdout.split()[-1])
    return figures


def pipeline_figures():
    env = dict(os.environ, RAVNEST_EPOCHS=str(EPOCHS), RAVNEST_VALIDATE="0")
    result = subprocess.run([sys.executable, "-m", "ravnest.launch", "provider.py"], env=env, text=True,
                            capture_output=True)
    if result.returncode != 0:
        sys.exit(f"the providers failed:\n{result.stdout[-4000:]}{result.stderr[-4000:]}")
    throughput = float(re.search(r"throughput: (\d+) samples/s", result.stdout).group(1))
    rss = {node: (peak, above) for node, peak, above in
           re.findall(r"\[(node_\d+)\] peak RSS: (\d+) MiB \((-?\d+) MiB above", result.stdout)}
    return throughput, rss


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    ratios = []
    for _ in range(parser.parse_args().repeats):
        pipeline, rss = pipeline_figures()
        singles = single_process_figures()
        best = max(singles, key=singles.get)
        ratios.append(pipeline / singles[best])
        print(f"3 providers:            {pipeline:8.0f} samples/s")
        for allocator, single in singles.items():
            print(f"single-process PyTorch: {single:8.0f} samples/s ({allocator})")
        print(f"ratio:                  {ratios[-1]:8.2f}x the faster single process")
    print(f"median ratio:           {statistics.median(ratios):8.2f}x ({len(ratios)} pairs: "
          f"{', '.join(f'{ratio:.2f}' for ratio in ratios)})")
    for node, (peak, above) in sorted(rss.items()):
        print(f"peak RSS {node}:        {peak:>8} MiB ({above} MiB above the process before its node started)")
