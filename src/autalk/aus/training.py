"""What the two AU pretraining loops share: devices, speaker splits of labelled clips, presence metrics, early
stopping, and atomic writing of checkpoints and metric tables."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from autalk.atomic import atomic_file
from autalk.aus.labels import ClipLabels, labels_by_clip, read_au_labels
from autalk.data.clips import kept_clip_paths
from autalk.errors import DataError

log = logging.getLogger(__name__)
SEED = 0


@dataclass
class LabelledClip:
    utt_id: str
    path: Path
    labels: ClipLabels


def labelled_splits(labels_path: str | Path, qc_path: str | Path, clips_root: str | Path,
                    units: list[str]) -> dict[str, list[LabelledClip]]:
    """split -> its kept clips with their labels. A kept clip without labels is an error, not a skip; train and
    test must have clips (val may be empty: training then runs all epochs)."""
    table = labels_by_clip(read_au_labels(labels_path, units), units)
    splits = {}
    for split in ("train", "val", "test"):
        paths = kept_clip_paths(qc_path, clips_root, split)
        missing = [u for u in paths if u not in table]
        if missing:
            raise DataError(f"AU label table {labels_path} has no rows for {len(missing)} kept {split} clips "
                            f"(e.g. {missing[:3]}); re-run label_aus")
        if not paths and split != "val":
            raise DataError(f"QC table {qc_path} has no kept clips in split {split!r}")
        splits[split] = [LabelledClip(u, p, table[u]) for u, p in paths.items()]
    log.info("clips: %s", ", ".join(f"{k} {len(v)}" for k, v in splits.items()))
    return splits


class EarlyStopping:
    """Keeps the best state (by a score where higher is better) and says when patience has run out."""

    def __init__(self, patience: int):
        self.patience, self.best, self.best_epoch, self.state, self.bad = patience, -np.inf, -1, None, 0

    def step(self, score: float, epoch: int, model: torch.nn.Module) -> bool:
        """Record an epoch's score; True when training should stop."""
        if score > self.best:
            self.best, self.best_epoch, self.bad = score, epoch, 0
            self.state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
        else:
            self.bad += 1
        return self.bad >= self.patience


def atomic_write(path: str | Path, write) -> None:
    """Call ``write(tmp)`` on a temp file beside ``path``, then rename: no half-written output."""
    with atomic_file(path) as tmp:
        write(tmp)


def save_checkpoint(ckpt: dict, path: str | Path) -> None:
    atomic_write(path, lambda tmp: torch.save(ckpt, tmp))


def write_csv(table: pd.DataFrame, path: str | Path) -> None:
    atomic_write(path, lambda tmp: table.to_csv(tmp, index=False, float_format="%.4f"))
