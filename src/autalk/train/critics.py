"""The adversarial critics of generator training, each a discriminator with its optimiser and two losses (the
generator's against it, weighted in ``training``, and its own): the paper's patch frame discriminator
(``model.discriminator``, ``training.weight_gan``) and, as a setting of ours, the synchronisation discriminator
(``training.weight_sync_gan``). Every loss is the non-saturating BCE of ``gan_loss``; each critic's own loss is one
forward of real and generated inputs together (one forward per backward, as DistributedDataParallel wants)."""

from __future__ import annotations

import torch
from torch import nn

from autalk.config import DatasetConfig
from autalk.models.discriminator import PatchDiscriminator, SyncDiscriminator, mouth_crops, mouth_windows
from autalk.train.losses import gan_loss


class Critic:
    """A discriminator and its optimiser. ``name`` is its loss's column in losses.csv and its checkpoint key; the
    generator's loss against it is column ``generator_term``."""

    name: str
    generator_term: str

    def __init__(self, module: nn.Module, lr: float, betas: tuple[float, float]):
        self.module = module
        self.optimiser = torch.optim.Adam(module.parameters(), lr=lr, betas=betas)

    def logits(self, frames: torch.Tensor, batch: dict, doubled: bool) -> torch.Tensor:
        """The discriminator on frames (N, T, 3, S, S); ``doubled``: N is the batch's B twice (real, then fake)."""
        raise NotImplementedError

    def generator_loss(self, fake: torch.Tensor, batch: dict) -> torch.Tensor:
        return gan_loss(self.logits(fake, batch, doubled=False), real=True)

    def loss(self, real: torch.Tensor, fake: torch.Tensor, batch: dict) -> torch.Tensor:
        logits_real, logits_fake = self.logits(torch.cat([real, fake]), batch, doubled=True).chunk(2)
        return 0.5 * (gan_loss(logits_real, real=True) + gan_loss(logits_fake, real=False))


class FrameCritic(Critic):
    """The paper's: whole frames, one logit per patch."""

    name, generator_term = "d", "gan_g"

    def logits(self, frames, batch, doubled):
        return self.module(frames.flatten(0, 1))


class SyncCritic(Critic):
    """Runs of mouth squares with the speech of their middle frame. Its own loss has a third part: real runs with
    the speech of another moment of the same clip (half the clip's runs later, wrapping round) count as fake, so
    it cannot tell real from fake by the picture alone."""

    name, generator_term = "sync_d", "sync_gan_g"

    def __init__(self, module: SyncDiscriminator, lr: float, betas: tuple[float, float]):
        super().__init__(module, lr, betas)
        self.side, self.frames = module.side, module.frames

    def runs(self, frames: torch.Tensor, batch: dict, doubled: bool) -> tuple[torch.Tensor, torch.Tensor]:
        b, t = frames.shape[:2]
        boxes, mfcc = batch["mouth_box"].flatten(0, 1), batch["mfcc"]
        if doubled:
            boxes, mfcc = torch.cat([boxes, boxes]), torch.cat([mfcc, mfcc])
        mouths = mouth_crops(frames.flatten(0, 1), boxes, self.side).unflatten(0, (b, t))
        return mouth_windows(mouths, mfcc, self.frames)

    def logits(self, frames, batch, doubled):
        runs, mfcc = self.runs(frames, batch, doubled)
        return self.module(runs.flatten(0, 1), mfcc.flatten(0, 1))

    def loss(self, real, fake, batch):
        runs, mfcc = self.runs(torch.cat([real, fake]), batch, doubled=True)
        real_runs, real_mfcc = runs[:len(real)], mfcc[:len(real)]
        elsewhere = real_mfcc.roll(max(1, real_mfcc.shape[1] // 2), dims=1)
        logits = self.module(torch.cat([runs, real_runs]).flatten(0, 1), torch.cat([mfcc, elsewhere]).flatten(0, 1))
        logits_real, logits_fake, logits_elsewhere = logits.chunk(3)
        return 0.5 * (gan_loss(logits_real, real=True)
                      + 0.5 * (gan_loss(logits_fake, real=False) + gan_loss(logits_elsewhere, real=False)))


CRITICS = (FrameCritic, SyncCritic)
CRITIC_TERMS = [kind.name for kind in CRITICS]                    # losses.csv columns of the critics' own losses
ADVERSARIAL_TERMS = [kind.generator_term for kind in CRITICS]     # and of the generator's against them


def build_critics(cfg: DatasetConfig, mfcc_shape: tuple[int, int], device: torch.device) -> list[Critic]:
    """The critics the settings ask for, on ``device`` in channels-last memory order (faster convolutions)."""
    tc, crop = cfg.training, cfg.preprocess.faces.crop_size
    wanted = [(FrameCritic, PatchDiscriminator, (), cfg.model.discriminator),
              (SyncCritic, SyncDiscriminator, (crop, *mfcc_shape), tc.weight_sync_gan > 0)]
    return [kind(network(*args).to(device, memory_format=torch.channels_last), tc.lr_d, tuple(tc.betas))
            for kind, network, args, enabled in wanted if enabled]
