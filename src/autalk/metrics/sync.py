"""Audio-visual synchronisation measured with a sync expert, as SyncNet does (Chung & Zisserman 2016).

For every offset d in [-D, D] the expert's embedding of each video window (frames i .. i+F-1) is compared with
the audio window d frames later; the distances are averaged over the windows, giving one curve per clip.
The offset is where the curve is lowest and the confidence is the curve's median minus its minimum: a face that
moves with the audio has a sharp dip, a static face a flat curve. A positive offset means the audio lags the
video (the sound for frame i comes d frames later). Offsets are searched only where at least half of the clip's
windows overlap the audio, so a short clip is not judged on a handful of windows at the curve's ends.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class SyncResult:
    offset: int               # frames; positive: audio lags video
    confidence: float         # median - min of the distance curve
    min_distance: float       # the curve's minimum (SyncNet's "LSE-D" when the expert is the official one)
    offsets: np.ndarray       # (n,) offsets searched
    distances: np.ndarray     # (n,) mean distance per offset


def distance_curve(video_emb: torch.Tensor, audio_emb: torch.Tensor, max_offset: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean distance per offset between window embeddings video (N, E) and audio (M, E), window i <-> i + d."""
    n, m = len(video_emb), len(audio_emb)
    reach = min(max_offset, min(n, m) // 2)
    dist = torch.cdist(video_emb.float(), audio_emb.float()).cpu().numpy()       # (N, M)
    offsets = np.arange(-reach, reach + 1)
    curve = np.empty(len(offsets))
    for k, d in enumerate(offsets):
        i = np.arange(max(0, -d), min(n, m - d))
        curve[k] = dist[i, i + d].mean()
    return offsets, curve


def sync_from_curve(offsets: np.ndarray, curve: np.ndarray) -> SyncResult:
    best = int(np.argmin(curve))
    return SyncResult(offset=int(offsets[best]), confidence=float(np.median(curve) - curve[best]),
                      min_distance=float(curve[best]), offsets=offsets, distances=curve)
