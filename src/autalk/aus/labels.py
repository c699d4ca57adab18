"""The AU label table (``au_labels.parquet``): one row per frame of every kept clip.

Columns: ``utt_id``, ``frame`` (0-based index into the clip file), ``success`` (the backend measured this frame),
then per configured AU ``AUxx_r`` (intensity, 0-5) and ``AUxx_c`` (presence, 0/1), in the config's AU order.
Every backend produces this table through ``make_label_table`` and every consumer reads it through
``read_au_labels``, so a backend change never reaches the trainers as a silent schema drift. The backend that
made a table is recorded in the parquet metadata (``autalk.au_backend``; OpenFace's mode in
``autalk.openface_mode``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from autalk.atomic import atomic_file
from autalk.config import MAX_INTENSITY
from autalk.errors import DataError

BACKEND_KEY = b"autalk.au_backend"
OPENFACE_MODE_KEY = b"autalk.openface_mode"


def intensity_columns(units: list[str]) -> list[str]:
    return [f"{u}_r" for u in units]


def presence_columns(units: list[str]) -> list[str]:
    return [f"{u}_c" for u in units]


def label_columns(units: list[str]) -> list[str]:
    """The table's columns in their fixed order."""
    cols = ["utt_id", "frame", "success"]
    for unit in units:
        cols += [f"{unit}_r", f"{unit}_c"]
    return cols


def make_label_table(utt_ids: np.ndarray, frames: np.ndarray, success: np.ndarray, intensity: np.ndarray,
                     presence: np.ndarray, units: list[str]) -> pd.DataFrame:
    """Assemble the table from per-frame arrays; intensities are clipped to 0-5 and failed frames zeroed."""
    n = len(utt_ids)
    intensity = np.asarray(intensity, dtype=np.float32).reshape(n, len(units))
    presence = np.asarray(presence).reshape(n, len(units))
    success = np.asarray(success, dtype=bool)
    intensity = np.where(success[:, None], np.clip(np.nan_to_num(intensity), 0.0, MAX_INTENSITY), 0.0)
    presence = np.where(success[:, None], presence, 0).astype(np.int8)
    data: dict[str, object] = {"utt_id": np.asarray(utt_ids, dtype=object).astype(str),
                               "frame": np.asarray(frames, dtype=np.int32), "success": success}
    for k, unit in enumerate(units):
        data[f"{unit}_r"] = intensity[:, k].astype(np.float32)
        data[f"{unit}_c"] = presence[:, k]
    return pd.DataFrame(data, columns=label_columns(units))


def write_au_labels(table: pd.DataFrame, path: str | Path, backend: str, openface_mode: str | None = None) -> None:
    """Write atomically, recording the backend (and for OpenFace its mode) in the file's metadata."""
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    metadata = {**(arrow.schema.metadata or {}), BACKEND_KEY: backend.encode()}
    if openface_mode is not None:
        metadata[OPENFACE_MODE_KEY] = openface_mode.encode()
    arrow = arrow.replace_schema_metadata(metadata)
    with atomic_file(path) as tmp:
        pq.write_table(arrow, tmp)


def label_backend(path: str | Path) -> str:
    """The backend recorded in a label file ("unknown" for files written elsewhere)."""
    metadata = pq.read_schema(path).metadata or {}
    return metadata.get(BACKEND_KEY, b"unknown").decode()


def label_openface_mode(path: str | Path) -> str | None:
    """The OpenFace mode (``image`` or ``sequence``) recorded in a label file made by OpenFace, else None."""
    mode = (pq.read_schema(path).metadata or {}).get(OPENFACE_MODE_KEY)
    return None if mode is None else mode.decode()


def read_au_labels(path: str | Path, units: list[str]) -> pd.DataFrame:
    """Read and validate a label table; raise DataError naming the file and what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"AU label table {path} does not exist (run the label_aus rule)")
    try:
        table = pd.read_parquet(path)
    except Exception as err:  # pyarrow raises several unrelated types for a corrupt file
        raise DataError(f"AU label table {path} is not a readable parquet file: {err}") from None
    missing = [c for c in label_columns(units) if c not in table.columns]
    if missing:
        raise DataError(f"AU label table {path} lacks columns {missing} (configured AUs: {units})")
    problems = []
    if table["utt_id"].isna().any():
        problems.append("empty utt_id")
    if not pd.api.types.is_integer_dtype(table["frame"]) or (table["frame"] < 0).any():
        problems.append("frame must be a non-negative integer")
    if not pd.api.types.is_bool_dtype(table["success"]):
        problems.append("success must be boolean")
    for col in intensity_columns(units):
        values = table[col]
        if not pd.api.types.is_numeric_dtype(values) or values.isna().any():
            problems.append(f"{col} must be numeric without missing values")
        elif ((values < 0) | (values > MAX_INTENSITY)).any():
            problems.append(f"{col} outside 0-{MAX_INTENSITY:g}")
    for col in presence_columns(units):
        values = table[col]
        if not pd.api.types.is_numeric_dtype(values) or not values.isin([0, 1]).all():
            problems.append(f"{col} must be 0/1")
    if not problems and table.duplicated(["utt_id", "frame"]).any():
        problems.append("duplicate (utt_id, frame) rows")
    if problems:
        raise DataError(f"AU label table {path} is malformed: {'; '.join(problems)}")
    table = table[label_columns(units)].copy()
    table["utt_id"] = table["utt_id"].astype(str)
    table["frame"] = table["frame"].astype(np.int32)
    return table.sort_values(["utt_id", "frame"], kind="stable").reset_index(drop=True)


def labels_by_clip(table: pd.DataFrame, units: list[str]) -> dict[str, "ClipLabels"]:
    """utt_id -> that clip's per-frame arrays, ordered by frame (a validated table is assumed)."""
    out = {}
    r_cols, c_cols = intensity_columns(units), presence_columns(units)
    for utt_id, rows in table.groupby("utt_id", sort=False):
        rows = rows.sort_values("frame")
        out[str(utt_id)] = ClipLabels(frames=rows["frame"].to_numpy(np.int64),
                                      success=rows["success"].to_numpy(bool),
                                      intensity=rows[r_cols].to_numpy(np.float32),
                                      presence=rows[c_cols].to_numpy(np.float32))
    return out


@dataclass
class ClipLabels:
    """One clip's labels: ``intensity`` and ``presence`` are (T, K); ``success`` masks unmeasured frames."""

    frames: np.ndarray      # (T,) int
    success: np.ndarray     # (T,) bool
    intensity: np.ndarray   # (T, K) float32, 0-5
    presence: np.ndarray    # (T, K) float32, 0/1

    def aligned(self, n_frames: int, utt_id: str, path: str | Path) -> "ClipLabels":
        """These labels checked to cover exactly frames 0..n_frames-1 of the clip file."""
        if len(self.frames) != n_frames or not np.array_equal(self.frames, np.arange(n_frames)):
            raise DataError(f"AU label table {path}: clip {utt_id} has labels for {len(self.frames)} frames "
                            f"but its clip file has {n_frames}; re-run label_aus")
        return self
