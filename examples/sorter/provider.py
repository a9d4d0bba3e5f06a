"""One provider of the sorter: a minGPT-style transformer learns to sort six digits. Every node runs:

    python provider.py node_0 [--epochs N] [--samples N]    (or RAVNEST_NODE=node_0)

Run cluster_formation.py first (it fixes the model's size); start all providers at once with
`python -m ravnest.launch provider.py` (flags go after the script). The leaf writes the training losses to
losses.txt. After training the root sorts every held-out sequence through the pipeline and prints the share
it got exactly right; then sorter_inference.py sorts new sequences with the fused model.
"""

import argparse
import os

import torch
import torch.nn.functional as F

from cluster_formation import BATCH_SIZE
from data import IGNORED, held_out_sequences, sort_loader, sorted_share
from ravnest import Node, Trainer, load_node_json_configs, set_seed, shard


def loss_fn(logits, targets):
    labels = targets[1]
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=IGNORED)


def arguments():
    parser = argparse.ArgumentParser(description="one provider of the sorter example")
    parser.add_argument("node", nargs="?", default=os.environ.get("RAVNEST_NODE"), help="node_<id>")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--samples", type=int, default=19200, help="training sequences per epoch")
    args = parser.parse_args()
    if not args.node:
        parser.error("name the node: provider.py node_<id>   (or set RAVNEST_NODE)")
    return args


if __name__ == "__main__":
    args = arguments()
    set_seed(42)
    train_loader = sort_loader(BATCH_SIZE, args.samples)
    meta = load_node_json_configs(args.node)
    train_loader = shard(train_loader, meta["rank"], meta["ring_size"])
    node = Node(name=args.node, optimizer=torch.optim.Adam, optimizer_params={"lr": 5e-4},
                device=torch.device("cpu"), criterion=loss_fn, labels=train_loader)
    trainer = Trainer(node=node, train_loader=train_loader, epochs=args.epochs, batch_size=BATCH_SIZE, save=True)
    trainer.train()
    if node.is_root:
        held_out = held_out_sequences()
        print(f"held-out accuracy: {sorted_share(trainer.pred, held_out):.1%} of {len(held_out)} sequences "
              "never seen in training sorted exactly")
        node.shutdown()
