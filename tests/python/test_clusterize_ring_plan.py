"""Ring plans across clusters that split the model at different points."""

import torch

import models
from ravnest.clusterize.model_split import analyse_model, split_and_export
from ravnest.clusterize.ring_plan import StateEntry, averaged_state, plan_rings, rings_of_node

ADDRESSES = {node: f"10.0.0.{node}:8080" for node in range(5)}


def entries(*names, dtype="float32"):
    return [StateEntry(name, 4, dtype) for name in names]


def test_ranges_are_cut_wherever_any_cluster_changes_holder():
    state = entries("p0", "p1", "p2", "p3", "p4", "p5")
    three_nodes = dict(zip(["p0", "p1", "p2", "p3", "p4", "p5"], [0, 0, 1, 1, 2, 2]))
    two_nodes = dict(zip(["p0", "p1", "p2", "p3", "p4", "p5"], [3, 3, 3, 4, 4, 4]))
    rings = plan_rings(state, [three_nodes, two_nodes])
    # Node 1's range p2..p3 spans nodes 3 and 4 of the other cluster, so it makes two rings.
    assert [[e.name for e in ring.entries] for ring in rings] == [["p0", "p1"], ["p2"], ["p3"], ["p4", "p5"]]
    assert [ring.holders for ring in rings] == [(0, 3), (1, 3), (1, 4), (2, 4)]
    assert [ring.ring_id for ring in rings] == [0, 1, 2, 3]


def test_each_node_sees_its_rings_with_next_and_previous_holders():
    state = entries("a", "b", "c")
    clusters = [{"a": 0, "b": 0, "c": 1}, {"a": 2, "b": 3, "c": 3}, {"a": 4, "b": 4, "c": 4}]
    rings = plan_rings(state, clusters)
    view = rings_of_node(rings, 0, 0, ADDRESSES)
    assert [(r["params"], r["next"]["node_id"], r["previous"]["node_id"]) for r in view] == [
        (["a"], 2, 4), (["b"], 3, 4)]
    assert view[0]["next"]["address"] == ADDRESSES[2]
    middle = rings_of_node(rings, 1, 3, ADDRESSES)
    assert [(r["params"], r["next"]["node_id"], r["previous"]["node_id"]) for r in middle] == [
        (["b"], 4, 0), (["c"], 4, 1)]
    assert [r["params"] for r in rings_of_node(rings, 2, 4, ADDRESSES)] == [["a"], ["b"], ["c"]]


def test_a_single_cluster_rings_to_itself():
    rings = plan_rings(entries("a", "b"), [{"a": 0, "b": 1}])
    view = rings_of_node(rings, 0, 1, ADDRESSES)
    assert [(r["params"], r["next"]["node_id"], r["previous"]["node_id"]) for r in view] == [(["b"], 1, 1)]


def test_dtype_changes_start_a_new_ring():
    state = entries("weight", "bias") + entries("num_batches_tracked", dtype="int64") + entries("next")
    rings = plan_rings(state, [{e.name: 0 for e in state}])
    assert [(ring.entries[0].name, ring.entries[0].dtype) for ring in rings] == [
        ("weight", "float32"), ("num_batches_tracked", "int64"), ("next", "float32")]


def test_unheld_entry_is_refused():
    try:
        plan_rings(entries("a", "b"), [{"a": 0}])
    except ValueError as error:
        assert "b" in str(error) and "cluster 0" in str(error)
    else:
        raise AssertionError("an entry nobody holds must be refused")


def test_cnn_split_three_and_two_ways_covers_every_entry_once_with_correct_neighbours():
    model, args, kwargs = models.build("cnn")
    analysed = analyse_model(model, args, kwargs)
    clusters = [[0, 1, 2], [3, 4]]
    # Node 1 gets most of the memory, so its stage contains the point where cluster 1 splits.
    splits = [split_and_export(analysed, ram) for ram in ([1.0, 6.0, 1.0], [1.0, 1.0])]
    held = [{node: set(stage.module.state_dict()) for node, stage in zip(cluster, split.stages)}
            for cluster, split in zip(clusters, splits)]
    holders = [{name: node for node, names in cluster_held.items() for name in names} for cluster_held in held]
    state = averaged_state(model)
    rings = plan_rings(state, holders)

    expected = [name for name, p in model.named_parameters()] + [name for name, _ in model.named_buffers()]
    covered = [entry.name for ring in rings for entry in ring.entries]
    assert sorted(covered) == sorted(expected)  # BatchNorm running stats included, each entry once
    assert covered == [entry.name for entry in state]  # rings keep state-dict order

    for cluster_index, cluster in enumerate(clusters):
        other = held[1 - cluster_index]
        for node in cluster:
            for ring in rings_of_node(rings, cluster_index, node, ADDRESSES):
                for neighbour in (ring["next"], ring["previous"]):
                    assert set(ring["params"]) <= other[neighbour["node_id"]]
                assert set(ring["params"]) <= held[cluster_index][node]
    spans = [ring for ring in rings if ring.holders[0] == 1]
    assert len({ring.holders[1] for ring in spans}) == 2, "node 1's range should span both nodes of cluster 1"


def test_frozen_parameters_and_unsaved_buffers_are_not_averaged():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    model[0].bias.requires_grad_(False)
    model.register_buffer("scratch", torch.zeros(1), persistent=False)
    names = [entry.name for entry in averaged_state(model)]
    assert names == ["0.weight", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked"]
