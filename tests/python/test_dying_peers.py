"""Dying peers and clean shutdown on the CNN example's three providers (root node_0, stem node_1, leaf node_2):
a stem killed with SIGKILL mid-epoch, after its first periodic checkpoint, stops root and leaf within the
heartbeat deadline, naming it, and a restart with resume=True on all three restores one and the same step on
every stage and finishes the training; without a checkpoint on the killed stem the restart stops every node
with an error naming it, and so does a restart where the stem alone lacks resume=True (its checkpoints are kept
aside); a stem that hangs (SIGSTOP) is found by the heartbeats alone; SIGTERM on a provider
shuts the whole pipeline down with a checkpoint on every node."""

import json
import os
import re
import signal
import subprocess
import time

from cnn_example import copy_example
from pipeline_harness import PYTHON
from ravnest.checkpoint import CheckpointStore

# The providers' default peer_loss_grace, in seconds: how long a neighbour may miss its heartbeats.
PEER_LOSS_GRACE = 10
# What stopping may take beyond that deadline: the checkpoint and the interpreter's exit on a busy 2-core machine
# (12-14 s in all were measured with other test suites running beside this one).
EXIT_SLACK = 20
EPOCHS = 8
BATCHES_PER_EPOCH = 23  # 1437 training images in batches of 64


def start(folder, env=None, fresh=()):
    """Starts the three providers (leaf first), those in `fresh` without RAVNEST_RESUME; returns {name: Popen},
    each logging to <name>.log."""
    environment = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", RAVNEST_EPOCHS=str(EPOCHS),
                       **(env or {}))
    processes = {}
    for name in ("node_2", "node_1", "node_0"):
        log = open(folder / f"{name}.log", "a")
        own = {key: value for key, value in environment.items() if not (name in fresh and key == "RAVNEST_RESUME")}
        processes[name] = subprocess.Popen([PYTHON, "provider.py", name], cwd=folder, stdout=log,
                                           stderr=subprocess.STDOUT, env=own)
    return processes


def wait_for_losses(folder, lines, deadline):
    """Until the leaf logged `lines` training losses (the pipeline is mid-training)."""
    path = folder / "losses.txt"
    while not path.exists() or len(path.read_text().split()) < lines:
        assert time.monotonic() < deadline, "training did not get going"
        time.sleep(0.1)


def wait_all(processes, seconds):
    """Exit codes by name, and how long after the call the last one ended; kills what is still running."""
    started = time.monotonic()
    codes = {}
    try:
        for name, process in processes.items():
            codes[name] = process.wait(timeout=max(0.1, seconds - (time.monotonic() - started)))
    except subprocess.TimeoutExpired:
        pass
    finally:
        for name, process in processes.items():
            if process.poll() is None:
                process.kill()
                process.wait()
                codes[name] = "did not stop"
            else:
                codes.setdefault(name, process.returncode)
    return codes, time.monotonic() - started


def logs(folder):
    return {name: (folder / f"{name}.log").read_text() for name in ("node_0", "node_1", "node_2")}


def node_document(folder, name):
    return json.loads((folder / "node_data" / "nodes" / f"{name}.json").read_text())


def checkpoint_folder(folder, name):
    return folder / node_document(folder, name)["template_path"] / "checkpoint"


def checkpoint_steps(folder, name):
    """The backward-pass counts of a node's complete checkpoints, ascending."""
    return CheckpointStore(checkpoint_folder(folder, name)).steps()


def checkpoint_progress(folder, name):
    """The progress of a node's newest checkpoint, or None."""
    steps = checkpoint_steps(folder, name)
    if not steps:
        return None
    return json.loads((checkpoint_folder(folder, name) / f"step_{steps[-1]}" / "progress.json").read_text())


def resumed_step(text):
    """The backward pass a node's last resume restored, from its log."""
    found = re.findall(r"resuming from the checkpoint at backward pass (\d+)", text)
    return int(found[-1]) if found else None


def kill_stem_mid_training(folder, env, wait_for_checkpoint):
    """Starts the three providers, SIGKILLs the stem in the third epoch (once it wrote a periodic checkpoint,
    if asked), checks that root and leaf stop in time naming it; returns the stem's checkpoint steps."""
    stem = node_document(folder, "node_1")
    stem_address = f"{stem['local_host']}:{stem['local_port']}"
    processes = start(folder, env)
    deadline = time.monotonic() + 180
    wait_for_losses(folder, lines=BATCHES_PER_EPOCH * 2 + 5, deadline=deadline)
    while wait_for_checkpoint and not checkpoint_steps(folder, "node_1"):
        assert time.monotonic() < deadline, "the stem wrote no periodic checkpoint"
        time.sleep(0.1)
    processes["node_1"].send_signal(signal.SIGKILL)
    processes["node_1"].wait()
    stem_steps = checkpoint_steps(folder, "node_1")
    survivors = {name: processes[name] for name in ("node_0", "node_2")}
    codes, seconds = wait_all(survivors, PEER_LOSS_GRACE + EXIT_SLACK)
    text = logs(folder)
    print(f"root and leaf stopped {seconds:.1f} s after the stem was killed")
    for name in survivors:
        assert codes[name] not in (0, "did not stop"), text[name][-3000:]
        # Which node failed and where, with the original error's type (not a plain ravnest.Error).
        assert "node_1" in text[name] and stem_address in text[name], text[name][-3000:]
        assert "ravnest._C.NetworkError" in text[name] or "ravnest._C.TimeoutError" in text[name], text[name][-3000:]
        assert "checkpoint written to" in text[name], text[name][-3000:]
    assert seconds < PEER_LOSS_GRACE + EXIT_SLACK, (seconds, {name: text[name][-2000:] for name in survivors})
    return stem_steps


def test_killed_stem_stops_root_and_leaf_and_every_stage_resumes_from_one_step(tmp_path):
    copy_example(tmp_path)
    interval = {"RAVNEST_CHECKPOINT_INTERVAL": "1"}
    stem_steps = kill_stem_mid_training(tmp_path, interval, wait_for_checkpoint=True)
    assert stem_steps, "the stem had a periodic checkpoint"
    held = {name: checkpoint_steps(tmp_path, name) for name in ("node_0", "node_1", "node_2")}
    common = set(held["node_0"]) & set(held["node_1"]) & set(held["node_2"])
    print(f"checkpoints by backward pass: {held}")
    assert common, held  # the periodic ones are a consistent cut
    root = json.loads((checkpoint_folder(tmp_path, "node_0") / f"step_{max(common)}" / "progress.json").read_text())
    assert root["next_epoch"] * BATCHES_PER_EPOCH + root["next_batch"] == max(common), root

    codes, seconds = wait_all(start(tmp_path, {"RAVNEST_RESUME": "1", **interval}), 240)
    text = logs(tmp_path)
    assert set(codes.values()) == {0}, {name: text[name][-3000:] for name in codes}
    steps = {name: resumed_step(text[name]) for name in codes}
    print(f"every node resumed from backward pass {steps} (epoch {root['next_epoch']} batch {root['next_batch']})")
    assert set(steps.values()) == {max(common)}, steps
    accuracies = [float(line) for line in (tmp_path / "val_accuracies.txt").read_text().split()]
    print(f"final accuracy {accuracies[-1]:.2f}%")
    assert accuracies[-1] >= 85, accuracies
    for name in ("node_0", "node_1", "node_2"):
        assert checkpoint_progress(tmp_path, name) is None  # removed once training ended normally


def test_resume_with_no_checkpoint_on_the_killed_node_stops_every_node_naming_it(tmp_path):
    copy_example(tmp_path)
    no_periodic = {"RAVNEST_CHECKPOINT_INTERVAL": "0"}
    assert kill_stem_mid_training(tmp_path, no_periodic, wait_for_checkpoint=False) == []
    codes, seconds = wait_all(start(tmp_path, {"RAVNEST_RESUME": "1", **no_periodic}), 60)
    text = logs(tmp_path)
    print(f"every node stopped {seconds:.1f} s after the resumed start")
    for name in ("node_0", "node_1", "node_2"):
        assert codes[name] not in (0, "did not stop"), text[name][-3000:]
        assert "node_1 has no checkpoint" in text[name], text[name][-3000:]
        assert "without resume=True to train from the beginning" in text[name], text[name][-3000:]


def test_a_provider_restarted_without_resume_stops_every_node_and_keeps_its_checkpoints_aside(tmp_path):
    copy_example(tmp_path)
    interval = {"RAVNEST_CHECKPOINT_INTERVAL": "1"}
    stem_steps = kill_stem_mid_training(tmp_path, interval, wait_for_checkpoint=True)
    processes = start(tmp_path, {"RAVNEST_RESUME": "1", **interval}, fresh={"node_1"})
    codes, seconds = wait_all(processes, 60)
    text = logs(tmp_path)
    print(f"every node stopped {seconds:.1f} s after the mixed start")
    for name in ("node_0", "node_1", "node_2"):
        assert codes[name] not in (0, "did not stop"), text[name][-3000:]
        assert "node_1 started without resume=True while this node resumes" in text[name], text[name][-3000:]
    # The forgetful node's checkpoints are kept aside, not deleted.
    aside = checkpoint_folder(tmp_path, "node_1").with_name("checkpoint.previous-run")
    assert CheckpointStore(aside).steps() == stem_steps


def test_hung_stem_is_found_by_the_heartbeats_within_the_deadline(tmp_path):
    copy_example(tmp_path)
    processes = start(tmp_path)
    wait_for_losses(tmp_path, lines=BATCHES_PER_EPOCH + 5, deadline=time.monotonic() + 180)
    processes["node_1"].send_signal(signal.SIGSTOP)  # alive, connected, silent: no data flows any more
    stopped_at = time.monotonic()
    try:
        lost = "lost node_1"
        while not all(lost in (tmp_path / f"{name}.log").read_text() for name in ("node_0", "node_2")):
            assert time.monotonic() - stopped_at < PEER_LOSS_GRACE + EXIT_SLACK, logs(tmp_path)
            time.sleep(0.2)
        found_after = time.monotonic() - stopped_at
    finally:
        processes["node_1"].send_signal(signal.SIGKILL)
    print(f"root and leaf found the hung stem after {found_after:.1f} s")
    # A ping that gets no answer in time is a timeout, not a refused connection.
    for name in ("node_0", "node_2"):
        line = next(line for line in logs(tmp_path)[name].splitlines() if lost in line)
        assert "answered no heartbeat" in line and "no answer within the deadline" in line, line
    codes, _ = wait_all(processes, EXIT_SLACK)
    assert codes["node_0"] not in (0, "did not stop") and codes["node_2"] not in (0, "did not stop"), codes


def test_sigterm_on_a_provider_checkpoints_every_node_and_stops_the_pipeline(tmp_path):
    copy_example(tmp_path)
    processes = start(tmp_path)
    wait_for_losses(tmp_path, lines=BATCHES_PER_EPOCH + 5, deadline=time.monotonic() + 180)
    processes["node_1"].send_signal(signal.SIGTERM)
    codes, seconds = wait_all(processes, EXIT_SLACK)
    text = logs(tmp_path)
    print(f"the pipeline stopped {seconds:.1f} s after SIGTERM on the stem")
    assert codes["node_1"] == 128 + signal.SIGTERM, text["node_1"][-3000:]
    assert "Traceback" not in text["node_1"], text["node_1"][-3000:]
    for name in ("node_0", "node_2"):
        assert codes[name] not in (0, "did not stop"), text[name][-3000:]
        assert "node_1 stopped: interrupted by SIGTERM" in text[name], text[name][-3000:]
    for name in ("node_0", "node_1", "node_2"):
        progress = checkpoint_progress(tmp_path, name)
        assert progress is not None and progress["backward_passes"] > BATCHES_PER_EPOCH, (name, progress)
        assert "interrupted by SIGTERM" in progress["reason"]
