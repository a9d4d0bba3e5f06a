"""The root's progress bar: drawn on a terminal, absent when output goes to a pipe or a file.

The CNN example as a one-node cluster (root and leaf at once, so the last loss is known), one short epoch, run
once under a pseudo-terminal and once with pipes.
"""

import os
import pty
import re
import select
import subprocess

import pytest

from cnn_example import copy_example
from pipeline_harness import PYTHON

ENV = dict(os.environ, RAVNEST_EPOCHS="1", RAVNEST_VALIDATE="0", OMP_NUM_THREADS="1")
ENV.pop("RAVNEST_PROGRESS", None)


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cnn_progress")
    copy_example(folder, rams_gb=[1.0])
    return folder


def run_on_terminal(folder):
    """Runs the provider with stdout and stderr on a pseudo-terminal; returns (exit code, what it showed)."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen([PYTHON, "provider.py", "node_0"], cwd=folder, stdin=subprocess.DEVNULL,
                               stdout=terminal, stderr=terminal, env=ENV)
    os.close(terminal)
    shown = b""
    while True:
        ready, _, _ = select.select([controller], [], [], 120)
        if not ready:
            process.kill()
            break
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the provider closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(controller)
    return process.wait(timeout=60), shown.decode(errors="replace")


def test_a_terminal_shows_epoch_step_samples_per_second_loss_and_eta(example):
    code, shown = run_on_terminal(example)
    assert code == 0, shown
    assert "epoch 1/1" in shown, shown
    # tqdm's "<done>/<total> [<elapsed><<remaining>, <rate>" : the step, the ETA and the speed.
    assert re.search(r"\d+/\d+ \[\d\d:\d\d<\d\d:\d\d, *[\d.]+(step/s|s/step)", shown), shown
    assert re.search(r"samples/s=\d+", shown) and re.search(r"loss=[\d.e+-]+", shown), shown


def test_pipes_get_no_progress_bar(example):
    done = subprocess.run([PYTHON, "provider.py", "node_0"], cwd=example, capture_output=True, text=True,
                          timeout=180, env=ENV)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "throughput:" in done.stdout  # the run itself printed as usual
    for output in (done.stdout, done.stderr):
        assert "\r" not in output and "epoch 1/1" not in output and "samples/s=" not in output, output
