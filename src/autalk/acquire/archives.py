"""Archive integrity checks and flattening extraction.

GRID's archives nest their files differently (``sN/*.mpg`` in the video zip, ``align/*.align`` in the
alignment tar, ``sN/*.wav`` in the audio tar); extraction keeps only the files with the wanted suffixes and
flattens them into one folder, which also rules out paths that escape the destination.
"""

from __future__ import annotations

import shutil
import tarfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Callable, Iterator

from autalk.errors import DownloadError


def verify_archive(path: Path) -> None:
    """Read the whole archive (zip: every member's CRC; tar: every header and data block) or raise."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                bad = zf.testzip()
            if bad is not None:
                raise DownloadError(f"{path}: corrupt archive (member {bad!r} fails its CRC check)")
            return
        with tarfile.open(path, "r:*") as tf:
            for member in tf:
                if member.isfile():
                    with tf.extractfile(member) as fh:
                        while fh.read(1 << 20):
                            pass
    except DownloadError:
        raise
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, ValueError) as err:
        raise DownloadError(f"{path}: corrupt or not a zip/tar archive ({type(err).__name__}: {err})") from None


def extract_flat(path: Path, suffixes: tuple[str, ...], dest: Path) -> list[str]:
    """Copy every member ending in one of ``suffixes`` to ``dest/<basename>``; return the names written.

    Hidden files (``._x.mpg`` resource forks, ``__MACOSX/``) are skipped; two members with one basename, or
    none with a wanted suffix, are errors naming the archive.
    """
    dest.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    try:
        for member_path, open_member in _members(path):
            parts = PurePosixPath(member_path).parts
            name = parts[-1] if parts else ""
            if (not name.lower().endswith(suffixes) or name.startswith(".")
                    or any(p.startswith("__MACOSX") for p in parts)):
                continue
            if (dest / name).exists():
                raise DownloadError(f"{path}: two members are named {name!r}; cannot flatten into {dest}")
            with open_member() as src, open(dest / name, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
            written.append(name)
    except DownloadError:
        raise
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, ValueError) as err:
        raise DownloadError(f"{path}: extraction failed ({type(err).__name__}: {err})") from None
    if not written:
        raise DownloadError(f"{path}: no member ends in {' or '.join(suffixes)}; is the URL the right archive?")
    return sorted(written)


def _members(path: Path) -> Iterator[tuple[str, Callable[[], BinaryIO]]]:
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.is_dir():
                    yield info.filename, lambda info=info: zf.open(info)
        return
    with tarfile.open(path, "r:*") as tf:
        for member in tf:
            if member.isfile():
                yield member.name, lambda member=member: tf.extractfile(member)
