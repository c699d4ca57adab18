"""A trained generator does what the product promises, on the training fixtures' corpus (faces whose dark mouth bar
opens with the audio energy): fed its identity frame and silence it gives that frame back, and fed speech it opens
the mouth where the audio is voiced and only there.

Trained with the settings ``make demo`` and ``autalk generate`` use (mask blend, full-resolution skip, weight
average), at the fixtures' 32 px scale, for a few hundred steps: ~1 min on one idle core.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from training_fixtures import make_corpus, tiny_config

from autalk.models.generator import load_generator
from autalk.train.loop import train

STEPS = 160
MOUTH = (slice(23, 28), slice(10, 22))   # rows the bar covers only when it opens (closed: row 22 alone)


def closed_mouth_face() -> torch.Tensor:
    """The fixtures' face with the mouth closed (energy 0), as a (3, 32, 32) tensor in [-1, 1]."""
    frame = np.full((32, 32, 3), 150, np.uint8)
    frame[6:12, 8:24] = (60, 90, 200)
    frame[22:23, 10:22] = 30
    return torch.from_numpy(frame).permute(2, 0, 1).float() / 127.5 - 1


def windows(energy: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
    """MFCC windows as the fixtures make them: noise plus the per-frame energy."""
    return torch.from_numpy((rng.normal(size=(len(energy), 12, 35)) * 0.3
                             + energy[:, None, None] * 5).astype(np.float32))


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = ((a - b) / 2).pow(2).mean().item()   # [-1, 1] -> [0, 1] units
    return 10 * np.log10(1 / max(mse, 1e-12))


@pytest.fixture(scope="module", params=[0, 1])
def trained(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"trained_{request.param}")
    paths = make_corpus(root, clips_per_speaker=6, n_frames=40, silent_start=6)
    cfg = tiny_config({"training": {"max_steps": STEPS, "epochs": 1000, "checkpoint_every": STEPS, "lr_g": 2e-3,
                                    "lr_schedule": "cosine", "weight_mouth": 2.0, "seed": request.param}},
                      {"model": {"output": "mask_blend", "full_res_skip": True}, "training": {"ema_decay": 0.99}})
    train(cfg, paths)
    return load_generator(paths.model)


def test_silence_gives_back_the_identity_frame(trained):
    """Threshold 30 dB: an error of ~3% of the range per pixel. The untrained mask blend starts at ~19 dB here (12%
    of a grey image mixed in), and a face whose mouth is drawn half-open all along is at ~26 dB."""
    identity = closed_mouth_face()
    frames = trained.generate(identity, windows(np.zeros(24), np.random.default_rng(0)))[0]
    assert min(psnr(f, identity) for f in frames) > 30


def test_speech_opens_the_mouth_where_voiced(trained):
    """Voiced frames 8-15 between silences: the mouth region darkens there (the bar opens from 150 to 30 grey
    levels over it) and stays as in the identity frame elsewhere."""
    energy = np.zeros(24)
    energy[8:16] = 1.0
    frames = trained.generate(closed_mouth_face(), windows(energy, np.random.default_rng(1)))[0]
    mouth = (frames[:, :, MOUTH[0], MOUTH[1]].mean(dim=(1, 2, 3)) + 1) * 127.5  # grey level per frame
    voiced, silent = mouth[9:15], torch.cat([mouth[:7], mouth[17:]])
    assert voiced.max() < 110 and silent.min() > 135, mouth.round().tolist()
