"""Smoke tests of the ResNet-50, Inception-V3, sorter and BERT examples: cluster formation, then one short epoch on
three providers through ravnest.launch; the training loss must go down."""

from pathlib import Path

import pytest

from cnn_example import copy_example, launch

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def mean(values):
    return sum(values) / len(values)


def assert_loss_went_down(folder):
    losses = [float(line) for line in (folder / "losses.txt").read_text().split()]
    tenth = max(1, len(losses) // 10)
    assert len(losses) >= 20, losses
    assert mean(losses[-tenth:]) < mean(losses[:tenth]), losses


@pytest.mark.parametrize("example, arguments", [
    ("resnet50", ["--epochs", "1", "--train-size", "960", "--val-size", "32"]),
    ("inception_v3", ["--epochs", "1", "--train-size", "960", "--val-size", "32"]),
    ("sorter", ["--epochs", "1", "--samples", "3200"]),
    # 20 updates of 16 micro-batches: the leaf writes one loss per update.
    ("bert", ["--epochs", "1", "--samples", "10240"]),
])
def test_example_trains_one_short_epoch(tmp_path, example, arguments):
    copy_example(tmp_path, example=EXAMPLES / example)
    result, _ = launch(tmp_path, "provider.py", *arguments)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert_loss_went_down(tmp_path)
    if example == "sorter":
        assert "held-out accuracy" in result.stdout
    if example == "bert":
        assert "held-out masked-word accuracy" in result.stdout
