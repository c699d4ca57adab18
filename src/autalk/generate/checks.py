"""Checks of ``autalk generate``'s arguments, made before any work: an output that is one of the inputs (``-o``
naming the checkpoint once replaced a trained generator by an mp4), has the wrong extension, is a folder or
cannot be written, and an AU scale that would give a black (NaN) or saturated video."""

from __future__ import annotations

import math
import os
from pathlib import Path

from autalk.errors import ConfigError

# Beyond this the AU drive leaves the range the generator was trained on and the face saturates.
AU_SCALE_MAX = 3.0


def check_au_scale(value: float) -> float:
    if not math.isfinite(value) or not 0 <= value <= AU_SCALE_MAX:
        raise ConfigError(f"--au-scale must be a number from 0 to {AU_SCALE_MAX:g} (1: as trained), got {value}")
    return value


def check_outputs(inputs: dict[str, Path], outputs: dict[str, tuple[Path | None, str]]) -> None:
    """``outputs`` maps an option to (path or None, required suffix). Refuse any output that resolves to an
    input or to another output, has another suffix, is a folder, or whose folder cannot be written."""
    taken = {Path(path).resolve(): option for option, path in inputs.items()}
    for option, (path, suffix) in outputs.items():
        if path is None:
            continue
        path = Path(path)
        where = path.resolve()
        if where in taken:
            raise ConfigError(f"{option} {path} is the same file as {taken[where]}; refusing to overwrite it")
        taken[where] = option
        if path.suffix.lower() != suffix:
            raise ConfigError(f"{option} {path}: expected a {suffix} file name")
        if path.is_dir():
            raise ConfigError(f"{option} {path} is a folder; give a {suffix} file name inside it")
        folder = next((p for p in where.parents if p.exists()), None)
        if folder is None or not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
            raise ConfigError(f"{option} {path}: cannot write in {folder or where.parent}")
