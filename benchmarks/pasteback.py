"""Paste-back cost against photo size: for one photo scaled to several resolutions, the time per frame to blend
the generated crop into the photo (warp + feathered blend, the work ``PastedFrames`` adds per frame), beside the
time per frame to encode that frame with H.264 (what writing the video costs anyway), and the peak memory of the
lazy frame sequence (one photo, not the whole video). Figures vary with machine load; compare the ratios.

    .venv/bin/python benchmarks/pasteback.py [--frames 50]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
from skimage import data

from autalk.config import FaceConfig
from autalk.generate.pasteback import PastedFrames
from autalk.generate.video import write_mp4
from autalk.preprocess.dlib_models import load_models
from autalk.preprocess.faces import align_photo

SIDES = (512, 1080, 2160, 4000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=50)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    models = load_models()
    rng = np.random.default_rng(0)
    print(f"{'photo':>11} {'blend ms/frame':>15} {'encode ms/frame':>16} {'blend/encode':>13} {'peak MiB':>9}")
    for side in SIDES:
        photo = cv2.resize(data.astronaut(), (side, side), interpolation=cv2.INTER_CUBIC)
        face = align_photo(photo, FaceConfig(crop_size=128), models)
        crops = np.clip(face.crop[None].astype(int) + rng.integers(-20, 20, (args.frames, 128, 128, 3)), 0, 255)
        frames = PastedFrames(photo, face, crops.astype(np.uint8))
        tracemalloc.start()
        start = time.perf_counter()
        for i in range(len(frames)):
            frames[i]
        blend = (time.perf_counter() - start) / len(frames)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            write_mp4(frames, None, 16000, 25, Path(tmp) / "v.mp4")
            encode = (time.perf_counter() - start) / len(frames) - blend
        print(f"{side:>5}x{side:<5} {blend * 1e3:>15.1f} {encode * 1e3:>16.1f} {blend / encode:>13.2f} {peak:>9.0f}")


if __name__ == "__main__":
    main()
