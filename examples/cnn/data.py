"""sklearn's digits as the original example used them: 8x8 images scaled to [0, 1], one-hot labels."""

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader, TensorDataset

SEED = 42


def digits_loaders(batch_size=64):
    """(train_loader, val_loader). The training order is shuffled from a fixed seed, so the root (which
    feeds the images) and the leaf (which reads the labels) see the same batches."""
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None]
    one_hot = np.eye(10, dtype=np.float32)[digits.target]
    x_train, x_val, y_train, y_val = train_test_split(images, one_hot, test_size=0.2, random_state=SEED)
    train = TensorDataset(torch.from_numpy(x_train), torch.from_numpy(y_train))
    val = TensorDataset(torch.from_numpy(x_val), torch.from_numpy(y_val))
    generator = torch.Generator().manual_seed(SEED)
    return (DataLoader(train, batch_size=batch_size, shuffle=True, generator=generator),
            DataLoader(val, batch_size=batch_size, shuffle=False))
