"""The user pipeline: animate any face photograph with any speech recording (``autalk generate``).

A generator checkpoint is the whole bundle: it holds the generator's weights and, for a generator driven by
predicted AUs, the frozen audio-to-AU networks inside its state dict, plus the ``preprocess`` settings it was
trained with (alignment template and crop size, MFCC parameters, frame rate). So the photo is aligned and the
audio featurised exactly as the training clips were, from the checkpoint alone.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import cv2
import numpy as np
import torch

from autalk.atomic import atomic_file
from autalk.config import MAX_INTENSITY, FaceConfig, MFCCConfig, QCConfig
from autalk.devices import autocast_dtype
from autalk.errors import ConfigError, DataError
from autalk.generate.checks import check_au_scale
from autalk.generate.frames import to_tensor, to_uint8
from autalk.generate.pasteback import PastedFrames
from autalk.generate.video import side_by_side as beside
from autalk.generate.video import write_mp4
from autalk.models.checkpoints import read_checkpoint
from autalk.preprocess.audio import load_audio, mfcc, mfcc_windows
from autalk.preprocess.dlib_models import load_models
from autalk.preprocess.faces import PhotoFace, align_photo, small_face
from autalk.preprocess.qc import dbfs

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)
# x264's preset for the photo's video: against "medium", "fast" takes ~45% less CPU on a 1024 px photo for
# 0.1 dB less PSNR at the same CRF (~20% and 1 dB on a 300 px one; benchmarks/README.md)
MP4_PRESET = "fast"


@dataclass
class Animation:
    frames: np.ndarray              # (T, S, S, 3) uint8 generated crops
    audio: np.ndarray               # mono float32 at ``sample_rate``
    sample_rate: int
    fps: float
    au_intensities: np.ndarray | None   # (T, K) predicted AU intensities (None: the generator uses no AUs)
    au_units: list[str]             # the K AUs
    photo: np.ndarray               # the input photo, RGB uint8 at its own resolution
    face: PhotoFace                 # its aligned face (crop, landmarks, photo -> crop transform)

    @property
    def aus(self) -> pd.DataFrame | None:
        """The predicted AU intensities per frame as a table (frame, time_s, ``{AU}_r`` per AU), made when read:
        pandas is imported only where the table is wanted (``--save-aus``, the web page's curves), not by
        every ``autalk generate``."""
        if self.au_intensities is None:
            return None
        import pandas as pd

        table = pd.DataFrame(self.au_intensities, columns=[f"{u}_r" for u in self.au_units])
        table.insert(0, "time_s", np.arange(len(table)) / self.fps)
        table.insert(0, "frame", np.arange(len(table)))
        return table

    def video_frames(self, crop_only: bool = False, side_by_side: bool = False) -> Sequence[np.ndarray]:
        """What the mp4 shows: the crops, or (default) the photo with the generated lower face pasted back;
        ``side_by_side``: identity | generated (crop) or photo | result (paste-back)."""
        if crop_only:
            identity = np.repeat(self.face.crop[None], len(self.frames), axis=0)
            return beside(identity, self.frames) if side_by_side else self.frames
        return PastedFrames(self.photo, self.face, self.frames, side_by_side=side_by_side)


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


class PhotoAnimator:
    """A generator checkpoint loaded once (networks, dlib models, the preprocessing it was trained with), ready
    to animate any number of photo + recording pairs (the CLI's batch mode and the web page reuse one).

    ``precision`` (``autalk.devices.PRECISIONS``): the generator runs under bf16 autocast where that is asked
    for, or with ``auto`` on a CPU with bf16 instructions, where it takes about half the fp32 time; its frames
    are then within a grey level or two of fp32's (PSNR 56-70 dB on trained generators,
    tests/test_generate_speed.py). The audio-to-AU networks always run in fp32: the AU track is the same."""

    def __init__(self, checkpoint: str | Path, device: str | torch.device = "cpu", precision: str = "auto"):
        from autalk.models.generator import generator_from_checkpoint

        self.checkpoint = Path(checkpoint)
        ckpt = read_checkpoint(self.checkpoint, "generator", "generator checkpoint", mmap=True)
        pre = ckpt["config"]["preprocess"]
        self.faces_cfg, self.mfcc_cfg = FaceConfig(**pre["faces"]), MFCCConfig(**pre["mfcc"])
        self.qc_cfg, self.fps = QCConfig(**pre["qc"]), float(pre["fps"])
        if ckpt["generator"]["model"]["au_input"] == "ground_truth":
            raise ConfigError(f"generator {self.checkpoint} is driven by ground-truth AU labels, which a photo + "
                              "audio does not have; use a checkpoint of a variant with predicted AUs (or none)")
        self.device = torch.device(device)
        self.dtype = autocast_dtype(precision, self.device)
        log.debug("generator arithmetic: %s", "fp32" if self.dtype is None else self.dtype)
        self.generator = generator_from_checkpoint(ckpt, self.device)
        if self.device.type == "cpu":  # oneDNN's convolutions take ~15% less time on channels-last maps
            self.generator.to(memory_format=torch.channels_last)
        self.models = load_models()

    def face(self, image: np.ndarray, source: str | Path) -> PhotoFace:
        """The largest face of a photo, aligned as the training clips were; DataError naming ``source``."""
        try:
            face = align_photo(image, self.faces_cfg, self.models)
        except DataError:
            small = small_face(self.models, cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), self.faces_cfg)
            if small is not None:
                raise DataError(f"the face in image {source} is too small (about {small[0]:.0f} px wide); use a "
                                "photo in which the face is at least 80 px wide") from None
            raise DataError(f"no face found in image {source} (dlib frontal detector, score >= "
                            f"{self.faces_cfg.detector_threshold}); use a frontal, well-lit photo of one "
                            "face") from None
        if face.faces_found > 1:
            log.warning("image %s shows %d faces; animating the largest one", source, face.faces_found)
        return face

    def animate(self, image_path: str | Path, audio_path: str | Path, au_scale: float = 1.0) -> Animation:
        check_au_scale(au_scale)
        photo = read_image(image_path)
        face = self.face(photo, image_path)
        rate = self.mfcc_cfg.sample_rate
        audio = load_audio(audio_path, rate)
        duration = audio.size / rate
        if duration < self.qc_cfg.min_audio_s or int(duration * self.fps) < 1:
            raise DataError(f"audio {audio_path} is {duration:.2f} s long; at least {self.qc_cfg.min_audio_s:g} s "
                            "of speech is needed")
        level = dbfs(audio)
        if level < self.qc_cfg.silence_dbfs:
            log.warning("audio %s is silent (RMS %.1f dBFS, below %g dBFS): the face will barely move", audio_path,
                        level, self.qc_cfg.silence_dbfs)
        n_frames = int(duration * self.fps)
        cfg = self.mfcc_cfg
        windows = torch.from_numpy(mfcc_windows(mfcc(audio, cfg), n_frames, cfg)).to(self.device)
        features, intensities, units = None, None, []
        if self.generator.au_input == "predicted":     # run once: the generator's AU drive and the AU track
            with torch.no_grad():
                features, predicted = self.generator.audio2au(windows.unsqueeze(0))
            features = features[0]
            intensities = predicted[0].clamp(0, MAX_INTENSITY).cpu().numpy()
            units = list(self.generator.audio2au.units)
        precision = (contextlib.nullcontext() if self.dtype is None
                     else torch.autocast(self.device.type, dtype=self.dtype))
        with precision:
            frames = self.generator.generate(to_tensor(face.crop).to(self.device), windows, au_features=features,
                                             au_scale=au_scale)[0]
        return Animation(to_uint8(frames), audio[: int(round(n_frames / self.fps * rate))], rate, self.fps,
                         intensities, units, photo, face)

    def write(self, image: str | Path, audio: str | Path, output: str | Path, au_scale: float = 1.0,
              save_aus: str | Path | None = None, crop_only: bool = False, side_by_side: bool = False) -> Animation:
        """Animate, then write the mp4 and after it the AU track as CSV when asked, each atomically."""
        result = self.animate(image, audio, au_scale)
        if save_aus is not None and result.au_intensities is None:
            raise ConfigError(f"generator {self.checkpoint} uses no AUs, so there is no AU track to save (--save-aus)")
        frames = result.video_frames(crop_only, side_by_side)
        write_mp4(frames, result.audio, result.sample_rate, result.fps, output, preset=MP4_PRESET,
                  threads=torch.get_num_threads())
        if save_aus is not None:
            with atomic_file(save_aus) as tmp:
                result.aus.to_csv(tmp, index=False, float_format="%.4f")
        height, width = frames[0].shape[:2]
        log.info("wrote %s: %d frames (%.2f s) at %g fps, %dx%d", output, len(frames), len(frames) / result.fps,
                 result.fps, width, height)
        return result


def generate_from_photo(checkpoint: str | Path, image: str | Path, audio: str | Path, output: str | Path,
                        au_scale: float = 1.0, save_aus: str | Path | None = None,
                        device: str | torch.device = "cpu", crop_only: bool = False, side_by_side: bool = False,
                        precision: str = "auto") -> Animation:
    """One photo + one recording -> one mp4 (the photo at its resolution with the face talking, by default)."""
    return PhotoAnimator(checkpoint, device, precision).write(image, audio, output, au_scale, save_aus, crop_only,
                                                              side_by_side)
