"""ravnest.Trainer: the original Ravnest's training loop on top of ravnest.Node.

On the root it feeds every batch of `train_loader` into the pipeline, validates every `val_freq` epochs and
waits for the backward passes at each epoch's end. On stems and leaves train() serves until the root shuts
the pipeline down (when the root's script ends, or on `node.shutdown()`). Subclasses write custom loops with
`prelim_checks()`, `self.node.forward_compute(...)` and `self.node.wait_for_backwards()` once per epoch: on
stems and leaves `prelim_checks()` serves until the pipeline shuts down and then ends the process with exit
code 0, so the root-only loop after it never runs there.
"""

import torch

from ravnest.leaf import batch_rows
from ravnest.progress import TrainingProgress, progress_wanted


class Trainer:
    def __init__(self, node=None, lr_scheduler=None, lr_scheduler_params=None, train_loader=None, val_loader=None,
                 val_freq=1, save=False, epochs=1, batch_size=64, step_size=1, inputs_dtype=None, progress=None):
        self.node = node
        self.train_loader = train_loader
        self.val_loader = val_loader
        self.val_freq = val_freq
        self.save = save
        self.epochs = epochs
        self.batch_size = batch_size
        self.step_size = step_size
        self.inputs_dtype = inputs_dtype
        # The root's progress bar: None shows it when stdout and stderr are terminals (see ravnest.progress).
        self.progress = progress
        self.lr_scheduler = None
        if lr_scheduler is not None and node is not None and node.optimizer is not None:
            self.lr_scheduler = lr_scheduler(node.optimizer, **(lr_scheduler_params or {}))

    def prelim_checks(self):
        """Checks the trainer can run: a node, and on the root a train_loader. What custom train() loops call
        first: on stems and leaves it serves until the pipeline shuts down, then exits the process (code 0)."""
        self._check_node()
        if not self.node.is_root:
            self.node.serve()
            raise SystemExit(0)

    def train(self):
        """Root: trains for `epochs`; stems and leaves: serve until the pipeline shuts down, then return."""
        self._check_node()
        if not self.node.is_root:
            self.node.serve()
            return
        progress = TrainingProgress(self.node.name, self.epochs, _length(self.train_loader), self._last_loss,
                                    progress_wanted(self.progress))
        try:
            for epoch in range(self.epochs):
                progress.start_epoch(epoch)
                for batch in self.train_loader:
                    inputs = self._inputs_of(batch)
                    self.node.forward_compute(inputs)
                    progress.step(batch_rows(inputs))
                if self.val_loader is not None and (epoch + 1) % self.val_freq == 0:
                    self.evaluate()
                self.node.wait_for_backwards()
                if self.lr_scheduler is not None:
                    self.lr_scheduler.step()
        finally:
            progress.close()
        if self.save:
            self.node.trigger_save_submodel()

    def evaluate(self):
        """Root: runs `val_loader` through the pipeline; the leaf reports the accuracy. Elsewhere: nothing."""
        if self.node is None or not self.node.is_root or self.val_loader is None:
            return
        for batch in self.val_loader:
            self.node.no_grad_forward_compute(self._inputs_of(batch))
        self.node.end_validation()

    def pred(self, input_data):
        """Root: returns the model's output for one batch (evaluation mode: dropout off, BatchNorm on its
        running statistics), computed through the pipeline."""
        if self.node is None:
            raise ValueError("Trainer needs a node: Trainer(node=node, ...)")
        return self.node.predict(self._cast(input_data))

    def _last_loss(self):
        """The latest training loss, known on the root only when it is also the leaf (a one-node cluster)."""
        leaf = getattr(self.node, "leaf", None)
        return None if leaf is None else leaf.last_loss

    def _check_node(self):
        if self.node is None:
            raise ValueError("Trainer needs a node: Trainer(node=node, ...)")
        if self.node.is_root and self.train_loader is None:
            raise ValueError(f"{self.node.name} is the root: Trainer needs train_loader")

    def _inputs_of(self, batch):
        inputs = batch[0] if isinstance(batch, (tuple, list)) else batch
        return self._cast(inputs)

    def _cast(self, inputs):
        if self.inputs_dtype is None:
            return inputs
        if isinstance(inputs, torch.Tensor):
            return inputs.to(self.inputs_dtype)
        if isinstance(inputs, dict):
            return {key: value.to(self.inputs_dtype) for key, value in inputs.items()}
        return [value.to(self.inputs_dtype) for value in inputs]


def _length(loader):
    """Batches per epoch, or None for a loader without a length (the bar then has no total and no ETA)."""
    try:
        return len(loader)
    except TypeError:
        return None
