"""Small helpers users call directly."""

import json
import random
from pathlib import Path

import numpy as np
import torch

from ravnest._C import ConfigError


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
    (`rank` is its cluster, `ring_size` the number of clusters; see docs/node_data.md). Raises ConfigError
    like node_json_path()."""
    path = node_json_path(node_name, node_data)
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ConfigError(f"{node_name}: '{path}' is not valid JSON ({error}): rerun cluster_formation.py") from None


def node_json_path(node_name, node_data="node_data"):
    """node_data/nodes/<node_name>.json. Raises ConfigError saying what to do when node_data/ is missing,
    cluster formation has not run yet, or no node has that name."""
    folder = Path(node_data)
    nodes = folder / "nodes"
    path = nodes / f"{node_name}.json"
    if path.is_file():
        return path
    where = f"in {Path.cwd()}" if not folder.is_absolute() else ""
    if not folder.is_dir():
        raise ConfigError(f"{node_name}: there is no {node_data}/ folder {where}: start the provider in the folder "
                          f"where cluster formation ran (the one holding {node_data}/), or run it here first")
    known = sorted((p.stem for p in nodes.glob("node_*.json")), key=_node_number)
    if not known:
        raise ConfigError(f"{node_name}: {nodes}/ holds no node JSON yet: run cluster formation (e.g. "
                          f"python cluster_formation.py) first, then start the providers")
    raise ConfigError(f"{node_name}: no {path}: this {node_data}/ has {', '.join(known)}; start the provider "
                      f"with one of those names (e.g. python provider.py {known[0]})")


def _node_number(name):
    suffix = name.rpartition("_")[2]
    return (0, int(suffix)) if suffix.isdigit() else (1, name)
