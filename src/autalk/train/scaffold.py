"""What the four trainers share, so that each loop reads top to bottom with only its own logic in it: seeding,
the device (and the process group under torchrun), the rule that keeps the best epoch and stops early, and the
checkpoint a killed run resumes from.

A training checkpoint is self-describing: it holds the ``settings`` it was trained with (config sections and the
sha256 of its input files) and is resumed only when they are the current ones; otherwise it is set aside as
``*.stale`` and training starts afresh. Every file is written through ``autalk.atomic``, so a kill leaves either
the previous checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import torch

from autalk.atomic import atomic_file
from autalk.devices import resolve_device

log = logging.getLogger(__name__)


def seed_all(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (torch's also seeds every GPU)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass(frozen=True)
class Placement:
    """Where this process trains: its device, and its rank among ``world`` processes (1 without torchrun)."""

    device: torch.device
    rank: int = 0
    world: int = 1

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def master(self) -> bool:
        """The one process that writes files."""
        return self.rank == 0


def placement(device: str, distributed: bool = False) -> Placement:
    """The configured device; with ``distributed`` and a torchrun launch (WORLD_SIZE > 1), this rank's GPU (or the
    CPU, over gloo) with the process group initialised."""
    world = int(os.environ.get("WORLD_SIZE", "1")) if distributed else 1
    if world == 1:
        return Placement(resolve_device(device))
    local_rank = int(os.environ["LOCAL_RANK"])
    dev = torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    torch.distributed.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    return Placement(dev, int(os.environ["RANK"]), world)


class EarlyStopping:
    """Keeps the weights of the epoch with the highest score and says when ``patience`` epochs have passed
    without a higher one (``patience`` None: never stops early). Scores are anything ordered (a number, a tuple
    of tie-breakers); ``value`` is what the kept epoch's score means in its own units, for the checkpoint."""

    def __init__(self, patience: int | None):
        self.patience = patience
        self.best_score = None
        self.best_epoch = -1
        self.best_value: float | None = None
        self.best_state: dict | None = None
        self.bad_epochs = 0
        self.stopped = False

    def end_epoch(self, epoch: int, score, model: torch.nn.Module, value: float | None = None) -> None:
        """Keep the model's weights if this epoch is the best so far; ``epochs`` ends when patience runs out."""
        if self.best_score is None or score > self.best_score:
            self.best_score, self.best_epoch, self.best_value, self.bad_epochs = score, epoch, value, 0
            self.best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
        else:
            self.bad_epochs += 1
        self.stopped = self.patience is not None and self.bad_epochs >= self.patience
        if self.stopped:
            log.info("early stop: no better epoch for %d epochs", self.patience)

    def epochs(self, start: int, total: int) -> Iterator[int]:
        """Epochs ``start`` .. ``total`` - 1, ending once this rule says stop (also when a resumed run had)."""
        for epoch in range(start, total):
            if self.stopped:
                return
            yield epoch

    def restore(self, model: torch.nn.Module) -> None:
        model.load_state_dict(self.best_state)
        log.info("kept epoch %d", self.best_epoch + 1)

    def state_dict(self) -> dict:
        return dict(vars(self))

    def load_state_dict(self, state: dict) -> None:
        vars(self).update(state)


# ----------------------------------------------------------------------------------------------- checkpoints
def save_checkpoint(ckpt: dict, path: str | Path) -> None:
    with atomic_file(path) as tmp:
        torch.save(ckpt, tmp)


def input_digests(paths: dict[str, str | Path]) -> dict[str, str]:
    """sha256 of the inputs a run is tied to (those that exist): a checkpoint trained on other labels, other
    frames or against other frozen networks must not be resumed, even when every setting is the same. A file is
    hashed whole; a folder (the clips) by its files' names, sizes and modification times, as Snakemake judges it."""
    digests = {}
    for name, path in paths.items():
        path = Path(path)
        if path.is_file():
            with path.open("rb") as fh:
                digests[name] = hashlib.file_digest(fh, "sha256").hexdigest()
        elif path.is_dir():
            listing = sorted((str(f.relative_to(path)), f.stat().st_size, f.stat().st_mtime_ns)
                             for f in path.rglob("*") if f.is_file())
            digests[name] = hashlib.sha256(repr(listing).encode()).hexdigest()
    return digests


def resume_state(path: Path, settings: dict, master: bool = True) -> dict | None:
    """The training checkpoint at ``path`` when it was written with ``settings``; None when there is none or it
    was trained otherwise (then the master process sets it aside as ``*.stale``)."""
    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("settings") == settings:
        log.info("resuming from %s", path)
        return state
    stale = path.with_suffix(path.suffix + ".stale")
    if master:
        os.replace(path, stale)
    log.warning("%s was trained with other settings: starting afresh (old checkpoint kept as %s)", path, stale)
    return None


def _state_of(part):
    if isinstance(part, np.random.Generator):
        return part.bit_generator.state
    if isinstance(part, torch.Generator):
        return part.get_state()
    if isinstance(part, random.Random):
        return part.getstate()
    if isinstance(part, list):
        return list(part)
    return part.state_dict()


def _restore(part, state) -> None:
    if isinstance(part, np.random.Generator):
        part.bit_generator.state = state
    elif isinstance(part, torch.Generator):
        part.set_state(state)
    elif isinstance(part, random.Random):
        part.setstate(state)
    elif isinstance(part, list):
        part[:] = state
    else:
        part.load_state_dict(state)


def save_epoch(path: Path, kind: str, settings: dict, epoch: int, parts: dict) -> None:
    """The training checkpoint after ``epoch`` epochs: the state of each part (modules, optimisers, schedulers,
    ``EarlyStopping``, the trainer's own random generators, lists of per-epoch rows) and of the global RNGs."""
    save_checkpoint({"kind": kind, "settings": settings, "epoch": epoch, "global_rng": rng_state(),
                     **{name: _state_of(part) for name, part in parts.items()}}, path)


def resume_epoch(path: Path, settings: dict, parts: dict) -> int:
    """Restore ``parts`` (as ``save_epoch`` took them) from the training checkpoint at ``path`` when it was
    written with ``settings``; the number of epochs it had done (0: none, start afresh)."""
    state = resume_state(path, settings)
    if state is None:
        return 0
    for name, part in parts.items():
        _restore(part, state[name])
    set_rng_state(state["global_rng"])
    return state["epoch"]


def state_path(model_path: str | Path) -> Path:
    """Where a trainer that writes ``model_path`` keeps its training checkpoint until the model is written."""
    model_path = Path(model_path)
    return model_path.with_name(f"{model_path.stem}.training.pt")


def rng_state() -> dict:
    """Every global RNG's state as plain Python values (they travel through all_gather_object and weights-only
    loads)."""
    np_name, np_key, np_pos, np_gauss, np_cached = np.random.get_state()
    return {"python": random.getstate(), "numpy": (np_name, np_key.tolist(), np_pos, np_gauss, np_cached),
            "torch": torch.get_rng_state().tolist(),
            "cuda": [s.tolist() for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else []}


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    name, key, pos, gauss, cached = state["numpy"]
    np.random.set_state((name, np.array(key, dtype=np.uint32), pos, gauss, cached))
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([torch.tensor(s, dtype=torch.uint8) for s in state["cuda"]])


def write_csv(table: pd.DataFrame, path: str | Path) -> None:
    """A metric table, complete or absent."""
    with atomic_file(path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")
