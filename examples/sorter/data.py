"""Sequences of six digits and their sorted order, generated here: the sorter's dataset.

A model input is the six digits followed by the first five sorted ones (11 token ids); the target at each
position is the next token. Only the positions that predict a sorted digit count: the others are -1, which
the loss ignores. Every possible sequence is either held out (a fixed quarter, chosen by a seeded draw) or
may appear in training, so the accuracy after training is measured on sequences the model never saw.
"""

import itertools

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

LENGTH = 6       # digits to sort
NUM_DIGITS = 3   # each digit is one of 0 .. NUM_DIGITS - 1 (minGPT's demo uses 3)
BLOCK_SIZE = 2 * LENGTH - 1
IGNORED = -1
SEED = 42


def _split_sequences():
    """(training sequences, held-out sequences) as int64 arrays [n, LENGTH]: every sequence is in one."""
    every = np.array(list(itertools.product(range(NUM_DIGITS), repeat=LENGTH)), dtype=np.int64)
    held_out = np.random.default_rng(SEED).random(len(every)) < 0.25
    return every[~held_out], every[held_out]


def as_examples(sequences):
    """(inputs [n, 11], targets [n, 11]) for `sequences` [n, 6]."""
    sequences = torch.as_tensor(sequences)
    whole = torch.cat([sequences, sequences.sort(dim=1).values], dim=1)
    inputs, targets = whole[:, :-1].clone(), whole[:, 1:].clone()
    targets[:, : LENGTH - 1] = IGNORED
    return inputs, targets


def sort_loader(batch_size, samples):
    """Training batches: `samples` sequences drawn (with repetition) from the training sequences, shuffled from
    a fixed seed so the root (inputs) and the leaf (targets) see the same batches."""
    training, _ = _split_sequences()
    drawn = training[np.random.default_rng(SEED).integers(len(training), size=samples)]
    generator = torch.Generator().manual_seed(SEED)
    return DataLoader(TensorDataset(*as_examples(drawn)), batch_size=batch_size, shuffle=True, generator=generator)


def held_out_sequences():
    """The sequences training never draws, int64 [n, 6]."""
    return torch.from_numpy(_split_sequences()[1])


def sort_with(model_outputs, sequences):
    """Sorts `sequences` [n, 6] greedily with a causal model: `model_outputs(inputs [n, 11])` returns next-token
    logits [n, 11, NUM_DIGITS]. Positions after the ones generated so far hold zeros; a causal model does not
    look at them, so every call has the same shape."""
    inputs = torch.zeros(len(sequences), BLOCK_SIZE, dtype=torch.long)
    inputs[:, :LENGTH] = sequences
    produced = []
    for step in range(LENGTH):
        token = model_outputs(inputs)[:, LENGTH - 1 + step].argmax(dim=-1)
        produced.append(token)
        if step < LENGTH - 1:
            inputs[:, LENGTH + step] = token
    return torch.stack(produced, dim=1)


def sorted_share(model_outputs, sequences):
    """Share of `sequences` the model sorts exactly."""
    produced = sort_with(model_outputs, sequences)
    return (produced == sequences.sort(dim=1).values).all(dim=1).float().mean().item()
