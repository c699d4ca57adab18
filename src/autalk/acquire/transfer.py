"""Resumable HTTP download with the standard library.

Corpus archives are hundreds of megabytes from one academic server, so a transfer that breaks must continue
where it stopped rather than start over. Bytes go to ``<file>.part``; a retry asks for the rest with an HTTP
``Range`` header (and starts over if the server ignores it); only a transfer whose size matches the server's
``Content-Length`` (and the configured sha256, if any) is renamed to its final name. A rerun after a crash
finds either the final file (complete) or a ``.part`` (resumed), never a short file under the final name.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import re
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from tqdm import tqdm

from autalk import __version__
from autalk.errors import DownloadError

log = logging.getLogger(__name__)

CHUNK = 1 << 20
_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)")


class RemoteFileMissing(DownloadError):
    """The server answered 404/410: retrying cannot help."""


class _Retryable(Exception):
    """A failure worth another attempt (network error, server error, transfer cut short)."""


@dataclass
class Downloaded:
    path: Path
    size: int
    sha256: str


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def download(url: str, dest: str | Path, *, retries: int = 5, timeout_s: float = 60.0, backoff_s: float = 2.0,
             min_rate_bytes_s: float = 1024.0, sha256: Optional[str] = None) -> Downloaded:
    """Fetch ``url`` to ``dest`` unless ``dest`` already exists; resume a ``.part`` left by an earlier try.

    Waits ``backoff_s``, then twice as long, ... between attempts. An attempt during which fewer than
    ``min_rate_bytes_s * timeout_s`` bytes arrived in ``timeout_s`` seconds is cut (the socket timeout alone
    never fires while a server trickles a byte a second). Raises :class:`RemoteFileMissing` for a 404,
    :class:`DownloadError` once ``retries`` attempts failed or when the file fails its checksum.
    """
    dest = Path(dest)
    if dest.exists():
        log.info("%s already downloaded", dest)
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = part_path(dest)
        for attempt in range(1, retries + 1):
            try:
                _transfer(url, part, timeout_s, min_rate_bytes_s)
                break
            except _Retryable as err:
                if attempt == retries:
                    kept = (f"the partial file {part} is kept and will be resumed by the next run"
                            if part.exists() else "no partial file was kept")
                    raise DownloadError(f"{url}: giving up after {retries} attempts ({err}); {kept}") from None
                delay = backoff_s * 2 ** (attempt - 1)
                log.warning("%s: %s; attempt %d of %d in %.1f s", url, err, attempt + 1, retries, delay)
                time.sleep(delay)
        digest = sha256_of(part)
        if sha256 is not None and digest != sha256.lower():
            part.unlink()
            raise DownloadError(f"{url}: sha256 {digest} does not match the configured {sha256}; "
                                "the download was removed")
        part.replace(dest)
        log.info("downloaded %s (%d bytes)", dest, dest.stat().st_size)
        return Downloaded(dest, dest.stat().st_size, digest)
    digest = sha256_of(dest)
    if sha256 is not None and digest != sha256.lower():
        raise DownloadError(f"{dest}: sha256 {digest} does not match the configured {sha256}; "
                            "delete the file to download it again")
    return Downloaded(dest, dest.stat().st_size, digest)


def _transfer(url: str, part: Path, timeout_s: float, min_rate_bytes_s: float) -> None:
    """One attempt: continue ``part`` up to the server's full size, or raise ``_Retryable``."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": f"autalk/{__version__}"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as err:
        err.close()
        if err.code == 416 and have:
            _, total = _parse_content_range(err.headers.get("Content-Range"))
            if total == have:
                return
            part.unlink()
            raise _Retryable("the server refused to resume (HTTP 416); starting over") from None
        if err.code in (404, 410):
            raise RemoteFileMissing(f"{url}: not found on the server (HTTP {err.code})") from None
        if err.code in (408, 429) or err.code >= 500:
            raise _Retryable(f"HTTP {err.code} {err.reason}") from None
        raise DownloadError(f"{url}: HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
        raise _Retryable(f"{type(err).__name__}: {err}") from None

    with response:
        if response.status == 206:
            start, total = _parse_content_range(response.headers.get("Content-Range"))
            if start != have:
                part.unlink()
                raise _Retryable(f"the server resumed at byte {start} instead of {have}; starting over")
            mode = "ab"
            log.info("%s: resuming at byte %d of %s", url, have, total)
        else:
            if have:
                log.info("%s: the server ignored the Range request; starting over", url)
            have, mode = 0, "wb"
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        with open(part, mode) as fh, tqdm(total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
                                          desc=part.name.removesuffix(".part"), leave=False,
                                          mininterval=1.0 if sys.stderr.isatty() else 30.0) as bar:
            rate = RateGuard(timeout_s, min_rate_bytes_s)
            try:
                while chunk := response.read1(CHUNK):      # what has arrived, so a trickle is noticed
                    fh.write(chunk)
                    have += len(chunk)
                    bar.update(len(chunk))
                    rate.check(len(chunk))
            except (http.client.HTTPException, OSError) as err:
                raise _Retryable(f"transfer broke after {have} bytes ({type(err).__name__}: {err})") from None
    if total is not None and have < total:
        raise _Retryable(f"connection closed after {have} of {total} bytes")
    if total is not None and have > total:
        part.unlink()
        raise _Retryable(f"received {have} bytes, more than the announced {total}; starting over")


class RateGuard:
    """Cuts a transfer that delivered fewer than ``min_rate * window_s`` bytes in the last ``window_s`` s."""

    def __init__(self, window_s: float, min_rate: float):
        self.window_s, self.min_rate = window_s, min_rate
        self.start, self.received = time.monotonic(), 0

    def check(self, n_bytes: int) -> None:
        self.received += n_bytes
        elapsed = time.monotonic() - self.start
        if elapsed < self.window_s:
            return
        if self.received < self.min_rate * elapsed:
            raise _Retryable(f"{self.received} bytes in {elapsed:.0f} s, slower than the minimum "
                             f"{self.min_rate:g} bytes/s (datasets.grid.source.download.min_rate_bytes_s)")
        self.start, self.received = time.monotonic(), 0


def _parse_content_range(value: Optional[str]) -> tuple[Optional[int], Optional[int]]:
    match = _CONTENT_RANGE.match(value or "")
    if not match:
        return None, None
    start, total = match.groups()
    return (int(start) if start else None), (int(total) if total != "*" else None)
