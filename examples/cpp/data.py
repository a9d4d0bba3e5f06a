"""The batches every provider reads, written once by cluster_formation.py into data/digits_batches.pt.

The file is torch.save'd dict of four lists of tensors: `train_inputs` and `val_inputs` (float32, 64 pixels in
[0, 1] per row) for the root, `train_labels` and `val_labels` (int64 class indices) for the leaf. Batch k of
the inputs and batch k of the labels hold the same samples, so a leaf in any language pairs each micro-batch
with its labels by position; the C++ leaf reads the same file with torch::pickle_load.
"""

from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

DATA_FILE = Path("data") / "digits_batches.pt"
BATCH_SIZE = 64
SEED = 42


def write_batches(path=DATA_FILE, batch_size=BATCH_SIZE):
    """Splits sklearn's digits 80/20 (shuffled from a fixed seed) and saves them as batches to `path`."""
    digits = load_digits()
    pixels = (digits.data / 16.0).astype(np.float32)
    x_train, x_val, y_train, y_val = train_test_split(pixels, digits.target.astype(np.int64), test_size=0.2,
                                                      random_state=SEED)
    batches = {}
    for split, inputs, labels in (("train", x_train, y_train), ("val", x_val, y_val)):
        # Clones: each batch gets its own storage, so the file holds no views into a larger tensor.
        batches[f"{split}_inputs"] = [b.clone() for b in torch.from_numpy(inputs).split(batch_size)]
        batches[f"{split}_labels"] = [b.clone() for b in torch.from_numpy(labels).split(batch_size)]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save(batches, path)


def load_batches(path=DATA_FILE):
    """The dict write_batches saved."""
    if not Path(path).exists():
        raise SystemExit(f"{path} is missing: run cluster_formation.py first")
    return torch.load(path)
