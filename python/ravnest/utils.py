"""Small helpers users call directly."""

import json
import random
from pathlib import Path

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


def load_node_json_configs(node_name, node_data="node_data"):
    """The metadata clusterize wrote for `node_name` ('node_<id>'): node_data/nodes/<node_name>.json as a dict
    (`rank` is its cluster, `ring_size` the number of clusters; see docs/node_data.md)."""
    return json.loads((Path(node_data) / "nodes" / f"{node_name}.json").read_text())
