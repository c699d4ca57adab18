"""Reading the plain-dict checkpoints every trained network is saved as (see docs/architecture.md)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import torch
from torch.nn import init

from autalk.errors import DataError


def read_checkpoint(path: str | Path, kind: str | None, what: str, hint: str = "", mmap: bool = False) -> dict:
    """The checkpoint dict at ``path``, checked to exist, to load, and to be of ``kind`` (None: any dict).

    ``what`` names the file in messages ("generator checkpoint"); ``hint`` says how to make a missing one.
    ``mmap``: the tensors are mapped from the file instead of read into memory, so a caller that assigns them
    to its modules (``generator_from_checkpoint``) never copies the weights (``autalk generate`` reads a
    176 MB paper-scale checkpoint for one clip).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} {path} does not exist" + (f" ({hint})" if hint else ""))
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as err:  # torch raises many types for a corrupt file
        raise DataError(f"{what} {path} is unreadable: {err}") from None
    article = "an" if what[0].lower() in "aeiou" else "a"
    if not isinstance(ckpt, dict):
        raise DataError(f"{path} is not {article} {what}: it holds a {type(ckpt).__name__}")
    if kind is not None and ckpt.get("kind") != kind:
        raise DataError(f"{path} is not {article} {what} (its kind is {ckpt.get('kind')!r}, expected {kind!r})")
    return ckpt


# The random initialisers torch's layers call when built (weights; biases; recurrent layers).
_INITIALISERS = ("kaiming_uniform_", "kaiming_normal_", "xavier_uniform_", "xavier_normal_", "uniform_", "normal_",
                 "trunc_normal_", "orthogonal_")


@contextlib.contextmanager
def initialisation_skipped() -> Iterator[None]:
    """Layers built inside keep their weights uninitialised (``torch.empty``'s memory, never written).

    For networks built only to receive a checkpoint's weights: the random initialisation of the paper-scale
    generator's 44 M parameters takes ~0.25 s, a tenth of ``autalk generate`` on a 3 s clip, and every value
    it writes is replaced. The caller must then load a state dict that sets every parameter (a strict
    ``load_state_dict``). Not thread-safe: it swaps ``torch.nn.init``'s functions for the duration.
    """
    saved = {name: getattr(init, name) for name in _INITIALISERS}
    for name in _INITIALISERS:
        setattr(init, name, lambda tensor, *args, **kwargs: tensor)
    try:
        yield
    finally:
        for name, function in saved.items():
            setattr(init, name, function)
