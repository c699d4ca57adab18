"""Reading the plain-dict checkpoints every trained network is saved as (see docs/architecture.md)."""

from __future__ import annotations

from pathlib import Path

import torch

from autalk.errors import DataError


def read_checkpoint(path: str | Path, kind: str | None, what: str, hint: str = "") -> dict:
    """The checkpoint dict at ``path``, checked to exist, to load, and to be of ``kind`` (None: any dict).

    ``what`` names the file in messages ("generator checkpoint"); ``hint`` says how to make a missing one.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} {path} does not exist" + (f" ({hint})" if hint else ""))
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a corrupt file
        raise DataError(f"{what} {path} is unreadable: {err}") from None
    article = "an" if what[0].lower() in "aeiou" else "a"
    if not isinstance(ckpt, dict):
        raise DataError(f"{path} is not {article} {what}: it holds a {type(ckpt).__name__}")
    if kind is not None and ckpt.get("kind") != kind:
        raise DataError(f"{path} is not {article} {what} (its kind is {ckpt.get('kind')!r}, expected {kind!r})")
    return ckpt
