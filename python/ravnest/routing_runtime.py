"""Runs exported stages one after another through their routing JSON, the way the pipeline does.

Each stage gets detached copies of its arguments, as it would after receiving them over the network;
the backward pass sends each argument's gradient back to the stage that produced it, summing over
consumers. Used by clusterize's checks and tests, and as the reference for the runtime.
"""

import torch


def build_output(structure, values):
    """Rebuilds the model output described by a routing `model_output` structure."""
    (kind, content), = structure.items()
    if kind == "value":
        return values[content]
    if kind == "constant":
        return content
    if kind == "dict":
        return {key: build_output(item, values) for key, item in content.items()}
    items = [build_output(item, values) for item in content]
    return tuple(items) if kind == "tuple" else items


def named_leaves(structure, output):
    """Pairs each value name in `structure` with the matching part of `output` (an output or its gradient)."""
    (kind, content), = structure.items()
    if kind == "value":
        return [(content, output)]
    if kind == "constant":
        return []
    if kind == "dict":
        return [pair for key, item in content.items() for pair in named_leaves(item, output[key])]
    return [pair for item, part in zip(content, output) for pair in named_leaves(item, part)]


class StageChain:
    def __init__(self, stages, routings):
        self.stages = stages
        self.routings = routings
        self._records = []

    @property
    def last_inputs(self):
        """Per stage, the arguments it received in the last forward()."""
        return [inputs for inputs, _ in self._records]

    def forward(self, *args, **kwargs):
        """Runs every stage; returns the model output. Keeps what backward() needs when grad is enabled."""
        values = {}
        for entry in self.routings[0]["model_inputs"]:
            given = entry["position"] < len(args)
            values[entry["name"]] = args[entry["position"]] if given else kwargs[entry["keyword"]]
        self._records = []
        for stage, routing in zip(self.stages, self.routings):
            inputs = [self._received(values[entry["name"]], entry["requires_grad"]) for entry in routing["inputs"]]
            outputs = stage(*inputs)
            self._records.append((inputs, outputs))
            values.update(zip((entry["name"] for entry in routing["outputs"]), outputs))
        return build_output(self.routings[-1]["model_output"], values)

    def backward(self, output_grads):
        """Back-propagates `output_grads` (shaped like the model output) through the last forward()."""
        grads = dict(pair for pair in named_leaves(self.routings[-1]["model_output"], output_grads)
                     if pair[1] is not None)
        for routing, (inputs, outputs) in zip(reversed(self.routings), reversed(self._records)):
            pairs = [(tensor, grads[entry["name"]]) for tensor, entry in zip(outputs, routing["outputs"])
                     if entry["name"] in grads and tensor.requires_grad]
            if pairs:
                torch.autograd.backward([tensor for tensor, _ in pairs], [grad for _, grad in pairs])
            for tensor, entry in zip(inputs, routing["inputs"]):
                if tensor.grad is not None and "stage" in entry["source"]:
                    name = entry["name"]
                    grads[name] = grads[name] + tensor.grad if name in grads else tensor.grad

    @staticmethod
    def _received(value, requires_grad):
        received = value.detach()
        return received.requires_grad_() if requires_grad and torch.is_grad_enabled() else received
