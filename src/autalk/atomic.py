"""Writes that are either complete or absent: an interrupted job must never leave a file or folder that a
rerun (or Snakemake) would mistake for a finished one. Everything goes to a temporary name in the same
directory (same filesystem, so the final ``os.replace``/``rename`` is atomic).

``mkstemp``/``mkdtemp`` create private (0600/0700) entries; outputs get the mode an ordinary ``open``/``mkdir``
would give them under the process umask instead, so collaborators on a shared file system can read them.
The temporary names of a killed run (``.{name}.XXXXXXXX.tmp``/``.old``) are removed by the next write of the
same output: nothing else writes to them, because Snakemake runs one job per output at a time.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def current_umask() -> int:
    """The process umask, read without changing it where Linux reports it (``os.umask`` must set to read)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def remove_leftovers(dest: Path) -> list[Path]:
    """Delete the temporary files/folders an interrupted write of ``dest`` left beside it; returns them."""
    pattern = re.compile(rf"\.{re.escape(dest.name)}\.[A-Za-z0-9_]{{8}}\.(tmp|old)")
    removed = []
    if dest.parent.is_dir():
        for entry in dest.parent.iterdir():
            if pattern.fullmatch(entry.name):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
                removed.append(entry)
    return removed


@contextmanager
def atomic_file(dest: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``dest``; on success it replaces ``dest``, on failure it is removed."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(dest)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, 0o666 & ~current_umask())
    try:
        yield Path(tmp)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(dest: str | Path, data: dict) -> None:
    with atomic_file(dest) as tmp:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


@contextmanager
def atomic_dir(dest: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder next to ``dest``; on success it takes ``dest``'s place (an older
    ``dest`` is moved aside first and removed after), on failure it is removed with everything in it."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(dest)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp"))
    os.chmod(tmp, 0o777 & ~current_umask())
    try:
        yield tmp
        old = None
        if dest.exists() or dest.is_symlink():
            old = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".old"))
            os.replace(dest, old / dest.name)
        os.replace(tmp, dest)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
