"""The frame decoder: the fused per-frame vector is unfolded to a 256 x S/16 x S/16 map and upsampled by four
transposed convolutions, each fed the matching identity-encoder skip map, then two convolutions and tanh.

Two options (``model.output``, ``model.full_res_skip``; both off in the paper's design) keep the identity's
detail: the paper's finest skip map is at half resolution, so every full-resolution pixel is re-synthesised and a
short run blurs hair and glasses edges. ``full_res_skip`` feeds the identity image itself to the last layers;
``mask_blend`` adds a fourth output channel, a per-pixel mask in [0, 1] that mixes the generated image with the
identity frame (as AU-driven face editing does), so what need not move is copied rather than redrawn.
"""

from __future__ import annotations

import torch
from torch import nn

from autalk.models.encoders import ImageEncoder

MASK_INIT_BIAS = -2.0  # sigmoid(-2) = 0.12: training starts close to the identity frame, not a grey average


class FrameDecoder(nn.Module):
    def __init__(self, in_dim: int, crop_size: int, base_channels: int = 256, output: str = "direct",
                 full_res_skip: bool = False):
        super().__init__()
        self.side = crop_size // 16
        self.base_channels = base_channels
        self.mask_blend = output == "mask_blend"
        self.full_res_skip = full_res_skip
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
        head_in = in_ch + (3 if full_res_skip else 0)
        last = nn.Conv2d(in_ch, 4 if self.mask_blend else 3, 5, padding=2)
        if self.mask_blend:
            with torch.no_grad():
                last.bias[3] = MASK_INIT_BIAS
        self.head = nn.Sequential(nn.Conv2d(head_in, in_ch, 5, padding=2), nn.ReLU(inplace=True), last)

    def forward(self, fused: torch.Tensor, skips: list[torch.Tensor],
                identity: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """fused (N, in_dim), skips from ImageEncoder and identity (N, 3, S, S), each with N rows
        -> frames (N, 3, S, S) in [-1, 1] and, for ``mask_blend``, the mask (N, 1, S, S) in [0, 1] and the
        generated image before the blend (N, 3, S, S) (else None, None)."""
        x = self.proj(fused).view(-1, self.base_channels, self.side, self.side)
        for up, skip in zip(self.ups, reversed(skips)):
            x = up(torch.cat([x, skip], dim=1))
        if self.full_res_skip:
            x = torch.cat([x, identity.to(x.dtype)], dim=1)
        out = self.head(x)
        if not self.mask_blend:
            return torch.tanh(out), None, None
        mask = torch.sigmoid(out[:, 3:].to(identity.dtype))  # blended at the identity's precision, not bf16's
        generated = torch.tanh(out[:, :3].to(identity.dtype))
        return mask * generated + (1 - mask) * identity, mask, generated
