"""Several clusters of the digits CNN train on their own shards and are averaged by the ring all-reduce.

Real provider processes through ravnest.launch, on free ports. Provider memory is set in units of the CNN's
training-memory estimate so that clusterize can only form the cluster shapes the test names.
"""

import importlib.util
import json

import pytest
import torch

from cnn_example import EXAMPLE, copy_example, launch
from ravnest import model_fusion
from ravnest.clusterize.model_split import analyse_model


def example_module(name):
    spec = importlib.util.spec_from_file_location(f"cnn_example_{name}", EXAMPLE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cnn_estimate_gb():
    model = example_module("models").CNN()
    return analyse_model(model, (torch.rand(64, 1, 8, 8),), {}).size_bytes / 1024 ** 3


def cluster_shapes(folder):
    documents = [json.loads(p.read_text()) for p in (folder / "node_data" / "nodes").glob("node_*.json")]
    lengths = {}
    for document in documents:
        lengths[document["rank"]] = document["cluster_length"]
    return sorted(lengths.values(), reverse=True)


def validation_accuracy(state_dict):
    model = example_module("models").CNN()
    model.load_state_dict(state_dict, strict=True)
    model.eval()
    _, val_loader = example_module("data").digits_loaders(64)
    correct = total = 0
    with torch.no_grad():
        for images, one_hot in val_loader:
            correct += (model(images).argmax(1) == one_hot.argmax(1)).sum().item()
            total += len(images)
    return correct / total


EPOCHS = 20
MIN_ACCURACY = 0.94
# Memory of each provider, in CNN estimates: only these clusters can each hold the model.
#   3 + 2: three providers of 0.35 (1.05 together) and two of 0.51 (1.02); any other grouping falls short.
#   2 + 2 + 1: one provider of 1.01 alone and four of 0.51 in pairs.
SHAPES = {(3, 2): [0.35, 0.35, 0.35, 0.51, 0.51], (2, 2, 1): [1.01, 0.51, 0.51, 0.51, 0.51]}


@pytest.mark.parametrize("shape", list(SHAPES), ids=lambda shape: "+".join(map(str, shape)))
def test_clusters_train_on_shards_and_end_with_identical_replicas(tmp_path, monkeypatch, shape):
    estimate = cnn_estimate_gb()
    copy_example(tmp_path, rams_gb=[share * estimate for share in SHAPES[shape]])
    assert cluster_shapes(tmp_path) == list(shape)
    result, seconds = launch(tmp_path, "provider.py", env={"RAVNEST_EPOCHS": str(EPOCHS)})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]

    monkeypatch.chdir(tmp_path)
    replicas = [model_fusion(cluster_id=cluster) for cluster in range(len(shape))]
    for cluster, replica in enumerate(replicas[1:], start=1):
        assert set(replica) == set(replicas[0])
        for key, value in replica.items():
            assert torch.equal(value, replicas[0][key]), f"cluster {cluster} differs from cluster 0 at {key}"
    assert replicas[0]["features.3.num_batches_tracked"].item() > 0
    accuracy = validation_accuracy(replicas[0])
    print(f"{'+'.join(map(str, shape))} clusters, {EPOCHS} epochs: accuracy {accuracy:.4f} in {seconds:.1f} s")
    assert accuracy >= MIN_ACCURACY
