"""ravnest.shard: disjoint, equal shards; a shuffled loader's root and leaf copies stay aligned."""

import torch
from torch.utils.data import DataLoader, TensorDataset

from ravnest import shard


def digits_like(samples=103):
    inputs = torch.arange(samples, dtype=torch.float32)[:, None]
    return TensorDataset(inputs, inputs.long().squeeze(1))


def test_shards_are_disjoint_equal_and_cover_all_but_the_remainder():
    dataset = digits_like()
    shards = [shard(dataset, rank, 3) for rank in range(3)]
    assert [len(part) for part in shards] == [34, 34, 34]
    seen = [int(part[i][1]) for part in shards for i in range(len(part))]
    assert len(set(seen)) == 102


def test_shuffled_loaders_built_alike_give_root_and_leaf_the_same_batches():
    def loader():
        return DataLoader(digits_like(), batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(5))

    root, leaf = shard(loader(), 1, 2), shard(loader(), 1, 2)
    other_cluster = shard(loader(), 0, 2)
    for _ in range(2):  # two epochs: the order changes, the alignment stays
        root_batches, leaf_batches = list(root), list(leaf)
        assert len(root_batches) == len(list(other_cluster)) == 7
        for (inputs, _), (_, labels) in zip(root_batches, leaf_batches):
            assert torch.equal(inputs.long().squeeze(1), labels)
    assert {int(x) for x, _ in root.dataset}.isdisjoint({int(x) for x, _ in other_cluster.dataset})


def test_one_cluster_keeps_the_data_unchanged():
    loader = DataLoader(digits_like(), batch_size=8)
    assert shard(loader, 0, 1) is loader
