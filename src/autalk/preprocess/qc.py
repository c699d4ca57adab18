"""Quality control: the rejection reasons, the checks on audio, and one QC row per manifest clip."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from autalk.config import QCConfig

if TYPE_CHECKING:
    import pandas as pd

REASONS = ("unreadable_video", "no_face", "face_lost", "several_faces", "audio_missing", "audio_too_short",
           "audio_silent", "length_mismatch")


class Rejection(Exception):
    """A clip that cannot be kept; becomes a QC row with ``reason`` and a human-readable ``detail``."""

    def __init__(self, reason: str, detail: str):
        if reason not in REASONS:
            raise ValueError(f"unknown QC reason {reason!r}")
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def dbfs(signal: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(np.square(signal, dtype=np.float64)))) if signal.size else 0.0
    return 20 * np.log10(rms) if rms > 0 else -np.inf


def check_audio(signal: np.ndarray, sample_rate: int, cfg: QCConfig) -> None:
    duration = signal.size / sample_rate
    if duration < cfg.min_audio_s:
        raise Rejection("audio_too_short", f"{duration:.3f} s of audio, less than {cfg.min_audio_s} s")
    level = dbfs(signal)
    if level < cfg.silence_dbfs:
        raise Rejection("audio_silent", f"RMS level {level:.1f} dBFS, below {cfg.silence_dbfs} dBFS")


def check_lengths(audio_s: float, video_s: float, cfg: QCConfig) -> None:
    if abs(audio_s - video_s) > cfg.max_length_mismatch_s:
        raise Rejection("length_mismatch", f"audio {audio_s:.3f} s vs video {video_s:.3f} s "
                                           f"(more than {cfg.max_length_mismatch_s} s apart)")


def qc_row(utt_id: str, speaker: str, rejection: Rejection | None = None, n_frames: int = 0,
           n_interpolated: int = 0) -> dict:
    return {"utt_id": utt_id, "speaker": speaker,
            "status": "rejected" if rejection else "kept", "reason": rejection.reason if rejection else "",
            "detail": rejection.detail if rejection else "", "n_frames": int(n_frames),
            "n_interpolated": int(n_interpolated)}


def qc_table(rows: list[dict]) -> pd.DataFrame:
    import pandas as pd  # here: ``autalk generate`` imports this module for its checks, and pandas costs ~0.3 s

    from autalk.data.clips import QC_COLUMNS

    table = pd.DataFrame(rows, columns=QC_COLUMNS)
    return table.astype({"n_frames": "int64", "n_interpolated": "int64"})
