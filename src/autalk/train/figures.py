"""The figures of a generator training run (``log.RunLogger`` draws them): a PNG of the training curves, and at
each checkpoint a PNG grid of generated vs real frames of fixed validation clips."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from autalk.atomic import atomic_file  # noqa: E402


def _save_figure(fig, paths: list[Path]) -> None:
    for path in paths:
        with atomic_file(path) as tmp:
            fig.savefig(tmp, dpi=110, format=path.suffix.lstrip("."))
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


TERM_TITLES = {"l1": "L1 reconstruction", "mouth": "L1 on the mouth box", "mask": "blend mask penalty",
               "mask_off_lower_face": "mask off the lower face", "unblended": "L1 before the blend",
               "au": "AU classifier loss", "gan_g": "GAN (generator)", "d": "discriminator",
               "sync_gan_g": "sync GAN (generator)", "sync_d": "sync discriminator"}


def curves_figure(losses: pd.DataFrame, val: pd.DataFrame, paths: list[Path]) -> None:
    terms = [c for c in TERM_TITLES if c in losses and losses[c].abs().sum() > 0] or ["l1"]
    fig, axes = plt.subplots(1, len(terms), figsize=(3.6 * len(terms), 3), squeeze=False)
    window = max(1, len(losses) // 50)
    for ax, term in zip(axes[0], terms):
        ax.plot(losses["step"], losses[term], color="0.8", lw=0.7, label="per step")
        ax.plot(losses["step"], losses[term].rolling(window, min_periods=1).mean(), color="C0", lw=1.4,
                label=f"mean of {window}")
        if term == "l1" and len(val):
            ax.plot(val["step"], val["val_l1"], "o-", color="C3", ms=3, label="val clips")
        ax.set_title(TERM_TITLES[term], fontsize=9)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    fig.tight_layout()
    _save_figure(fig, paths)
