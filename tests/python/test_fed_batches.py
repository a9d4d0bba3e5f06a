"""A node that is root and leaf takes each micro-batch's labels from the batch its loop fed (ravnest.fed_batches),
whatever the loader: a shuffled DataLoader iterated twice per epoch would otherwise draw two orders."""

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from ravnest.fed_batches import FedBatchTap


def shuffled_loader():
    data = TensorDataset(torch.arange(40).float(), torch.arange(40))
    return DataLoader(data, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(42))


def test_each_fed_batch_is_the_batch_the_loop_drew():
    loader = shuffled_loader()
    tap = FedBatchTap(loader, "labels")
    assert tap.installed and isinstance(loader, DataLoader)
    for _ in range(3):
        for inputs, _labels in loader:
            fed = tap.take()
            assert torch.equal(fed[0], inputs)


def test_the_shared_loader_draws_the_same_orders_as_an_untapped_one():
    tapped, plain = shuffled_loader(), shuffled_loader()
    FedBatchTap(tapped, "labels")
    for _ in range(2):
        assert [b[1].tolist() for b in tapped] == [b[1].tolist() for b in plain]


def test_without_the_loop_iterating_it_the_leaf_iterates_it_itself_unrecorded():
    loader = shuffled_loader()
    tap = FedBatchTap(loader, "labels")
    assert tap.take() is None
    assert len(list(tap.iterable)) == 5 and tap.take() is None


def test_a_second_micro_batch_without_a_new_batch_is_an_error():
    loader = shuffled_loader()
    tap = FedBatchTap(loader, "labels")
    next(iter(loader))
    tap.take()
    with pytest.raises(ValueError, match="without a new batch"):
        tap.take()


def test_lists_and_tensors_are_left_alone():
    batches = [(torch.zeros(2), torch.ones(2))]
    tap = FedBatchTap(batches, "labels")
    assert not tap.installed and tap.iterable is batches and tap.take() is None
    assert not FedBatchTap(torch.zeros(4, 2), "labels").installed


def test_a_whole_pass_before_training_leaves_no_batch_behind():
    loader = shuffled_loader()
    tap = FedBatchTap(loader, "labels")
    assert len(list(loader)) == 5  # e.g. statistics over the data, before a loop over another loader
    assert tap.take() is None
