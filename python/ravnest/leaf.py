"""The leaf's hooks: the loss against the next labels, and validation scored by a metric.

The C++ compute thread calls these (holding the GIL) with the model-output values by graph name; the model
output is rebuilt from the routing's `model_output` structure, so criteria see what the unsplit model returns.
"""

import collections
import logging

import torch

from ravnest.routing_runtime import build_output

log = logging.getLogger("ravnest.node")

VAL_ACCURACIES_FILE = "val_accuracies.txt"


def top1_accuracy(outputs, targets):
    """Share of rows whose largest score is the target class; targets are class indices or one-hot rows.

    `targets` may be a whole batch from a loader, `(inputs, labels)`: the labels are its last item.
    """
    if isinstance(outputs, (tuple, list)):
        outputs = outputs[0]
    if isinstance(targets, (tuple, list)):
        targets = targets[-1]
    targets = targets.to(outputs.device)
    if targets.shape == outputs.shape and outputs.dim() > 1:
        targets = targets.argmax(dim=-1)
    predicted = outputs.argmax(dim=-1)
    return (predicted == targets.reshape(predicted.shape)).float().mean().item()


class EpochIterator:
    """Hands out batches of an iterable in order, starting over when an epoch begins or the data ends.

    Epoch k gets the iterable's (k+1)-th pass, as on the root, which iterates its loader once per epoch: a
    shuffling loader then gives both the same order. A resumed run starts at a later epoch and batch, so the
    passes of the epochs before it are run through and the batches before it skipped."""

    def __init__(self, iterable, what):
        if iterable is None:
            raise ValueError(f"the leaf node needs {what}")
        self._iterable = iterable
        self._iterator = None
        self._epoch = None
        self._passes = 0  # passes started over the iterable
        self._position = 0  # batches handed out or skipped in the current pass

    def next_for(self, epoch=None, batch=None):
        if self._iterator is None or (epoch is not None and epoch != self._epoch):
            self._restart(epoch)
        while batch is not None and self._position < batch:
            self._next(epoch)
        return self._next(epoch)

    def restart(self):
        self._finish_pass()
        self._iterator = None

    def _next(self, epoch):
        try:
            value = next(self._iterator)
        except StopIteration:
            self._restart(epoch)
            value = next(self._iterator)
        self._position += 1
        return value

    def _finish_pass(self):
        """Runs the current pass to its end, as the root's `for batch in loader` does. A shuffling DataLoader
        draws from its generator once more when its sampler ends; when the last batch is full, that happens
        only after the last batch was handed out, and the next pass's order depends on it."""
        if self._iterator is not None:
            for _ in self._iterator:
                pass

    def _restart(self, epoch):
        self._finish_pass()
        while epoch is not None and self._passes < epoch:
            for _ in self._iterable:
                pass
            self._passes += 1
        self._iterator = iter(self._iterable)
        self._passes += 1
        self._position = 0
        self._epoch = epoch


class LeafHooks:
    """Loss, labels and validation on the leaf; the optimizer hooks come from the node's hooks object.

    Labels come from iterating `labels` and `test_labels` in the root's order, unless the root fed them with
    the micro-batch (fed_labels, fed_test_labels: a node that is root and leaf, see ravnest.fed_batches)."""

    def __init__(self, routing, criterion, labels, test_labels, update_frequency, loss_filename, metric,
                 metrics_log=None):
        if criterion is None:
            raise ValueError("the leaf node needs a criterion: Node(..., criterion=loss_fn)")
        self._structure = routing["model_output"]
        self._criterion = criterion
        self._labels = EpochIterator(labels, "labels: Node(..., labels=train_loader)")
        self._test_labels = None if test_labels is None else EpochIterator(test_labels, "test_labels")
        self._fed = {}  # (epoch, batch) -> the labels batch fed with that training micro-batch
        self._fed_test = collections.deque()  # labels batches fed with validation micro-batches, in order
        self._update_frequency = update_frequency
        self._loss_filename = loss_filename
        # The original wrote the default accuracy in percent; a metric of the user's is written as it is.
        self._percent = metric is None
        self._metric = metric or top1_accuracy
        self._metrics_log = metrics_log
        self.last_loss = None
        self.losses_recorded = 0  # lines written to the loss file
        self._backward_passes = 0
        self._score_sum = 0.0
        self._scored_rows = 0
        self.val_accuracies = []

    def fed_labels(self, epoch, batch, labels):
        """Feeding thread of a root that is the leaf: the labels of training micro-batch (epoch, batch)."""
        self._fed[(epoch, batch)] = labels

    def fed_test_labels(self, labels):
        """Feeding thread of a root that is the leaf: the labels of the next validation micro-batch."""
        self._fed_test.append(labels)

    def loss(self, values, epoch, batch):
        outputs = build_output(self._structure, values)
        targets = self._fed.pop((epoch, batch), None)
        if targets is None:
            targets = self._labels.next_for(epoch, batch)
        loss = self._criterion(outputs, targets)
        self._backward_passes += 1
        if self._backward_passes % self._update_frequency == 0:
            self.last_loss = loss.item()
            self.losses_recorded += 1
            with open(self._loss_filename, "a") as file:
                file.write(f"{self.last_loss}\n")
            if self._metrics_log is not None:
                self._metrics_log.record("train", step=self._backward_passes, epoch=epoch, loss=self.last_loss)
        return loss

    def evaluate_batch(self, values, epoch):
        if self._test_labels is None:
            raise ValueError("validation reached the leaf, which has no test_labels: Node(..., test_labels=val_loader)")
        outputs = build_output(self._structure, values)
        rows = batch_rows(outputs)
        targets = self._fed_test.popleft() if self._fed_test else self._test_labels.next_for()
        self._score_sum += float(self._metric(outputs, targets)) * rows
        self._scored_rows += rows

    def end_evaluation(self):
        """The mean score of the pass's rows: val_accuracies.txt and the printed line hold the default accuracy
        in percent, rounded to 2 decimals, as the original wrote them, and a user's metric unchanged."""
        accuracy = self._score_sum / max(self._scored_rows, 1)
        self._score_sum, self._scored_rows = 0.0, 0
        if self._test_labels is not None:
            self._test_labels.restart()
        self.val_accuracies.append(accuracy)
        if self._metrics_log is not None:
            self._metrics_log.record("validation", step=self._backward_passes, val_accuracy=accuracy)
        shown = round(100 * accuracy, 2) if self._percent else accuracy
        with open(VAL_ACCURACIES_FILE, "a") as file:
            file.write(f"{shown}\n")
        print(f"Validation Accuracy:  {shown:.2f}" if self._percent else f"Validation score:  {shown}", flush=True)


def batch_rows(outputs):
    """Rows of a batch: the first dimension of its first tensor (1 for scalars)."""
    while isinstance(outputs, (tuple, list)):
        outputs = outputs[0]
    if isinstance(outputs, dict):
        return batch_rows(next(iter(outputs.values())))
    return outputs.shape[0] if isinstance(outputs, torch.Tensor) and outputs.dim() > 0 else 1
