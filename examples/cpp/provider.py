"""One Python provider of the C++ example. Every node can run it; with --cpp-leaf the leaf runs the C++
provider instead, so one command trains a cluster whose root and stem are Python and whose leaf is C++:

    python -m ravnest.launch provider.py --cpp-leaf build/cpp_provider

or one terminal per provider:  python provider.py node_0   (and node_1; build/cpp_provider node_2).

Options after the node name: --epochs N (default 10), --synchronous (one micro-batch in the pipeline at a
time: the order of every step is fixed, so runs repeat exactly), --cpp-leaf PATH.
"""

import argparse
import os
import sys

import torch
import torch.nn.functional as F

from data import load_batches
from ravnest import Node, Trainer, load_node_json_configs, set_seed

LEARNING_RATE = 0.001  # the C++ provider's default --lr is the same


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("node", nargs="?", default=os.environ.get("RAVNEST_NODE"), help="node_<id>")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--synchronous", action="store_true", help="one micro-batch in flight at a time")
    parser.add_argument("--cpp-leaf", metavar="PATH", help="the C++ provider the leaf runs instead")
    args = parser.parse_args()
    if not args.node:
        parser.error("name the node: provider.py node_<id>   (or set RAVNEST_NODE)")
    return args


if __name__ == "__main__":
    args = parse_arguments()
    if args.cpp_leaf and load_node_json_configs(args.node)["is_leaf"]:
        if not os.access(args.cpp_leaf, os.X_OK):
            sys.exit(f"{args.node}: {args.cpp_leaf} is not an executable: build it first (see README.md)")
        # The C++ provider takes over this process: the launcher keeps relaying its output.
        os.execv(args.cpp_leaf, [args.cpp_leaf, args.node, "--lr", str(LEARNING_RATE)])
    set_seed(42)
    batches = load_batches()
    node = Node(name=args.node, optimizer=torch.optim.Adam, optimizer_params={"lr": LEARNING_RATE},
                criterion=F.cross_entropy, labels=batches["train_labels"], test_labels=batches["val_labels"],
                max_in_flight=1 if args.synchronous else 0)
    trainer = Trainer(node=node, train_loader=list(zip(batches["train_inputs"], batches["train_labels"])),
                      val_loader=list(zip(batches["val_inputs"], batches["val_labels"])), epochs=args.epochs,
                      save=True)
    trainer.train()
    if node.is_root:
        node.shutdown()
