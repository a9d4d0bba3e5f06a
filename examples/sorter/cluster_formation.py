"""Forms the clusters for the sorter and writes node_data/ for its three providers.

Run from this folder:  python cluster_formation.py [--model-type gpt-nano|gpt-micro|gpt-mini]
gpt-nano (the default) needs about 7.7 MB to train on a batch of 32 sequences; node_data/node_configs.json
offers 3.5 MB per node, so only all three nodes together can hold it: one cluster of three (root 8096, stem
8097, leaf 8098). gpt-mini needs about 87 MB: give the nodes 0.04 GB each first.
"""

import argparse

import torch

from data import BLOCK_SIZE, NUM_DIGITS
from models import GPT, MODEL_TYPES
from ravnest import clusterize, set_seed

BATCH_SIZE = 32

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-type", choices=sorted(MODEL_TYPES), default="gpt-nano")
    model_type = parser.parse_args().model_type
    set_seed(42)
    clusterize(model=GPT(NUM_DIGITS, BLOCK_SIZE, model_type),
               example_args=(torch.zeros(BATCH_SIZE, BLOCK_SIZE, dtype=torch.long),))
