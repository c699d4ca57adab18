"""A tiny, fully real training corpus written in a temporary directory: clip files (through ``save_clip``), a
QC table, an AU label table, and freshly initialised audio-to-AU and AU-classifier checkpoints written by their
own checkpoint functions. The frames carry a mouth-like dark bar whose height follows the audio energy, so there
is something audio-driven to learn."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from autalk.aus.labels import make_label_table, write_au_labels
from autalk.config import config_from_dict
from autalk.data.clips import Clip, save_clip
from autalk.models.au_classifier import AUClassifier, au_classifier_checkpoint
from autalk.models.audio2au import Audio2AU, audio2au_checkpoint
from autalk.train.generator import TrainPaths

UNITS = ["AU10", "AU14", "AU20", "AU25", "AU26"]
CROP = 32
WINDOW = 35


def tiny_config(overrides: dict | None = None, variant_overrides: dict | None = None):
    raw = {"datasets": {"demo": {
        "source": {"kind": "synthetic"},
        "speakers": ["a", "b", "v", "t"],
        "splits": {"train": ["a", "b"], "val": ["v"], "test": ["t"]},
        "preprocess": {"faces": {"crop_size": CROP}},
        "model": {"attention": "time", "channels": [16, 16, 16, 24], "image_dim": 16, "audio_dim": 16,
                  "au_feature_dim": 4, "gru_hidden": 24},
        "training": {"clip_start": 2, "clip_length": 8, "batch_size": 2, "epochs": 1, "max_steps": 4,
                     "checkpoint_every": 2, "num_workers": 0, "val_clips": 2},
        "variants": {"v": variant_overrides or {}},
        "evaluation": {"variants": ["v"]},
    }}}
    for section, values in (overrides or {}).items():
        raw["datasets"]["demo"].setdefault(section, {}).update(values)
    return config_from_dict(raw).dataset("demo").variant("v")


def _clip(utt_id: str, n_frames: int, crop: int, rng: np.random.Generator,
          silent_start: int = 0) -> tuple[Clip, np.ndarray]:
    energy = np.clip(np.sin(np.linspace(0, rng.uniform(2, 6), n_frames) + rng.uniform(0, 3)), 0, 1)
    energy[:silent_start] = 0.0                                               # a closed-mouth identity frame
    frames = np.full((n_frames, crop, crop, 3), 150, np.uint8)
    u = crop // 32
    frames[:, 6 * u:12 * u, 8 * u:24 * u] = (60, 90, 200)                     # "eyes" band: identity
    for t, e in enumerate(energy):
        height = (1 + int(round(5 * e))) * u
        frames[t, 22 * u:22 * u + height, 10 * u:22 * u] = 30                  # the mouth opens with the energy
    mfcc_windows = (rng.normal(size=(n_frames, 12, WINDOW)) * 0.3 + energy[:, None, None] * 5).astype(np.float32)
    lm = np.zeros((n_frames, 68, 2), np.float32)
    lm[:, 48:68, 0] = np.linspace(10 * u, 22 * u, 20)                         # mouth points on the bar
    lm[:, 48:68, 1] = 22 * u + (1 + 5 * energy[:, None]) * u * (np.arange(20) % 2)
    clip = Clip(utt_id=utt_id, frames=frames, landmarks=lm, landmarks_raw=lm.copy(),
                transforms=np.zeros((n_frames, 2, 3), np.float32),
                mfcc=rng.normal(size=(n_frames * 4 + 31, 12)).astype(np.float32), mfcc_windows=mfcc_windows,
                interpolated=np.zeros(n_frames, bool))
    return clip, energy


def make_corpus(root: Path, lengths: dict[str, int] | None = None, crop: int = CROP, clips_per_speaker: int = 3,
                n_frames: int | None = None, feature_dim: int = 4, silent_start: int = 0) -> TrainPaths:
    """Clips for speakers a, b (train), v (val), t (test) of 14, 16, 18, ... frames (or ``n_frames``);
    ``lengths`` overrides the frame count per utt_id. ``feature_dim``: the audio-to-AU networks' F.
    ``silent_start``: frames of silence (mouth closed) each clip begins with, as real recordings do."""
    rng = np.random.default_rng(0)
    clips_root = root / "clips"
    qc_rows, utts, frames_idx, success, intensity = [], [], [], [], []
    for speaker in ("a", "b", "v", "t"):                 # train, train, val, test in tiny_config
        for k in range(clips_per_speaker):
            utt_id = f"{speaker}_{k}"
            n = (lengths or {}).get(utt_id, n_frames or 14 + 2 * k)
            clip, energy = _clip(utt_id, n, crop, rng, silent_start)
            save_clip(clip, clips_root / speaker / f"{utt_id}.npz")
            qc_rows.append({"utt_id": utt_id, "speaker": speaker, "status": "kept", "reason": "",
                            "detail": "", "n_frames": n, "n_interpolated": 0})
            utts += [utt_id] * n
            frames_idx.append(np.arange(n))
            success.append(np.ones(n, bool))
            intensity.append(np.repeat(energy[:, None] * 4, len(UNITS), axis=1))
    pd.DataFrame(qc_rows).to_parquet(root / "qc.parquet")
    intensity = np.concatenate(intensity).astype(np.float32)
    table = make_label_table(np.array(utts), np.concatenate(frames_idx), np.concatenate(success), intensity,
                             (intensity >= 1.0).astype(np.int8), UNITS)
    write_au_labels(table, root / "au_labels.parquet", backend="landmarks")
    torch.manual_seed(0)
    torch.save(audio2au_checkpoint(Audio2AU(UNITS, 12, WINDOW, feature_dim), {}), root / "audio2au.pt")
    torch.save(au_classifier_checkpoint(AUClassifier(UNITS), {}), root / "au_classifier.pt")
    return TrainPaths(labels=root / "au_labels.parquet", qc=root / "qc.parquet", clips_root=clips_root,
                      au_classifier=root / "au_classifier.pt", audio2au=root / "audio2au.pt", run_dir=root / "run",
                      model=root / "generator.pt", curves=root / "curves.png")


def with_run(paths: TrainPaths, name: str) -> TrainPaths:
    """The same corpus with a separate run directory and outputs."""
    base = paths.qc.parent / name
    return dataclasses.replace(paths, run_dir=base / "run", model=base / "generator.pt", curves=base / "curves.png")
