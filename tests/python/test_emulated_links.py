"""scripts/emulate_links.sh: three providers in network namespaces behind shaped, delayed links.

The tiny mode (one profile, the CNN, one epoch) must print a figure, and neither it nor a run stopped by
Ctrl-C may leave a network namespace behind. Creating namespaces needs root, so these tests are skipped only
for a user who is not root.
"""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "emulate_links.sh"
NAMESPACE_PREFIX = "ravnest-links-"
INTERFACE_PREFIX = "rvl"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="emulate_links.sh creates network namespaces: needs root")


def namespaces_left(pid=None):
    prefix = NAMESPACE_PREFIX + (f"{pid}-" if pid else "")
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in listing.splitlines() if line.startswith(prefix)]


def host_interfaces_left():
    listing = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    names = [line.split(": ")[1].split("@")[0] for line in listing.splitlines()]
    return [name for name in names if name.startswith(INTERFACE_PREFIX)]


def test_tiny_run_prints_a_figure_and_removes_its_namespaces():
    result = subprocess.run([str(SCRIPT), "--tiny"], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    row = re.search(r"^\| cnn \| none \| ([\d.]+)", result.stdout, re.M)
    assert row, f"no CNN figure in the table:\n{result.stdout}"
    assert float(row.group(1)) > 0
    assert namespaces_left() == []
    assert host_interfaces_left() == []


def test_ctrl_c_while_training_removes_the_namespaces():
    process = subprocess.Popen([str(SCRIPT), "--tiny"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while len(namespaces_left(process.pid)) < 4 and time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        time.sleep(0.1)
    assert len(namespaces_left(process.pid)) == 4, "the script never set up its four namespaces"
    time.sleep(3)  # the providers are starting inside the namespaces
    os.killpg(process.pid, signal.SIGINT)
    output = process.communicate(timeout=30)[0]
    assert process.returncode == 130, output
    assert namespaces_left(process.pid) == []
    assert host_interfaces_left() == []
