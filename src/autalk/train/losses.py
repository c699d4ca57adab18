"""Every training loss of the project, one function each, grouped by the network it trains.

Pretraining: the AU classifier's presence BCE + intensity MSE, the audio-to-AU networks' masked MSE in standard
units, and the sync expert's symmetric InfoNCE. The generator (weights in ``training``): L1 reconstruction, the
optional L1 on each frame's mouth box, the blend-mask penalties of a ``mask_blend`` generator, the frozen AU
classifier's loss on generated frames, and the non-saturating GAN loss of the patch discriminator.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from autalk.config import MAX_INTENSITY
from autalk.models.sync_expert import SyncExpert


# ----------------------------------------------------------------------------------------------- pretraining
def au_classifier_loss(logits: torch.Tensor, intensity: torch.Tensor, presence: torch.Tensor,
                       target_intensity: torch.Tensor, pos_weight: torch.Tensor) -> torch.Tensor:
    """Presence BCE (positives weighted by ``pos_weight``, rare AUs count) + MSE of the intensities in [0, 1]
    units; all (B, K)."""
    return (F.binary_cross_entropy_with_logits(logits, presence, pos_weight=pos_weight)
            + F.mse_loss(intensity / MAX_INTENSITY, target_intensity / MAX_INTENSITY))


def standardised_mse(z: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, mean: torch.Tensor,
                     std: torch.Tensor) -> torch.Tensor:
    """MSE of predictions ``z`` (B, T, K) in standard units against labels (B, T, K) standardised by the
    training labels' ``mean`` and ``std`` per AU (so rare small AUs weigh as much as the jaw), over the frames
    the labeller measured (``mask`` (B, T))."""
    err = ((z - (target - mean) / std) ** 2).mean(dim=-1)
    return (err * mask).sum() / mask.sum().clamp(min=1)


def info_nce(expert: SyncExpert, video: torch.Tensor, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric InfoNCE of aligned window batches: each video window's positive is the audio window of the same
    row, its negatives every other row. Also the fraction of video windows whose best audio is theirs."""
    v, a = expert.embed_video(video), expert.embed_audio(audio)
    logits = expert.logit_scale.exp().clamp(max=100.0) * v @ a.T
    target = torch.arange(len(v), device=v.device)
    loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
    return loss, (logits.argmax(1) == target).float().mean()


# ----------------------------------------------------------------------------------------------- generator
def reconstruction_l1(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Mean L1 between generated and real frames (B, T, 3, S, S) in [-1, 1]."""
    return (fake.float() - real).abs().mean()


def au_loss(classifier: nn.Module, frames: torch.Tensor, batch: dict) -> torch.Tensor:
    """The frozen AU classifier on generated frames (B, T, 3, S, S) against the frames' labels: presence BCE + L1
    of the intensities in [0, 1] units (so neither dominates), masked where the labeller failed."""
    logits, intensity = classifier(frames.flatten(0, 1))
    presence = batch["au_presence"].flatten(0, 1)
    target = batch["au_intensity"].flatten(0, 1)
    mask = batch["au_mask"].flatten(0, 1).unsqueeze(1)
    bce = F.binary_cross_entropy_with_logits(logits.float(), presence, reduction="none")
    l1 = (intensity.float() - target).abs() / MAX_INTENSITY
    return ((bce + l1) * mask).sum() / (mask.sum() * presence.shape[1]).clamp_min(1)


def inside_boxes(boxes: torch.Tensor, size: int) -> torch.Tensor:
    """1 on the pixels of each frame's box, else 0: boxes (B, T, 4) as x0, y0, x1, y1 -> (B, T, S, S)."""
    coords = torch.arange(size, device=boxes.device, dtype=boxes.dtype)
    x0, y0, x1, y1 = (b[..., None] for b in boxes.unbind(-1))                       # (B, T, 1) each
    return (((coords >= y0) & (coords <= y1))[..., :, None]
            & ((coords >= x0) & (coords <= x1))[..., None, :]).float()


def mouth_l1(fake: torch.Tensor, real: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Mean L1 inside each frame's mouth box; fake, real (B, T, 3, S, S), boxes (B, T, 4) as x0, y0, x1, y1."""
    inside = inside_boxes(boxes, real.shape[-1])
    diff = (fake.float() - real).abs().mean(dim=2)                                  # (B, T, S, S)
    return (diff * inside).sum() / inside.sum().clamp_min(1)


def mask_penalty(mask: torch.Tensor) -> torch.Tensor:
    """Mean of the blend mask plus its total variation (mean absolute step between neighbouring pixels): small,
    so the identity frame is copied wherever nothing has to move; smooth, so the seam of the blend is invisible."""
    mask = mask.float()
    tv = (mask[..., 1:, :] - mask[..., :-1, :]).abs().mean() + (mask[..., :, 1:] - mask[..., :, :-1]).abs().mean()
    return mask.mean() + tv


def mask_off_lower_face(mask: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Mean of the blend mask (B, T, 1, S, S) outside each frame's lower-face box (B, T, 4). The real video's head
    moves a little where the photo stays still; an L1 reconstruction pays the mask to open there to a blurred
    average of that motion, which softens every edge of the face (the CPBD of the demo's faces fell from the
    photo's 0.44 to 0.36-0.38). The jaw stays free: the chin moves with speech, and the sync expert watches it."""
    outside = 1 - inside_boxes(boxes, mask.shape[-1])
    return (mask.float().squeeze(2) * outside).sum() / outside.sum().clamp_min(1)


def gan_loss(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """BCE-with-logits of the discriminator's patch map against all-real or all-fake."""
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits.float(), target.float())
