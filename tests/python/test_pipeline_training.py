"""The pipeline end to end: real provider processes, real gRPC, compared with single-process PyTorch."""

import json

import pytest
import torch

import pipeline_scenarios as scenarios
from pipeline_harness import provider_command, run_providers, write_node_data
from ravnest import model_fusion


def split_and_train(folder, spec, nodes=3, timeout=120):
    model = scenarios.build_model(spec)
    args, kwargs = scenarios.example_inputs(spec)
    write_node_data(folder, model, args, kwargs, nodes)
    codes, logs, seconds = run_providers(folder, nodes, provider_command(spec), timeout=timeout)
    return codes, logs, seconds


def assert_all_exited_cleanly(codes, logs):
    failed = {name: logs[name][-3000:] for name, code in codes.items() if code != 0}
    assert not failed, json.dumps(failed, indent=1)


def train_cleanly(folder, spec, nodes=3):
    """Splits and trains; every provider must exit 0."""
    codes, logs, _ = split_and_train(folder, spec, nodes)
    assert_all_exited_cleanly(codes, logs)


def assert_matches_reference(folder, spec, monkeypatch):
    monkeypatch.chdir(folder)
    fused = model_fusion(cluster_id=0)
    reference = scenarios.train_reference(spec)
    assert set(fused) == set(reference)
    model = scenarios.build_model(spec)
    model.load_state_dict(fused)  # the fused keys are the unsplit model's
    for key, expected in reference.items():
        torch.testing.assert_close(fused[key], expected, rtol=1e-5, atol=1e-5, msg=lambda m: f"{key}: {m}")


def fused_model(folder, spec, monkeypatch):
    """The unsplit model with the state dict model_fusion wrote, loaded strictly, in eval mode."""
    monkeypatch.chdir(folder)
    model_fusion(cluster_id=0)
    model = scenarios.build_model(spec)
    model.load_state_dict(torch.load(folder / "trained" / "trained_state_dict.pt"), strict=True)
    return model.eval()


def assert_prediction_is_the_fused_models(folder, spec, monkeypatch):
    """Trainer.pred at the root returned what the fused unsplit model computes on the same batch."""
    model = fused_model(folder, spec, monkeypatch)
    inputs = scenarios.prediction_inputs(spec)
    with torch.no_grad():
        expected = model(**inputs) if isinstance(inputs, dict) else model(inputs)
    predicted = torch.load(folder / "predictions.pt")
    assert predicted.shape == expected.shape
    torch.testing.assert_close(predicted, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("model,optimizer,update_frequency", [
    ("cnn", "adam", 1), ("cnn", "sgd", 1), ("cnn", "adam", 4), ("cnn", "sgd", 4),
    ("skip", "sgd", 1), ("kwargs", "adam", 2),
])
def test_synchronous_pipeline_matches_single_process_training(tmp_path, monkeypatch, model, optimizer,
                                                              update_frequency):
    spec = {"model": model, "optimizer": optimizer, "update_frequency": update_frequency,
            "batches": 20 * update_frequency, "max_in_flight": 1}
    train_cleanly(tmp_path, spec)
    assert_matches_reference(tmp_path, spec, monkeypatch)


@pytest.mark.parametrize("model,optimizer,update_frequency,schedule,recompute", [
    ("cnn", "adam", 1, "zb", True), ("skip", "sgd", 2, "zb", False), ("nested", "sgd", 1, "zb", False),
    ("kwargs", "adam", 1, "1f1b", False),
])
def test_zero_bubble_and_kept_graphs_match_single_process_training(tmp_path, monkeypatch, model, optimizer,
                                                                   update_frequency, schedule, recompute):
    """B and a deferred W, or graphs kept from the forward pass, compute exactly the ordinary gradients."""
    spec = {"model": model, "optimizer": optimizer, "update_frequency": update_frequency,
            "batches": 12 * update_frequency, "max_in_flight": 1, "schedule": schedule, "recompute": recompute}
    train_cleanly(tmp_path, spec)
    assert_matches_reference(tmp_path, spec, monkeypatch)


@pytest.mark.parametrize("recompute", [True, False])
def test_asynchronous_zero_bubble_pipeline_trains_and_exits(tmp_path, recompute):
    spec = {"model": "nested", "optimizer": "adam", "update_frequency": 1, "batches": 24, "epochs": 2,
            "schedule": "zb", "recompute": recompute}
    codes, logs, _ = split_and_train(tmp_path, spec, nodes=3)
    assert_all_exited_cleanly(codes, logs)
    losses = [float(line) for line in (tmp_path / "losses.txt").read_text().split()]
    assert len(losses) == 48
    assert sum(losses[-8:]) < sum(losses[:8])


@pytest.mark.parametrize("compression", [True, "int8-blockwise"])
def test_four_stage_asynchronous_pipeline_with_compression_trains_and_exits(tmp_path, compression):
    spec = {"model": "cnn", "optimizer": "adam", "update_frequency": 1, "batches": 24, "epochs": 2,
            "compression": compression}
    codes, logs, _ = split_and_train(tmp_path, spec, nodes=4)
    assert_all_exited_cleanly(codes, logs)
    losses = [float(line) for line in (tmp_path / "losses.txt").read_text().split()]
    assert len(losses) == 48
    assert sum(losses[-8:]) < sum(losses[:8])
    assert sorted(p.name for p in (tmp_path / "trained" / "cluster_0").iterdir()) == [
        f"submod_{stage}.pt" for stage in range(4)]


def test_raising_hook_stops_every_node_with_its_message(tmp_path):
    spec = {"model": "cnn", "optimizer": "sgd", "update_frequency": 1, "batches": 40, "fail_at": 5}
    codes, logs, seconds = split_and_train(tmp_path, spec, timeout=60)
    assert all(code not in (0, "timeout") for code in codes.values()), codes
    message = "criterion failed on purpose at micro-batch 5"
    for name, log in logs.items():
        assert message in log, f"{name} did not report the hook's error:\n{log[-2000:]}"
    assert "node_0: stopping because node_2 stopped" in logs["node_0"]
    assert seconds < 45


def test_fused_nested_model_loads_strictly_and_predicts_like_the_pipeline(tmp_path, monkeypatch):
    spec = {"model": "nested", "optimizer": "adam", "update_frequency": 1, "batches": 12, "epochs": 2,
            "predict": True}
    train_cleanly(tmp_path, spec)
    assert_prediction_is_the_fused_models(tmp_path, spec, monkeypatch)
    # Trained weights, not the initial ones: the prediction would otherwise prove little.
    initial = scenarios.build_model(spec).state_dict()
    trained = torch.load(tmp_path / "trained" / "trained_state_dict.pt")
    assert not torch.equal(initial["blocks.2.inner.0.weight"], trained["blocks.2.inner.0.weight"])
    assert not torch.equal(initial["blocks.0.inner.1.running_mean"], trained["blocks.0.inner.1.running_mean"])


def test_fused_state_dict_leaves_out_buffers_the_model_does_not_save(tmp_path, monkeypatch):
    spec = {"model": "unsaved_buffer", "optimizer": "adam", "update_frequency": 1, "batches": 12,
            "max_in_flight": 1}
    train_cleanly(tmp_path, spec)
    saved = {key for path in (tmp_path / "trained" / "cluster_0").glob("submod_*.pt") for key in torch.load(path)}
    assert "offsets" in saved  # the stage that reads it saves it: model_fusion has something to leave out
    assert_matches_reference(tmp_path, spec, monkeypatch)  # the model's keys only, loaded strictly


def test_custom_trainer_subclass_with_keyword_inputs_matches_single_process_training(tmp_path, monkeypatch):
    spec = {"model": "kwargs", "optimizer": "sgd", "update_frequency": 1, "batches": 20, "max_in_flight": 1,
            "custom_trainer": True}
    train_cleanly(tmp_path, spec)
    assert_matches_reference(tmp_path, spec, monkeypatch)


def test_one_node_cluster_trains_the_whole_model_and_predicts(tmp_path, monkeypatch):
    spec = {"model": "cnn", "optimizer": "adam", "update_frequency": 2, "batches": 20, "predict": True}
    train_cleanly(tmp_path, spec, nodes=1)
    assert_matches_reference(tmp_path, spec, monkeypatch)
    assert_prediction_is_the_fused_models(tmp_path, spec, monkeypatch)
