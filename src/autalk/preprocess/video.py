"""Video decoding (OpenCV) and frame-rate conversion by timestamp.

Output frame j (at ``fps``) shows the source frame nearest in time to j / fps, so a ~30 fps TCD-TIMIT clip
becomes 25 fps with frame j still at time j / 25 s: audio (which starts at time 0 too) stays aligned.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from autalk.errors import DataError


class VideoReader:
    """A video opened for one sequential pass; ``n_decoded`` counts source frames once the pass is done."""

    def __init__(self, path: str | Path, fallback_fps: float | None = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(f"video {self.path} does not exist")
        # One decoding thread: clips run in parallel processes, and FFmpeg's frame threads would oversubscribe.
        self.capture = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
        if not self.capture.isOpened():
            raise DataError(f"video {self.path} cannot be opened (corrupt or unsupported container)")
        fps = self.capture.get(cv2.CAP_PROP_FPS)
        if not (math.isfinite(fps) and 1 <= fps <= 1000):
            fps = fallback_fps or 0.0
        if not (math.isfinite(fps) and fps > 0):
            raise DataError(f"video {self.path} has no usable frame rate")
        self.fps = float(fps)
        self.width = int(self.capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(self.capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.n_decoded = 0

    @property
    def duration_s(self) -> float:
        return self.n_decoded / self.fps

    def frames(self, fps: float | None = None) -> Iterator[np.ndarray]:
        """BGR frames resampled to ``fps`` (None: as stored). Decoding stops at the first unreadable frame."""
        ratio = self.fps / fps if fps else 1.0
        wanted = 0
        try:
            while True:
                ok, frame = self.capture.read()
                if not ok:
                    return
                index = self.n_decoded
                self.n_decoded += 1
                while math.floor(wanted * ratio + 0.5) == index:
                    yield frame
                    wanted += 1
        finally:
            self.capture.release()


def resampled_count(n_source: int, source_fps: float, fps: float) -> int:
    """How many output frames ``VideoReader.frames`` yields for ``n_source`` decoded frames."""
    ratio = source_fps / fps
    return int(math.ceil((n_source - 0.5) / ratio)) if n_source > 0 else 0
