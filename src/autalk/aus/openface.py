"""AU labels from OpenFace 2's ``FeatureExtraction`` (what the paper's authors used; the choice for GRID/TCD-TIMIT).

Each clip's aligned frames are written as PNGs to a temporary directory, the binary runs on it with ``-aus``,
and its CSV is parsed. OpenFace writes its header with a space after each comma (`` AU10_r``), numbers frames
from 1, emits zeros for frames where it lost the face (``success`` 0), and codes AU28 presence without an
intensity; the parser handles all of these and checks that every configured AU is one OpenFace measures.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from autalk.aus.labels import make_label_table
from autalk.data.clips import load_clip
from autalk.errors import ConfigError, DataError

log = logging.getLogger(__name__)

# What OpenFace 2.2 estimates: intensities for 17 AUs, presence for those plus AU28.
OPENFACE_INTENSITY_AUS = ["AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12", "AU14",
                          "AU15", "AU17", "AU20", "AU23", "AU25", "AU26", "AU45"]
DEFAULT_BINARY = "FeatureExtraction"     # looked up on PATH when aus.openface_bin is not set (backend auto)
# OpenFace's detector and CLNF landmark model are trained on faces of ~100-300 px: smaller crops are enlarged.
MIN_SIDE = 224
INSTALL_HINT = ("OpenFace 2 is not pip-installable: build it from https://github.com/TadasBaltrusaitis/OpenFace "
                "(wiki: Unix-Installation; download its models with download_models.sh) and set aus.openface_bin "
                "to the FeatureExtraction binary, or choose aus.backend: landmarks (offline, geometry-based) or "
                "pyfeat (its own conda env)")


def check_binary(binary: str | None) -> Path:
    """The FeatureExtraction executable, or a ConfigError saying how to get one."""
    if not binary:
        raise ConfigError(f"aus.backend is openface but aus.openface_bin is not set. {INSTALL_HINT}")
    path = Path(binary)
    if not path.is_file():
        found = shutil.which(binary)
        if found is None:
            raise ConfigError(f"aus.openface_bin {binary!r} does not exist. {INSTALL_HINT}")
        path = Path(found)
    if not path.stat().st_mode & 0o111:
        raise ConfigError(f"aus.openface_bin {path} is not executable")
    return path


def check_units(units: list[str]) -> None:
    unknown = [u for u in units if u not in OPENFACE_INTENSITY_AUS]
    if unknown:
        raise ConfigError(f"aus.units {unknown} are not estimated by OpenFace (it gives intensities for "
                          f"{OPENFACE_INTENSITY_AUS}); choose another AU set or backend")


def read_openface_csv(path: str | Path, units: list[str], n_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse one FeatureExtraction CSV into per-frame ``success`` (T,), intensity and presence (T, K).

    Frames OpenFace did not report, or reported without success, come back unsuccessful with zero AUs.
    """
    path = Path(path)
    try:
        table = pd.read_csv(path, skipinitialspace=True)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise DataError(f"OpenFace output {path} is unreadable: {err}") from None
    table.columns = [c.strip() for c in table.columns]
    needed = ["frame", "success"] + [f"{u}_r" for u in units] + [f"{u}_c" for u in units]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise DataError(f"OpenFace output {path} lacks columns {missing} (was FeatureExtraction run with -aus?)")
    if "face_id" in table.columns:  # one face per clip: keep OpenFace's most confident track per frame
        order = "confidence" if "confidence" in table.columns else "success"
        table = table.sort_values(order, ascending=False).drop_duplicates("frame")
    frames = pd.to_numeric(table["frame"], errors="coerce").to_numpy() - 1
    ok = pd.to_numeric(table["success"], errors="coerce").to_numpy() == 1
    keep = np.isfinite(frames) & (frames >= 0)
    if (frames[keep] >= n_frames).any():
        raise DataError(f"OpenFace output {path} has frames beyond the clip's {n_frames}")
    idx = frames[keep].astype(int)
    success = np.zeros(n_frames, bool)
    intensity = np.zeros((n_frames, len(units)), np.float32)
    presence = np.zeros((n_frames, len(units)), np.int8)
    success[idx] = ok[keep]
    for k, unit in enumerate(units):
        r = pd.to_numeric(table[f"{unit}_r"], errors="coerce").to_numpy(np.float32)[keep]
        c = pd.to_numeric(table[f"{unit}_c"], errors="coerce").to_numpy(np.float32)[keep]
        intensity[idx, k] = np.nan_to_num(r)
        presence[idx, k] = (np.nan_to_num(c) >= 0.5).astype(np.int8)
    success &= np.isfinite(intensity).all(axis=1)
    return success, intensity, presence


def write_frames(frames: np.ndarray, directory: Path) -> None:
    """Aligned RGB crops as numbered PNGs, enlarged to at least MIN_SIDE px."""
    directory.mkdir(parents=True, exist_ok=True)
    side = frames.shape[1]
    scale = max(1.0, MIN_SIDE / side)
    for i, frame in enumerate(frames):
        image = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        if scale > 1:
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        if not cv2.imwrite(str(directory / f"frame_{i + 1:05d}.png"), image):
            raise DataError(f"could not write frame images to {directory}")


def run_feature_extraction(binary: Path, frames: np.ndarray, utt_id: str, workdir: Path) -> Path:
    """Run FeatureExtraction on one clip's frames; returns its CSV."""
    frame_dir, out_dir = workdir / utt_id / "frames", workdir / utt_id / "out"
    write_frames(frames, frame_dir)
    cmd = [str(binary), "-fdir", str(frame_dir), "-out_dir", str(out_dir), "-of", utt_id, "-aus", "-q"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    csv = out_dir / f"{utt_id}.csv"
    if proc.returncode != 0 or not csv.is_file():
        raise DataError(f"OpenFace FeatureExtraction failed on clip {utt_id} (exit {proc.returncode}): "
                        f"{(proc.stderr or proc.stdout).strip()[-1000:]}")
    return csv


def label_clips(binary: str | None, clip_paths: dict[str, Path], units: list[str]) -> pd.DataFrame:
    """Run OpenFace on every clip; returns the AU label table."""
    exe = check_binary(binary)
    check_units(units)
    parts = []
    with tempfile.TemporaryDirectory(prefix="autalk_openface_") as tmp:
        for utt_id, clip_path in tqdm(clip_paths.items(), desc="openface", unit="clip"):
            clip = load_clip(clip_path)
            csv = run_feature_extraction(exe, clip.frames, utt_id, Path(tmp))
            success, intensity, presence = read_openface_csv(csv, units, clip.n_frames)
            if not success.all():
                log.warning("OpenFace lost the face in %d of %d frames of %s", (~success).sum(), clip.n_frames, utt_id)
            parts.append((np.full(clip.n_frames, utt_id, dtype=object), np.arange(clip.n_frames), success,
                          intensity, presence))
            shutil.rmtree(Path(tmp) / utt_id)
    utt_ids, frames, success, intensity, presence = (np.concatenate(arrays) for arrays in zip(*parts))
    return make_label_table(utt_ids, frames, success, intensity, presence, units)
