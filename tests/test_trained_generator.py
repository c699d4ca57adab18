"""A trained generator fed its identity frame and silence gives that frame back, on the training fixtures' corpus
(faces whose dark mouth bar opens with the audio energy; every clip starts with 6 silent, closed-mouth frames, so
the identity frame shows a closed mouth).

Two generators, each trained 200 steps at the fixtures' 32 px scale (~40 s each on one idle core): the paper's
(``full``) and the demo's combination (mask blend + full-resolution skip + weight average, ``ours``), on different
seeds. Thresholds, PSNR against the identity frame over 24 silent frames (measured on this corpus): the paper's
generator untrained gives 18.1 dB and trained 36.7-37.8 dB (with and without full-resolution skip and average),
and a frame that differs from the identity only by an open (half-open) mouth scores 18.9 (22.8) dB, so 30 dB
means the face is redrawn and the mouth kept shut. The mask blend starts near the identity (36.8 dB untrained,
its mask ~0.12 everywhere) and trained closes its mask where nothing moves (65-107 dB over seeds and mask
weights), so its bar is 45 dB.

Not shown here: that speech opens the mouth. At this scale and budget neither generator learned the bar's
motion (200 steps, batch 2 x 8 frames); the demo's mouth LMD against the still photo measures it instead.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autalk.models.generator import load_generator
from autalk.train.generator import train
from training_fixtures import make_corpus, tiny_config

STEPS = 200
SETTINGS = {"full": ({}, 30.0, 0),
            "ours": ({"model": {"output": "mask_blend", "full_res_skip": True}, "training": {"ema_decay": 0.99}},
                     45.0, 1)}


def closed_mouth_face() -> torch.Tensor:
    """The fixtures' face with the mouth closed (energy 0), as a (3, 32, 32) tensor in [-1, 1]."""
    frame = np.full((32, 32, 3), 150, np.uint8)
    frame[6:12, 8:24] = (60, 90, 200)
    frame[22:23, 10:22] = 30
    return torch.from_numpy(frame).permute(2, 0, 1).float() / 127.5 - 1


def silence(n_frames: int, rng: np.random.Generator) -> torch.Tensor:
    """MFCC windows of silence as the fixtures make them (their noise, zero energy)."""
    return torch.from_numpy((rng.normal(size=(n_frames, 12, 35)) * 0.3).astype(np.float32))


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = ((a - b) / 2).pow(2).mean().item()   # [-1, 1] -> [0, 1] units
    return 10 * np.log10(1 / max(mse, 1e-12))


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_silence_gives_back_the_identity_frame(name, tmp_path):
    overrides, threshold, seed = SETTINGS[name]
    paths = make_corpus(tmp_path, clips_per_speaker=6, n_frames=40, silent_start=6)
    cfg = tiny_config({"training": {"max_steps": STEPS, "epochs": 1000, "checkpoint_every": STEPS, "lr_g": 2e-3,
                                    "lr_schedule": "cosine", "weight_mouth": 2.0, "seed": seed}}, overrides)
    train(cfg, paths)
    identity = closed_mouth_face()
    frames = load_generator(paths.model).generate(identity, silence(24, np.random.default_rng(0)))[0]
    scores = [psnr(f, identity) for f in frames]
    assert min(scores) > threshold, f"{name}: PSNR against the identity {min(scores):.1f} dB"
