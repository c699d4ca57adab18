"""One GRID talker, end to end: download its archives, verify them, extract into the raw layout, flag it.

Result: ``{raw}/{speaker}/video/*.mpg``, ``align/*.align`` and (when ``audio_url`` is set) ``audio/*.wav``,
and the flag ``{raw}/{speaker}.acquired`` (JSON: archives with URL, size and sha256; files with sizes;
counts) written last. The speaker folder appears in one rename after every archive extracted, so a failure
at any step leaves no speaker folder and no flag; a verified archive stays in ``downloads`` for the rerun.
"""

from __future__ import annotations

import logging
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from autalk.acquire.archives import extract_flat, verify_archive
from autalk.acquire.transfer import RemoteFileMissing, download
from autalk.atomic import atomic_dir, write_json
from autalk.config import DatasetConfig
from autalk.errors import ConfigError, DownloadError

log = logging.getLogger(__name__)

# raw sub-folder -> the suffixes its archive's useful members end in
SUFFIXES = {"video": (".mpg", ".mp4"), "align": (".align",), "audio": (".wav",)}


def archive_urls(ds: DatasetConfig, speaker: str) -> dict[str, str]:
    """The archives of one talker by raw sub-folder (audio only if configured)."""
    dl = ds.source.download
    templates = {"video": dl.video_url, "align": dl.align_url, "audio": dl.audio_url}
    return {kind: t.format(speaker=speaker) for kind, t in templates.items() if t}


def acquire_speaker(ds: DatasetConfig, speaker: str, downloads: Path, raw: Path, flag: Path) -> dict:
    """Download, verify and extract one talker; return the flag's content."""
    if ds.source.kind != "grid":
        raise ConfigError(f"datasets.{ds.name}.source.kind is {ds.source.kind!r}, not 'grid'")
    if speaker not in ds.speakers:
        raise ConfigError(f"speaker {speaker!r} is not in datasets.{ds.name}.speakers")
    dl = ds.source.download
    archives = {}
    for kind, url in archive_urls(ds, speaker).items():
        name = PurePosixPath(urlparse(url).path).name or f"{speaker}.archive"
        dest = Path(downloads) / speaker / f"{kind}-{name}"
        try:
            got = download(url, dest, retries=dl.retries, timeout_s=dl.timeout_s, backoff_s=dl.backoff_s,
                           min_rate_bytes_s=dl.min_rate_bytes_s, sha256=dl.checksums.get(url))
        except RemoteFileMissing:
            if kind == "video":
                raise DownloadError(
                    f"GRID speaker {speaker} has no video archive at {url} (HTTP 404). The corpus lacks video "
                    f"for some talkers (s21); remove {speaker} from datasets.{ds.name}.speakers and its split, "
                    f"or correct datasets.{ds.name}.source.download.video_url") from None
            raise
        try:
            verify_archive(got.path)
        except DownloadError as err:
            got.path.unlink()
            raise DownloadError(f"{err}; the archive was removed, rerun to download it again") from None
        archives[kind] = {"url": url, "file": str(got.path), "bytes": got.size, "sha256": got.sha256}

    speaker_dir = Path(raw) / speaker
    files: dict[str, int] = {}
    with atomic_dir(speaker_dir) as tmp:
        for kind, archive in archives.items():
            for name in extract_flat(Path(archive["file"]), SUFFIXES[kind], tmp / kind):
                files[f"{kind}/{name}"] = (tmp / kind / name).stat().st_size
    counts = {kind: sum(1 for f in files if f.startswith(kind + "/")) for kind in archives}
    stems = {kind: {PurePosixPath(f).stem for f in files if f.startswith(kind + "/")} for kind in archives}
    for kind in ("align", "audio"):
        if kind in stems and stems[kind] != stems["video"]:
            log.warning("%s: %d videos without %s, %d %s files without video", speaker,
                        len(stems["video"] - stems[kind]), kind, len(stems[kind] - stems["video"]), kind)
    content = {"dataset": ds.name, "speaker": speaker, "dir": str(speaker_dir), "archives": archives,
               "counts": counts, "files": files}
    write_json(flag, content)
    log.info("%s: %s in %s", speaker, ", ".join(f"{n} {k}" for k, n in counts.items()), speaker_dir)
    return content
