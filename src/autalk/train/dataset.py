"""Training windows from the preprocessed clip files: the aligned frames, the per-frame MFCC windows and the AU
labels of ``clip_length`` consecutive frames, plus the clip's identity frame (``training.identity_frame``, by
default frame ``clip_start``, the first clip frame as in the paper; generation animates the same frame).

Where each window starts is decided by a deterministic plan (``WindowPlan``): a permutation of the clips and a
start per clip drawn from a generator seeded with (seed, epoch). Batches therefore depend only on the step
number, which makes resuming exact and needs no sampler state beyond the step, and DDP ranks take disjoint
slices of the same plan. With ``training.windows: clip`` (the default, for every variant alike) each clip gives
its one window starting at ``clip_start``, the paper's clips; with ``random`` windows start anywhere in the clip,
which shows the fusion more audio contexts per epoch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from autalk.aus.labels import ClipLabels, labels_by_clip, read_au_labels
from autalk.data.clips import Clip, load_clip
from autalk.errors import DataError

log = logging.getLogger(__name__)


@dataclass
class ClipInfo:
    utt_id: str
    path: Path
    n_frames: int


def clip_length_of(path: Path) -> int:
    """Frame count of a clip file without reading its frames (npz members load lazily)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return int(data["interpolated"].shape[0])
    except FileNotFoundError:
        raise DataError(f"clip file {path} does not exist") from None
    except (OSError, ValueError, KeyError) as err:
        raise DataError(f"clip file {path} is unreadable or malformed: {err}") from None


class ClipWindows(Dataset):
    """Items are keyed by ``(clip index, start frame)``; each is a dict of tensors:

    ``identity`` (S, S, 3) uint8, ``frames`` (L, S, S, 3) uint8, ``mfcc`` (L, C, W) float32, ``au_intensity`` and
    ``au_presence`` (L, K) float32, ``au_mask`` (L,) float32 (0 where the AU labeller failed), ``mouth_box`` (L, 4)
    float32 (x0, y0, x1, y1 in crop pixels, see ``mouth_boxes``). Frames stay uint8
    until they reach the training device: a quarter of the bytes to move.

    Clips are held in memory when their files total at most ``cache_bytes`` (the demo, a few GRID speakers);
    otherwise each item reads its clip file (uncompressed npz, no image decoding).
    """

    def __init__(self, clips: list[ClipInfo], labels: dict[str, ClipLabels], labels_path: Path, length: int,
                 mfcc_shape: tuple[int, int], cache_bytes: int, identity_index: Callable[[int], int]):
        self.clips = clips
        self.identity_index = identity_index
        self.length = length
        self.mfcc_shape = mfcc_shape
        self.labels_path = labels_path
        missing = [c.utt_id for c in clips if c.utt_id not in labels]
        if missing:
            raise DataError(f"AU label table {labels_path} has no rows for {len(missing)} kept clip(s), "
                            f"e.g. {missing[:3]}; re-run label_aus")
        self.labels = {c.utt_id: labels[c.utt_id].aligned(c.n_frames, c.utt_id, labels_path) for c in clips}
        total = sum(c.path.stat().st_size for c in clips)
        self.cached: list[Clip] | None = None
        if total <= cache_bytes:
            self.cached = [self._read(i) for i in range(len(clips))]
        log.info("%d clips (%.0f MiB of clip files) %s", len(clips), total / 2**20,
                 "held in memory" if self.cached is not None else "read from disk per sample")

    def _read(self, index: int) -> Clip:
        info = self.clips[index]
        clip = load_clip(info.path)
        if clip.n_frames != info.n_frames or clip.mfcc_windows.shape[1:] != self.mfcc_shape:
            raise DataError(f"clip file {info.path}: {clip.n_frames} frames with MFCC windows "
                            f"{clip.mfcc_windows.shape[1:]}, expected {info.n_frames} frames and {self.mfcc_shape} "
                            "(preprocessing settings changed? re-run preprocessing)")
        return clip

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, torch.Tensor]:
        index, start = key
        clip = self.cached[index] if self.cached is not None else self._read(index)
        labels = self.labels[clip.utt_id]
        window = slice(start, start + self.length)
        return {
            "identity": torch.from_numpy(np.ascontiguousarray(clip.frames[self.identity_index(clip.n_frames)])),
            "frames": torch.from_numpy(np.ascontiguousarray(clip.frames[window])),
            "mfcc": torch.from_numpy(np.ascontiguousarray(clip.mfcc_windows[window], dtype=np.float32)),
            "au_intensity": torch.tensor(labels.intensity[window]),
            "au_presence": torch.tensor(labels.presence[window]),
            "au_mask": torch.tensor(labels.success[window], dtype=torch.float32),
            "mouth_box": torch.from_numpy(mouth_boxes(clip.landmarks[window])),
            "lower_face_box": torch.from_numpy(lower_face_boxes(clip.landmarks[window])),
        }


def _boxes_around(points: np.ndarray, margin: float) -> np.ndarray:
    """(T, N, 2) points -> (T, 4) boxes x0, y0, x1, y1 around them, widened by ``margin`` x the box's larger side."""
    lo, hi = points.min(axis=1), points.max(axis=1)
    pad = margin * (hi - lo).max(axis=1, keepdims=True)
    return np.concatenate([lo - pad, hi + pad], axis=1).astype(np.float32)


def mouth_boxes(landmarks: np.ndarray, margin: float = 0.25) -> np.ndarray:
    """(T, 68, 2) crop-pixel landmarks -> (T, 4) boxes around the mouth (dlib points 49-68), widened so the lips'
    motion stays inside."""
    return _boxes_around(landmarks[:, 48:68], margin)


def lower_face_boxes(landmarks: np.ndarray, margin: float = 0.1) -> np.ndarray:
    """(T, 68, 2) crop-pixel landmarks -> (T, 4) boxes around what speech moves: the mouth (dlib points 49-68) and
    the jaw from cheek to cheek (points 3-15, the chin among them)."""
    return _boxes_around(np.concatenate([landmarks[:, 2:15], landmarks[:, 48:68]], axis=1), margin)


class WindowPlan:
    """Which (clip, start) pairs make batch ``b`` of epoch ``e`` on rank ``r``: a pure function of its arguments."""

    def __init__(self, n_frames: list[int], length: int, batch_size: int, seed: int, fixed_start: int | None,
                 rank: int = 0, world_size: int = 1):
        self.n_frames = n_frames
        self.length = length
        self.batch_size = batch_size
        self.seed = seed
        self.fixed_start = fixed_start
        self.rank = rank
        self.world_size = world_size
        self.batches_per_epoch = len(n_frames) // (batch_size * world_size)  # incomplete batches are dropped
        self._epoch: int | None = None
        self._order: tuple[np.ndarray, np.ndarray] | None = None

    def _epoch_order(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        if self._epoch != epoch:
            rng = np.random.default_rng([self.seed, epoch])
            order = rng.permutation(len(self.n_frames))
            if self.fixed_start is not None:
                starts = np.full(len(order), self.fixed_start)
            else:
                room = np.asarray(self.n_frames)[order] - self.length + 1
                starts = (rng.random(len(order)) * room).astype(np.int64)
            self._epoch, self._order = epoch, (order, starts)
        return self._order

    def batch(self, step: int) -> list[tuple[int, int]]:
        epoch, index = divmod(step, self.batches_per_epoch)
        order, starts = self._epoch_order(epoch)
        first = (index * self.world_size + self.rank) * self.batch_size
        span = range(first, first + self.batch_size)
        return [(int(order[i]), int(starts[i])) for i in span]


class StepBatchSampler(Sampler):
    """The plan's batches for steps ``start_step .. total_steps-1``, in order (a resumed run starts mid-plan)."""

    def __init__(self, plan: WindowPlan, start_step: int, total_steps: int):
        self.plan = plan
        self.start_step = start_step
        self.total_steps = total_steps

    def __iter__(self):
        for step in range(self.start_step, self.total_steps):
            yield self.plan.batch(step)

    def __len__(self) -> int:
        return max(0, self.total_steps - self.start_step)


def usable_clips(paths: dict[str, Path], needed: int) -> tuple[list[ClipInfo], list[ClipInfo]]:
    """Split clips into those with at least ``needed`` frames and those too short for a training window."""
    infos = [ClipInfo(utt_id, path, clip_length_of(path)) for utt_id, path in paths.items()]
    return [c for c in infos if c.n_frames >= needed], [c for c in infos if c.n_frames < needed]


def load_labels(path: Path, units: list[str]) -> dict[str, ClipLabels]:
    return labels_by_clip(read_au_labels(path, units), units)
