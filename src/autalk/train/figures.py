"""What a training run leaves to look at: a CSV of every step's losses, TensorBoard events, a PNG of the
training curves, and at each checkpoint a PNG grid of generated vs real frames of fixed validation clips."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

COLUMNS = ["step", "loss_g", "l1", "mouth", "mask", "au", "gan_g", "d", "step_s"]
VAL_COLUMNS = ["step", "val_l1"]


def _truncate_csv(path: Path, columns: list[str], last_step: int) -> None:
    """Keep the rows up to ``last_step`` (a resumed run redoes the steps after its checkpoint)."""
    if path.is_file() and path.stat().st_size:
        rows = pd.read_csv(path)
        rows = rows[rows["step"] <= last_step]
    else:
        rows = pd.DataFrame(columns=columns)
    tmp = path.with_name(f".{path.name}.tmp")
    rows.to_csv(tmp, index=False)
    os.replace(tmp, path)


def _save_figure(fig, paths: list[Path]) -> None:
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, path)
    plt.close(fig)


def frames_to_uint8(frames: torch.Tensor) -> np.ndarray:
    """(..., 3, S, S) in [-1, 1] -> (..., S, S, 3) uint8."""
    images = ((frames.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()
    return np.moveaxis(images, -3, -1)


def sample_grid(real: torch.Tensor, generated: torch.Tensor, path: Path, step: int, columns: int = 8) -> None:
    """Per clip three rows: real frames, generated frames, and |difference| x 4 (where the model is wrong)."""
    real_u8, gen_u8 = frames_to_uint8(real), frames_to_uint8(generated)       # (N, T, S, S, 3)
    n_clips, t = real_u8.shape[:2]
    picks = np.linspace(0, t - 1, min(columns, t)).round().astype(int)
    diff = np.clip(np.abs(real_u8.astype(np.int16) - gen_u8.astype(np.int16)) * 4, 0, 255).astype(np.uint8)
    fig, axes = plt.subplots(3 * n_clips, len(picks), figsize=(1.2 * len(picks), 1.25 * 3 * n_clips),
                             squeeze=False)
    for c in range(n_clips):
        for r, (name, images) in enumerate((("real", real_u8), ("generated", gen_u8), ("|diff| x4", diff))):
            for j, frame in enumerate(picks):
                ax = axes[3 * c + r, j]
                ax.imshow(images[c, frame], interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if j == 0:
                    ax.set_ylabel(f"clip {c}\n{name}" if r == 0 else name, fontsize=7)
                if c == 0 and r == 0:
                    ax.set_title(f"frame {frame}", fontsize=7)
    fig.suptitle(f"validation clips at step {step}", fontsize=9)
    fig.tight_layout()
    _save_figure(fig, [path])


def curves_figure(losses: pd.DataFrame, val: pd.DataFrame, paths: list[Path]) -> None:
    terms = [c for c in ("l1", "mouth", "mask", "au", "gan_g", "d") if c in losses and losses[c].abs().sum() > 0] or ["l1"]
    fig, axes = plt.subplots(1, len(terms), figsize=(3.6 * len(terms), 3), squeeze=False)
    window = max(1, len(losses) // 50)
    for ax, term in zip(axes[0], terms):
        ax.plot(losses["step"], losses[term], color="0.8", lw=0.7, label="per step")
        ax.plot(losses["step"], losses[term].rolling(window, min_periods=1).mean(), color="C0", lw=1.4,
                label=f"mean of {window}")
        if term == "l1" and len(val):
            ax.plot(val["step"], val["val_l1"], "o-", color="C3", ms=3, label="val clips")
        ax.set_title({"l1": "L1 reconstruction", "mouth": "L1 on the mouth box",
                      "mask": "blend mask penalty", "au": "AU classifier loss", "gan_g": "GAN (generator)",
                      "d": "discriminator"}[term], fontsize=9)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    fig.tight_layout()
    _save_figure(fig, paths)


class RunLogger:
    """Per-step CSV + TensorBoard, and the figures at checkpoints. Rank 0 only (``enabled``)."""

    def __init__(self, run_dir: Path, start_step: int, enabled: bool = True):
        self.enabled = enabled
        self.run_dir = run_dir
        self.losses_path = run_dir / "losses.csv"
        self.val_path = run_dir / "val.csv"
        if not enabled:
            return
        from torch.utils.tensorboard import SummaryWriter

        _truncate_csv(self.losses_path, COLUMNS, start_step)
        _truncate_csv(self.val_path, VAL_COLUMNS, start_step)
        self.fh = open(self.losses_path, "a", newline="")
        self.csv = csv.writer(self.fh)
        self.tb = SummaryWriter(str(run_dir / "tensorboard"), purge_step=start_step or None)

    def step(self, step: int, values: dict[str, float], step_s: float) -> None:
        if not self.enabled:
            return
        row = {"step": step, **values, "step_s": step_s}
        self.csv.writerow([f"{row[c]:.6g}" if isinstance(row[c], float) else row[c] for c in COLUMNS])
        self.fh.flush()
        for name, value in values.items():
            self.tb.add_scalar(f"train/{name}", value, step)

    def checkpoint(self, step: int, val_l1: float, real: torch.Tensor, generated: torch.Tensor,
                   curves: Path) -> None:
        if not self.enabled:
            return
        with open(self.val_path, "a", newline="") as fh:
            csv.writer(fh).writerow([step, f"{val_l1:.6g}"])
        self.tb.add_scalar("val/l1", val_l1, step)
        grid = self.run_dir / "samples" / f"step_{step:07d}.png"
        sample_grid(real, generated, grid, step)
        self.tb.add_image("val/samples", plt.imread(grid)[..., :3], step, dataformats="HWC")
        self.tb.flush()
        self.write_curves(curves)

    def write_curves(self, curves: Path) -> None:
        curves_figure(pd.read_csv(self.losses_path), pd.read_csv(self.val_path),
                      [self.run_dir / "curves.png", curves])

    def close(self, curves: Path) -> None:
        if not self.enabled:
            return
        self.fh.close()
        self.tb.close()
        self.write_curves(curves)
