"""Forms the clusters for the digits CNN and writes node_data/ for its three providers.

Run from this folder:  python cluster_formation.py
The RAM values in node_data/node_configs.json are tiny on purpose: the CNN needs about 4.5 MB to train
on a batch of 64, and 2 MB per node means only all three nodes together can hold it, so this forms one
cluster of three (root 8080, stem 8081, leaf 8082).
"""

import torch

from models import CNN
from ravnest import clusterize, set_seed

BATCH_SIZE = 64

if __name__ == "__main__":
    set_seed(42)
    clusterize(model=CNN(), example_args=(torch.rand(BATCH_SIZE, 1, 8, 8),))
