"""Dataset-wide tables from the per-speaker outputs: the merged QC table, the landmarks table, and the QC
summary (counts per reason, per speaker) that a person reads to see what preprocessing dropped and why."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from autalk.atomic import atomic_file
from autalk.data.clips import QC_COLUMNS, load_clip_array, read_qc
from autalk.errors import DataError
from autalk.paths import clip_file
from autalk.preprocess.qc import REASONS

log = logging.getLogger(__name__)

LANDMARK_COLUMNS = [f"x{i}" for i in range(68)] + [f"y{i}" for i in range(68)]


def merge_qc(paths: list[str | Path]) -> pd.DataFrame:
    table = pd.concat([read_qc(p) for p in paths], ignore_index=True)[QC_COLUMNS]
    duplicated = table["utt_id"][table["utt_id"].duplicated()].tolist()
    if duplicated:
        raise DataError(f"QC tables {', '.join(map(str, paths))} repeat utt_id(s) {duplicated[:5]}")
    unknown = sorted(set(table["reason"]) - set(REASONS) - {""})
    if unknown:
        raise DataError(f"QC tables hold unknown reason(s) {unknown}")
    return table


def landmarks_table(qc: pd.DataFrame, clips_root: str | Path) -> pd.DataFrame:
    """One row per frame of every kept clip: utt_id, frame, x0..x67, y0..y67 in aligned-crop pixels."""
    parts = []
    for row in qc[qc["status"] == "kept"].itertuples():
        points = load_clip_array(clip_file(clips_root, row.speaker, row.utt_id), "landmarks")
        if points.shape[0] != row.n_frames:
            raise DataError(f"clip {row.utt_id}: {points.shape[0]} frames on disk, QC table says {row.n_frames}")
        part = pd.DataFrame(np.hstack([points[:, :, 0], points[:, :, 1]]), columns=LANDMARK_COLUMNS)
        part.insert(0, "frame", np.arange(points.shape[0], dtype=np.int32))
        part.insert(0, "utt_id", row.utt_id)
        parts.append(part)
    if not parts:
        return pd.DataFrame({"utt_id": pd.Series(dtype=str), "frame": pd.Series(dtype=np.int32),
                             **{c: pd.Series(dtype=np.float32) for c in LANDMARK_COLUMNS}})
    return pd.concat(parts, ignore_index=True)


def qc_counts(qc: pd.DataFrame) -> pd.DataFrame:
    """Per speaker (and a final ``all`` row): clips, kept, rejected, one column per reason, and the frames
    filled by interpolation in kept clips."""
    def counts(group: pd.DataFrame) -> dict:
        kept = group["status"] == "kept"
        return {"clips": len(group), "kept": int(kept.sum()), "rejected": int((~kept).sum()),
                **{reason: int((group["reason"] == reason).sum()) for reason in REASONS},
                "interpolated_frames": int(group.loc[kept, "n_interpolated"].sum())}

    rows = [{"speaker": speaker, **counts(group)} for speaker, group in qc.groupby("speaker", sort=True)]
    rows.append({"speaker": "all", **counts(qc)})
    return pd.DataFrame(rows)


def summarize(qc_paths: list[str | Path], clips_root: str | Path, qc_out: str | Path, landmarks_out: str | Path,
              summary_out: str | Path) -> pd.DataFrame:
    qc = merge_qc(qc_paths)
    landmarks = landmarks_table(qc, clips_root)
    summary = qc_counts(qc)
    for table, dest in ((qc, qc_out), (landmarks, landmarks_out)):
        with atomic_file(dest) as tmp:
            table.to_parquet(tmp, index=False)
    with atomic_file(summary_out) as tmp:
        summary.to_csv(tmp, index=False)
    log.info("QC: %d of %d clips kept; %d landmark rows", summary.iloc[-1]["kept"], len(qc), len(landmarks))
    return summary
