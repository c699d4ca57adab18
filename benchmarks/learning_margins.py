"""Margins of the test suite's learning tests across training seeds and CPU thread counts.

A learning test asserts that a trained network beats a baseline. Its verdict must not depend on the seed, the
number of threads (which changes the order of floating-point sums) or the machine's load, so the tests are
sized from the figures this script prints: for every seed x thread count, the AU classifier's and the
audio-to-AU networks' test scores beside their baselines, trained exactly as the workflow trains them on the
tiny demo workspace of ``tests/tiny_demo.yaml`` (or any settings passed with ``--config``), and the sync
expert's offset recovery as ``tests/test_sync.py`` trains it.

    mkdir -p /tmp/lmws && cp tests/tiny_demo.yaml /tmp/lmws/config.yaml
    PATH=$PWD/.venv/bin:$PATH snakemake --directory /tmp/lmws --cores 2 resources/demo/au_labels.parquet
    .venv/bin/python benchmarks/learning_margins.py --workspace /tmp/lmws --seeds 0 1 2 --threads 1 2
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import autalk.train.au_classifier as classifier  # noqa: E402
import autalk.train.audio2au as audio2au  # noqa: E402
from autalk.config import load_config  # noqa: E402


def au_classifier(workspace: Path, configs: list[Path], seed: int, out: Path) -> dict[str, float]:
    ds = load_config(*configs).dataset("demo")
    res = workspace / "resources" / "demo"
    ds.au_classifier.seed = seed
    cls = classifier.train_au_classifier(ds, res / "au_labels.parquet", res / "qc.parquet", res / "clips",
                                         out / "c.pt", out / "c.csv", device="cpu").set_index("au")
    return {"cls_f1": cls.loc["macro", "f1"], "cls_base_f1": cls.loc["macro", "baseline_f1"]}


def audio_to_au(workspace: Path, configs: list[Path], seed: int, out: Path) -> dict[str, float]:
    ds = load_config(*configs).dataset("demo")
    res = workspace / "resources" / "demo"
    ds.audio2au.seed = seed
    a2a = audio2au.train_audio2au(ds, res / "au_labels.parquet", res / "qc.parquet", res / "clips", out / "a.pt",
                                  out / "a.csv", device="cpu").set_index("au")
    return {"a2a_rmse": a2a.loc["macro", "rmse"], "a2a_base": a2a.loc["macro", "baseline_rmse"],
            "a2a_au25_rmse": a2a.loc["AU25", "rmse"], "a2a_au25_base": a2a.loc["AU25", "baseline_rmse"],
            "a2a_r": a2a.loc["macro", "pearson_r"]}


def sync_expert(seed: int) -> dict[str, float]:
    import test_sync

    expert = test_sync.train_expert(seed)
    found = {shift: test_sync.measure_shift(expert, shift) for shift in test_sync.SHIFTS}
    moving, static = test_sync.moving_and_static(expert)
    return {"sync_offsets_right": sum(r.offset == s for s, r in found.items()),
            "sync_min_conf": min(r.confidence for r in found.values()), "sync_conf_ratio": moving / static}


def generator(seed: int, out: Path) -> dict[str, float]:
    import test_trained_generator as tg

    row = {}
    for name in sorted(tg.SETTINGS):
        seen = tg.train_and_watch(name, seed, out / name)
        row.update({f"{name}_silence_psnr": seen.silence_psnr, f"{name}_opening_r": seen.opening_r,
                    f"{name}_voiced": seen.voiced_opening, f"{name}_silent": seen.silent_opening})
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", type=Path, help="a tiny demo workspace with AU labels (for the AU "
                        "classifier and the audio-to-AU networks)")
    parser.add_argument("--config", type=Path, nargs="*", help="settings files (default: the workspace's config)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--only", choices=["classifier", "audio2au", "sync", "generator"], nargs="+",
                        default=["classifier", "audio2au", "sync"], help="which learning tests to measure")
    args = parser.parse_args()
    if args.workspace is None and {"classifier", "audio2au"} & set(args.only):
        parser.error("--workspace is needed to measure the AU classifier and the audio-to-AU networks")
    logging.basicConfig(level=logging.WARNING)
    configs = args.config or ([args.workspace / "config.yaml"] if args.workspace else [])
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for seed in args.seeds:
            row = {"threads": threads, "seed": seed}
            with tempfile.TemporaryDirectory() as tmp:
                if "classifier" in args.only:
                    row.update(au_classifier(args.workspace, configs, seed, Path(tmp)))
                if "audio2au" in args.only:
                    row.update(audio_to_au(args.workspace, configs, seed, Path(tmp)))
                if "generator" in args.only:
                    row.update(generator(seed, Path(tmp)))
            if "sync" in args.only:
                row.update(sync_expert(seed))
            rows.append(row)
            print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()),
                  flush=True)
    if "classifier" in args.only:
        gain = [r["cls_f1"] - r["cls_base_f1"] for r in rows]
        print(f"AU classifier macro-F1 - baseline: min {min(gain):.3f} max {max(gain):.3f}")
    if "audio2au" in args.only:
        a2a_ratio = [r["a2a_rmse"] / r["a2a_base"] for r in rows]
        au25_ratio = [r["a2a_au25_rmse"] / r["a2a_au25_base"] for r in rows]
        print(f"audio-to-AU macro RMSE / baseline: min {min(a2a_ratio):.3f} max {max(a2a_ratio):.3f}")
        print(f"audio-to-AU AU25 RMSE / baseline:  min {min(au25_ratio):.3f} max {max(au25_ratio):.3f}")
        print(f"audio-to-AU macro r: min {min(r['a2a_r'] for r in rows):.3f}")
    if "sync" in args.only:
        import test_sync

        print(f"sync expert: shifts right {min(r['sync_offsets_right'] for r in rows)}/{len(test_sync.SHIFTS)}, "
              f"min confidence {min(r['sync_min_conf'] for r in rows):.3f}, "
              f"moving/static confidence min {min(r['sync_conf_ratio'] for r in rows):.2f}")

    if "generator" in args.only:
        import test_trained_generator as tg

        for name in sorted(tg.SETTINGS):
            print(f"generator {name}: silence PSNR min {min(r[name + '_silence_psnr'] for r in rows):.1f} dB, "
                  f"opening r min {min(r[name + '_opening_r'] for r in rows):.3f}, voiced opening min "
                  f"{min(r[name + '_voiced'] for r in rows):.1f}, silent opening max "
                  f"{max(r[name + '_silent'] for r in rows):.1f} (grey levels)")


if __name__ == "__main__":
    main()
