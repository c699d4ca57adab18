"""Full-reference image quality between generated and real aligned frames: PSNR and SSIM.

PSNR of two identical frames is infinite. Per clip we keep the count of such frames and average PSNR over the
others (``psnr_clip``), so one copied frame (the static-face reference copies the identity frame, which is the
first real frame) cannot turn a clip's mean into inf, and the table can still say how many frames were exact.
A clip whose every frame is identical (the real-video reference) has PSNR inf, reported as such.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.metrics import structural_similarity

DATA_RANGE = 255.0


def _check_pair(generated: np.ndarray, real: np.ndarray) -> None:
    if generated.shape != real.shape:
        raise ValueError(f"generated frames {generated.shape} and real frames {real.shape} differ in shape")


def psnr(generated: np.ndarray, real: np.ndarray) -> float:
    """PSNR (dB) of one uint8 frame against its reference; inf when they are identical."""
    _check_pair(generated, real)
    mse = float(np.mean((generated.astype(np.float64) - real.astype(np.float64)) ** 2))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(DATA_RANGE ** 2 / mse))


def ssim(generated: np.ndarray, real: np.ndarray) -> float:
    """SSIM of one RGB uint8 frame, Wang et al. 2004's settings: 11x11 Gaussian window (sigma 1.5), K1 0.01,
    K2 0.03, population covariances, averaged over the colour channels."""
    _check_pair(generated, real)
    return float(structural_similarity(generated, real, data_range=DATA_RANGE, channel_axis=-1,
                                       gaussian_weights=True, sigma=1.5, use_sample_covariance=False))


@dataclass
class ClipPSNR:
    mean_db: float         # over the frames that differ; inf when every frame is identical
    identical_frames: int  # frames whose PSNR is inf, left out of the mean


def psnr_clip(generated: np.ndarray, real: np.ndarray) -> ClipPSNR:
    """PSNR of a clip (T, H, W, 3): the mean over its non-identical frames plus the count of identical ones."""
    _check_pair(generated, real)
    values = np.array([psnr(g, r) for g, r in zip(generated, real)])
    finite = values[np.isfinite(values)]
    return ClipPSNR(float(finite.mean()) if finite.size else float("inf"), int(values.size - finite.size))


def ssim_clip(generated: np.ndarray, real: np.ndarray) -> float:
    """Mean SSIM over a clip's frames (T, H, W, 3)."""
    _check_pair(generated, real)
    return float(np.mean([ssim(g, r) for g, r in zip(generated, real)]))
