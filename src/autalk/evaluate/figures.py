"""Report figures of the evaluation: AU trajectories (labels vs the frozen AU classifier on each system's frames)
and the sync expert's distance-per-offset curves, for a few test clips, every system on the same axes."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from autalk.atomic import atomic_file  # noqa: E402
from autalk.aus.labels import labels_by_clip, read_au_labels  # noqa: E402
from autalk.config import DatasetConfig  # noqa: E402
from autalk.evaluate.systems import load_traces  # noqa: E402

MAX_CLIPS = 3


def system_name(path: Path) -> str:
    return Path(path).name.split(".")[0]


def _save(fig, path: Path) -> None:
    with atomic_file(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def evaluation_figures(cfg: DatasetConfig, traces: list[Path], labels: Path, au_plot: Path, sync_plot: Path) -> None:
    systems = {system_name(p): load_traces(p) for p in traces}
    common = sorted(set.intersection(*(set(t) for t in systems.values())))
    clips = common[: max(1, min(MAX_CLIPS, cfg.evaluation.side_by_side))]
    units = cfg.aus.units
    truth = labels_by_clip(read_au_labels(labels, units), units)

    fig, axes = plt.subplots(len(clips), len(units), figsize=(3.2 * len(units), 2.4 * len(clips)), squeeze=False)
    for r, utt in enumerate(clips):
        for k, unit in enumerate(units):
            ax = axes[r, k]
            if utt in truth:
                ax.plot(truth[utt].intensity[:, k], color="black", lw=2, label="label")
            for name, trace in systems.items():
                ax.plot(trace[utt]["au_intensity"][:, k], lw=1, label=name)
            ax.set_ylim(-0.1, 5.1)
            ax.set_title(f"{utt} {unit}", fontsize=8)
            if r == len(clips) - 1:
                ax.set_xlabel("frame")
    axes[0, 0].legend(fontsize=6)
    fig.suptitle("AU intensity: labels vs the frozen AU classifier on each system's frames")
    fig.tight_layout()
    _save(fig, au_plot)

    fig, axes = plt.subplots(1, len(clips), figsize=(4.5 * len(clips), 3.2), squeeze=False)
    for c, utt in enumerate(clips):
        ax = axes[0, c]
        for name, trace in systems.items():
            ax.plot(trace[utt]["sync_offsets"], trace[utt]["sync_distances"], marker=".", lw=1, label=name)
        ax.axvline(0, color="grey", lw=0.5)
        ax.set_title(utt, fontsize=9)
        ax.set_xlabel("offset (frames; + = audio later)")
        ax.set_ylabel("mean embedding distance")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("Sync expert: distance per audio offset (a sharp dip at 0 = in sync)")
    fig.tight_layout()
    _save(fig, sync_plot)
