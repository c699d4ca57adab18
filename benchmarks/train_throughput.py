"""Generator training throughput: step time and samples/s of the real training loop (``autalk.train.generator.train``,
full variant: predicted AUs, AU-classifier loss, discriminator) at demo and paper scale, and the data loader's
samples/s alone (clips in memory and read from disk). Runs on CPU, and on CUDA too when a GPU is present. At demo
scale the ``ours`` variant is timed too, as the demo trains it (bf16 autocast on the CPU): its mask blend,
weight average and lower-face mask penalty are what ``make demo`` pays for beside the paper's generator.

A sample is one training clip window (``clip_length`` frames). Data: synthetic clip files written through
``save_clip`` with freshly initialised pre-trained-network checkpoints (weights do not change the cost).

    .venv/bin/python benchmarks/train_throughput.py [--paper-steps 3] [--demo-steps 8]   (0 steps: scale skipped)
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from torch.utils.data import DataLoader

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from autalk.config import Splits, load_config  # noqa: E402
from autalk.data.clips import kept_clip_paths  # noqa: E402
from autalk.train.dataset import ClipWindows, StepBatchSampler, WindowPlan, load_labels, usable_clips  # noqa: E402
from autalk.train.generator import train  # noqa: E402
from training_fixtures import make_corpus, with_run  # noqa: E402


def scale_config(dataset: str, device: str, steps: int, cpu_bf16: bool = False, variant: str = "full"):
    """The dataset's variant, its splits those of the synthetic corpus (speakers a, b train; v val; t test)."""
    cfg = load_config(REPO / "config.yaml").dataset(dataset).variant(variant)
    training = dataclasses.replace(cfg.training, max_steps=steps, checkpoint_every=10**9, device=device,
                                   num_workers=0, epochs=1000, cpu_bf16=cpu_bf16)
    return dataclasses.replace(cfg, training=training, splits=Splits(train=["a", "b"], val=["v"], test=["t"]))


def loop_row(name: str, cfg, corpus, device: str) -> dict:
    paths = with_run(corpus, f"run_{name}_{device}")
    start = time.perf_counter()
    train(cfg, paths)
    wall = time.perf_counter() - start
    step_s = pd.read_csv(paths.run_dir / "losses.csv")["step_s"].iloc[1:].median()  # first step: warm-up
    batch = cfg.training.batch_size
    return {"what": f"train step, {name}", "device": device_name(device), "batch": batch,
            "frames/sample": cfg.training.clip_length, "crop": cfg.preprocess.faces.crop_size,
            "step_ms": round(step_s * 1000, 1), "samples/s": round(batch / step_s, 2),
            "frames/s": round(batch * cfg.training.clip_length / step_s, 1), "run_s": round(wall, 1)}


def loader_row(name: str, cfg, corpus, in_memory: bool, batches: int = 40) -> dict:
    tc = cfg.training
    clips, _ = usable_clips(kept_clip_paths(corpus.qc, corpus.clips_root, cfg.splits.train), tc.clip_length)
    dataset = ClipWindows(clips, load_labels(corpus.labels, cfg.aus.units), corpus.labels, tc.clip_length, (12, 35),
                          cache_bytes=2**40 if in_memory else 0, identity_index=tc.identity_index)
    plan = WindowPlan([c.n_frames for c in clips], tc.clip_length, tc.batch_size, 0, None)
    loader = DataLoader(dataset, batch_sampler=StepBatchSampler(plan, 0, batches))
    start = time.perf_counter()
    for _ in loader:
        pass
    seconds = time.perf_counter() - start
    return {"what": f"data loader alone, {name}, {'in memory' if in_memory else 'from disk'}", "device": "cpu",
            "batch": tc.batch_size, "frames/sample": tc.clip_length, "crop": cfg.preprocess.faces.crop_size,
            "step_ms": round(seconds / batches * 1000, 2), "samples/s": round(batches * tc.batch_size / seconds, 1),
            "frames/s": round(batches * tc.batch_size * tc.clip_length / seconds, 1), "run_s": round(seconds, 1)}


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(0)
    return f"cpu ({torch.get_num_threads()} threads)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo-steps", type=int, default=8)
    parser.add_argument("--paper-steps", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        demo = make_corpus(Path(tmp) / "demo", crop=64, clips_per_speaker=8, n_frames=60, feature_dim=16)
        paper = make_corpus(Path(tmp) / "paper", crop=128, clips_per_speaker=8, n_frames=75, feature_dim=64)
        # the demo's own default variant is timed too; the paper scale has only the paper's generator
        scales = (("demo scale", "demo", demo, args.demo_steps, ["full", "ours"]),
                  ("paper scale", "grid", paper, args.paper_steps, ["full"]))
        for name, dataset, corpus, steps, bf16_variants in scales:
            if steps < 1:
                continue
            for device in devices:
                rows.append(loop_row(name, scale_config(dataset, device, steps), corpus, device))
                print(rows[-1], flush=True)
            for variant in bf16_variants:
                shown = name if variant == "full" else f"{name}, {variant}"
                label = f"{shown}, bf16 autocast on CPU"
                rows.append(loop_row(label, scale_config(dataset, "cpu", steps, True, variant), corpus, "cpu"))
                print(rows[-1], flush=True)
            for in_memory in (True, False):
                rows.append(loader_row(name, scale_config(dataset, "cpu", steps), corpus, in_memory))
                print(rows[-1], flush=True)
    print()
    print(pd.DataFrame(rows).to_markdown(index=False))
    if len(devices) == 1:
        print("\nno CUDA device here: GPU rows not measured")


if __name__ == "__main__":
    main()
