"""Measures each operation's share of a training step's compute, for splits that balance compute.

How it works:
- The example input runs through the traced graph a few times (eval mode, no autograd, so the user's model
  is unchanged), and each operation's forward pass is timed; the fastest run counts, so a first call's
  one-time costs do not.
- An operation's training cost is its forward time times three when it reads parameters (the backward pass
  computes input and weight gradients, each about one forward pass) and times two otherwise, plus the work
  per update on its parameters: the optimizer's passes over them, zeroing their gradients and the pipeline's
  copy of the weight version in flight, timed as elementwise adds on this machine.

The times are this machine's, not the providers', so only their ratios are used: every provider is assumed
to compute at the same speed.
"""

import time

import torch
import torch.fx

from .memory import in_eval_mode

TIMED_RUNS = 3
BACKWARD_PASSES_WITH_PARAMETERS = 2
BACKWARD_PASSES_WITHOUT = 1
# Elementwise passes over a parameter per update: an optimizer step (momentum or moments, then the
# parameter: about 4), zeroing the gradient (1), the weight-version copy of pipelining (2), the gradient's
# accumulation (1).
UPDATE_PASSES = 8


class _Timer(torch.fx.Interpreter):
    def __init__(self, graph_module, compute_ops):
        super().__init__(graph_module)
        self.compute_ops = compute_ops
        self.seconds = {}

    def run_node(self, node):
        if node.op not in self.compute_ops:
            return super().run_node(node)
        started = time.perf_counter()
        value = super().run_node(node)
        elapsed = time.perf_counter() - started
        self.seconds[node.name] = min(elapsed, self.seconds.get(node.name, elapsed))
        return value


def forward_seconds(graph_module, model_inputs, example_args, example_kwargs, compute_ops):
    """{graph value name: fastest forward time in seconds} of every operation in `compute_ops`."""
    values = [example_args[i.position] if i.position < len(example_args) else example_kwargs[i.keyword]
              for i in model_inputs]
    timer = _Timer(graph_module, compute_ops)
    with in_eval_mode(graph_module), torch.no_grad():
        for _ in range(TIMED_RUNS):
            timer.run(*values)
    return timer.seconds


def seconds_per_updated_element():
    """Time of one elementwise pass over a float32 parameter, per element, on this machine."""
    values = torch.ones(1 << 24)  # 64 MiB: larger than caches, as a model's parameters are
    best = float("inf")
    for _ in range(TIMED_RUNS):
        started = time.perf_counter()
        values.add_(values)
        best = min(best, time.perf_counter() - started)
    return best / values.numel()


def training_seconds(forward, trainable_elements, per_element):
    """An operation's estimated training-step time from its forward time and the elements it updates."""
    backward = BACKWARD_PASSES_WITH_PARAMETERS if trainable_elements else BACKWARD_PASSES_WITHOUT
    return forward * (1 + backward) + UPDATE_PASSES * trainable_elements * per_element
