"""The batch that was fed, for a process that is both root and leaf (a one-node cluster).

The original's scripts pass one shuffled DataLoader as the root's `train_loader` and as the leaf's `labels`.
Across processes each one iterates its own copy, and the same seed gives both the same order. In one process
the root's loop and the leaf would iterate the same object twice per epoch and draw two different orders from
its generator: inputs and labels would no longer match. So there the leaf does not iterate `labels` itself:
a FedBatchTap watches the feeding loop's iteration of that object, and each fed micro-batch takes the batch
the loop drew last, whatever the loader is (shuffled or not, a custom loop or the Trainer).
"""

from collections.abc import Iterator

import torch


class _Untapped:
    """Iterates the tapped object without recording: the leaf's own pass when the loop never iterates it."""

    def __init__(self, source, iterate):
        self._source = source
        self._iterate = iterate

    def __iter__(self):
        return self._iterate(self._source)


class FedBatchTap:
    """Records each batch an iteration of `source` yields. take() hands the newest one to the micro-batch being
    fed. Objects of built-in types (lists, tuples, tensors) iterate the same way every time and are not tapped."""

    def __init__(self, source, what):
        self._what = what
        self._latest = None
        self._fresh = False
        self._seen = False
        self.iterable = source
        self.installed = False
        cls = type(source)
        # Not iter(source) to test for an iterator: a DataLoader draws from its generator when iterated.
        if source is None or cls.__module__ == "builtins" or isinstance(source, Iterator) or isinstance(source, torch.Tensor):
            return
        iterate = cls.__iter__
        tap = self

        def tapped_iter(obj):
            for batch in iterate(obj):
                tap._record(batch)
                yield batch
            tap._pass_ended()

        try:
            source.__class__ = type(cls.__name__, (cls,), {"__iter__": tapped_iter, "__module__": cls.__module__,
                                                          "__qualname__": cls.__qualname__})
        except TypeError:
            return
        self.iterable = _Untapped(source, iterate)
        self.installed = True

    def _record(self, batch):
        self._latest = batch
        self._fresh = True
        self._seen = True

    def _pass_ended(self):
        """A whole pass was drawn: until the next one begins, no batch is the one being fed (a pass made before
        training, say, to compute statistics, leaves nothing behind)."""
        self._fresh = False
        self._seen = False

    def take(self):
        """The batch the feeding loop drew last, or None when the loop does not iterate the tapped object (the
        leaf then iterates it itself). Raises ValueError when the loop iterates it but fed a second micro-batch
        without drawing a new batch: its labels would be ambiguous."""
        if not self._seen:
            return None
        if not self._fresh:
            raise ValueError(f"this node is both root and leaf, and its {self._what} is the loader the feeding loop "
                             f"iterates: each micro-batch takes the labels of the batch drawn last, but a second "
                             f"micro-batch was fed without a new batch. Feed each batch once, or pass a separate "
                             f"{self._what} object.")
        self._fresh = False
        return self._latest
