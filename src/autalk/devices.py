"""Which torch device a stage runs on: one reading of the `device` settings and `--device` options."""

from __future__ import annotations


def resolve_device(name: str = "auto") -> "torch.device":  # noqa: F821 (torch is imported lazily)
    """``auto`` is CUDA when a GPU is present, else the CPU; anything else is taken as a torch device name.

    torch is imported here, not at module level, so CLI modules can import this without loading torch."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
