"""A node's checkpoints: snapshots of its stage after a given number of backward passes, which
`Node(..., resume=True)` continues from. Layout (docs/node_data.md):

    <stage folder>/checkpoint/step_<N>/stage.pt        the stage's parameters and buffers, by state-dict key
    <stage folder>/checkpoint/step_<N>/optimizer.pt    {"optimizer": state_dict or None, "lr_scheduler": ...}
    <stage folder>/checkpoint/step_<N>/progress.json   epoch, backward passes N, the root's next (epoch, batch)

N is the count of backward passes (training micro-batches) the snapshot follows. Every stage of a job counts them
alike, so the snapshots with the same N on every node form a consistent cut, and a resumed job restores the
newest N that all nodes hold. A node keeps its newest KEEP snapshots. Each is written into `step_<N>.partial/`
and renamed, so a node killed while writing leaves the others intact.
"""

import json
import logging
import queue
import re
import shutil
import threading
import time
from pathlib import Path

import torch

FOLDER = "checkpoint"
PREVIOUS_RUN = ".previous-run"
FORMAT_VERSION = 2
KEEP = 4
_STEP = re.compile(r"step_(\d+)")

log = logging.getLogger("ravnest.node")


def checkpoint_folder(stage_folder):
    return Path(stage_folder) / FOLDER


class CheckpointStore:
    """The checkpoints in one node's checkpoint folder."""

    def __init__(self, folder, keep=KEEP):
        self.folder = Path(folder)
        self._keep = keep

    def steps(self):
        """Backward-pass counts of the complete checkpoints, ascending."""
        if not self.folder.is_dir():
            return []
        found = (_STEP.fullmatch(path.name) for path in self.folder.iterdir())
        return sorted(int(match.group(1)) for match in found
                      if match and (self.folder / match.group(0) / "progress.json").exists())

    def write(self, step, stage_state, optimizer_state, progress):
        """Writes the checkpoint of `step` and drops the oldest beyond KEEP. Returns its folder."""
        final = self.folder / f"step_{step}"
        partial = self.folder / f"step_{step}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        torch.save(stage_state, partial / "stage.pt")
        torch.save(optimizer_state, partial / "optimizer.pt")
        document = {"format_version": FORMAT_VERSION, "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    **progress, "backward_passes": step}
        (partial / "progress.json").write_text(json.dumps(document, indent=1) + "\n")
        shutil.rmtree(final, ignore_errors=True)
        partial.rename(final)
        for old in self.steps()[:-self._keep]:
            shutil.rmtree(self.folder / f"step_{old}", ignore_errors=True)
        return final

    def read(self, step):
        """(stage_state, optimizer_state, progress) of `step`. Raises ValueError naming the folder when it is
        unreadable or of another format."""
        folder = self.folder / f"step_{step}"
        try:
            progress = json.loads((folder / "progress.json").read_text())
            if progress.get("format_version") != FORMAT_VERSION:
                raise ValueError(f"format_version {progress.get('format_version')!r}, expected {FORMAT_VERSION}")
            stage_state = torch.load(folder / "stage.pt")
            optimizer_state = torch.load(folder / "optimizer.pt")
        except (OSError, ValueError, RuntimeError) as error:
            raise ValueError(f"the checkpoint in {folder} cannot be read ({error}): remove it to start over") from error
        return stage_state, optimizer_state, progress

    def remove_newer_than(self, step):
        """A resumed run goes on from `step`: later snapshots belong to the abandoned run."""
        for newer in self.steps():
            if newer > step:
                shutil.rmtree(self.folder / f"step_{newer}", ignore_errors=True)

    def remove_all(self):
        """Training ended normally: a later resume=True must not go back to an interrupted run."""
        shutil.rmtree(self.folder, ignore_errors=True)

    def set_aside(self):
        """A run that starts from the beginning: the checkpoints of an earlier run must not mix with this run's,
        so they move to `checkpoint.previous-run/` (replacing an older one), where a start without resume=True
        by mistake can take them back from (rename the folder to `checkpoint/`)."""
        if not self.steps():
            return
        previous = self.folder.with_name(self.folder.name + PREVIOUS_RUN)
        shutil.rmtree(previous, ignore_errors=True)
        self.folder.rename(previous)
        log.warning("the checkpoints of an earlier run were moved to %s: this run starts from the beginning "
                    "(rename that folder to %s and start every provider with resume=True to go on from them)",
                    previous, self.folder.name)


class CheckpointWriter:
    """Writes checkpoints on a thread of its own, so that the compute thread only copies the state. One write
    at a time, in order; a failed write is logged and the next one goes on."""

    def __init__(self, store, node_name):
        self._store = store
        self._name = node_name
        self._queue = queue.Queue()
        self.written = []
        self._thread = threading.Thread(target=self._run, name=f"{node_name}-checkpoints", daemon=True)
        self._thread.start()

    def submit(self, step, stage_state, optimizer_state, progress):
        self._queue.put((step, stage_state, optimizer_state, progress))

    def close(self):
        """Waits for the queued writes."""
        self._queue.put(None)
        self._thread.join()

    def _run(self):
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self._store.write(*item)
                self.written.append(item[0])
                log.info("%s: checkpoint at backward pass %s written", self._name, item[0])
            except Exception as error:  # the thread goes on: a later snapshot may well succeed
                log.error("%s: the checkpoint at backward pass %s could not be written: %s", self._name, item[0],
                          error)
