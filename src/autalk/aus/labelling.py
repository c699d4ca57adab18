"""The ``label_aus`` stage: run the configured backend over every kept clip and return the AU label table."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from autalk.aus import landmark_backend, openface, pyfeat_backend
from autalk.aus.labels import make_label_table
from autalk.config import AUConfig, DatasetConfig
from autalk.data.clips import kept_clip_paths, load_clip_array, read_qc
from autalk.errors import DataError

log = logging.getLogger(__name__)


def label_with_landmarks(ds: DatasetConfig, qc_path: str | Path, landmarks_path: str | Path,
                         clips_root: str | Path) -> pd.DataFrame:
    """Landmark geometry per frame; interpolated frames (face gaps) are marked unsuccessful."""
    units = ds.aus.units
    landmark_backend.check_units(units)
    qc = read_qc(qc_path)
    speaker_of = dict(zip(qc["utt_id"], qc["speaker"]))
    paths = kept_clip_paths(qc_path, clips_root)
    tracks = landmark_backend.read_landmarks_table(landmarks_path)
    missing = [u for u in paths if u not in tracks]
    if missing:
        raise DataError(f"landmarks table {landmarks_path} has no rows for kept clips {missing[:3]}")
    utt_ids, frames, speakers, points, measured = [], [], [], [], []
    for utt_id, path in paths.items():
        lm = tracks[utt_id]
        interpolated = load_clip_array(path, "interpolated").astype(bool)
        if len(interpolated) != len(lm):
            raise DataError(f"clip {path} has {len(interpolated)} frames, landmarks table {landmarks_path} {len(lm)}")
        utt_ids.append(np.full(len(lm), utt_id, dtype=object))
        frames.append(np.arange(len(lm)))
        speakers.append(np.full(len(lm), speaker_of[utt_id], dtype=object))
        points.append(lm)
        measured.append(~interpolated)
    measured_all = np.concatenate(measured)
    all_ids = np.concatenate(utt_ids)
    intensity = landmark_backend.estimate_intensities(np.concatenate(points), np.concatenate(speakers), all_ids,
                                                      units, ds.aus.neutral_percentile, ds.aus.landmark_smoothing,
                                                      measured_all)
    presence = (intensity >= ds.aus.presence_threshold).astype(np.int8)
    return make_label_table(all_ids, np.concatenate(frames), measured_all, intensity, presence, units)


def resolve_backend(aus: AUConfig) -> str:
    """The backend ``aus.backend`` names; ``auto`` is OpenFace (the paper's labeller) when ``aus.openface_bin`` is
    set or ``FeatureExtraction`` is on PATH, else the landmark approximation."""
    if aus.backend != "auto":
        return aus.backend
    return "openface" if aus.openface_bin or shutil.which(openface.DEFAULT_BINARY) else "landmarks"


def auto_backend_warning(aus: AUConfig, dataset: str) -> str | None:
    """The warning a run starts with when ``auto`` falls back to the landmark approximation."""
    if aus.backend == "auto" and resolve_backend(aus) == "landmarks":
        return (f"dataset {dataset}: aus.backend auto found no OpenFace ({openface.DEFAULT_BINARY} not on PATH, "
                "aus.openface_bin not set): AU labels come from the landmark approximation, not OpenFace as in "
                "the paper; every table names the backend")
    return None


def label_dataset(ds: DatasetConfig, qc_path: str | Path, landmarks_path: str | Path, clips_root: str | Path,
                  pyfeat_raw: str | Path | None = None) -> tuple[pd.DataFrame, str]:
    """The AU label table of every kept clip, by ``aus.backend``, and the backend that made it."""
    backend = resolve_backend(ds.aus)
    warning = auto_backend_warning(ds.aus, ds.name)
    if warning:
        log.warning(warning)
    paths = kept_clip_paths(qc_path, clips_root)
    if not paths:
        raise DataError(f"QC table {qc_path} has no kept clips to label")
    log.info("labelling %d clips with backend %s, AUs %s", len(paths), backend, ds.aus.units)
    if backend == "landmarks":
        table = label_with_landmarks(ds, qc_path, landmarks_path, clips_root)
    elif backend == "openface":
        table = openface.label_clips(ds.aus, paths)
    else:
        if pyfeat_raw is None:
            raise DataError("aus.backend is pyfeat but no py-feat output was given (rule detect_aus_pyfeat)")
        lengths = {u: len(load_clip_array(p, "interpolated")) for u, p in paths.items()}
        table = pyfeat_backend.labels_from_pyfeat(pyfeat_raw, lengths, ds.aus.units)
    ok = table["success"].mean()
    log.info("%d frames labelled, %.1f%% measured; presence rate per AU: %s", len(table), 100 * ok,
             {u: round(float(table[f"{u}_c"].mean()), 3) for u in ds.aus.units})
    return table, backend
