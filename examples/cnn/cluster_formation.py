"""Forms the clusters for the digits CNN and writes node_data/ for its three providers.

Run from this folder:  python cluster_formation.py
The RAM values in node_data/node_configs.json are tiny on purpose: the CNN needs about 4.5 MB to train
on a batch of 64, and 2 MB per node means only all three nodes together can hold it, so this forms one
cluster of three (root 8080, stem 8081, leaf 8082).

Through a matchmaker instead:  RAVNEST_MATCHMAKER=host:7000 python cluster_formation.py
waits for RAVNEST_PROVIDERS providers (default 3) to join it, forms the clusters from their measured figures and
uploads each one's stage (docs/matchmaker.md).
"""

import os

import torch

from models import CNN
from ravnest import clusterize, set_seed

BATCH_SIZE = 64

if __name__ == "__main__":
    set_seed(42)
    matchmaker = os.environ.get("RAVNEST_MATCHMAKER")
    if matchmaker:
        # n_clusters=1: one pipeline of every provider, as the static configs give.
        clusterize(model=CNN(), example_args=(torch.rand(BATCH_SIZE, 1, 8, 8),), matchmaker=matchmaker,
                   providers=int(os.environ.get("RAVNEST_PROVIDERS", "3")), n_clusters=1)
    else:
        clusterize(model=CNN(), example_args=(torch.rand(BATCH_SIZE, 1, 8, 8),))
