"""Inception-V3 for 32x32 images, in plain PyTorch, with a width multiplier.

The modules follow the Inception-V3 paper (Szegedy et al., "Rethinking the Inception Architecture for
Computer Vision", 2015): a stem of plain convolutions, three modules on the large grid, a grid reduction,
four modules with factorised 7x7 convolutions (1x7 then 7x1), a second reduction and two modules with
expanded 1x3/3x1 filter banks, then average pooling, dropout and a linear classifier. The 299x299 stem
shrinks its input eightfold before the first module; for 32x32 inputs the stem keeps the resolution, so the
modules work on 32x32, 16x16 and 8x8 grids. The auxiliary classifier is left out.

`width=1.0` has the paper's channel counts (about 22 million parameters); smaller widths scale every
convolution down, which is what a laptop-sized run needs.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvBN(nn.Module):
    """Convolution without bias, batch norm and ReLU: Inception-V3's one building block."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


def _same(kernel):
    """Padding that keeps the grid size for a (rows, columns) kernel of odd sizes."""
    return (kernel[0] // 2, kernel[1] // 2)


def chain(in_channels, *layers):
    """ConvBN layers one after another; each layer is (channels, kernel) or (channels, kernel, stride)."""
    modules = []
    for channels, kernel, *stride in layers:
        kernel = kernel if isinstance(kernel, tuple) else (kernel, kernel)
        modules.append(ConvBN(in_channels, channels, kernel, stride[0] if stride else 1, _same(kernel)))
        in_channels = channels
    return nn.Sequential(*modules)


class ModuleA(nn.Module):
    """Large-grid module: 1x1, 1x1 -> 3x3, 1x1 -> 3x3 -> 3x3 (a factorised 5x5) and pooling branches."""

    def __init__(self, in_channels, pool_channels, scale):
        super().__init__()
        self.branch1x1 = chain(in_channels, (scale(64), 1))
        self.branch3x3 = chain(in_channels, (scale(48), 1), (scale(64), 3))
        self.branch3x3dbl = chain(in_channels, (scale(64), 1), (scale(96), 3), (scale(96), 3))
        self.branch_pool = chain(in_channels, (scale(pool_channels), 1))
        self.out_channels = scale(64) + scale(64) + scale(96) + scale(pool_channels)

    def forward(self, x):
        pooled = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1)
        return torch.cat([self.branch1x1(x), self.branch3x3(x), self.branch3x3dbl(x), self.branch_pool(pooled)], 1)


class ReductionA(nn.Module):
    """Halves the grid with strided convolutions next to max pooling, so no information bottleneck forms."""

    def __init__(self, in_channels, scale):
        super().__init__()
        self.branch3x3 = chain(in_channels, (scale(384), 3, 2))
        self.branch3x3dbl = chain(in_channels, (scale(64), 1), (scale(96), 3), (scale(96), 3, 2))
        self.out_channels = scale(384) + scale(96) + in_channels

    def forward(self, x):
        pooled = F.max_pool2d(x, kernel_size=3, stride=2, padding=1)
        return torch.cat([self.branch3x3(x), self.branch3x3dbl(x), pooled], 1)


class ModuleB(nn.Module):
    """Medium-grid module: n x n convolutions factorised into 1 x n followed by n x 1 (n = 7)."""

    def __init__(self, in_channels, mid_channels, scale):
        super().__init__()
        mid, out = scale(mid_channels), scale(192)
        self.branch1x1 = chain(in_channels, (out, 1))
        self.branch7x7 = chain(in_channels, (mid, 1), (mid, (1, 7)), (out, (7, 1)))
        self.branch7x7dbl = chain(in_channels, (mid, 1), (mid, (7, 1)), (mid, (1, 7)), (mid, (7, 1)), (out, (1, 7)))
        self.branch_pool = chain(in_channels, (out, 1))
        self.out_channels = 4 * out

    def forward(self, x):
        pooled = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1)
        return torch.cat([self.branch1x1(x), self.branch7x7(x), self.branch7x7dbl(x), self.branch_pool(pooled)], 1)


class ReductionB(nn.Module):
    """Second grid reduction, with a factorised 7x7 before its strided 3x3."""

    def __init__(self, in_channels, scale):
        super().__init__()
        self.branch3x3 = chain(in_channels, (scale(192), 1), (scale(320), 3, 2))
        self.branch7x7x3 = chain(in_channels, (scale(192), 1), (scale(192), (1, 7)), (scale(192), (7, 1)),
                                 (scale(192), 3, 2))
        self.out_channels = scale(320) + scale(192) + in_channels

    def forward(self, x):
        pooled = F.max_pool2d(x, kernel_size=3, stride=2, padding=1)
        return torch.cat([self.branch3x3(x), self.branch7x7x3(x), pooled], 1)


class SplitBank(nn.Module):
    """A 1x3 and a 3x1 convolution side by side on the same input, concatenated: the expanded filter bank."""

    def __init__(self, in_channels, channels):
        super().__init__()
        self.across = chain(in_channels, (channels, (1, 3)))
        self.down = chain(in_channels, (channels, (3, 1)))

    def forward(self, x):
        return torch.cat([self.across(x), self.down(x)], 1)


class ModuleC(nn.Module):
    """Small-grid module with expanded filter banks, for high-dimensional representations."""

    def __init__(self, in_channels, scale):
        super().__init__()
        self.branch1x1 = chain(in_channels, (scale(320), 1))
        self.branch3x3 = nn.Sequential(chain(in_channels, (scale(384), 1)), SplitBank(scale(384), scale(384)))
        self.branch3x3dbl = nn.Sequential(chain(in_channels, (scale(448), 1), (scale(384), 3)),
                                          SplitBank(scale(384), scale(384)))
        self.branch_pool = chain(in_channels, (scale(192), 1))
        self.out_channels = scale(320) + 4 * scale(384) + scale(192)

    def forward(self, x):
        pooled = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1)
        return torch.cat([self.branch1x1(x), self.branch3x3(x), self.branch3x3dbl(x), self.branch_pool(pooled)], 1)


class InceptionV3(nn.Module):
    def __init__(self, num_classes=10, width=1.0, dropout=0.5):
        super().__init__()

        def scale(channels):
            return max(8, round(channels * width))

        self.stem = chain(3, (scale(32), 3), (scale(32), 3), (scale(64), 3), (scale(80), 1), (scale(192), 3))
        blocks = []

        def add(block):
            blocks.append(block)
            return block.out_channels

        channels = add(ModuleA(scale(192), 32, scale))
        channels = add(ModuleA(channels, 64, scale))
        channels = add(ModuleA(channels, 64, scale))
        channels = add(ReductionA(channels, scale))
        for mid_channels in (128, 160, 160, 192):
            channels = add(ModuleB(channels, mid_channels, scale))
        channels = add(ReductionB(channels, scale))
        channels = add(ModuleC(channels, scale))
        channels = add(ModuleC(channels, scale))
        self.blocks = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(self.dropout(x))
