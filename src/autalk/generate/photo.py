"""The user pipeline: animate any face photograph with any speech recording (``autalk generate``).

A generator checkpoint is the whole bundle: it holds the generator's weights and, for a generator driven by
predicted AUs, the frozen audio-to-AU networks inside its state dict, plus the ``preprocess`` settings it was
trained with (alignment template and crop size, MFCC parameters, frame rate). So the photo is aligned and the
audio featurised exactly as the training clips were, from the checkpoint alone.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch

from autalk.atomic import atomic_file
from autalk.config import FaceConfig, MFCCConfig, QCConfig
from autalk.errors import ConfigError, DataError
from autalk.generate.checks import check_au_scale
from autalk.generate.clips import to_tensor, to_uint8
from autalk.generate.video import write_mp4
from autalk.models.checkpoints import read_checkpoint
from autalk.preprocess.audio import load_audio, mfcc, mfcc_windows
from autalk.preprocess.dlib_models import load_models
from autalk.preprocess.faces import align_image, detect_faces, small_face
from autalk.preprocess.qc import dbfs

log = logging.getLogger(__name__)


@dataclass
class Animation:
    frames: np.ndarray              # (T, S, S, 3) uint8
    audio: np.ndarray               # mono float32 at ``sample_rate``
    sample_rate: int
    fps: float
    aus: pd.DataFrame | None        # predicted AU intensities per frame (None: the generator uses no AUs)
    faces_found: int


def read_image(path: str | Path) -> np.ndarray:
    """An RGB uint8 image from any format OpenCV reads; DataError naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"image {path} does not exist")
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise DataError(f"image {path} is unreadable (not an image format OpenCV can decode)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def aligned_face(image: np.ndarray, faces_cfg: FaceConfig, source: str | Path) -> tuple[np.ndarray, int]:
    """The aligned crop of the largest face in a photo and how many faces were found."""
    models = load_models()
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    search = dataclasses.replace(faces_cfg, detector_upsample=faces_cfg.detector_upsample + 1)
    faces = detect_faces(models, gray, search)
    if not faces:
        small = small_face(models, gray, search)
        if small is not None:
            raise DataError(f"the face in image {source} is too small (about {small[0]:.0f} px wide); use a photo "
                            "in which the face is at least 80 px wide")
        raise DataError(f"no face found in image {source} (dlib frontal detector, score >= "
                        f"{faces_cfg.detector_threshold}); use a frontal, well-lit photo of one face")
    if len(faces) > 1:
        log.warning("image %s shows %d faces; animating the largest one", source, len(faces))
    crop, _ = align_image(image, faces_cfg, models)
    return crop, len(faces)


def _checkpoint_settings(path: Path) -> dict:
    return read_checkpoint(path, "generator", "generator checkpoint")["config"]


def animate_photo(checkpoint: str | Path, image_path: str | Path, audio_path: str | Path, au_scale: float = 1.0,
                  device: str = "cpu") -> Animation:
    from autalk.models.generator import load_generator

    check_au_scale(au_scale)
    checkpoint = Path(checkpoint)
    settings = _checkpoint_settings(checkpoint)
    pre = settings["preprocess"]
    faces_cfg, mfcc_cfg, qc_cfg = FaceConfig(**pre["faces"]), MFCCConfig(**pre["mfcc"]), QCConfig(**pre["qc"])
    fps = float(pre["fps"])
    if settings["model"]["au_input"] == "ground_truth":
        raise ConfigError(f"generator {checkpoint} is driven by ground-truth AU labels, which a photo + audio does "
                          "not have; use a checkpoint of a variant with predicted AUs (or none)")

    face, n_faces = aligned_face(read_image(image_path), faces_cfg, image_path)
    audio = load_audio(audio_path, mfcc_cfg.sample_rate)
    duration = audio.size / mfcc_cfg.sample_rate
    if duration < qc_cfg.min_audio_s or int(duration * fps) < 1:
        raise DataError(f"audio {audio_path} is {duration:.2f} s long; at least {qc_cfg.min_audio_s:g} s of speech "
                        "is needed")
    level = dbfs(audio)
    if level < qc_cfg.silence_dbfs:
        log.warning("audio %s is silent (RMS %.1f dBFS, below %g dBFS): the face will barely move", audio_path,
                    level, qc_cfg.silence_dbfs)
    n_frames = int(duration * fps)
    windows = torch.from_numpy(mfcc_windows(mfcc(audio, mfcc_cfg), n_frames, mfcc_cfg.window, mfcc_cfg.step))

    generator = load_generator(checkpoint, device)
    windows = windows.to(device)
    frames = generator.generate(to_tensor(face).to(device), windows, au_scale=au_scale)[0]
    aus = None
    if generator.au_input == "predicted":
        with torch.no_grad():
            predicted = generator.audio2au(windows.unsqueeze(0))[1][0].clamp(0, 5).cpu().numpy()
        aus = pd.DataFrame(predicted, columns=[f"{u}_r" for u in generator.audio2au.units])
        aus.insert(0, "time_s", np.arange(n_frames) / fps)
        aus.insert(0, "frame", np.arange(n_frames))
    return Animation(to_uint8(frames), audio[: int(round(n_frames / fps * mfcc_cfg.sample_rate))],
                     mfcc_cfg.sample_rate, fps, aus, n_faces)


def generate_from_photo(checkpoint: str | Path, image: str | Path, audio: str | Path, output: str | Path,
                        au_scale: float = 1.0, save_aus: str | Path | None = None, device: str = "cpu") -> Animation:
    """Animate, then write the mp4 (and the AU track as CSV when asked)."""
    result = animate_photo(checkpoint, image, audio, au_scale, device)
    if save_aus is not None and result.aus is None:
        raise ConfigError(f"generator {checkpoint} uses no AUs, so there is no AU track to save (--save-aus)")
    write_mp4(result.frames, result.audio, result.sample_rate, result.fps, output)
    if save_aus is not None:
        with atomic_file(save_aus) as tmp:
            result.aus.to_csv(tmp, index=False, float_format="%.4f")
    log.info("wrote %s: %d frames (%.2f s) at %g fps", output, len(result.frames), len(result.frames) / result.fps,
             result.fps)
    return result
