"""scripts/demo.sh, the README's first command, runs the main job and prints the accuracy as a percentage (as
the original wrote it), then the transport figures."""

import os
import re
import subprocess
from pathlib import Path

DEMO = Path(__file__).resolve().parents[2] / "scripts" / "demo.sh"


def test_the_demo_trains_and_prints_the_accuracy_in_percent():
    result = subprocess.run(["bash", str(DEMO)], capture_output=True, text=True, timeout=600,
                            env=dict(os.environ, RAVNEST_EPOCHS="2", OMP_NUM_THREADS="1"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    found = re.search(r"^final validation accuracy: (\d+\.\d+)%$", result.stdout, re.M)
    assert found, result.stdout[-3000:]
    print(found.group(0))
    assert 50 <= float(found.group(1)) <= 100  # two epochs reach about 90%
    assert "ratio ravnest/tcp" in result.stdout


def test_the_matchmaker_demo_trains_the_same_job_through_a_matchmaker():
    demo = DEMO.parent / "demo_matchmaker.sh"
    result = subprocess.run(["bash", str(demo)], capture_output=True, text=True, timeout=600,
                            env=dict(os.environ, RAVNEST_EPOCHS="2", OMP_NUM_THREADS="1"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "committed; 1 cluster(s)" in result.stdout, result.stdout[-3000:]
    found = re.search(r"^final validation accuracy: (\d+\.\d+)%$", result.stdout, re.M)
    assert found, result.stdout[-3000:]
    assert 50 <= float(found.group(1)) <= 100
