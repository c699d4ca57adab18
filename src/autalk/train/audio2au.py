"""Pretraining of the audio-to-AU networks on MFCC windows against the AU labels.

Batches are sequences: ``audio2au.batch_size`` clips cut to a common length at random offsets (the BiLSTM sees
real temporal context, never padding). The loss is the masked MSE of standardised intensities (each AU scaled by
its training std, so rare small AUs weigh as much as the jaw). Early stopping on the val speakers' loss; metrics
on the unseen test speakers beside a baseline that predicts each AU's training mean; a PNG of predicted and
label trajectories for a few test clips. Each epoch ends with a training checkpoint beside the model
(``scaffold.state_path``), which a rerun after a kill resumes from; it is removed once the model is written.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from autalk.atomic import atomic_file
from autalk.aus.scores import pearson, presence_scores
from autalk.config import MAX_INTENSITY, DatasetConfig
from autalk.data.clips import load_clip_array
from autalk.errors import DataError
from autalk.models.audio2au import Audio2AU, audio2au_checkpoint
from autalk.train import scaffold
from autalk.train.labelled import LabelledClip, labelled_splits
from autalk.train.losses import standardised_mse

log = logging.getLogger(__name__)
PLOT_CLIPS = 3


@dataclass
class Sequence:
    utt_id: str
    windows: np.ndarray     # (T, C, W) float32, raw MFCC windows
    intensity: np.ndarray   # (T, K) labels
    presence: np.ndarray    # (T, K)
    success: np.ndarray     # (T,) bool


def load_sequences(clips: list[LabelledClip], desc: str) -> list[Sequence]:
    out = []
    for item in tqdm(clips, desc=f"load {desc}", unit="clip", leave=False):
        windows = load_clip_array(item.path, "mfcc_windows").astype(np.float32)
        labels = item.labels.aligned(len(windows), item.utt_id, item.path)
        out.append(Sequence(item.utt_id, windows, labels.intensity, labels.presence, labels.success))
    return out


def set_normalisation(model: Audio2AU, train: list[Sequence]) -> None:
    """MFCC mean/std per coefficient and label mean/std per AU, from the training clips only."""
    windows = np.concatenate([s.windows for s in train])                      # (N, C, W)
    labels = np.concatenate([s.intensity[s.success] for s in train])          # (M, K)
    std = labels.std(axis=0)
    with torch.no_grad():
        model.mfcc_mean.copy_(torch.from_numpy(windows.mean(axis=(0, 2))))
        model.mfcc_std.copy_(torch.from_numpy(np.maximum(windows.std(axis=(0, 2)), 1e-6)))
        model.target_mean.copy_(torch.from_numpy(labels.mean(axis=0)))
        model.target_std.copy_(torch.from_numpy(np.where(std > 1e-6, std, 1.0).astype(np.float32)))


def sample_batch(seqs: list[Sequence], rng: np.random.Generator,
                 max_frames: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clips cut to a common length (the shortest clip's, at most ``max_frames`` if set) at random offsets:
    windows (B, L, C, W), targets (B, L, K), mask."""
    length = min(len(s.windows) for s in seqs)
    if max_frames:
        length = min(length, max_frames)
    offsets = [rng.integers(0, len(s.windows) - length + 1) for s in seqs]
    cut = lambda a, o: a[o:o + length]  # noqa: E731
    return (np.stack([cut(s.windows, o) for s, o in zip(seqs, offsets)]),
            np.stack([cut(s.intensity, o) for s, o in zip(seqs, offsets)]),
            np.stack([cut(s.success, o) for s, o in zip(seqs, offsets)]))


@torch.no_grad()
def predict_clips(model: Audio2AU, seqs: list[Sequence], device: torch.device) -> list[np.ndarray]:
    """Each clip's (T, K) predicted intensities, whole clip at once."""
    model.eval()
    return [model(torch.from_numpy(s.windows)[None].to(device))[1][0].float().cpu().numpy() for s in seqs]


def val_loss(model: Audio2AU, seqs: list[Sequence], device: torch.device) -> float:
    preds = predict_clips(model, seqs, device)
    std = model.target_std.cpu().numpy()
    errs = [(((p - s.intensity) / std) ** 2).mean(axis=1)[s.success] for p, s in zip(preds, seqs)]
    return float(np.concatenate(errs).mean())


def audio2au_metrics(units: list[str], preds: list[np.ndarray], seqs: list[Sequence], train_mean: np.ndarray,
                     threshold: float) -> pd.DataFrame:
    """Per-AU correlation, presence F1 and RMSE on the test frames, beside the training-mean baseline."""
    pred = np.concatenate([p[s.success] for p, s in zip(preds, seqs)])
    label_r = np.concatenate([s.intensity[s.success] for s in seqs])
    label_c = np.concatenate([s.presence[s.success] for s in seqs])
    rows = []
    for k, unit in enumerate(units):
        ours = presence_scores(pred[:, k] >= threshold, label_c[:, k])
        base = presence_scores(np.full(len(pred), train_mean[k] >= threshold), label_c[:, k])
        rows.append({"au": unit, "pearson_r": pearson(pred[:, k], label_r[:, k]), "f1": ours["f1"],
                     "accuracy": ours["accuracy"], "rmse": float(np.sqrt(((pred[:, k] - label_r[:, k]) ** 2).mean())),
                     "baseline_r": 0.0, "baseline_f1": base["f1"], "baseline_accuracy": base["accuracy"],
                     "baseline_rmse": float(np.sqrt(((train_mean[k] - label_r[:, k]) ** 2).mean())),
                     "n_frames": len(pred)})
    table = pd.DataFrame(rows)
    macro = {"au": "macro", **table.drop(columns=["au", "n_frames"]).mean().to_dict(), "n_frames": len(pred)}
    return pd.concat([table, pd.DataFrame([macro])], ignore_index=True)


def plot_trajectories(units: list[str], preds: list[np.ndarray], seqs: list[Sequence], path: str | Path,
                      fps: float = 25.0) -> None:
    """Predicted (from audio) vs label AU intensity over time, a row per test clip, a column per AU."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(PLOT_CLIPS, len(seqs))
    fig, axes = plt.subplots(n, len(units), figsize=(2.6 * len(units), 2.0 * n), sharey=True, squeeze=False)
    for row in range(n):
        t = np.arange(len(seqs[row].intensity)) / fps
        for k, unit in enumerate(units):
            ax = axes[row, k]
            ax.plot(t, seqs[row].intensity[:, k], color="black", lw=1.2, label="label")
            ax.plot(t, preds[row][:, k], color="tab:orange", lw=1.2, label="from audio")
            ax.set_ylim(-0.2, MAX_INTENSITY + 0.2)
            if row == 0:
                ax.set_title(unit)
            if k == 0:
                ax.set_ylabel(f"{seqs[row].utt_id}\nintensity", fontsize=8)
            if row == n - 1:
                ax.set_xlabel("time (s)")
    axes[0, -1].legend(loc="upper right", fontsize=7)
    fig.suptitle("Audio-to-AU predictions on unseen test speakers", fontsize=10)
    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def train_audio2au(ds: DatasetConfig, labels_path: str | Path, qc_path: str | Path, clips_root: str | Path,
                   model_path: str | Path, metrics_path: str | Path, plot_path: str | Path | None = None,
                   device: str = "auto") -> pd.DataFrame:
    """Train (resuming a killed run), early-stop on val loss, evaluate on the test speakers; write checkpoint,
    metrics and plot."""
    units, cfg = ds.aus.units, ds.audio2au
    dev = scaffold.placement(device).device
    scaffold.seed_all(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    splits = labelled_splits(labels_path, qc_path, clips_root, units, ds.splits)
    data = {name: load_sequences(clips, name) for name, clips in splits.items()}
    n_mfcc, window = data["train"][0].windows.shape[1:]
    if any(s.windows.shape[1:] != (n_mfcc, window) for seqs in data.values() for s in seqs):
        raise DataError(f"clips under {clips_root} disagree on the MFCC window shape; re-run preprocessing")
    model = Audio2AU(units, n_mfcc, window, ds.model.au_feature_dim, cfg.time_channels, cfg.freq_channels,
                     cfg.lstm_hidden)
    set_normalisation(model, data["train"])
    model.to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    stopper = scaffold.EarlyStopping(cfg.patience)
    train = data["train"]

    # -- resume the epoch a killed run had reached, when it was trained with these settings on these inputs
    state_path = scaffold.state_path(model_path)
    settings = {"aus": dataclasses.asdict(ds.aus), "audio2au": dataclasses.asdict(cfg),
                "au_feature_dim": ds.model.au_feature_dim, "splits": dataclasses.asdict(ds.splits),
                "preprocess": dataclasses.asdict(ds.preprocess),
                "inputs": scaffold.input_digests({"labels": labels_path, "qc": qc_path})}
    parts = {"model": model, "opt": opt, "stopper": stopper, "rng": rng}
    start_epoch = scaffold.resume_epoch(state_path, settings, parts)

    log.info("audio-to-AU on %s: %d networks x %d parameters, %d train clips, windows %dx%d, features %d, from "
             "epoch %d", dev, len(units), sum(p.numel() for p in model.nets[0].parameters()), len(train), n_mfcc,
             window, ds.model.au_feature_dim, start_epoch + 1)
    for epoch in stopper.epochs(start_epoch, cfg.epochs):
        model.train()
        order = rng.permutation(len(train))
        losses = []
        batches = range(0, len(order), cfg.batch_size)
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch")
        for start in bar:
            windows, target, mask = sample_batch([train[i] for i in order[start:start + cfg.batch_size]], rng,
                                                  cfg.sequence_frames)
            _, z = model.standardised(torch.from_numpy(windows).to(dev))
            loss = standardised_mse(z, torch.from_numpy(target).to(dev), torch.from_numpy(mask).float().to(dev),
                                    model.target_mean, model.target_std)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            losses.append(loss.item())
            bar.set_postfix(loss=f"{np.mean(losses):.3f}")
        val = val_loss(model, data["val"], dev) if data["val"] else None
        log.info("epoch %d: train loss %.4f, val loss %s", epoch + 1, np.mean(losses),
                 "-" if val is None else f"{val:.4f}")
        stopper.end_epoch(epoch, -val if val is not None else float(epoch), model, val)  # no val: the last epoch
        scaffold.save_epoch(state_path, "audio2au_training", settings, epoch + 1, parts)
    stopper.restore(model)

    preds = predict_clips(model, data["test"], dev)
    train_mean = model.target_mean.cpu().numpy()
    metrics = audio2au_metrics(units, preds, data["test"], train_mean, ds.aus.presence_threshold)
    config = {"aus": dataclasses.asdict(ds.aus), "audio2au": dataclasses.asdict(cfg),
              "mfcc": dataclasses.asdict(ds.preprocess.mfcc), "au_feature_dim": ds.model.au_feature_dim}
    extra = {"best_epoch": stopper.best_epoch + 1, "val_loss": stopper.best_value}
    scaffold.save_checkpoint(audio2au_checkpoint(model, config, extra), model_path)
    scaffold.write_csv(metrics, metrics_path)
    if plot_path is not None:
        plot_trajectories(units, preds, data["test"], plot_path)
    state_path.unlink(missing_ok=True)
    macro = metrics.iloc[-1]
    log.info("test: mean r %.3f, macro-F1 %.3f (baseline %.3f), RMSE %.3f (training-mean baseline %.3f)",
             macro.pearson_r, macro.f1, macro.baseline_f1, macro.rmse, macro.baseline_rmse)
    return metrics
