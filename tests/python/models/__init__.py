"""Models the clusterize tests split: one per kind of graph users bring.

`build(name)` returns (model, example_args, example_kwargs), small enough for a 2-core machine, with
dropout off so train-mode passes are deterministic.
"""

import torch
import torchvision

from .bert import SmallBert
from .cnn import CNN
from .gpt import MiniGPT
from .inception import SmallInception


def _bert_inputs(batch=2, length=10):
    attention_mask = torch.ones(batch, length, dtype=torch.long)
    attention_mask[1, 7:] = 0  # padding, so the mask matters
    return {
        "input_ids": torch.randint(0, 30, (batch, length)),
        "token_type_ids": (torch.arange(length) >= length // 2).long().expand(batch, length),
        "attention_mask": attention_mask,
    }


_FACTORIES = {
    "cnn": lambda: (CNN(dropout=0.0), (torch.randn(2, 1, 8, 8),), {}),
    # Batch 2: BatchNorm in train mode needs more than one value per channel at the 1x1 end.
    "resnet18": lambda: (torchvision.models.resnet18(num_classes=10), (torch.randn(2, 3, 32, 32),), {}),
    "resnet50": lambda: (torchvision.models.resnet50(num_classes=10), (torch.randn(2, 3, 32, 32),), {}),
    "inception": lambda: (SmallInception(dropout=0.0), (torch.randn(2, 3, 32, 32),), {}),
    "mingpt": lambda: (MiniGPT(dropout=0.0), (torch.randint(0, 16, (2, 12)),), {}),
    "bert": lambda: (SmallBert(dropout=0.0), (), _bert_inputs()),
}

NAMES = tuple(_FACTORIES)


def build(name, seed=0):
    torch.manual_seed(seed)
    return _FACTORIES[name]()
