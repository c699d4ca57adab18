"""Speakers of a local corpus (TCD-TIMIT) found on disk, and their deterministic speaker-level split.

With ``source.local_path`` set and no ``speakers`` list, every volunteer with a ``Clips/straightcam`` folder is
used (lipspeakers too with ``source.lipspeakers``), so no speaker ID is ever invented in a config file.

The split (no published one exists for this task): the speakers are ordered by the SHA-256 of their ID, the
first 10% (at least one) are test, the next 10% (at least one when there are three or more) val, the rest
train. It depends only on the IDs, not on the order folders are listed in, and adding a speaker moves at most
one other between splits.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

CLIP_DIR = Path("Clips") / "straightcam"
SPEAKER_GROUPS = ("volunteers", "lipspeakers")


def find_speakers(root: Path, lipspeakers: bool) -> list[str]:
    """IDs of the speakers under ``root`` that have a straightcam clip folder, sorted."""
    groups = SPEAKER_GROUPS if lipspeakers else SPEAKER_GROUPS[:1]
    return sorted(d.name for g in groups if (root / g).is_dir() for d in (root / g).iterdir()
                  if (d / CLIP_DIR).is_dir())


def split_speakers(speakers: list[str], fraction: float = 0.1) -> dict[str, list[str]]:
    """The documented split: train / val / test lists, each sorted."""
    order = sorted(speakers, key=lambda s: hashlib.sha256(s.encode()).hexdigest())
    n_test = max(1, round(fraction * len(order)))
    n_val = max(1 if len(order) >= 3 else 0, round(fraction * len(order)))
    return {"train": sorted(order[n_test + n_val:]), "val": sorted(order[n_test:n_test + n_val]),
            "test": sorted(order[:n_test])}
