"""Forms the clusters for Inception-V3 and writes node_data/ for its three providers.

Run from this folder:  python cluster_formation.py [--width W]
At the default width 0.125 the network needs about 0.14 GB to train on a batch of 16 images of 32x32;
node_data/node_configs.json offers 0.065 GB per node, so only all three nodes together can hold it: one
cluster of three (root 8093, stem 8094, leaf 8095). `--width 1` is the paper's full network (about 1.4 GB
on that batch): give the nodes 0.6 GB each in node_configs.json first.
"""

import argparse

import torch

from models import InceptionV3
from ravnest import clusterize, set_seed

BATCH_SIZE = 16
NUM_CLASSES = 10

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=float, default=0.125, help="channel multiplier (1 = the paper's)")
    width = parser.parse_args().width
    set_seed(42)
    clusterize(model=InceptionV3(num_classes=NUM_CLASSES, width=width),
               example_args=(torch.rand(BATCH_SIZE, 3, 32, 32),))
