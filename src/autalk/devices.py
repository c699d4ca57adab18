"""Which torch device a stage runs on: one reading of the `device` settings and `--device` options."""

from __future__ import annotations

import logging

from autalk.errors import ConfigError

log = logging.getLogger(__name__)


def resolve_device(name: str = "auto") -> "torch.device":  # noqa: F821 (torch is imported lazily)
    """``auto`` is CUDA when a GPU is present, else the CPU; anything else is taken as a torch device name,
    refused (ConfigError) when it is not one or names a GPU this machine does not have.

    Falling back to the CPU is logged, because the GPU rules' logs must say so when a cluster profile runs them
    without a GPU. torch is imported here, not at module level, so CLI modules can import this without loading
    torch."""
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        log.warning("no CUDA device visible: running on the CPU")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise ConfigError(f"device {name!r} is not a torch device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r}: CUDA is not available on this machine; use --device cpu (or auto)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device
