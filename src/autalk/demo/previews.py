"""What a person looks at before trusting the demo corpus: a contact sheet and one muxed mp4 per speaker."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from PIL import Image

from autalk.acquire.manifest import read_manifest
from autalk.atomic import atomic_file
from autalk.demo import media
from autalk.errors import DataError

log = logging.getLogger(__name__)

_SHEET_FRACTIONS = (0.12, 0.3, 0.4, 0.5, 0.6, 0.72)  # where in the first clip each column's frame is taken
_TILE = (144, 115)  # (w, h): 0.4 of a 360x288 frame
_LABEL_W = 70


def read_frames(path: Path) -> np.ndarray:
    """Every frame of a video as (T, H, W, 3) uint8 RGB."""
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    cap.release()
    if not frames:
        raise DataError(f"{path}: no frame could be decoded")
    return np.stack(frames)


def contact_sheet(manifest: pd.DataFrame, split_of: dict[str, str]) -> np.ndarray:
    """One row per speaker (labelled with its name and split, from the config), frames from its first utterance."""
    rows = []
    for speaker, group in manifest.groupby("speaker", sort=True):
        frames = read_frames(Path(group.iloc[0].video_path))
        picks = [frames[min(len(frames) - 1, int(f * len(frames)))] for f in _SHEET_FRACTIONS]
        tiles = [cv2.resize(f, _TILE, interpolation=cv2.INTER_AREA) for f in picks]
        label = np.full((_TILE[1], _LABEL_W, 3), 255, np.uint8)
        cv2.putText(label, str(speaker), (6, _TILE[1] // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(label, split_of.get(str(speaker), "unused"), (6, _TILE[1] // 2 + 20), cv2.FONT_HERSHEY_SIMPLEX,
                    0.45, (90, 90, 90), 1, cv2.LINE_AA)
        rows.append(np.concatenate([label, *tiles], axis=1))
    return np.concatenate(rows, axis=0)


def save_png(image: np.ndarray, path: Path) -> None:
    """A 256-colour PNG (photographs compress ~4x better; the sheet stays small enough to commit)."""
    with atomic_file(path) as tmp:
        Image.fromarray(image).quantize(256, method=Image.Quantize.MEDIANCUT,
                                        dither=Image.Dither.FLOYDSTEINBERG).save(tmp, format="PNG", optimize=True)


def write_previews(manifest_path: Path, sheet: Path, videos: Path, split_of: dict[str, str],
                   per_speaker: int = 3) -> None:
    """The contact sheet PNG and ``videos/{speaker}.mp4``: the speaker's first utterances with their audio."""
    manifest = read_manifest(manifest_path)
    if manifest.empty:
        raise DataError(f"{manifest_path}: manifest has no utterance to preview")
    save_png(contact_sheet(manifest, split_of), sheet)
    videos.mkdir(parents=True, exist_ok=True)
    for speaker, group in manifest.groupby("speaker", sort=True):
        clips = group.head(per_speaker)
        audio = [Path(a) if isinstance(a, str) and a else Path(v) for a, v in zip(clips.audio_path, clips.video_path)]
        media.mux(videos / f"{speaker}.mp4", [Path(v) for v in clips.video_path], audio)
    log.info("wrote %s and %d preview videos into %s", sheet, manifest.speaker.nunique(), videos)
