"""Writers of the corpus files: H.264 mp4 through imageio_ffmpeg's ffmpeg, 16-bit wav, GRID ``.align``.

OpenCV's own writer has no H.264 here, so frames are piped raw to the ffmpeg binary that ships with
imageio_ffmpeg. Every writer goes through ``autalk.atomic``: a crash never leaves a half-written file under its
final name. The temporary name has no media suffix, so ffmpeg and soundfile are told the format.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import soundfile

from autalk.atomic import atomic_file
from autalk.errors import DataError

ALIGN_UNITS_PER_S = 25000  # GRID's .align times are in 1/25000 s


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def write_video(path: Path, frames: np.ndarray, fps: int, crf: int) -> None:
    """(T, H, W, 3) uint8 RGB -> H.264 yuv420p mp4. One encoder thread: output bytes are reproducible."""
    t, h, w, _ = frames.shape
    with atomic_file(path) as tmp:
        cmd = [ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
               "-r", str(fps), "-i", "-", "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf),
               "-pix_fmt", "yuv420p", "-threads", "1", "-movflags", "+faststart", "-f", "mp4", str(tmp)]
        proc = subprocess.run(cmd, input=np.ascontiguousarray(frames).tobytes(), capture_output=True)
        if proc.returncode != 0:
            raise RuntimeError(f"ffmpeg failed writing {path}: {proc.stderr.decode(errors='replace')[-500:]}")


def write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    with atomic_file(path) as tmp:
        soundfile.write(tmp, audio, sample_rate, subtype="PCM_16", format="WAV")


def write_align(path: Path, entries: list[tuple[float, float, str]]) -> None:
    """GRID alignment: one ``start end word`` line per entry, times in 1/25000 s."""
    lines = [f"{round(a * ALIGN_UNITS_PER_S)} {round(b * ALIGN_UNITS_PER_S)} {word}\n" for a, b, word in entries]
    with atomic_file(path) as tmp:
        tmp.write_text("".join(lines))


def read_align(path: Path) -> list[tuple[float, float, str]]:
    """(start_s, end_s, word) per line of a GRID ``.align`` file."""
    out = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
            raise DataError(f"{path}:{n}: expected 'start end word' with integer times, got {line!r}")
        out.append((int(parts[0]) / ALIGN_UNITS_PER_S, int(parts[1]) / ALIGN_UNITS_PER_S, parts[2]))
    return out


def mux(path: Path, videos: list[Path], audios: list[Path], crf: int = 18) -> None:
    """One H.264 + AAC mp4 of the clips played one after another (video i with audio i)."""
    cmd = [ffmpeg_exe(), "-y", "-loglevel", "error"]
    for v, a in zip(videos, audios):
        cmd += ["-i", str(v), "-i", str(a)]
    streams = "".join(f"[{2 * i}:v][{2 * i + 1}:a]" for i in range(len(videos)))
    cmd += ["-filter_complex", f"{streams}concat=n={len(videos)}:v=1:a=1[v][a]", "-map", "[v]", "-map", "[a]",
            "-c:v", "libx264", "-crf", str(crf), "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k",
            "-movflags", "+faststart", "-f", "mp4"]
    with atomic_file(path) as tmp:
        proc = subprocess.run([*cmd, str(tmp)], capture_output=True)
        if proc.returncode != 0:
            raise RuntimeError(f"ffmpeg failed writing {path}: {proc.stderr.decode(errors='replace')[-500:]}")
