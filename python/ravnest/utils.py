"""Small helpers users call directly."""

import random

import numpy as np
import torch


def set_seed(seed=42):
    """Seeds Python's `random`, NumPy, torch and every CUDA device, so runs repeat exactly.

    clusterize draws its cluster-formation seed from `random`, so this also fixes the clusters.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
