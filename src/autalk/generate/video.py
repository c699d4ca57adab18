"""Frames + audio -> H.264/AAC mp4 with the ffmpeg binary that imageio-ffmpeg ships (OpenCV here has no H.264
writer). Written through ``autalk.atomic``, so a killed job never leaves an mp4 that looks complete."""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import imageio_ffmpeg
import numpy as np
import soundfile

from autalk.atomic import atomic_file
from autalk.errors import DataError


def write_mp4(frames: Sequence[np.ndarray], audio: np.ndarray | None, sample_rate: int, fps: float,
              path: str | Path, crf: int = 18, preset: str = "medium", threads: int = 0) -> None:
    """RGB uint8 frames (T, H, W, 3), as an array or any sequence of (H, W, 3) frames produced on demand (a
    paste-back video over a large photo), and mono float audio -> ``path``. Frames stream into ffmpeg one at a
    time. The audio is cut or zero-padded to the video's duration so both streams end together; odd frame
    sizes are padded to even (yuv420p needs it). ``preset``: x264's speed/size trade-off at the same quality
    (``crf``); ``threads``: ffmpeg's threads (0: its own choice, 1.5 per core, which costs ~15-30% more CPU
    time than one thread)."""
    first = np.asarray(frames[0]) if len(frames) else None
    if first is None or first.ndim != 3 or first.shape[2] != 3:
        raise ValueError(f"expected RGB frames (T, H, W, 3), got {len(frames)} of "
                         f"{None if first is None else first.shape}")
    t, (h, w) = len(frames), first.shape[:2]
    with tempfile.TemporaryDirectory(prefix="autalk_mp4_") as tmp, atomic_file(path) as out:
        cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", f"{fps:g}", "-i", "-"]
        if audio is not None:
            n = int(round(t / fps * sample_rate))
            audio = np.asarray(audio, np.float32)[:n]
            audio = np.pad(audio, (0, n - audio.size))
            wav = Path(tmp) / "audio.wav"
            soundfile.write(str(wav), np.clip(audio, -1.0, 1.0), sample_rate, subtype="PCM_16")
            cmd += ["-i", str(wav), "-map", "0:v:0", "-map", "1:a:0", "-c:a", "aac", "-b:a", "128k"]
        cmd += ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libx264", "-preset", preset, "-crf", str(crf),
                "-pix_fmt", "yuv420p", "-threads", str(threads), "-movflags", "+faststart", "-f", "mp4", str(out)]
        with tempfile.TemporaryFile() as errors:
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=errors)
            try:
                for i in range(t):
                    frame = np.ascontiguousarray(frames[i], dtype=np.uint8)
                    if frame.shape != first.shape:
                        raise ValueError(f"frame {i} is {frame.shape}, frame 0 is {first.shape}")
                    proc.stdin.write(frame.tobytes())
            except BrokenPipeError:
                pass                                 # ffmpeg stopped early: its message follows
            finally:
                proc.stdin.close()
                proc.wait()
            if proc.returncode != 0:
                errors.seek(0)
                message = errors.read().decode(errors="replace").strip()[-500:]
                raise DataError(f"ffmpeg could not write {path}: {message}")


def side_by_side(real: np.ndarray, generated: np.ndarray, gap: int = 2) -> np.ndarray:
    """Real | generated frames next to each other (T, H, 2W + gap, 3), separated by a white bar."""
    if real.shape != generated.shape:
        raise ValueError(f"real {real.shape} and generated {generated.shape} frames differ in shape")
    bar = np.full((*real.shape[:2], gap, 3), 255, np.uint8)
    return np.concatenate([real, bar, generated], axis=2)


@dataclass
class MediaInfo:
    duration_s: float
    video_codec: str | None
    audio_codec: str | None
    width: int
    height: int
    fps: float


def probe(path: str | Path) -> MediaInfo:
    """Streams and duration of a media file from ffmpeg's description of it; DataError if it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"video {path} does not exist")
    proc = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", str(path)],
                          capture_output=True, text=True)
    text = proc.stderr
    duration = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", text)
    video = re.search(r"Stream #\S+.*?Video: (\w+).*?, (\d+)x(\d+).*?, ([\d.]+) fps", text)
    audio = re.search(r"Stream #\S+.*?Audio: (\w+)", text)
    if duration is None or (video is None and audio is None):
        last = text.strip().splitlines()[-1] if text.strip() else "no output"
        raise DataError(f"video {path} is unreadable or corrupt: {last}")
    h, m, s = duration.groups()
    return MediaInfo(duration_s=int(h) * 3600 + int(m) * 60 + float(s),
                     video_codec=video.group(1) if video else None, audio_codec=audio.group(1) if audio else None,
                     width=int(video.group(2)) if video else 0, height=int(video.group(3)) if video else 0,
                     fps=float(video.group(4)) if video else 0.0)
