"""An example (the digits CNN unless told otherwise) in a temporary folder: its scripts, node_data/ for free
ports, and the launcher."""

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from pipeline_harness import PYTHON, free_ports

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cnn"


def copy_example(folder, rams_gb=None, example=EXAMPLE):
    """Copies the Python scripts of `example` (a folder of examples/) into `folder` and runs its cluster
    formation. `rams_gb` replaces the providers of the example's node_configs.json with one provider per value,
    offering that much memory."""
    for script in example.glob("*.py"):
        shutil.copy(script, folder / script.name)
    configs = json.loads((example / "node_data" / "node_configs.json").read_text())
    if rams_gb is not None:
        configs = {str(i): {"IP": "", "benchmarks": {"ram": ram, "bandwidth": 100}} for i, ram in enumerate(rams_gb)}
    for entry, port in zip(configs.values(), free_ports(len(configs))):
        entry["IP"] = f"127.0.0.1:{port}"
    (folder / "node_data").mkdir()
    (folder / "node_data" / "node_configs.json").write_text(json.dumps(configs))
    subprocess.run([PYTHON, "cluster_formation.py"], cwd=folder, check=True, capture_output=True)


def launch(folder, *args, env=None):
    """Runs `python -m ravnest.launch args...` in `folder`; returns (CompletedProcess, seconds)."""
    started = time.monotonic()
    result = subprocess.run([PYTHON, "-m", "ravnest.launch", *args], cwd=folder, capture_output=True, text=True,
                            timeout=300, env=dict(os.environ, OMP_NUM_THREADS="1", **(env or {})))
    return result, time.monotonic() - started
