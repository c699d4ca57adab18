"""Scores shared by the agreement table and the pretraining metrics."""

from __future__ import annotations

import numpy as np


def presence_scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """F1, accuracy, precision and recall of binary presence (1-D arrays of 0/1)."""
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    tp = float((pred & truth).sum())
    fp = float((pred & ~truth).sum())
    fn = float((~pred & truth).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0  # nothing to find and nothing claimed: perfect
    return {"f1": f1, "accuracy": float((pred == truth).mean()) if len(pred) else float("nan"),
            "precision": precision, "recall": recall}


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r, 0.0 where either side is constant (a constant carries no linear relation)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 2 or a.std() < 1e-12 or b.std() < 1e-12:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])
