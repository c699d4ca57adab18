"""Generator training, visible top to bottom (nanoGPT-style): set-up and every check that can fail before the
first step, then one loop of generator step + critic steps, logging each step, checkpointing every N
steps, and exporting the self-describing generator checkpoint at the end.

Losses (``losses``, weights in ``training``): L1 reconstruction (optionally plus an L1 on each frame's mouth box,
off in the reference setting); for a ``mask_blend`` generator, a penalty keeping the blend mask small and smooth
(with ``training.weight_mask_off_lower_face``, a second one on the mask outside the lower face), and an L1 on the image
before the blend (else the mask shuts before the generator can draw, and stays shut); the AU loss, i.e. the
frozen pre-trained AU classifier on each generated frame against that frame's AU labels; and the non-saturating
GAN losses of the critics (``critics``: the paper's patch frame discriminator, and as an option the
synchronisation discriminator). With ``training.ema_decay`` an exponential moving average of the generator's
weights is kept beside it and is what the exported checkpoint holds.

A rerun with the same settings resumes from ``run_dir/checkpoint.pt``: weights, optimiser moments, every RNG
state and the step (which fixes the data position, see ``dataset.WindowPlan``), so an interrupted run ends
bit-identical to an uninterrupted one on CPU. Multi-GPU: launch with ``torchrun`` (LOCAL_RANK set) and the
generator and the critics are wrapped in DistributedDataParallel; rank 0 alone writes files.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import logging
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from autalk.atomic import atomic_file
from autalk.config import DatasetConfig
from autalk.data.clips import kept_clip_paths
from autalk.errors import AutalkError, ConfigError
from autalk.models.generator import Generator, GeneratorConfig, generator_checkpoint
from autalk.train import scaffold
from autalk.train.critics import ADVERSARIAL_TERMS, CRITIC_TERMS, build_critics
from autalk.train.dataset import ClipWindows, StepBatchSampler, WindowPlan, load_labels, usable_clips
from autalk.train.log import RunLogger
from autalk.train.losses import au_loss, mask_off_lower_face, mask_penalty, mouth_l1, reconstruction_l1

log = logging.getLogger(__name__)

# Settings that may change between a run and its resumption without invalidating the checkpoint.
RESUMABLE_CHANGES = {"epochs", "max_steps", "checkpoint_every", "num_workers", "device", "cache_mb"}


def scheduled_lr(base: float, step: int, total_steps: int, schedule: str) -> float:
    """The learning rate of step ``step`` (0-based) of ``total_steps``."""
    if schedule == "constant":
        return base
    return base * 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps))


class TrainingDiverged(AutalkError):
    """A loss became NaN or infinite; the message names the step and the term."""


@dataclass
class TrainPaths:
    labels: Path
    qc: Path
    clips_root: Path
    au_classifier: Path
    audio2au: Path
    run_dir: Path
    model: Path
    curves: Path


def window_needs(cfg: DatasetConfig) -> tuple[int, int | None]:
    """(frames a clip needs, fixed window start or None for random windows: ``training.windows``)."""
    if cfg.training.windows == "clip":
        return cfg.training.clip_start + cfg.training.clip_length, cfg.training.clip_start
    return cfg.training.clip_length, None


def resume_settings(cfg: DatasetConfig) -> dict:
    """The settings a checkpoint must share with the current config to be resumed."""
    training = {k: v for k, v in dataclasses.asdict(cfg.training).items() if k not in RESUMABLE_CHANGES}
    return {"model": dataclasses.asdict(cfg.model), "training": training, "aus": dataclasses.asdict(cfg.aus),
            "preprocess": dataclasses.asdict(cfg.preprocess), "splits": dataclasses.asdict(cfg.splits)}


def bare(module: nn.Module) -> nn.Module:
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module


# ----------------------------------------------------------------------------------------------- batches
def to_device(batch: dict, device: torch.device) -> dict:
    """uint8 HWC frames -> float NCHW in [-1, 1] on the device (converted there: 4x fewer bytes to move); the
    identity in channels-last memory order, as the models are."""
    out = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
    identity = out["identity"].permute(0, 3, 1, 2).float().div(127.5).sub(1)
    out["identity"] = identity.contiguous(memory_format=torch.channels_last)
    out["frames"] = out["frames"].permute(0, 1, 4, 2, 3).float().div(127.5).sub(1)
    return out


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float, step: int) -> None:
    """Move the averaged weights towards the trained ones. The decay ramps up from 0 ((1 + step) / (10 + step)),
    so a short run's average is not dominated by its random start; buffers (batch-norm statistics) are copied."""
    decay = min(decay, (1 + step) / (10 + step))
    for averaged, trained in zip(ema.parameters(), model.parameters()):
        averaged.lerp_(trained, 1 - decay)
    for averaged, trained in zip(ema.buffers(), model.buffers()):
        averaged.copy_(trained)


def check_finite(step: int, losses: dict[str, float]) -> None:
    """Stop on a NaN/inf term before it reaches the weights; ``step`` counts from 1 as in losses.csv."""
    for name, value in losses.items():
        if not math.isfinite(value):
            raise TrainingDiverged(f"training diverged at step {step}: loss term '{name}' is {value}; "
                                   "lower the learning rates or the loss weights (the last checkpoint is kept)")


# ----------------------------------------------------------------------------------------------- main
def train(cfg: DatasetConfig, paths: TrainPaths) -> None:
    tc, mc = cfg.training, cfg.model

    # -- devices and DDP (a torchrun launch): each rank its own seed
    place = scaffold.placement(tc.device, distributed=True)
    device, rank, world, ddp, master = place.device, place.rank, place.world, place.distributed, place.master
    cuda = device.type == "cuda"
    bf16 = tc.precision == "bf16" and (cuda or tc.cpu_bf16)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
    scaffold.seed_all(tc.seed + rank)

    # -- data: every kept train clip long enough for a window; too-short clips are listed, never dropped silently
    needed, fixed_start = window_needs(cfg)
    labels = load_labels(paths.labels, cfg.aus.units)
    train_clips, too_short = usable_clips(kept_clip_paths(paths.qc, paths.clips_root, cfg.splits.train), needed)
    val_clips, val_short = usable_clips(kept_clip_paths(paths.qc, paths.clips_root, cfg.splits.val), needed)
    paths.run_dir.mkdir(parents=True, exist_ok=True)
    if master and (too_short or val_short):
        with atomic_file(paths.run_dir / "skipped_clips.csv") as tmp, open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["utt_id", "n_frames", "needed"])
            writer.writerows([c.utt_id, c.n_frames, needed] for c in too_short + val_short)
        log.warning("%d clip(s) shorter than the %d frames a window needs are not trained on (listed in %s)",
                    len(too_short) + len(val_short), needed, paths.run_dir / "skipped_clips.csv")
    if len(train_clips) < tc.batch_size * world:
        raise ConfigError(f"only {len(train_clips)} training clip(s) have the {needed} frames a window needs "
                          f"(clip_start + clip_length with training.windows: clip, else clip_length); a batch "
                          f"needs {tc.batch_size * world}: lower training.clip_length or training.batch_size")
    architecture = GeneratorConfig.of(cfg)
    shape, cache = architecture.mfcc_shape, tc.cache_mb * 2**20
    dataset = ClipWindows(train_clips, labels, paths.labels, tc.clip_length, shape, cache, tc.identity_index)
    fixed_val = val_clips[:tc.val_clips] or train_clips[:tc.val_clips]
    val_set = ClipWindows(fixed_val, labels, paths.labels, tc.clip_length, shape, cache, tc.identity_index)
    val_start = fixed_start if fixed_start is not None else 0
    val_batch = to_device(torch.utils.data.default_collate([val_set[(i, val_start)] for i in range(len(val_set))]),
                          device)
    plan = WindowPlan([c.n_frames for c in train_clips], tc.clip_length, tc.batch_size, tc.seed, fixed_start,
                      rank, world)
    total_steps = tc.epochs * plan.batches_per_epoch
    if tc.max_steps is not None:
        total_steps = min(total_steps, tc.max_steps)

    # -- models: the frozen pre-trained networks first, checked against the config before any step
    audio2au = None
    if mc.au_input == "predicted":
        from autalk.models.audio2au import load_audio2au

        audio2au = load_audio2au(paths.audio2au, device)
        if audio2au.units != cfg.aus.units or audio2au.feature_dim != mc.au_feature_dim:
            raise ConfigError(f"{paths.audio2au} predicts AUs {audio2au.units} with {audio2au.feature_dim}-d features; "
                              f"the config wants {cfg.aus.units} with model.au_feature_dim {mc.au_feature_dim}")
    classifier = None
    if mc.au_loss:
        from autalk.models.au_classifier import load_au_classifier

        classifier = load_au_classifier(paths.au_classifier, device)
        if classifier.units != cfg.aus.units:
            raise ConfigError(f"{paths.au_classifier} classifies AUs {classifier.units}, the config wants "
                              f"{cfg.aus.units}: re-run pretrain_au_classifier")
    generator = Generator(architecture, audio2au).to(device)
    critics = build_critics(cfg, shape, device)
    generator = generator.to(memory_format=torch.channels_last)  # faster convolutions on GPUs and CPUs alike
    opt_g = torch.optim.Adam([p for p in generator.parameters() if p.requires_grad], lr=tc.lr_g, betas=tuple(tc.betas))
    ema = copy.deepcopy(generator).requires_grad_(False).eval() if tc.ema_decay > 0 else None

    # -- resume from the run directory's checkpoint when its settings match
    ckpt_path = paths.run_dir / "checkpoint.pt"
    inputs = {"labels": paths.labels, "au_classifier": paths.au_classifier, "audio2au": paths.audio2au}
    settings = {**resume_settings(cfg), "inputs": scaffold.input_digests(inputs)}
    step = 0
    ckpt = scaffold.resume_state(ckpt_path, settings, master)
    if ckpt is not None:
        generator.load_state_dict(ckpt["generator"])
        opt_g.load_state_dict(ckpt["opt_g"])
        if ema is not None:
            ema.load_state_dict(ckpt["ema"])
        for critic in critics:
            critic.module.load_state_dict(ckpt["critics"][critic.name]["weights"])
            critic.optimiser.load_state_dict(ckpt["critics"][critic.name]["optimiser"])
        scaffold.set_rng_state(ckpt["rng"][rank] if rank < len(ckpt["rng"]) else ckpt["rng"][0])
        step = ckpt["step"]
        log.info("resumed at step %d", step)
    if ddp:
        generator = nn.parallel.DistributedDataParallel(generator, device_ids=[device.index] if cuda else None)
        for critic in critics:
            critic.module = nn.parallel.DistributedDataParallel(critic.module,
                                                                device_ids=[device.index] if cuda else None)

    # the loader's own generator: creating its iterator must not draw from the (restored) global RNG
    loader = DataLoader(dataset, batch_sampler=StepBatchSampler(plan, step, total_steps), num_workers=tc.num_workers,
                        pin_memory=cuda, generator=torch.Generator().manual_seed(tc.seed))
    logger = RunLogger(paths.run_dir, step, enabled=master)
    export_config = {"training": dataclasses.asdict(tc), "aus": dataclasses.asdict(cfg.aus),
                     "preprocess": dataclasses.asdict(cfg.preprocess)}

    def exported() -> Generator:
        """The generator that generates: the weight average when one is kept."""
        return ema if ema is not None else bare(generator)

    def checkpoint(at_step: int) -> None:
        states = [None] * world
        if ddp:
            torch.distributed.all_gather_object(states, scaffold.rng_state())
        else:
            states = [scaffold.rng_state()]
        if not master:
            return
        scaffold.save_checkpoint({"kind": "generator_training", "settings": settings, "step": at_step,
                     "data_position": {"epoch": at_step // plan.batches_per_epoch,
                                       "batch": at_step % plan.batches_per_epoch},
                     "generator": bare(generator).state_dict(), "opt_g": opt_g.state_dict(),
                     "ema": ema.state_dict() if ema is not None else None,
                     "critics": {c.name: {"weights": bare(c.module).state_dict(),
                                          "optimiser": c.optimiser.state_dict()} for c in critics},
                     "rng": states}, ckpt_path)
        with torch.no_grad(), autocast:
            generated = exported().generate(val_batch["identity"], val_batch["mfcc"],
                                            val_batch["au_intensity"], val_batch["au_presence"]).float()
        val_l1 = (generated - val_batch["frames"]).abs().mean().item()
        logger.checkpoint(at_step, val_l1, val_batch["frames"], generated, paths.curves)

    log.info("training %s on %s: %d clips, %d steps (%d per epoch), batch %d x %d frames, world %d",
             cfg.name, device, len(train_clips), total_steps, plan.batches_per_epoch, tc.batch_size,
             tc.clip_length, world)
    generator.train()
    bar = tqdm(total=total_steps, initial=step, unit="step", disable=not master, dynamic_ncols=True,
               mininterval=1.0, desc=f"train {cfg.name}")
    t_last = time.perf_counter()
    for batch in loader:
        batch = to_device(batch, device)
        real = batch["frames"]
        for opt, base in ((opt_g, tc.lr_g), *((c.optimiser, tc.lr_d) for c in critics)):
            for group in opt.param_groups:
                group["lr"] = scheduled_lr(base, step, total_steps, tc.lr_schedule)

        # generator step: reconstruction + AU + adversarial
        with autocast:
            core = bare(generator)
            au_features = core.au_features(batch["mfcc"], batch["au_intensity"], batch["au_presence"])
            fake, mask, unblended = generator(batch["identity"], batch["mfcc"], au_features, with_blend=True)
            terms = {"l1": reconstruction_l1(fake, real)}
            terms["mask"] = mask_penalty(mask) if mask is not None else torch.zeros((), device=device)
            terms["mask_off_lower_face"] = (mask_off_lower_face(mask, batch["lower_face_box"])
                                            if mask is not None and tc.weight_mask_off_lower_face > 0
                                            else torch.zeros((), device=device))
            terms["unblended"] = (reconstruction_l1(unblended, real)
                                  if unblended is not None and tc.weight_unblended > 0
                                  else torch.zeros((), device=device))
            terms["mouth"] = (mouth_l1(fake, real, batch["mouth_box"]) if tc.weight_mouth > 0
                              else torch.zeros((), device=device))
            terms["au"] = au_loss(classifier, fake, batch) if classifier is not None else torch.zeros((), device=device)
            terms.update({term: torch.zeros((), device=device) for term in ADVERSARIAL_TERMS})
            terms.update({c.generator_term: c.generator_loss(fake, batch) for c in critics})
        loss_g = (tc.weight_l1 * terms["l1"] + tc.weight_mouth * terms["mouth"] + tc.weight_au * terms["au"]
                  + tc.weight_gan * terms["gan_g"] + tc.weight_mask * terms["mask"]
                  + tc.weight_mask_off_lower_face * terms["mask_off_lower_face"]
                  + tc.weight_unblended * terms["unblended"] + tc.weight_sync_gan * terms["sync_gan_g"])
        values = {name: t.item() for name, t in terms.items()}
        check_finite(step + 1, values)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        if ema is not None:
            update_ema(ema, bare(generator), tc.ema_decay, step)

        # each critic's step on the same generated frames
        values.update({name: 0.0 for name in CRITIC_TERMS})
        for critic in critics:
            with autocast:
                loss_d = critic.loss(real, fake.detach().float(), batch)
            values[critic.name] = loss_d.item()
            check_finite(step + 1, {critic.name: values[critic.name]})
            critic.optimiser.zero_grad(set_to_none=True)
            loss_d.backward()
            critic.optimiser.step()

        step += 1
        now = time.perf_counter()
        logger.step(step, {"loss_g": loss_g.item(), **values}, step_s=now - t_last)
        t_last = now
        bar.update(1)
        bar.set_postfix(l1=f"{values['l1']:.4f}", au=f"{values['au']:.3f}", d=f"{values['d']:.3f}", refresh=False)
        if step % tc.checkpoint_every == 0 or step == total_steps:
            checkpoint(step)
    bar.close()

    # a rerun of a finished run trains no step and only re-exports
    if master:
        paths.model.parent.mkdir(parents=True, exist_ok=True)
        scaffold.save_checkpoint(generator_checkpoint(exported(), export_config, cfg.aus.units, step), paths.model)
        logger.close(paths.curves)
        log.info("wrote %s (step %d)", paths.model, step)
    if ddp:
        torch.distributed.destroy_process_group()
