"""One manifest clip -> a stored ``Clip`` and its QC row. Every problem with the clip's files becomes a
rejection with a reason; only a bug in this code raises."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from autalk.config import PreprocessConfig
from autalk.data.clips import Clip, save_clip
from autalk.errors import DataError
from autalk.preprocess.audio import load_audio, mfcc, mfcc_windows
from autalk.preprocess.dlib_models import DlibModels
from autalk.preprocess.faces import align_video
from autalk.preprocess.qc import Rejection, check_audio, check_lengths, qc_row
from autalk.preprocess.video import VideoReader

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClipJob:
    utt_id: str
    speaker: str
    video_path: str
    audio_path: str | None      # None: the video's own audio track
    fps: float | None           # the manifest's frame rate, used if the container reports none
    output: Path


def preprocess_clip(job: ClipJob, cfg: PreprocessConfig, models: DlibModels) -> dict:
    """Process one clip, write its file if kept, and return its QC row."""
    try:
        try:
            video = VideoReader(job.video_path, fallback_fps=job.fps)
        except DataError as err:
            raise Rejection("unreadable_video", str(err)) from None
        try:
            audio = load_audio(job.audio_path or job.video_path, cfg.mfcc.sample_rate)
        except DataError as err:
            raise Rejection("audio_missing", str(err)) from None
        check_audio(audio, cfg.mfcc.sample_rate, cfg.qc)
        faces = align_video(video.frames(cfg.fps), cfg.faces, models, cfg.qc.max_face_gap)
        check_lengths(audio.size / cfg.mfcc.sample_rate, video.duration_s, cfg.qc)
        features = mfcc(audio, cfg.mfcc)
        clip = Clip(utt_id=job.utt_id, frames=faces.crops, landmarks=faces.landmarks,
                    landmarks_raw=faces.landmarks_raw, transforms=faces.transforms, mfcc=features,
                    mfcc_windows=mfcc_windows(features, faces.n_frames, cfg.mfcc.window, cfg.mfcc.step),
                    interpolated=faces.interpolated, fps=float(cfg.fps),
                    mouth_boxes=faces.mouth_boxes() if cfg.faces.mouth_box else None)
    except Rejection as rejection:
        log.info("%s rejected: %s", job.utt_id, rejection)
        return qc_row(job.utt_id, job.speaker, rejection)
    save_clip(clip, job.output)
    return qc_row(job.utt_id, job.speaker, n_frames=clip.n_frames,
                  n_interpolated=int(clip.interpolated.sum()))
