"""Splitting real models into TorchScript stages: the chained stages must behave like the model."""

import io

import pytest
import torch

import models
from ravnest.clusterize.model_split import analyse_model, split_and_export
from ravnest.clusterize.splitting import _balanced_cuts
from ravnest.routing_runtime import StageChain, named_leaves

STAGE_COUNTS = (1, 2, 3, 5, 8)


def reloaded(script_module):
    """What a node gets: the stage saved to bytes and loaded back."""
    buffer = io.BytesIO()
    torch.jit.save(script_module, buffer)
    buffer.seek(0)
    return torch.jit.load(buffer)


def uneven_ram(n_stages):
    return [1.0 + stage % 3 for stage in range(n_stages)]


def leaves_of(output):
    if isinstance(output, dict):
        return [leaf for value in output.values() for leaf in leaves_of(value)]
    if isinstance(output, (tuple, list)):
        return [leaf for value in output for leaf in leaves_of(value)]
    return [output]


def like(output, make):
    """`output`'s structure with every tensor replaced by make(tensor)."""
    if isinstance(output, dict):
        return {key: like(value, make) for key, value in output.items()}
    if isinstance(output, (tuple, list)):
        return type(output)(like(value, make) for value in output)
    return make(output)


def assert_outputs_close(expected, actual):
    for want, got in zip(leaves_of(expected), leaves_of(actual), strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("n_stages", STAGE_COUNTS)
@pytest.mark.parametrize("name", models.NAMES)
def test_chained_stages_reproduce_outputs_and_gradients(name, n_stages):
    model, args, kwargs = models.build(name)
    split = split_and_export(analyse_model(model, args, kwargs), uneven_ram(n_stages))
    stages = [reloaded(stage) for stage in split.scripted]
    chain = StageChain(stages, split.routings)
    assert len(stages) == n_stages

    model.eval()
    for stage in stages:
        stage.eval()
    with torch.no_grad():
        assert_outputs_close(model(*args, **kwargs), chain.forward(*args, **kwargs))

    model.train()
    for stage in stages:
        stage.train()
    expected = model(*args, **kwargs)
    output_grads = like(expected, lambda tensor: torch.randn_like(tensor))
    torch.autograd.backward(leaves_of(expected), leaves_of(output_grads))
    actual = chain.forward(*args, **kwargs)
    assert_outputs_close(expected, actual)
    chain.backward(output_grads)

    stage_parameters = [dict(stage.named_parameters()) for stage in stages]
    for parameter_name, parameter in model.named_parameters():
        holders = [params[parameter_name] for params in stage_parameters if parameter_name in params]
        assert len(holders) == 1, f"{parameter_name} is held by {len(holders)} stages"
        torch.testing.assert_close(holders[0].grad, parameter.grad, atol=1e-5, rtol=1e-4,
                                   msg=lambda message: f"gradient of {parameter_name}: {message}")


def test_stage_sizes_follow_node_memory():
    model, args, kwargs = models.build("resnet18")
    analysed = analyse_model(model, args, kwargs)

    def first_stage_share(ram):
        stages = split_and_export(analysed, ram).stages
        counts = [sum(p.numel() for p in stage.module.parameters()) for stage in stages]
        return counts[0] / sum(counts)

    assert first_stage_share([1.0, 3.0]) < 0.4 < 0.6 < first_stage_share([3.0, 1.0])


def test_compute_balance_moves_the_heavy_first_layers_off_the_first_stage():
    model, args, kwargs = models.build("resnet18")
    analysed = analyse_model(model, args, kwargs, time_operations=True)

    def slowest_stage_share(balance):
        stages = split_and_export(analysed, [1.0, 1.0, 1.0], balance).stages
        seconds = [sum(analysed.forward_seconds.get(node.name, 0.0) for node in stage.module.graph.nodes)
                   for stage in stages]
        return max(seconds) / sum(seconds)

    by_memory, by_compute = slowest_stage_share("memory"), slowest_stage_share("compute")
    assert by_compute < by_memory, (by_compute, by_memory)
    assert by_compute < 0.5, by_compute


def test_compute_balance_keeps_every_stage_within_its_nodes_memory():
    # Six equally slow operations; the last one needs 10 units of memory and every node holds 10.
    seconds, costs = [1.0] * 6, [1, 1, 1, 1, 1, 10]
    cuts = _balanced_cuts(seconds, costs, list(range(5)), [10, 10, 10], [1, 1, 1])
    bounds = list(zip([0] + [cut + 1 for cut in cuts], [cut + 1 for cut in cuts] + [6]))
    assert all(sum(costs[start:end]) <= 10 for start, end in bounds), bounds
    assert max(sum(seconds[start:end]) for start, end in bounds) == 3.0, bounds
    # A first operation that fills the first node: it gets a stage of its own, the rest share 2 and 3.
    cuts = _balanced_cuts(seconds, [5, 1, 1, 1, 1, 1], list(range(5)), [5, 10, 10], [1, 1, 1])
    assert cuts[0] == 0 and cuts[1] in (2, 3), cuts
    assert _balanced_cuts(seconds, [5, 1, 1, 1, 1, 1], list(range(5)), [4, 10, 10], [1, 1, 1]) is None


def test_balance_by_compute_needs_timed_operations():
    model, args, kwargs = models.build("cnn")
    with pytest.raises(ValueError, match="time_operations=True"):
        split_and_export(analyse_model(model, args, kwargs), [1.0, 1.0], "compute")


def test_skip_connection_goes_straight_to_its_consumer():
    class UNetLike(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.down = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.middle = torch.nn.Sequential(*(torch.nn.Conv2d(8, 8, 3, padding=1) for _ in range(4)))
            self.up = torch.nn.Conv2d(16, 3, 3, padding=1)

        def forward(self, x):
            skip = self.down(x)
            return self.up(torch.cat([self.middle(skip), skip], dim=1))

    model, x = UNetLike(), torch.randn(1, 3, 8, 8)
    # A tiny first node gets just `down`; the middle convolutions fill stage 1.
    routings = split_and_export(analyse_model(model, (x,)), [0.01, 1.0, 1.0]).routings
    skip = next(out for out in routings[0]["outputs"] if out["name"] == "down")
    assert {consumer["stage"] for consumer in skip["consumers"]} == {1, 2}
    assert "down" not in {entry["name"] for entry in routings[1]["outputs"]}
    assert {"name": "down", "source": {"stage": 0}}.items() <= next(
        entry for entry in routings[2]["inputs"] if entry["name"] == "down").items()


def test_keyword_inputs_feed_every_stage_that_reads_them_without_gradients():
    model, args, kwargs = models.build("bert")
    routings = split_and_export(analyse_model(model, args, kwargs), [1.0, 1.0, 1.0]).routings
    model_inputs = {entry["keyword"]: entry for entry in routings[0]["model_inputs"]}
    assert set(model_inputs) == {"input_ids", "token_type_ids", "attention_mask"}
    assert len({consumer["stage"] for consumer in model_inputs["attention_mask"]["consumers"]}) >= 2
    for routing in routings:
        for entry in routing["inputs"]:
            if "model_input" in entry["source"]:
                assert entry["dtype"] == "int64" and not entry["requires_grad"]
    assert set(routings[-1]["model_output"]["dict"]) == {"mlm_logits", "nsp_logits"}


def test_model_output_produced_early_reaches_the_leaf():
    class TwoHeads(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.early = torch.nn.Linear(4, 4)
            self.late = torch.nn.Sequential(*(torch.nn.Linear(4, 4) for _ in range(3)))

        def forward(self, x):
            early = self.early(x)
            return early, self.late(early)

    model, x = TwoHeads(), torch.randn(2, 4)
    split = split_and_export(analyse_model(model, (x,)), [1.0, 1.0, 1.0])
    early = next(out for out in split.routings[0]["outputs"] if out["name"] == "early")
    assert early["model_output"]
    with torch.no_grad():
        assert_outputs_close(model(x), StageChain(split.scripted, split.routings).forward(x))


def test_tied_parameters_across_stages_are_refused_with_a_fix():
    model, args, kwargs = models.build("mingpt")
    tied = models.MiniGPT(dropout=0.0, tie_weights=True)
    analysed = analyse_model(tied, args, kwargs)
    assert len(split_and_export(analysed, [1.0]).scripted) == 1
    with pytest.raises(ValueError, match=r"wte\.weight.*shared by stages.*Untie"):
        split_and_export(analysed, [1.0, 1.0])


def test_more_stages_than_cut_points_is_refused():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU())
    with pytest.raises(ValueError, match="at most 2 stages.*n_clusters"):
        split_and_export(analyse_model(model, (torch.randn(1, 2),)), [1.0] * 3)


def test_no_stage_receives_a_tensor_it_modifies_in_place():
    layers = [torch.nn.Linear(4, 4), torch.nn.ReLU(inplace=True), torch.nn.Linear(4, 4), torch.nn.ReLU(inplace=True),
              torch.nn.Linear(4, 4)]
    model, x = torch.nn.Sequential(*layers), torch.randn(2, 4)
    analysed = analyse_model(model, (x,))
    split = split_and_export(analysed, [1.0, 1.0, 1.0])
    chain = StageChain(split.scripted, split.routings)
    output = chain.forward(x)
    chain.backward(torch.ones_like(output))  # autograd refuses in-place changes to a received input
    with pytest.raises(ValueError, match="at most 3 stages"):
        split_and_export(analysed, [1.0] * 4)


def test_untraceable_model_error_names_the_operation_and_the_fix():
    class DataDependent(torch.nn.Module):
        def forward(self, x):
            if x.sum() > 0:
                return x * 2
            return x

    with pytest.raises(ValueError, match=r"(?s)if x\.sum\(\) > 0.*leaf_modules"):
        analyse_model(DataDependent(), (torch.randn(2),))


def test_model_is_left_unchanged():
    model, args, kwargs = models.build("cnn")
    model.train()
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    split_and_export(analyse_model(model, args, kwargs), [1.0, 2.0])
    assert model.training
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, before[name]), name


def test_named_leaves_pairs_names_with_output_parts():
    structure = {"tuple": [{"value": "a"}, {"dict": {"k": {"value": "b"}}}, {"constant": None}]}
    assert named_leaves(structure, (1, {"k": 2}, None)) == [("a", 1), ("b", 2)]


def test_compute_balance_gives_a_faster_node_more_of_the_model():
    # Eight equal operations; the second node computes three times as fast, so it takes three times as many.
    cuts = _balanced_cuts([1.0] * 8, [1] * 8, list(range(7)), [100, 100], [1.0, 3.0])
    assert cuts == [1], cuts
