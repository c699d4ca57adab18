"""LMD (landmark distance, Chen et al. 2018): mean Euclidean distance between dlib's 68 landmarks of generated
and real aligned frames, over the mouth (points 49..68, 0-based 48..67) and over all 68 points.

Both sides go through the same procedure, so real frames against themselves score exactly 0: each frame is
upscaled to at least ``MIN_SIDE`` pixels (dlib's 68-point model was trained on faces far larger than a 64 px
crop), and the shape predictor is fitted in one face box per clip, found by dlib's frontal detector on the first
real frame scored (on the scored window, the identity frame the generator also sees). One box per clip means the
fit is driven by the image alone, not by a box that follows the real jaw. Distances are in the aligned frame's
pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import dlib
import numpy as np

from autalk.preprocess.dlib_models import load_models

MOUTH = slice(48, 68)
MIN_SIDE = 256


def _upscale(frame: np.ndarray) -> tuple[np.ndarray, int]:
    factor = max(1, math.ceil(MIN_SIDE / min(frame.shape[:2])))
    if factor == 1:
        return np.ascontiguousarray(frame), 1
    big = cv2.resize(frame, (frame.shape[1] * factor, frame.shape[0] * factor), interpolation=cv2.INTER_CUBIC)
    return big, factor


def face_box(identity: np.ndarray, fallback_landmarks: np.ndarray | None = None) -> "dlib.rectangle":
    """The clip's face box (in upscaled pixels) from the identity frame; the stored landmarks' bounding box
    when the detector finds nothing; the whole frame as a last resort."""
    big, factor = _upscale(identity)
    found = load_models().detector(big, 0)
    if len(found):
        return max(found, key=lambda r: r.area())
    if fallback_landmarks is not None:
        lo, hi = fallback_landmarks.min(axis=0) * factor, fallback_landmarks.max(axis=0) * factor
        return dlib.rectangle(int(lo[0]), int(lo[1]), int(math.ceil(hi[0])), int(math.ceil(hi[1])))
    return dlib.rectangle(0, 0, big.shape[1] - 1, big.shape[0] - 1)


def fit_landmarks(frames: np.ndarray, box: "dlib.rectangle") -> np.ndarray:
    """dlib 68 landmarks (T, 68, 2) of RGB uint8 frames (T, S, S, 3), in the frames' own pixels."""
    predictor = load_models().predictor
    out = np.empty((len(frames), 68, 2), dtype=np.float64)
    for i, frame in enumerate(frames):
        big, factor = _upscale(frame)
        shape = predictor(big, box)
        out[i] = [(p.x / factor, p.y / factor) for p in shape.parts()]
    return out


@dataclass
class ClipLMD:
    mouth: float  # mean over frames and mouth points, pixels
    all: float    # mean over frames and all 68 points, pixels


def lmd(generated_landmarks: np.ndarray, real_landmarks: np.ndarray) -> ClipLMD:
    """LMD between two landmark tracks (T, 68, 2)."""
    if generated_landmarks.shape != real_landmarks.shape:
        raise ValueError(f"landmark tracks differ in shape: {generated_landmarks.shape} vs {real_landmarks.shape}")
    dist = np.linalg.norm(generated_landmarks - real_landmarks, axis=-1)   # (T, 68)
    return ClipLMD(mouth=float(dist[:, MOUTH].mean()), all=float(dist.mean()))


def clip_landmarks(generated: np.ndarray, real: np.ndarray,
                   stored_landmarks: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """dlib landmarks (T, 68, 2) of generated and real frames of the same clip (both (T, S, S, 3) uint8), fitted
    in the one face box of the first real frame: ``lmd`` of the two is the clip's LMD."""
    box = face_box(real[0], None if stored_landmarks is None else stored_landmarks[0])
    return fit_landmarks(generated, box), fit_landmarks(real, box)
