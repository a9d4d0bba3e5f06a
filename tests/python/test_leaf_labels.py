"""The leaf reads its labels in the order the root feeds the inputs, epoch after epoch."""

import torch
from torch.utils.data import DataLoader, TensorDataset

from ravnest.leaf import EpochIterator


def shuffled_loader(samples, batch_size):
    data = TensorDataset(torch.arange(samples))
    return DataLoader(data, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(7))


def root_order(loader, epochs):
    return [[batch[0].tolist() for batch in loader] for _ in range(epochs)]


def leaf_order(loader, epochs):
    labels = EpochIterator(loader, "labels")
    return [[labels.next_for(epoch, batch)[0].tolist() for batch in range(len(loader))] for epoch in range(epochs)]


def test_shuffled_labels_follow_the_root_when_the_last_batch_is_full():
    # 64 samples in batches of 16: the sampler's final draw comes after the last batch, which the leaf
    # only makes when it runs each pass to its end as the root's loop does.
    assert leaf_order(shuffled_loader(64, 16), 3) == root_order(shuffled_loader(64, 16), 3)


def test_shuffled_labels_follow_the_root_when_the_last_batch_is_partial():
    assert leaf_order(shuffled_loader(70, 16), 3) == root_order(shuffled_loader(70, 16), 3)
