"""The frame decoder: the fused per-frame vector is unfolded to a 256 x S/16 x S/16 map and upsampled by four
transposed convolutions, each fed the matching identity-encoder skip map, then two convolutions and tanh."""

from __future__ import annotations

import torch
from torch import nn

from autalk.models.encoders import ImageEncoder


class FrameDecoder(nn.Module):
    def __init__(self, in_dim: int, crop_size: int, base_channels: int = 256):
        super().__init__()
        self.side = crop_size // 16
        self.base_channels = base_channels
        self.proj = nn.Linear(in_dim, base_channels * self.side * self.side)
        skip_channels = ImageEncoder.channels[::-1]       # 128 @ S/16, 64 @ S/8, 32 @ S/4, 16 @ S/2
        out_channels = (128, 64, 32, 16)
        ups, in_ch = [], base_channels
        for skip_ch, out_ch in zip(skip_channels, out_channels):
            ups.append(nn.Sequential(
                nn.ConvTranspose2d(in_ch + skip_ch, out_ch, 5, stride=2, padding=2, output_padding=1),
                nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True)))
            in_ch = out_ch
        self.ups = nn.ModuleList(ups)
        self.head = nn.Sequential(nn.Conv2d(in_ch, in_ch, 5, padding=2), nn.ReLU(inplace=True),
                                  nn.Conv2d(in_ch, 3, 5, padding=2), nn.Tanh())

    def forward(self, fused: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        """fused (N, in_dim), skips from ImageEncoder (each with N rows) -> frames (N, 3, S, S) in [-1, 1]."""
        x = self.proj(fused).view(-1, self.base_channels, self.side, self.side)
        for up, skip in zip(self.ups, reversed(skips)):
            x = up(torch.cat([x, skip], dim=1))
        return self.head(x)
