"""AU labels from OpenFace 2 (what the paper's authors used; the choice for GRID/TCD-TIMIT), and the same reading of
generated frames for the AU judge.

Frames are written as PNGs to a temporary directory and OpenFace runs on it with ``-aus``, in one of two modes
(``aus.openface_mode``). ``image`` (default) runs ``FaceLandmarkImg``: every frame alone, static AU models, one
CSV per image, as the authors' per-image output suggests. ``sequence`` runs ``FeatureExtraction`` on the clip:
it tracks the face across frames and calibrates its dynamic AU models to the person, so a frame's AUs depend on
the rest of the clip. Both write their AU columns the same way (a space after each comma, ``AUxx_r`` intensities
0-5, ``AUxx_c`` presence, AU28 presence-only), read by one parser; they differ in how frames are identified:
a 1-based ``frame`` column with ``success`` in the sequence CSV, the file name in image mode, where a frame
without a face has no row (or no file) and of several faces the most confident is taken.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from autalk.aus.labels import make_label_table
from autalk.config import AUConfig
from autalk.data.clips import load_clip
from autalk.errors import ConfigError, DataError

log = logging.getLogger(__name__)

# What OpenFace 2.2 estimates: intensities for 17 AUs, presence for those plus AU28.
OPENFACE_INTENSITY_AUS = ["AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12", "AU14",
                          "AU15", "AU17", "AU20", "AU23", "AU25", "AU26", "AU45"]
DEFAULT_BINARY = "FeatureExtraction"     # looked up on PATH when aus.openface_bin is not set (backend auto)
IMAGE_BINARY = "FaceLandmarkImg"         # OpenFace builds it into the same bin/ folder as FeatureExtraction
# What each mode is, for the tables' protocol.
MODES = {"image": f"image mode: {IMAGE_BINARY} on each frame alone, static AU models",
         "sequence": f"sequence mode: {DEFAULT_BINARY} on each clip, tracked, person-calibrated dynamic AU models"}
# OpenFace's detector and CLNF landmark model are trained on faces of ~100-300 px: smaller crops are enlarged.
MIN_SIDE = 224
INSTALL_HINT = ("OpenFace 2 is not pip-installable: build it from https://github.com/TadasBaltrusaitis/OpenFace "
                "(wiki: Unix-Installation; download its models with download_models.sh) and set aus.openface_bin "
                "to the FeatureExtraction binary, or choose aus.backend: landmarks (offline, geometry-based) or "
                "pyfeat (its own conda env)")


@dataclass(frozen=True)
class OpenFace:
    """The OpenFace executable of one mode, located and checked before any clip is processed."""

    executable: Path
    mode: str                            # "image" (FaceLandmarkImg) or "sequence" (FeatureExtraction)

    def measure(self, frames: np.ndarray, name: str, workdir: Path,
                units: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-frame ``success`` (T,), intensity and presence (T, K) of RGB uint8 frames (T, S, S, 3); frames
        without a face come back unsuccessful with zero AUs, and are logged."""
        frame_dir, out_dir = workdir / name / "frames", workdir / name / "out"
        stems = write_frames(frames, frame_dir)
        cmd = [str(self.executable), "-fdir", str(frame_dir), "-out_dir", str(out_dir), "-aus"]
        if self.mode == "sequence":
            cmd += ["-of", name, "-q"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise DataError(f"OpenFace {self.executable.name} failed on {name} (exit {proc.returncode}): "
                            f"{(proc.stderr or proc.stdout).strip()[-1000:]}")
        if self.mode == "sequence":
            csv = out_dir / f"{name}.csv"
            if not csv.is_file():
                raise DataError(f"OpenFace {self.executable.name} wrote no {csv} for {name}")
            measured = read_sequence_csv(csv, units, len(frames))
        else:
            measured = read_image_csvs(out_dir, stems, units)
        shutil.rmtree(workdir / name)
        if not measured[0].all():
            log.warning("OpenFace (%s mode) found no face in %d of %d frames of %s", self.mode,
                        (~measured[0]).sum(), len(frames), name)
        return measured


def locate(aus: AUConfig) -> OpenFace:
    """The executable of ``aus.openface_mode``, or a ConfigError saying where it was looked for and how to get it.

    FeatureExtraction is ``aus.openface_bin`` (a path, or a command on PATH), else ``FeatureExtraction`` on PATH.
    FaceLandmarkImg is looked for next to a configured FeatureExtraction path, where OpenFace's build puts it,
    and on PATH when FeatureExtraction was found there."""
    if aus.openface_bin and Path(aus.openface_bin).is_file():
        feature_extraction, on_path = Path(aus.openface_bin), False
    else:
        found = shutil.which(aus.openface_bin or DEFAULT_BINARY)
        if found is None:
            problem = (f"aus.openface_bin {aus.openface_bin!r} does not exist" if aus.openface_bin else
                       f"aus.openface_bin is not set and {DEFAULT_BINARY} is not on PATH")
            raise ConfigError(f"{problem}. {INSTALL_HINT}")
        feature_extraction, on_path = Path(found), True
    if aus.openface_mode == "sequence":
        return OpenFace(_executable(feature_extraction), "sequence")
    if on_path:
        found = shutil.which(IMAGE_BINARY)
        if found is None:
            raise ConfigError(f"aus.openface_mode image needs OpenFace's {IMAGE_BINARY}, which is not on PATH "
                              f"({DEFAULT_BINARY} was found there, {feature_extraction}); put OpenFace's bin/ "
                              "folder on PATH or set aus.openface_mode: sequence")
        return OpenFace(_executable(Path(found)), "image")
    image = feature_extraction.parent / IMAGE_BINARY
    if not image.is_file():
        raise ConfigError(f"aus.openface_mode image needs OpenFace's {IMAGE_BINARY}: {image} does not exist (it is "
                          f"built into the same bin/ folder as {DEFAULT_BINARY}, aus.openface_bin "
                          f"{feature_extraction}); or set aus.openface_mode: sequence")
    return OpenFace(_executable(image), "image")


def _executable(path: Path) -> Path:
    if not path.stat().st_mode & 0o111:
        raise ConfigError(f"OpenFace binary {path} is not executable")
    return path


def check_units(units: list[str]) -> None:
    unknown = [u for u in units if u not in OPENFACE_INTENSITY_AUS]
    if unknown:
        raise ConfigError(f"aus.units {unknown} are not estimated by OpenFace (it gives intensities for "
                          f"{OPENFACE_INTENSITY_AUS}); choose another AU set or backend")


def _read_table(path: Path, units: list[str], columns: list[str], optional: tuple[str, ...] = ()) -> pd.DataFrame:
    """One OpenFace CSV: ``columns``, those of ``optional`` it has, and the units' AU columns, as numbers (NaN
    where a value is not one)."""
    try:
        table = pd.read_csv(path, skipinitialspace=True)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise DataError(f"OpenFace output {path} is unreadable: {err}") from None
    table.columns = [c.strip() for c in table.columns]
    needed = columns + [f"{u}_r" for u in units] + [f"{u}_c" for u in units]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise DataError(f"OpenFace output {path} lacks columns {missing} (was OpenFace run with -aus?)")
    return table[needed + [c for c in optional if c in table.columns]].apply(pd.to_numeric, errors="coerce")


def _au_values(table: pd.DataFrame, units: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: whether every AU value is a number, intensity (N, K) and presence (N, K), zero where not."""
    r = table[[f"{u}_r" for u in units]].to_numpy(np.float32)
    c = table[[f"{u}_c" for u in units]].to_numpy(np.float32)
    ok = np.isfinite(r).all(axis=1) & np.isfinite(c).all(axis=1)
    return ok, np.where(ok[:, None], r, 0.0), ((c >= 0.5) & ok[:, None]).astype(np.int8)


def read_sequence_csv(path: str | Path, units: list[str],
                      n_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse one FeatureExtraction CSV into per-frame ``success`` (T,), intensity and presence (T, K).

    Frames OpenFace did not report, or reported without success, come back unsuccessful with zero AUs."""
    path = Path(path)
    table = _read_table(path, units, ["frame", "success"], optional=("confidence",))
    if "confidence" in table.columns:        # one face per clip: OpenFace's most confident track per frame
        table = table.sort_values("confidence", ascending=False, kind="stable").drop_duplicates("frame")
    frames = table["frame"].to_numpy() - 1
    keep = np.isfinite(frames) & (frames >= 0)
    if (frames[keep] >= n_frames).any():
        raise DataError(f"OpenFace output {path} has frames beyond the clip's {n_frames}")
    ok, r, c = _au_values(table[keep], units)
    idx = frames[keep].astype(int)
    success = np.zeros(n_frames, bool)
    intensity = np.zeros((n_frames, len(units)), np.float32)
    presence = np.zeros((n_frames, len(units)), np.int8)
    success[idx] = ok & (table["success"].to_numpy()[keep] == 1)
    intensity[idx], presence[idx] = r, c
    return success, np.where(success[:, None], intensity, 0.0), np.where(success[:, None], presence, 0)


def read_image_csvs(out_dir: str | Path, stems: list[str],
                    units: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse FaceLandmarkImg's CSVs (``{stem}.csv``, one row per face found) of the images ``stems``, in frame
    order, into per-frame ``success`` (T,), intensity and presence (T, K) of each image's most confident face."""
    rows, found = [], []
    for i, stem in enumerate(stems):
        path = Path(out_dir) / f"{stem}.csv"
        if not path.is_file():
            continue
        faces = _read_table(path, units, ["confidence"])
        if len(faces):
            rows.append(faces.loc[[faces["confidence"].fillna(-np.inf).idxmax()]])
            found.append(i)
    success = np.zeros(len(stems), bool)
    intensity = np.zeros((len(stems), len(units)), np.float32)
    presence = np.zeros((len(stems), len(units)), np.int8)
    if rows:
        success[found], intensity[found], presence[found] = _au_values(pd.concat(rows), units)
    return success, intensity, presence


def write_frames(frames: np.ndarray, directory: Path) -> list[str]:
    """Aligned RGB crops as numbered PNGs, enlarged to at least MIN_SIDE px; returns their stems in frame order."""
    directory.mkdir(parents=True, exist_ok=True)
    side = frames.shape[1]
    scale = max(1.0, MIN_SIDE / side)
    stems = [f"frame_{i + 1:05d}" for i in range(len(frames))]
    for stem, frame in zip(stems, frames):
        image = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        if scale > 1:
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        if not cv2.imwrite(str(directory / f"{stem}.png"), image):
            raise DataError(f"could not write frame images to {directory}")
    return stems


def label_clips(aus: AUConfig, clip_paths: dict[str, Path]) -> pd.DataFrame:
    """Run OpenFace on every clip's aligned frames; returns the AU label table."""
    tool = locate(aus)
    check_units(aus.units)
    parts = []
    with tempfile.TemporaryDirectory(prefix="autalk_openface_") as tmp:
        for utt_id, clip_path in tqdm(clip_paths.items(), desc=f"openface ({tool.mode})", unit="clip"):
            clip = load_clip(clip_path)
            success, intensity, presence = tool.measure(clip.frames, utt_id, Path(tmp), aus.units)
            parts.append((np.full(clip.n_frames, utt_id, dtype=object), np.arange(clip.n_frames), success,
                          intensity, presence))
    utt_ids, frames, success, intensity, presence = (np.concatenate(arrays) for arrays in zip(*parts))
    return make_label_table(utt_ids, frames, success, intensity, presence, aus.units)
