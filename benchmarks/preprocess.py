"""Preprocessing speed and alignment stability, side by side on the same clips in one process.

Passes over the same clips:
  decode   OpenCV decoding (resampled to 25 fps) alone;
  floor    decoding plus one dlib 68-point fit per frame from a fixed box, nothing else: the least any
           pipeline that fits dlib landmarks on every frame can cost;
  ours     the whole ``autalk preprocess`` work per clip: decode, detect-then-track, align, MFCC, QC, clip file
           (default settings, again with landmark smoothing off, and in ``faces.mode: faithful``: the authors'
           per-frame detection, inside our stage);
  naive    the paper authors' approach: dlib detection with upsampling 1 on every frame + 68 landmarks,
           similarity warp to the 224 template, resize to 128, one JPEG per frame;
  xN       decoding, the floor and our stage each in N worker processes (every core busy, as a
           ``--threads N`` run keeps them).
Alignment jitter, on the demo corpus: how far the true upper face (the synthesiser's ground-truth nose and eye
points, mapped through each frame's crop transform) moves inside a 128 px crop from one frame to the next (mean
px); it is zero for a perfectly steady crop. Nose jitter: the std of the stored nose-tip landmark's
frame-to-frame displacement in the 128 px crop (needs no ground truth; it also counts the fits' own noise,
which smoothing the crop does not remove). Error: mean landmark distance to the ground truth (video px).

Crop difference: the mean distance (px, 128 px crop) between the landmarks of the same frame in the tracked
(default) and the faithful crops: how much the choice of mode moves what the networks see.

Decode, floor and ours are timed side by side: each clip in turn runs the three back to back, --repeat times
over, so that another process's load meets the three alike (a pass timed whole after the other can meet a
different load). Per clip: ours / floor from the fastest of each (the figure nearest an idle machine), and the
median over the repeats of ours / floor in the same repeat (what the load made of it: load slows dlib's fits,
the floor's bulk, more than the rest of our stage, so this ratio rises with load).

Clips: the real GRID clips in --grid (e.g. tests/data/grid), else the demo corpus under --workspace
(resources/demo/manifest.parquet, built by the workflow), else talking-head-free test videos made here from a
packaged photo.

    .venv/bin/python benchmarks/preprocess.py --grid tests/data/grid --repeat 3
    .venv/bin/python benchmarks/preprocess.py --workspace . --clips 12
"""

from __future__ import annotations

import argparse
import dataclasses
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
UPPER_FACE = slice(27, 48)     # nose and eyes: points speech does not move


def demo_clips(workspace: Path, n: int) -> list[ClipJob]:
    manifest = read_manifest(workspace / "resources/demo/manifest.parquet").head(n)
    return [ClipJob(r.utt_id, r.speaker, str(workspace / r.video_path),
                    str(workspace / r.audio_path) if r.audio_path else None, r.fps, Path())
            for r in manifest.itertuples()]


def grid_clips(folder: Path, n: int) -> list[ClipJob]:
    """Real GRID videos (MPEG-1 with their audio track), as the manifest would list them."""
    return [ClipJob(video.stem, "grid", str(video), None, 25.0, Path())
            for video in sorted(folder.glob("*.mpg"))[:n]]


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
        jobs.append(ClipJob(f"own_{c}", "own", str(video), str(audio), 25.0, Path()))
    return jobs


def decode_only(jobs: list[ClipJob], fps: int) -> int:
    frames = 0
    for job in jobs:
        for _ in VideoReader(job.video_path, job.fps).frames(fps):
            frames += 1
    return frames


def decode_and_fit(jobs: list[ClipJob], fps: int) -> int:
    """Decoding plus one landmark fit per frame, from the box of a detection on each clip's first frame."""
    models = load_models()
    frames = 0
    for job in jobs:
        box = None
        for frame in VideoReader(job.video_path, job.fps).frames(fps):
            gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
            if box is None:
                box = max(models.detector(gray, 0), key=lambda r: r.area())
            models.predictor(gray, box)
            frames += 1
    return frames


def ours(jobs: list[ClipJob], cfg: PreprocessConfig, out: Path) -> tuple[list[dict], Path]:
    """The stage's work on each clip; the QC rows and the folder the clip files went to: a new one under ``out``
    on every call, as a speaker job writes into a new folder (replacing the files of an earlier pass would cost
    ~3 ms a clip more, which the stage never pays)."""
    folder = Path(tempfile.mkdtemp(dir=out))
    return [preprocess_clip(ClipJob(**{**job.__dict__, "output": folder / f"{job.utt_id}.npz"}), cfg, load_models())
            for job in jobs], folder


def stored_results(run: tuple[list[dict], Path], cfg: PreprocessConfig) -> dict[str, dict]:
    """The kept clips' landmarks and transforms (128 px crop), read back from the files of one ``ours`` run:
    outside the timings, as reading them is no part of the stage."""
    from autalk.data.clips import load_clip

    rows, folder = run
    scale = 128 / cfg.faces.crop_size
    results = {}
    for row in rows:
        if row["status"] == "kept":
            clip = load_clip(folder / f"{row['utt_id']}.npz")
            results[row["utt_id"]] = {"crop": clip.landmarks, "raw": clip.landmarks_raw,
                                      "tf": clip.transforms * scale}
    return results


def side_by_side(jobs: list[ClipJob], cfg: PreprocessConfig, out: Path, repeats: int) -> dict[str, np.ndarray]:
    """Seconds (repeats, clips) of decoding, the floor and our stage, run back to back on one clip after the
    other, ``repeats`` times over (the floor and ours swap places every other time, so neither always runs
    first): load from other processes meets the passes compared alike."""
    passes = {"decode": lambda job: decode_only([job], cfg.fps),
              "floor": lambda job: decode_and_fit([job], cfg.fps),
              "ours": lambda job: ours([job], cfg, out)}
    seconds = {name: np.zeros((repeats, len(jobs))) for name in passes}
    for repeat in range(repeats):
        order = ("decode", "floor", "ours") if repeat % 2 == 0 else ("decode", "ours", "floor")
        for index, job in enumerate(jobs):
            for name in order:
                start = time.perf_counter()
                passes[name](job)
                seconds[name][repeat, index] = time.perf_counter() - start
    return seconds


def _warm_worker(cfg: PreprocessConfig) -> None:
    """The stage's worker set-up, plus the one-off costs a long-running worker has long paid (librosa's first
    MFCC), so that the timed pass measures steady state whichever worker takes which clip."""
    from autalk.preprocess import speaker

    speaker._init_worker(cfg)
    mfcc(np.zeros(16000, np.float32), cfg.mfcc)


def _pid_after(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def _decode_one(job: ClipJob) -> int:
    return decode_only([job], PreprocessConfig().fps)


def _floor_one(job: ClipJob) -> int:
    return decode_and_fit([job], PreprocessConfig().fps)


def parallel(jobs: list[ClipJob], cfg: PreprocessConfig, out: Path, processes: int,
             repeats: int) -> dict[str, float]:
    """Steady-state seconds for the same clips in ``processes`` worker processes, every core busy as in a
    ``--threads`` run: decoding alone, the floor and our stage, one after the other ``repeats`` times over, the
    fastest of each. Worker start-up (imports, model loading: once per speaker job) is excluded."""
    import multiprocessing

    from autalk.preprocess import speaker

    passes = {"decode": _decode_one, "floor": _floor_one, "ours": speaker._run}
    best = dict.fromkeys(passes, float("inf"))
    with multiprocessing.get_context("spawn").Pool(processes, _warm_worker, (cfg,)) as pool:
        ready: set[int] = set()
        while len(ready) < processes:      # until every worker has finished its set-up and taken a task
            ready.update(pool.map(_pid_after, [0.2] * processes, chunksize=1))
        for repeat in range(repeats):      # each pass of our stage writes new clip files, as a speaker job does
            run = [ClipJob(**{**job.__dict__, "output": out / f"x{processes}_{repeat}" / f"{job.utt_id}.npz"})
                   for job in jobs]
            for name, work in passes.items():
                start = time.perf_counter()
                pool.map(work, run, chunksize=1)
                best[name] = min(best[name], time.perf_counter() - start)
    return best


def naive(jobs: list[ClipJob], cfg: PreprocessConfig, out: Path) -> dict[str, dict]:
    models = load_models()
    template = template_points(224)[cfg.faces.align_points]
    points = np.asarray(cfg.faces.align_points)
    results = {}
    for job in jobs:
        crops, raws, transforms = [], [], []
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
            transforms.append(matrix * 128 / 224)
        results[job.utt_id] = {"crop": np.array(crops), "raw": np.array(raws), "tf": np.array(transforms)}
    return results


def crop_difference(a: dict[str, dict], b: dict[str, dict], crop_size: int) -> float:
    """Mean distance (px in a 128 px crop) between the crop landmarks of the same frames in two runs."""
    distances = [np.linalg.norm(a[u]["crop"] - b[u]["crop"], axis=2).mean() * 128 / crop_size
                 for u in a if u in b and a[u]["crop"].shape == b[u]["crop"].shape]
    return float(np.mean(distances)) if distances else float("nan")


def nose_jitter(results: dict[str, dict], crop_size: int) -> float:
    """Std of the nose tip's frame-to-frame displacement in a 128 px crop, pooled over clips."""
    steps = [np.diff(r["crop"][:, NOSE] * 128 / crop_size, axis=0) for r in results.values() if len(r["crop"]) > 1]
    return float(np.linalg.norm(np.concatenate(steps), axis=1).std()) if steps else float("nan")


def ground_truth(workspace: Path) -> dict[str, np.ndarray]:
    """The demo synthesiser's landmarks per clip, (T, 68, 2) in video pixels; empty for other clips."""
    path = workspace / "resources/demo/raw/ground_truth/landmarks.parquet"
    if not path.is_file():
        return {}
    truth = pd.read_parquet(path).sort_values(["utt_id", "frame"])
    return {utt_id: np.stack([rows[[f"x{i}" for i in range(68)]].to_numpy(),
                              rows[[f"y{i}" for i in range(68)]].to_numpy()], -1)
            for utt_id, rows in truth.groupby("utt_id")}


def _with_truth(results: dict[str, dict], truth: dict[str, np.ndarray]):
    for utt_id, r in results.items():
        if utt_id in truth and truth[utt_id].shape == r["raw"].shape:
            yield r, truth[utt_id]


def alignment_jitter(results: dict[str, dict], truth: dict[str, np.ndarray]) -> float:
    """Mean frame-to-frame motion (px in a 128 px crop) of the true nose and eye points inside the crop."""
    steps = []
    for r, gt in _with_truth(results, truth):
        upper = np.einsum("tij,tkj->tki", r["tf"][:, :, :2], gt[:, UPPER_FACE]) + r["tf"][:, None, :, 2]
        steps.append(np.linalg.norm(np.diff(upper, axis=0), axis=2).mean())
    return float(np.mean(steps)) if steps else float("nan")


def truth_error(results: dict[str, dict], truth: dict[str, np.ndarray]) -> float:
    errors = [np.linalg.norm(r["raw"] - gt, axis=2).mean() for r, gt in _with_truth(results, truth)]
    return float(np.mean(errors)) if errors else float("nan")


def timed(repeats: int, fn, *args):
    """The result and the fastest of ``repeats`` runs: on a shared machine, the run least slowed by others."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn(*args)
        best = min(best, time.perf_counter() - start)
    return result, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", type=Path, default=Path("."), help="folder holding resources/demo/")
    parser.add_argument("--clips", type=int, default=12, help="clips to run")
    parser.add_argument("--grid", type=Path, help="folder of real GRID .mpg clips to run instead")
    parser.add_argument("--repeat", type=int, default=1, help="time each pass this many times, keep the fastest "
                        "(side by side: also the median ratio)")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    cfg = PreprocessConfig()                          # the paper's settings: 128 px crops
    unsmoothed = dataclasses.replace(cfg, faces=dataclasses.replace(cfg.faces, smoothing=0))
    faithful = dataclasses.replace(cfg, faces=dataclasses.replace(cfg.faces, mode="faithful"))
    processes = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.grid is not None:
            jobs, source = grid_clips(args.grid, args.clips), f"real GRID clips in {args.grid}"
        elif (args.workspace / "resources/demo/manifest.parquet").is_file():
            jobs, source = demo_clips(args.workspace, args.clips), f"demo corpus in {args.workspace}"
        else:
            jobs, source = own_clips(tmp, args.clips), "own test videos (no demo manifest found; no ground truth)"
        load_models()
        mfcc(np.zeros(16000, np.float32), cfg.mfcc)   # one-off imports, outside the timings
        decode_only(jobs[:1], cfg.fps)
        for name in ("ours", "ours0", "faithful", "naive"):
            (tmp / name).mkdir()
        ours(jobs[:1], cfg, tmp / "ours")              # the stage's own one-off imports (audio decoding)
        r = args.repeat
        paired = side_by_side(jobs, cfg, tmp / "ours", r)
        fastest = {name: seconds.min(axis=0) for name, seconds in paired.items()}
        t_decode, t_floor, t_ours = (float(fastest[name].sum()) for name in ("decode", "floor", "ours"))
        n_frames = decode_only(jobs, cfg.fps)
        ours_res = stored_results(ours(jobs, cfg, tmp / "ours"), cfg)
        run0, t_ours0 = timed(r, ours, jobs, unsmoothed, tmp / "ours0")
        run_faithful, t_faithful = timed(r, ours, jobs, faithful, tmp / "faithful")
        ours0_res = stored_results(run0, unsmoothed)
        faithful_res = stored_results(run_faithful, faithful)
        naive_res, t_naive = timed(r, naive, jobs, cfg, tmp / "naive")
        in_parallel = parallel(jobs, cfg, tmp / "ours", processes, r)
    truth = ground_truth(args.workspace)
    print(f"clips: {len(jobs)} ({source}), {n_frames} frames at 25 fps; one process, cv2 threads 1; "
          f"{os.cpu_count()} CPUs")
    print(f"{'approach':<22}{'frames/s':>10}{'x decode':>10}{'align jitter px':>17}{'nose jitter px':>16}"
          f"{'error px':>10}")

    def row(name, seconds, decode_seconds=t_decode, results=None, crop_size=128):
        figures = ""
        if results is not None:
            figures = (f"{alignment_jitter(results, truth):>17.3f}{nose_jitter(results, crop_size):>16.3f}"
                       f"{truth_error(results, truth):>10.3f}")
        print(f"{name:<22}{n_frames / seconds:>10.1f}{decode_seconds / seconds:>10.2f}{figures}")

    row("decode", t_decode)
    row("floor (decode + fit)", t_floor)
    row("ours", t_ours, results=ours_res, crop_size=cfg.faces.crop_size)
    row("ours, smoothing 0", t_ours0, results=ours0_res, crop_size=cfg.faces.crop_size)
    row("ours, faithful mode", t_faithful, results=faithful_res, crop_size=cfg.faces.crop_size)
    row("naive", t_naive, results=naive_res)
    for name in ("decode", "floor", "ours"):
        row(f"{name} x{processes}", in_parallel[name], decode_seconds=in_parallel["decode"])
    print(f"ours / naive = {t_naive / t_ours:.1f}x (goal >= 10x); ours / decode = {t_decode / t_ours:.2f}x "
          f"(goal >= 0.5x; decode + a dlib fit on every frame, nothing else, reaches {t_decode / t_floor:.2f}x); "
          f"kept {len(ours_res)} of {len(jobs)} clips")
    ratios = fastest["floor"] / fastest["ours"]
    under_load = np.median(paired["floor"] / paired["ours"], axis=0)
    print(f"side by side, {r} repeats per clip: fastest of each, and the median of ours / floor in one repeat")
    print(f"{'clip':<22}{'decode ms':>10}{'floor ms':>10}{'ours ms':>10}{'ours / floor':>14}{'median':>10}")
    for index, job in enumerate(jobs):
        times = "".join(f"{fastest[name][index] * 1e3:>10.1f}" for name in ("decode", "floor", "ours"))
        print(f"{job.utt_id:<22}{times}{ratios[index]:>13.2f}x{under_load[index]:>9.2f}x")
    print(f"ours / floor = {np.median(ratios):.2f}x median over clips of the fastest, {t_floor / t_ours:.2f}x over all "
          f"clips, {np.median(under_load):.2f}x median over clips of the repeats' (goal >= 0.8x); "
          f"faithful mode / floor = {t_floor / t_faithful:.2f}x, kept {len(faithful_res)} of {len(jobs)} clips; "
          "crop difference tracked vs faithful "
          f"{crop_difference(ours_res, faithful_res, cfg.faces.crop_size):.3f} px (128 px crop)")
    print(f"in {processes} processes (every core busy): ours / floor = "
          f"{in_parallel['floor'] / in_parallel['ours']:.2f}x")


if __name__ == "__main__":
    main()
