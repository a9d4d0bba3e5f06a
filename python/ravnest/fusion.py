"""model_fusion: merges the submodels the nodes of one cluster saved into the original model's state dict."""

from pathlib import Path

import torch

from ravnest.node import TRAINED_FOLDER

FUSED_FILE = "trained_state_dict.pt"


def model_fusion(cluster_id=0, folder=TRAINED_FOLDER):
    """Merges trained/cluster_<cluster_id>/submod_<stage>.pt (written when Trainer(save=True) ends) into
    trained/trained_state_dict.pt and returns it. Its keys are the original, unsplit model's, nested modules
    included: `model.load_state_dict(torch.load('trained/trained_state_dict.pt'))` works.
    """
    parts = sorted((Path(folder) / f"cluster_{cluster_id}").glob("submod_*.pt"),
                   key=lambda path: int(path.stem.split("_")[1]))
    if not parts:
        raise FileNotFoundError(f"no saved submodels in {folder}/cluster_{cluster_id}: train with "
                                "Trainer(save=True) and let every provider finish first")
    fused = {}
    for path in parts:
        fused.update(torch.load(path))
    torch.save(fused, Path(folder) / FUSED_FILE)
    return fused
