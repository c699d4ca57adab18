"""The four GRID faces of the demo corpus: one closed-mouth, open-eyed frame from each real GRID clip.

The demo synthesiser runs from packaged assets only (the workflow makes the corpus on a clean install, where
``tests/`` does not exist), so the chosen frames are stored as ``assets/grid_{sentence}.jpg``. This module makes
them again from the clips (``autalk demo-grid-faces``), so the assets are reproducible: in every frame where
dlib finds exactly one face, the frame whose inner lips are closest together (relative to the eye distance)
among those whose eyes are at least as open as the clip's median, so that a blink is never the rest pose.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from autalk.atomic import atomic_file
from autalk.demo.faces import detect_landmarks
from autalk.demo.previews import read_frames
from autalk.demo.render import inter_ocular, mouth_opening
from autalk.errors import DataError

log = logging.getLogger(__name__)

JPEG_QUALITY = 95  # the clips are MPEG-1 already; this adds no visible loss at ~30 kB a face


@dataclass
class ChosenFrame:
    """The frame of a clip that becomes a demo speaker's face, and why it was chosen."""

    clip: Path
    index: int
    image: np.ndarray  # (H, W, 3) uint8 RGB
    mouth_gap: float  # inner-lip gap / inter-ocular distance
    eye_open: float  # eye aspect ratio, mean of both eyes


def eye_openness(points: np.ndarray) -> float:
    """The mean eye aspect ratio (lid distance over eye width) of both eyes of dlib's 68 landmarks."""
    ratios = []
    for a in (36, 42):
        lids = np.linalg.norm(points[a + 1] - points[a + 5]) + np.linalg.norm(points[a + 2] - points[a + 4])
        ratios.append(lids / (2 * np.linalg.norm(points[a] - points[a + 3])))
    return float(np.mean(ratios))


def closed_mouth_frame(clip: Path) -> ChosenFrame:
    """The frame of ``clip`` with the most closed mouth among those with open eyes (module docstring)."""
    frames = read_frames(clip)
    found = []
    for i, frame in enumerate(frames):
        faces = detect_landmarks(frame)
        if len(faces) == 1:
            p = faces[0]
            found.append((i, float(mouth_opening(p)) / inter_ocular(p), eye_openness(p)))
    if not found:
        raise DataError(f"{clip}: dlib finds exactly one face in none of its {len(frames)} frames")
    median_eye = float(np.median([e for *_, e in found]))
    i, gap, eye = min((f for f in found if f[2] >= median_eye), key=lambda f: (f[1], f[0]))
    return ChosenFrame(clip, i, frames[i], gap, eye)


def asset_name(clip: Path) -> str:
    """The packaged photo name of a clip's face: ``grid_`` and the clip's sentence id."""
    return f"grid_{clip.stem}"


def extract_grid_faces(clips: list[Path], out: Path) -> list[ChosenFrame]:
    """Write ``out/grid_{sentence}.jpg`` for every clip (atomically, each) and return the chosen frames."""
    if not clips:
        raise DataError("no GRID clip given to extract faces from")
    chosen = []
    for clip in clips:
        frame = closed_mouth_frame(clip)
        path = out / f"{asset_name(clip)}.jpg"
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR),
                                [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise DataError(f"{path}: the frame could not be encoded as JPEG")
        with atomic_file(path) as tmp:
            tmp.write_bytes(jpeg.tobytes())
        log.info("%s: frame %d (inner-lip gap %.3f of the eye distance, eye openness %.2f) -> %s",
                 clip, frame.index, frame.mouth_gap, frame.eye_open, path)
        chosen.append(frame)
    return chosen
