"""AU agreement on generated frames against the AU labels, by two judges: the frozen AU classifier (which the AU
loss optimises, so it favours variants trained with that loss) and an independent judge which no variant is
trained against: the labelling backend itself read on the generated frames (``judge_for``). With OpenFace labels
that is OpenFace on the generated frames, in the labels' mode (``openface_judge``); otherwise the landmark backend
on the generated faces' own landmarks (``landmark_judge``; py-feat, which runs in its own environment, included).

Per clip we keep each AU's confusion counts (frames whose label is unreliable, ``success`` false, are left out),
so tables pool frames over all clips exactly (``pooled_scores``) instead of averaging per-clip ratios.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from autalk.aus.openface import OpenFace
from autalk.aus.scores import f1_score, macro_mean
from autalk.config import AUConfig

COUNTS = ("tp", "fp", "fn", "tn")


@dataclass(frozen=True)
class Judge:
    """How the tables and the report name an independent judge, so that no reader takes one for the other."""

    title: str       # heads its columns: "AU F1 (<title>)"
    method: str      # what it is, for the tables' notes


JUDGES = {
    "landmarks": Judge("landmark judge", "the landmark labelling backend on the generated faces' own dlib landmarks, "
                                         "the real clip's closed mouth as neutral"),
    "openface": Judge("OpenFace judge", "OpenFace on the generated frames, in the labels' mode; a frame where it "
                                        "finds no face shows no AU"),
}


def judge_for(label_backend: str) -> str:
    """The independent judge of labels made by ``label_backend`` (the name in a label file's metadata)."""
    return "openface" if label_backend == "openface" else "landmarks"


def predict_presence(classifier: torch.nn.Module, frames: np.ndarray, batch: int = 64) -> np.ndarray:
    """Presence decisions (T, K) bool of the classifier on RGB uint8 frames (T, S, S, 3)."""
    device = next(classifier.parameters()).device
    out = []
    with torch.no_grad():
        for i in range(0, len(frames), batch):
            x = torch.from_numpy(frames[i:i + batch]).to(device).permute(0, 3, 1, 2).float() / 127.5 - 1.0
            logits, _ = classifier(x)
            out.append((logits > 0).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), bool)


def confusion_counts(predicted: np.ndarray, labels: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Counts (K, 4) = tp, fp, fn, tn per AU over the valid frames; predicted/labels (T, K) 0/1, valid (T,)."""
    pred, truth = np.asarray(predicted, bool)[valid], np.asarray(labels, bool)[valid]
    return np.stack([(pred & truth).sum(0), (pred & ~truth).sum(0), (~pred & truth).sum(0),
                     (~pred & ~truth).sum(0)], axis=1).astype(np.int64)


def pooled_scores(counts: np.ndarray) -> tuple[float, float]:
    """(macro F1 over the AUs that occur, accuracy over every AU decision) of pooled counts (K, 4)."""
    counts = np.asarray(counts, np.float64)
    tp, fp, fn, tn = counts.T
    total = counts.sum()
    return (macro_mean([f1_score(*c[:3]) for c in counts]),
            float((tp + tn).sum() / total) if total else float("nan"))


def landmark_judge(real_landmarks: np.ndarray, generated_landmarks: np.ndarray, aus: AUConfig) -> np.ndarray:
    """Presence (T, K) of the AUs in generated frames as the landmark labelling backend reads them from the
    generated face's own landmarks: an AU judge independent of the AU classifier the AU loss optimises. The
    neutral geometry is the real clip's (the speaker's closed mouth), so a face that never moves scores none."""
    from autalk.aus.landmark_backend import estimate_intensities

    n = len(real_landmarks)
    intensity = estimate_intensities(np.concatenate([real_landmarks, generated_landmarks]), np.zeros(2 * n),
                                     np.repeat([0, 1], n), aus.units, aus.neutral_percentile,
                                     aus.landmark_smoothing, measured=np.arange(2 * n) < n)[n:]
    return intensity >= aus.presence_threshold


def openface_judge(tool: OpenFace, frames: np.ndarray, name: str, units: list[str]) -> np.ndarray:
    """Presence (T, K) of the AUs in generated RGB frames (T, S, S, 3) as OpenFace reads them, the way it read the
    real frames for the labels. A frame where it finds no face shows no AU: a face too broken to be found must
    not be left out of the score."""
    with tempfile.TemporaryDirectory(prefix="autalk_openface_judge_") as tmp:
        _, _, presence = tool.measure(frames, name, Path(tmp), units)
    return presence.astype(bool)
