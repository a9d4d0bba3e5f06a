"""examples/cpp: its C++ provider, built against the installed ravnest as a user builds it, trains as the leaf
of a cluster whose root and stem are Python providers, computes the losses a Python leaf computes, and saves a
stage that model_fusion merges with the Python stages."""

import importlib.util
import os
import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from cnn_example import copy_example, launch
from pipeline_harness import PYTHON
from ravnest import model_fusion

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cpp"
EPOCHS = 3
TRAIN_BATCHES = 23  # ceil(1437 / 64): sklearn's digits, 80% for training, batches of 64


@pytest.fixture(scope="module")
def cpp_provider(tmp_path_factory):
    """examples/cpp configured and built in a temporary folder against the installed package."""
    build = tmp_path_factory.mktemp("cpp_example_build")
    configure = ["cmake", "-S", str(EXAMPLE), "-B", str(build)]
    if shutil.which("ccache"):
        configure.append("-DCMAKE_CXX_COMPILER_LAUNCHER=ccache")
    if os.environ.get("RAVNEST_PREFIX"):
        configure.append(f"-DCMAKE_PREFIX_PATH={os.environ['RAVNEST_PREFIX']}")
    for command in (configure, ["cmake", "--build", str(build), "-j", str(os.cpu_count())]):
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return build / "cpp_provider"


def train(folder, *provider_args):
    """Cluster formation, then the example's three providers for EPOCHS synchronous epochs. Returns the
    launcher's output, the losses and the validation accuracies the leaf wrote."""
    folder.mkdir()
    copy_example(folder, example=EXAMPLE)
    result, _ = launch(folder, "provider.py", "--epochs", str(EPOCHS), "--synchronous", *provider_args)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    losses = [float(line) for line in (folder / "losses.txt").read_text().split()]
    accuracies = [float(line) for line in (folder / "val_accuracies.txt").read_text().split()]
    return result.stdout, losses, accuracies


def load_module(folder, name):
    spec = importlib.util.spec_from_file_location(f"cpp_example_{name}", folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fused_accuracy(folder):
    """Top-1 validation accuracy of the example's model loaded (strictly) from the merged saved stages."""
    model = load_module(folder, "models").MLP()
    model.load_state_dict(model_fusion(cluster_id=0, folder=folder / "trained"), strict=True)
    batches = load_module(folder, "data").load_batches(folder / "data" / "digits_batches.pt")
    inputs, labels = torch.cat(batches["val_inputs"]), torch.cat(batches["val_labels"])
    with torch.no_grad():
        return (model.eval()(inputs).argmax(-1) == labels).float().mean().item()


def test_cpp_leaf_with_python_root_and_stem_trains_like_a_python_leaf(tmp_path, cpp_provider):
    # Two clusters on their own ports at once: in synchronous mode most of their providers wait.
    with ThreadPoolExecutor(max_workers=2) as pool:
        python_run = pool.submit(train, tmp_path / "python_leaf")
        cpp_run = pool.submit(train, tmp_path / "cpp_leaf", "--cpp-leaf", str(cpp_provider))
        _, python_losses, python_accuracies = python_run.result()
        output, cpp_losses, cpp_accuracies = cpp_run.result()

    assert "[node_2] saved trained/cluster_0/submod_2.pt" in output  # printed by the C++ provider only
    assert len(cpp_losses) == len(python_losses) == EPOCHS * TRAIN_BATCHES
    # One micro-batch at a time fixes the order of every step: the C++ cross-entropy and Adam then follow
    # the Python ones step for step.
    assert cpp_losses == pytest.approx(python_losses, rel=1e-5)
    tenth = len(cpp_losses) // 10
    assert sum(cpp_losses[-tenth:]) < 0.25 * sum(cpp_losses[:tenth])
    # Validation runs while the epoch's last backward pass may still be on its way, so it may see weights
    # one update apart: close, not equal.
    assert len(cpp_accuracies) == EPOCHS
    assert cpp_accuracies == pytest.approx(python_accuracies, abs=3)  # percent
    assert cpp_accuracies[-1] >= 85
    assert fused_accuracy(tmp_path / "cpp_leaf") >= 0.85


def test_cpp_provider_explains_wrong_use(tmp_path, cpp_provider):
    copy_example(tmp_path, example=EXAMPLE)

    def run(*args):
        result = subprocess.run([str(cpp_provider), *args], cwd=tmp_path, capture_output=True, text=True,
                                timeout=60)
        return result.returncode, result.stderr

    code, error = run()
    assert code == 2 and "usage: cpp_provider node_<id>" in error
    code, error = run("node_2", "--epochs", "3")
    assert code == 2 and "unexpected argument '--epochs'" in error
    code, error = run("node_0")
    assert code == 2 and "node_0 is the root, which feeds the data: run provider.py node_0" in error
    code, error = run("node_2", "--data", "missing.pt")
    assert code == 1 and "missing.pt is missing: run cluster_formation.py first" in error
    code, error = run("node_7")
    assert code == 1 and "node_data/nodes/node_7.json" in error
    result = subprocess.run([PYTHON, "provider.py", "node_2", "--cpp-leaf", "missing/cpp_provider"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "missing/cpp_provider is not an executable" in result.stderr


def test_sigterm_on_the_cpp_leaf_stops_the_python_root_and_stem_with_checkpoints(tmp_path, cpp_provider):
    """As with a Python provider: the C++ leaf tells the cluster why it stops, exits 128 + SIGTERM, and the
    Python root and stem stop at once, each with a checkpoint of its stage."""
    copy_example(tmp_path, example=EXAMPLE)
    environment = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    processes = {}
    for name in ("node_2", "node_1", "node_0"):
        command = [PYTHON, "provider.py", name, "--epochs", "50", "--cpp-leaf", str(cpp_provider)]
        processes[name] = subprocess.Popen(command, cwd=tmp_path, stdout=open(tmp_path / f"{name}.log", "w"),
                                           stderr=subprocess.STDOUT, env=environment)
    losses = tmp_path / "losses.txt"
    deadline = time.monotonic() + 120
    while not losses.exists() or len(losses.read_text().split()) < TRAIN_BATCHES:
        assert time.monotonic() < deadline and processes["node_2"].poll() is None, "training did not get going"
        time.sleep(0.1)
    processes["node_2"].send_signal(signal.SIGTERM)
    codes = {}
    try:
        codes = {name: process.wait(timeout=30) for name, process in processes.items()}
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
    logs = {name: (tmp_path / f"{name}.log").read_text() for name in processes}
    assert codes["node_2"] == 128 + signal.SIGTERM, logs["node_2"][-3000:]
    assert "node_2: interrupted by SIGTERM" in logs["node_2"], logs["node_2"][-3000:]
    for name in ("node_0", "node_1"):
        assert codes[name] != 0, logs[name][-3000:]
        assert "node_2 stopped: interrupted by SIGTERM" in logs[name], logs[name][-3000:]
        assert "checkpoint written to" in logs[name], logs[name][-3000:]
