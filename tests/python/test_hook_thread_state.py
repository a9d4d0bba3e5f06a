"""The compute thread keeps one Python thread state for all its hook calls, in a node trained in this process.

Without it every call ran in a fresh thread state: `threading.local` values were lost between the calls, and
each call mapped and unmapped the state's frame stack (python/src/hook_gil.h)."""

import threading

import torch

import pipeline_scenarios as scenarios
from pipeline_harness import write_node_data
from ravnest import Node, Trainer

SPEC = {"model": "cnn", "batches": 6}


def test_hook_calls_on_the_compute_thread_share_one_thread_state(tmp_path, monkeypatch):
    args, kwargs = scenarios.example_inputs(SPEC)
    write_node_data(tmp_path, scenarios.build_model(SPEC), args, kwargs, nodes=1)
    monkeypatch.chdir(tmp_path)
    per_thread = threading.local()
    calls = []

    def criterion(outputs, targets):
        calls.append((threading.get_ident(), getattr(per_thread, "first_call", None)))
        if not hasattr(per_thread, "first_call"):
            per_thread.first_call = len(calls)
        return scenarios.criterion(outputs, targets)

    data = scenarios.batches(SPEC)
    node = Node(name="node_0", optimizer=torch.optim.SGD, optimizer_params={"lr": 0.01}, criterion=criterion,
                labels=data)
    Trainer(node=node, train_loader=data, epochs=2).train()
    node.shutdown()

    assert len(calls) == 2 * SPEC["batches"]
    assert len({thread for thread, _ in calls}) == 1 and calls[0][0] != threading.get_ident()
    assert [mark for _, mark in calls] == [None] + [1] * (len(calls) - 1)
