"""The model of the C++ example: a multi-layer perceptron that classifies sklearn's 8x8 digits (64 pixels in,
10 class scores out). No dropout, so a C++ leaf and a Python leaf seeded alike compute the same losses."""

import torch.nn as nn


class MLP(nn.Module):
    """Four linear layers with ReLUs in between."""

    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(64, 256),
            nn.ReLU(),
            nn.Linear(256, 256),
            nn.ReLU(),
            nn.Linear(256, 128),
            nn.ReLU(),
            nn.Linear(128, 10),
        )

    def forward(self, x):
        return self.layers(x)
