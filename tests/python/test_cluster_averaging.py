"""Averaging across clusters beyond the parameters: the optimizer state (average_optim), count-based
intervals (integer reduce_factor), and a provider killed mid-training.

Two clusters of the digits CNN, as real provider processes (averaging_provider.py) on free ports; a few epochs
each, since what is checked is the averaging, not the accuracy (test_multi_cluster_training covers that).
"""

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from cnn_example import EXAMPLE, copy_example, launch
from pipeline_harness import PYTHON
from ravnest import model_fusion
from ravnest.checkpoint import CheckpointStore, checkpoint_folder
from test_multi_cluster_training import cluster_shapes, cnn_estimate_gb

PROVIDER = Path(__file__).resolve().parent / "averaging_provider.py"


def two_clusters(folder, nodes_each):
    """Two clusters of `nodes_each` providers (memory in CNN estimates, as in test_multi_cluster_training)."""
    share = {1: 1.01, 2: 0.51}[nodes_each]
    copy_example(folder, rams_gb=[share * cnn_estimate_gb()] * (2 * nodes_each))
    assert cluster_shapes(folder) == [nodes_each, nodes_each]
    shutil.copy(PROVIDER, folder / PROVIDER.name)


def run(folder, **env):
    result, _ = launch(folder, PROVIDER.name, env={key: str(value) for key, value in env.items()})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    return [torch.load(path) for path in sorted((folder / "dumps").glob("node_*.pt"))]


def optimizer_state_of_clusters(dumps):
    clusters = {}
    for dump in dumps:
        clusters.setdefault(dump["cluster"], {}).update(dump["optimizer_state"])
    return [clusters[cluster] for cluster in sorted(clusters)]


@pytest.mark.parametrize("average_optim", [True, False], ids=["average_optim", "parameters_only"])
def test_average_optim_leaves_every_replica_with_the_same_adam_state(tmp_path, average_optim):
    two_clusters(tmp_path, nodes_each=2)
    first, second = optimizer_state_of_clusters(run(tmp_path, RAVNEST_EPOCHS=2,
                                                    RAVNEST_AVERAGE_OPTIM=int(average_optim)))
    assert set(first) == set(second)
    assert {key.rsplit(".", 1)[1] for key in first} == {"exp_avg", "exp_avg_sq", "step"}
    differing = [key for key in first if not torch.equal(first[key], second[key])]
    if average_optim:
        assert differing == []
    else:
        # The clusters trained on different shards: their moments differ (the step counts do not).
        assert any(key.endswith("exp_avg") for key in differing)


def test_integer_reduce_factor_averages_every_reduce_factor_backward_passes(tmp_path, monkeypatch):
    two_clusters(tmp_path, nodes_each=1)
    reduce_factor = 3
    dumps = run(tmp_path, RAVNEST_EPOCHS=2, RAVNEST_REDUCE_FACTOR=reduce_factor)
    for dump in dumps:
        # update_frequency 1: one average every reduce_factor passes, and the final one.
        assert dump["averages"] == dump["batches"] // reduce_factor + 1
    monkeypatch.chdir(tmp_path)
    first, second = (model_fusion(cluster_id=cluster) for cluster in range(2))
    assert all(torch.equal(first[key], second[key]) for key in first)


def start_providers(folder, env, log_mode="w"):
    """Every provider as its own process (ravnest.launch would stop the others when one dies)."""
    environment = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", **env)
    processes = {}
    for path in sorted((folder / "node_data" / "nodes").glob("node_*.json")):
        log = open(folder / f"{path.stem}.log", log_mode)
        processes[path.stem] = subprocess.Popen([PYTHON, PROVIDER.name, path.stem], cwd=folder, stdout=log,
                                                stderr=subprocess.STDOUT, env=environment)
    return processes


def wait_for_losses(path, lines, deadline):
    """Until both leaves together logged `lines` training losses: the clusters train and average (a cluster
    cannot run more than one averaging interval ahead of the other)."""
    while not path.exists() or len(path.read_text().splitlines()) < lines:
        assert time.monotonic() < deadline, "the clusters did not start training"
        time.sleep(0.2)


def test_killed_provider_stops_the_other_clusters_with_a_network_error(tmp_path):
    timeout = 8
    two_clusters(tmp_path, nodes_each=2)
    documents = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "node_data" / "nodes").glob("*.json")}
    victim = next(name for name, d in documents.items() if d["rank"] == 1 and not d["is_root"])
    processes = start_providers(tmp_path, {"RAVNEST_EPOCHS": "1000", "RAVNEST_REDUCE_FACTOR": "2",
                                           "RAVNEST_TIMEOUT": str(timeout)})
    try:
        wait_for_losses(tmp_path / "losses.txt", lines=12, deadline=time.monotonic() + 120)
        assert all(process.poll() is None for process in processes.values())
        processes[victim].send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        for name, process in processes.items():
            process.wait(timeout=max(1, 60 - (time.monotonic() - killed_at)))
        stopped_after = time.monotonic() - killed_at
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
    logs = {name: (tmp_path / f"{name}.log").read_text() for name in processes}
    victim_address = f"{documents[victim]['local_host']}:{documents[victim]['local_port']}"
    addresses = {f"{d['local_host']}:{d['local_port']}" for d in documents.values()}
    survivors = [name for name in processes if name != victim]
    for name in survivors:
        assert processes[name].returncode != 0, logs[name][-3000:]
        # Every survivor names the peer it lost: the victim, or a survivor that stopped before it (directly, or
        # in "stopping because node_<id> stopped: ..." when a node of its own cluster stopped first).
        assert any(address in logs[name] for address in addresses), logs[name][-3000:]
    # The victim's pipeline neighbour and its ring partner name it, with typed errors.
    naming = [name for name in survivors if victim_address in logs[name]
              and ("NetworkError" in logs[name] or "TimeoutError" in logs[name])]
    assert len(naming) >= 2, {name: logs[name][-1500:] for name in survivors}
    print(f"every provider stopped {stopped_after:.1f} s after {victim} was killed")


def checkpoint_steps(folder, document):
    return CheckpointStore(checkpoint_folder(folder / document["template_path"])).steps()


def test_every_cluster_resumes_from_one_step_and_the_replicas_end_identical(tmp_path, monkeypatch):
    """A node of the second cluster is killed after the periodic checkpoints began; every provider of both
    clusters restarts with resume=True, restores the same backward pass (the first cluster's root announced
    each checkpoint to the other root), and the two replicas end identical."""
    two_clusters(tmp_path, nodes_each=2)
    documents = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "node_data" / "nodes").glob("*.json")}
    victim = next(name for name, d in documents.items() if d["rank"] == 1 and not d["is_root"])
    env = {"RAVNEST_EPOCHS": "8", "RAVNEST_REDUCE_FACTOR": "2", "RAVNEST_TIMEOUT": "8",
           "RAVNEST_CHECKPOINT_INTERVAL": "0.5"}
    processes = start_providers(tmp_path, env)
    try:
        deadline = time.monotonic() + 120
        while len(checkpoint_steps(tmp_path, documents[victim])) < 2:
            assert time.monotonic() < deadline, "no periodic checkpoints"
            assert all(process.poll() is None for process in processes.values())
            time.sleep(0.1)
        processes[victim].send_signal(signal.SIGKILL)
        for process in processes.values():
            process.wait(timeout=60)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
    held = {name: checkpoint_steps(tmp_path, document) for name, document in documents.items()}
    common = set.intersection(*(set(steps) for steps in held.values()))
    print(f"checkpoints by backward pass: {held}")
    assert common, held

    processes = start_providers(tmp_path, {**env, "RAVNEST_RESUME": "1"}, log_mode="a")
    for process in processes.values():
        process.wait(timeout=180)
    logs = {name: (tmp_path / f"{name}.log").read_text() for name in processes}
    assert all(process.returncode == 0 for process in processes.values()), \
        {name: text[-3000:] for name, text in logs.items()}
    resumed = {name: int(re.findall(r"resuming from the checkpoint at backward pass (\d+)", text)[-1])
               for name, text in logs.items()}
    print(f"every node of both clusters resumed from backward pass {resumed}")
    assert set(resumed.values()) == {max(common)}, resumed
    monkeypatch.chdir(tmp_path)
    replicas = [model_fusion(cluster_id=cluster) for cluster in (0, 1)]
    for key, value in replicas[1].items():
        assert torch.equal(value, replicas[0][key]), f"the clusters differ at {key}"
