"""Inputs of the photo pipeline's tests: an untrained generator checkpoint saved exactly as training saves one
(predicted AUs, 64 px crops), a speech-like tone, and real face photographs (the two packaged photos, a frame
of a real GRID clip) placed small, large, off-centre or tilted."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import torch
from skimage import data

from autalk.config import config_from_dict
from autalk.models.audio2au import Audio2AU
from autalk.models.generator import Generator, GeneratorConfig, generator_checkpoint

UNITS = ["AU10", "AU14", "AU20", "AU25", "AU26"]
SR = 16000
GRID = Path(__file__).resolve().parent / "data" / "grid"


def tone(seconds: float, rate: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2).astype(np.float32)


def write_untrained_checkpoint(path: Path) -> Path:
    cfg = config_from_dict({"datasets": {"d": {
        "source": {"kind": "synthetic"}, "speakers": ["a", "t"], "splits": {"train": ["a"], "test": ["t"]},
        "preprocess": {"faces": {"crop_size": 64}},
        "model": {"attention": "time", "channels": [16, 16, 16, 24], "image_dim": 16, "audio_dim": 16,
                  "au_feature_dim": 4}}}}).dataset("d")
    config = {s: dataclasses.asdict(getattr(cfg, s)) for s in ("training", "aus", "preprocess")}
    torch.manual_seed(0)
    generator = Generator(GeneratorConfig.of(cfg), Audio2AU(UNITS, 12, 35, 4))
    torch.save(generator_checkpoint(generator, config, UNITS, step=0), path)
    return path


def grace_hopper() -> np.ndarray:
    bgr = cv2.imread(str(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"))
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def grid_frame(name: str = "lbax4n") -> np.ndarray:
    capture = cv2.VideoCapture(str(GRID / f"{name}.mpg"))
    ok, frame = capture.read()
    capture.release()
    assert ok, f"could not decode {name}.mpg"
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def photo(case: str) -> np.ndarray:
    """A face photograph of the named kind (every side even, as H.264's 4:2:0 needs)."""
    if case == "grid_frame":                          # real video frame, 360x288, a small face
        return grid_frame()
    if case == "astronaut":
        return data.astronaut()
    if case == "large_face":                          # Grace Hopper, face fills much of the frame
        return grace_hopper()
    head = data.astronaut()[0:260, 120:380]
    if case == "small_off_centre":                    # a 130 px head near the lower right of a 960x720 picture
        canvas = np.full((720, 960, 3), (70, 110, 150), np.uint8)
        canvas[540:670, 780:910] = cv2.resize(head, (130, 130), interpolation=cv2.INTER_AREA)
        return canvas
    if case == "tilted":                              # the astronaut's head turned 20 degrees in the picture
        canvas = cv2.copyMakeBorder(data.astronaut(), 60, 60, 60, 60, cv2.BORDER_REFLECT)
        h, w = canvas.shape[:2]
        return cv2.warpAffine(canvas, cv2.getRotationMatrix2D((w / 2, h / 2), 20, 1.0), (w, h),
                              borderMode=cv2.BORDER_REFLECT)
    raise ValueError(case)


def write_photo(image: np.ndarray, path: Path) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return path
