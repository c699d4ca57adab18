"""Per-clip metrics of one system's rendered test clips (``autalk evaluate``), two CSV rows per clip: ``frames``
``window`` scores the frames of the clip window every variant is trained on (``TrainingConfig.scored_frames``:
video frames 4..53 on GRID, the paper's protocol), ``all`` every frame of the clip (a secondary table). Each row
names its independent AU judge (``au_judge``, ``autalk.metrics.au``); OpenFace reads a clip's generated frames
once, all of them, as it read the real clip for the labels, and each scope scores its own frames of that reading.

Every kept test clip must have been rendered (``{utt_id}.npz`` + a playable ``{utt_id}.mp4``); a missing or
corrupt one fails the evaluation naming the clip. Traces (the AU classifier's intensities on the system's frames
and each clip's sync distance curve) are saved beside the table for the report's figures.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from autalk.atomic import atomic_file
from autalk.aus import openface
from autalk.aus.labels import ClipLabels, label_backend, labels_by_clip, read_au_labels
from autalk.config import DatasetConfig
from autalk.data.clips import Clip, load_clip
from autalk.errors import DataError
from autalk.generate.clips import load_generated, test_clips
from autalk.generate.video import probe
from autalk.metrics.au import (
    COUNTS,
    confusion_counts,
    judge_for,
    landmark_judge,
    openface_judge,
    pooled_scores,
    predict_presence,
)
from autalk.metrics.cpbd import cpbd_clip
from autalk.metrics.image import psnr_clip, ssim_clip
from autalk.metrics.landmarks import clip_landmarks, lmd
from autalk.metrics.sync import SyncResult
from autalk.models.sync_expert import load_sync_expert, measure_sync

log = logging.getLogger(__name__)


def check_rendered(directory: Path, utt_id: str) -> None:
    video = directory / f"{utt_id}.mp4"
    if not video.is_file():
        raise DataError(f"generated clip {utt_id} is missing its video {video}")
    info = probe(video)
    if info.video_codec is None or info.audio_codec is None:
        raise DataError(f"generated clip {utt_id}: {video} lacks a video or an audio stream")


def evaluate_system(system: str, cfg: DatasetConfig, generated: str | Path, labels: str | Path, qc: str | Path,
                    clips_root: str | Path, au_classifier: str | Path, sync_expert: str | Path,
                    output: str | Path, traces: str | Path | None = None, device: str = "cpu") -> pd.DataFrame:
    from autalk.models.au_classifier import load_au_classifier

    generated = Path(generated)
    if not generated.is_dir():
        raise DataError(f"no rendered clips for system {system!r}: {generated} is not a directory")
    units = cfg.aus.units
    clip_labels = labels_by_clip(read_au_labels(labels, units), units)
    judge = judge_for(label_backend(labels))
    tool = openface.locate(cfg.aus) if judge == "openface" else None
    classifier = load_au_classifier(au_classifier, device)
    if list(classifier.units) != list(units):
        raise DataError(f"AU classifier {au_classifier} predicts {classifier.units}, config has {units}")
    expert = load_sync_expert(sync_expert, device)
    official = None
    if cfg.sync_expert.official_syncnet:
        from autalk.metrics.syncnet_official import load_official_syncnet

        official = load_official_syncnet(cfg.sync_expert.official_syncnet, device)
    rows, trace = [], {}
    for utt_id, path in tqdm(test_clips(qc, clips_root, cfg).items(), desc=f"evaluating {system}"):
        real = load_clip(path)
        if real.utt_id != utt_id:
            raise DataError(f"clip file {path} holds clip {real.utt_id!r}, not {utt_id!r}")
        rendered = load_generated(generated, utt_id, real.frames.shape)
        check_rendered(generated, utt_id)
        if utt_id not in clip_labels:
            raise DataError(f"AU label table {labels} has no rows for test clip {utt_id}")
        lab = clip_labels[utt_id].aligned(real.n_frames, utt_id, labels)
        audio = None
        if official is not None:
            from autalk.metrics.syncnet_official import SAMPLE_RATE
            from autalk.preprocess.audio import load_audio

            audio = load_audio(generated / f"{utt_id}.mp4", SAMPLE_RATE)
        judged = None if tool is None else openface_judge(tool, rendered["frames"], utt_id, units)
        for scope, frames_scored in (("window", cfg.training.scored_frames(real.n_frames)),
                                     ("all", slice(0, real.n_frames))):
            row, sync = _score(rendered["frames"], real, lab, frames_scored, cfg, classifier, expert, official, audio,
                               judged)
            rows.append({"utt_id": utt_id, "system": system, "frames": scope, "au_judge": judge, **row})
        with torch.no_grad():
            x = torch.from_numpy(rendered["frames"]).to(device).permute(0, 3, 1, 2).float() / 127.5 - 1.0
            intensity = classifier(x)[1].cpu().numpy()
        trace[utt_id] = {"au_intensity": intensity, "sync_offsets": sync.offsets, "sync_distances": sync.distances}
    table = pd.DataFrame(rows)
    _atomic_csv(table, Path(output))
    if traces is not None:
        _save_traces(trace, Path(traces))
    window = table[table["frames"] == "window"]
    log.info("%s: %d clips; on the scored window mean LMD mouth %.3f, sync confidence %.3f", system, len(window),
             window["lmd_mouth"].mean(), window["sync_confidence"].mean())
    return table


def _score(frames: np.ndarray, real: Clip, lab: ClipLabels, scored: slice, cfg: DatasetConfig, classifier,
           expert, official, audio: np.ndarray | None, openface_presence: np.ndarray | None) -> tuple[dict, SyncResult]:
    """One clip's metrics on its frames ``scored`` (the sync expert hears the MFCC columns of those frames). The
    independent AU judge is OpenFace's reading of the whole clip (``openface_presence``) where given, else the
    landmark backend on the scored frames' landmarks."""
    frames, real_frames = frames[scored], real.frames[scored]
    presence, valid = lab.presence[scored], lab.success[scored]
    counts = confusion_counts(predict_presence(classifier, frames), presence, valid)
    f1, acc = pooled_scores(counts)
    p = psnr_clip(frames, real_frames)
    generated_lm, real_lm = clip_landmarks(frames, real_frames, real.landmarks[scored])
    lm = lmd(generated_lm, real_lm)
    judge_presence = (landmark_judge(real_lm, generated_lm, cfg.aus) if openface_presence is None
                      else openface_presence[scored])
    judged = confusion_counts(judge_presence, presence, valid)
    judge_f1, judge_acc = pooled_scores(judged)
    step = cfg.preprocess.mfcc.step
    sync = measure_sync(expert, frames, real.mfcc[scored.start * step:scored.stop * step], cfg.sync_expert.max_offset)
    row = {"n_frames": len(frames), "first_frame": scored.start, "psnr": p.mean_db,
           "psnr_identical_frames": p.identical_frames, "ssim": ssim_clip(frames, real_frames),
           "cpbd": cpbd_clip(frames), "lmd_mouth": lm.mouth, "lmd_all": lm.all, "au_f1": f1, "au_accuracy": acc,
           "au_f1_judge": judge_f1, "au_accuracy_judge": judge_acc,
           "sync_offset": sync.offset, "sync_confidence": sync.confidence, "sync_distance": sync.min_distance}
    for unit, c, j in zip(cfg.aus.units, counts, judged):
        row.update({f"{unit}_{name}": int(v) for name, v in zip(COUNTS, c)})
        row.update({f"judge_{unit}_{name}": int(v) for name, v in zip(COUNTS, j)})
    if official is not None:
        from autalk.metrics.syncnet_official import SAMPLE_RATE, lse

        samples = slice(int(scored.start / real.fps * SAMPLE_RATE), int(scored.stop / real.fps * SAMPLE_RATE))
        scores = lse(official, frames, audio[samples])
        row.update({"lse_d": scores.min_distance, "lse_c": scores.confidence})
    return row, sync


def _atomic_csv(table: pd.DataFrame, path: Path) -> None:
    with atomic_file(path) as tmp:
        table.to_csv(tmp, index=False)


def _save_traces(trace: dict, path: Path) -> None:
    arrays = {f"{utt}/{name}": value for utt, values in trace.items() for name, value in values.items()}
    with atomic_file(path) as tmp, tmp.open("wb") as fh:
        np.savez(fh, **arrays)


def load_traces(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    out: dict[str, dict[str, np.ndarray]] = {}
    with np.load(path, allow_pickle=False) as data:
        for key in data.files:
            utt, name = key.split("/", 1)
            out.setdefault(utt, {})[name] = data[key]
    return out
