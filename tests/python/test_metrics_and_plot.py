"""Metrics files and plots of a real run: the CNN example, three providers started by the launcher with --plot.

Every node writes node_data/metrics/<node>.jsonl; the byte counters of each link agree between its two ends;
the launcher and `python -m ravnest.plot` write a PNG.
"""

import json
import subprocess

import pytest

from cnn_example import copy_example, launch
from pipeline_harness import PYTHON

NODES = ("node_0", "node_1", "node_2")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cnn_metrics")
    copy_example(folder)
    result, _ = launch(folder, "--plot", "provider.py",
                       env={"RAVNEST_EPOCHS": "2", "RAVNEST_METRICS_INTERVAL": "0.5"})
    assert result.returncode == 0, result.stdout + result.stderr
    records = {}
    for name in NODES:
        lines = (folder / "node_data" / "metrics" / f"{name}.jsonl").read_text().splitlines()
        records[name] = [json.loads(line) for line in lines]
    return folder, result, records


def events(records, event):
    return [record for record in records if record["event"] == event]


def test_every_node_writes_start_progress_and_end_records_with_its_figures(run):
    _, _, records = run
    for name, node_records in records.items():
        assert node_records[0]["event"] == "start" and node_records[-1]["event"] == "end", name
        end = node_records[-1]
        assert end["node"] == name and end["cluster"] == 0
        assert end["forward_passes"] > 0 and end["samples"] > 0 and end["samples_per_s"] > 0, end
        for field in ("backward_passes", "stashed_versions", "stashed_bytes", "optimizer_steps", "peers"):
            assert field in end, (name, field)
        progress = events(node_records, "progress")
        assert progress and all(record["samples_per_s"] >= 0 for record in progress), name
    # Every stage trains every micro-batch: the same count on each.
    assert len({records[name][-1]["backward_passes"] for name in NODES}) == 1


def test_the_leaf_records_loss_and_validation_and_the_root_epoch_ends(run):
    _, _, records = run
    leaf, root = records["node_2"], records["node_0"]
    train = events(leaf, "train")
    assert len(train) == leaf[-1]["backward_passes"]  # update_frequency 1: a loss per backward pass
    assert [record["step"] for record in train] == list(range(1, len(train) + 1))
    assert all(record["loss"] > 0 for record in train)
    validation = events(leaf, "validation")
    assert len(validation) == 2 and all(0 <= record["val_accuracy"] <= 1 for record in validation)
    assert [record["epoch"] for record in events(root, "epoch_end")] == [0, 1]


def test_bytes_per_peer_agree_between_sender_and_receiver(run):
    _, _, records = run
    peers = {name: node_records[-1]["peers"] for name, node_records in records.items()}
    addresses = {name: json.loads((run[0] / "node_data" / "nodes" / f"{name}.json").read_text())
                 for name in NODES}
    for sender in NODES:
        for receiver, traffic in peers[sender].items():
            assert traffic["address"] == "{local_host}:{local_port}".format(**addresses[receiver])
            assert traffic["bytes_sent"] == peers[receiver][sender]["bytes_received"], (sender, receiver)
    # Activations go down the chain and gradients back up: every neighbouring link carries bytes both ways.
    for upstream, downstream in (("node_0", "node_1"), ("node_1", "node_2")):
        assert peers[upstream][downstream]["bytes_sent"] > 0
        assert peers[downstream][upstream]["bytes_sent"] > 0


def test_the_launcher_plots_the_run(run):
    folder, result, _ = run
    png = folder / "node_data" / "metrics" / "training.png"
    assert f"launch: plotted node_data/metrics/training.png" in result.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_the_plot_command_writes_where_asked_and_explains_a_folder_without_metrics(run, tmp_path):
    folder, _, _ = run
    output = tmp_path / "plots" / "run.png"
    done = subprocess.run([PYTHON, "-m", "ravnest.plot", "node_data", "--output", str(output)], cwd=folder,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert output.stat().st_size > 20_000
    empty = subprocess.run([PYTHON, "-m", "ravnest.plot", str(tmp_path / "nothing")], capture_output=True,
                           text=True, timeout=120)
    assert empty.returncode != 0
    assert "no metrics in" in empty.stderr and "train first" in empty.stderr
