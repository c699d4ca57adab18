"""The manifest: one row per utterance of a dataset, the single source of truth every later stage reads.

It is built from the raw layout alone (``{raw}/{speaker}/video|audio|align/{sentence}.*``), which GRID's
download, the linked local corpus (TCD-TIMIT) and the synthetic demo all share, so it knows nothing about
where a corpus came from. Unreadable files are kept as rows with ``probe_error`` set (and ``n_frames`` or
``sample_rate`` 0) so that preprocessing's QC rejects them with a reason instead of losing them.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import imageio_ffmpeg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from autalk.acquire.probe import probe_audio_track, probe_video, probe_wav
from autalk.atomic import atomic_file
from autalk.config import DatasetConfig
from autalk.errors import ConfigError, DataError

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mpg", ".mp4")

SCHEMA = pa.schema([
    ("utt_id", pa.string()),
    ("speaker", pa.string()),
    ("sentence", pa.string()),
    ("video_path", pa.string()),
    ("audio_path", pa.string()),     # null: the audio is the video's own track
    ("align_path", pa.string()),     # null: no word alignment
    ("fps", pa.float64()),
    ("n_frames", pa.int64()),        # 0: the video is unreadable (see probe_error)
    ("duration_s", pa.float64()),    # of the video: n_frames / fps
    ("sample_rate", pa.int64()),     # 0: no readable audio (see probe_error)
    ("width", pa.int64()),
    ("height", pa.int64()),
    ("probe_error", pa.string()),    # empty when video and audio were read; else what failed, naming the file
])
MANIFEST_COLUMNS = SCHEMA.names


@dataclass
class Utterance:
    speaker: str
    sentence: str
    video: Path
    audio: Optional[Path]
    align: Optional[Path]


def _present(path: Path) -> bool:
    """A file, or a link to one that vanished: both belong in the manifest (the latter as a probe error)."""
    return path.exists() or path.is_symlink()


def find_utterances(raw: Path, speakers: list[str]) -> list[Utterance]:
    """Every video of every speaker, with the wav and alignment of the same name when they exist."""
    utterances = []
    for speaker in speakers:
        video_dir = Path(raw) / speaker / "video"
        if not video_dir.is_dir():
            raise DataError(f"{video_dir} is missing: speaker {speaker} has not been acquired into {raw}")
        videos = sorted(p for p in video_dir.iterdir()
                        if p.suffix.lower() in VIDEO_SUFFIXES and not p.name.startswith("."))
        if not videos:
            raise DataError(f"{video_dir} has no {' or '.join(VIDEO_SUFFIXES)} videos")
        stems = [v.stem for v in videos]
        duplicated = sorted({s for s in stems if stems.count(s) > 1})
        if duplicated:
            raise DataError(f"{video_dir}: several videos per sentence {duplicated}; keep one of each")
        for kind, suffix in (("audio", ".wav"), ("align", ".align")):
            folder = Path(raw) / speaker / kind
            orphans = (sorted(p.name for p in folder.glob(f"*{suffix}") if p.stem not in stems)
                       if folder.is_dir() else [])
            if orphans:
                log.warning("%s: %d %s files without a video are ignored (e.g. %s)", folder, len(orphans), suffix,
                            orphans[0])
        for video in videos:
            audio = Path(raw) / speaker / "audio" / f"{video.stem}.wav"
            align = Path(raw) / speaker / "align" / f"{video.stem}.align"
            utterances.append(Utterance(speaker, video.stem, video, audio if _present(audio) else None,
                                        align if _present(align) else None))
    return utterances


def _row(utt: Utterance, ffmpeg: str) -> dict:
    video = probe_video(utt.video)
    audio = probe_wav(utt.audio) if utt.audio is not None else probe_audio_track(utt.video, ffmpeg)
    if video.error and utt.audio is None and not audio.sample_rate:
        audio.error = ""  # the unreadable video already explains the missing track
    return {
        "utt_id": f"{utt.speaker}_{utt.sentence}",
        "speaker": utt.speaker,
        "sentence": utt.sentence,
        "video_path": str(utt.video),
        "audio_path": None if utt.audio is None else str(utt.audio),
        "align_path": None if utt.align is None else str(utt.align),
        "fps": video.fps,
        "n_frames": video.n_frames,
        "duration_s": video.n_frames / video.fps if video.fps > 0 else 0.0,
        "sample_rate": audio.sample_rate,
        "width": video.width,
        "height": video.height,
        "probe_error": "; ".join(e for e in (video.error, audio.error) if e),
    }


def build_manifest(ds: DatasetConfig, raw: str | Path, threads: int = 1) -> pd.DataFrame:
    """Probe every utterance of the dataset's configured speakers (``threads`` files at a time)."""
    utterances = find_utterances(Path(raw), ds.speakers)
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        rows = list(tqdm(pool.map(lambda u: _row(u, ffmpeg), utterances),
                         total=len(utterances), desc=f"probing {ds.name}", unit="file", mininterval=5.0))
    table = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    bad = table[table["probe_error"] != ""]
    for row in bad.head(10).itertuples():
        log.warning("%s: %s", row.utt_id, row.probe_error)
    log.info("%s: %d utterances of %d speakers, %d with a probe error (kept for QC to reject)",
             ds.name, len(table), len(ds.speakers), len(bad))
    return table


def write_manifest(table: pd.DataFrame, path: str | Path) -> None:
    """Write with the fixed schema (so an all-null column keeps its type), atomically."""
    arrow = pa.Table.from_pandas(table[MANIFEST_COLUMNS], schema=SCHEMA, preserve_index=False)
    with atomic_file(path) as tmp:
        pq.write_table(arrow, tmp)


def read_manifest(path: str | Path) -> pd.DataFrame:
    """The manifest table, or a DataError naming the file and what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: manifest not found (it is built by the workflow rule build_manifest)")
    try:
        table = pd.read_parquet(path)
    except (OSError, ValueError, pa.ArrowException) as err:
        raise DataError(f"{path}: not a readable parquet manifest ({err})") from None
    missing = [c for c in MANIFEST_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(f"{path}: manifest lacks column(s) {missing}")
    duplicated = table["utt_id"][table["utt_id"].duplicated()].tolist()
    if duplicated:
        raise DataError(f"{path}: utt_id not unique: {duplicated[:5]}")
    return table


def check_manifest_dataset(path: str | Path, ds: DatasetConfig, speaker: str) -> None:
    """Refuse a speaker the dataset does not list, or a manifest whose speakers are not the dataset's (another
    dataset's manifest would otherwise be preprocessed under this dataset's settings)."""
    if speaker not in ds.speakers:
        raise ConfigError(f"speaker {speaker!r} is not a speaker of dataset {ds.name!r} ({ds.speakers})")
    foreign = sorted(set(read_manifest(path)["speaker"]) - set(ds.speakers))
    if foreign:
        raise DataError(f"{path} lists speakers {foreign} that dataset {ds.name!r} does not have: "
                        "is it another dataset's manifest?")
