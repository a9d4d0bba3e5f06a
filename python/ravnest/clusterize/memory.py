"""Estimates peak training memory from one example forward pass over the fx graph.

Training holds, per trainable parameter, the parameter, its gradient and Adam's two moments (4 copies);
every buffer once; and every activation the forward produces (autograd keeps most of them for the
backward pass, and the backward's gradients are of the same size). The estimate is an upper bound.

In an asynchronous pipeline a stage also holds, for each micro-batch in flight, a copy of the weights its
forward pass used and either its inputs (Node(recompute=True): the backward pass recomputes the forward,
one micro-batch's activations at a time) or its whole autograd graph (recompute=False): `pipeline_bytes`.
"""

import contextlib
from dataclasses import dataclass

import torch
import torch.fx

BYTES_PER_GB = 1024 ** 3
ADAM_COPIES_PER_PARAMETER = 4  # parameter, gradient, exp_avg, exp_avg_sq


@dataclass(frozen=True)
class ValueInfo:
    """What the example pass saw for one graph value."""

    is_tensor: bool
    dtype: str = None
    shape: tuple = None
    nbytes: int = 0
    requires_grad: bool = False


def describe(value):
    if not isinstance(value, torch.Tensor):
        return ValueInfo(is_tensor=False)
    return ValueInfo(
        is_tensor=True,
        dtype=str(value.dtype).replace("torch.", ""),
        shape=tuple(value.shape),
        nbytes=value.element_size() * value.nelement(),
        requires_grad=value.requires_grad,
    )


class _Recorder(torch.fx.Interpreter):
    def __init__(self, graph_module):
        super().__init__(graph_module)
        self.infos = {}

    def run_node(self, node):
        value = super().run_node(node)
        self.infos[node.name] = describe(value)
        return value


def record_values(graph_module, model_inputs, example_args, example_kwargs):
    """Runs the example through `graph_module` and returns {graph value name: ValueInfo}.

    Runs in eval mode with autograd on: no BatchNorm statistics or dropout change the user's model, and
    `requires_grad` tells which values carry gradients.
    """
    values = [example_args[i.position] if i.position < len(example_args) else example_kwargs[i.keyword]
              for i in model_inputs]
    recorder = _Recorder(graph_module)
    with in_eval_mode(graph_module), torch.enable_grad():
        recorder.run(*values)
    return recorder.infos


@contextlib.contextmanager
def in_eval_mode(module):
    """Puts every submodule in eval mode for the block, then restores each one's own mode."""
    modes = [(submodule, submodule.training) for submodule in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for submodule, training in modes:
            submodule.training = training


def tensor_bytes(tensors):
    return sum(tensor.element_size() * tensor.nelement() for tensor in tensors)


def state_bytes(parameters, buffers):
    """Training memory of a set of parameters and buffers (each given once)."""
    trainable = [p for p in parameters if p.requires_grad]
    frozen = [p for p in parameters if not p.requires_grad]
    return ADAM_COPIES_PER_PARAMETER * tensor_bytes(trainable) + tensor_bytes(frozen) + tensor_bytes(buffers)


def activation_bytes(node, value_infos):
    """Memory of the value `node` produces; attribute reads are state, not activations."""
    return 0 if node.op in ("get_attr", "output") else value_infos[node.name].nbytes


def estimate_training_bytes(graph_module, value_infos):
    """Peak training memory of the whole model: its state plus every activation of the example pass."""
    activations = sum(activation_bytes(node, value_infos) for node in graph_module.graph.nodes)
    return state_bytes(list(graph_module.parameters()), list(graph_module.buffers())) + activations


def pipeline_bytes(graph_module, value_infos, in_flight):
    """Peak memory of one stage with `in_flight` micro-batches in flight, per Node(recompute=...) mode:
    {"recompute": ..., "kept_graph": ...}."""
    state = state_bytes(list(graph_module.parameters()), list(graph_module.buffers()))
    weight_copy = tensor_bytes([p for p in graph_module.parameters() if p.requires_grad])
    activations = sum(activation_bytes(node, value_infos) for node in graph_module.graph.nodes)
    inputs = sum(value_infos[node.name].nbytes for node in graph_module.graph.nodes if node.op == "placeholder")
    return {"recompute": state + in_flight * (weight_copy + inputs) + activations,
            "kept_graph": state + in_flight * (weight_copy + activations)}
