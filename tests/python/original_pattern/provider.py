"""A provider written exactly in the original's pattern (examples/cnn/provider.py of the original Ravnest): its
README has one copy per node, provider_<i>.py, that differ only in Node(name=...); the test writes those copies.

- one shuffled DataLoader with a seeded generator is both the Trainer's train_loader and the Node's labels;
- the inputs are the digits' raw pixels (0-16) as float64 numpy arrays, cast by inputs_dtype;
- MSE on the model's softmax against one-hot labels, Adam, val_freq=64, a final trainer.evaluate().
"""

import os

import numpy as np
import torch
from sklearn import datasets
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader

from ravnest import Node, Trainer, set_seed

NAME = "node_0"  # each copy names its own node
EPOCHS = int(os.environ.get("ORIGINAL_EPOCHS", "20"))
# 1: train with a Trainer subclass's own loop, as users write custom loops, instead of Trainer.train().
CUSTOM_LOOP = os.environ.get("ORIGINAL_CUSTOM_LOOP") == "1"

set_seed(42)


def to_categorical(x, n_col=None):
    if not n_col:
        n_col = np.amax(x) + 1
    one_hot = np.zeros((x.shape[0], n_col))
    one_hot[np.arange(x.shape[0]), x] = 1
    return one_hot


def preprocess_dataset():
    data = datasets.load_digits()
    X = data.data
    y = to_categorical(data.target.astype("int"))
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.4, random_state=1)
    X_train = X_train.reshape((-1, 1, 8, 8))
    X_test = X_test.reshape((-1, 1, 8, 8))
    generator = torch.Generator()
    generator.manual_seed(42)
    train_loader = DataLoader(list(zip(X_train, torch.tensor(y_train, dtype=torch.float32))), generator=generator,
                              shuffle=True, batch_size=64)
    val_loader = DataLoader(list(zip(X_test, torch.tensor(y_test, dtype=torch.float32))), shuffle=False,
                            batch_size=64)
    return train_loader, val_loader


def loss_fn(preds, targets):
    return torch.nn.functional.mse_loss(preds, targets[1])


class CustomTrainer(Trainer):
    def train(self):
        self.prelim_checks()
        for _ in range(self.epochs):
            for X_train, y_train in self.train_loader:
                self.node.forward_compute(X_train.to(torch.float32))
            self.node.wait_for_backwards()


if __name__ == "__main__":
    train_loader, val_loader = preprocess_dataset()
    node = Node(name=NAME, optimizer=torch.optim.Adam, device=torch.device("cpu"), criterion=loss_fn,
                labels=train_loader, test_labels=val_loader)
    trainer = (CustomTrainer if CUSTOM_LOOP else Trainer)(
        node=node, train_loader=train_loader, val_loader=val_loader, val_freq=64, epochs=EPOCHS, batch_size=64,
        inputs_dtype=torch.float32)
    trainer.train()
    trainer.evaluate()
