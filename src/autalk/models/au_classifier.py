"""The AU classifier: a CNN reading an aligned face crop and predicting each speech AU's presence and intensity.

Frozen after pretraining, it is the generator's AU loss (gradients flow through it into generated frames) and the
AU metric of generated frames, so it must judge faces it never saw: it is trained across speakers with geometric
and photometric augmentation and early-stopped on unseen validation speakers.

It reads only the lower face of the aligned crop (``LOWER_FACE``: rows 45-100 %, columns 20-80 % of the side,
where the template puts mouth, chin and nasolabial region): the speech AUs live there, and leaving out eyes, hair,
glasses and background removes the identity cues a small network would otherwise memorise.

Architecture: a 3x3 stem, then one stage per width (a stride-2 3x3 conv + BN + ReLU, then a residual pair of 3x3
convs), an adaptive 4x4 average pool that keeps *where* on the face a feature fired (the mouth is low and
central; a global pool would throw that away) and works for any crop size, and a two-layer head giving K presence
logits and K intensities (5 * sigmoid, so 0-5 like the labels).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from autalk.config import MAX_INTENSITY
from autalk.models.checkpoints import read_checkpoint

KIND = "au_classifier"
DEFAULT_WIDTHS = (16, 32, 64, 128)
POOLED = 4
LOWER_FACE = (0.45, 1.0, 0.2, 0.8)  # top, bottom, left, right as fractions of the crop side


class _Stage(nn.Module):
    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.down = nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))
        self.res = nn.Sequential(nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False), nn.BatchNorm2d(out_ch),
                                 nn.ReLU(inplace=True), nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False),
                                 nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.down(x)
        return torch.relu(x + self.res(x))


class AUClassifier(nn.Module):
    def __init__(self, units: list[str], widths: tuple[int, ...] = DEFAULT_WIDTHS,
                 region: tuple[float, ...] = LOWER_FACE, hidden: int = 256, dropout: float = 0.3):
        super().__init__()
        self.units = list(units)
        self.widths = tuple(widths)
        self.region = tuple(region)
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, padding=1, bias=False), nn.BatchNorm2d(widths[0]),
                                  nn.ReLU(inplace=True))
        self.stages = nn.Sequential(*[_Stage(a, b) for a, b in zip((widths[0],) + tuple(widths[:-1]), widths)])
        self.pool = nn.AdaptiveAvgPool2d(POOLED)
        k = len(units)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(widths[-1] * POOLED * POOLED, hidden),
                                  nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(hidden, 2 * k))

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """frames (B, 3, S, S) in [-1, 1] -> presence logits (B, K), intensity (B, K) in 0-5."""
        h, w = frames.shape[-2:]
        top, bottom, left, right = self.region
        face = frames[..., round(top * h):round(bottom * h), round(left * w):round(right * w)]
        out = self.head(self.pool(self.stages(self.stem(face))))
        logits, raw_intensity = out.chunk(2, dim=1)
        return logits, MAX_INTENSITY * torch.sigmoid(raw_intensity)


def au_classifier_checkpoint(model: AUClassifier, config: dict, extra: dict | None = None) -> dict:
    """The plain-dict checkpoint ``load_au_classifier`` rebuilds from (CPU tensors, no pickled classes)."""
    return {"kind": KIND, "config": config, "units": model.units,
            "arch": {"widths": list(model.widths), "region": list(model.region)},
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}, **(extra or {})}


def load_au_classifier(path: str | Path, device: str | torch.device = "cpu") -> AUClassifier:
    """The pretrained classifier, frozen (no parameter requires grad) in eval mode on ``device``.

    ``model(frames)`` with frames (B, 3, S, S) in [-1, 1] returns (presence_logits (B, K), intensity (B, K)), K in
    ``model.units`` order; gradients still flow to ``frames``, which is how it serves as a loss.
    """
    ckpt = read_checkpoint(path, KIND, "AU classifier checkpoint", "run the pretrain_au_classifier rule")
    model = AUClassifier(ckpt["units"], widths=tuple(ckpt["arch"]["widths"]), region=tuple(ckpt["arch"]["region"]))
    model.load_state_dict(ckpt["state_dict"])
    model.requires_grad_(False)
    return model.to(device).eval()
