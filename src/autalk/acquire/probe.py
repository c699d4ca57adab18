"""Video and audio properties for the manifest, read without decoding whole files.

A file that cannot be read is reported (``error`` set, frame count or sample rate 0), never raised: one bad
clip among 33,000 must become a QC rejection with its reason, not a failed job.
"""

from __future__ import annotations

import math
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import cv2
import soundfile

_AUDIO_STREAM = re.compile(r"Stream #\S+.*?: Audio: .*?(\d+) Hz")


@dataclass
class VideoInfo:
    fps: float = 0.0
    n_frames: int = 0
    width: int = 0
    height: int = 0
    error: str = ""


@dataclass
class AudioInfo:
    sample_rate: int = 0
    error: str = ""


def probe_video(path: Path) -> VideoInfo:
    """Frame rate, size and frame count as the container reports them (counted by grabbing if it does not);
    the first frame is decoded to prove the stream is readable."""
    if not Path(path).is_file():
        return VideoInfo(error=f"video: {path} is missing")
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return VideoInfo(error=f"video: {path} cannot be opened (not a video, or an unknown codec)")
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        reported = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        ok, _ = cap.read()
        if not ok:
            return VideoInfo(fps, 0, width, height, f"video: {path} has no decodable frame")
        if not math.isfinite(fps) or fps <= 0:
            return VideoInfo(0.0, 0, width, height, f"video: {path} reports no frame rate")
        n_frames = int(round(reported)) if math.isfinite(reported) and reported > 0 else 0
        if n_frames == 0:
            n_frames = 1
            while cap.grab():
                n_frames += 1
        return VideoInfo(fps, n_frames, width, height)
    finally:
        cap.release()


def probe_wav(path: Path) -> AudioInfo:
    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError, OSError) as err:
        return AudioInfo(error=f"audio: {path} is unreadable ({err})")
    if info.frames == 0:
        return AudioInfo(error=f"audio: {path} has no samples")
    return AudioInfo(int(info.samplerate))


def probe_audio_track(video: Path, ffmpeg: str) -> AudioInfo:
    """Sample rate of a video's first audio stream, from ffmpeg's description of the file."""
    try:
        proc = subprocess.run([ffmpeg, "-hide_banner", "-nostdin", "-i", str(video)],
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        return AudioInfo(error=f"audio: probing {video} with ffmpeg failed ({err})")
    match = _AUDIO_STREAM.search(proc.stderr)
    if match is None:
        return AudioInfo(error=f"audio: no .wav for {video} and no audio track in it")
    return AudioInfo(int(match.group(1)))
