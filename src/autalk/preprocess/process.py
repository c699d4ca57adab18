"""One manifest clip -> a stored ``Clip`` and its QC row. Every problem with the clip's files becomes a
rejection with a reason; only a bug in this code raises."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from autalk.config import PreprocessConfig
from autalk.data.clips import Clip, save_clip
from autalk.errors import DataError
from autalk.preprocess.audio import load_audio, mfcc, mfcc_windows
from autalk.preprocess.dlib_models import DlibModels
from autalk.preprocess.faces import AlignedFaces, align_video, align_video_faithful
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
    """Process one clip, write its file if kept, and return its QC row.

    The audio is decoded in a thread while the faces are aligned (a GRID track in process in a few ms; other
    video tracks by an ffmpeg child, ~25 ms of CPU a clip); an audio problem is still reported before a face
    problem, as if checked first."""
    try:
        try:
            video = VideoReader(job.video_path, fallback_fps=job.fps)
        except DataError as err:
            raise Rejection("unreadable_video", str(err)) from None
        with ThreadPoolExecutor(1) as pool:
            audio_job = pool.submit(load_audio, job.audio_path or job.video_path, cfg.mfcc.sample_rate)
            try:
                faces, face_problem = align_clip(video, cfg, models), None
            except Rejection as rejection:
                faces, face_problem = None, rejection
            try:
                audio = audio_job.result()
            except DataError as err:
                raise Rejection("audio_missing", str(err)) from None
        check_audio(audio, cfg.mfcc.sample_rate, cfg.qc)
        if face_problem is not None:
            raise face_problem
        check_lengths(audio.size / cfg.mfcc.sample_rate, video.duration_s, cfg.qc)
        features = mfcc(audio, cfg.mfcc)
        clip = Clip(utt_id=job.utt_id, frames=faces.crops, landmarks=faces.landmarks,
                    landmarks_raw=faces.landmarks_raw, transforms=faces.transforms, mfcc=features,
                    mfcc_windows=mfcc_windows(features, faces.n_frames, cfg.mfcc),
                    interpolated=faces.interpolated, fps=float(cfg.fps))
    except Rejection as rejection:
        log.info("%s rejected: %s", job.utt_id, rejection)
        return qc_row(job.utt_id, job.speaker, rejection)
    save_clip(clip, job.output)
    return qc_row(job.utt_id, job.speaker, n_frames=clip.n_frames,
                  n_interpolated=int(clip.interpolated.sum()))


def align_clip(video: VideoReader, cfg: PreprocessConfig, models: DlibModels) -> AlignedFaces:
    """The clip's aligned faces in the configured ``faces.mode``."""
    if cfg.faces.mode == "faithful":
        return align_video_faithful(video.frames(cfg.fps), cfg.faces, models)
    return align_video(video.frames(cfg.fps), cfg.faces, models, cfg.qc.max_face_gap)
