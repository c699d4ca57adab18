"""The two per-frame encoders of the generator: the identity image (with skip maps for the decoder) and the audio
window of each video frame (a 1 x n_mfcc x W MFCC map)."""

from __future__ import annotations

import torch
from torch import nn


def _halved(size: int, times: int) -> int:
    """Spatial size after ``times`` convolutions that each halve it (kernel k, padding k//2, stride 2)."""
    for _ in range(times):
        size = (size + 1) // 2
    return size


class ImageEncoder(nn.Module):
    """Four 5x5 stride-2 convolutions (3 -> 16 -> 32 -> 64 -> 128, S -> S/16) and a linear embedding.

    The four feature maps are returned too: the decoder concatenates them back in (U-Net style), which is what
    lets a small model keep the identity's texture while only the mouth has to be synthesised.
    """

    channels = (16, 32, 64, 128)

    def __init__(self, crop_size: int, dim: int):
        super().__init__()
        convs, in_ch = [], 3
        for out_ch in self.channels:
            convs.append(nn.Sequential(nn.Conv2d(in_ch, out_ch, 5, stride=2, padding=2), nn.ReLU(inplace=True)))
            in_ch = out_ch
        self.convs = nn.ModuleList(convs)
        side = crop_size // 16
        self.proj = nn.Linear(self.channels[-1] * side * side, dim)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """image (B, 3, S, S) in [-1, 1] -> embedding (B, dim), skip maps [(B,16,S/2,S/2) .. (B,128,S/16,S/16)]."""
        skips, x = [], image
        for conv in self.convs:
            x = conv(x)
            skips.append(x)
        return self.proj(x.flatten(1)), skips


class AudioEncoder(nn.Module):
    """3x3 conv + batch-norm + ReLU blocks (16 s1, 32 s2, 64, 128, 256 s2), then 512 + BN + ReLU, then ``dim``."""

    blocks = ((16, 1), (32, 2), (64, 1), (128, 1), (256, 2))

    def __init__(self, n_mfcc: int, window: int, dim: int, hidden: int = 512):
        super().__init__()
        layers, in_ch = [], 1
        for out_ch, stride in self.blocks:
            layers += [nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False),
                       nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True)]
            in_ch = out_ch
        self.convs = nn.Sequential(*layers)
        n_strided = sum(1 for _, s in self.blocks if s == 2)
        flat = in_ch * _halved(n_mfcc, n_strided) * _halved(window, n_strided)
        self.head = nn.Sequential(nn.Linear(flat, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                                  nn.Linear(hidden, dim))

    def forward(self, mfcc_windows: torch.Tensor) -> torch.Tensor:
        """mfcc_windows (N, n_mfcc, W) -> (N, dim); callers fold time into the batch."""
        return self.head(self.convs(mfcc_windows.unsqueeze(1)).flatten(1))
