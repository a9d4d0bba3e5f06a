"""Training scenarios the pipeline tests run twice: split across provider processes, and in one process.

A scenario (a JSON-able dict) names a model, an optimizer, the update frequency and the data; everything
else follows deterministically from it, so a provider process and the test rebuild the same things.
"""

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

from models.cnn import CNN


class SkipNet(nn.Module):
    """`a` is used two layers later, so with three stages it goes from stage 0 straight to stage 2."""

    def __init__(self):
        super().__init__()
        self.first = nn.Linear(16, 32)
        self.middle = nn.Linear(32, 32)
        self.last = nn.Linear(32, 32)
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        a = torch.relu(self.first(x.flatten(1)))
        b = torch.relu(self.middle(a))
        c = torch.relu(self.last(b))
        return self.head(c + a)


class MaskedNet(nn.Module):
    """Takes a keyword input (`mask`) that only a later layer reads."""

    def __init__(self):
        super().__init__()
        self.encode = nn.Linear(16, 32)
        self.mix = nn.Linear(32, 32)
        self.head = nn.Linear(32, 10)

    def forward(self, x, mask=None):
        hidden = torch.tanh(self.encode(x.flatten(1)))
        hidden = torch.tanh(self.mix(hidden)) * mask
        return self.head(hidden)


class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.inner = nn.Sequential(nn.Linear(width, width), nn.BatchNorm1d(width))

    def forward(self, x):
        return torch.relu(self.inner(x)) + x


class NestedNet(nn.Module):
    """Modules three levels deep (`blocks.1.inner.1.running_mean`), BatchNorm included: fused state dicts
    must load into it."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Linear(16, 32)
        self.blocks = nn.ModuleList([Block(32) for _ in range(3)])
        self.head = nn.Sequential(nn.Linear(32, 10))

    def forward(self, x):
        x = self.stem(x.flatten(1))
        for block in self.blocks:
            x = block(x)
        return self.head(x)


class UnsavedBufferNet(nn.Module):
    """Reads a buffer registered with persistent=False (as BERT's position_ids): it is not in the model's
    state dict, so a fused state dict must leave it out to load strictly."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Linear(16, 32)
        self.register_buffer("offsets", torch.linspace(-1.0, 1.0, 32), persistent=False)
        self.middle = nn.Linear(32, 32)
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        hidden = torch.tanh(self.stem(x.flatten(1)) + self.offsets)
        return self.head(torch.tanh(self.middle(hidden)))


_MODELS = {"cnn": lambda: CNN(dropout=0.0), "skip": SkipNet, "kwargs": MaskedNet, "nested": NestedNet,
           "unsaved_buffer": UnsavedBufferNet}
_INPUT_SHAPES = {"cnn": (1, 8, 8), "skip": (16,), "kwargs": (16,), "nested": (16,), "unsaved_buffer": (16,)}


def build_model(spec):
    torch.manual_seed(0)
    return _MODELS[spec["model"]]()


def make_inputs(spec, batch_size, generator):
    x = torch.randn((batch_size,) + _INPUT_SHAPES[spec["model"]], generator=generator)
    if spec["model"] != "kwargs":
        return x
    return {"x": x, "mask": (torch.rand(batch_size, 32, generator=generator) > 0.2).float()}


def example_inputs(spec):
    """(args, kwargs) for clusterize."""
    inputs = make_inputs(spec, 4, torch.Generator().manual_seed(99))
    return ((), inputs) if isinstance(inputs, dict) else ((inputs,), {})


def prediction_inputs(spec):
    """The batch the root predicts after training."""
    return make_inputs(spec, 5, torch.Generator().manual_seed(7))


def batches(spec):
    """The training batches: (inputs, class labels)."""
    generator = torch.Generator().manual_seed(1)
    return [(make_inputs(spec, spec.get("batch_size", 8), generator),
             torch.randint(0, 10, (spec.get("batch_size", 8),), generator=generator))
            for _ in range(spec["batches"])]


def criterion(outputs, targets):
    return F.cross_entropy(outputs, targets[1])


def optimizer_of(spec):
    """(class, params) as Node(optimizer=..., optimizer_params=...) takes them."""
    if spec["optimizer"] == "adam":
        # The CNN's convolution bias before BatchNorm gets a gradient that is rounding noise (BatchNorm
        # removes the mean), and Adam with a tiny eps scales noise up to full steps: any two correct
        # implementations then drift apart. A larger eps keeps those steps as small as their gradients.
        return torch.optim.Adam, {"lr": 0.01, "eps": 1e-3}
    return torch.optim.SGD, {"lr": 0.05, "momentum": 0.9}


def scheduler_of(spec):
    return torch.optim.lr_scheduler.StepLR, {"step_size": 3, "gamma": 0.5}


def train_reference(spec):
    """Plain single-process training of the unsplit model: returns its state dict."""
    model = copy.deepcopy(build_model(spec))
    optimizer_class, optimizer_params = optimizer_of(spec)
    optimizer = optimizer_class(model.parameters(), **optimizer_params)
    scheduler_class, scheduler_params = scheduler_of(spec)
    scheduler = scheduler_class(optimizer, **scheduler_params)
    for step, (inputs, labels) in enumerate(batches(spec), start=1):
        outputs = model(**inputs) if isinstance(inputs, dict) else model(inputs)
        criterion(outputs, (inputs, labels)).backward()
        if step % spec["update_frequency"] == 0:
            optimizer.step()
            optimizer.zero_grad()
            scheduler.step()
    return model.state_dict()
