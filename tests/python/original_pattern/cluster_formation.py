"""cluster_formation.py as the original's users run it: seed 42, the CNN on an example batch of 64."""

import torch

from models import CNN_Net
from ravnest import clusterize, set_seed

set_seed(42)
clusterize(model=CNN_Net(), example_args=(torch.rand((64, 1, 8, 8)),))
