"""Pretraining of the AU classifier: train speakers, early stopping on the val speakers' macro-F1, metrics on
the unseen test speakers next to a majority-class baseline. Each epoch ends with a training checkpoint beside the
model (``scaffold.state_path``), which a rerun after a kill resumes from; it is removed once the model is written.

Frames stream from the clip files in chunks of clips (a whole corpus never has to fit in memory); with
``au_classifier.frames_per_clip`` > 0 each epoch draws that many frames per clip, which is how GRID-sized corpora
stay fast. Augmentation (random similarity jitter, mirror, brightness/contrast/colour, grey, noise) is applied on
the device to each batch: identities differ in exactly these ways, and the classifier must judge unseen faces.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm

from autalk.aus.scores import macro_mean, pearson, presence_scores
from autalk.config import DatasetConfig
from autalk.data.clips import load_clip, load_clip_array
from autalk.models.au_classifier import AUClassifier, au_classifier_checkpoint
from autalk.train import scaffold
from autalk.train.labelled import LabelledClip, labelled_splits
from autalk.train.losses import au_classifier_loss

log = logging.getLogger(__name__)
CHUNK_CLIPS = 32


@dataclass
class Labels:
    intensity: np.ndarray   # (N, K)
    presence: np.ndarray    # (N, K)


@dataclass
class FrameSet:
    frames: np.ndarray      # (N, S, S, 3) uint8
    intensity: np.ndarray   # (N, K)
    presence: np.ndarray    # (N, K)


def load_frames(clips: list[LabelledClip], frames_per_clip: int, rng: np.random.Generator) -> FrameSet:
    """The labelled (successfully measured) frames of some clips; a random subset per clip if asked."""
    frames, intensity, presence = [], [], []
    for item in clips:
        clip = load_clip(item.path)
        labels = item.labels.aligned(clip.n_frames, item.utt_id, item.path)
        idx = np.flatnonzero(labels.success)
        if frames_per_clip and len(idx) > frames_per_clip:
            idx = np.sort(rng.choice(idx, frames_per_clip, replace=False))
        frames.append(clip.frames[idx])
        intensity.append(labels.intensity[idx])
        presence.append(labels.presence[idx])
    return FrameSet(np.concatenate(frames), np.concatenate(intensity), np.concatenate(presence))


def to_input(frames: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 (N, S, S, 3) -> float (N, 3, S, S) in [-1, 1], the classifier's input convention."""
    return torch.from_numpy(frames).to(device).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random similarity jitter (+-5 deg, +-5 % scale, +-4 % shift), mirror, and photometric changes (contrast,
    brightness, colour balance, sometimes grey, sensor noise): what differs between identities and recordings."""
    b, dev = x.shape[0], x.device

    def uniform(*shape, lo=-1.0, hi=1.0):
        return (torch.rand(*shape, generator=gen) * (hi - lo) + lo).to(dev)

    angle, scale = uniform(b) * math.radians(5), 1 + uniform(b) * 0.05
    mirror = torch.where(uniform(b) > 0, 1.0, -1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * mirror, -sin, uniform(b) * 0.08], 1),
                         torch.stack([sin * mirror, cos, uniform(b) * 0.08], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, padding_mode="zeros", align_corners=False)  # 0 = the crops' grey border
    y = (x + 1) / 2
    mean = y.mean(dim=(1, 2, 3), keepdim=True)
    y = (y - mean) * uniform(b, 1, 1, 1, lo=0.8, hi=1.2) + mean + uniform(b, 1, 1, 1) * 0.1
    y = y * uniform(b, 3, 1, 1, lo=0.95, hi=1.05)
    grey = y.mean(dim=1, keepdim=True).expand_as(y)
    y = torch.where(uniform(b, 1, 1, 1, lo=0, hi=1) < 0.1, grey, y)
    y = y + torch.randn(y.shape, generator=gen).to(dev) * uniform(b, 1, 1, 1, lo=0, hi=0.02)
    return y.clamp(0, 1) * 2 - 1


@torch.no_grad()
def predict(model: AUClassifier, clips: list[LabelledClip], device: torch.device, batch_size: int,
            frames_per_clip: int = 0, seed: int = 0, desc: str = "predict") -> tuple[np.ndarray, np.ndarray, Labels]:
    """Presence logits and intensities over some clips' labelled frames (in chunks), with those frames' labels;
    with ``frames_per_clip``, the same frames (drawn with ``seed``) at every call."""
    model.eval()
    logits, intensity, truth_r, truth_c = [], [], [], []
    for start in tqdm(range(0, len(clips), CHUNK_CLIPS), desc=desc, unit="chunk", leave=False):
        data = load_frames(clips[start:start + CHUNK_CLIPS], frames_per_clip, np.random.default_rng(seed))
        for i in range(0, len(data.frames), batch_size):
            lg, it = model(to_input(data.frames[i:i + batch_size], device))
            logits.append(lg.float().cpu().numpy())
            intensity.append(it.float().cpu().numpy())
        truth_r.append(data.intensity)
        truth_c.append(data.presence)
    return (np.concatenate(logits), np.concatenate(intensity),
            Labels(np.concatenate(truth_r), np.concatenate(truth_c)))


def macro_f1(logits: np.ndarray, presence: np.ndarray) -> float:
    """Macro F1 over the AUs that occur; 0 where none does (no basis to prefer one epoch)."""
    score = macro_mean([presence_scores(logits[:, k] > 0, presence[:, k])["f1"] for k in range(presence.shape[1])])
    return 0.0 if np.isnan(score) else score


def classifier_metrics(units: list[str], logits: np.ndarray, intensity: np.ndarray, truth: Labels,
                       train_presence_rate: np.ndarray) -> pd.DataFrame:
    """Per-AU F1/accuracy on the test frames, beside the majority class of the training labels, plus a macro row."""
    rows = []
    for k, unit in enumerate(units):
        ours = presence_scores(logits[:, k] > 0, truth.presence[:, k])
        majority = np.full(len(truth.presence), train_presence_rate[k] >= 0.5)
        base = presence_scores(majority, truth.presence[:, k])
        rows.append({"au": unit, "f1": ours["f1"], "accuracy": ours["accuracy"], "precision": ours["precision"],
                     "recall": ours["recall"], "baseline_f1": base["f1"], "baseline_accuracy": base["accuracy"],
                     "intensity_r": pearson(intensity[:, k], truth.intensity[:, k]),
                     "intensity_mae": float(np.abs(intensity[:, k] - truth.intensity[:, k]).mean()),
                     "positive_rate": float(truth.presence[:, k].mean()), "n_frames": len(truth.presence)})
    table = pd.DataFrame(rows)
    macro = {"au": "macro", **table.drop(columns=["au", "n_frames"]).mean().to_dict(), "n_frames": len(truth.presence)}
    return pd.concat([table, pd.DataFrame([macro])], ignore_index=True)


def train_au_classifier(ds: DatasetConfig, labels_path: str | Path, qc_path: str | Path, clips_root: str | Path,
                        model_path: str | Path, metrics_path: str | Path, device: str = "auto") -> pd.DataFrame:
    """Train (resuming a killed run), early-stop, evaluate on the test speakers; write the checkpoint and the
    metrics table."""
    units, cfg = ds.aus.units, ds.au_classifier
    dev = scaffold.placement(device).device
    scaffold.seed_all(cfg.seed)
    rng, gen = np.random.default_rng(cfg.seed), torch.Generator().manual_seed(cfg.seed)
    splits = labelled_splits(labels_path, qc_path, clips_root, units, ds.splits)
    train = splits["train"]
    train_presence = np.concatenate([c.labels.presence[c.labels.success] for c in train])
    rate = train_presence.mean(axis=0)
    pos_weight = torch.tensor(np.clip((1 - rate) / np.maximum(rate, 1e-3), 1.0, 20.0), dtype=torch.float32, device=dev)
    log.info("training presence rate per AU: %s", dict(zip(units, np.round(rate, 3))))

    model = AUClassifier(units).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    stopper = scaffold.EarlyStopping(cfg.patience)

    # -- resume the epoch a killed run had reached, when it was trained with these settings on these inputs
    state_path = scaffold.state_path(model_path)
    settings = {"aus": dataclasses.asdict(ds.aus), "au_classifier": dataclasses.asdict(cfg),
                "splits": dataclasses.asdict(ds.splits),
                "inputs": scaffold.input_digests({"labels": labels_path, "qc": qc_path, "clips": clips_root})}
    parts = {"model": model, "opt": opt, "sched": sched, "stopper": stopper, "rng": rng, "gen": gen}
    start_epoch = scaffold.resume_epoch(state_path, settings, parts)

    log.info("AU classifier on %s: %d parameters, %d train clips, from epoch %d", dev,
             sum(p.numel() for p in model.parameters()), len(train), start_epoch + 1)
    for epoch in stopper.epochs(start_epoch, cfg.epochs):
        model.train()
        order = rng.permutation(len(train))
        losses = []
        bar = tqdm(total=len(train), desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="clip")
        for start in range(0, len(train), CHUNK_CLIPS):
            chunk = [train[i] for i in order[start:start + CHUNK_CLIPS]]
            data = load_frames(chunk, cfg.frames_per_clip, rng)
            perm = rng.permutation(len(data.frames))
            for i in range(0, len(perm), cfg.batch_size):
                idx = perm[i:i + cfg.batch_size]
                if len(idx) < 2:  # batch-norm needs two samples
                    continue
                x = augment(to_input(data.frames[idx], dev), gen)
                logits, intensity = model(x)
                loss = au_classifier_loss(logits, intensity, torch.from_numpy(data.presence[idx]).to(dev),
                                          torch.from_numpy(data.intensity[idx]).to(dev), pos_weight)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                losses.append(loss.item())
            bar.update(len(chunk))
            bar.set_postfix(loss=f"{np.mean(losses):.3f}")
        bar.close()
        sched.step()
        val = None
        if splits["val"]:
            logits, _, truth = predict(model, splits["val"], dev, cfg.batch_size, cfg.frames_per_clip, cfg.seed, "val")
            val = macro_f1(logits, truth.presence)
        log.info("epoch %d: train loss %.4f, val macro-F1 %s", epoch + 1, np.mean(losses),
                 "-" if val is None else f"{val:.4f}")
        stopper.end_epoch(epoch, val if val is not None else float(epoch), model, val)  # no val: the last epoch
        scaffold.save_epoch(state_path, "au_classifier_training", settings, epoch + 1, parts)
    stopper.restore(model)

    logits, intensity, truth = predict(model, splits["test"], dev, cfg.batch_size, 0, cfg.seed, "test")
    metrics = classifier_metrics(units, logits, intensity, truth, rate)
    config = {"aus": dataclasses.asdict(ds.aus), "au_classifier": dataclasses.asdict(cfg)}
    extra = {"crop_size": int(load_clip_array(train[0].path, "frames").shape[1]), "best_epoch": stopper.best_epoch + 1,
             "val_macro_f1": stopper.best_value, "train_presence_rate": rate.tolist()}
    scaffold.save_checkpoint(au_classifier_checkpoint(model, config, extra), model_path)
    scaffold.write_csv(metrics, metrics_path)
    state_path.unlink(missing_ok=True)
    macro = metrics.iloc[-1]
    log.info("test macro-F1 %.3f (majority baseline %.3f), accuracy %.3f (baseline %.3f)",
             macro.f1, macro.baseline_f1, macro.accuracy, macro.baseline_accuracy)
    return metrics
