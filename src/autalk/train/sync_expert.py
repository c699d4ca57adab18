"""Training of the sync expert on the training speakers' real clips (``autalk train-sync-expert``).

Each step takes runs of consecutive windows (2 x max_offset + 1 of them) from a few clips. Every video window's
positive is the audio window of the same frame; its negatives are all other audio windows of the batch, most of
them the same clip's audio shifted by 1..2 x max_offset frames (the hard negatives the offset search must reject),
the rest other clips. The loss is the symmetric InfoNCE over those similarities. Per epoch, on the validation
speakers, we record how often a clip's measured offset is 0 and how often a shift of ``SHIFT_CHECK`` frames imposed
on its audio is found: the two properties the metric needs. The epoch kept is the one best at those (the
validation loss breaks ties), since the loss keeps rewarding speaker-specific detail the metric does not use.
Each epoch ends with a training checkpoint beside the model (``scaffold.state_path``), which a rerun after a kill
resumes from; it is removed once the model is written.
"""

from __future__ import annotations

import logging
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from autalk.atomic import atomic_file
from autalk.config import DatasetConfig
from autalk.data.clips import kept_clip_paths, load_clip
from autalk.errors import DataError
from autalk.models.sync_expert import SyncExpert, measure_sync, sync_expert_checkpoint
from autalk.preprocess.audio import window_start
from autalk.train import scaffold
from autalk.train.losses import info_nce

log = logging.getLogger(__name__)
SHIFT_CHECK = 3
MAX_VAL_CLIPS = 200


@dataclass
class ClipWindows:
    utt_id: str
    video: torch.Tensor   # (n, frames, H, W)
    audio: torch.Tensor   # (n, C, columns), window i in sync with video window i


def clip_windows(expert: SyncExpert, path: Path) -> ClipWindows:
    clip = load_clip(path)
    video, audio = expert.video_windows(clip.frames), expert.audio_windows(clip.mfcc)
    n = min(len(video), len(audio))
    return ClipWindows(clip.utt_id, video[:n], audio[:n])


def shift_audio(mfcc: np.ndarray, frames: int, step: int) -> np.ndarray:
    """The clip's audio delayed by ``frames`` video frames (leading columns repeat the first one)."""
    pad = np.repeat(mfcc[:1], frames * step, axis=0)
    return np.concatenate([pad, mfcc[:len(mfcc) - frames * step]])


def _segment(windows: ClipWindows, length: int, rng: random.Random) -> tuple[torch.Tensor, torch.Tensor]:
    n = len(windows.video)
    start = rng.randrange(0, max(1, n - length + 1))
    return windows.video[start:start + length], windows.audio[start:start + length]


def train_sync_expert(cfg: DatasetConfig, qc: str | Path, clips_root: str | Path, model_path: str | Path,
                      metrics_path: str | Path, device: str = "auto") -> pd.DataFrame:
    """Train (resuming a killed run), keep the epoch best at what the metric needs; write the checkpoint and the
    per-epoch metrics."""
    sc, mfcc_cfg = cfg.sync_expert, cfg.preprocess.mfcc
    scaffold.seed_all(sc.seed)
    rng = random.Random(sc.seed)
    dev = scaffold.placement(device).device
    n_mfcc = mfcc_cfg.n_mfcc - int(mfcc_cfg.drop_c0)
    start = window_start(mfcc_cfg, sc.frames * mfcc_cfg.step, sc.frames)
    expert = SyncExpert(sc.frames, n_mfcc, mfcc_cfg.step, start).to(dev)

    train_paths = list(kept_clip_paths(qc, clips_root, cfg.splits.train).values())
    val_paths = list(kept_clip_paths(qc, clips_root, cfg.splits.val).values())
    if len(train_paths) < 2:
        raise DataError(f"QC table {qc} has {len(train_paths)} kept training clips; the sync expert needs at least 2")
    if not val_paths:  # no validation speaker: hold out a tenth of the training clips (never the test speakers)
        cut = max(1, len(train_paths) // 10)
        train_paths, val_paths = train_paths[:-cut], train_paths[-cut:]
    val_paths = sorted(val_paths)[:MAX_VAL_CLIPS]
    log.info("sync expert: %d training clips, %d validation clips, %s", len(train_paths), len(val_paths), dev)
    val_windows = [clip_windows(expert, p) for p in val_paths]
    val_clips = [load_clip(p) for p in val_paths]

    seg = 2 * sc.max_offset + 1
    clips_per_step = max(2, sc.batch_size // seg)
    optimiser = torch.optim.Adam(expert.parameters(), lr=sc.lr)
    best = scaffold.EarlyStopping(patience=None)  # every epoch runs; the best one is kept
    rows = []

    # -- resume the epoch a killed run had reached, when it was trained with these settings on these inputs
    state_path = scaffold.state_path(model_path)
    settings = {"sync_expert": asdict(sc), "preprocess": asdict(cfg.preprocess), "splits": asdict(cfg.splits),
                "inputs": scaffold.input_digests({"qc": qc})}
    parts = {"model": expert, "opt": optimiser, "stopper": best, "rows": rows, "rng": rng}
    start_epoch = scaffold.resume_epoch(state_path, settings, parts)

    for epoch in range(start_epoch + 1, sc.epochs + 1):
        expert.train()
        order = train_paths[:]
        rng.shuffle(order)
        losses = []
        for i in tqdm(range(0, len(order), clips_per_step), desc=f"sync expert epoch {epoch}", leave=False):
            pieces = [_segment(clip_windows(expert, p), seg, rng) for p in order[i:i + clips_per_step]]
            video = torch.cat([p[0] for p in pieces]).to(dev)
            audio = torch.cat([p[1] for p in pieces]).to(dev)
            loss, _ = info_nce(expert, video, audio)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
        row = {"epoch": epoch, "train_loss": float(np.mean(losses)),
               **_validate(expert, val_windows, val_clips, seg, sc.max_offset)}
        rows.append(row)
        log.info("epoch %d: %s", epoch, ", ".join(f"{k} {v:.3f}" for k, v in row.items() if k != "epoch"))
        found = row["val_offset0_rate"] + row[f"val_shift{SHIFT_CHECK}_found_rate"]
        best.end_epoch(epoch - 1, (found, -row["val_loss"]), expert)
        scaffold.save_epoch(state_path, "sync_expert_training", settings, epoch, parts)
    best.restore(expert)
    table = pd.DataFrame(rows)
    table["selected"] = table["epoch"] == best.best_epoch + 1
    config = {"sync_expert": asdict(sc), "preprocess": asdict(cfg.preprocess)}
    scaffold.save_checkpoint(sync_expert_checkpoint(expert, config, {"metrics": rows}), model_path)
    with atomic_file(metrics_path) as tmp:
        table.to_csv(tmp, index=False)
    state_path.unlink(missing_ok=True)
    return table


@torch.no_grad()
def _validate(expert: SyncExpert, windows: list[ClipWindows], clips: list, seg: int, max_offset: int) -> dict:
    expert.eval()
    dev = next(expert.parameters()).device
    losses, accs, zero, found, conf = [], [], [], [], []
    for w, clip in zip(windows, clips):
        n = len(w.video)
        for start in range(0, n, seg):
            video, audio = w.video[start:start + seg].to(dev), w.audio[start:start + seg].to(dev)
            if len(video) < 2:
                continue
            loss, acc = info_nce(expert, video, audio)
            losses.append(loss.item())
            accs.append(acc.item())
        result = measure_sync(expert, clip.frames, clip.mfcc, max_offset)
        zero.append(result.offset == 0)
        conf.append(result.confidence)
        shifted = measure_sync(expert, clip.frames, shift_audio(clip.mfcc, SHIFT_CHECK, expert.step), max_offset)
        found.append(shifted.offset == SHIFT_CHECK)
    return {"val_loss": float(np.mean(losses)), "val_window_accuracy": float(np.mean(accs)),
            "val_offset0_rate": float(np.mean(zero)), f"val_shift{SHIFT_CHECK}_found_rate": float(np.mean(found)),
            "val_confidence": float(np.mean(conf))}
