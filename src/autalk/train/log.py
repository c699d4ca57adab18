"""What a generator training run leaves to look at, written as it goes: a CSV of every step's losses
(``losses.csv``), the validation L1 at each checkpoint (``val.csv``), TensorBoard events, and the figures of
``figures``. A resumed run first cuts both CSVs back to its checkpoint's step, then appends."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import torch
from matplotlib.image import imread

from autalk.atomic import atomic_file
from autalk.train.figures import curves_figure, sample_grid

COLUMNS = ["step", "loss_g", "l1", "mouth", "mask", "mask_off_lower_face", "unblended", "au", "gan_g", "d",
           "sync_gan_g", "sync_d", "step_s"]
VAL_COLUMNS = ["step", "val_l1"]


def _truncate_csv(path: Path, columns: list[str], last_step: int) -> None:
    """Keep the rows up to ``last_step`` (a resumed run redoes the steps after its checkpoint)."""
    if path.is_file() and path.stat().st_size:
        rows = pd.read_csv(path)
        rows = rows[rows["step"] <= last_step]
    else:
        rows = pd.DataFrame(columns=columns)
    with atomic_file(path) as tmp:
        rows.to_csv(tmp, index=False)


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
        self.tb.add_image("val/samples", imread(grid)[..., :3], step, dataformats="HWC")
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
