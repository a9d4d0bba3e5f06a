"""Forms the cluster of the C++ example and writes what its providers read.

Run from this folder:  python cluster_formation.py
Writes node_data/ for the three providers of node_data/node_configs.json (root 8080, stem 8081, leaf 8082:
their RAM values are so small that only all three together hold the model) and data/digits_batches.pt,
the batches the root feeds and the labels the leaf scores against.
"""

import torch

from data import BATCH_SIZE, write_batches
from models import MLP
from ravnest import clusterize, set_seed

if __name__ == "__main__":
    set_seed(42)
    write_batches()
    clusterize(model=MLP(), example_args=(torch.rand(BATCH_SIZE, 64),))
