"""The CNN example as users run it: cluster formation, then three providers through ravnest.launch."""

from cnn_example import copy_example, launch
from pipeline_harness import provider_command


def test_cnn_on_three_providers_reaches_94_percent_in_20_epochs(tmp_path):
    copy_example(tmp_path)
    result, _ = launch(tmp_path, "provider.py", env={"RAVNEST_EPOCHS": "20"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    accuracies = [float(line) for line in (tmp_path / "val_accuracies.txt").read_text().split()]
    assert len(accuracies) == 20
    assert accuracies[-1] >= 94  # percent, as the original wrote it
    for node in ("node_0", "node_1", "node_2"):
        assert f"[{node}] peak RSS" in result.stdout
        assert (tmp_path / "logs" / f"{node}.log").exists()


def test_launcher_stops_everyone_and_fails_when_a_provider_fails(tmp_path):
    copy_example(tmp_path)
    spec = {"model": "cnn", "optimizer": "sgd", "update_frequency": 1, "batches": 40, "fail_at": 3}
    # The example's node_data with the test provider: its CNN is the example's, so the stages fit.
    result, seconds = launch(tmp_path, *provider_command(spec)[1:2], *provider_command(spec)[3:])
    assert result.returncode != 0
    assert "criterion failed on purpose" in result.stdout
    assert seconds < 60
