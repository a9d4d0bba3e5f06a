"""A node's checkpoint: what a node writes when it stops before training ended (a neighbour failed, a signal),
and what `Node(..., resume=True)` continues from. Layout (docs/node_data.md):

    <stage folder>/checkpoint/stage.pt        the stage's parameters and buffers, by state-dict key
    <stage folder>/checkpoint/optimizer.pt    {"optimizer": state_dict or None, "lr_scheduler": state_dict or None}
    <stage folder>/checkpoint/progress.json   epoch, backward passes, the root's next (epoch, batch), why it stopped

The folder is replaced as a whole: the files are written into `checkpoint.partial/`, which is then renamed, so a
node killed while writing leaves the previous checkpoint intact.
"""

import json
import shutil
import time
from pathlib import Path

import torch

FOLDER = "checkpoint"
FORMAT_VERSION = 1


def checkpoint_folder(stage_folder):
    return Path(stage_folder) / FOLDER


def write_checkpoint(folder, stage_state, optimizer_state, progress):
    """Writes a checkpoint into `folder` (replacing the previous one) and returns `folder`."""
    folder = Path(folder)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    torch.save(stage_state, partial / "stage.pt")
    torch.save(optimizer_state, partial / "optimizer.pt")
    document = {"format_version": FORMAT_VERSION, "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **progress}
    (partial / "progress.json").write_text(json.dumps(document, indent=1) + "\n")
    previous = folder.with_name(folder.name + ".previous")
    shutil.rmtree(previous, ignore_errors=True)
    if folder.exists():
        folder.rename(previous)
    partial.rename(folder)
    shutil.rmtree(previous, ignore_errors=True)
    return folder


def read_checkpoint(folder):
    """(stage_state, optimizer_state, progress) of the checkpoint in `folder`, or None when there is none.
    Raises ValueError naming the file when it is unreadable or of another format."""
    folder = Path(folder)
    progress_file = folder / "progress.json"
    if not progress_file.exists():
        return None
    try:
        progress = json.loads(progress_file.read_text())
        if progress.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"format_version {progress.get('format_version')!r}, expected {FORMAT_VERSION}")
        stage_state = torch.load(folder / "stage.pt")
        optimizer_state = torch.load(folder / "optimizer.pt")
    except (OSError, ValueError, RuntimeError) as error:
        raise ValueError(f"the checkpoint in {folder} cannot be read ({error}): remove it to start over") from error
    return stage_state, optimizer_state, progress


def remove_checkpoint(folder):
    """Training ended normally: a later resume=True must not go back to an interrupted run."""
    shutil.rmtree(folder, ignore_errors=True)
