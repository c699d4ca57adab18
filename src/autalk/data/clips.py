"""The preprocessed clip store: one uncompressed ``.npz`` per kept clip, indexed by the QC table.

Preprocessing writes ``resources/{dataset}/clips/{speaker}/{utt_id}.npz``; every later stage reads clips
through this module only, so the on-disk format has one reader and one writer (``save_clip``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from autalk.atomic import atomic_file
from autalk.errors import DataError
from autalk.paths import clip_file

QC_COLUMNS = ["utt_id", "speaker", "status", "reason", "detail", "n_frames", "n_interpolated"]


@dataclass
class Clip:
    """One preprocessed clip at 25 fps. Frames are RGB uint8 aligned crops; landmarks are in crop pixels."""

    utt_id: str
    frames: np.ndarray          # (T, S, S, 3) uint8
    landmarks: np.ndarray       # (T, 68, 2) float32, aligned-crop coordinates
    landmarks_raw: np.ndarray   # (T, 68, 2) float32, source-video coordinates
    transforms: np.ndarray      # (T, 2, 3) float32, similarity source -> crop
    mfcc: np.ndarray            # (N, C) float32, one row per 10 ms
    mfcc_windows: np.ndarray    # (T, C, W) float32, the audio window of each video frame
    interpolated: np.ndarray    # (T,) bool, frames whose face was interpolated over a short gap
    fps: float = 25.0

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])

    def validate(self) -> None:
        t = self.n_frames
        checks = {
            "frames": (self.frames.ndim == 4 and self.frames.shape[3] == 3 and self.frames.dtype == np.uint8),
            "landmarks": self.landmarks.shape == (t, 68, 2),
            "landmarks_raw": self.landmarks_raw.shape == (t, 68, 2),
            "transforms": self.transforms.shape == (t, 2, 3),
            "mfcc_windows": self.mfcc_windows.ndim == 3 and self.mfcc_windows.shape[0] == t,
            "interpolated": self.interpolated.shape == (t,),
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise DataError(f"clip {self.utt_id}: malformed arrays {bad}")


_ARRAYS = ("frames", "landmarks", "landmarks_raw", "transforms", "mfcc", "mfcc_windows", "interpolated")


def save_clip(clip: Clip, path: str | Path) -> None:
    """Write atomically (temp file + rename): an interrupted job never leaves a file that looks complete."""
    clip.validate()
    with atomic_file(path) as tmp, tmp.open("wb") as fh:
        np.savez(fh, utt_id=np.array(clip.utt_id), fps=np.array(clip.fps),
                 **{name: getattr(clip, name) for name in _ARRAYS})


def load_clip(path: str | Path) -> Clip:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            clip = Clip(utt_id=str(data["utt_id"]), fps=float(data["fps"]), **{name: data[name] for name in _ARRAYS})
    except FileNotFoundError:
        raise DataError(f"clip file {path} does not exist") from None
    except (OSError, ValueError, KeyError) as err:
        raise DataError(f"clip file {path} is unreadable or malformed: {err}") from None
    clip.validate()
    return clip


def load_clip_array(path: str | Path, name: str) -> np.ndarray:
    """One array of a clip file without reading the others (e.g. landmarks for a dataset-wide table)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            return data[name]
    except FileNotFoundError:
        raise DataError(f"clip file {path} does not exist") from None
    except (OSError, ValueError, KeyError) as err:
        raise DataError(f"clip file {path} is unreadable or lacks {name!r}: {err}") from None


def read_qc(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"QC table {path} does not exist")
    table = pd.read_parquet(path)
    missing = [c for c in QC_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(f"QC table {path} lacks columns {missing}")
    return table


def kept_clip_paths(qc_path: str | Path, clips_root: str | Path,
                    speakers: list[str] | None = None) -> dict[str, Path]:
    """utt_id -> clip file of every kept clip (of these speakers if given, e.g. ``cfg.splits.train``), in the
    QC table's order. Splits come from the config, never from the table: swapping val and test speakers must
    not redo the preprocessing that wrote it."""
    table = read_qc(qc_path)
    table = table[table["status"] == "kept"]
    if speakers is not None:
        table = table[table["speaker"].isin(speakers)]
    return {row.utt_id: clip_file(clips_root, row.speaker, row.utt_id) for row in table.itertuples()}
