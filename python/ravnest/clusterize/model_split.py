"""From a user model to exported stages and their routing: the steps clusterize runs per cluster."""

from dataclasses import dataclass

import torch

from ..routing_runtime import StageChain
from .compute_cost import forward_seconds
from .export import export_stage
from .memory import estimate_training_bytes, in_eval_mode, pipeline_bytes, record_values
from .routing import build_routing
from .splitting import COMPUTE_OPS, split_model
from .tracing import trace_model


@dataclass
class AnalysedModel:
    graph_module: torch.fx.GraphModule
    model_inputs: list   # tracing.ModelInput, signature order
    value_infos: dict    # graph value name -> memory.ValueInfo
    size_bytes: int      # estimated peak training memory of the whole model
    example_args: tuple
    example_kwargs: dict
    forward_seconds: dict = None  # graph value name -> forward time, when measured (balance="compute")


@dataclass
class ExportedSplit:
    stages: list     # splitting.Stage, with the fx modules
    scripted: list   # TorchScript module per stage
    routings: list   # routing dict per stage
    stage_bytes: list  # estimated peak training memory per stage
    stage_mode_bytes: list  # per stage, memory.pipeline_bytes with the cluster's length in flight


def analyse_model(model, example_args=(), example_kwargs=None, leaf_modules=(), time_operations=False):
    """Traces `model` and measures it on the example input (the model is left unchanged); with
    `time_operations`, also times each operation's forward pass (for split_and_export's balance="compute")."""
    example_kwargs = dict(example_kwargs or {})
    graph_module, model_inputs = trace_model(model, example_args, example_kwargs, leaf_modules)
    value_infos = record_values(graph_module, model_inputs, example_args, example_kwargs)
    seconds = None
    if time_operations:
        seconds = forward_seconds(graph_module, model_inputs, example_args, example_kwargs, COMPUTE_OPS)
    return AnalysedModel(graph_module, model_inputs, value_infos, estimate_training_bytes(graph_module, value_infos),
                         tuple(example_args), example_kwargs, seconds)


def split_and_export(analysed, ram_per_stage, balance="memory", speed_per_stage=None):
    """Splits into len(ram_per_stage) stages, one per node of that memory (GB), and exports each one. Stage
    sizes follow the memory shares (balance="memory") or balance the measured compute within each node's
    memory (balance="compute", which needs analyse_model(time_operations=True)), each node's time divided by its
    relative speed in `speed_per_stage` when given."""
    if balance == "compute" and analysed.forward_seconds is None:
        raise ValueError("balance='compute' needs the operations timed: analyse_model(..., time_operations=True)")
    seconds = analysed.forward_seconds if balance == "compute" else None
    stages = split_model(analysed.graph_module, analysed.value_infos, ram_per_stage, seconds, speed_per_stage)
    routings = build_routing(analysed.graph_module, analysed.model_inputs, stages, analysed.value_infos)
    # Stage arguments on the example input: what a stage is traced with if scripting fails.
    chain = StageChain([stage.module for stage in stages], routings)
    with in_eval_mode(analysed.graph_module), torch.no_grad():
        chain.forward(*analysed.example_args, **analysed.example_kwargs)
    scripted = [export_stage(stage, inputs) for stage, inputs in zip(stages, chain.last_inputs)]
    # Stage graphs keep the model's value names, so the model's measurements apply per stage.
    stage_bytes = [estimate_training_bytes(stage.module, analysed.value_infos) for stage in stages]
    mode_bytes = [pipeline_bytes(stage.module, analysed.value_infos, len(stages)) for stage in stages]
    return ExportedSplit(stages, scripted, routings, stage_bytes, mode_bytes)
