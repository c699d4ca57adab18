"""Every test clip rendered by one system into ``{out_dir}/{utt_id}.mp4`` (H.264 + the clip's audio) and
``{utt_id}.npz`` (the exact uint8 frames the metrics read; mp4 compression would bias them).

Systems: a trained generator (a config variant), animating the clip's identity frame (``training.identity_frame``,
by default frame ``clip_start``, the first frame of the paper's clip) from the clip's audio (+ AUs), or one of two
references computed on the same clips: ``static`` (the identity frame held still, a face that ignores the audio)
and ``real`` (the real aligned frames, the upper bound for sync and AU agreement). A sample of clips is also
rendered as real | generated for a person to watch.

A generator renders the whole clip, and the scored window (``TrainingConfig.scored_frames``: frames
[clip_start, clip_start + clip_length), what every variant trained on) again on its own, exactly as in
training, in place: the window's frames never depend on audio outside it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from autalk.acquire.manifest import read_manifest
from autalk.atomic import atomic_file
from autalk.aus.labels import labels_by_clip, read_au_labels
from autalk.config import DatasetConfig, TrainingConfig
from autalk.data.clips import Clip, kept_clip_paths, load_clip
from autalk.errors import ConfigError, DataError
from autalk.generate.frames import to_tensor, to_uint8
from autalk.generate.video import side_by_side, write_mp4
from autalk.preprocess.audio import load_audio
from autalk.systems import REFERENCE_SYSTEMS

log = logging.getLogger(__name__)


def save_generated(out_dir: Path, utt_id: str, frames: np.ndarray, **arrays: np.ndarray) -> None:
    """The metrics' copy of a generated clip, written atomically."""
    with atomic_file(out_dir / f"{utt_id}.npz") as tmp, tmp.open("wb") as fh:
        np.savez(fh, utt_id=np.array(utt_id), frames=frames, **arrays)


def load_generated(directory: str | Path, utt_id: str, expected_shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """A system's clip as the metrics read it; DataError naming the clip when it is missing, corrupt or of the
    wrong shape (a generation job that died half-way must fail evaluation, not shrink it)."""
    path = Path(directory) / f"{utt_id}.npz"
    if not path.is_file():
        raise DataError(f"generated clip {utt_id} is missing: {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception as err:  # zipfile/numpy raise several types for a truncated file
        raise DataError(f"generated clip {utt_id} is corrupt: {path}: {err}") from None
    stored = str(arrays["utt_id"]) if "utt_id" in arrays else None
    if stored != utt_id:                  # a renamed or copied file must not be scored as another clip
        raise DataError(f"generated clip {path} holds clip {stored!r}, not {utt_id!r}")
    frames = arrays.get("frames")
    if frames is None or frames.dtype != np.uint8 or frames.shape != tuple(expected_shape):
        got = None if frames is None else (frames.shape, str(frames.dtype))
        raise DataError(f"generated clip {utt_id} ({path}) has frames {got}, expected {tuple(expected_shape)} uint8")
    return arrays


class ClipAudio:
    """Each test clip's waveform, from the manifest's audio (or video) file, from the clip's first frame."""

    def __init__(self, manifest: str | Path, sample_rate: int):
        table = read_manifest(manifest)
        self.sources = {r.utt_id: (r.audio_path if isinstance(r.audio_path, str) and r.audio_path else r.video_path)
                        for r in table.itertuples()}
        self.sample_rate = sample_rate

    def __call__(self, utt_id: str) -> np.ndarray:
        if utt_id not in self.sources:
            raise DataError(f"clip {utt_id} is not in the manifest")
        return load_audio(self.sources[utt_id], self.sample_rate)


def test_clips(qc: str | Path, clips_root: str | Path, cfg: DatasetConfig) -> dict[str, Path]:
    paths = kept_clip_paths(qc, clips_root, cfg.splits.test)
    if not paths:
        raise DataError(f"QC table {qc} has no kept test clips to generate")
    return dict(sorted(paths.items()))


def render_system(system: str, cfg: DatasetConfig, qc: str | Path, clips_root: str | Path, manifest: str | Path,
                  out_dir: str | Path, samples_dir: str | Path | None = None, model: str | Path | None = None,
                  labels: str | Path | None = None, device: str = "cpu") -> int:
    """Render every test clip with ``system`` (a variant whose generator is ``model``, or a reference system)."""
    out_dir, paths = Path(out_dir), test_clips(qc, clips_root, cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    if samples_dir is not None:
        Path(samples_dir).mkdir(parents=True, exist_ok=True)
    audio = ClipAudio(manifest, cfg.preprocess.mfcc.sample_rate)
    animate = (_reference(system, cfg.training) if system in REFERENCE_SYSTEMS
               else _generator(system, cfg, model, labels, device))
    samples = set(list(paths)[: cfg.evaluation.side_by_side])
    for utt_id, path in tqdm(paths.items(), desc=f"rendering {system}"):
        clip = load_clip(path)
        frames, extra = animate(clip)
        wave = audio(utt_id)
        save_generated(out_dir, utt_id, frames, **extra)
        write_mp4(frames, wave, audio.sample_rate, clip.fps, out_dir / f"{utt_id}.mp4")
        if samples_dir is not None and utt_id in samples:
            write_mp4(side_by_side(clip.frames, frames), wave, audio.sample_rate, clip.fps,
                      Path(samples_dir) / f"{utt_id}.mp4")
    log.info("%s: rendered %d test clips into %s", system, len(paths), out_dir)
    return len(paths)


def _reference(system: str, training: TrainingConfig):
    def static(clip: Clip):
        identity = training.identity_index(clip.n_frames)
        return np.repeat(clip.frames[identity:identity + 1], clip.n_frames, axis=0), {}

    def real(clip: Clip):
        return clip.frames.copy(), {}

    return static if system == "static" else real


def _generator(system: str, cfg: DatasetConfig, model: str | Path | None, labels: str | Path | None, device: str):
    from autalk.models.generator import load_generator

    if system in REFERENCE_SYSTEMS:
        raise ConfigError(f"variant name {system!r} is reserved for a reference system")
    if model is None:
        raise ConfigError(f"system {system!r} needs a generator checkpoint (--model)")
    generator = load_generator(model, device)
    au_labels = None
    if generator.au_input == "ground_truth":
        if labels is None:
            raise ConfigError(f"variant {system!r} is driven by ground-truth AUs and needs --labels")
        au_labels = labels_by_clip(read_au_labels(labels, cfg.aus.units), cfg.aus.units)

    def animate(clip: Clip):
        identity = to_tensor(clip.frames[cfg.training.identity_index(clip.n_frames)]).to(device)
        windows = torch.from_numpy(clip.mfcc_windows).to(device)
        extra, kwargs = {}, {}
        if au_labels is not None:
            if clip.utt_id not in au_labels:
                raise DataError(f"AU label table {labels} has no rows for test clip {clip.utt_id}")
            lab = au_labels[clip.utt_id].aligned(clip.n_frames, clip.utt_id, labels)
            kwargs = {"au_intensity": torch.from_numpy(lab.intensity).to(device),
                      "au_presence": torch.from_numpy(lab.presence).to(device)}
        if generator.au_input == "predicted":
            with torch.no_grad():
                extra["au_predicted"] = generator.audio2au(windows.unsqueeze(0))[1][0].cpu().numpy()
        frames = generator.generate(identity, windows, **kwargs)[0]
        scored = cfg.training.scored_frames(clip.n_frames)
        if scored.stop > scored.start:
            frames[scored] = generator.generate(identity, windows[scored],
                                                **{k: v[scored] for k, v in kwargs.items()})[0]
        return to_uint8(frames), extra

    return animate
