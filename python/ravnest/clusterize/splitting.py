"""Splits a traced model into pipeline stages whose sizes follow the nodes' memory, or balance compute.

How it works:
- The graph's operations, in their (topological) order, are cut into contiguous runs, one per stage.
  Contiguity keeps every dependency pointing forward, so stages run in index order.
- Each operation costs the training memory of the parameters and buffers it is first to read plus the
  activation it produces. By memory (the original Ravnest's rule), cut k is placed where the running cost is
  closest to the share of memory the first k nodes hold, leaving every stage at least one operation.
- By compute, each operation also has an estimated training time (compute_cost), and the cuts minimise the
  slowest stage's time, which bounds the pipeline's throughput, among the splits whose every stage fits its
  node's memory (dynamic programming over the allowed cuts). When none fits, the memory rule decides.
- A cut may only cross tensors: a Python value (a size, a tuple) cannot travel between nodes, so places
  where one would cross are never cut. Nor is a tensor cut off from an operation that modifies it in
  place (ReLU(inplace=True), `out += identity`): the receiving stage would modify an input it needs
  gradients for, which autograd refuses.
- Each stage becomes a GraphModule over the same submodules, at the same qualified names, so stage
  state-dict keys are the original model's. Values from other stages or model inputs become its
  arguments; values that later stages or the model output need become its outputs, always as a tuple.

torch.fx.passes.split_module (torch 1.13) is not used because it passes get_attr values (a module's
own nn.Parameter such as a position embedding, or a mask buffer) into stages as arguments instead of
keeping them inside the stage, and renames submodules (layer1.0.conv1 -> layer1_0_conv1), which would
break state-dict names used by ring plans and model fusion.
"""

import operator
from dataclasses import dataclass
from itertools import accumulate

import torch
import torch.fx

from .compute_cost import seconds_per_updated_element, training_seconds
from .memory import BYTES_PER_GB, activation_bytes, state_bytes

COMPUTE_OPS = ("call_module", "call_function", "call_method")
IN_PLACE_OPERATORS = {operator.iadd, operator.isub, operator.imul, operator.itruediv, operator.ifloordiv,
                      operator.imod, operator.ipow, operator.iand, operator.ior, operator.ixor,
                      operator.ilshift, operator.irshift, operator.imatmul}


@dataclass
class Stage:
    index: int
    module: torch.fx.GraphModule
    inputs: list   # graph value names, in argument order
    outputs: list  # graph value names, in the order of the returned tuple


def split_model(graph_module, value_infos, ram_per_stage, forward_seconds=None, speed_per_stage=None):
    """Returns one Stage per entry of `ram_per_stage` (the memory of the stage's node, in GB). Stage sizes
    follow those shares, or, given `forward_seconds` ({value name: forward time} of every operation, see
    compute_cost), balance the estimated training time within each node's memory; `speed_per_stage` (relative
    compute speeds of the stages' nodes, default all equal) divides each stage's time, so a faster node takes
    more of the model.

    Raises ValueError when the graph has fewer places to cut than the stages need, or when a parameter
    or persistent buffer would be needed by two stages.
    """
    ops = [node for node in graph_module.graph.nodes if node.op in COMPUTE_OPS]
    fresh_state = _fresh_state(graph_module, ops)
    costs = [_memory_cost(node, state, value_infos) for node, state in zip(ops, fresh_state)]
    boundaries = _cuttable_boundaries(graph_module, ops, value_infos)
    cuts = None
    if forward_seconds is not None:
        per_element = seconds_per_updated_element()
        seconds = [training_seconds(forward_seconds[node.name], _trainable_elements(state), per_element)
                   for node, state in zip(ops, fresh_state)]
        speeds = speed_per_stage or [1.0] * len(ram_per_stage)
        cuts = _balanced_cuts(seconds, costs, boundaries, [ram * BYTES_PER_GB for ram in ram_per_stage], speeds)
    if cuts is None:
        cuts = _choose_cuts(costs, boundaries, ram_per_stage)
    bounds = list(zip([0] + [cut + 1 for cut in cuts], [cut + 1 for cut in cuts] + [len(ops)]))
    stages = [_build_stage(graph_module, index, ops[start:end]) for index, (start, end) in enumerate(bounds)]
    _refuse_shared_state(graph_module, stages)
    return stages


def _fresh_state(graph_module, ops):
    """Per operation, the parameters and buffers it is the first to read."""
    seen = set()
    result = []
    for node in ops:
        fresh = [t for t in _state_read_by(graph_module, node) if id(t) not in seen]
        seen.update(id(t) for t in fresh)
        result.append(fresh)
    return result


def _memory_cost(node, state, value_infos):
    parameters = [t for t in state if isinstance(t, torch.nn.Parameter)]
    buffers = [t for t in state if not isinstance(t, torch.nn.Parameter)]
    return state_bytes(parameters, buffers) + activation_bytes(node, value_infos)


def _trainable_elements(state):
    return sum(t.numel() for t in state if isinstance(t, torch.nn.Parameter) and t.requires_grad)


def _state_read_by(graph_module, node):
    tensors = []
    if node.op == "call_module":
        module = graph_module.get_submodule(node.target)
        tensors += list(module.parameters()) + list(module.buffers())
    for argument in node.all_input_nodes:
        if argument.op == "get_attr":
            value = operator.attrgetter(argument.target)(graph_module)
            if isinstance(value, torch.Tensor):
                tensors.append(value)
    return tensors


def _cuttable_boundaries(graph_module, ops, value_infos):
    """Boundaries b (a cut after ops[b]) that only tensors cross, none of them into an in-place operation."""
    position = {node: index for index, node in enumerate(ops)}
    blocked = set()
    for index, node in enumerate(ops):
        if not value_infos[node.name].is_tensor:
            last_use = max((position.get(user, len(ops)) for user in node.users), default=index)
            blocked.update(range(index, last_use))
        mutated = _modified_in_place(graph_module, node)
        if mutated in position:
            blocked.update(range(position[mutated], index))
    return [b for b in range(len(ops) - 1) if b not in blocked]


def _modified_in_place(graph_module, node):
    """The graph value `node` modifies in place (always its first argument), or None."""
    first = node.args[0] if node.args else None
    if node.op == "call_module":
        in_place = getattr(graph_module.get_submodule(node.target), "inplace", False) is True
    elif node.op == "call_method":
        in_place = node.target.endswith("_") and not node.target.endswith("__")
    else:
        name = getattr(node.target, "__name__", "")
        in_place = (node.target in IN_PLACE_OPERATORS or node.kwargs.get("inplace") is True
                    or (name.endswith("_") and not name.endswith("__")))
    return first if in_place else None


def _choose_cuts(costs, boundaries, ram_per_stage):
    needed = len(ram_per_stage) - 1
    if len(boundaries) < needed:
        raise ValueError(
            f"the model can be split into at most {len(boundaries) + 1} stages, but a cluster of "
            f"{len(ram_per_stage)} nodes needs {len(ram_per_stage)}; pass a larger n_clusters to clusterize "
            "so clusters have fewer nodes")
    running_cost = list(accumulate(costs))
    total_cost, total_ram = running_cost[-1], sum(ram_per_stage)
    targets = [share / total_ram * total_cost for share in list(accumulate(ram_per_stage))[:-1]]
    cuts, first_allowed = [], 0
    for k, target in enumerate(targets):
        # Leave enough boundaries after this cut for the cuts still to come.
        allowed = boundaries[first_allowed: len(boundaries) - (needed - k - 1)]
        best = min(range(len(allowed)), key=lambda i: abs(running_cost[allowed[i]] - target))
        cuts.append(allowed[best])
        first_allowed += best + 1
    return cuts


def _balanced_cuts(seconds, costs, boundaries, capacities, speeds):
    """Cuts (as in _choose_cuts) that minimise the largest stage time (its operations' seconds over its node's
    relative speed) among those whose every stage's memory cost stays within its capacity; None when no such
    split exists.

    best[k] maps where the first k stages can end (the op index the next stage starts at) to the smallest
    slowest-stage time of those k stages; came_from[k] to where their last stage starts. A stage ends at an
    allowed cut, the last one at the last op."""
    stages = len(capacities)
    time_before = [0.0, *accumulate(seconds)]
    memory_before = [0, *accumulate(costs)]
    cut_ends = [boundary + 1 for boundary in boundaries]
    best = [{0: 0.0}]
    came_from = [{}]
    for stage in range(stages):
        reachable, previous = {}, {}
        for end in ([len(seconds)] if stage == stages - 1 else cut_ends):
            for start, slowest in best[stage].items():
                if start >= end or memory_before[end] - memory_before[start] > capacities[stage]:
                    continue
                candidate = max(slowest, (time_before[end] - time_before[start]) / speeds[stage])
                if candidate < reachable.get(end, float("inf")):
                    reachable[end], previous[end] = candidate, start
        best.append(reachable)
        came_from.append(previous)
    if len(seconds) not in best[stages]:
        return None
    cuts, end = [], len(seconds)
    for stage in range(stages, 1, -1):
        end = came_from[stage][end]
        cuts.append(end - 1)
    return cuts[::-1]


def _build_stage(graph_module, index, nodes):
    members = set(nodes)
    inputs = _unique(arg for node in nodes for arg in node.all_input_nodes
                     if arg not in members and arg.op != "get_attr")
    outputs = [node for node in nodes if any(user not in members for user in node.users)]
    graph = torch.fx.Graph()
    env = {node: graph.placeholder(node.name) for node in inputs}

    def lookup(value):
        if value not in env:  # a get_attr read: each stage reads its own attributes
            env[value] = graph.node_copy(value)
        return env[value]

    for node in nodes:
        env[node] = graph.node_copy(node, lookup)
    graph.output(tuple(env[node] for node in outputs))
    module = torch.fx.GraphModule(graph_module, graph, f"Stage{index}")
    keep_unsaved_buffers_unsaved(graph_module, module)
    return Stage(index, module, [n.name for n in inputs], [n.name for n in outputs])


def _unique(items):
    return list(dict.fromkeys(items))


def keep_unsaved_buffers_unsaved(model, graph_module):
    """GraphModule saves every tensor attribute it copies (register_buffer's default, persistent=True): marks
    the buffers of `graph_module` that `model` does not save as not saved, so state-dict keys stay the model's."""
    saved = set(model.state_dict())
    for name, _ in list(graph_module.named_buffers()):
        if name not in saved:
            owner_name, _, field = name.rpartition(".")
            graph_module.get_submodule(owner_name)._non_persistent_buffers_set.add(field)


def _refuse_shared_state(graph_module, stages):
    names_of = {}
    for name, tensor in graph_module.state_dict(keep_vars=True).items():
        names_of.setdefault(id(tensor), []).append(name)
    users = {}
    for stage in stages:
        for tensor in stage.module.state_dict(keep_vars=True).values():
            users.setdefault(id(tensor), set()).add(stage.index)
    for key, stage_indices in users.items():
        if len(stage_indices) > 1 and key in names_of:
            names = " = ".join(names_of[key])
            raise ValueError(
                f"{names} is shared by stages {sorted(stage_indices)}: ravnest does not keep copies of a "
                "shared (tied) parameter in sync across nodes. Untie it (give each module its own "
                "nn.Parameter, e.g. copy the tensor), or pass a larger n_clusters to clusterize so clusters have "
                "fewer nodes and its users can share one stage.")
