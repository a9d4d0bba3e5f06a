"""One provider of Inception-V3 on 32x32 coloured digits. Every node runs this same script:

    python provider.py node_0 [--epochs N] [--train-size N] [--val-size N]    (or RAVNEST_NODE=node_0)

Run cluster_formation.py first (it fixes the network's width); start all providers at once with
`python -m ravnest.launch provider.py` (flags go after the script). The leaf writes the training losses to
losses.txt and the validation accuracies to val_accuracies.txt; the root prints the throughput. With several
clusters each one trains on its own shard of the images.
"""

import argparse
import os
import time

import torch
import torch.nn.functional as F

from cluster_formation import BATCH_SIZE
from data import digit_loaders
from ravnest import Node, Trainer, load_node_json_configs, set_seed, shard


def loss_fn(outputs, targets):
    return F.cross_entropy(outputs, targets[1])


def arguments():
    parser = argparse.ArgumentParser(description="one provider of the Inception-V3 example")
    parser.add_argument("node", nargs="?", default=os.environ.get("RAVNEST_NODE"), help="node_<id>")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-size", type=int, default=1440, help="training digits (of 1797)")
    parser.add_argument("--val-size", type=int, default=352, help="validation digits, after the training ones")
    args = parser.parse_args()
    if not args.node:
        parser.error("name the node: provider.py node_<id>   (or set RAVNEST_NODE)")
    return args


if __name__ == "__main__":
    args = arguments()
    set_seed(42)
    train_loader, val_loader = digit_loaders(BATCH_SIZE, args.train_size, args.val_size)
    meta = load_node_json_configs(args.node)
    train_loader = shard(train_loader, meta["rank"], meta["ring_size"])
    node = Node(name=args.node, optimizer=torch.optim.Adam, optimizer_params={"lr": 1e-3},
                device=torch.device("cpu"), criterion=loss_fn, labels=train_loader, test_labels=val_loader)
    trainer = Trainer(node=node, train_loader=train_loader, val_loader=val_loader, val_freq=1,
                      epochs=args.epochs, batch_size=BATCH_SIZE, inputs_dtype=torch.float32, save=True)
    started = time.perf_counter()
    trainer.train()
    if node.is_root:
        node.shutdown()
        samples = args.epochs * len(train_loader.dataset)
        print(f"throughput: {samples / (time.perf_counter() - started):.1f} images/s "
              f"({args.epochs} epochs of {len(train_loader.dataset)} images, validation included)")
