"""Which torch device a stage runs on: one reading of the `device` settings and `--device` options."""

from __future__ import annotations

import logging

from autalk.errors import ConfigError

log = logging.getLogger(__name__)

# Generation's arithmetic: ``auto`` is bf16 autocast on a CPU with bf16 instructions, fp32 anywhere else.
PRECISIONS = ("auto", "fp32", "bf16")


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


def native_bf16_cpu() -> bool:
    """Whether this CPU has bf16 instructions (AVX512-BF16, or AMX tiles), as torch's CPU feature probe reports.

    Only then does bf16 autocast pay on the CPU: the paper-scale generator runs in ~0.5x the time of fp32 with
    them, but where oneDNN has to emulate bf16 it takes ~2x the fp32 time (AVX512 without BF16) to ~20x (AVX2)
    (benchmarks/README.md). A torch without the probe counts as no."""
    import torch

    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(probe() for probe in probes if probe is not None)


def autocast_dtype(precision: str, device: "torch.device") -> "torch.dtype | None":  # noqa: F821
    """The dtype a network runs under autocast at ``precision`` (one of ``PRECISIONS``) on ``device``, or None
    for plain fp32. ``bf16`` is taken as asked on any device; ``auto`` is bf16 only on a CPU that has bf16
    instructions (``native_bf16_cpu``)."""
    import torch

    if precision not in PRECISIONS:
        raise ConfigError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision == "bf16" or (precision == "auto" and device.type == "cpu" and native_bf16_cpu()):
        return torch.bfloat16
    return None
