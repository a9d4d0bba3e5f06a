"""The C++ root checks each micro-batch when it is fed: one without a model input is refused at once, instead of
waiting for a part that never comes until backward_timeout."""

import json
import os
import time

import pytest
import torch

from pipeline_harness import write_node_data
from pipeline_scenarios import MaskedNet, example_inputs
from ravnest import _C


def test_a_micro_batch_without_a_model_input_is_refused_when_fed(tmp_path):
    args, kwargs = example_inputs({"model": "kwargs"})
    write_node_data(tmp_path, MaskedNet(), args, kwargs, nodes=1)
    previous = os.getcwd()
    os.chdir(tmp_path)
    try:
        node = _C.Node("node_data/nodes/node_0.json", startup_timeout=5.0)
        routing = json.loads(open(node.routing_path).read())
        names = {entry["keyword"]: entry["name"] for entry in routing["model_inputs"]}
        assert set(names) == {"x", "mask"}, names
        started = time.monotonic()
        for call in (lambda inputs: node.forward_compute(inputs, 0, 0), lambda inputs: node.evaluate_batch(inputs, 0),
                     lambda inputs: node.predict(inputs, 0)):
            with pytest.raises(_C.InvalidArgumentError, match=f"the model input '{names['mask']}' is missing"):
                call({names["x"]: torch.zeros(4, 16)})
        assert time.monotonic() - started < 1.0
        del node
    finally:
        os.chdir(previous)
