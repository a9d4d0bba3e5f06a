"""Forms the clusters for ResNet-50 and writes node_data/ for its three providers.

Run from this folder:  python cluster_formation.py
ResNet-50 needs about 0.4 GB to train on a batch of 16 images of 32x32; node_data/node_configs.json offers
0.18 GB per node, so only all three nodes together can hold it: one cluster of three (root 8090, stem 8091,
leaf 8092).
"""

import torch

from models import resnet50
from ravnest import clusterize, set_seed

BATCH_SIZE = 16

if __name__ == "__main__":
    set_seed(42)
    clusterize(model=resnet50(), example_args=(torch.rand(BATCH_SIZE, 3, 32, 32),))
