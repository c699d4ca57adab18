"""Which torch device a stage runs on: one reading of the `device` settings and `--device` options."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def resolve_device(name: str = "auto") -> "torch.device":  # noqa: F821 (torch is imported lazily)
    """``auto`` is CUDA when a GPU is present, else the CPU; anything else is taken as a torch device name.

    Falling back to the CPU is logged, because the GPU rules' logs must say so when a cluster profile runs them
    without a GPU. torch is imported here, not at module level, so CLI modules can import this without loading
    torch."""
    import torch

    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    log.warning("no CUDA device visible: running on the CPU")
    return torch.device("cpu")
