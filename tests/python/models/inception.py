"""An Inception-V3-style network scaled down for 32x32 inputs."""

import torch
import torch.nn as nn


def conv_bn(in_channels, out_channels, **conv_options):
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, bias=False, **conv_options),
        nn.BatchNorm2d(out_channels, eps=0.001),
        nn.ReLU(),
    )


class InceptionBlock(nn.Module):
    """Four parallel branches concatenated on channels, as in Inception-V3's mixed blocks."""

    def __init__(self, in_channels, width):
        super().__init__()
        self.branch1x1 = conv_bn(in_channels, width, kernel_size=1)
        self.branch3x3 = nn.Sequential(
            conv_bn(in_channels, width, kernel_size=1),
            conv_bn(width, width, kernel_size=3, padding=1),
        )
        # Two stacked 3x3 convolutions stand in for a 5x5 one.
        self.branch5x5 = nn.Sequential(
            conv_bn(in_channels, width, kernel_size=1),
            conv_bn(width, width, kernel_size=3, padding=1),
            conv_bn(width, width, kernel_size=3, padding=1),
        )
        self.branch_pool = conv_bn(in_channels, width, kernel_size=1)
        self.pool = nn.AvgPool2d(kernel_size=3, stride=1, padding=1)

    def forward(self, x):
        branches = [
            self.branch1x1(x),
            self.branch3x3(x),
            self.branch5x5(x),
            self.branch_pool(self.pool(x)),
        ]
        return torch.cat(branches, 1)


class SmallInception(nn.Module):
    def __init__(self, num_classes=10, dropout=0.5):
        super().__init__()
        self.stem = nn.Sequential(conv_bn(3, 16, kernel_size=3, padding=1), nn.MaxPool2d(2))
        self.mixed_a = InceptionBlock(16, 8)
        self.mixed_b = InceptionBlock(32, 8)
        self.reduce = nn.MaxPool2d(2)
        self.mixed_c = InceptionBlock(32, 12)
        self.mixed_d = InceptionBlock(48, 12)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(48, num_classes)

    def forward(self, x):
        x = self.mixed_b(self.mixed_a(self.stem(x)))
        x = self.mixed_d(self.mixed_c(self.reduce(x)))
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(self.dropout(x))
