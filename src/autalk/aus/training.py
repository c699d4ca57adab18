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
from autalk.config import Splits
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
                    units: list[str], speaker_splits: Splits) -> dict[str, list[LabelledClip]]:
    """split -> the kept clips of its speakers with their labels. A kept clip without labels is an error, not a skip; train and
    test must have clips (val may be empty: training then runs all epochs)."""
    table = labels_by_clip(read_au_labels(labels_path, units), units)
    splits = {}
    for split in ("train", "val", "test"):
        paths = kept_clip_paths(qc_path, clips_root, getattr(speaker_splits, split))
        missing = [u for u in paths if u not in table]
        if missing:
            raise DataError(f"AU label table {labels_path} has no rows for {len(missing)} kept {split} clips "
                            f"(e.g. {missing[:3]}); re-run label_aus")
        if not paths and split != "val":
            raise DataError(f"QC table {qc_path} has no kept clips of the {split} speakers {getattr(speaker_splits, split)}")
        splits[split] = [LabelledClip(u, p, table[u]) for u, p in paths.items()]
    log.info("clips: %s", ", ".join(f"{k} {len(v)}" for k, v in splits.items()))
    return splits


class EarlyStopping:
    """Keeps the best state by the val speakers' ``measure`` and says when patience has run out; without val
    speakers (``val`` None) every epoch counts as better, so the last one is kept."""

    def __init__(self, patience: int, measure: str, higher_is_better: bool):
        self.patience, self.measure, self.sign = patience, measure, 1.0 if higher_is_better else -1.0
        self.best, self.best_epoch, self.state, self.bad = -np.inf, -1, None, 0
        self.best_value: float | None = None      # the kept epoch's val measure, in its own units

    def end_epoch(self, epoch: int, train_loss: float, val: float | None, model: torch.nn.Module) -> bool:
        """Log the epoch, keep the model's state if it is the best so far; True when training should stop."""
        if val is None:
            log.info("epoch %d: train loss %.4f (no val speakers)", epoch + 1, train_loss)
            score = float(epoch)
        else:
            log.info("epoch %d: train loss %.4f, %s %.4f", epoch + 1, train_loss, self.measure, val)
            score = self.sign * val
        if score > self.best:
            self.best, self.best_epoch, self.bad, self.best_value = score, epoch, 0, val
            self.state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
        else:
            self.bad += 1
        if self.bad >= self.patience:
            log.info("early stop: %s has not improved for %d epochs", self.measure, self.patience)
            return True
        return False

    def restore(self, model: torch.nn.Module) -> None:
        model.load_state_dict(self.state)
        log.info("kept epoch %d", self.best_epoch + 1)


def save_checkpoint(ckpt: dict, path: str | Path) -> None:
    with atomic_file(path) as tmp:
        torch.save(ckpt, tmp)


def write_csv(table: pd.DataFrame, path: str | Path) -> None:
    with atomic_file(path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")
