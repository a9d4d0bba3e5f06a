"""model_fusion: merges the submodels the nodes of one cluster saved into the original model's state dict."""

import json
from pathlib import Path

import torch

from ravnest.clusterize.writer import ROUTING_FILE
from ravnest.node import NODE_DATA, TRAINED_FOLDER

FUSED_FILE = "trained_state_dict.pt"


def model_fusion(cluster_id=0, folder=TRAINED_FOLDER, node_data=None):
    """Merges trained/cluster_<cluster_id>/submod_<stage>.pt (written when Trainer(save=True) ends) into
    trained/trained_state_dict.pt and returns it. Its keys are the original, unsplit model's state-dict keys,
    nested modules included, and no others: `model.load_state_dict(torch.load('trained/trained_state_dict.pt'))`
    works, strictly.

    A saved submodel holds every buffer of its stage; the ones the model registered with persistent=False are
    left out, as the model's own state_dict() leaves them out. Which ones those are is read from the routing
    files clusterize wrote: `node_data` is that folder, by default the node_data folder beside `folder`.
    """
    parts = sorted((Path(folder) / f"cluster_{cluster_id}").glob("submod_*.pt"),
                   key=lambda path: int(path.stem.split("_")[1]))
    if not parts:
        raise FileNotFoundError(f"no saved submodels in {folder}/cluster_{cluster_id}: train with "
                                "Trainer(save=True) and let every provider finish first")
    node_data = Path(folder).parent / NODE_DATA if node_data is None else Path(node_data)
    unsaved = unsaved_buffers(node_data, cluster_id)
    fused = {}
    for path in parts:
        fused.update((key, tensor) for key, tensor in torch.load(path).items() if key not in unsaved)
    torch.save(fused, Path(folder) / FUSED_FILE)
    return fused


def unsaved_buffers(node_data, cluster_id):
    """The state-dict names of the buffers of cluster `cluster_id` that its model does not save, from the
    routing files in `node_data`."""
    routings = sorted((Path(node_data) / f"cluster_{cluster_id}").glob(f"*/{ROUTING_FILE}"))
    if not routings:
        raise FileNotFoundError(
            f"no {ROUTING_FILE} in {node_data}/cluster_{cluster_id}/*/: model_fusion reads the routing files "
            "clusterize wrote to tell the buffers the model saves from those it does not; pass "
            "model_fusion(node_data=<the node_data folder clusterize wrote>)")
    # Routing files from before unsaved_buffers was recorded have none to leave out.
    return {name for path in routings for name in json.loads(path.read_text()).get("unsaved_buffers", [])}
