"""Preprocessing speed and alignment stability, side by side on the same clips in one process.

Three passes over the same clips:
  decode  OpenCV decoding (resampled to 25 fps) alone: the ceiling of any pipeline;
  ours    the whole ``autalk preprocess`` work per clip: decode, detect-then-track, align, MFCC, QC, clip file;
  naive   the paper authors' approach: dlib detection with upsampling 1 on every frame + 68 landmarks,
          similarity warp to the 224 template, resize to 128, one JPEG per frame.
Jitter: frame-to-frame motion of the nose tip (landmark 30) in the 128 px aligned crop (std of the per-frame
displacement; the alignment should hold it still), and, on the demo corpus, the mean landmark error against
the synthesiser's ground truth (in video pixels).

Clips: the demo corpus under --workspace (resources/demo/manifest.parquet, built by the workflow), else
talking-head-free test videos made here from a packaged photo.

    .venv/bin/python benchmarks/preprocess.py --workspace . --clips 12
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from autalk.acquire.manifest import read_manifest
from autalk.config import PreprocessConfig
from autalk.preprocess.audio import mfcc
from autalk.preprocess.dlib_models import load_models
from autalk.preprocess.faces import apply_transform, similarity_transform
from autalk.preprocess.process import ClipJob, preprocess_clip
from autalk.preprocess.template import template_points
from autalk.preprocess.video import VideoReader

NOSE = 30


def demo_clips(workspace: Path, n: int) -> list[ClipJob]:
    manifest = read_manifest(workspace / "resources/demo/manifest.parquet").head(n)
    return [ClipJob(r.utt_id, r.speaker, r.split, str(workspace / r.video_path),
                    str(workspace / r.audio_path) if r.audio_path else None, r.fps, Path())
            for r in manifest.itertuples()]


def own_clips(folder: Path, n: int) -> list[ClipJob]:
    """A packaged photo moving slowly (translation + small rotation) over 75 frames, with a voiced wav."""
    import skimage.data
    import soundfile

    face = cv2.cvtColor(skimage.data.astronaut()[20:290, 60:380], cv2.COLOR_RGB2BGR)
    canvas = np.full((288, 360, 3), 110, np.uint8)
    canvas[10:280, 20:340] = face
    t = np.arange(48000) / 16000
    voice = 0.1 * sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 15)) * (0.6 + 0.4 * np.sin(8 * np.pi * t))
    jobs = []
    for c in range(n):
        video, audio = folder / f"clip{c}.mp4", folder / f"clip{c}.wav"
        writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 25, (360, 288))
        for i in range(75):
            matrix = cv2.getRotationMatrix2D((180, 144), 3 * np.sin(i / 9 + c), 1.0)
            matrix[:, 2] += [6 * np.sin(i / 7 + c), 3 * np.cos(i / 11)]
            writer.write(cv2.warpAffine(canvas, matrix, (360, 288), borderValue=(110, 110, 110)))
        writer.release()
        soundfile.write(str(audio), voice.astype(np.float32), 16000)
        jobs.append(ClipJob(f"own_{c}", "own", "train", str(video), str(audio), 25.0, Path()))
    return jobs


def decode_only(jobs: list[ClipJob], fps: int) -> int:
    frames = 0
    for job in jobs:
        for _ in VideoReader(job.video_path, job.fps).frames(fps):
            frames += 1
    return frames


def ours(jobs: list[ClipJob], cfg: PreprocessConfig, out: Path) -> dict[str, dict]:
    from autalk.data.clips import load_clip

    results = {}
    for job in jobs:
        target = out / f"{job.utt_id}.npz"
        row = preprocess_clip(ClipJob(**{**job.__dict__, "output": target}), cfg, load_models())
        if row["status"] == "kept":
            clip = load_clip(target)
            results[job.utt_id] = {"crop": clip.landmarks, "raw": clip.landmarks_raw}
    return results


def ours_parallel(jobs: list[ClipJob], cfg: PreprocessConfig, out: Path, processes: int) -> float:
    """Steady-state seconds for the same clips across worker processes as the stage runs them (``--threads``);
    worker start-up (imports, model loading: once per speaker job) is excluded."""
    import multiprocessing

    from autalk.preprocess import speaker

    jobs = [ClipJob(**{**job.__dict__, "output": out / f"{job.utt_id}.npz"}) for job in jobs]
    with multiprocessing.get_context("spawn").Pool(processes, speaker._init_worker, (cfg,)) as pool:
        pool.map(speaker._run, jobs[:processes], chunksize=1)          # warm every worker
        start = time.perf_counter()
        pool.map(speaker._run, jobs, chunksize=1)
        return time.perf_counter() - start


def naive(jobs: list[ClipJob], cfg: PreprocessConfig, out: Path) -> dict[str, dict]:
    models = load_models()
    template = template_points(224)[cfg.faces.align_points]
    points = np.asarray(cfg.faces.align_points)
    results = {}
    for job in jobs:
        crops, raws = [], []
        for index, frame in enumerate(VideoReader(job.video_path, job.fps).frames(cfg.fps)):
            gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
            rects = models.detector(gray, 1)
            if not rects:
                continue
            shape = models.predictor(gray, max(rects, key=lambda r: r.area()))
            landmarks = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
            matrix = similarity_transform(landmarks[points], template)
            aligned = cv2.warpAffine(frame, matrix, (224, 224), borderValue=(127, 127, 127))
            crop = cv2.resize(aligned, (128, 128), interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(out / f"{job.utt_id}_{index:04d}.jpg"), crop)
            crops.append(apply_transform(matrix, landmarks) * 128 / 224)
            raws.append(landmarks)
        results[job.utt_id] = {"crop": np.array(crops), "raw": np.array(raws)}
    return results


def nose_jitter(results: dict[str, dict], crop_size: int) -> float:
    """Std of the nose tip's frame-to-frame displacement in a 128 px crop, pooled over clips."""
    steps = [np.diff(r["crop"][:, NOSE] * 128 / crop_size, axis=0) for r in results.values() if len(r["crop"]) > 1]
    return float(np.linalg.norm(np.concatenate(steps), axis=1).std()) if steps else float("nan")


def truth_error(results: dict[str, dict], workspace: Path) -> float:
    path = workspace / "resources/demo/raw/ground_truth/landmarks.parquet"
    if not path.is_file():
        return float("nan")
    truth = pd.read_parquet(path)
    errors = []
    for utt_id, r in results.items():
        gt = truth[truth["utt_id"] == utt_id].sort_values("frame")
        gt = np.stack([gt[[f"x{i}" for i in range(68)]].to_numpy(), gt[[f"y{i}" for i in range(68)]].to_numpy()], -1)
        if gt.shape == r["raw"].shape:
            errors.append(np.linalg.norm(r["raw"] - gt, axis=2).mean())
    return float(np.mean(errors)) if errors else float("nan")


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", type=Path, default=Path("."), help="folder holding resources/demo/")
    parser.add_argument("--clips", type=int, default=12, help="clips to run")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    cfg = PreprocessConfig()                          # the paper's settings: 128 px crops
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if (args.workspace / "resources/demo/manifest.parquet").is_file():
            jobs, source = demo_clips(args.workspace, args.clips), f"demo corpus in {args.workspace}"
        else:
            jobs, source = own_clips(tmp, args.clips), "own test videos (no demo manifest found)"
        load_models()
        mfcc(np.zeros(16000, np.float32), cfg.mfcc)   # one-off imports, outside the timings
        decode_only(jobs[:1], cfg.fps)
        (tmp / "ours").mkdir()
        (tmp / "naive").mkdir()
        n_frames, t_decode = timed(decode_only, jobs, cfg.fps)
        ours_res, t_ours = timed(ours, jobs, cfg, tmp / "ours")
        naive_res, t_naive = timed(naive, jobs, cfg, tmp / "naive")
        processes = os.cpu_count() or 1
        t_parallel = ours_parallel(jobs, cfg, tmp / "ours", processes)
    fps_decode, fps_ours, fps_naive = n_frames / t_decode, n_frames / t_ours, n_frames / t_naive
    print(f"clips: {len(jobs)} ({source}), {n_frames} frames at 25 fps; one process, cv2 threads 1; "
          f"{os.cpu_count()} CPUs")
    print(f"{'approach':<10}{'frames/s':>10}{'nose jitter px':>16}{'error vs truth px':>19}")
    print(f"{'decode':<10}{fps_decode:>10.0f}{'':>16}{'':>19}")
    print(f"{'ours':<10}{fps_ours:>10.0f}{nose_jitter(ours_res, cfg.faces.crop_size):>16.3f}"
          f"{truth_error(ours_res, args.workspace):>19.3f}")
    print(f"{f'ours x{processes}':<10}{n_frames / t_parallel:>10.0f}   ({processes} processes, as --threads {processes})")
    print(f"{'naive':<10}{fps_naive:>10.1f}{nose_jitter(naive_res, 128):>16.3f}"
          f"{truth_error(naive_res, args.workspace):>19.3f}")
    print(f"ours / naive = {fps_ours / fps_naive:.1f}x (goal >= 10x); ours / decode = {fps_ours / fps_decode:.2f}x, "
          f"with {processes} processes {n_frames / t_parallel / fps_decode:.2f}x (goal >= 0.5x); "
          f"kept {len(ours_res)} of {len(jobs)} clips")


if __name__ == "__main__":
    main()
