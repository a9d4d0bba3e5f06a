"""Turns the user's model into a torch.fx graph, and explains what to change when fx cannot."""

import inspect
import os
import traceback
from dataclasses import dataclass

import torch
import torch.fx

from .splitting import keep_unsaved_buffers_unsaved


class _Tracer(torch.fx.Tracer):
    # Buffers read in forward() (masks, running statistics) become graph reads of the buffer rather
    # than constants copied into the graph, so they stay the module's state and slice by traced sizes.
    proxy_buffer_attributes = True

    def __init__(self, leaf_modules):
        super().__init__()
        self._leaf_modules = tuple(leaf_modules)

    def is_leaf_module(self, module, qualified_name):
        return isinstance(module, self._leaf_modules) or super().is_leaf_module(module, qualified_name)


@dataclass(frozen=True)
class ModelInput:
    name: str      # the graph's name for the value (placeholder name)
    keyword: str   # the forward() parameter it binds to
    position: int  # that parameter's index in forward()'s signature


def trace_model(model, example_args, example_kwargs, leaf_modules=()):
    """Symbolically traces `model`; returns its GraphModule and the ModelInputs it reads, in signature order.

    Forward parameters that the example leaves out are fixed to their default values, so
    `if mask is None:` branches on them trace. Raises ValueError naming the failing operation and the fix.
    """
    parameters = list(inspect.signature(model.forward).parameters.values())
    fixed = _defaults_of_missing_parameters(parameters, example_args, example_kwargs)
    tracer = _Tracer(leaf_modules)
    try:
        graph = tracer.trace(model, concrete_args=fixed or None)
    except Exception as error:
        raise ValueError(_explain_trace_failure(model, error)) from error
    placeholders = [node for node in graph.nodes if node.op == "placeholder"]
    inputs = []
    for position, (parameter, placeholder) in enumerate(zip(parameters, placeholders)):
        if parameter.name in fixed:
            _erase_with_users(graph, placeholder)
        elif placeholder.users:
            inputs.append(ModelInput(placeholder.name, parameter.name, position))
    graph_module = torch.fx.GraphModule(tracer.root, graph, type(model).__name__)
    keep_unsaved_buffers_unsaved(model, graph_module)
    return graph_module, inputs


def _erase_with_users(graph, node):
    """Removes a fixed parameter's placeholder and the checks fx added that it keeps its value."""
    doomed = [node]
    for doomed_node in doomed:
        doomed.extend(user for user in doomed_node.users if user not in doomed)
    position = {graph_node: index for index, graph_node in enumerate(graph.nodes)}
    for doomed_node in sorted(doomed, key=position.get, reverse=True):
        graph.erase_node(doomed_node)


def _defaults_of_missing_parameters(parameters, example_args, example_kwargs):
    given_positionally = {parameter.name for parameter in parameters[: len(example_args)]}
    return {
        parameter.name: parameter.default
        for parameter in parameters
        if parameter.name not in given_positionally
        and parameter.name not in example_kwargs
        and parameter.default is not inspect.Parameter.empty
    }


def _explain_trace_failure(model, error):
    location = _innermost_user_frame(error)
    where = f" at {location.filename}:{location.lineno} ({location.line.strip()!r})" if location else ""
    return (
        f"torch.fx could not trace {type(model).__name__}{where}: {type(error).__name__}: {error}\n"
        "To fix it, either move the failing operation into a submodule and pass its class in "
        "clusterize(..., leaf_modules=(ThatModule,)) so fx keeps it whole (it must be TorchScript-able), "
        "wrap a failing free function with torch.fx.wrap, or pass values that drive Python control flow "
        "(flags, sizes) as constants instead of model inputs."
    )


def _innermost_user_frame(error):
    torch_dir = os.path.dirname(torch.__file__)
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if not frame.filename.startswith(torch_dir) and frame.filename != __file__]
    return frames[-1] if frames else None
