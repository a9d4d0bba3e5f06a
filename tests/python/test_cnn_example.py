"""The CNN example as users run it: cluster formation, then three providers through ravnest.launch."""

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from pipeline_harness import PYTHON, free_ports, provider_command

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cnn"


def copy_example(folder):
    for name in ("cluster_formation.py", "data.py", "models.py", "provider.py"):
        shutil.copy(EXAMPLE / name, folder / name)
    configs = json.loads((EXAMPLE / "node_data" / "node_configs.json").read_text())
    for entry, port in zip(configs.values(), free_ports(len(configs))):
        entry["IP"] = f"127.0.0.1:{port}"
    (folder / "node_data").mkdir()
    (folder / "node_data" / "node_configs.json").write_text(json.dumps(configs))
    subprocess.run([PYTHON, "cluster_formation.py"], cwd=folder, check=True, capture_output=True)


def launch(folder, *args, env=None):
    started = time.monotonic()
    result = subprocess.run([PYTHON, "-m", "ravnest.launch", *args], cwd=folder, capture_output=True, text=True,
                            timeout=300, env=dict(os.environ, OMP_NUM_THREADS="1", **(env or {})))
    return result, time.monotonic() - started


def test_cnn_on_three_providers_reaches_94_percent_in_20_epochs(tmp_path):
    copy_example(tmp_path)
    result, _ = launch(tmp_path, "provider.py", env={"RAVNEST_EPOCHS": "20"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    accuracies = [float(line) for line in (tmp_path / "val_accuracies.txt").read_text().split()]
    assert len(accuracies) == 20
    assert accuracies[-1] >= 0.94
    for node in ("node_0", "node_1", "node_2"):
        assert f"[{node}] peak RSS" in result.stdout
        assert (tmp_path / "logs" / f"{node}.log").exists()


def test_launcher_stops_everyone_and_fails_when_a_provider_fails(tmp_path):
    copy_example(tmp_path)
    spec = {"model": "cnn", "optimizer": "sgd", "update_frequency": 1, "batches": 40, "fail_at": 3}
    # The example's node_data with the test provider: its CNN is the example's, so the stages fit.
    result, seconds = launch(tmp_path, *provider_command(spec)[1:2], *provider_command(spec)[3:])
    assert result.returncode != 0
    assert "criterion failed on purpose" in result.stdout
    assert seconds < 60
