"""The short variants of the soak scripts in tests/soak/ (the full runs are on demand: see docs/performance.md):
a 60 s soak of the CNN on three providers with the same checks as the full one (flat RSS after warm-up, queues
and weight stash within bounds; the time limit ends it with SIGTERM on the root, a clean shutdown), and three
back-to-back one-epoch launches that must all exit 0."""

import subprocess
from pathlib import Path

from pipeline_harness import PYTHON

SOAK = Path(__file__).resolve().parents[1] / "soak"


def test_sixty_second_soak_keeps_memory_flat_and_queues_bounded():
    result = subprocess.run([PYTHON, str(SOAK / "soak.py"), "--seconds", "60", "--epochs", "100000"],
                            capture_output=True, text=True, timeout=300)
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr[-5000:]
    assert "time limit" in result.stdout and "0 over their bounds" in result.stdout


def test_three_back_to_back_launches_all_exit_0():
    result = subprocess.run([PYTHON, str(SOAK / "launches.py"), "--count", "3"], capture_output=True, text=True,
                            timeout=600)
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr[-5000:]
    assert "3 of 3 exited 0" in result.stdout
