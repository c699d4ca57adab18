"""The discriminators of the adversarial losses: the patch frame discriminator (real vs generated frames, one
logit per patch) and, as an option of ours, the synchronisation discriminator, which sees runs of the squares
around the mouth with the speech that goes with them."""

from __future__ import annotations

import torch
from torch import nn


class PatchDiscriminator(nn.Module):
    """3x3 stride-2 convolutions (by default 16, 32, 64, 128 channels) with instance norm and LeakyReLU 0.2, then
    a 1x1 conv."""

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
        """frames (N, 3, S, S) in [-1, 1] -> patch logits (N, 1, S/2^layers, S/2^layers)."""
        return self.net(frames)


def mouth_crops(frames: torch.Tensor, boxes: torch.Tensor, side: int) -> torch.Tensor:
    """Square ``side`` x ``side`` crops of frames (N, 3, S, S) centred on each mouth box (N, 4: x0, y0, x1, y1 in
    crop pixels), shifted inside the frame where the mouth is near an edge. Pixels are copied, not resampled (the
    crop's corner is a whole pixel), and the generator's gradient flows back through the copy."""
    size = frames.shape[-1]
    centre = torch.stack([boxes[:, 0] + boxes[:, 2], boxes[:, 1] + boxes[:, 3]], dim=1) / 2
    corner = (centre - side / 2).round().clamp(0, size - side).long()              # (N, 2): x, y
    offsets = torch.arange(side, device=frames.device)
    rows = (corner[:, 1, None] + offsets)[:, None, :, None]                        # (N, 1, side, 1)
    cols = (corner[:, 0, None] + offsets)[:, None, None, :]                        # (N, 1, 1, side)
    items = torch.arange(len(frames), device=frames.device)[:, None, None, None]
    channels = torch.arange(frames.shape[1], device=frames.device)[None, :, None, None]
    return frames[items, channels, rows, cols]


def mouth_windows(mouths: torch.Tensor, mfcc: torch.Tensor, frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every run of ``frames`` consecutive mouth squares of each clip with the MFCC window of its middle frame:
    mouths (B, T, 3, s, s), mfcc (B, T, n, W) -> (B, T - frames + 1, frames, 3, s, s), (B, T - frames + 1, n, W)."""
    runs = mouths.unfold(1, frames, 1).permute(0, 1, 5, 2, 3, 4)
    middle = frames // 2
    return runs, mfcc[:, middle:middle + runs.shape[1]]


class SyncDiscriminator(nn.Module):
    """Whether a short run of mouth squares goes with the speech around it: the synchronisation discriminator of
    Vougioukas et al. (speech-driven facial animation with temporal GANs, 2019). It learns real runs with their
    own speech as real, and both generated runs and real runs with another moment's speech as fake, so what it
    teaches the generator is lips that move with the audio, not only lips that look real. Video: the run's frames
    stacked as channels, three stride-2 convolutions and a mean over the map; audio: the middle frame's MFCC
    window through two stride-2 convolutions; the two embeddings, concatenated, through a two-layer head. The
    squares are half the crop's side (32 px of a 64 px crop): the mouth box with its margin."""

    def __init__(self, crop_size: int, n_mfcc: int, mfcc_window: int, frames: int = 5, dim: int = 64):
        super().__init__()
        self.side, self.frames = crop_size // 2, frames
        layers, in_ch = [], 3 * frames
        for out_ch in (32, 64, 128):
            layers += [nn.Conv2d(in_ch, out_ch, 3, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            in_ch = out_ch
        self.video = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_ch, dim))
        self.audio = nn.Sequential(nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True),
                                   nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True),
                                   nn.Flatten(), nn.Linear(32 * ((n_mfcc + 3) // 4) * ((mfcc_window + 3) // 4), dim))
        self.head = nn.Sequential(nn.LeakyReLU(0.2), nn.Linear(2 * dim, dim), nn.LeakyReLU(0.2), nn.Linear(dim, 1))

    def forward(self, runs: torch.Tensor, mfcc: torch.Tensor) -> torch.Tensor:
        """runs (N, frames, 3, s, s), mfcc (N, n, W) -> one logit per run (N, 1)."""
        video = self.video(runs.flatten(1, 2).contiguous(memory_format=torch.channels_last))
        return self.head(torch.cat([video, self.audio(mfcc.unsqueeze(1))], dim=1))
