"""AU intensities measured from the 68 tracked landmarks: the offline default backend, and the demo's.

This *approximates* FACS coding from 2-D geometry; it is not FACS coding and no substitute for OpenFace on real
corpora. Landmarks are in aligned-crop coordinates (head translation, rotation and scale already removed) and every
distance is divided by the frame's inter-ocular distance ``u``. Five measures are taken per frame:

    gap     mean inner-lip gap, points 61-63 to 67-65
    chin    nose base (33) to chin (8)
    width   mouth corner to mouth corner (48-54)
    lift    height of the top of the upper lip (mean of 50-52) below the nose base (33), negated: vertical
            distance in the aligned crop, so that raising the lip increases ``lift``

Each measure is smoothed over time within its clip (a Gaussian of ``aus.landmark_smoothing`` frames: dlib's
frame-to-frame jitter is of the order of the smallest AU displacements, while the articulators move smoothly at
25 fps). Each speaker's *neutral geometry* is the median of every measure over that speaker's closed-mouth frames:
those at or below the ``aus.neutral_percentile`` percentile of ``gap`` (the low percentile: rest and bilabial
closures).
A neutral reference per speaker, not per corpus, removes what differs between faces at rest (lip thickness, mouth
width, jaw length). With ``d_m = (m - neutral_m) / u``, the intensities (clipped to 0-5) are the functions
documented on ``au10``...``au26`` below. Presence is ``intensity >= aus.presence_threshold``.

Scales were fitted by least squares on the demo corpus's ground truth (``au-agreement`` reports the best-fitting
scale per AU beside the correlation, so a calibration can be checked or refitted wherever ground truth exists).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter1d

from autalk.config import MAX_INTENSITY
from autalk.errors import ConfigError, DataError

CHIN, NOSE_BASE, CORNERS = 8, 33, (48, 54)
RIGHT_EYE, LEFT_EYE = slice(36, 42), slice(42, 48)
UPPER_LIP_TOP, INNER_UPPER, INNER_LOWER = [50, 51, 52], [61, 62, 63], [67, 66, 65]
MEASURES = ("gap", "chin", "width", "lift")

# Calibrated on the demo ground truth (see the module docstring).
SCALE = {"AU10": 12.0, "AU14": 27.0, "AU20": 28.3, "AU25": 10.8, "AU26": 12.3}
LIFT_FROM_WIDTH = 0.2    # rounding pushes the lip middle up while narrowing the mouth
JAW_FULL = 0.45          # chin drop (in u) of a fully open jaw, which ends the dimpler


def measure(landmarks: np.ndarray) -> dict[str, np.ndarray]:
    """(N, 68, 2) landmarks -> each measure (N,) in inter-ocular units."""
    lm = np.asarray(landmarks, dtype=np.float64)
    u = np.maximum(np.linalg.norm(lm[:, RIGHT_EYE].mean(1) - lm[:, LEFT_EYE].mean(1), axis=-1), 1e-6)
    dist = lambda a, b: np.linalg.norm(lm[:, a] - lm[:, b], axis=-1)  # noqa: E731
    return {"gap": dist(INNER_UPPER, INNER_LOWER).mean(1) / u,
            "chin": dist(CHIN, NOSE_BASE) / u,
            "width": dist(CORNERS[0], CORNERS[1]) / u,
            "lift": (lm[:, NOSE_BASE, 1] - lm[:, UPPER_LIP_TOP, 1].mean(1)) / u}


def au10(d: dict[str, np.ndarray]) -> np.ndarray:
    """Upper lip raiser: the upper lip rising towards the nose, less what rounding lifts.
    ``AU10 = s * (d_lift + 0.2 * d_width)``: rounding pushes the lip middle up while narrowing the mouth (negative
    ``d_width``). Lip parting also lifts the upper lip a little; subtracting that share (a ``d_gap`` term) lowered
    the agreement on the demo, where dlib's tracking underestimates the raiser itself."""
    return SCALE["AU10"] * (d["lift"] + LIFT_FROM_WIDTH * d["width"])


def au14(d: dict[str, np.ndarray]) -> np.ndarray:
    """Dimpler: the corners pulled back (a wider mouth) while the jaw stays closed.
    ``AU14 = s * d_width * max(0, 1 - d_chin / 0.45)``."""
    return SCALE["AU14"] * np.maximum(d["width"], 0) * np.clip(1 - d["chin"] / JAW_FULL, 0, 1)


def au20(d: dict[str, np.ndarray]) -> np.ndarray:
    """Lip stretcher: the corners pulled outwards. ``AU20 = s * d_width``."""
    return SCALE["AU20"] * d["width"]


def au25(d: dict[str, np.ndarray]) -> np.ndarray:
    """Lips part: the inner lips apart. ``AU25 = s * d_gap``."""
    return SCALE["AU25"] * d["gap"]


def au26(d: dict[str, np.ndarray]) -> np.ndarray:
    """Jaw drop: the chin away from the nose. ``AU26 = s * d_chin``."""
    return SCALE["AU26"] * d["chin"]


FORMULAS: dict[str, Callable[[dict[str, np.ndarray]], np.ndarray]] = {
    "AU10": au10, "AU14": au14, "AU20": au20, "AU25": au25, "AU26": au26}


def check_units(units: list[str]) -> None:
    unknown = [u for u in units if u not in FORMULAS]
    if unknown:
        raise ConfigError(f"aus.units {unknown} have no landmark formula (the landmarks backend measures "
                          f"{sorted(FORMULAS)}); choose backend openface or pyfeat for other AUs")


def neutral_geometry(measures: dict[str, np.ndarray], percentile: float) -> dict[str, float]:
    """Median of each measure over the closed-mouth frames (gap at or below its ``percentile``)."""
    closed = measures["gap"] <= np.percentile(measures["gap"], percentile)
    return {name: float(np.median(values[closed])) for name, values in measures.items()}


def smooth_within_clips(values: np.ndarray, clip_ids: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing over time of (N,) per-frame values, never across a clip boundary."""
    if sigma <= 0:
        return values
    out = np.empty_like(values)
    starts = np.flatnonzero(np.r_[True, clip_ids[1:] != clip_ids[:-1]])
    for a, b in zip(starts, np.r_[starts[1:], len(values)]):
        out[a:b] = gaussian_filter1d(values[a:b], sigma, mode="nearest")
    return out


def estimate_intensities(landmarks: np.ndarray, speakers: np.ndarray, clip_ids: np.ndarray, units: list[str],
                         neutral_percentile: float, smoothing: float = 1.0,
                         measured: np.ndarray | None = None) -> np.ndarray:
    """(N, 68, 2) landmarks of a dataset's frames (each clip's frames contiguous and in order), each frame's
    speaker and clip -> (N, K) intensities in 0-5.

    ``measured`` marks frames whose landmarks were tracked rather than interpolated over a face gap; only those
    define a speaker's neutral geometry.
    """
    check_units(units)
    clip_ids = np.asarray(clip_ids)
    measures = {k: smooth_within_clips(v, clip_ids, smoothing) for k, v in measure(landmarks).items()}
    speakers = np.asarray(speakers)
    measured = np.ones(len(speakers), bool) if measured is None else np.asarray(measured, bool)
    out = np.zeros((len(speakers), len(units)))
    for speaker in np.unique(speakers):
        rows = speakers == speaker
        reference = rows & measured if (rows & measured).any() else rows
        neutral = neutral_geometry({k: v[reference] for k, v in measures.items()}, neutral_percentile)
        deltas = {k: v[rows] - neutral[k] for k, v in measures.items()}
        out[rows] = np.stack([FORMULAS[u](deltas) for u in units], axis=1)
    return np.clip(out, 0.0, MAX_INTENSITY).astype(np.float32)


def read_landmarks_table(path: str | Path) -> dict[str, np.ndarray]:
    """The preprocessing's landmarks table (utt_id, frame, x0..x67, y0..y67) -> utt_id -> (T, 68, 2)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"landmarks table {path} does not exist")
    table = pd.read_parquet(path)
    cols = [f"x{i}" for i in range(68)] + [f"y{i}" for i in range(68)]
    missing = [c for c in ["utt_id", "frame"] + cols if c not in table.columns]
    if missing:
        raise DataError(f"landmarks table {path} lacks columns {missing[:6]}")
    out = {}
    for utt_id, rows in table.groupby("utt_id", sort=False):
        rows = rows.sort_values("frame")
        if not np.array_equal(rows["frame"].to_numpy(), np.arange(len(rows))):
            raise DataError(f"landmarks table {path}: clip {utt_id} does not list frames 0..{len(rows) - 1}")
        xy = rows[cols].to_numpy(np.float32)
        out[str(utt_id)] = np.stack([xy[:, :68], xy[:, 68:]], axis=-1)
    return out
