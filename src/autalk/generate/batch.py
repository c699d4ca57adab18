"""Batch mode of ``autalk generate``: every photo of a folder with every recording of a folder (either side may
also be one file) into a folder of videos, the checkpoint's networks loaded once for all of them.

A pair that fails (no face, unreadable audio) does not stop the others: its one-line reason is logged, and
after the last pair a DataError lists how many failed, so the command still exits non-zero. Each video is
written atomically, so a failed or interrupted pair leaves no half-written file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from autalk.errors import ConfigError, DataError
from autalk.generate.photo import PhotoAnimator

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aac", ".opus", ".mp4", ".mpg", ".mov", ".mkv", ".webm"}


@dataclass
class Job:
    image: Path
    audio: Path
    output: Path
    aus: Path | None


def inputs(path: Path, suffixes: set[str], kind: str) -> list[Path]:
    """The files of a folder whose suffix is one of ``suffixes`` (sorted), or the one file given."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DataError(f"{kind} {path} does not exist")
    found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
    if not found:
        raise DataError(f"{kind} folder {path} holds no {kind} files ({', '.join(sorted(suffixes))})")
    return found


def plan(images: Path, audios: Path, out_dir: Path, save_aus: bool) -> list[Job]:
    """One job per photo x recording, named ``{photo}__{recording}.mp4`` (+ ``.aus.csv``) in ``out_dir``."""
    jobs = []
    for image in inputs(images, IMAGE_SUFFIXES, "image"):
        for audio in inputs(audios, AUDIO_SUFFIXES, "audio"):
            output = out_dir / f"{image.stem}__{audio.stem}.mp4"
            jobs.append(Job(image, audio, output, output.with_suffix(".aus.csv") if save_aus else None))
    names = [j.output.name for j in jobs]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise ConfigError(f"batch outputs would collide (same file stem, different suffix): {', '.join(clashes)}")
    return jobs


def generate_batch(checkpoint: str | Path, images: str | Path, audios: str | Path, out_dir: str | Path,
                   au_scale: float = 1.0, save_aus: bool = False, device: str = "cpu", crop_only: bool = False,
                   side_by_side: bool = False, precision: str = "auto") -> list[Path]:
    """Every photo x recording into ``out_dir``; returns the videos written."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"batch output {out_dir} is a file; give a folder")
    jobs = plan(Path(images), Path(audios), out_dir, save_aus)
    animator = PhotoAnimator(checkpoint, device, precision)
    written, failed = [], []
    for job in tqdm(jobs, desc="animating photos", unit="video"):
        try:
            animator.write(job.image, job.audio, job.output, au_scale, job.aus, crop_only, side_by_side)
        except DataError as err:
            log.error("%s + %s: %s", job.image.name, job.audio.name, err)
            failed.append(job)
        else:
            written.append(job.output)
    log.info("batch: %d of %d videos written into %s", len(written), len(jobs), out_dir)
    if failed:
        pairs = ", ".join(f"{j.image.name}+{j.audio.name}" for j in failed[:5]) + (" ..." if len(failed) > 5 else "")
        raise DataError(f"{len(failed)} of {len(jobs)} photo x recording pairs failed ({pairs}); "
                        "the reasons are logged above")
    return written
