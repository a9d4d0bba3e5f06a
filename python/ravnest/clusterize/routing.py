"""Describes, as JSON-ready dicts, how values travel between the stages of one split.

Every value is named by its graph name. For each stage the routing says where each argument comes
from (a model input, or the stage that produced it, however far back: skip connections go straight to
their consumer) and which later stages consume each output. Gradients travel the same edges backward,
but only for values that require grad (token ids and masks never do). See docs/node_data.md.
"""

import torch.fx

ROUTING_FORMAT_VERSION = 1


def build_routing(graph_module, model_inputs, stages, value_infos):
    """Returns one routing dict per stage."""
    producer = {name: stage.index for stage in stages for name in stage.outputs}
    consumers = {}
    for stage in stages:
        for position, name in enumerate(stage.inputs):
            consumers.setdefault(name, []).append({"stage": stage.index, "input": position})
    output_node = next(node for node in graph_module.graph.nodes if node.op == "output")
    model_output = _structure(output_node.args[0])
    in_model_output = {node.name for node in output_node.all_input_nodes}
    shared = {
        "format_version": ROUTING_FORMAT_VERSION,
        "num_stages": len(stages),
        "model_inputs": [
            {"name": i.name, "keyword": i.keyword, "position": i.position,
             "consumers": consumers.get(i.name, []), "model_output": i.name in in_model_output}
            for i in model_inputs],
        "model_output": model_output,
    }

    def describe(name):
        info = value_infos[name]
        shape = list(info.shape) if info.is_tensor else None
        return {"dtype": info.dtype, "shape": shape, "requires_grad": info.requires_grad}

    def source(name):
        return {"stage": producer[name]} if name in producer else {"model_input": name}

    return [
        dict(shared,
             stage=stage.index,
             unsaved_buffers=unsaved_buffers(stage.module),
             inputs=[dict(name=name, source=source(name), **describe(name)) for name in stage.inputs],
             outputs=[dict(name=name, consumers=consumers.get(name, []), model_output=name in in_model_output,
                           **describe(name)) for name in stage.outputs])
        for stage in stages
    ]


def unsaved_buffers(stage_module):
    """The stage's buffers that the model's state dict leaves out (registered with persistent=False), by
    state-dict name: TorchScript forgets which buffers those are, and model_fusion must leave them out."""
    saved = set(stage_module.state_dict())
    return [name for name, _ in stage_module.named_buffers() if name not in saved]


def _structure(argument):
    """The model output's shape (tensor, tuple, list, dict, constants) with values named by graph name."""
    if isinstance(argument, torch.fx.Node):
        return {"value": argument.name}
    if isinstance(argument, (tuple, list)):
        return {type(argument).__name__: [_structure(item) for item in argument]}
    if isinstance(argument, dict) and all(isinstance(key, str) for key in argument):
        return {"dict": {key: _structure(item) for key, item in argument.items()}}
    if argument is None or isinstance(argument, (bool, int, float, str)):
        return {"constant": argument}
    raise ValueError(f"the model returns a {type(argument).__name__}; return tensors in tuples, lists or "
                     "dicts with string keys")
