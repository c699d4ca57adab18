"""The audio-to-AU networks: one small network per speech AU, reading each video frame's MFCC window.

Per AU (reference architecture, ``docs/method.md``): conv blocks (conv -> max-pool -> batch-norm ->
LeakyReLU 0.2) first along time (8, 32, 64 channels; 1x3 kernels) then along frequency (128, 256; 3x1 kernels),
pooled to a 256-d vector per frame; a 2-layer bidirectional LSTM (hidden 128) over the clip -> 256 (widths are
``audio2au`` settings with these defaults, so the CPU demo can run a narrower copy); FC 256->128,
LeakyReLU, dropout 0.5; FC 128->F, LeakyReLU: the F-d *AU feature* the generator fuses (F =
``model.au_feature_dim``, 64 at paper scale); FC F->1: the AU intensity the network is pretrained on.

MFCC standardisation (per coefficient) and the label scale (per AU mean/std of the training labels) are buffers
of the module, so callers pass raw ``mfcc_windows`` and get intensities in label units (0-5).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from autalk.models.checkpoints import read_checkpoint

KIND = "audio2au"


def _block(in_ch: int, out_ch: int, kernel: tuple[int, int], pool: tuple[int, int]) -> nn.Sequential:
    pad = (kernel[0] // 2, kernel[1] // 2)
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, kernel, padding=pad), nn.MaxPool2d(pool, ceil_mode=True),
                         nn.BatchNorm2d(out_ch), nn.LeakyReLU(0.2, inplace=True))


class AUNetwork(nn.Module):
    """One AU's network: (B, T, C, W) MFCC windows -> features (B, T, F), intensity (B, T) in standard units."""

    def __init__(self, feature_dim: int, time_channels: list[int], freq_channels: list[int], lstm_hidden: int):
        super().__init__()
        blocks, in_ch = [], 1
        for ch in time_channels:
            blocks.append(_block(in_ch, ch, (1, 3), (1, 2)))
            in_ch = ch
        for ch in freq_channels:
            blocks.append(_block(in_ch, ch, (3, 1), (2, 1)))
            in_ch = ch
        self.convs = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.lstm = nn.LSTM(in_ch, lstm_hidden, num_layers=2, bidirectional=True, batch_first=True)
        self.fc = nn.Sequential(nn.Linear(2 * lstm_hidden, 128), nn.LeakyReLU(0.2, inplace=True), nn.Dropout(0.5),
                                nn.Linear(128, feature_dim), nn.LeakyReLU(0.2, inplace=True))
        self.out = nn.Linear(feature_dim, 1)

    def forward(self, windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, t, c, w = windows.shape
        per_frame = self.convs(windows.reshape(b * t, 1, c, w)).reshape(b, t, -1)   # (B, T, 256)
        sequence, _ = self.lstm(per_frame)                                          # (B, T, 256)
        features = self.fc(sequence)                                                # (B, T, F)
        return features, self.out(features).squeeze(-1)                            # (B, T)


class Audio2AU(nn.Module):
    def __init__(self, units: list[str], n_mfcc: int, window: int, feature_dim: int,
                 time_channels: list[int] = (8, 32, 64), freq_channels: list[int] = (128, 256), lstm_hidden: int = 128):
        super().__init__()
        self.units, self.n_mfcc, self.window, self.feature_dim = list(units), n_mfcc, window, feature_dim
        self.widths = {"time_channels": list(time_channels), "freq_channels": list(freq_channels),
                       "lstm_hidden": lstm_hidden}
        self.nets = nn.ModuleList([AUNetwork(feature_dim, **self.widths) for _ in units])
        k = len(units)
        self.register_buffer("mfcc_mean", torch.zeros(n_mfcc))
        self.register_buffer("mfcc_std", torch.ones(n_mfcc))
        self.register_buffer("target_mean", torch.zeros(k))
        self.register_buffer("target_std", torch.ones(k))

    def standardised(self, mfcc_windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Features (B, T, K, F) and predictions in standard units (B, T, K): what pretraining's loss reads."""
        if mfcc_windows.ndim != 4 or mfcc_windows.shape[2] != self.n_mfcc:
            raise ValueError(f"expected mfcc_windows (B, T, {self.n_mfcc}, W), got {tuple(mfcc_windows.shape)}")
        x = (mfcc_windows - self.mfcc_mean[:, None]) / self.mfcc_std[:, None]
        outputs = [net(x) for net in self.nets]
        return torch.stack([f for f, _ in outputs], dim=2), torch.stack([p for _, p in outputs], dim=2)

    def forward(self, mfcc_windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """mfcc_windows (B, T, n_mfcc, W), raw -> (features (B, T, K, F), AU intensities (B, T, K), label units)."""
        features, z = self.standardised(mfcc_windows)
        return features, z * self.target_std + self.target_mean


def audio2au_checkpoint(model: Audio2AU, config: dict, extra: dict | None = None) -> dict:
    """The plain-dict checkpoint ``load_audio2au`` rebuilds from; normalisation statistics are listed too."""
    return {"kind": KIND, "config": config, "units": model.units,
            "arch": {"n_mfcc": model.n_mfcc, "window": model.window, "feature_dim": model.feature_dim,
                     **model.widths},
            "normalisation": {name: getattr(model, name).cpu().tolist()
                              for name in ("mfcc_mean", "mfcc_std", "target_mean", "target_std")},
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}, **(extra or {})}


def load_audio2au(path: str | Path, device: str | torch.device = "cpu") -> Audio2AU:
    """The pretrained networks, frozen in eval mode on ``device`` (``.requires_grad_(True).train()`` to fine-tune).

    ``model(mfcc_windows)`` with the clip files' raw windows (B, T, n_mfcc, W) returns (features (B, T, K, F),
    intensities (B, T, K)); ``model.units`` and ``model.feature_dim`` say what K and F are.
    """
    ckpt = read_checkpoint(path, KIND, "audio-to-AU checkpoint", "run the pretrain_audio2au rule")
    arch = ckpt["arch"]
    model = Audio2AU(ckpt["units"], **arch)
    model.load_state_dict(ckpt["state_dict"])
    model.requires_grad_(False)
    return model.to(device).eval()
