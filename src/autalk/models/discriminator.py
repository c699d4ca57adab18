"""The patch frame discriminator of the adversarial loss (real vs generated frames, one logit per patch)."""

from __future__ import annotations

import torch
from torch import nn


class PatchDiscriminator(nn.Module):
    """Four 3x3 stride-2 convolutions (16, 32, 64, 128) with instance norm and LeakyReLU 0.2, then a 1x1 conv."""

    def __init__(self, channels: tuple[int, ...] = (16, 32, 64, 128)):
        super().__init__()
        layers, in_ch = [], 3
        for out_ch in channels:
            layers += [nn.Conv2d(in_ch, out_ch, 3, stride=2, padding=1),
                       nn.InstanceNorm2d(out_ch, affine=True), nn.LeakyReLU(0.2, inplace=True)]
            in_ch = out_ch
        layers.append(nn.Conv2d(in_ch, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (N, 3, S, S) in [-1, 1] -> patch logits (N, 1, S/16, S/16)."""
        return self.net(frames)

