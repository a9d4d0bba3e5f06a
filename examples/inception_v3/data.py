"""sklearn's handwritten digits as 32x32 colour images, the Inception-V3 example's dataset.

The 8x8 digits ship with scikit-learn (nothing is downloaded). Each is scaled up to 32x32 and drawn in a
random colour on a random background, so the network sees three-channel images of the size it is built
for; the label is the digit. The same seed always gives the same images, so the root (which feeds the
images) and the leaf (which reads the labels) build identical loaders.
"""

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch.utils.data import DataLoader, TensorDataset

IMAGE_SIZE = 32
SEED = 42


def coloured_digits(seed=SEED):
    """(images float32 [1797, 3, 32, 32] in [0, 1], labels int64 [1797]), shuffled from `seed`."""
    digits = load_digits()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(digits.target))
    grey = torch.from_numpy(digits.images[order] / 16.0).float()[:, None]
    ink = F.interpolate(grey, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)
    foreground = torch.from_numpy(rng.uniform(0.5, 1.0, size=(len(order), 3, 1, 1))).float()
    background = torch.from_numpy(rng.uniform(0.0, 0.4, size=(len(order), 3, 1, 1))).float()
    images = background + (foreground - background) * ink.clamp(0, 1)
    return images, torch.from_numpy(digits.target[order]).long()


def digit_loaders(batch_size, train_size, val_size):
    """(train_loader, val_loader): the first `train_size` images for training (shuffled from a fixed seed),
    the next `val_size` for validation; there are 1797 in all."""
    images, labels = coloured_digits()
    if train_size + val_size > len(labels):
        raise ValueError(f"there are {len(labels)} digits; {train_size} + {val_size} were asked for")
    train = TensorDataset(images[:train_size], labels[:train_size])
    val = TensorDataset(images[train_size:train_size + val_size], labels[train_size:train_size + val_size])
    generator = torch.Generator().manual_seed(SEED)
    return (DataLoader(train, batch_size=batch_size, shuffle=True, generator=generator),
            DataLoader(val, batch_size=batch_size))
