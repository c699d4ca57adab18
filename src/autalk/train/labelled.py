"""The kept clips of each speaker split with their AU labels: what the AU classifier and the audio-to-AU
networks train, stop and are scored on."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from autalk.aus.labels import ClipLabels, labels_by_clip, read_au_labels
from autalk.config import Splits
from autalk.data.clips import kept_clip_paths
from autalk.errors import DataError

log = logging.getLogger(__name__)


@dataclass
class LabelledClip:
    utt_id: str
    path: Path
    labels: ClipLabels


def labelled_splits(labels_path: str | Path, qc_path: str | Path, clips_root: str | Path,
                    units: list[str], speaker_splits: Splits) -> dict[str, list[LabelledClip]]:
    """split -> the kept clips of its speakers with their labels. A kept clip without labels is an error, not a skip;
    train and test must have clips (val may be empty: training then runs all epochs)."""
    table = labels_by_clip(read_au_labels(labels_path, units), units)
    splits = {}
    for split in ("train", "val", "test"):
        paths = kept_clip_paths(qc_path, clips_root, getattr(speaker_splits, split))
        missing = [u for u in paths if u not in table]
        if missing:
            raise DataError(f"AU label table {labels_path} has no rows for {len(missing)} kept {split} clips "
                            f"(e.g. {missing[:3]}); re-run label_aus")
        if not paths and split != "val":
            raise DataError(f"QC table {qc_path} has no kept clips of the {split} speakers "
                            f"{getattr(speaker_splits, split)}")
        splits[split] = [LabelledClip(u, p, table[u]) for u, p in paths.items()]
    log.info("clips: %s", ", ".join(f"{k} {len(v)}" for k, v in splits.items()))
    return splits
