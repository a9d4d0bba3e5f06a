"""Writes what clusterize decided into node_data/ (layout documented in docs/node_data.md)."""

import json
import shutil
from pathlib import Path

import torch

SUBMODULE_FILE = "submod.pt"
ROUTING_FILE = "routing.json"


def clear_node_data(root):
    """Removes every subfolder of `root` (old clusters and node files) and keeps its files."""
    for child in Path(root).iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)


def write_stage(root, cluster_id, address, script_module, routing):
    """Saves one stage and its routing; returns the stage folder as the node JSON's template_path, relative to
    the folder that holds `root` (a provider runs from there, wherever the requester wrote it)."""
    root = Path(root)
    folder = root / f"cluster_{cluster_id}" / address
    folder.mkdir(parents=True)
    torch.jit.save(script_module, str(folder / SUBMODULE_FILE))
    _write_json(folder / ROUTING_FILE, routing)
    return f"{(Path(root.name) / folder.relative_to(root)).as_posix()}/"


def write_node(root, node_id, document):
    folder = Path(root) / "nodes"
    folder.mkdir(exist_ok=True)
    _write_json(folder / f"node_{node_id}.json", document)


def _write_json(path, document):
    with open(path, "w") as file:
        json.dump(document, file, indent=2)
        file.write("\n")
