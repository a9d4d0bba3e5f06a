"""The root's training progress bar (tqdm): epoch, step, samples/s, last loss when known, ETA.

Shown only when both stdout and stderr are terminals, so logs, pipes and the launcher (which pipes every
provider's output) never get bar redraws. RAVNEST_PROGRESS=1 or 0 forces it on or off.
"""

import os
import sys
import time

PROGRESS_ENV = "RAVNEST_PROGRESS"


def progress_wanted(setting=None):
    """`setting` True/False wins; else RAVNEST_PROGRESS=1/0; else whether stdout and stderr are terminals."""
    if setting is not None:
        return bool(setting)
    forced = os.environ.get(PROGRESS_ENV)
    if forced is not None:
        return forced.strip().lower() not in ("0", "false", "no", "off", "")
    return _is_terminal(sys.stdout) and _is_terminal(sys.stderr)


def _is_terminal(stream):
    try:
        return stream is not None and stream.isatty()
    except ValueError:  # closed
        return False


class TrainingProgress:
    """One bar over every training batch of every epoch. `last_loss()` returns the latest loss or None."""

    def __init__(self, node_name, epochs, batches_per_epoch, last_loss, enabled):
        self._epochs = epochs
        self._last_loss = last_loss
        self._bar = None
        self._samples = 0
        self._started = time.monotonic()
        if enabled:
            from tqdm import tqdm

            total = epochs * batches_per_epoch if batches_per_epoch else None
            self._bar = tqdm(total=total, desc=node_name, unit="step", dynamic_ncols=True, file=sys.stderr)

    def start_epoch(self, epoch):
        if self._bar is not None:
            self._bar.set_description(f"epoch {epoch + 1}/{self._epochs}")

    def step(self, samples):
        """One batch of `samples` rows went into the pipeline."""
        if self._bar is None:
            return
        self._samples += samples
        elapsed = time.monotonic() - self._started
        postfix = {"samples/s": f"{self._samples / elapsed:.0f}" if elapsed > 0 else "-"}
        loss = self._last_loss()
        if loss is not None:
            postfix["loss"] = f"{loss:.4g}"
        self._bar.set_postfix(postfix, refresh=False)
        self._bar.update(1)

    def close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None
