"""End-to-end speed of ``autalk generate`` (model loading, face detection and alignment, MFCC, audio-to-AU,
the generator, the mp4 mux) on a 3 s clip at 128 px, against real time, on one CPU thread: wall time as the
command prints it, and its CPU time (user + system, the command's and its ffmpeg's), which is what one idle core
would need.

The generator is the paper-scale one (config.yaml ``grid``: 128 px crop, TCSAN 512-512-512-1024 with channel
attention, predicted AUs), freshly initialised (weights do not change the cost); the photo is scikit-image's
astronaut, the audio 3 s of a voiced-like tone at the model's 16 kHz (``--rate``: another rate, which the command
resamples). ``--compare SRC ...`` runs other checkouts' ``src`` folders (each first on PYTHONPATH) in turn with
this tree's, ``--runs`` times each, so load from other processes meets them alike; ``--args`` adds options to
this tree's command only (e.g. ``--precision fp32``). Run with one thread to measure "one CPU core":

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/generate_speed.py [--seconds 3] [--runs 2] [--compare SRC ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import soundfile
import torch
from skimage import data

REPO = Path(__file__).resolve().parents[1]

from autalk.config import load_config  # noqa: E402
from autalk.models.audio2au import Audio2AU  # noqa: E402
from autalk.models.generator import Generator, GeneratorConfig, generator_checkpoint  # noqa: E402


def write_checkpoint(dataset: str, path: Path) -> None:
    cfg = load_config(REPO / "config.yaml").dataset(dataset).variant("full")
    config = {s: dataclasses.asdict(getattr(cfg, s)) for s in ("training", "aus", "preprocess")}
    units = cfg.aus.units
    torch.manual_seed(0)
    a = cfg.audio2au
    audio2au = Audio2AU(units, 12, cfg.preprocess.mfcc.window, cfg.model.au_feature_dim,
                        time_channels=a.time_channels, freq_channels=a.freq_channels, lstm_hidden=a.lstm_hidden)
    generator = Generator(GeneratorConfig.of(cfg), audio2au)
    torch.save(generator_checkpoint(generator, config, units, 0), path)


def run_once(tmp: Path, src: Path | None, extra: list[str], seconds: float) -> tuple[str, float, float]:
    """One ``autalk generate``: its printed line, CPU seconds (it and its children) and real-time factor."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(src), *filter(None, [env.get("PYTHONPATH")])])
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([str(REPO / ".venv" / "bin" / "autalk"), "generate", "--checkpoint",
                          str(tmp / "generator.pt"), "--image", str(tmp / "face.jpg"), "--audio",
                          str(tmp / "speech.wav"), "-o", str(tmp / "out.mp4"), "--device", "cpu", *extra],
                         capture_output=True, text=True, check=True, env=env).stdout
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    if re.search(r"= ([\d.]+) frames/s \(([\d.]+)x real time", out) is None:
        sys.exit(f"autalk generate printed no frames per second: {out!r}")
    return out.strip(), cpu_s, seconds / cpu_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rate", type=int, default=16000, help="sample rate of the recording (Hz)")
    parser.add_argument("--dataset", default="grid")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--compare", type=Path, nargs="+", default=[],
                        help="other checkouts' src folders, run in turn with this tree's")
    parser.add_argument("--args", default="", help="extra options for this tree's autalk generate")
    args = parser.parse_args()
    trees = {**{str(src): (src.resolve(), []) for src in args.compare}, "this tree": (None, shlex.split(args.args))}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_checkpoint(args.dataset, tmp / "generator.pt")
        cv2.imwrite(str(tmp / "face.jpg"), cv2.cvtColor(data.astronaut()[:300, 100:400], cv2.COLOR_RGB2BGR))
        t = np.arange(int(args.seconds * args.rate)) / args.rate
        speech = 0.3 * np.sin(2 * np.pi * 140 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2
        soundfile.write(str(tmp / "speech.wav"), speech.astype(np.float32), args.rate)
        run_once(tmp, None, shlex.split(args.args), args.seconds)  # warm the page cache and Python's bytecode
        cpu = {name: [] for name in trees}
        for run in range(args.runs):
            for name, (src, extra) in trees.items():
                line, cpu_s, factor = run_once(tmp, src, extra, args.seconds)
                cpu[name].append(cpu_s)
                # CPU time is what one idle core would need; wall time on a loaded machine also counts waiting
                print(f"run {run + 1}, {name}: {line}; CPU time {cpu_s:.2f} s = {factor:.2f}x real time on one "
                      f"idle core (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')})", flush=True)
        first = statistics.median(next(iter(cpu.values())))
        for name, values in cpu.items():
            median = statistics.median(values)
            print(f"{name}: median CPU time {median:.2f} s = {args.seconds / median:.2f}x real time on one idle core"
                  + (f" ({median / first:.2f} of {next(iter(cpu))}'s)" if args.compare else ""))


if __name__ == "__main__":
    main()
