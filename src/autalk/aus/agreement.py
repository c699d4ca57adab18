"""Agreement of AU label tables with the demo corpus's ground truth: Pearson r of intensity and F1 of presence,
per backend and AU, against the targets the labels must meet to stand in for FACS coding on the demo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from autalk.aus.labels import label_backend, read_au_labels
from autalk.aus.scores import pearson, presence_scores
from autalk.errors import DataError

TARGET_R = {"AU25": 0.8, "AU26": 0.8}
DEFAULT_TARGET_R = 0.6


def read_truth(path: str | Path, units: list[str]) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"ground-truth AU table {path} does not exist")
    truth = pd.read_parquet(path)
    missing = [c for c in ["utt_id", "frame"] + [f"{u}_r" for u in units] if c not in truth.columns]
    if missing:
        raise DataError(f"ground-truth AU table {path} lacks columns {missing}")
    return truth


def agreement(labels: pd.DataFrame, truth: pd.DataFrame, units: list[str], threshold: float,
              backend: str) -> pd.DataFrame:
    """One row per AU over the frames both tables hold and the backend measured.

    ``best_scale`` is the least-squares factor mapping the labels onto the truth (1.0: calibrated).
    """
    merged = labels[labels["success"]].merge(truth, on=["utt_id", "frame"], suffixes=("", "_truth"))
    if merged.empty:
        raise DataError("the AU labels and the ground truth share no (utt_id, frame) rows")
    rows = []
    for unit in units:
        est, ref = merged[f"{unit}_r"].to_numpy(np.float64), merged[f"{unit}_r_truth"].to_numpy(np.float64)
        scores = presence_scores(merged[f"{unit}_c"].to_numpy() == 1, ref >= threshold)
        target = TARGET_R.get(unit, DEFAULT_TARGET_R)
        r = pearson(est, ref)
        rows.append({"backend": backend, "au": unit, "n_frames": len(merged), "pearson_r": r, "f1": scores["f1"],
                     "precision": scores["precision"], "recall": scores["recall"],
                     "mae": float(np.abs(est - ref).mean()),
                     "best_scale": float((est * ref).sum() / max((est * est).sum(), 1e-12)),
                     "target_r": target, "meets_target": bool(r >= target)})
    return pd.DataFrame(rows)


def agreement_table(label_paths: list[str | Path], truth_path: str | Path, units: list[str],
                    threshold: float) -> pd.DataFrame:
    """Agreement of every given label table (each named by the backend recorded in it) with the truth."""
    truth = read_truth(truth_path, units)
    parts = [agreement(read_au_labels(p, units), truth, units, threshold, label_backend(p)) for p in label_paths]
    return pd.concat(parts, ignore_index=True)
