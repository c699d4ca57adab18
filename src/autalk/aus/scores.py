"""Scores shared by the agreement table and the pretraining metrics."""

from __future__ import annotations

import numpy as np


def f1_score(tp: float, fp: float, fn: float) -> float:
    """F1 of presence decisions; NaN where the AU never occurs (tp + fn = 0). There is then nothing to find,
    and one stray detection would swing any finite convention between 1 and 0, and a macro mean with it:
    macro scores average over the AUs that occur (``macro_mean``)."""
    return 2 * tp / (2 * tp + fp + fn) if tp + fn else float("nan")


def macro_mean(values) -> float:
    """Mean over the defined (non-NaN) per-AU values; NaN when none is defined."""
    values = np.asarray(values, np.float64)
    return float(values[~np.isnan(values)].mean()) if (~np.isnan(values)).any() else float("nan")


def presence_scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """F1, accuracy, precision and recall of binary presence (1-D arrays of 0/1)."""
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    tp = float((pred & truth).sum())
    fp = float((pred & ~truth).sum())
    fn = float((~pred & truth).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = f1_score(tp, fp, fn)
    return {"f1": f1, "accuracy": float((pred == truth).mean()) if len(pred) else float("nan"),
            "precision": precision, "recall": recall}


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r, 0.0 where either side is constant (a constant carries no linear relation)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 2 or a.std() < 1e-12 or b.std() < 1e-12:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])
