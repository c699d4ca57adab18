"""A corpus that needs registration (TCD-TIMIT): check a local copy and link it into GRID's raw layout.

Layout assumed (the one TCD-TIMIT's per-speaker downloads unpack to)::

    {local_path}/volunteers/{speaker}/Clips/straightcam/{sentence}.mp4     e.g. volunteers/01M/.../sa1.mp4
    {local_path}/lipspeakers/{speaker}/Clips/straightcam/{sentence}.mp4    e.g. lipspeakers/Lipspkr1/...

Only the frontal ``straightcam`` view is used. A ``{sentence}.wav`` beside a clip is used as its audio;
otherwise later stages read the clip's own audio track. TCD-TIMIT has no per-clip word alignments.

Instead of copying ~100 GB, each configured speaker gets ``{raw}/{speaker}/video/{sentence}.mp4`` (and
``audio/{sentence}.wav``) as symbolic links to the local files, so the manifest and every later stage see
one raw layout for all corpora.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Optional

from autalk.acquire.speakers import CLIP_DIR, SPEAKER_GROUPS
from autalk.atomic import atomic_dir, write_json
from autalk.config import DatasetConfig
from autalk.errors import ConfigError, DataError

log = logging.getLogger(__name__)

EXAMPLE = "volunteers/01M/Clips/straightcam/sa1.mp4"


def _how_to_obtain(ds: DatasetConfig) -> str:
    where = ds.source.registration_url or "the corpus's distributor (registration required)"
    return (f"Obtain the corpus from {where}, unpack it so that <folder>/{EXAMPLE} exists, and set "
            f"datasets.{ds.name}.source.local_path: <folder> in config.yaml (or in a YAML file passed with "
            f"--configfile).")


def corpus_root(ds: DatasetConfig) -> Path:
    """The configured local copy, or an error that says where to get it and which key to set."""
    if ds.source.kind != "local":
        raise ConfigError(f"datasets.{ds.name}.source.kind is {ds.source.kind!r}, not 'local'")
    if not ds.source.local_path:
        raise ConfigError(f"datasets.{ds.name}.source.local_path is not set: {ds.name} cannot be downloaded by "
                          f"a script. {_how_to_obtain(ds)}")
    root = Path(ds.source.local_path).expanduser()
    if not root.is_dir():
        raise DataError(f"datasets.{ds.name}.source.local_path {root} is not a folder. {_how_to_obtain(ds)}")
    return root


def speaker_clip_dir(root: Path, speaker: str) -> Optional[Path]:
    for group in SPEAKER_GROUPS:
        candidate = root / group / speaker / CLIP_DIR
        if candidate.is_dir():
            return candidate
    return None


def locate(ds: DatasetConfig, raw: Path, flag: Path) -> dict:
    """Check every configured speaker's clips exist, link them under ``raw``, write the flag last."""
    root = corpus_root(ds)
    clip_dirs, problems = {}, []
    for speaker in ds.speakers:
        clip_dir = speaker_clip_dir(root, speaker)
        if clip_dir is None:
            problems.append(f"{speaker}: no folder "
                            f"{' or '.join(str(root / g / speaker / CLIP_DIR) for g in SPEAKER_GROUPS)}")
        elif not any(clip_dir.glob("*.mp4")):
            problems.append(f"{speaker}: no .mp4 clips in {clip_dir}")
        else:
            clip_dirs[speaker] = clip_dir
    if problems:
        raise DataError(f"{root} does not have the expected layout (<folder>/{EXAMPLE}):\n  "
                        + "\n  ".join(problems))

    speakers = {}
    for speaker, clip_dir in clip_dirs.items():
        clips = sorted(clip_dir.glob("*.mp4"))
        n_audio = 0
        with atomic_dir(Path(raw) / speaker) as tmp:
            (tmp / "video").mkdir()
            for clip in clips:
                os.symlink(clip.resolve(), tmp / "video" / clip.name)
                wav = clip.with_suffix(".wav")
                if wav.is_file():
                    (tmp / "audio").mkdir(exist_ok=True)
                    os.symlink(wav.resolve(), tmp / "audio" / wav.name)
                    n_audio += 1
        speakers[speaker] = {"source": str(clip_dir.resolve()), "videos": len(clips), "wavs": n_audio}
        log.info("%s: %d clips (%d with a wav) from %s", speaker, len(clips), n_audio, clip_dir)
    content = {"dataset": ds.name, "root": str(root.resolve()), "speakers": speakers}
    write_json(flag, content)
    return content
