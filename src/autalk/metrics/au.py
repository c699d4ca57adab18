"""AU agreement on generated frames against the AU labels, by two judges: the frozen AU classifier (which the AU
loss optimises, so it favours variants trained with that loss) and the landmark labelling backend run on the
generated faces' own landmarks (``landmark_judge``, which no variant is trained against).

Per clip we keep each AU's confusion counts (frames whose label is unreliable, ``success`` false, are left out),
so tables pool frames over all clips exactly (``pooled_scores``) instead of averaging per-clip ratios.
"""

from __future__ import annotations

import numpy as np
import torch

from autalk.aus.scores import f1_score, macro_mean
from autalk.config import AUConfig

COUNTS = ("tp", "fp", "fn", "tn")


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
