"""AU labels from py-feat (``aus.backend: pyfeat``), in two steps across two environments.

py-feat cannot be installed beside the main environment's torch, so the detection runs in ``envs/pyfeat.yaml``
(rule ``detect_aus_pyfeat``, script ``pyfeat_detect.py``, which writes py-feat's raw per-frame output) and this
module, in the main environment, turns that raw table into the AU label table. py-feat's AU models (xgb/svm)
give a presence *probability* per AU, not a FACS intensity: intensity is reported as 5 x probability (an
approximation on the 0-5 scale) and presence as probability >= 0.5. Frames where py-feat found no face are
unsuccessful.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from autalk.aus.labels import make_label_table
from autalk.config import MAX_INTENSITY
from autalk.errors import ConfigError, DataError

SCRIPT = Path(__file__).with_name("pyfeat_detect.py")
# py-feat's "Feat" AU set (AU_LANDMARK_MAP["Feat"]).
PYFEAT_AUS = ["AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU11", "AU12", "AU14", "AU15",
              "AU17", "AU20", "AU23", "AU24", "AU25", "AU26", "AU28", "AU43"]
PRESENCE_PROBABILITY = 0.5


def labels_from_pyfeat(raw_path: str | Path, clip_lengths: dict[str, int], units: list[str]) -> pd.DataFrame:
    """py-feat's raw output -> the AU label table for the given clips (utt_id -> number of frames)."""
    unknown = [u for u in units if u not in PYFEAT_AUS]
    if unknown:
        raise ConfigError(f"aus.units {unknown} are not detected by py-feat (it detects {PYFEAT_AUS})")
    raw_path = Path(raw_path)
    if not raw_path.is_file():
        raise DataError(f"py-feat output {raw_path} does not exist (rule detect_aus_pyfeat, run with --sdm conda)")
    raw = pd.read_parquet(raw_path)
    missing = [c for c in ["utt_id", "frame", "face_score", *units] if c not in raw.columns]
    if missing:
        raise DataError(f"py-feat output {raw_path} lacks columns {missing}")
    groups = dict(tuple(raw.groupby("utt_id", sort=False)))
    absent = [u for u in clip_lengths if u not in groups]
    if absent:
        raise DataError(f"py-feat output {raw_path} has no rows for {len(absent)} kept clips (e.g. {absent[:3]}); "
                        "re-run detect_aus_pyfeat")
    utt_ids, frames, success, probability = [], [], [], []
    for utt_id, n_frames in clip_lengths.items():
        rows = groups[utt_id].sort_values("frame")
        if not np.array_equal(rows["frame"].to_numpy(), np.arange(n_frames)):
            raise DataError(f"py-feat output {raw_path}: clip {utt_id} does not list frames 0..{n_frames - 1}")
        p = rows[units].to_numpy(np.float64)
        found = rows["face_score"].notna().to_numpy() & np.isfinite(p).all(axis=1)
        utt_ids.append(np.full(n_frames, utt_id, dtype=object))
        frames.append(np.arange(n_frames))
        success.append(found)
        probability.append(np.nan_to_num(p))
    p = np.concatenate(probability)
    return make_label_table(np.concatenate(utt_ids), np.concatenate(frames), np.concatenate(success), MAX_INTENSITY * p,
                            (p >= PRESENCE_PROBABILITY).astype(np.int8), units)
