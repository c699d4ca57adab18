"""Frames between uint8 images and the generator's tensors. A module of its own so that ``autalk generate``
does not import the test-clip renderer (``autalk.generate.clips``), whose manifest and label readers pull in
pandas: starting the command is part of its time (benchmarks/README.md)."""

from __future__ import annotations

import numpy as np
import torch


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """Generator output (T, 3, S, S) in [-1, 1] -> (T, S, S, 3) uint8."""
    return ((frames.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """(..., S, S, 3) uint8 -> (..., 3, S, S) float in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frames)).float().movedim(-1, -3) / 127.5 - 1.0
