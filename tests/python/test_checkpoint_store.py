"""CheckpointStore: snapshots by backward-pass count, the newest kept, written atomically; a run that starts from
the beginning sets an earlier run's checkpoints aside instead of mixing with them or deleting them."""

import json

import torch

from ravnest.checkpoint import KEEP, CheckpointStore


def write(store, step):
    store.write(step, {"w": torch.full((2,), float(step))}, {"optimizer": None, "lr_scheduler": None},
                {"node": "node_0", "reason": "periodic", "epoch": 0, "next_epoch": None, "next_batch": None})


def test_the_newest_are_kept_and_read_back(tmp_path):
    store = CheckpointStore(tmp_path / "checkpoint")
    for step in (3, 6, 9, 12, 15):
        write(store, step)
    assert store.steps() == [3, 6, 9, 12, 15][-KEEP:]
    stage, _, progress = store.read(12)
    assert torch.equal(stage["w"], torch.full((2,), 12.0)) and progress["backward_passes"] == 12
    (tmp_path / "checkpoint" / "step_99.partial").mkdir()  # a write cut short is no checkpoint
    assert 99 not in store.steps()
    store.remove_newer_than(9)
    assert store.steps() == [s for s in [3, 6, 9, 12, 15][-KEEP:] if s <= 9]


def test_a_fresh_start_sets_the_earlier_runs_checkpoints_aside(tmp_path):
    store = CheckpointStore(tmp_path / "checkpoint")
    write(store, 5)
    store.set_aside()
    assert store.steps() == []
    aside = CheckpointStore(tmp_path / "checkpoint.previous-run")
    assert aside.steps() == [5]
    assert json.loads((tmp_path / "checkpoint.previous-run" / "step_5" / "progress.json").read_text())["node"] == "node_0"
