"""One provider of the digits CNN. Every node runs this same script:

    python provider.py node_0          (or RAVNEST_NODE=node_0 python provider.py)

Run cluster_formation.py first; start the providers in any order (python -m ravnest.launch starts them all).
"""

import os
import sys

import torch
import torch.nn.functional as F

from data import digits_loaders
from ravnest import Node, Trainer, set_seed

EPOCHS = int(os.environ.get("RAVNEST_EPOCHS", "20"))
BATCH_SIZE = 64


def loss_fn(outputs, targets):
    return F.mse_loss(outputs, targets[1])


if __name__ == "__main__":
    name = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("RAVNEST_NODE")
    if not name:
        sys.exit("usage: provider.py node_<id>   (or set RAVNEST_NODE)")
    set_seed(42)
    train_loader, val_loader = digits_loaders(BATCH_SIZE)
    node = Node(name=name, optimizer=torch.optim.Adam, device=torch.device("cpu"), criterion=loss_fn,
                labels=train_loader, test_labels=val_loader)
    trainer = Trainer(node=node, train_loader=train_loader, val_loader=val_loader, val_freq=1, epochs=EPOCHS,
                      batch_size=BATCH_SIZE, inputs_dtype=torch.float32)
    trainer.train()
