"""Generated 32x32 colour images of eight shapes, the ResNet-50 example's dataset (nothing is downloaded).

Every image is one filled shape of a random colour, size and position on a noisy background of another
colour; its label is the shape. The same seed always gives the same images, so the root (which feeds the
images) and the leaf (which reads the labels) build identical loaders.
"""

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

SHAPES = ("square", "disk", "ring", "triangle", "diamond", "cross", "horizontal bar", "vertical bar")
IMAGE_SIZE = 32
# Each shape is drawn in its own colour family: a cue a network picks up within a few hundred images, long
# before it has learnt the shapes themselves.
PALETTE = np.array([(1, .2, .2), (.2, 1, .2), (.3, .4, 1), (1, 1, .2), (1, .3, 1), (.2, 1, 1), (1, .6, .2), (.9, .9, .9)])
SEED = 42


def _mask(shape, dx, dy, radius):
    """Pixels inside `shape` centred at 0, from pixel offsets `dx`, `dy` to the centre."""
    ax, ay = np.abs(dx), np.abs(dy)
    if shape == "square":
        return (ax < radius) & (ay < radius)
    if shape == "disk":
        return dx ** 2 + dy ** 2 < radius ** 2
    if shape == "ring":
        return (dx ** 2 + dy ** 2 < radius ** 2) & (dx ** 2 + dy ** 2 > (radius / 2) ** 2)
    if shape == "triangle":
        return (dy < radius) & (ax < (dy + radius) / 2)
    if shape == "diamond":
        return ax + ay < radius
    if shape == "cross":
        return ((ax < radius / 3) & (ay < radius)) | ((ay < radius / 3) & (ax < radius))
    if shape == "horizontal bar":
        return (ax < radius) & (ay < radius / 3)
    return (ax < radius / 3) & (ay < radius)


def shape_images(count, seed=SEED):
    """(images float32 [count, 3, 32, 32] in [0, 1], labels int64 [count]) drawn from `seed`."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(len(SHAPES), size=count)
    ys, xs = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE].astype(np.float32)
    images = np.empty((count, 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    for index, label in enumerate(labels):
        radius = rng.uniform(6, 11)
        cx, cy = rng.uniform(radius, IMAGE_SIZE - radius, size=2)
        background = rng.uniform(0, 0.3, size=3)
        foreground = np.clip(PALETTE[label] + rng.normal(0, 0.08, size=3), 0, 1)
        inside = _mask(SHAPES[label], xs - cx, ys - cy, radius)
        image = np.where(inside, foreground[:, None, None], background[:, None, None])
        images[index] = np.clip(image + rng.normal(0, 0.05, size=image.shape), 0, 1)
    return torch.from_numpy(images), torch.from_numpy(labels)


def shape_loaders(batch_size, train_size, val_size):
    """(train_loader, val_loader) over fresh shape images; training batches shuffled from a fixed seed."""
    images, labels = shape_images(train_size + val_size)
    train = TensorDataset(images[:train_size], labels[:train_size])
    val = TensorDataset(images[train_size:], labels[train_size:])
    generator = torch.Generator().manual_seed(SEED)
    return (DataLoader(train, batch_size=batch_size, shuffle=True, generator=generator),
            DataLoader(val, batch_size=batch_size))
