"""The audio-visual sync expert: a SyncNet-style two-stream network trained by the workflow on the training
speakers and used only as a metric (``autalk.metrics.sync``). It is not the official SyncNet, so its scores are
reported as "sync expert" offset/confidence, not as LSE-C/LSE-D.

Video stream: ``frames`` consecutive grey mouth regions (the lower half of the aligned face, resized to
``MOUTH_SIZE``) stacked as channels. Audio stream: the matching MFCC span, ``step`` columns per video frame
(20 columns = 200 ms for 5 frames) centred on the video window as every audio window is
(``autalk.preprocess.audio.window_start``; ``start`` is its first column for frames 0 .. frames - 1, edge-padded
at the clip's ends), normalised per clip and coefficient. Both map to unit-length embeddings;
the distance of an in-sync pair should be small and that of a shifted pair large.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from autalk.errors import DataError
from autalk.metrics.sync import SyncResult, distance_curve, sync_from_curve
from autalk.models.checkpoints import read_checkpoint
from autalk.preprocess.audio import column_windows

KIND = "sync_expert"
MOUTH_SIZE = (32, 64)  # (height, width) of the grey mouth region fed to the video stream
EMBEDDING = 128


def _conv(in_ch: int, out_ch: int, stride: int | tuple[int, int] = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(out_ch),
                         nn.ReLU(inplace=True))


class SyncExpert(nn.Module):
    def __init__(self, frames: int, n_mfcc: int, step: int, start: int):
        super().__init__()
        self.frames, self.n_mfcc, self.step, self.start = frames, n_mfcc, step, start
        # Small on purpose (about 4 M multiply-adds per audio-video pair): it is a metric trained on every
        # dataset, also on a laptop CPU for the demo.
        self.video = nn.Sequential(_conv(frames, 16, 2), _conv(16, 32, 2), _conv(32, 64, 2), _conv(64, 128, 2),
                                   nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, EMBEDDING))
        self.audio = nn.Sequential(_conv(1, 16), _conv(16, 32, (1, 2)), _conv(32, 64, 2), _conv(64, 128, 2),
                                   nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, EMBEDDING))
        self.logit_scale = nn.Parameter(torch.tensor(np.log(10.0), dtype=torch.float32))

    @property
    def audio_columns(self) -> int:
        return self.frames * self.step

    def embed_video(self, windows: torch.Tensor) -> torch.Tensor:
        """(N, frames, H, W) in [-1, 1] -> (N, E) unit vectors."""
        return F.normalize(self.video(windows), dim=1)

    def embed_audio(self, windows: torch.Tensor) -> torch.Tensor:
        """(N, n_mfcc, columns) normalised MFCC -> (N, E) unit vectors."""
        return F.normalize(self.audio(windows.unsqueeze(1)), dim=1)

    # ------------------------------------------------------------------------------------------ inputs
    def video_windows(self, frames: np.ndarray) -> torch.Tensor:
        """RGB uint8 aligned frames (T, S, S, 3) -> (T - frames + 1, frames, H, W) grey mouth stacks in [-1, 1]."""
        mouths = mouth_regions(frames)
        n = len(mouths) - self.frames + 1
        if n < 1:
            raise DataError(f"a clip of {len(mouths)} frames is shorter than the sync window of {self.frames}")
        stacked = np.stack([mouths[i:i + n] for i in range(self.frames)], axis=1)
        return torch.from_numpy(stacked).float() / 127.5 - 1.0

    def audio_windows(self, mfcc: np.ndarray) -> torch.Tensor:
        """MFCC (N, C) at ``step`` columns per video frame -> (M, C, frames * step): window i is centred on video
        frames i .. i + frames - 1, one per video window of the N // step frames the audio spans."""
        n = len(mfcc) // self.step - self.frames + 1
        if n < 1:
            raise DataError(f"{len(mfcc)} MFCC columns are shorter than the sync window of {self.audio_columns}")
        return torch.from_numpy(column_windows(normalise_mfcc(mfcc), n, self.audio_columns, self.step, self.start))


def mouth_regions(frames: np.ndarray) -> np.ndarray:
    """The lower half of each aligned face, grey and resized to ``MOUTH_SIZE``: (T, H, W) uint8."""
    s = frames.shape[1]
    out = np.empty((len(frames), *MOUTH_SIZE), dtype=np.uint8)
    for i, frame in enumerate(frames):
        grey = cv2.cvtColor(np.ascontiguousarray(frame[s // 2:]), cv2.COLOR_RGB2GRAY)
        out[i] = cv2.resize(grey, MOUTH_SIZE[::-1], interpolation=cv2.INTER_AREA)
    return out


def normalise_mfcc(mfcc: np.ndarray) -> np.ndarray:
    """Per-clip, per-coefficient mean and variance normalisation (removes channel and speaker level offsets)."""
    mfcc = np.asarray(mfcc, np.float32)
    return (mfcc - mfcc.mean(0)) / (mfcc.std(0) + 1e-5)


@torch.no_grad()
def measure_sync(expert: SyncExpert, frames: np.ndarray, mfcc: np.ndarray, max_offset: int,
                 batch: int = 256) -> SyncResult:
    """Offset and confidence of aligned frames (T, S, S, 3) against the clip's MFCC (N, C)."""
    device = next(expert.parameters()).device
    video = expert.video_windows(frames)
    audio = expert.audio_windows(mfcc)
    v = torch.cat([expert.embed_video(video[i:i + batch].to(device)) for i in range(0, len(video), batch)])
    a = torch.cat([expert.embed_audio(audio[i:i + batch].to(device)) for i in range(0, len(audio), batch)])
    return sync_from_curve(*distance_curve(v, a, max_offset))


def sync_expert_checkpoint(expert: SyncExpert, config: dict, extra: dict | None = None) -> dict:
    return {"kind": KIND, "config": config,
            "arch": {"frames": expert.frames, "n_mfcc": expert.n_mfcc, "step": expert.step, "start": expert.start},
            "state_dict": {k: v.detach().cpu() for k, v in expert.state_dict().items()}, **(extra or {})}


def load_sync_expert(path: str | Path, device: str | torch.device = "cpu") -> SyncExpert:
    """The trained expert, frozen in eval mode on ``device``."""
    ckpt = read_checkpoint(path, KIND, "sync expert checkpoint", "run the train_sync_expert rule")
    expert = SyncExpert(**ckpt["arch"])
    expert.load_state_dict(ckpt["state_dict"])
    expert.requires_grad_(False)
    return expert.to(device).eval()
