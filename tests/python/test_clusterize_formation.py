"""Cluster formation through ravnest._C (the C++ genetic algorithm)."""

import random

import pytest

from ravnest import _C
from ravnest.utils import set_seed

RAM = [8, 16, 4, 32, 2, 12, 6]
BANDWIDTH = [100, 20, 100, 50, 10, 100, 20]


def ram_of(cluster):
    return sum(RAM[node] for node in cluster)


def assert_partition(clusters, n_nodes):
    members = sorted(node for cluster in clusters for node in cluster)
    assert members == list(range(n_nodes))
    assert all(cluster for cluster in clusters)


def test_single_node_forms_one_cluster():
    result = _C.form_clusters([4.0], [10.0], 1.0, None, 1)
    assert result.feasible and result.clusters == [[0]]


def test_seven_heterogeneous_nodes_form_clusters_that_each_hold_the_model():
    result = _C.form_clusters(RAM, BANDWIDTH, 20.0, None, 3)
    assert result.feasible
    assert_partition(result.clusters, len(RAM))
    assert len(result.clusters) == 3  # 80 GB cannot be four clusters of 20 GB with a 32 GB node
    assert all(ram_of(cluster) >= 20 for cluster in result.clusters)


def test_infeasible_memory_is_reported():
    result = _C.form_clusters([1.0, 2.0], [10.0, 10.0], 5.0, None, 3)
    assert not result.feasible
    assert_partition(result.clusters, 2)


def test_same_seed_same_clusters_through_set_seed():
    def form():
        set_seed(11)
        return _C.form_clusters(RAM, BANDWIDTH, 10.0, None, random.getrandbits(63)).clusters

    assert form() == form()


@pytest.mark.parametrize("n_clusters", [1, 2, 4])
def test_fixed_cluster_count(n_clusters):
    result = _C.form_clusters(RAM, BANDWIDTH, 10.0, n_clusters, 5)
    assert result.feasible and len(result.clusters) == n_clusters
    assert_partition(result.clusters, len(RAM))


def test_invalid_input_raises():
    with pytest.raises(Exception, match="numClusters"):
        _C.form_clusters([1.0], [1.0], 1.0, 2, 0)
