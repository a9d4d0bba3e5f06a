"""clusterize() from node_configs.json to node_data/, as users run it."""

import json
import re

import pytest
import torch

import models
from ravnest.clusterize import clusterize
from ravnest.routing_runtime import StageChain
from ravnest.utils import set_seed

ORIGINAL_KEYS = {"node_id", "local_host", "local_port", "template_path", "rank", "ring_size", "cluster_length",
                 "param_addresses", "ring_ids", "forward_target_host", "forward_target_port",
                 "backward_target_host", "backward_target_port", "node_type"}


def write_configs(folder, rams, bandwidth=10):
    node_data = folder / "node_data"
    node_data.mkdir(exist_ok=True)
    configs = {str(i): {"IP": f"127.0.0.1:{8080 + i}", "benchmarks": {"ram": ram, "bandwidth": bandwidth}}
               for i, ram in enumerate(rams)}
    (node_data / "node_configs.json").write_text(json.dumps(configs))
    return node_data


def read_nodes(node_data):
    return {int(path.stem.split("_")[1]): json.loads(path.read_text())
            for path in (node_data / "nodes").glob("node_*.json")}


@pytest.fixture
def cnn():
    model, args, _ = models.build("cnn")
    return model, args


def test_three_small_nodes_make_one_pipeline(tmp_path, monkeypatch, cnn):
    model, args = cnn
    monkeypatch.chdir(tmp_path)
    node_data = write_configs(tmp_path, [0.0006] * 3)  # the CNN needs ~0.0015 GB: only all three hold it
    (node_data / "cluster_7" / "stale").mkdir(parents=True)
    (node_data / "notes.txt").write_text("kept")
    set_seed(42)
    clusterize(model=model, example_args=args)

    assert sorted(p.name for p in node_data.iterdir()) == ["cluster_0", "node_configs.json", "nodes", "notes.txt"]
    nodes = read_nodes(node_data)
    assert sorted(nodes) == [0, 1, 2]
    for node in nodes.values():
        assert ORIGINAL_KEYS <= set(node)
        assert (node["rank"], node["ring_size"], node["cluster_length"]) == (0, 1, 3)
    assert [nodes[i]["node_type"] for i in range(3)] == ["root", "stem", "leaf"]
    assert (nodes[0]["forward_target_port"], nodes[0]["backward_target_port"]) == (8081, None)
    assert (nodes[1]["forward_target_port"], nodes[1]["backward_target_port"]) == (8082, 8080)
    assert (nodes[2]["forward_target_port"], nodes[2]["backward_target_port"]) == (None, 8081)
    assert nodes[0]["template_path"] == "node_data/cluster_0/127.0.0.1:8080/"

    stages, routings = [], []
    for i in range(3):
        folder = tmp_path / nodes[i]["template_path"]
        stages.append(torch.jit.load(str(folder / nodes[i]["submodule_file"])).eval())
        routings.append(json.loads((folder / nodes[i]["routing_file"]).read_text()))
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(StageChain(stages, routings).forward(*args), model(*args), atol=1e-5, rtol=1e-5)


def test_two_clusters_ring_to_each_other(tmp_path, monkeypatch, cnn):
    model, args = cnn
    monkeypatch.chdir(tmp_path)
    node_data = write_configs(tmp_path, [1.0, 1.0, 1.0, 1.0, 1.0])
    set_seed(0)
    clusterize(model=model, example_args=args, n_clusters=2)
    nodes = read_nodes(node_data)
    ranks = {node["rank"] for node in nodes.values()}
    assert ranks == {0, 1} and all(node["ring_size"] == 2 for node in nodes.values())
    for node in nodes.values():
        other_cluster = {f"127.0.0.1:{n['local_port']}" for n in nodes.values() if n["rank"] != node["rank"]}
        assert set(node["param_addresses"].values()) <= other_cluster
        assert node["ring_ids"] == {str(r["ring_id"]): r["params"][0] for r in node["rings"]}
    averaged = {name for node in nodes.values() if node["rank"] == 0 for r in node["rings"] for name in r["params"]}
    assert averaged == set(model.state_dict())


def test_single_node_is_root_and_leaf(tmp_path, monkeypatch, cnn):
    model, args = cnn
    monkeypatch.chdir(tmp_path)
    node_data = write_configs(tmp_path, [4.0])
    clusterize(model=model, example_args=args)
    node = read_nodes(node_data)[0]
    assert (node["node_type"], node["is_root"], node["is_leaf"], node["cluster_length"]) == ("root", True, True, 1)


def test_too_little_memory_names_model_size_and_every_node(tmp_path, monkeypatch, cnn):
    model, args = cnn
    monkeypatch.chdir(tmp_path)
    node_data = write_configs(tmp_path, [0.0001, 0.0002])
    (node_data / "cluster_0").mkdir()
    with pytest.raises(ValueError) as error:
        clusterize(model=model, example_args=args)
    message = str(error.value)
    assert re.search(r"needs about [0-9.e-]+ GB", message)
    assert re.search(r"node 0 \([^)]+\): 0.0001 GB", message) and re.search(r"node 1 \([^)]+\): 0.0002 GB", message)
    assert (node_data / "cluster_0").exists(), "a failed clusterize must leave node_data/ alone"


def test_same_seed_writes_the_same_plan(tmp_path, monkeypatch, cnn):
    model, args = cnn
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RAVNEST_JOB_TOKEN", "fixed")  # a fresh job token is random on purpose
    node_data = write_configs(tmp_path, [0.0003, 0.0004, 0.0005, 0.0003, 0.0006, 0.0002])

    def plan():
        set_seed(3)
        clusterize(model=model, example_args=args)
        return read_nodes(node_data)

    assert plan() == plan()


def test_bad_cluster_count_is_refused(tmp_path, monkeypatch, cnn):
    model, args = cnn
    monkeypatch.chdir(tmp_path)
    write_configs(tmp_path, [1.0, 1.0])
    with pytest.raises(ValueError, match="n_clusters must be an integer from 1 to the number of nodes \\(2\\)"):
        clusterize(model=model, example_args=args, n_clusters=3)


def test_an_unknown_balance_is_refused_naming_the_choices(tmp_path, monkeypatch, cnn):
    model, args = cnn
    monkeypatch.chdir(tmp_path)
    write_configs(tmp_path, [1.0, 1.0])
    with pytest.raises(ValueError, match="balance must be one of 'memory', 'compute', got 'speed'"):
        clusterize(model=model, example_args=args, balance="speed")


def test_compute_balanced_pipeline_computes_what_the_model_computes(tmp_path, monkeypatch):
    model, args, _ = models.build("resnet18")
    monkeypatch.chdir(tmp_path)
    node_data = write_configs(tmp_path, [1.0, 1.0, 1.0])
    clusterize(model=model, example_args=args, n_clusters=1, balance="compute")
    nodes = read_nodes(node_data)
    folders = [tmp_path / nodes[i]["template_path"] for i in range(3)]
    stages = [torch.jit.load(str(folder / "submod.pt")) for folder in folders]
    routings = [json.loads((folder / "routing.json").read_text()) for folder in folders]
    model.eval()
    for stage in stages:
        stage.eval()
    with torch.no_grad():
        torch.testing.assert_close(StageChain(stages, routings).forward(*args), model(*args), atol=1e-5, rtol=1e-5)
