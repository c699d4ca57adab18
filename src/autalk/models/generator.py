"""The talking-head generator: identity frame + per-frame audio windows + per-frame AU features -> video frames.

Per frame, the identity embedding, the audio embedding and the AU features are concatenated (image_dim +
audio_dim + K x F = 512 + 512 + 5 x 64 = 1344 at paper scale), fused over time, and decoded with the identity
encoder's skip maps. Where the AU features come from is the ``model.au_input`` ablation:

- ``predicted``: the frozen pre-trained audio-to-AU networks' features (``Audio2AU`` forward -> (features, preds)),
  held inside the generator so a generator checkpoint alone can animate a photo from audio.
- ``ground_truth``: the AU labels turned into features by a small trainable per-AU MLP, see ``AULabelEmbedding``.
- ``none``: audio only; the concatenation has no AU part.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from autalk.config import MAX_INTENSITY, DatasetConfig, ModelConfig
from autalk.models.checkpoints import initialisation_skipped, read_checkpoint
from autalk.models.decoder import FrameDecoder
from autalk.models.encoders import AudioEncoder, ImageEncoder
from autalk.models.fusion import build_fusion


@dataclass
class GeneratorConfig:
    """Everything that fixes a generator's architecture, stored verbatim in its checkpoint: the ``model`` section
    and the shapes of what it reads and draws (crop side, MFCC window, AU count, and the training clip length,
    which the channel attention is built for)."""

    model: ModelConfig
    crop_size: int
    n_mfcc: int          # MFCC coefficients per column, after dropping c0
    mfcc_window: int     # MFCC columns per video frame
    n_aus: int
    clip_length: int

    @classmethod
    def of(cls, cfg: DatasetConfig) -> "GeneratorConfig":
        """The generator a dataset's (variant's) settings train."""
        mfcc = cfg.preprocess.mfcc
        return cls(cfg.model, cfg.preprocess.faces.crop_size, mfcc.n_mfcc - int(mfcc.drop_c0), mfcc.window,
                   len(cfg.aus.units), cfg.training.clip_length)

    @classmethod
    def from_dict(cls, stored: dict) -> "GeneratorConfig":
        """The inverse of ``dataclasses.asdict``, which is what a checkpoint stores."""
        return cls(**{**stored, "model": ModelConfig(**stored["model"])})

    @property
    def mfcc_shape(self) -> tuple[int, int]:
        """(coefficients, columns) of each frame's MFCC window."""
        return self.n_mfcc, self.mfcc_window


class AULabelEmbedding(nn.Module):
    """Ground-truth AU labels -> features shaped like the audio-to-AU networks' (B, T, K, F).

    Each AU gets its own two-layer MLP (separate weights per AU, as the predicted features come from one network
    per AU) on two numbers: the intensity scaled to [0, 1] and the 0/1 presence label. The embedding is trained
    with the generator, so the ``gt_au`` ablation measures labels against predictions with everything else equal.
    """

    def __init__(self, n_aus: int, dim: int):
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(n_aus, 2, dim))
        self.b1 = nn.Parameter(torch.zeros(n_aus, dim))
        self.w2 = nn.Parameter(torch.randn(n_aus, dim, dim) * (2 / dim) ** 0.5)
        self.b2 = nn.Parameter(torch.zeros(n_aus, dim))

    def forward(self, intensity: torch.Tensor, presence: torch.Tensor) -> torch.Tensor:
        """intensity (B, T, K) in 0-5, presence (B, T, K) 0/1 -> (B, T, K, F)."""
        x = torch.stack([intensity / MAX_INTENSITY, presence.to(intensity.dtype)], dim=-1)      # (B, T, K, 2)
        h = torch.relu(torch.einsum("btki,kif->btkf", x, self.w1) + self.b1)
        return torch.einsum("btki,kif->btkf", h, self.w2) + self.b2


class Generator(nn.Module):
    def __init__(self, cfg: GeneratorConfig, audio2au: nn.Module | None = None):
        super().__init__()
        self.cfg = cfg
        model, crop_size, n_aus = cfg.model, cfg.crop_size, cfg.n_aus
        self.au_input = model.au_input
        self.crop_size = crop_size
        self.n_aus = n_aus
        self.au_feature_dim = model.au_feature_dim
        self.image_encoder = ImageEncoder(crop_size, model.image_dim)
        self.audio_encoder = AudioEncoder(cfg.n_mfcc, cfg.mfcc_window, model.audio_dim)
        if model.au_input == "predicted":
            if audio2au is None:
                raise ValueError("au_input 'predicted' needs the pre-trained audio-to-AU networks")
            self.audio2au = audio2au.requires_grad_(False).eval()
        elif model.au_input == "ground_truth":
            self.au_embedding = AULabelEmbedding(n_aus, model.au_feature_dim)
        au_dim = 0 if model.au_input == "none" else n_aus * model.au_feature_dim
        self.in_dim = model.image_dim + model.audio_dim + au_dim
        self.fusion = build_fusion(model, self.in_dim, cfg.clip_length)
        self.decoder = FrameDecoder(self.fusion.out_dim, crop_size, output=model.output,
                                    full_res_skip=model.full_res_skip)

    def train(self, mode: bool = True) -> "Generator":
        super().train(mode)
        if self.au_input == "predicted":
            self.audio2au.eval()  # frozen: its batch-norm statistics stay those of its pre-training
        return self

    def au_features(self, mfcc_windows: torch.Tensor, au_intensity: torch.Tensor | None = None,
                    au_presence: torch.Tensor | None = None) -> torch.Tensor | None:
        """The AU part of the fusion input (B, T, K, F) for this generator's ``au_input`` (None for ``none``)."""
        if self.au_input == "predicted":
            with torch.no_grad():
                return self.audio2au(mfcc_windows)[0]
        if self.au_input == "ground_truth":
            if au_intensity is None:
                raise ValueError("au_input 'ground_truth' needs AU intensities")
            if au_presence is None:
                au_presence = torch.zeros_like(au_intensity)
            return self.au_embedding(au_intensity, au_presence)
        return None

    def forward(self, identity: torch.Tensor, mfcc_windows: torch.Tensor, au_features: torch.Tensor | None,
                with_blend: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor | None,
                                                                  torch.Tensor | None]:
        """identity (B, 3, S, S) in [-1, 1], mfcc_windows (B, T, C, W), au_features (B, T, K, F) or None
        -> frames (B, T, 3, S, S) in [-1, 1]; with ``with_blend`` also the blend mask (B, T, 1, S, S) and the
        generated image before the blend (B, T, 3, S, S), both None when ``model.output`` is ``direct``
        (training penalises the mask and supervises the unblended image)."""
        fused, skips = self._fuse(identity, mfcc_windows, au_features)
        return self._decode(fused, skips, identity, with_blend)

    def _fuse(self, identity: torch.Tensor, mfcc_windows: torch.Tensor,
              au_features: torch.Tensor | None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The fused per-frame features (B, T, Df) and the identity encoder's skip maps (B, ...)."""
        b, t = mfcc_windows.shape[:2]
        image, skips = self.image_encoder(identity)                                      # (B, Di), skip maps
        audio = self.audio_encoder(mfcc_windows.flatten(0, 1)).view(b, t, -1)             # (B, T, Da)
        parts = [image.unsqueeze(1).expand(b, t, image.shape[-1]), audio]
        if self.au_input != "none":
            parts.append(au_features.flatten(2).to(audio.dtype))                          # (B, T, K*F)
        return self.fusion(torch.cat(parts, dim=-1)), skips                               # (B, T, Df)

    def _decode(self, fused: torch.Tensor, skips: list[torch.Tensor], identity: torch.Tensor,
                with_blend: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor | None,
                                                                   torch.Tensor | None]:
        """Each frame drawn from its fused features (B, T, Df) and the identity's skip maps (see ``forward``)."""
        b, t = fused.shape[:2]
        per_frame = [s.unsqueeze(1).expand(b, t, *s.shape[1:]).flatten(0, 1) for s in [*skips, identity]]
        frames, mask, generated = self.decoder(fused.flatten(0, 1), per_frame[:-1], per_frame[-1])  # (B*T, ...)
        frames = frames.view(b, t, *frames.shape[1:])
        if not with_blend:
            return frames
        if mask is None:
            return frames, None, None
        return frames, mask.view(b, t, *mask.shape[1:]), generated.view(b, t, *generated.shape[1:])

    @torch.no_grad()
    def generate(self, identity: torch.Tensor, mfcc_windows: torch.Tensor, au_intensity: torch.Tensor | None = None,
                 au_presence: torch.Tensor | None = None, au_features: torch.Tensor | None = None,
                 au_scale: float = 1.0) -> torch.Tensor:
        """Animate an identity frame over audio of any length (inference, eval mode).

        identity (3, S, S) or (B, 3, S, S) in [-1, 1]; mfcc_windows (T, C, W) or (B, T, C, W). AU features are
        computed as ``au_features()`` does unless given; ``au_intensity``/``au_presence`` (T, K) or (B, T, K) are
        the labels a ``ground_truth`` generator needs. ``au_scale`` multiplies the AU features (1 = as trained;
        >1 exaggerates the AU drive). A channel-attention generator only accepts its training clip length, so
        longer audio is generated in consecutive windows of that length (the last one aligned to the end) and
        shorter audio is padded by repeating its last frame. Returns frames (B, T, 3, S, S) in [-1, 1].
        """
        was_training = self.training
        self.eval()
        single = mfcc_windows.dim() == 3
        if single:
            mfcc_windows = mfcc_windows.unsqueeze(0)
            au_intensity = None if au_intensity is None else au_intensity.unsqueeze(0)
            au_presence = None if au_presence is None else au_presence.unsqueeze(0)
            au_features = None if au_features is None else au_features.unsqueeze(0)
        if identity.dim() == 3:
            identity = identity.unsqueeze(0)
        identity = identity.expand(mfcc_windows.shape[0], *identity.shape[1:])
        if au_features is None:
            au_features = self.au_features(mfcc_windows, au_intensity, au_presence)
        if au_features is not None:
            au_features = au_features * au_scale
        t = mfcc_windows.shape[1]
        length = getattr(self.fusion, "clip_length", None)
        if length is None or t == length:
            frames = self(identity, mfcc_windows, au_features)
        else:
            frames = self._generate_in_windows(identity, mfcc_windows, au_features, length)
        self.train(was_training)
        return frames

    def _generate_in_windows(self, identity, mfcc_windows, au_features, length: int) -> torch.Tensor:
        """Audio of another length than the channel attention's: short audio is padded by repeating its last
        frame; long audio is fused in windows of ``length`` frames, the last one aligned to the end, and each
        frame takes the window that holds it last. The decoder draws each frame on its own, so only the frames a
        window gives are decoded (a 3 s clip: 75 frames decoded, not the 100 of two whole windows)."""
        t = mfcc_windows.shape[1]
        if t < length:
            pad = [mfcc_windows[:, -1:]] * (length - t)
            mfcc_windows = torch.cat([mfcc_windows, *pad], dim=1)
            if au_features is not None:
                au_features = torch.cat([au_features, *[au_features[:, -1:]] * (length - t)], dim=1)
            return self(identity, mfcc_windows, au_features)[:, :t]
        starts = list(range(0, t - length + 1, length))
        if starts[-1] + length < t:
            starts.append(t - length)
        frames = []
        for start, end in zip(starts, [*starts[1:], t]):
            fused, skips = self._fuse(identity, mfcc_windows[:, start:start + length],
                                      None if au_features is None else au_features[:, start:start + length])
            frames.append(self._decode(fused[:, :end - start], skips, identity))
        return torch.cat(frames, dim=1)


def generator_checkpoint(generator: Generator, config: dict, au_units: list[str], step: int) -> dict:
    """The self-describing final checkpoint: the ``GeneratorConfig`` it was built from (``generator``), the other
    settings sections it was trained with (``config``; generation repeats their preprocessing) and its weights,
    which include the frozen audio-to-AU networks of a ``predicted`` generator (``audio2au`` holds what rebuilds
    them)."""
    state = {k: v.detach().cpu() for k, v in generator.state_dict().items()}
    audio2au = None
    if generator.au_input == "predicted":
        net = generator.audio2au
        audio2au = {"units": list(net.units),
                    "arch": {"n_mfcc": net.n_mfcc, "window": net.window, "feature_dim": net.feature_dim,
                             **net.widths}}
    return {"kind": "generator", "generator": dataclasses.asdict(generator.cfg), "config": config,
            "state_dict": state, "au_units": list(au_units),
            "audio2au": audio2au, "step": step}


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> Generator:
    """Rebuild a trained generator from its checkpoint alone (eval mode, on ``device``)."""
    return generator_from_checkpoint(read_checkpoint(path, "generator", "generator checkpoint",
                                                     "run the train_generator rule"), device)


def generator_from_checkpoint(ckpt: dict, device: str | torch.device = "cpu") -> Generator:
    """The generator of a checkpoint dict already read (eval mode, on ``device``). The networks are built
    without random initialisation and the checkpoint's weights assigned to them, not copied, so a checkpoint read
    with ``mmap`` is used where it lies (together ~0.3 s less for the paper-scale generator)."""
    audio2au = None
    with initialisation_skipped():
        if ckpt["audio2au"] is not None:  # its weights are in the generator's state_dict; build the empty networks
            from autalk.models.audio2au import Audio2AU

            arch = ckpt["audio2au"]["arch"]
            audio2au = Audio2AU(ckpt["audio2au"]["units"], **arch)
        generator = Generator(GeneratorConfig.from_dict(ckpt["generator"]), audio2au)
    generator.load_state_dict(ckpt["state_dict"], assign=True)  # strict: every weight is the checkpoint's
    return generator.to(device).eval()
